//! `cargo xtask pg start|stop|url`: a throwaway PostgreSQL for tests, run from the
//! machine's own PostgreSQL server binaries (`initdb`, `pg_ctl`, `postgres` on `PATH`),
//! so the PostgreSQL half of the test suite needs neither Docker nor a shared server.
//!
//! The PostgreSQL-backed tests take their database from `STEWARD_TEST_POSTGRES_URL`.
//! `.ci/run` exports it from this command, and a developer can do the same by hand:
//!
//! ```text
//! export STEWARD_TEST_POSTGRES_URL="$(cargo xtask pg start)"
//! cargo test --workspace
//! cargo xtask pg stop
//! ```
//!
//! * `start` initialises a cluster if there is none yet (trust authentication, superuser
//!   `postgres`, no locale, UTF8), starts it on a free port on 127.0.0.1, waits until it
//!   accepts connections and prints exactly one line on stdout: its URL
//!   (`postgres://postgres@127.0.0.1:PORT/postgres`). Progress goes to stderr. Durability
//!   is switched off (`fsync`, `synchronous_commit`, `full_page_writes`): the data is
//!   thrown away anyway and tests run much faster without it. `max_connections` is raised
//!   to 300 because every test opens its own pool. Running `start` again while the server
//!   is up only prints the URL.
//! * `url` prints the URL of the running server, or fails if none is running.
//! * `stop` stops the server (fast shutdown) and deletes its whole state folder. Stopping
//!   when nothing runs is fine.
//!
//! # Where the state lives
//!
//! In `<workspace>/target/xtask-pg/`: `data/` (the cluster), `socket/` (the Unix socket,
//! so we never touch the system's `/var/run/postgresql`), `postgres.log` and `port` (the
//! last port used, reused on the next start when it is still free). `target/` is already
//! ignored by git and wiped by `cargo clean`, and one folder per checkout means two
//! checkouts never share a server.
//!
//! That folder is only a preference. We fall back to
//! `<temp dir>/steward-xtask-pg-<hash of the workspace path>/` (and say so on stderr) when
//! it cannot work: when its socket path would be too long for a Unix socket
//! (`sun_path` holds 107 bytes), or, when running as root, when the `postgres` user cannot
//! reach it because some parent folder is not traversable. `url` and `stop` look in both
//! places.
//!
//! # Running as root
//!
//! The PostgreSQL server binaries refuse to run as root. When we are root (CI containers
//! usually are) they run as the `postgres` OS user through `runuser -u postgres --`, and
//! the state folder is handed over to that user with `chown -R`. Otherwise they run
//! directly as the current user. The client tools (`pg_isready`, `psql`) used to check the
//! server is up run as the current user either way.

use std::fs;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{Context, Result, bail};

/// The address the server listens on; nothing else can reach it.
const HOST: &str = "127.0.0.1";
/// The database superuser `initdb` creates and the URL connects as.
const SUPERUSER: &str = "postgres";
/// The OS user the server binaries run as when we are root.
const OS_USER: &str = "postgres";
/// How long `pg_ctl` waits for the server to start or stop, in seconds.
const PG_CTL_TIMEOUT_SECS: &str = "60";
/// How many lines of `postgres.log` an error shows.
const LOG_TAIL_LINES: usize = 40;
/// Longest socket folder we accept. Linux's `sun_path` holds 107 bytes plus the NUL and
/// PostgreSQL appends `/.s.PGSQL.<port>` (up to 15 bytes) to the folder.
const MAX_SOCKET_DIR_LEN: usize = 90;

