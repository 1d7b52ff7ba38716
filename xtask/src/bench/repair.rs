//! `cargo xtask bench repair`: consistency runs over a generated population (by default a
//! million users with ten memberships and grants each), worked in this process by the
//! server's own job worker. A report, then a repair of the violations the fixture planted,
//! then a report that must find nothing; with the rate of the first and last tenth of the
//! walk and the peak memory, which must not grow with the number of users.

use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use steward_domain::consistency::RunScope;
use steward_domain::job::JobStatus;
use steward_server::app::App;
use steward_store::bench::{
    FIXTURE_ORGANIZATIONS, consistency_fixture, drop_postgres_database, new_postgres_database,
};
use steward_store::{AuditEntry, Backend, JobRecord};

use super::backend_name;
use super::import::{Sample, tenths};
use super::report::Metric;
use crate::import::{peak_memory_mib, run_tag, serve_config, start_app, work_until_ended};

/// Seeds `users` users on `url` (on PostgreSQL, in a database of its own unless
/// `seed_only`), runs a report, a repair and a report again, and returns the figures.
pub async fn run(url: &str, users: u64, seed_only: bool) -> anyhow::Result<Vec<Metric>> {
    RepairBench {
        users,
        database_url: url.to_owned(),
        seed_only,
    }
    .run()
    .await
}

struct RepairBench {
    users: u64,
    database_url: String,
    seed_only: bool,
}

/// One run's measurements.
struct Measured {
    job: JobRecord,
    time: Duration,
    first_tenth: f64,
    last_tenth: f64,
}

impl RepairBench {
    async fn run(self) -> anyhow::Result<Vec<Metric>> {
        ensure!(
            self.users >= 10,
            "--users must be at least 10 (one per tenth)"
        );
        let tag = run_tag();
        let given = &self.database_url;
        let (url, postgres) = if !self.seed_only && Backend::of_url(given)? == Backend::Postgres {
            let name = format!("steward_bench_{tag}");
            let url = new_postgres_database(given, &name)
                .await
                .context("creating the benchmark's database")?;
            (url, Some((given.clone(), name)))
        } else {
            (given.clone(), None)
        };
        let config = serve_config(&url, &["--job-poll-ms", "50"])?;
        let result = async {
            let app = start_app(&config).await?;
            let result = self.measure(&app, &tag).await;
            app.store.close().await;
            result
        }
        .await;
        if let Some((server, name)) = postgres {
            drop_postgres_database(&server, &name)
                .await
                .context("dropping the benchmark's database")?;
        }
        result
    }

