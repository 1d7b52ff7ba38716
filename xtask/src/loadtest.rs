//! `cargo xtask loadtest`: release servers under a mixed workload for a while, one instance
//! or several sharing PostgreSQL. It holds when no answer was a 5xx or an `INTERNAL` error,
//! every request succeeded, each server's memory after the run is within 10 % of its memory
//! after the warm-up, and a consistency report of the database afterwards finds nothing.
//! Writes `target/loadtest/report.json` and `report.md`; exits non-zero otherwise.

mod population;
pub mod workload;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use serde_json::{Value, json};
use steward_store::bench::new_postgres_database;
use steward_store::{Backend, Finding, JobRecord, Store, StoreOptions};

pub use population::Seed;
use workload::{Live, Mix, Stats, Target};

use crate::import::{Scratch, throwaway_secret_key};
use crate::server_process::Server;

/// The most a server's resident memory may grow from the end of the warm-up to the end of
/// the run.
const MEMORY_GROWTH_LIMIT: f64 = 0.10;
/// How often the progress line is printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

#[derive(clap::Args, Debug)]
pub struct Loadtest {
    /// How long the measured load runs after the warm-up: `60s`, `2m`, `1m30s`, `500ms`.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    duration: Duration,
    /// The load before the measured run: not measured, except that its 5xx and failures
    /// count; each server's memory is read at its end.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    warmup: Duration,
    /// Concurrent clients, each sending its next request when the last is answered.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Server instances; more than one only on PostgreSQL (they share its database), each
    /// client taking them in turn.
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// `sqlite` (a new file in the system's temporary folder), or a PostgreSQL URL, on whose
    /// server the load test makes a database of its own (dropped when the run holds).
    #[arg(long, default_value = "sqlite", env = "STEWARD_BENCH_DATABASE_URL")]
    database_url: String,
    /// Members of the seeded organization (default 300, and at least two per client).
    #[arg(long)]
    users: Option<usize>,
    /// Also write the JSON report to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Run in this build instead of building and running the release one.
    #[arg(long)]
    this_build: bool,
}

impl Loadtest {
    pub fn run(self) -> anyhow::Result<()> {
        if cfg!(debug_assertions) && !self.this_build {
            return crate::server_process::run_in_release("the load test");
        }
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(self.execute())
    }

    async fn execute(self) -> anyhow::Result<()> {
        ensure!(self.concurrency > 0, "--concurrency must be at least 1");
        ensure!(self.instances > 0, "--instances must be at least 1");
        let postgres = self.database_url != "sqlite";
        ensure!(
            self.instances == 1 || postgres,
            "several instances share a PostgreSQL database: give --database-url URL"
        );
        let users = self.users.unwrap_or(300).max(2 * self.concurrency);
        let mut scratch = Scratch::new("loadtest")?;
        let url = if postgres {
            let name = format!("loadtest{}", crate::import::run_tag());
            new_postgres_database(&self.database_url, &name)
                .await
                .context("making the load test's database")?
        } else {
            scratch.sqlite_url("loadtest.db")
        };
        eprintln!(
            "==> load test on {}: {} instance(s), {} clients, {} warm-up, {} measured",
            steward_store::redact_url(&url),
            self.instances,
            self.concurrency,
            humanize(self.warmup),
            humanize(self.duration)
        );
        let outcome = self.measure(&url, users, &scratch).await;
        let held = match &outcome {
            Ok(outcome) => outcome.report(&self)?,
            Err(_) => false,
        };
        if held && postgres {
            let name = url.rsplit('/').next().unwrap_or_default().to_owned();
            steward_store::bench::drop_postgres_database(&self.database_url, &name).await?;
        } else if !held {
            scratch.keep();
            eprintln!(
                "kept for a look: the servers' logs in {}{}",
                scratch.path.display(),
                if postgres {
                    format!(", the database {}", steward_store::redact_url(&url))
                } else {
                    ", with the database".to_owned()
                }
            );
        }
        outcome?;
        ensure!(held, "the load test did not hold (see above)");
        Ok(())
    }

