//! `cargo xtask bench`: measures operations with performance targets on a real database,
//! and reports times and ratios measured in one run (these machines are shared and noisy,
//! so a ratio says more than an absolute time).

mod import;
mod repair;

use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use steward_domain::policy::{Actor, authorize_account};
use steward_domain::user::PlatformRole;
use steward_store::bench::{DeletionFixture, deletion_fixture, owned_counts};
use steward_store::{AuditEntry, Store, StoreOptions};

#[derive(clap::Args, Debug)]
pub struct Bench {
    #[command(subcommand)]
    which: Which,
}

#[derive(clap::Subcommand, Debug)]
enum Which {
    /// Deleting a user who owns many resources: the preflight plan, then the deletion with
    /// transfer, each in one transaction. Compared with a small deletion in the same run.
    DeleteUser(DeleteUser),
    /// A bulk user import of a generated file: staging, then the import by the job worker,
    /// with the rate of its first and last tenth and the peak memory.
    Import(import::ImportBench),
    /// Consistency runs over a generated population: a report, a repair of the planted
    /// violations, and a report that must find nothing; times, rates and peak memory.
    Repair(repair::RepairBench),
}

#[derive(clap::Args, Debug)]
struct DeleteUser {
    /// How many resources the deleted user owns.
    #[arg(long, default_value_t = 100_000)]
    resources: usize,
    /// The small deletion the large one is compared with.
    #[arg(long, default_value_t = 1_000)]
    baseline: usize,
    /// The database to measure on; default: a new SQLite file in the system's temporary
    /// folder, removed afterwards. Give a PostgreSQL URL (`cargo xtask pg start` prints
    /// one) to measure PostgreSQL: the benchmark adds its own organizations and users.
    #[arg(long, env = "STEWARD_BENCH_DATABASE_URL")]
    database_url: Option<String>,
}

impl Bench {
    pub fn run(self) -> anyhow::Result<()> {
        match self.which {
            Which::DeleteUser(command) => crate::runtime()?.block_on(command.run()),
            Which::Import(command) => crate::runtime()?.block_on(command.run()),
            Which::Repair(command) => crate::runtime()?.block_on(command.run()),
        }
    }
}

/// What one deletion cost.
struct Measured {
    resources: usize,
    seed: Duration,
    plan: Duration,
    delete: Duration,
}

impl DeleteUser {
    async fn run(self) -> anyhow::Result<()> {
        let temporary = std::env::temp_dir().join(format!(
            "steward-bench-{}.db",
            uuid::Uuid::now_v7().simple()
        ));
        let url = self
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", temporary.display()));
        let store = Store::connect(&url, &StoreOptions::default())
            .await
            .context("opening the benchmark database")?;
        store.migrate().await?;
        let store_backend = store.backend();
        let tag = uuid::Uuid::now_v7().simple().to_string()[20..].to_owned();
        let result = async {
            let baseline = measure(&store, &format!("s{tag}"), self.baseline).await?;
            let large = measure(&store, &format!("l{tag}"), self.resources).await?;
            Ok::<_, anyhow::Error>((baseline, large))
        }
        .await;
        store.close().await;
        if self.database_url.is_none() {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", temporary.display()));
            }
        }
        let (baseline, large) = result?;
        println!("delete-user on {:?}", store_backend);
        println!(
            "{:>10} {:>10} {:>10} {:>10} {:>12}",
            "resources", "seed", "preflight", "delete", "per 1000"
        );
        for run in [&baseline, &large] {
            println!(
                "{:>10} {:>9.2}s {:>9.3}s {:>9.3}s {:>10.1}ms",
                run.resources,
                run.seed.as_secs_f64(),
                run.plan.as_secs_f64(),
                run.delete.as_secs_f64(),
                per_thousand(run.delete, run.resources),
            );
        }
        let scale = large.resources as f64 / baseline.resources.max(1) as f64;
        let ratio = large.delete.as_secs_f64() / baseline.delete.as_secs_f64().max(1e-9);
        println!(
            "{scale:.0}x the resources took {ratio:.1}x the time to delete \
             (linear would be {scale:.0}x)"
        );
        Ok(())
    }
}

fn per_thousand(time: Duration, resources: usize) -> f64 {
    time.as_secs_f64() * 1000.0 * 1000.0 / resources.max(1) as f64
}

/// Seeds a fixture with `resources` resources, then times the preflight and the deletion
/// with transfer, and checks that everything moved.
async fn measure(store: &Store, tag: &str, resources: usize) -> anyhow::Result<Measured> {
    let entry = || AuditEntry {
        actor: None,
        client_address: None,
        at: time::OffsetDateTime::now_utc(),
    };
    let started = Instant::now();
    let DeletionFixture {
        organization,
        owner,
        leaver,
        heir,
    } = deletion_fixture(store, tag, resources, &entry()).await?;
    let seed = started.elapsed();
    // The organization's owner deletes, as a SuperAdmin would: the proof is the same.
    let actor = Actor::new(owner, Some(PlatformRole::SuperAdmin), []);
    let proof = authorize_account(&actor, leaver, false, &[organization])?;
    let as_owner = AuditEntry {
        actor: Some(owner),
        ..entry()
    };
    let started = Instant::now();
    let plan = store.deletion_plan(&proof, Some(heir), &as_owner).await?;
    let plan_time = started.elapsed();
    ensure!(plan.refusals.is_empty(), "refused: {:?}", plan.refusals);
    let started = Instant::now();
    let outcome = store
        .delete_user(&proof, Some(heir), true, Some(&plan.revision), &as_owner)
        .await?;
    let delete = started.elapsed();
    let (owned, disabled) = owned_counts(store, heir).await?;
    ensure!(
        owned == resources as i64 && outcome.transfers.len() == 1,
        "the heir owns {owned} of {resources} resources"
    );
    ensure!(
        disabled == (resources / 10) as i64,
        "{disabled} schedules disabled, expected {}",
        resources / 10
    );
    Ok(Measured {
        resources,
        seed,
        plan: plan_time,
        delete,
    })
}
