//! `cargo xtask chaos`: faults a deployment meets, made on purpose against release servers.
//!
//! 1. `pg-restart`: PostgreSQL (a cluster of the command's own) is stopped under load and
//!    started again. `/readyz` must turn 503; requests must fail fast, as HTTP 503 with the
//!    GraphQL code `UNAVAILABLE`, never hang and never answer 500; once the database is back
//!    the same server process must answer again; and every invitation it acknowledged must
//!    be in the database.
//! 2. `sqlite-busy`: 64 clients writing at once to a SQLite server (profile edits,
//!    invitations, role changes): no client may see an error.
//! 3. `worker-kill`: `import-crash-check`, a server killed in the middle of an import and a
//!    restarted one finishing it.
//!
//! Each step prints what it tried and what it saw; the whole is written to
//! `target/chaos/report.md`, and the command exits non-zero when an expectation failed.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use serde_json::json;
use steward_store::{Store, StoreOptions};

use crate::import::Scratch;
use crate::loadtest::workload::{self, Mix, Operation, OperationStats, Stats, Target};
use crate::loadtest::{Seed, load_with_progress, parse_duration};
use crate::pg::Cluster;
use crate::server_process::Server;

/// How long a request waits for a database connection on the chaos's server.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
/// What a failing request may take beyond [`ACQUIRE_TIMEOUT`] (scheduling on a busy machine).
const FAIL_FAST_SLACK: Duration = Duration::from_secs(2);
/// How soon `/readyz` must follow the database going and coming back.
const READINESS_WITHIN: Duration = Duration::from_secs(10);
/// Clients of the `pg-restart` step.
const OUTAGE_CLIENTS: usize = 16;
/// Clients of the `sqlite-busy` step.
const BUSY_CLIENTS: usize = 64;

#[derive(clap::Args, Debug)]
pub struct Chaos {
    /// The steps to run; all of them when none is named.
    #[arg(value_enum)]
    steps: Vec<StepName>,
    /// How long PostgreSQL stays stopped in `pg-restart`.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    outage: Duration,
    /// How long the writers of `sqlite-busy` run.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    busy: Duration,
    /// The database of `worker-kill`: `sqlite` for a new SQLite file, or a URL; by default
    /// the PostgreSQL of the command's own (the one `pg-restart` stops).
    #[arg(long)]
    database_url: Option<String>,
    /// Rows of the import `worker-kill` interrupts.
    #[arg(long, default_value_t = 50_000)]
    rows: u64,
    /// Run in this build instead of building and running the release one.
    #[arg(long)]
    this_build: bool,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum StepName {
    /// PostgreSQL stopped and started again under load.
    PgRestart,
    /// Concurrent writes on SQLite.
    SqliteBusy,
    /// A server killed in the middle of an import.
    WorkerKill,
}

/// What the steps tried and saw, printed as it happens and kept for the report.
#[derive(Default)]
struct Journal {
    text: String,
    failed: Vec<String>,
}

impl Journal {
    fn heading(&mut self, text: &str) {
        println!("\n== {text}");
        let _ = writeln!(self.text, "\n### {text}\n");
    }

    fn note(&mut self, text: impl AsRef<str>) {
        println!("   {}", text.as_ref());
        let _ = writeln!(self.text, "- {}", text.as_ref());
    }

    fn check(&mut self, what: impl AsRef<str>, passed: bool) {
        let what = what.as_ref();
        println!("   {} {what}", if passed { "ok    " } else { "FAILED" });
        let _ = writeln!(
            self.text,
            "- {} {what}",
            if passed { "ok" } else { "**FAILED**" }
        );
        if !passed {
            self.failed.push(what.to_owned());
        }
    }