    async fn measure(&self, url: &str, users: usize, scratch: &Scratch) -> anyhow::Result<Outcome> {
        let store = Store::connect(url, &StoreOptions::default())
            .await
            .context("opening the load test's database")?;
        store.migrate().await?;
        let backend = store.backend();
        eprintln!("seeding {users} users");
        let seed = Seed::write(&store, users).await?;
        store.close().await;

        let binary = crate::server_process::server_beside_this_one()?;
        let secret_key = throwaway_secret_key();
        let mut servers = Vec::new();
        for instance in 1..=self.instances {
            let mut args = Vec::new();
            if backend == Backend::Postgres {
                // One deployment: every instance reads what the others wrote.
                args.extend(["--secret-key".to_owned(), secret_key.clone()]);
            }
            let server = Server::start(
                &binary,
                url,
                &args,
                &scratch.path.join(format!("server-{instance}.log")),
            )?;
            eprintln!(
                "started instance {instance} on port {} (pid {})",
                server.port,
                server.pid()
            );
            servers.push(server);
        }
        let bases: Vec<String> = servers
            .iter()
            .map(|server| format!("http://127.0.0.1:{}", server.port))
            .collect();
        eprintln!(
            "enrolling {} clients (logins, API keys) through the API",
            self.concurrency
        );
        let population = seed.enrol(&bases[0], self.concurrency).await?;
        let pids: Vec<u32> = servers.iter().map(Server::pid).collect();
        let target = Arc::new(Target::new(bases, population)?);
        let mix = Mix::mixed();
        eprintln!("mix: {}", mix.describe());

        let (warmup, _) = load_with_progress(
            &target,
            &mix,
            self.concurrency,
            self.warmup,
            1,
            "warm-up",
            &pids,
        )
        .await?;
        let mut memory = Vec::new();
        for server in &servers {
            memory.push(Memory {
                pid: server.pid(),
                after_warmup_kib: resident_kib(server.pid())?,
                at_end_kib: 0,
            });
        }
        let (measured, _) = load_with_progress(
            &target,
            &mix,
            self.concurrency,
            self.duration,
            2,
            "measured",
            &pids,
        )
        .await?;
        for (server, memory) in servers.iter_mut().zip(&mut memory) {
            memory.at_end_kib = resident_kib(server.pid())?;
            server.check_alive()?;
        }
        drop(servers);

        eprintln!("consistency report over the whole database");
        let (run, findings) = crate::consistency::report_all(url).await?;
        Ok(Outcome {
            backend,
            warmup,
            measured,
            memory,
            run,
            findings,
        })
    }
}

/// What a server's resident memory was, in KiB.
struct Memory {
    pid: u32,
    after_warmup_kib: u64,
    at_end_kib: u64,
}

impl Memory {
    fn growth(&self) -> f64 {
        self.at_end_kib as f64 / (self.after_warmup_kib as f64).max(1.0) - 1.0
    }
}

struct Outcome {
    backend: Backend,
    warmup: Stats,
    measured: Stats,
    memory: Vec<Memory>,
    run: JobRecord,
    findings: Vec<Finding>,
}

