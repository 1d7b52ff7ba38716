//! `cargo xtask import`: a bulk user import from a maintainer's shell. The file is staged
//! exactly as an upload is (`stage_csv`), then this process works the job queue with the
//! server's own job worker until the import has ended, so that an import needs no running
//! server, and a running one that gets to the job first is just watched.
//!
//! Also the pieces `bench import` and `import-crash-check` share: opening the database as
//! the server does, generating an import file, a test organization, and watching a job.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use base64::Engine as _;
use clap::Parser as _;
use steward_domain::job::RowStatus;
use steward_domain::organization::Name;
use steward_domain::policy::{Actor, authorize_platform};
use steward_domain::user::{EmailAddress, FullName, Language, PlatformRole, UserStatus, Username};
use steward_domain::{JobId, OrganizationId, UserId};
use steward_server::app::App;
use steward_server::config::{DatabaseConfig, ServeConfig};
use steward_server::error::AppError;
use steward_server::jobs::JobWorker;
use steward_store::{AuditEntry, Backend, JobRecord, NewUser, NewUserImport, Store};
use tokio::sync::watch;

#[derive(clap::Args, Debug)]
pub struct Import {
    /// The CSV file: a header line `username,email,name[,role,language]` (any case), then one
    /// line per user.
    file: PathBuf,
    /// The organization the users join: its id, or its name when no other organization has
    /// the same one.
    #[arg(long, value_name = "ID_OR_NAME")]
    organization: String,
    #[command(flatten)]
    database: DatabaseConfig,
    /// Check every row and report what would happen, creating nobody.
    #[arg(long)]
    dry_run: bool,
    /// Create the users as active members waiting for validation instead of inviting them
    /// (no e-mail is sent).
    #[arg(long)]
    no_invitations: bool,
    /// Start the import as this user (its audit events and the message when it ends are
    /// theirs); by default nobody, as for any maintainer command.
    #[arg(long = "as", value_name = "USERNAME")]
    as_user: Option<String>,
}

impl Import {
    pub fn run(self) -> anyhow::Result<()> {
        crate::runtime()?.block_on(self.import())
    }

    async fn import(self) -> anyhow::Result<()> {
        let config = serve_config(
            &self.database.database_url,
            &[
                "--database-max-connections",
                &self.database.database_max_connections.to_string(),
            ],
        )?;
        let app = start_app(&config).await?;
        let result = self.stage_and_work(&app).await;
        app.store.close().await;
        result
    }

    async fn stage_and_work(&self, app: &App) -> anyhow::Result<()> {
        let store = &app.store;
        let organization = find_organization(store, &self.organization).await?;
        let initiator = match &self.as_user {
            Some(name) => Some(find_user(store, name).await?),
            None => None,
        };
        let file = File::open(&self.file).with_context(|| {
            format!(
                "cannot open {}: give the path of a CSV file",
                self.file.display()
            )
        })?;
        let import = NewUserImport {
            organization,
            initiator,
            dry_run: self.dry_run,
            send_invitations: !self.no_invitations,
            file_name: self
                .file
                .file_name()
                .map(|name| name.to_string_lossy().into_owned()),
        };
        let staged = stage(store, &import, file).await;
        let job = staged.map_err(|error| error.context(format!("{}", self.file.display())))?;
        println!(
            "queued import job {}: {} rows from {}{}",
            job.id,
            job.total_rows,
            self.file.display(),
            if self.dry_run { " (dry run)" } else { "" }
        );
        let mut progress = Progress::new(&job);
        let ended = work_until_ended(app, job.id, Duration::from_millis(250), |job| {
            progress.observe(job);
        })
        .await?;
        progress.summary(&ended);
        print_failed_rows(store, &ended).await?;
        if import.send_invitations && !import.dry_run && ended.created_rows > 0 {
            println!(
                "the invitations wait in the outbox: a running server sends them \
                 (`cargo xtask outbox` lists them)"
            );
        }
        ensure!(
            ended.status == steward_domain::job::JobStatus::Succeeded,
            "the import ended {}: {}",
            ended.status.code(),
            ended.error.as_deref().unwrap_or("no reason recorded")
        );
        Ok(())
    }
}

/// The server's settings for `url`, from the server's own defaults (and `STEWARD_*`
/// variables) plus `extra` flags, so that the job worker here behaves as a server's would.
pub fn serve_config(url: &str, extra: &[&str]) -> anyhow::Result<ServeConfig> {
    #[derive(clap::Parser)]
    struct ServeCli {
        #[command(flatten)]
        serve: ServeConfig,
    }
    let mut args = vec!["steward", "--database-url", url];
    args.extend_from_slice(extra);
    let mut config = ServeCli::try_parse_from(args)
        .context("the server settings (STEWARD_* variables) are not valid")?
        .serve;
    if config.secret_key.is_none() && Backend::of_url(url)? == Backend::Postgres {
        // PostgreSQL needs STEWARD_SECRET_KEY to start, but an import never reads or writes
        // the two-factor secrets it protects: a key of this process's own does.
        config.secret_key = Some(throwaway_secret_key());
    }
    Ok(config)
}