    fn table(&mut self, stats: &Stats) {
        let _ = writeln!(
            self.text,
            "\n| operation | requests | failed | statuses | error codes | p50 ms | p99 ms | max ms |"
        );
        let _ = writeln!(self.text, "|---|---:|---:|---|---|---:|---:|---:|");
        for (operation, figures) in &stats.operations {
            let line = format!(
                "{:<13} {:>6} requests, {:>5} failed, statuses {:?}, codes {:?}, p50 {:.1} ms, \
                 p99 {:.1} ms, max {:.1} ms",
                operation.name(),
                figures.requests,
                figures.failures,
                figures.statuses,
                figures.codes,
                figures.millis(0.5),
                figures.millis(0.99),
                figures.max_millis()
            );
            println!("   {line}");
            let _ = writeln!(
                self.text,
                "| {} | {} | {} | {:?} | {:?} | {:.1} | {:.1} | {:.1} |",
                operation.name(),
                figures.requests,
                figures.failures,
                figures.statuses,
                figures.codes,
                figures.millis(0.5),
                figures.millis(0.99),
                figures.max_millis()
            );
            for sample in &figures.samples {
                println!("      e.g. {sample}");
            }
        }
        let _ = writeln!(self.text);
    }
}

impl Chaos {
    pub fn run(self) -> anyhow::Result<()> {
        if cfg!(debug_assertions) && !self.this_build {
            return crate::server_process::run_in_release("the chaos checks");
        }
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(self.execute())
    }

    async fn execute(self) -> anyhow::Result<()> {
        let steps = if self.steps.is_empty() {
            vec![
                StepName::PgRestart,
                StepName::SqliteBusy,
                StepName::WorkerKill,
            ]
        } else {
            self.steps.clone()
        };
        let binary = crate::server_process::server_beside_this_one()?;
        let mut journal = Journal::default();
        let needs_postgres = steps.contains(&StepName::PgRestart)
            || (steps.contains(&StepName::WorkerKill) && self.database_url.is_none());
        let cluster = if needs_postgres {
            let root = crate::workspace_root().join("target").join("chaos-pg");
            Some(Cluster::create(root).context("starting the chaos's own PostgreSQL")?)
        } else {
            None
        };
        for step in steps {
            let mut scratch = Scratch::new("chaos")?;
            let result = match step {
                StepName::PgRestart => match &cluster {
                    Some(cluster) => {
                        self.pg_restart(cluster, &binary, &scratch, &mut journal)
                            .await
                    }
                    None => Ok(()),
                },
                StepName::SqliteBusy => self.sqlite_busy(&binary, &scratch, &mut journal).await,
                StepName::WorkerKill => {
                    let url = match (&self.database_url, &cluster) {
                        (Some(url), _) if url == "sqlite" => scratch.sqlite_url("steward.db"),
                        (Some(url), _) => url.clone(),
                        (None, Some(cluster)) => cluster.url(),
                        (None, None) => scratch.sqlite_url("steward.db"),
                    };
                    self.worker_kill(&url, &binary, &scratch, &mut journal)
                        .await
                }
            };
            if let Err(error) = result {
                journal.check(format!("{step:?} ran to its end: {error:#}"), false);
            }
            if !journal.failed.is_empty() {
                scratch.keep();
                journal.note(format!("servers' logs kept in {}", scratch.path.display()));
            }
        }
        drop(cluster);

        let folder = crate::workspace_root().join("target").join("chaos");
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("creating {}", folder.display()))?;
        let machine = crate::bench::report::machine();
        let at = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let report = format!(
            "Chaos run {at}, commit {}, {} build on {} ({} CPUs).\n{}\n{}\n",
            crate::loadtest::commit(),
            machine["profile"].as_str().unwrap_or_default(),
            machine["cpu"].as_str().unwrap_or_default(),
            machine["cpus"],
            journal.text,
            if journal.failed.is_empty() {
                "Every expectation held.".to_owned()
            } else {
                format!("{} expectation(s) failed.", journal.failed.len())
            }
        );
        std::fs::write(folder.join("report.md"), report)?;
        println!("\nwritten to {}", folder.join("report.md").display());
        ensure!(
            journal.failed.is_empty(),
            "{} expectation(s) failed:\n  {}",
            journal.failed.len(),
            journal.failed.join("\n  ")
        );
        Ok(())
    }