/// Run a throwaway PostgreSQL for tests.
#[derive(clap::Args, Debug)]
pub struct Pg {
    #[command(subcommand)]
    pub command: PgCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum PgCommand {
    /// Start the throwaway PostgreSQL (initialising it if needed) and print its URL on stdout.
    Start,
    /// Stop the throwaway PostgreSQL and delete its state folder.
    Stop,
    /// Print the URL of the running throwaway PostgreSQL.
    Url,
}

impl Pg {
    pub fn run(self) -> Result<()> {
        let env = Env::detect()?;
        match self.command {
            PgCommand::Start => start(&env),
            PgCommand::Stop => stop(&env),
            PgCommand::Url => url(&env),
        }
    }
}

fn start(env: &Env) -> Result<()> {
    if let Some(dir) = env.find_running()? {
        let port = running_port(dir)?;
        eprintln!(
            "xtask pg: PostgreSQL is already running from {}",
            dir.root.display()
        );
        println!("{}", url_for(port));
        return Ok(());
    }

    let dir = env.prepare_state_dir()?;

    initialise(env, dir)?;
    let port = choose_port(dir)?;
    start_server(env, dir, port)?;
    eprintln!("xtask pg: PostgreSQL is ready");
    println!("{}", url_for(port));
    Ok(())
}

/// Makes a cluster in `dir` unless there is one.
fn initialise(env: &Env, dir: &StateDir) -> Result<()> {
    if dir.is_initialised() {
        return Ok(());
    }
    if dir.data().exists() {
        // A previous `initdb` died half-way; it refuses a non-empty folder.
        fs::remove_dir_all(dir.data())
            .with_context(|| format!("could not remove the half-made {}", dir.data().display()))?;
    }
    eprintln!(
        "xtask pg: initialising a PostgreSQL cluster in {}",
        dir.data().display()
    );
    let out = env
        .server_cmd("initdb", dir)
        .arg("-D")
        .arg(dir.data())
        .args(["-A", "trust", "-U", SUPERUSER, "--no-locale", "-E", "UTF8"])
        // Throwaway data: no need to wait for it to reach the disk.
        .arg("--no-sync")
        .output()
        .context("could not run `initdb` (is PostgreSQL installed and on PATH?)")?;
    if !out.status.success() {
        bail!("`initdb` failed ({}):\n{}", out.status, output_text(&out));
    }
    Ok(())
}

/// Starts the cluster of `dir` on `port` and waits until it accepts connections.
fn start_server(env: &Env, dir: &StateDir, port: u16) -> Result<()> {
    fs::write(dir.port_file(), format!("{port}\n"))
        .with_context(|| format!("could not write {}", dir.port_file().display()))?;
    // A fresh log per start, so that a failure shows this start's lines only.
    match fs::remove_file(dir.log()) {
        Ok(()) => {}
        Err(err) if err.kind() == ErrorKind::NotFound => {}
        Err(err) => {
            return Err(err).with_context(|| format!("could not remove {}", dir.log().display()));
        }
    }

    eprintln!(
        "xtask pg: starting PostgreSQL on {HOST}:{port} (log: {})",
        dir.log().display()
    );
    // pg_ctl hands these to `postgres` through `/bin/sh -c`, hence the quoting.
    let options = format!(
        "-p {port} -k {} -c listen_addresses={HOST} -c fsync=off -c synchronous_commit=off \
         -c full_page_writes=off -c max_connections=300",
        sh_quote(&dir.socket())
    );
    let status = env
        .pg_ctl(dir)
        .arg("-l")
        .arg(dir.log())
        .arg("-o")
        .arg(&options)
        .arg("start")
        .status()
        .context("could not run `pg_ctl start` (is PostgreSQL installed and on PATH?)")?;
    if !status.success() {
        bail!(
            "`pg_ctl start` failed ({status}); run `cargo xtask pg stop` to clean up.\n{}",
            log_tail(dir)
        );
    }

    if let Err(err) = verify_ready(port) {
        bail!("{err:#}\n{}", log_tail(dir));
    }
    Ok(())
}

fn url(env: &Env) -> Result<()> {
    match env.find_running()? {
        Some(dir) => {
            println!("{}", url_for(running_port(dir)?));
            Ok(())
        }
        None => bail!("no throwaway PostgreSQL is running; run `cargo xtask pg start`"),
    }
}

fn stop(env: &Env) -> Result<()> {
    let mut found = false;
    for dir in &env.candidates {
        if !dir.root.exists() {
            continue;
        }
        found = true;
        if env.is_running(dir)? {
            eprintln!(
                "xtask pg: stopping PostgreSQL running from {}",
                dir.root.display()
            );
            // Keep the folder when this fails: the server may still be using it.
            stop_server(env, dir)?;
        } else {
            eprintln!(
                "xtask pg: no PostgreSQL is running from {}; removing what is left of it",
                dir.root.display()
            );
        }
        fs::remove_dir_all(&dir.root)
            .with_context(|| format!("could not remove {}", dir.root.display()))?;
        eprintln!("xtask pg: removed {}", dir.root.display());
    }
    if !found {
        eprintln!("xtask pg: no throwaway PostgreSQL is running; nothing to stop");
    }
    Ok(())
}

/// Fast shutdown: open connections are ended, the server exits at once.
fn stop_server(env: &Env, dir: &StateDir) -> Result<()> {
    let status = env
        .pg_ctl(dir)
        .args(["-m", "fast", "stop"])
        .status()
        .context("could not run `pg_ctl stop`")?;
    if !status.success() {
        bail!("`pg_ctl stop` failed ({status})\n{}", log_tail(dir));
    }
    Ok(())
}

/// A PostgreSQL of its own for a check that stops and starts the server under a running
/// Steward (`cargo xtask chaos`), so that nothing else using `cargo xtask pg start`'s server
/// sees the outage. Made like that one, in a folder given by the caller; stopped and
/// removed when dropped.
pub struct Cluster {
    env: Env,
    dir: StateDir,
    port: u16,
}

impl Cluster {
    /// Initialises a new cluster in `root` (whatever was there before is removed) and starts
    /// it on a free port.
    pub fn create(root: PathBuf) -> Result<Self> {
        let env = Env::detect()?;
        let dir = StateDir { root };
        if dir.root.exists() {
            if env.is_running(&dir)? {
                stop_server(&env, &dir)?;
            }
            fs::remove_dir_all(&dir.root)
                .with_context(|| format!("could not remove {}", dir.root.display()))?;
        }
        env.prepare(&dir)?;
        initialise(&env, &dir)?;
        let port = choose_port(&dir)?;
        start_server(&env, &dir, port)?;
        Ok(Self { env, dir, port })
    }