    async fn measure(&self, app: &App, tag: &str) -> anyhow::Result<Vec<Metric>> {
        let store = &app.store;
        let entry = AuditEntry {
            actor: None,
            client_address: None,
            at: time::OffsetDateTime::now_utc(),
        };
        let started = Instant::now();
        let mut next_report = self.users / 10;
        let fixture = consistency_fixture(store, tag, self.users, &entry, |written| {
            if written >= next_report {
                eprintln!("  seeded {written}/{} users", self.users);
                next_report += self.users / 10;
            }
        })
        .await?;
        let seed_time = started.elapsed();
        let memory_seeded = peak_memory_mib();
        if self.seed_only {
            println!(
                "seeded {} users in {:.1} s with {} planted findings",
                self.users,
                seed_time.as_secs_f64(),
                fixture.expected_findings
            );
            return Ok(Vec::new());
        }

        let report = self.measure_run(app, false).await?;
        let memory_reported = peak_memory_mib();
        ensure!(
            report.job.findings == fixture.expected_findings as i64,
            "the report found {} findings; the fixture planted {}",
            report.job.findings,
            fixture.expected_findings
        );
        let repair = self.measure_run(app, true).await?;
        let memory_repaired = peak_memory_mib();
        let unresolved = store.unresolved_findings(repair.job.id).await?;
        ensure!(
            repair.job.findings == fixture.expected_findings as i64 && unresolved == 0,
            "the repair found {} findings of {} and left {unresolved} unresolved",
            repair.job.findings,
            fixture.expected_findings
        );
        let after = self.measure_run(app, false).await?;
        ensure!(
            after.job.findings == 0,
            "a report after the repair still found {} findings",
            after.job.findings
        );

        let users = self.users as f64;
        let rate = |time: Duration| users / time.as_secs_f64().max(1e-9);
        println!(
            "bench repair on {:?}: {} users, {} memberships and {} role bindings ({} a user), \
             {} users a chunk",
            store.backend(),
            self.users,
            self.users * FIXTURE_ORGANIZATIONS as u64,
            self.users * FIXTURE_ORGANIZATIONS as u64,
            2 * FIXTURE_ORGANIZATIONS,
            app.settings.jobs.consistency_chunk
        );
        println!(
            "  seed             {:>8.2} s  {:>8.0} users/s",
            seed_time.as_secs_f64(),
            rate(seed_time)
        );
        for (name, run) in [
            ("report", &report),
            ("repair", &repair),
            ("report again", &after),
        ] {
            println!(
                "  {name:<16} {:>8.2} s  {:>8.0} users/s  first tenth {:>8.0}, last tenth {:>8.0} \
                 (last/first {:.2}); {} findings, {} repaired",
                run.time.as_secs_f64(),
                rate(run.time),
                run.first_tenth,
                run.last_tenth,
                run.last_tenth / run.first_tenth.max(1e-9),
                run.job.findings,
                run.job.repaired
            );
        }
        let mib = |value: Option<f64>| value.map_or_else(|| "?".to_owned(), |v| format!("{v:.1}"));
        println!(
            "  peak memory (VmHWM, MiB): {} after seeding, {} after the report, {} after the \
             repair, {} at the end",
            mib(memory_seeded),
            mib(memory_reported),
            mib(memory_repaired),
            mib(peak_memory_mib())
        );
        let backend = backend_name(store.backend());
        let metric =
            |name: String, value: f64, unit| Metric::new("repair", name, value, unit).on(backend);
        let mut metrics = Vec::new();
        for (name, run) in [("report", &report), ("repair", &repair)] {
            metrics.push(metric(
                format!(
                    "{name} of {} users (10 memberships and grants each)",
                    self.users
                ),
                run.time.as_secs_f64(),
                "s",
            ));
            metrics.push(metric(
                format!("{name}: users/s last/first tenth"),
                run.last_tenth / run.first_tenth.max(1e-9),
                "x",
            ));
        }
        if let Some(peak) = peak_memory_mib() {
            metrics.push(metric(
                format!("peak memory (VmHWM), {} users", self.users),
                peak,
                "MiB",
            ));
        }
        if let (Some(seeded), Some(peak)) = (memory_seeded, peak_memory_mib()) {
            metrics.push(metric(
                "memory growth over the runs".to_owned(),
                peak - seeded,
                "MiB",
            ));
        }
        Ok(metrics)
    }

    /// A run over everything, worked to its end.
    async fn measure_run(&self, app: &App, repair: bool) -> anyhow::Result<Measured> {
        let entry = AuditEntry {
            actor: None,
            client_address: None,
            at: time::OffsetDateTime::now_utc(),
        };
        let started = Instant::now();
        let job = app
            .store
            .start_consistency_run(RunScope::All, repair, &entry)
            .await?;
        let mut samples: Vec<Sample> = vec![(Duration::ZERO, 0)];
        let job = work_until_ended(app, job.id, Duration::from_millis(50), |job| {
            samples.push((started.elapsed(), job.processed_rows));
        })
        .await?;
        let time = started.elapsed();
        ensure!(
            job.status == JobStatus::Succeeded,
            "the run ended {}: {}",
            job.status.code(),
            job.error.as_deref().unwrap_or("no reason recorded")
        );
        let (first_tenth, last_tenth) = tenths(&samples, job.total_rows);
        Ok(Measured {
            job,
            time,
            first_tenth,
            last_tenth,
        })
    }
}
