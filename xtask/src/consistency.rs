//! `cargo xtask report` and `cargo xtask repair`: a consistency run from a maintainer's
//! shell, on any database URL. The run is queued and worked in this process by the server's
//! own job worker (a running server on the same database may take it; it is then watched),
//! with a progress bar, then its findings are printed as a table or as JSON. The exit code
//! is non-zero while findings remain unresolved, so a deployment can be gated on it.

use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use steward_domain::consistency::RunScope;
use steward_domain::job::JobStatus;
use steward_server::app::App;
use steward_server::config::DatabaseConfig;
use steward_store::{AuditEntry, Finding, FindingFilter, JobRecord, Store};

use crate::import::{find_organization, find_user, serve_config, start_app, work_until_ended};

/// What a run covers; exactly one is given.
#[derive(clap::Args, Debug)]
#[group(required = true, multiple = false)]
pub struct ScopeArgs {
    /// One user (id or username) and the organizations they own.
    #[arg(long, value_name = "ID_OR_USERNAME")]
    user: Option<String>,
    /// An organization's members (all of their data) and the organization.
    #[arg(long, value_name = "ID_OR_NAME")]
    organization: Option<String>,
    /// Every user and organization.
    #[arg(long)]
    all: bool,
}

#[derive(clap::Args, Debug)]
pub struct Report {
    #[command(flatten)]
    scope: ScopeArgs,
    #[command(flatten)]
    database: DatabaseConfig,
    /// Print the run and its findings as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Start the run as this SuperAdmin (the message when it ends is theirs); by default
    /// nobody, as for any maintainer command.
    #[arg(long = "as", value_name = "USERNAME")]
    as_user: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct Repair {
    #[command(flatten)]
    report: Report,
    /// Report what would be repaired, changing nothing.
    #[arg(long)]
    dry_run: bool,
}

impl Report {
    pub fn run(self) -> anyhow::Result<()> {
        crate::runtime()?.block_on(self.execute(false))
    }

    async fn execute(self, repair: bool) -> anyhow::Result<()> {
        let config = serve_config(
            &self.database.database_url,
            &[
                "--database-max-connections",
                &self.database.database_max_connections.to_string(),
                "--job-poll-ms",
                "50",
            ],
        )?;
        let app = start_app(&config).await?;
        let result = self.run_on(&app, repair).await;
        app.store.close().await;
        let unresolved = result?;
        ensure!(
            unresolved == 0,
            "{unresolved} finding(s) remain unresolved{}",
            if repair {
                ""
            } else {
                "; `cargo xtask repair` with the same scope fixes those that have a fix"
            }
        );
        Ok(())
    }

    /// Runs and prints; the number of findings still unresolved.
    async fn run_on(&self, app: &App, repair: bool) -> anyhow::Result<i64> {
        let store = &app.store;
        let scope = self.scope(store).await?;
        let initiator = match &self.as_user {
            Some(name) => Some(find_user(store, name).await?),
            None => None,
        };
        let entry = AuditEntry {
            actor: initiator,
            client_address: None,
            at: time::OffsetDateTime::now_utc(),
        };
        let job = store
            .start_consistency_run(scope, repair, &entry)
            .await
            .context("starting the run")?;
        if !self.json {
            eprintln!(
                "{} run {} queued: {} users and organizations to check",
                if repair { "repair" } else { "report" },
                job.id,
                job.total_rows
            );
        }
        let bar = if self.json {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(u64::try_from(job.total_rows).unwrap_or_default())
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:40} {pos}/{len} checked  {msg}  {per_sec}  eta {eta}",
            )
            .context("the progress bar's template")?,
        );
        let ended = work_until_ended(app, job.id, Duration::from_millis(200), |job| {
            bar.set_position(u64::try_from(job.processed_rows).unwrap_or_default());
            bar.set_message(format!("{} found, {} repaired", job.findings, job.repaired));
        })
        .await?;
        bar.finish_and_clear();
        let findings = all_findings(store, &ended).await?;
        if self.json {
            print_json(&ended, &findings)?;
        } else {
            print_table(&ended, &findings);
        }
        if ended.status != JobStatus::Succeeded {
            bail!(
                "the run ended {}: {}",
                ended.status.code(),
                ended.error.as_deref().unwrap_or("no reason recorded")
            );
        }
        Ok(store.unresolved_findings(ended.id).await?)
    }

    async fn scope(&self, store: &Store) -> anyhow::Result<RunScope> {
        Ok(match (&self.scope.user, &self.scope.organization) {
            (Some(user), _) => RunScope::User(find_user(store, user).await?),
            (_, Some(organization)) => {
                RunScope::Organization(find_organization(store, organization).await?)
            }
            _ => RunScope::All,
        })
    }
}

