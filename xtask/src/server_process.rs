//! A server as a child process, for checks and benchmarks that need the real binary: built
//! next to xtask's own binary, started on a free port, killed when dropped.

use std::fs::File;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};

use crate::import::throwaway_secret_key;

/// Builds the server binary and returns its path: next to this xtask's own binary, in the
/// same target folder and profile. The build must not undo `cargo xtask`'s own, nor the next
/// `cargo xtask` undo it (each costs minutes), so it is built together with xtask, for cargo
/// to resolve the features of their shared crates alike (steward-store with `bench`), and
/// without the variables `cargo run` set for this process: build scripts (ring's) watch
/// `CARGO_PKG_NAME` and `CARGO_MANIFEST_DIR`, and would run again, and everything after them.
pub fn build_server() -> anyhow::Result<PathBuf> {
    build(false)
}

/// Builds xtask and the server with `--release` and returns the server binary's path, next
/// to the release xtask (`target/release`).
pub fn build_release() -> anyhow::Result<PathBuf> {
    build(true)
}

fn build(release: bool) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let profile: &[&str] = if release { &["--release"] } else { &[] };
    eprintln!(
        "building the server: cargo build {}-p xtask -p steward-server",
        if release { "--release " } else { "" }
    );
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
        .args(profile)
        .current_dir(crate::workspace_root())
        .stdin(Stdio::null())
        .status()
        .context("running cargo build for the server")?;
    ensure!(status.success(), "building the server failed ({status})");
    let xtask = std::env::current_exe().context("locating the xtask binary")?;
    let folder = if release {
        std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| crate::workspace_root().join("target"), PathBuf::from)
            .join("release")
    } else {
        xtask.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let binary = folder
        .join("steward")
        .with_extension(std::env::consts::EXE_EXTENSION);
    ensure!(
        binary.exists(),
        "the server binary is not where it was built: {}",
        binary.display()
    );
    Ok(binary)
}

/// Builds the release binaries and runs this same command in them (for figures comparable
/// with the targets); `what` names the command in the error when it fails.
pub fn run_in_release(what: &str) -> anyhow::Result<()> {
    let server = build_release()?;
    let xtask = server
        .with_file_name("xtask")
        .with_extension(std::env::consts::EXE_EXTENSION);
    let status = Command::new(&xtask)
        .args(std::env::args_os().skip(1))
        .current_dir(crate::workspace_root())
        .status()
        .with_context(|| format!("running {}", xtask.display()))?;
    ensure!(status.success(), "{what} failed ({status})");
    Ok(())
}

/// The server binary next to this xtask's own (for commands running in the release build
/// [`run_in_release`] made, where both were built together).
pub fn server_beside_this_one() -> anyhow::Result<PathBuf> {
    let binary = std::env::current_exe()
        .context("locating the xtask binary")?
        .with_file_name("steward")
        .with_extension(std::env::consts::EXE_EXTENSION);
    ensure!(
        binary.exists(),
        "no server binary next to this one ({}): run the command without --this-build, or \
         build the server first",
        binary.display()
    );
    Ok(binary)
}

/// A server child process, killed when dropped (a failed check leaves nothing running).
pub struct Server {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Server {
    /// Starts `steward serve` on a free port with `args`, logging to `log`, and waits until
    /// it listens.
    pub fn start(binary: &Path, url: &str, args: &[String], log: &Path) -> anyhow::Result<Self> {
        let port = free_port()?;
        let output = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut command = Command::new(binary);
        command
            .args(["serve", "--database-url", url])
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .args(args)
            .env("RUST_LOG", "info,sqlx=warn")
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output);
        let key_given = std::env::var_os("STEWARD_SECRET_KEY").is_some()
            || args.iter().any(|arg| arg == "--secret-key");
        if url.starts_with("postgres") && !key_given {
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

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails when the server has exited, with the end of its log.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
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
    pub fn kill(mut self) -> anyhow::Result<()> {
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
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}