    /// Step 1: PostgreSQL stopped and started again under the server's feet.
    async fn pg_restart(
        &self,
        cluster: &Cluster,
        binary: &std::path::Path,
        scratch: &Scratch,
        journal: &mut Journal,
    ) -> anyhow::Result<()> {
        journal.heading("1. PostgreSQL stopped and restarted under load");
        let url = cluster.url();
        let seed = seed(&url, 2 * OUTAGE_CLIENTS).await?;
        let mut server = Server::start(
            binary,
            &url,
            &[
                "--database-acquire-timeout-ms".to_owned(),
                ACQUIRE_TIMEOUT.as_millis().to_string(),
            ],
            &scratch.path.join("server-pg-restart.log"),
        )?;
        let pid = server.pid();
        let base = format!("http://127.0.0.1:{}", server.port);
        let population = seed.enrol(&base, OUTAGE_CLIENTS).await?;
        let target = Arc::new(Target::new(vec![base.clone()], population)?);
        let mix = Mix::of(&[(Operation::Me, 1), (Operation::Invite, 1)]);
        journal.note(format!(
            "tried: one server (pid {pid}, --database-acquire-timeout-ms {}) on its own \
             PostgreSQL, {OUTAGE_CLIENTS} clients each doing `me` and invitations (unique \
             addresses), half and half",
            ACQUIRE_TIMEOUT.as_millis()
        ));
        let http = workload::http_client()?;
        let (before, mut acknowledged) = load_with_progress(
            &target,
            &mix,
            OUTAGE_CLIENTS,
            Duration::from_secs(5),
            1,
            "before",
            &[pid],
        )
        .await?;
        let total = before.total()?;
        journal.note(format!(
            "before the outage: {} operations, {} failed",
            total.requests, total.failures
        ));
        journal.check(
            "every operation succeeded before the outage",
            total.failures == 0,
        );

        // The load runs through the outage and the restart; the database goes a second in.
        let settle = Duration::from_secs(1);
        let load_for = settle + self.outage + READINESS_WITHIN + Duration::from_secs(3);
        let during = {
            let target = Arc::clone(&target);
            let mix = mix.clone();
            tokio::spawn(async move {
                load_with_progress(&target, &mix, OUTAGE_CLIENTS, load_for, 2, "outage", &[pid])
                    .await
            })
        };
        tokio::time::sleep(settle).await;
        let stopped_at = Instant::now();
        tokio::task::block_in_place(|| cluster.stop()).context("stopping PostgreSQL")?;
        journal.note(format!(
            "stopped PostgreSQL (pg_ctl stop -m fast, {:.1} s)",
            stopped_at.elapsed().as_secs_f64()
        ));
        check_readiness(journal, &http, &base, 503, stopped_at, "the stop began").await;
        let probes = probe_while_down(&http, &target, stopped_at + self.outage).await;
        let slowest = probes.iter().map(|probe| probe.0).max().unwrap_or_default();
        let unavailable = probes
            .iter()
            .filter(|(_, status, codes)| *status == Some(503) && codes == &["UNAVAILABLE"])
            .count();
        journal.note(format!(
            "while it was down: {} sequential `me` probes, statuses {:?}",
            probes.len(),
            probes
                .iter()
                .map(|(_, status, _)| status.map_or("no answer".to_owned(), |s| s.to_string()))
                .collect::<BTreeSet<_>>()
        ));
        journal.check(
            format!(
                "every probe answered 503 with code UNAVAILABLE ({unavailable} of {})",
                probes.len()
            ),
            !probes.is_empty() && unavailable == probes.len(),
        );
        journal.check(
            format!(
                "every probe failed fast: the slowest took {:.2} s (at most the acquire \
                 timeout {} s + {} s)",
                slowest.as_secs_f64(),
                ACQUIRE_TIMEOUT.as_secs(),
                FAIL_FAST_SLACK.as_secs()
            ),
            slowest <= ACQUIRE_TIMEOUT + FAIL_FAST_SLACK,
        );

        tokio::task::block_in_place(|| cluster.start()).context("starting PostgreSQL again")?;
        let back_at = Instant::now();
        journal.note(format!(
            "started PostgreSQL again on the same port, {:.1} s after the stop began",
            (back_at - stopped_at).as_secs_f64()
        ));
        check_readiness(journal, &http, &base, 200, back_at, "PostgreSQL was back").await;
        let (outage, writes) = during.await.context("the load during the outage")??;
        acknowledged.extend(writes);
        journal.note("during the outage and the restart (the load ran throughout), per operation:");
        journal.table(&outage);
        let total = outage.total()?;
        let statuses_other = total
            .statuses
            .iter()
            .filter(|(status, _)| !matches!(status, 200 | 503))
            .map(|(_, count)| count)
            .sum::<u64>();
        let codes_other = total
            .codes
            .iter()
            .filter(|(code, _)| code.as_str() != "UNAVAILABLE")
            .map(|(_, count)| count)
            .sum::<u64>();
        journal.check(
            format!(
                "no answer but 200 and 503 under load ({statuses_other} others: {:?})",
                total.statuses
            ),
            statuses_other == 0,
        );
        journal.check(
            format!(
                "no GraphQL error code but UNAVAILABLE ({codes_other} others: {:?})",
                total.codes
            ),
            codes_other == 0,
        );
        journal.check(
            format!("no request went unanswered ({} did)", total.no_answer),
            total.no_answer == 0,
        );
        journal.check(
            format!(
                "no operation hung: the slowest took {:.2} s",
                total.max_millis() / 1000.0
            ),
            Duration::from_secs_f64(total.max_millis() / 1000.0)
                <= ACQUIRE_TIMEOUT + FAIL_FAST_SLACK,
        );

        let (after, writes) = load_with_progress(
            &target,
            &mix,
            OUTAGE_CLIENTS,
            Duration::from_secs(5),
            3,
            "after",
            &[pid],
        )
        .await?;
        acknowledged.extend(writes);
        let total = after.total()?;
        server.check_alive()?;
        journal.check(
            format!(
                "the same server (pid {}) answers again: {} operations after the restart, \
                 {} failed",
                server.pid(),
                total.requests,
                total.failures
            ),
            server.pid() == pid && total.requests > 0 && total.failures == 0,
        );
        let lost = lost_invitations(&http, &target, &acknowledged).await?;
        journal.check(
            format!(
                "nothing lost: {} invitations acknowledged, {} of them missing from the \
                 database{}",
                acknowledged.len(),
                lost.len(),
                lost.first()
                    .map(|first| format!(" (first: {first})"))
                    .unwrap_or_default()
            ),
            lost.is_empty(),
        );
        drop(server);
        Ok(())
    }