impl Outcome {
    /// Prints and writes the report; whether every check held.
    fn report(&self, settings: &Loadtest) -> anyhow::Result<bool> {
        let warmup = self.warmup.total()?;
        let measured = self.measured.total()?;
        let server_errors = warmup.server_errors + measured.server_errors;
        let internal = warmup.code("INTERNAL") + measured.code("INTERNAL");
        let failures = warmup.failures + measured.failures;
        let mut checks = vec![
            (
                format!("no 5xx answer ({server_errors})"),
                server_errors == 0,
            ),
            (
                format!("no GraphQL error with code INTERNAL ({internal})"),
                internal == 0,
            ),
            (
                format!("every request succeeded ({failures} failed)"),
                failures == 0,
            ),
        ];
        for (instance, memory) in self.memory.iter().enumerate() {
            checks.push((
                format!(
                    "instance {} memory after the run within {:.0} % of after the warm-up \
                     ({:+.1} %)",
                    instance + 1,
                    MEMORY_GROWTH_LIMIT * 100.0,
                    memory.growth() * 100.0
                ),
                memory.growth() <= MEMORY_GROWTH_LIMIT,
            ));
        }
        checks.push((
            format!(
                "the consistency report finds nothing ({} finding(s))",
                self.findings.len()
            ),
            self.findings.is_empty(),
        ));
        let held = checks.iter().all(|(_, passed)| *passed);

        let machine = crate::bench::report::machine();
        let at = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let commit = commit();
        let backend = crate::bench::backend_name(self.backend);
        let markdown = self.markdown(settings, &checks, &machine, &at, &commit, backend)?;
        println!("{markdown}");
        let document = json!({
            "at": at,
            "commit": commit,
            "machine": machine,
            "backend": backend,
            "instances": settings.instances,
            "concurrency": settings.concurrency,
            "warmup_seconds": settings.warmup.as_secs_f64(),
            "duration_seconds": self.measured.elapsed.as_secs_f64(),
            "mix": Mix::mixed().describe(),
            "warmup": stats_json(&self.warmup)?,
            "measured": stats_json(&self.measured)?,
            "memory": self.memory.iter().map(|memory| json!({
                "pid": memory.pid,
                "after_warmup_kib": memory.after_warmup_kib,
                "at_end_kib": memory.at_end_kib,
                "growth": memory.growth(),
            })).collect::<Vec<_>>(),
            "consistency": {
                "run": self.run.id.to_string(),
                "checked": self.run.processed_rows,
                "findings": self.findings.iter().map(|finding| json!({
                    "invariant": finding.invariant.code(),
                    "subjectType": finding.subject_type,
                    "subjectId": finding.subject_id,
                    "detail": finding.detail,
                })).collect::<Vec<_>>(),
            },
            "checks": checks.iter().map(|(check, passed)| json!({
                "check": check,
                "passed": passed,
            })).collect::<Vec<_>>(),
            "held": held,
        });
        let folder = crate::workspace_root().join("target").join("loadtest");
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("creating {}", folder.display()))?;
        let text = serde_json::to_string_pretty(&document)?;
        std::fs::write(folder.join("report.json"), &text)?;
        std::fs::write(folder.join("report.md"), &markdown)?;
        if let Some(path) = &settings.json {
            std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
        }
        println!("written to {}", folder.join("report.md").display());
        Ok(held)
    }

    fn markdown(
        &self,
        settings: &Loadtest,
        checks: &[(String, bool)],
        machine: &Value,
        at: &str,
        commit: &str,
        backend: &str,
    ) -> anyhow::Result<String> {
        let mut out = String::new();
        writeln!(
            out,
            "Load test {at}, commit {commit}, {} build on {} ({} CPUs): {backend}, {} \
             instance(s), {} clients, {:.1} s measured after a {} warm-up.\n",
            machine["profile"].as_str().unwrap_or_default(),
            machine["cpu"].as_str().unwrap_or_default(),
            machine["cpus"],
            settings.instances,
            settings.concurrency,
            self.measured.elapsed.as_secs_f64(),
            humanize(settings.warmup),
        )?;
        writeln!(out, "Mix: {}.\n", Mix::mixed().describe())?;
        writeln!(
            out,
            "| operation | requests | per second | failed | 2xx | 3xx/4xx | 5xx | no answer | \
             p50 ms | p99 ms | max ms |"
        )?;
        writeln!(
            out,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        )?;
        let seconds = self.measured.elapsed.as_secs_f64().max(1e-9);
        let total = self.measured.total()?;
        let rows = self
            .measured
            .operations
            .iter()
            .map(|(operation, stats)| (operation.name(), stats))
            .chain([("all", &total)]);
        for (name, stats) in rows {
            writeln!(
                out,
                "| {name} | {} | {:.1} | {} | {} | {} | {} | {} | {:.1} | {:.1} | {:.1} |",
                stats.requests,
                stats.requests as f64 / seconds,
                stats.failures,
                stats.success_status,
                stats.client_errors,
                stats.server_errors,
                stats.no_answer,
                stats.millis(0.5),
                stats.millis(0.99),
                stats.max_millis(),
            )?;
        }
        let warmup = self.warmup.total()?;
        writeln!(
            out,
            "\nWarm-up: {} requests, {} failed, {} 5xx.\n",
            warmup.requests, warmup.failures, warmup.server_errors
        )?;
        writeln!(
            out,
            "| instance | pid | RSS after warm-up | RSS at end | growth |"
        )?;
        writeln!(out, "|---|---:|---:|---:|---:|")?;
        for (instance, memory) in self.memory.iter().enumerate() {
            writeln!(
                out,
                "| {} | {} | {:.1} MiB | {:.1} MiB | {:+.1} % |",
                instance + 1,
                memory.pid,
                memory.after_warmup_kib as f64 / 1024.0,
                memory.at_end_kib as f64 / 1024.0,
                memory.growth() * 100.0
            )?;
        }
        writeln!(
            out,
            "\nConsistency report (run {}): {} users and organizations checked, {} finding(s).",
            self.run.id,
            self.run.processed_rows,
            self.findings.len()
        )?;
        for finding in self.findings.iter().take(20) {
            writeln!(
                out,
                "- {} {} {}: {}",
                finding.invariant.code(),
                finding.subject_type,
                finding.subject_id,
                finding.detail
            )?;
        }
        let samples: Vec<(&str, &String)> = [&self.warmup, &self.measured]
            .iter()
            .flat_map(|stats| stats.operations.iter())
            .flat_map(|(operation, stats)| {
                stats
                    .samples
                    .iter()
                    .map(move |sample| (operation.name(), sample))
            })
            .collect();
        if !samples.is_empty() {
            writeln!(out, "\nFailures (the first of each operation):")?;
            for (name, sample) in samples {
                writeln!(out, "- {name}: `{sample}`")?;
            }
        }
        writeln!(out)?;
        for (check, passed) in checks {
            writeln!(
                out,
                "- {} {check}",
                if *passed { "ok" } else { "**FAILED**" }
            )?;
        }
        Ok(out)
    }
}