    pub fn url(&self) -> String {
        url_for(self.port)
    }

    /// Stops the server (fast shutdown: connections are cut, transactions in flight roll
    /// back).
    pub fn stop(&self) -> Result<()> {
        stop_server(&self.env, &self.dir)
    }

    /// Starts the server again on the same port, so that clients' URL stays right.
    pub fn start(&self) -> Result<()> {
        start_server(&self.env, &self.dir, self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.env.is_running(&self.dir).unwrap_or(true) {
            let _ = stop_server(&self.env, &self.dir);
        }
        let _ = fs::remove_dir_all(&self.dir.root);
    }
}

/// What the commands need to know about this machine.
struct Env {
    /// Run the server binaries as the `postgres` OS user (we are root).
    as_postgres: bool,
    /// Where the state may live: the preferred folder under `target/`, then the fallback
    /// under the temp dir.
    candidates: [StateDir; 2],
}

impl Env {
    fn detect() -> Result<Self> {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("the xtask crate has no parent folder")?;
        let preferred = workspace.join("target").join("xtask-pg");
        let fallback = std::env::temp_dir().join(format!(
            "steward-xtask-pg-{:08x}",
            fnv1a(workspace.as_os_str().as_encoded_bytes()) & 0xffff_ffff
        ));
        Ok(Self {
            as_postgres: running_as_root(),
            candidates: [StateDir { root: preferred }, StateDir { root: fallback }],
        })
    }

    /// A command running one of the server binaries, as the `postgres` user when we are
    /// root, from inside the state folder (the binaries complain when they cannot access
    /// their working directory).
    fn server_cmd(&self, program: &str, dir: &StateDir) -> Command {
        let program = resolve(program);
        let mut cmd = if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", OS_USER, "--"]).arg(program);
            cmd
        } else {
            Command::new(program)
        };
        cmd.current_dir(&dir.root).stdin(Stdio::null());
        cmd
    }

    /// `pg_ctl -D <data> -w -t <timeout>`, with its chatter sent to stderr so that stdout
    /// stays the URL alone.
    fn pg_ctl(&self, dir: &StateDir) -> Command {
        let mut cmd = self.server_cmd("pg_ctl", dir);
        cmd.arg("-D")
            .arg(dir.data())
            .args(["-w", "-t", PG_CTL_TIMEOUT_SECS])
            .stdout(std::io::stderr());
        cmd
    }

    fn is_running(&self, dir: &StateDir) -> Result<bool> {
        if !dir.is_initialised() {
            return Ok(false);
        }
        let out = self
            .server_cmd("pg_ctl", dir)
            .arg("-D")
            .arg(dir.data())
            .arg("status")
            .output()
            .context("could not run `pg_ctl status` (is PostgreSQL installed and on PATH?)")?;
        // 0: running, 3: not running, 4: no accessible data folder.
        match out.status.code() {
            Some(0) => Ok(true),
            Some(3 | 4) => Ok(false),
            _ => bail!(
                "`pg_ctl status` failed ({}):\n{}",
                out.status,
                output_text(&out)
            ),
        }
    }

