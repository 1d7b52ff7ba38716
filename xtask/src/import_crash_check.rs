//! `cargo xtask import-crash-check`: the promise of the job queue, checked on the real
//! server binary. A server working on an import is killed with SIGKILL halfway; the job must
//! stay running with its committed batches, and a server started again must take it over once
//! its lease has run out, resume after the last committed batch and finish it, so that every
//! user of the file exists exactly once.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use steward_domain::JobId;
use steward_domain::job::JobStatus;
use steward_store::bench::{import_created_counts, users_with_username_prefix};
use steward_store::{JobRecord, NewUserImport, Store, StoreOptions};

use crate::server_process::{Server, build_server};

use crate::import::{Progress, Scratch, import_organization, run_tag, stage, write_import_file};

/// The lease the servers run with: short, so that the restarted one takes the job over soon.
const LEASE_SECONDS: &str = "3";
/// Longest wait for a server to listen, or for the import to reach a point.
const PATIENCE: Duration = Duration::from_secs(30 * 60);

#[derive(clap::Args, Debug)]
pub struct ImportCrashCheck {
    /// How many users the generated file holds; enough that the import takes some seconds.
    #[arg(long, default_value_t = 200_000)]
    rows: u64,
    /// The database to check on; default: a new SQLite file in the system's temporary folder,
    /// removed afterwards. Give a PostgreSQL URL (`cargo xtask pg start` prints one) to check
    /// PostgreSQL: the check adds its own organization and users.
    #[arg(long, env = "STEWARD_BENCH_DATABASE_URL")]
    database_url: Option<String>,
}

impl ImportCrashCheck {
    pub fn run(self) -> anyhow::Result<()> {
        ensure!(
            self.rows >= 2_000,
            "--rows must be at least 2000, so that the server can be killed halfway"
        );
        let mut scratch = Scratch::new("import-crash-check")?;
        let result = crate::runtime()?.block_on(self.check(&scratch));
        if result.is_err() {
            scratch.keep();
            eprintln!(
                "the file, the database (if SQLite) and the servers' logs are kept in {}",
                scratch.path.display()
            );
        }
        result
    }

    async fn check(&self, scratch: &Scratch) -> anyhow::Result<()> {
        let url = self
            .database_url
            .clone()
            .unwrap_or_else(|| scratch.sqlite_url("steward.db"));
        let binary = build_server()?;
        kill_and_resume(&url, &binary, self.rows, scratch).await
    }
}

/// The check itself, on the database at `url` with the server `binary`; `scratch` holds the
/// generated file and the servers' logs. `cargo xtask chaos` runs it as its worker-kill step.
pub async fn kill_and_resume(
    url: &str,
    binary: &Path,
    rows: u64,
    scratch: &Scratch,
) -> anyhow::Result<()> {
    let store = Store::connect(url, &StoreOptions::default())
        .await
        .context("opening the database")?;
    store.migrate().await?;
    let result = kill_and_resume_on(&store, binary, url, rows, scratch).await;
    store.close().await;
    result
}

