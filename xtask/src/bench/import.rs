//! `cargo xtask bench import`: a bulk import of a generated file, staged and worked in this
//! process by the server's own code. What matters is that the rate holds as the tables grow
//! (the last tenth of the rows against the first) and that memory stays flat whatever the
//! size of the file.

use std::fs::File;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use steward_domain::job::JobStatus;
use steward_store::NewUserImport;

use super::backend_name;
use super::report::Metric;
use crate::import::{
    Scratch, import_organization, peak_memory_mib, run_tag, serve_config, stage, start_app,
    work_until_ended, write_import_file,
};

/// When the job had processed how many rows, from the start of the import.
pub(super) type Sample = (Duration, i64);

/// Imports a generated file of `rows` users into a new organization on `url`, and returns
/// the figures.
pub async fn run(
    url: &str,
    scratch: &Scratch,
    rows: u64,
    invitations: bool,
) -> anyhow::Result<Vec<Metric>> {
    ensure!(rows >= 10, "--rows must be at least 10 (one per tenth)");
    // Polled often, so that a worker that finishes a job finds the next at once.
    let config = serve_config(url, &["--job-poll-ms", "50"])?;
    let app = start_app(&config).await?;
    let result = ImportBench { rows, invitations }
        .measure(&app, scratch)
        .await;
    app.store.close().await;
    result
}

struct ImportBench {
    rows: u64,
    invitations: bool,
}

impl ImportBench {
    async fn measure(
        &self,
        app: &steward_server::app::App,
        scratch: &Scratch,
    ) -> anyhow::Result<Vec<Metric>> {
        let store = &app.store;
        let tag = run_tag();
        let (organization, admin) = import_organization(store, &tag).await?;
        let file = scratch.path.join("users.csv");
        let started = Instant::now();
        write_import_file(&file, &format!("b{tag}x"), self.rows)?;
        let write_time = started.elapsed();
        let file_size = std::fs::metadata(&file)?.len();
        let memory_written = peak_memory_mib();

        let import = NewUserImport {
            organization,
            initiator: Some(admin),
            dry_run: false,
            send_invitations: self.invitations,
            file_name: Some("users.csv".to_owned()),
        };
        let started = Instant::now();
        let source = File::open(&file).context("opening the generated file")?;
        let job = stage(store, &import, source).await?;
        let stage_time = started.elapsed();
        let memory_staged = peak_memory_mib();
        ensure!(
            job.total_rows == self.rows as i64,
            "staged {} rows of {}",
            job.total_rows,
            self.rows
        );

        let started = Instant::now();
        let mut samples: Vec<Sample> = vec![(Duration::ZERO, 0)];
        let ended = work_until_ended(app, job.id, Duration::from_millis(50), |job| {
            samples.push((started.elapsed(), job.processed_rows));
        })
        .await?;
        let import_time = started.elapsed();
        let memory_imported = peak_memory_mib();
        ensure!(
            ended.status == JobStatus::Succeeded,
            "the import ended {}: {}",
            ended.status.code(),
            ended.error.as_deref().unwrap_or("no reason recorded")
        );
        ensure!(
            ended.created_rows == self.rows as i64,
            "the import created {} users of {} ({} skipped, {} failed)",
            ended.created_rows,
            self.rows,
            ended.skipped_rows,
            ended.failed_rows
        );

        let rows = self.rows as f64;
        let rate = |rows: f64, time: Duration| rows / time.as_secs_f64().max(1e-9);
        let (first, last) = tenths(&samples, self.rows as i64);
        println!(
            "bench import on {:?}: {} rows, invitations {}, {} rows a batch",
            store.backend(),
            self.rows,
            if self.invitations { "on" } else { "off" },
            app.settings.jobs.import_batch_rows
        );
        println!(
            "  write the file   {:>8.2} s  ({:.1} MiB)",
            write_time.as_secs_f64(),
            file_size as f64 / (1024.0 * 1024.0)
        );
        println!(
            "  stage            {:>8.2} s  {:>8.0} rows/s",
            stage_time.as_secs_f64(),
            rate(rows, stage_time)
        );
        println!(
            "  import           {:>8.2} s  {:>8.0} rows/s",
            import_time.as_secs_f64(),
            rate(rows, import_time)
        );
        println!(
            "  overall          {:>8.2} s  {:>8.0} rows/s (staging and import)",
            (stage_time + import_time).as_secs_f64(),
            rate(rows, stage_time + import_time)
        );
        println!("  first tenth                {first:>8.0} rows/s");
        println!("  last tenth                 {last:>8.0} rows/s");
        println!(
            "  last/first       {:>8.2}    (1.00: as fast at the end as at the start)",
            last / first.max(1e-9)
        );
        let mib = |value: Option<f64>| value.map_or_else(|| "?".to_owned(), |v| format!("{v:.1}"));
        println!(
            "  peak memory (VmHWM, MiB): {} after writing the file, {} after staging, {} after \
             the import",
            mib(memory_written),
            mib(memory_staged),
            mib(memory_imported)
        );
        let backend = backend_name(store.backend());
        let what = format!(
            "{} rows{}",
            self.rows,
            if self.invitations {
                ", invitations"
            } else {
                ""
            }
        );
        let metric =
            |name: String, value: f64, unit| Metric::new("import", name, value, unit).on(backend);
        let mut metrics = vec![
            metric(
                format!("rows/s, {what} (staging and import)"),
                rate(rows, stage_time + import_time),
                "rows/s",
            ),
            metric(
                format!("rate last/first tenth, {what}"),
                last / first.max(1e-9),
                "x",
            ),
        ];
        if let Some(peak) = memory_imported {
            metrics.push(metric(format!("peak memory (VmHWM), {what}"), peak, "MiB"));
        }
        Ok(metrics)
    }
}

/// The import's rate over the first tenth of the rows and over the last tenth, from samples
/// of the job's progress: from the start to the first sample past a tenth, and from the last
/// sample before nine tenths to the end.
pub(super) fn tenths(samples: &[Sample], total: i64) -> (f64, f64) {
    let tenth = total / 10;
    let rate = |(from_time, from_rows): Sample, (to_time, to_rows): Sample| {
        (to_rows - from_rows) as f64 / (to_time - from_time).as_secs_f64().max(1e-9)
    };
    let start = samples.first().copied().unwrap_or_default();
    let end = samples.last().copied().unwrap_or_default();
    let past_first = samples
        .iter()
        .copied()
        .find(|(_, rows)| *rows >= tenth)
        .unwrap_or(end);
    let before_last = samples
        .iter()
        .copied()
        .rev()
        .find(|(_, rows)| *rows <= total - tenth)
        .unwrap_or(start);
    (rate(start, past_first), rate(before_last, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tenths_are_measured_from_the_samples_around_them() {
        let at = |seconds: u64, rows| (Duration::from_secs(seconds), rows);
        let samples = [
            at(0, 0),
            at(1, 50),
            at(2, 150),
            at(10, 850),
            at(11, 950),
            at(13, 1000),
        ];
        let (first, last) = tenths(&samples, 1000);
        assert!((first - 75.0).abs() < 1e-9, "{first}");
        assert!((last - 50.0).abs() < 1e-9, "{last}");
    }
}
