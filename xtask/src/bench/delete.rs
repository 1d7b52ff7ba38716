//! `cargo xtask bench delete`: deleting a user who owns many resources (the preflight plan,
//! then the deletion with transfer, each in one transaction), next to a small deletion in
//! the same run.

use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use steward_domain::policy::{Actor, authorize_account};
use steward_domain::user::PlatformRole;
use steward_store::bench::{DeletionFixture, deletion_fixture, owned_counts};
use steward_store::{AuditEntry, Store, StoreOptions};

use super::backend_name;
use super::report::{Metric, Target};

/// What one deletion cost.
struct Measured {
    resources: usize,
    seed: Duration,
    plan: Duration,
    delete: Duration,
}

/// Deletes a user owning `resources` resources and one owning `baseline`, on `url` (a new
/// SQLite file in `scratch` when `None`), and returns the figures.
pub async fn run(url: &str, resources: usize, baseline: usize) -> anyhow::Result<Vec<Metric>> {
    let store = Store::connect(url, &StoreOptions::default())
        .await
        .context("opening the benchmark database")?;
    store.migrate().await?;
    let backend = backend_name(store.backend());
    let tag = uuid::Uuid::now_v7().simple().to_string()[20..].to_owned();
    let result = async {
        let small = measure(&store, &format!("s{tag}"), baseline).await?;
        let large = measure(&store, &format!("l{tag}"), resources).await?;
        Ok::<_, anyhow::Error>((small, large))
    }
    .await;
    store.close().await;
    let (small, large) = result?;
    println!("delete-user on {backend}");
    println!(
        "{:>10} {:>10} {:>10} {:>10} {:>12}",
        "resources", "seed", "preflight", "delete", "per 1000"
    );
    for run in [&small, &large] {
        println!(
            "{:>10} {:>9.2}s {:>9.3}s {:>9.3}s {:>10.1}ms",
            run.resources,
            run.seed.as_secs_f64(),
            run.plan.as_secs_f64(),
            run.delete.as_secs_f64(),
            per_thousand(run.delete, run.resources),
        );
    }
    let scale = large.resources as f64 / small.resources.max(1) as f64;
    let ratio = large.delete.as_secs_f64() / small.delete.as_secs_f64().max(1e-9);
    println!(
        "{scale:.0}x the resources took {ratio:.1}x the time to delete \
         (linear would be {scale:.0}x)"
    );
    let metric =
        |name: String, value: f64, unit| Metric::new("delete", name, value, unit).on(backend);
    Ok(vec![
        metric(
            format!("preflight plan, {} resources", large.resources),
            large.plan.as_secs_f64(),
            "s",
        ),
        metric(
            format!("delete with transfer, {} resources", large.resources),
            large.delete.as_secs_f64(),
            "s",
        ),
        metric(
            format!("delete with transfer, {} resources", small.resources),
            small.delete.as_secs_f64(),
            "s",
        ),
        metric(
            format!(
                "time ratio {}/{} resources (linear: {scale:.0})",
                large.resources, small.resources
            ),
            ratio,
            "x",
        )
        .target(Target::at_most(scale)),
    ])
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
        owner,
        leaver,
        heir,
        ..
    } = deletion_fixture(store, tag, resources, &entry()).await?;
    let seed = started.elapsed();
    // The organization's owner deletes, as a SuperAdmin would: the proof is the same.
    let actor = Actor::new(owner, Some(PlatformRole::SuperAdmin), []);
    let memberships = store.standings_of_user(leaver).await?;
    let proof = authorize_account(&actor, leaver, false, &memberships)?;
    let as_owner = AuditEntry {
        actor: Some(owner),
        ..entry()
    };
    let started = Instant::now();
    let plan = store
        .deletion_plan(&proof, Some(heir), true, &as_owner)
        .await?;
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