/// A random key in the form `--secret-key` takes (base64 of 32 bytes).
pub fn throwaway_secret_key() -> String {
    let mut bytes = Vec::with_capacity(32);
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Opens (and migrates) the database as the server does.
pub async fn start_app(config: &ServeConfig) -> anyhow::Result<App> {
    App::start(config, time::OffsetDateTime::now_utc())
        .await
        .map_err(AppError::into_anyhow)
        .context("opening the database")
}

/// Stages `source` as an upload is staged; a file that cannot be used is an error saying why.
pub async fn stage(
    store: &Store,
    import: &NewUserImport,
    source: File,
) -> anyhow::Result<JobRecord> {
    let entry = AuditEntry {
        actor: import.initiator,
        client_address: None,
        at: time::OffsetDateTime::now_utc(),
    };
    match steward_server::import::stage_csv(store, import, source, &entry).await {
        Ok(Ok(job)) => Ok(job),
        Ok(Err(error)) => bail!("{error}"),
        Err(error) => Err(error.into_anyhow()),
    }
}

/// Works the queue with a job worker of this process until `job` has ended (or another
/// process, a server on the same database, ended it), calling `observe` with the job every
/// `every`. Ctrl-C lets the job go: the next worker resumes it after its last batch.
pub async fn work_until_ended(
    app: &App,
    job: JobId,
    every: Duration,
    mut observe: impl FnMut(&JobRecord),
) -> anyhow::Result<JobRecord> {
    let (stop, stopped) = watch::channel(false);
    let worker = tokio::spawn(JobWorker { app: app.clone() }.run(stopped));
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    let watched = async {
        loop {
            tokio::select! {
                _ = &mut interrupt => bail!(
                    "interrupted: job {job} stays where it is and resumes after its last batch \
                     when a worker next claims it (a server on this database, or `cargo xtask \
                     import` with any file)"
                ),
                () = tokio::time::sleep(every) => {}
            }
            let Some(record) = app.store.job_by_id(job).await? else {
                bail!("job {job} is gone from the database");
            };
            observe(&record);
            if record.status.is_finished() {
                return Ok(record);
            }
        }
    }
    .await;
    let _ = stop.send(true);
    worker
        .await
        .map_err(|error| anyhow::anyhow!("the job worker failed: {error}"))?;
    watched
}

/// Prints a job's progress at most once a second, with the rate since the last line.
pub struct Progress {
    total: i64,
    started: Instant,
    /// The rows processed when this printer was made: rows done before are not counted in
    /// its rates.
    baseline: i64,
    last: (Instant, i64),
}

impl Progress {
    pub fn new(job: &JobRecord) -> Self {
        let now = Instant::now();
        Progress {
            total: job.total_rows,
            started: now,
            baseline: job.processed_rows,
            last: (now, job.processed_rows),
        }
    }

    pub fn observe(&mut self, job: &JobRecord) {
        let now = Instant::now();
        let (since, before) = self.last;
        if job.status.is_finished() || now.duration_since(since) < Duration::from_secs(1) {
            return;
        }
        let rate = (job.processed_rows - before) as f64 / now.duration_since(since).as_secs_f64();
        println!(
            "{:>9}/{} rows  {} created, {} skipped, {} failed  {:.0} rows/s  ({})",
            job.processed_rows,
            self.total,
            job.created_rows,
            job.skipped_rows,
            job.failed_rows,
            rate,
            job.status.code().to_lowercase(),
        );
        self.last = (now, job.processed_rows);
    }

    /// The job's final counts, and its rate since this printer was made.
    pub fn summary(&self, job: &JobRecord) {
        let elapsed = self.started.elapsed().as_secs_f64();
        println!(
            "job {} {} after {elapsed:.1} s ({:.0} rows/s): {} created, {} skipped, {} failed \
             of {} rows; {} attempt(s)",
            job.id,
            job.status.code(),
            (job.processed_rows - self.baseline) as f64 / elapsed.max(1e-9),
            job.created_rows,
            job.skipped_rows,
            job.failed_rows,
            job.total_rows,
            job.attempts,
        );
        if let Some(error) = &job.error {
            println!("error: {error}");
        }
    }
}

/// How many failed rows are shown after an import; the rest are in `importRows`.
const FAILED_ROWS_SHOWN: i64 = 10;

async fn print_failed_rows(store: &Store, job: &JobRecord) -> anyhow::Result<()> {
    if job.failed_rows == 0 {
        return Ok(());
    }
    let (rows, total) = store
        .import_rows_page(job.id, Some(RowStatus::Failed), None, FAILED_ROWS_SHOWN)
        .await?;
    println!("the first {} of {total} failed rows:", rows.len());
    for row in rows {
        println!(
            "  row {}: {}: {}",
            row.row_number,
            row.field.as_deref().unwrap_or("row"),
            row.reason.as_deref().unwrap_or("no reason recorded")
        );
    }
    Ok(())
}

/// The organization `given` names: its id, or its exact name (any case).
pub async fn find_organization(store: &Store, given: &str) -> anyhow::Result<OrganizationId> {
    if let Ok(id) = uuid::Uuid::parse_str(given.trim()) {
        let id = OrganizationId(id);
        ensure!(
            !store.organizations_by_ids(&[id]).await?.is_empty(),
            "no organization has the id {given}"
        );
        return Ok(id);
    }
    let mut named = Vec::new();
    let mut after = None;
    loop {
        let (page, _) = store.organizations_page(None, false, after, 500).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = Some(last.id.as_uuid());
        named.extend(
            page.into_iter()
                .filter(|organization| organization.name.to_lowercase() == given.to_lowercase()),
        );
    }
    match named.as_slice() {
        [organization] => Ok(organization.id),
        [] => bail!("no organization is named {given:?}; give an organization's name or its id"),
        several => bail!(
            "{} organizations are named {given:?}; give the id of one instead: {}",
            several.len(),
            several
                .iter()
                .map(|organization| organization.id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The user `given` names: their id, or their username.
pub async fn find_user(store: &Store, given: &str) -> anyhow::Result<UserId> {
    if let Ok(id) = uuid::Uuid::parse_str(given.trim()) {
        let id = UserId(id);
        ensure!(
            store.user_by_id(id).await?.is_some(),
            "no user has the id {given}"
        );
        return Ok(id);
    }
    let username = Username::parse(given).context("give a user's id or username")?;
    match store.login_candidate(&username.normalized()).await? {
        Some(user) => Ok(user.id),
        None => bail!("no user is named {given:?}: give the id or username of an existing user"),
    }
}

/// Writes an import file of `rows` valid rows whose usernames are `prefix` followed by the
/// row's number, line by line, so that a file of millions of rows costs no memory.
pub fn write_import_file(path: &Path, prefix: &str, rows: u64) -> anyhow::Result<()> {
    let written = (|| {
        let mut out = BufWriter::with_capacity(1 << 16, File::create(path)?);
        writeln!(out, "username,email,name")?;
        for row in 1..=rows {
            writeln!(
                out,
                "{prefix}{row},{prefix}{row}@import.example,Imported User {row}"
            )?;
        }
        out.into_inner()
            .map_err(|error| error.into_error())?
            .sync_all()
    })();
    written.with_context(|| format!("writing the import file {}", path.display()))
}

/// A new organization for a generated import, owned by a new user who starts the import;
/// `tag` keeps their names apart from earlier runs on the same database.
pub async fn import_organization(
    store: &Store,
    tag: &str,
) -> anyhow::Result<(OrganizationId, UserId)> {
    let entry = AuditEntry {
        actor: None,
        client_address: None,
        at: time::OffsetDateTime::now_utc(),
    };
    let name = format!("owner{tag}");
    let owner = store
        .create_user(
            &NewUser {
                username: Username::parse(&name)?,
                email: EmailAddress::parse(&format!("{name}@import.example"))?,
                full_name: FullName::parse(&name)?,
                status: UserStatus::Active,
                platform_role: None,
                password_hash: None,
                must_change_password: false,
                language: Language::En,
            },
            &entry,
        )
        .await?
        .id;
    // Organizations are made by SuperAdmins; the owner stands in for one, as in `bench`.
    let proof = authorize_platform(&Actor::new(owner, Some(PlatformRole::SuperAdmin), []))?;
    let organization = store
        .create_organization(
            &proof,
            &Name::parse("name", &format!("Import {tag}"))?,
            owner,
            &entry,
        )
        .await?;
    Ok((organization.id, owner))
}

/// A short random tag for names that must not collide with an earlier run's.
pub fn run_tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

/// The process's peak resident memory (`VmHWM` in `/proc/self/status`), in MiB; `None`
/// where there is no such file.
pub fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// A temporary folder of this run, removed when dropped unless [`Scratch::keep`] was called.
pub struct Scratch {
    pub path: PathBuf,
    keep: bool,
}

impl Scratch {
    pub fn new(what: &str) -> anyhow::Result<Self> {
        let path =
            std::env::temp_dir().join(format!("steward-{what}-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&path)
            .with_context(|| format!("creating the temporary folder {}", path.display()))?;
        Ok(Scratch { path, keep: false })
    }

    /// Leaves the folder in place (for a look at what failed).
    pub fn keep(&mut self) {
        self.keep = true;
    }

    /// A SQLite URL for a new database file in the folder.
    pub fn sqlite_url(&self, name: &str) -> String {
        format!("sqlite://{}", self.path.join(name).display())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