    fn find_running(&self) -> Result<Option<&StateDir>> {
        for dir in &self.candidates {
            if dir.root.exists() && self.is_running(dir)? {
                return Ok(Some(dir));
            }
        }
        Ok(None)
    }

    /// Creates the state folder, preferring the one under `target/`.
    fn prepare_state_dir(&self) -> Result<&StateDir> {
        let [preferred, fallback] = &self.candidates;
        match self.prepare(preferred) {
            Ok(()) => return Ok(preferred),
            Err(err) => eprintln!(
                "xtask pg: cannot use {}: {err:#}; using {} instead",
                preferred.root.display(),
                fallback.root.display()
            ),
        }
        self.prepare(fallback)
            .with_context(|| format!("cannot use {} either", fallback.root.display()))?;
        Ok(fallback)
    }

    fn prepare(&self, dir: &StateDir) -> Result<()> {
        let socket_len = dir.socket().as_os_str().len();
        if socket_len > MAX_SOCKET_DIR_LEN {
            bail!(
                "its socket folder path is too long for a Unix socket \
                 ({socket_len} bytes, at most {MAX_SOCKET_DIR_LEN})"
            );
        }
        let existed = dir.root.exists();
        fs::create_dir_all(dir.socket())
            .with_context(|| format!("could not create {}", dir.socket().display()))?;
        if self.as_postgres {
            let handed_over = hand_over_to_postgres(dir);
            if handed_over.is_err() && !existed {
                // Leave nothing behind for `url` and `stop` to trip over.
                let _ = fs::remove_dir_all(&dir.root);
            }
            handed_over?;
        }
        Ok(())
    }
}

/// Gives the state folder to the `postgres` user and checks that user can reach it.
fn hand_over_to_postgres(dir: &StateDir) -> Result<()> {
    let out = Command::new("chown")
        .arg("-R")
        .arg(format!("{OS_USER}:{OS_USER}"))
        .arg(&dir.root)
        .stdin(Stdio::null())
        .output()
        .context("could not run `chown`")?;
    if !out.status.success() {
        bail!(
            "could not give it to the `{OS_USER}` user: {}",
            output_text(&out)
        );
    }
    let out = Command::new("runuser")
        .args(["-u", OS_USER, "--", "test", "-x"])
        .arg(&dir.root)
        .arg("-a")
        .arg("-w")
        .arg(&dir.root)
        .stdin(Stdio::null())
        .output()
        .context("could not run `runuser` (needed to run PostgreSQL as root)")?;
    if !out.status.success() {
        bail!("the `{OS_USER}` user cannot reach it (is a parent folder not traversable?)");
    }
    Ok(())
}

/// One place the throwaway server's files may live.
struct StateDir {
    root: PathBuf,
}

impl StateDir {
    fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    fn socket(&self) -> PathBuf {
        self.root.join("socket")
    }

    fn log(&self) -> PathBuf {
        self.root.join("postgres.log")
    }

    fn port_file(&self) -> PathBuf {
        self.root.join("port")
    }