impl Repair {
    pub fn run(self) -> anyhow::Result<()> {
        crate::runtime()?.block_on(self.report.execute(!self.dry_run))
    }
}

/// A report (nothing changes) over every user and organization of the database at `url`,
/// worked by a job worker of this process: the ended run and its findings. For checks that
/// leave a database behind and must find it consistent (`cargo xtask loadtest`).
pub async fn report_all(url: &str) -> anyhow::Result<(JobRecord, Vec<Finding>)> {
    let config = serve_config(url, &["--job-poll-ms", "50"])?;
    let app = start_app(&config).await?;
    let result = async {
        let entry = AuditEntry {
            actor: None,
            client_address: None,
            at: time::OffsetDateTime::now_utc(),
        };
        let job = app
            .store
            .start_consistency_run(RunScope::All, false, &entry)
            .await
            .context("starting the consistency run")?;
        let ended = work_until_ended(&app, job.id, Duration::from_millis(200), |_| {}).await?;
        ensure!(
            ended.status == JobStatus::Succeeded,
            "the consistency run ended {}: {}",
            ended.status.code(),
            ended.error.as_deref().unwrap_or("no reason recorded")
        );
        let findings = all_findings(&app.store, &ended).await?;
        Ok((ended, findings))
    }
    .await;
    app.store.close().await;
    result
}

async fn all_findings(store: &Store, job: &JobRecord) -> anyhow::Result<Vec<Finding>> {
    let mut findings = Vec::new();
    let mut after = None;
    loop {
        let (page, _) = store
            .findings_page(job.id, &FindingFilter::default(), after, 1000)
            .await?;
        let Some(last) = page.last() else {
            return Ok(findings);
        };
        after = last.id;
        findings.extend(page);
    }
}

fn print_json(job: &JobRecord, findings: &[Finding]) -> anyhow::Result<()> {
    let findings: Vec<_> = findings
        .iter()
        .map(|finding| {
            json!({
                "invariant": finding.invariant.code(),
                "subjectType": finding.subject_type,
                "subjectId": finding.subject_id,
                "user": finding.user.map(|user| user.to_string()),
                "organization": finding.organization.map(|organization| organization.to_string()),
                "detail": finding.detail,
                "fix": finding.fix,
                "status": finding.status.code(),
                "applied": finding.status.is_applied(),
                "note": finding.note,
            })
        })
        .collect();
    let document = json!({
        "run": job.id.to_string(),
        "status": job.status.code(),
        "repair": job.flag("repair"),
        "checked": job.processed_rows,
        "findings": findings,
        "repaired": job.repaired,
    });
    println!("{}", serde_json::to_string_pretty(&document)?);
    Ok(())
}

fn print_table(job: &JobRecord, findings: &[Finding]) {
    let headers = ["INVARIANT", "SUBJECT", "ID", "USER", "STATUS", "DETAIL"];
    let rows: Vec<[String; 6]> = findings
        .iter()
        .map(|finding| {
            let mut detail = finding.detail.clone();
            if let Some(note) = &finding.note {
                detail.push_str(" — ");
                detail.push_str(note);
            }
            [
                finding.invariant.code().to_owned(),
                finding.subject_type.to_owned(),
                finding.subject_id.to_string(),
                finding
                    .user
                    .map(|user| user.to_string())
                    .unwrap_or_default(),
                finding.status.code().to_owned(),
                detail,
            ]
        })
        .collect();
    if !rows.is_empty() {
        let mut widths = headers.map(str::len);
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: [&str; 6]| {
            let mut out = String::new();
            for (index, (cell, width)) in cells.iter().zip(widths).enumerate() {
                if index + 1 == cells.len() {
                    out.push_str(cell);
                } else {
                    out.push_str(&format!("{cell:<width$}  "));
                }
            }
            println!("{}", out.trim_end());
        };
        line(headers);
        for row in &rows {
            line([&row[0], &row[1], &row[2], &row[3], &row[4], &row[5]].map(String::as_str));
        }
        println!();
    }
    let repaired = findings
        .iter()
        .filter(|finding| finding.status.is_applied())
        .count();
    println!(
        "run {} {}: {} checked, {} finding(s), {} repaired",
        job.id,
        job.status.code(),
        job.processed_rows,
        findings.len(),
        repaired
    );
}
