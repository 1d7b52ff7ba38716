//! `cargo xtask import-crash-check`: the promise of the job queue, checked on the real
//! server binary. A server working on an import is killed with SIGKILL halfway; the job must
//! stay running with its committed batches, and a server started again must take it over once
//! its lease has run out, resume after the last committed batch and finish it, so that every
//! user of the file exists exactly once.

use std::fs::File;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use steward_domain::JobId;
use steward_domain::job::JobStatus;
use steward_store::bench::{import_created_counts, users_with_username_prefix};
use steward_store::{JobRecord, NewUserImport, Store, StoreOptions};

use crate::import::{
    Progress, Scratch, import_organization, run_tag, stage, throwaway_secret_key, write_import_file,
};

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
        let store = Store::connect(&url, &StoreOptions::default())
            .await
            .context("opening the database")?;
        store.migrate().await?;
        let result = self.kill_and_resume(&store, &binary, &url, scratch).await;
        store.close().await;
        result
    }

    async fn kill_and_resume(
        &self,
        store: &Store,
        binary: &Path,
        url: &str,
        scratch: &Scratch,
    ) -> anyhow::Result<()> {
        let total = self.rows as i64;
        let tag = run_tag();
        let prefix = format!("c{tag}x");
        let (organization, admin) = import_organization(store, &tag).await?;
        let file = scratch.path.join("users.csv");
        write_import_file(&file, &prefix, self.rows)?;
        println!("1. wrote {} rows to {}", self.rows, file.display());

        let mut server = Server::start(binary, url, &tag, &scratch.path.join("server-1.log"))?;
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

        let mut server = Server::start(binary, url, &tag, &scratch.path.join("server-2.log"))?;
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
}

/// Builds the server binary and returns its path: next to this xtask's own binary, in the
/// same target folder and profile. The build must not undo `cargo xtask`'s own, nor the next
/// `cargo xtask` undo it (each costs minutes), so it is built together with xtask, for cargo
/// to resolve the features of their shared crates alike (steward-store with `bench`), and
/// without the variables `cargo run` set for this process: build scripts (ring's) watch
/// `CARGO_PKG_NAME` and `CARGO_MANIFEST_DIR`, and would run again, and everything after them.
fn build_server() -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    println!("0. building the server: cargo build -p xtask -p steward-server --bin steward");
    let mut command = Command::new(cargo);
    for (name, _) in std::env::vars_os() {
        let set_by_cargo_run = name.to_str().is_some_and(|name| {
            name.starts_with("CARGO_PKG_")
                || name.starts_with("CARGO_MANIFEST_")
                || [
                    "CARGO_CRATE_NAME",
                    "CARGO_BIN_NAME",
                    "CARGO_PRIMARY_PACKAGE",
                ]
                .contains(&name)
        });
        if set_by_cargo_run {
            command.env_remove(name);
        }
    }
    let status = command
        .args(["build", "--quiet", "-p", "xtask", "-p", "steward-server"])
        .args(["--bin", "steward"])
        .current_dir(crate::workspace_root())
        .stdin(Stdio::null())
        .status()
        .context("running cargo build for the server")?;
    ensure!(status.success(), "building the server failed ({status})");
    let xtask = std::env::current_exe().context("locating the xtask binary")?;
    let binary = xtask
        .with_file_name("steward")
        .with_extension(std::env::consts::EXE_EXTENSION);
    ensure!(
        binary.exists(),
        "the server binary is not where it was built: {}",
        binary.display()
    );
    Ok(binary)
}

/// A server child process, killed when dropped (a failed check leaves nothing running).
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Server {
    /// Starts `steward serve` on a free port, logging to `log`, and waits until it listens.
    fn start(binary: &Path, url: &str, tag: &str, log: &Path) -> anyhow::Result<Self> {
        let port = free_port()?;
        let output = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut command = Command::new(binary);
        command
            .args(["serve", "--database-url", url])
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .args(["--job-lease-seconds", LEASE_SECONDS, "--job-poll-ms", "200"])
            // Its own first administrator, should the database have none: no clash with a
            // user of an earlier run.
            .args(["--admin-username", &format!("admin{tag}")])
            .args(["--admin-email", &format!("admin{tag}@import.example")])
            .env("RUST_LOG", "info,sqlx=warn")
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output);
        if url.starts_with("postgres") && std::env::var_os("STEWARD_SECRET_KEY").is_none() {
            command.args(["--secret-key", &throwaway_secret_key()]);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut server = Server {
            child,
            port,
            log: log.to_owned(),
        };
        let started = Instant::now();
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            server.check_alive()?;
            ensure!(
                started.elapsed() < Duration::from_secs(120),
                "the server did not listen on port {port} within 2 minutes; its log: {}",
                server.log.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails when the server has exited, with the end of its log.
    fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "the server exited ({status}); the end of its log ({}):\n{}",
                self.log.display(),
                tail.join("\n")
            );
        }
        Ok(())
    }

    /// SIGKILL: no shutdown, no lease given back, a batch in flight rolled back.
    fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().context("killing the server")?;
        self.child.wait().context("waiting for the killed server")?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on now (the server binds it a moment later).
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port")?;
    Ok(listener.local_addr()?.port())
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