    /// Whether `initdb` made a cluster here. (A failing `initdb` removes what it made, so
    /// a `data/` without `PG_VERSION` is debris, which `start` clears.)
    fn is_initialised(&self) -> bool {
        self.data().join("PG_VERSION").is_file()
    }
}

/// The port the running server listens on: line 4 of `postmaster.pid`, else the port file.
fn running_port(dir: &StateDir) -> Result<u16> {
    let from_pid_file = fs::read_to_string(dir.data().join("postmaster.pid"))
        .ok()
        .and_then(|text| {
            text.lines()
                .nth(3)
                .and_then(|line| line.trim().parse().ok())
        });
    match from_pid_file.or_else(|| read_port_file(dir)) {
        Some(port) => Ok(port),
        None => bail!(
            "cannot tell which port the PostgreSQL in {} listens on",
            dir.root.display()
        ),
    }
}

fn read_port_file(dir: &StateDir) -> Option<u16> {
    fs::read_to_string(dir.port_file())
        .ok()
        .and_then(|text| text.trim().parse().ok())
}

/// The port used last time if it is still free (stable URLs across restarts), else one
/// the OS picks.
fn choose_port(dir: &StateDir) -> Result<u16> {
    if let Some(port) = read_port_file(dir).filter(|&port| port_is_free(port)) {
        return Ok(port);
    }
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("could not find a free port on 127.0.0.1")?;
    let port = listener
        .local_addr()
        .context("could not read the port of a bound socket")?
        .port();
    drop(listener);
    Ok(port)
}

fn port_is_free(port: u16) -> bool {
    port != 0 && TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// Checks the server answers, with whichever client tool is installed. `pg_ctl -w` has
/// already waited for it to be ready; this also proves the URL we print works over TCP.
fn verify_ready(port: u16) -> Result<()> {
    let port_arg = port.to_string();
    let out = Command::new("pg_isready")
        .args([
            "-h", HOST, "-p", &port_arg, "-U", SUPERUSER, "-d", "postgres",
        ])
        .args(["-t", "30"])
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(out) if out.status.success() => return Ok(()),
        Ok(out) => bail!(
            "PostgreSQL started but `pg_isready` says it does not accept connections ({}): {}",
            out.status,
            output_text(&out)
        ),
        Err(err) if err.kind() == ErrorKind::NotFound => {}
        Err(err) => return Err(err).context("could not run `pg_isready`"),
    }

    let out = Command::new("psql")
        .args(["-X", "-A", "-t", "-q", "-w", "-c", "select 1"])
        .arg(url_for(port))
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(out) if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "1" => {
            return Ok(());
        }
        Ok(out) => bail!(
            "PostgreSQL started but `psql -c 'select 1'` failed ({}): {}",
            out.status,
            output_text(&out)
        ),
        Err(err) if err.kind() == ErrorKind::NotFound => {}
        Err(err) => return Err(err).context("could not run `psql`"),
    }

    TcpStream::connect((Ipv4Addr::LOCALHOST, port)).with_context(|| {
        format!("PostgreSQL started but nothing accepts connections on {HOST}:{port}")
    })?;
    eprintln!("xtask pg: neither `pg_isready` nor `psql` is installed; only checked the port");
    Ok(())
}

fn url_for(port: u16) -> String {
    format!("postgres://{SUPERUSER}@{HOST}:{port}/postgres")
}

/// The last lines of `postgres.log`, headed, for error messages.
fn log_tail(dir: &StateDir) -> String {
    let path = dir.log();
    match fs::read(&path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
            format!("--- last lines of {} ---\n{tail}", path.display())
        }
        Err(err) => format!("(could not read {}: {err})", path.display()),
    }
}

/// A command's stdout and stderr, for error messages.
fn output_text(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    format!("{}\n{}", stdout.trim(), stderr.trim())
        .trim()
        .to_owned()
}

/// Whether we are root, in which case the server binaries must run as `postgres`.
fn running_as_root() -> bool {
    match Command::new("id").arg("-u").stdin(Stdio::null()).output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim() == "0",
        _ => std::env::var("USER").is_ok_and(|user| user == "root"),
    }
}

/// The absolute path of `program` on our `PATH`, so that `runuser` (whose `PATH` may be
/// reset) runs the same binary we would; the bare name when it is not found.
fn resolve(program: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(program))
                .find(|candidate| candidate.is_file())
        })
        .unwrap_or_else(|| PathBuf::from(program))
}

/// Quotes `path` for `/bin/sh`, which is how `pg_ctl` passes `-o` options on.
fn sh_quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}

/// FNV-1a: a hash that is stable across Rust releases, for the fallback folder's name.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_has_the_documented_shape() {
        assert_eq!(url_for(5432), "postgres://postgres@127.0.0.1:5432/postgres");
    }

    #[test]
    fn sh_quote_survives_spaces_and_quotes() {
        assert_eq!(sh_quote(Path::new("/a b/c")), "'/a b/c'");
        assert_eq!(sh_quote(Path::new("/it's")), r"'/it'\''s'");
    }

    #[test]
    fn fnv1a_matches_the_reference_values() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn running_port_prefers_postmaster_pid_then_the_port_file() {
        let root =
            std::env::temp_dir().join(format!("steward-xtask-pg-test-{}", std::process::id()));
        let dir = StateDir { root: root.clone() };
        fs::create_dir_all(dir.data()).unwrap();
        assert!(running_port(&dir).is_err());
        fs::write(dir.port_file(), "6543\n").unwrap();
        assert_eq!(running_port(&dir).unwrap(), 6543);
        fs::write(
            dir.data().join("postmaster.pid"),
            "4210\n/data\n1795424399\n44637\n/socket\n127.0.0.1\n",
        )
        .unwrap();
        assert_eq!(running_port(&dir).unwrap(), 44637);
        fs::remove_dir_all(&root).unwrap();
    }
}