    /// Step 2: many writers on SQLite at once.
    async fn sqlite_busy(
        &self,
        binary: &std::path::Path,
        scratch: &Scratch,
        journal: &mut Journal,
    ) -> anyhow::Result<()> {
        journal.heading("2. SQLite busy under concurrent writes");
        let url = scratch.sqlite_url("busy.db");
        let seed = seed(&url, 2 * BUSY_CLIENTS).await?;
        let mut server = Server::start(binary, &url, &[], &scratch.path.join("server-busy.log"))?;
        let pid = server.pid();
        let base = format!("http://127.0.0.1:{}", server.port);
        let population = seed.enrol(&base, BUSY_CLIENTS).await?;
        let target = Arc::new(Target::new(vec![base], population)?);
        let mix = Mix::writes();
        journal.note(format!(
            "tried: one server on SQLite (default settings), {BUSY_CLIENTS} clients writing \
             for {} s: {}",
            self.busy.as_secs(),
            mix.describe()
        ));
        let (stats, _) =
            load_with_progress(&target, &mix, BUSY_CLIENTS, self.busy, 1, "writes", &[pid]).await?;
        server.check_alive()?;
        journal.table(&stats);
        let total: OperationStats = stats.total()?;
        journal.note(format!(
            "saw: {} writes ({:.0}/s), statuses {:?}, codes {:?}",
            total.requests,
            total.requests as f64 / stats.elapsed.as_secs_f64().max(1e-9),
            total.statuses,
            total.codes
        ));
        journal.check(
            format!("no client saw an error ({} failed)", total.failures),
            total.failures == 0 && total.requests > 0,
        );
        Ok(())
    }