fn stats_json(stats: &Stats) -> anyhow::Result<Value> {
    let seconds = stats.elapsed.as_secs_f64().max(1e-9);
    let total = stats.total()?;
    let rows = stats
        .operations
        .iter()
        .map(|(operation, stats)| (operation.name(), stats))
        .chain([("all", &total)]);
    Ok(Value::Array(
        rows.map(|(name, stats)| {
            json!({
                "operation": name,
                "requests": stats.requests,
                "per_second": stats.requests as f64 / seconds,
                "failures": stats.failures,
                "status_2xx": stats.success_status,
                "status_3xx_4xx": stats.client_errors,
                "status_5xx": stats.server_errors,
                "no_answer": stats.no_answer,
                "error_codes": stats.codes,
                "p50_ms": stats.millis(0.5),
                "p99_ms": stats.millis(0.99),
                "max_ms": stats.max_millis(),
                "samples": stats.samples,
            })
        })
        .collect(),
    ))
}

/// Runs the workload, printing a progress line every few seconds with the resident memory
/// of the servers `pids`.
pub async fn load_with_progress(
    target: &Arc<Target>,
    mix: &Mix,
    clients: usize,
    duration: Duration,
    run: u64,
    phase: &'static str,
    pids: &[u32],
) -> anyhow::Result<(Stats, Vec<String>)> {
    let live = Arc::new(Live::default());
    let progress = {
        let live = Arc::clone(&live);
        let pids = pids.to_vec();
        tokio::spawn(async move {
            let started = Instant::now();
            loop {
                tokio::time::sleep(PROGRESS_EVERY).await;
                let requests = live.requests.load(Ordering::Relaxed);
                let memory: Vec<String> = pids
                    .iter()
                    .map(|pid| {
                        resident_kib(*pid).map_or_else(
                            |_| "?".to_owned(),
                            |kib| format!("{:.0} MiB", kib as f64 / 1024.0),
                        )
                    })
                    .collect();
                eprintln!(
                    "  {phase} {:>4.0} s: {requests} operations ({:.0}/s), {} failed, {} 5xx; \
                     server memory {}",
                    started.elapsed().as_secs_f64(),
                    requests as f64 / started.elapsed().as_secs_f64().max(1e-9),
                    live.failures.load(Ordering::Relaxed),
                    live.server_errors.load(Ordering::Relaxed),
                    memory.join(", "),
                );
            }
        })
    };
    let result = workload::run(target, mix, clients, duration, run, &live).await;
    progress.abort();
    result
}