async fn kill_and_resume_on(
    store: &Store,
    binary: &Path,
    url: &str,
    rows: u64,
    scratch: &Scratch,
) -> anyhow::Result<()> {
    let total = rows as i64;
    let tag = run_tag();
    let prefix = format!("c{tag}x");
    let (organization, admin) = import_organization(store, &tag).await?;
    let file = scratch.path.join("users.csv");
    write_import_file(&file, &prefix, rows)?;
    println!("1. wrote {rows} rows to {}", file.display());

    let mut server = Server::start(
        binary,
        url,
        &server_args(&tag),
        &scratch.path.join("server-1.log"),
    )?;
    println!(
        "2. started the server on port {} (pid {})",
        server.port,
        server.pid()
    );
    let import = NewUserImport {
        organization,
        initiator: Some(admin),
        dry_run: false,
        send_invitations: false,
        file_name: Some("users.csv".to_owned()),
    };
    let source = File::open(&file).context("opening the generated file")?;
    let job = stage(store, &import, source).await?;
    println!("3. staged import job {} ({} rows)", job.id, job.total_rows);

    // Killed between a fifth and a half of the way: batches committed before, some after.
    let job = wait_for(store, job.id, &mut server, |job| {
        job.processed_rows >= total / 5 || job.status.is_finished()
    })
    .await?;
    ensure!(
        !job.status.is_finished(),
        "the import ended ({}) before the server could be killed: give more --rows",
        job.status.code()
    );
    server.kill()?;
    let killed = job_of(store, job.id).await?;
    println!(
        "4. killed the server (SIGKILL) at {}/{} rows",
        killed.processed_rows, total
    );
    ensure!(
        killed.status == JobStatus::Running
            && killed.processed_rows > 0
            && killed.processed_rows < total,
        "after the kill the job is {} at {}/{} rows; expected RUNNING with some rows done \
         and some left",
        killed.status.code(),
        killed.processed_rows,
        total
    );
    println!(
        "5. the job is still RUNNING at {}/{} rows after {} attempt(s)",
        killed.processed_rows, total, killed.attempts
    );

    let mut server = Server::start(
        binary,
        url,
        &server_args(&tag),
        &scratch.path.join("server-2.log"),
    )?;
    println!(
        "6. started the server again on port {} (pid {}); it takes the job over when the \
         {LEASE_SECONDS} s lease has run out",
        server.port,
        server.pid()
    );
    let mut progress = Progress::new(&killed);
    let ended = wait_for(store, job.id, &mut server, |job| {
        progress.observe(job);
        job.status.is_finished()
    })
    .await?;
    server.kill()?;
    progress.summary(&ended);

    println!("7. checks");
    let (created_rows, distinct_users) = import_created_counts(store, job.id).await?;
    let users = users_with_username_prefix(store, &prefix).await?;
    let checks = [
        (
            format!("the job SUCCEEDED (it is {})", ended.status.code()),
            ended.status == JobStatus::Succeeded,
        ),
        (
            format!(
                "it created {total} users (it counts {})",
                ended.created_rows
            ),
            ended.created_rows == total,
        ),
        (
            format!(
                "it was claimed at least twice ({} attempts)",
                ended.attempts
            ),
            ended.attempts >= 2,
        ),
        (
            format!("{total} of its rows are CREATED ({created_rows})"),
            created_rows == total,
        ),
        (
            format!("they point to {total} distinct users ({distinct_users})"),
            distinct_users == total,
        ),
        (
            format!("{total} users have the file's usernames ({users})"),
            users == total,
        ),
    ];
    let mut failed = 0;
    for (check, passed) in &checks {
        println!("   {} {check}", if *passed { "ok    " } else { "FAILED" });
        failed += usize::from(!passed);
    }
    ensure!(failed == 0, "{failed} of {} checks failed", checks.len());
    println!(
        "import-crash-check on {:?}: all checks passed",
        store.backend()
    );
    Ok(())
}

/// The crash check's server: a short job lease, and its own first administrator should the
/// database have none (no clash with a user of an earlier run).
fn server_args(tag: &str) -> Vec<String> {
    [
        "--job-lease-seconds",
        LEASE_SECONDS,
        "--job-poll-ms",
        "200",
        "--admin-username",
        &format!("admin{tag}"),
        "--admin-email",
        &format!("admin{tag}@import.example"),
    ]
    .map(str::to_owned)
    .to_vec()
}

async fn job_of(store: &Store, job: JobId) -> anyhow::Result<JobRecord> {
    store
        .job_by_id(job)
        .await?
        .with_context(|| format!("job {job} is gone from the database"))
}

/// Polls the job until `done` says so, failing if the server dies or it takes too long.
async fn wait_for(
    store: &Store,
    job: JobId,
    server: &mut Server,
    mut done: impl FnMut(&JobRecord) -> bool,
) -> anyhow::Result<JobRecord> {
    let started = Instant::now();
    loop {
        let record = job_of(store, job).await?;
        if done(&record) {
            return Ok(record);
        }
        server.check_alive()?;
        ensure!(
            started.elapsed() < PATIENCE,
            "job {job} is still {} at {}/{} rows after {} minutes; the server's log: {}",
            record.status.code(),
            record.processed_rows,
            record.total_rows,
            PATIENCE.as_secs() / 60,
            server.log.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