    /// Step 3: a worker killed in the middle of a job.
    async fn worker_kill(
        &self,
        url: &str,
        binary: &std::path::Path,
        scratch: &Scratch,
        journal: &mut Journal,
    ) -> anyhow::Result<()> {
        journal.heading("3. A worker killed in the middle of a job");
        journal.note(format!(
            "tried: import-crash-check with {} rows on {}: the server is killed (SIGKILL) \
             once a fifth of the rows are done, then started again",
            self.rows,
            steward_store::redact_url(url)
        ));
        let result =
            crate::import_crash_check::kill_and_resume(url, binary, self.rows, scratch).await;
        journal.check(
            match &result {
                Ok(()) => "the restarted server took the job over and finished it: every \
                           user created exactly once (its checks above)"
                    .to_owned(),
                Err(error) => format!("import-crash-check: {error:#}"),
            },
            result.is_ok(),
        );
        Ok(())
    }
}

/// A database with the step's users (twice as many as its clients).
async fn seed(url: &str, users: usize) -> anyhow::Result<Seed> {
    let store = Store::connect(url, &StoreOptions::default())
        .await
        .context("opening the step's database")?;
    store.migrate().await?;
    let seed = Seed::write(&store, users).await;
    store.close().await;
    seed
}

/// Polls `/readyz` until it answers `status`; when it did, or `None` after `within`.
/// Polls `/readyz` until it answers `status` and checks that it did within
/// [`READINESS_WITHIN`] of `since` (when `event` happened).
async fn check_readiness(
    journal: &mut Journal,
    http: &reqwest::Client,
    base: &str,
    status: u16,
    since: Instant,
    event: &str,
) {
    let answered = wait_for_readiness(http, base, status, READINESS_WITHIN).await;
    journal.check(
        match answered {
            Some(at) => format!(
                "/readyz answered {status} {:.1} s after {event}",
                (at - since).as_secs_f64()
            ),
            None => format!(
                "/readyz answered {status} within {} s after {event}",
                READINESS_WITHIN.as_secs()
            ),
        },
        answered.is_some(),
    );
}

async fn wait_for_readiness(
    http: &reqwest::Client,
    base: &str,
    status: u16,
    within: Duration,
) -> Option<Instant> {
    let started = Instant::now();
    while started.elapsed() < within {
        let answered = http
            .get(format!("{base}/readyz"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map(|response| response.status().as_u16());
        if answered.ok() == Some(status) {
            return Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Sequential `me` requests until `until`: each one's time, status and GraphQL codes.
async fn probe_while_down(
    http: &reqwest::Client,
    target: &Target,
    until: Instant,
) -> Vec<(Duration, Option<u16>, Vec<String>)> {
    let mut probes = Vec::new();
    let token = &target.population.client(0).access_token;
    while Instant::now() < until {
        let reply = workload::post(
            http,
            &target.servers[0],
            Some(token),
            "{ me { id } }",
            json!({}),
        )
        .await;
        probes.push((reply.elapsed, reply.status, reply.error_codes()));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    probes
}

/// The acknowledged invitations whose address no invitation of the organization has.
async fn lost_invitations(
    http: &reqwest::Client,
    target: &Target,
    acknowledged: &[String],
) -> anyhow::Result<Vec<String>> {
    let owner = &target.population.client(0).access_token;
    let mut stored = BTreeSet::new();
    let mut after: Option<String> = None;
    loop {
        let reply = workload::post(
            http,
            &target.servers[0],
            Some(owner),
            "query($o: ID!, $a: String) { invitations(organization: $o, first: 100, after: $a) { \
             nodes { user { email } } pageInfo { hasNextPage endCursor } } }",
            json!({ "o": target.population.organization, "a": after }),
        )
        .await;
        if let Some(failure) = reply.failure("invitations") {
            anyhow::bail!("listing the invitations: {failure}");
        }
        let page = &reply.body["data"]["invitations"];
        for node in page["nodes"].as_array().into_iter().flatten() {
            if let Some(email) = node["user"]["email"].as_str() {
                stored.insert(email.to_ascii_lowercase());
            }
        }
        if page["pageInfo"]["hasNextPage"].as_bool() != Some(true) {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    Ok(acknowledged
        .iter()
        .filter(|email| !stored.contains(&email.to_ascii_lowercase()))
        .cloned()
        .collect())
}