/// A process's resident memory (`VmRSS` in `/proc/PID/status`), in KiB.
pub fn resident_kib(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .with_context(|| format!("no VmRSS line in {path}"))
}

/// The commit the run was made from, marked `-dirty` when the worktree has changes.
pub fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(crate::workspace_root())
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    let Some(commit) = git(&["rev-parse", "--short", "HEAD"]) else {
        return "unknown".to_owned();
    };
    match git(&["status", "--porcelain", "--untracked-files=no"]) {
        Some(changes) if !changes.is_empty() => format!("{commit}-dirty"),
        _ => commit,
    }
}

/// Parses a duration such as `60s`, `2m`, `1m30s`, `500ms` or `1h`; a bare number is seconds.
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            bail!("`{text}` is not a duration: expected a number before `{rest}`");
        }
        let number: u64 = rest[..digits]
            .parse()
            .with_context(|| format!("`{text}`: the number is too large"))?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        total += match &rest[..unit] {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number * 60),
            "h" => Duration::from_secs(number * 3600),
            "" => bail!("`{text}`: give a unit after {number} (ms, s, m or h)"),
            other => bail!("`{text}`: unknown unit `{other}` (ms, s, m or h)"),
        };
        rest = &rest[unit..];
    }
    ensure!(!total.is_zero(), "`{text}`: the duration must not be zero");
    Ok(total)
}

/// A duration as the options take it: `60s`, `1m30s`, `500ms`.
fn humanize(duration: Duration) -> String {
    let millis = duration.as_millis();
    if !millis.is_multiple_of(1000) {
        return format!("{millis}ms");
    }
    let seconds = millis / 1000;
    match (seconds / 60, seconds % 60) {
        (0, seconds) => format!("{seconds}s"),
        (minutes, 0) => format!("{minutes}m"),
        (minutes, seconds) => format!("{minutes}m{seconds}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_their_units() {
        assert_eq!(parse_duration("60s").ok(), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("45").ok(), Some(Duration::from_secs(45)));
        assert_eq!(parse_duration("2m").ok(), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1m30s").ok(), Some(Duration::from_secs(90)));
        assert_eq!(
            parse_duration("500ms").ok(),
            Some(Duration::from_millis(500))
        );
        assert_eq!(parse_duration("1h").ok(), Some(Duration::from_secs(3600)));
    }

    #[test]
    fn durations_without_a_known_unit_are_refused() {
        for text in ["", "s", "10x", "1m30", "0s", "-5s"] {
            assert!(parse_duration(text).is_err(), "{text} was accepted");
        }
    }

    #[test]
    fn durations_print_as_they_are_given() {
        assert_eq!(humanize(Duration::from_secs(60)), "1m");
        assert_eq!(humanize(Duration::from_secs(90)), "1m30s");
        assert_eq!(humanize(Duration::from_secs(10)), "10s");
        assert_eq!(humanize(Duration::from_millis(1500)), "1500ms");
    }
}
