//! `cargo xtask bench page`: the users page a console shows, asked by an administrator of
//! an organization as it grows (by default to 10 000 and 1 000 000 members): pages of 100
//! and of 10 users with their memberships (organization, role bindings with the roles'
//! names) and groups, at 1 and 16 clients. For each: p50 and p99, the server's CPU time per
//! page (its `utime + stime` from `/proc/<pid>/stat` around a known number of pages), the
//! SQL statements of one page, and the growth of the p50 from the smallest size to the
//! largest.
//!
//! Every member is an active member of two organizations (Viewer in each, and Editor too in
//! the one listed: three role bindings) and in two of its twenty groups, seeded in bulk by
//! the same fixture as `list` and `repair`.

use std::sync::Arc;

use anyhow::{Context as _, ensure};
use serde_json::{Value, json};
use steward_domain::user::{EmailAddress, FullName, Language, UserStatus, Username};
use steward_store::bench::{
    MemberExtras, add_members_with, bench_groups, bench_organizations_owned_by,
    drop_postgres_database, new_postgres_database, refresh_statistics, role_named,
};
use steward_store::{AuditEntry, Backend, NewUser};

use super::http::{Bench, DEFAULT_COSTS, PASSWORD, graphql, hash, load_count};
use super::report::{Metric, Target};
use super::statements::statements_per_request;
use crate::import::{Scratch, run_tag};

/// The page as a console asks for it.
const PAGE: &str = "query($o: ID!, $n: Int!) { users(organization: $o, first: $n) { nodes { \
    id username memberships { organization { name } roles { role { name } } } \
    groups { name } } } }";

/// The page sizes measured: the statement counts of the two must be the same.
const PAGE_SIZES: [u64; 2] = [100, 10];
const CLIENTS: [usize; 2] = [1, 16];
/// Groups of the listed organization; each member is in [`GROUPS_EACH`] of them.
const GROUPS: usize = 20;
const GROUPS_EACH: usize = 2;

pub async fn run(
    url: &str,
    scratch: &Scratch,
    sizes: &[u64],
    quick: bool,
) -> anyhow::Result<Vec<Metric>> {
    ensure!(!sizes.is_empty(), "--page-sizes names no size");
    // On PostgreSQL, a database of its own, dropped after: a million members and their
    // rows are not left in the server the other benchmarks use.
    let (url, postgres) = if Backend::of_url(url)? == Backend::Postgres {
        let name = format!("steward_bench_page_{}", run_tag());
        let own = new_postgres_database(url, &name)
            .await
            .context("creating the benchmark's database")?;
        (own, Some((url.to_owned(), name)))
    } else {
        (url.to_owned(), None)
    };
    let result = measure(&url, scratch, sizes, quick).await;
    if let Some((server, name)) = postgres {
        drop_postgres_database(&server, &name)
            .await
            .context("dropping the benchmark's database")?;
    }
    result
}

async fn measure(
    url: &str,
    scratch: &Scratch,
    sizes: &[u64],
    quick: bool,
) -> anyhow::Result<Vec<Metric>> {
    let bench = Bench::start(url, scratch, 0, DEFAULT_COSTS).await?;
    let tag = bench.tag.clone();
    let backend = bench.backend;
    let entry = AuditEntry {
        actor: None,
        client_address: None,
        at: time::OffsetDateTime::now_utc(),
    };
    // The organizations' owner is their Administrator: USERS/VIEW and GROUPS/VIEW in both,
    // so every membership and group of a member is on the page.
    let admin = format!("b{tag}orgadmin");
    let admin_id = bench
        .store
        .create_user(
            &NewUser {
                username: Username::parse(&admin)?,
                email: EmailAddress::parse(&format!("{admin}@bench.example"))?,
                full_name: FullName::parse(&admin)?,
                status: UserStatus::Active,
                platform_role: None,
                password_hash: Some(hash(PASSWORD, DEFAULT_COSTS)?),
                must_change_password: false,
                language: Language::En,
            },
            &entry,
        )
        .await?
        .id;
    let organizations =
        bench_organizations_owned_by(&bench.store, &tag, admin_id, 2, &entry).await?;
    let listed = organizations[0].0;
    let extras = MemberExtras {
        groups: bench_groups(&bench.store, listed, GROUPS, &entry).await?,
        groups_each: GROUPS_EACH,
        second_role: Some(role_named(&bench.store, listed, "editor").await?),
    };
    let token = bench.login(&admin).await?["accessToken"]
        .as_str()
        .context("the administrator's token")?
        .to_owned();
    let organization = listed.to_string();
    let ticks_per_second = clock_ticks_per_second();

    let mut metrics = Vec::new();
    // The p50 at the smallest size, for each (clients, page size).
    let mut smallest: Vec<((usize, u64), f64)> = Vec::new();
    let mut written = 0;
    let mut sorted = sizes.to_vec();
    sorted.sort_unstable();
    for &size in &sorted {
        let started = std::time::Instant::now();
        let mut next_report = written + (size - written) / 10;
        add_members_with(
            &bench.store,
            &tag,
            &organizations,
            &extras,
            written..size,
            false,
            &entry,
            |done| {
                if done >= next_report && size - written >= 100_000 {
                    eprintln!("    seeded {done}/{size} members");
                    next_report += (size - written) / 10;
                }
            },
        )
        .await?;
        refresh_statistics(&bench.store).await?;
        written = size;
        eprintln!(
            "    {size} members seeded in {:.1} s",
            started.elapsed().as_secs_f64()
        );

        // What one page holds, checked once: a page that lost its relations would be fast.
        let body = graphql(
            &bench.client,
            &bench.base,
            Some(&token),
            PAGE,
            json!({ "o": organization, "n": 10 }),
        )
        .await?;
        let first = body["data"]["users"]["nodes"]
            .as_array()
            .and_then(|nodes| {
                nodes.iter().find(|node| {
                    node["username"]
                        .as_str()
                        .is_some_and(|name| name.starts_with(&format!("u{tag}x")))
                })
            })
            .with_context(|| format!("no seeded member on the first page: {body}"))?;
        let count = |pointer: &str| {
            first
                .pointer(pointer)
                .and_then(Value::as_array)
                .map_or(0, Vec::len)
        };
        ensure!(
            count("/memberships") == 2
                && count("/memberships/0/roles") + count("/memberships/1/roles") == 3
                && count("/groups") == GROUPS_EACH,
            "a member of the page lacks the seeded memberships, roles or groups: {first}"
        );

        let variables: Vec<Value> = PAGE_SIZES
            .iter()
            .map(|n| json!({ "o": organization, "n": n }))
            .collect();
        let counts =
            statements_per_request(url, &admin, PASSWORD, PAGE, &variables, "/data/users/nodes")
                .await?;
        for (n, count) in PAGE_SIZES.iter().zip(&counts) {
            metrics.push(
                Metric::new(
                    "page",
                    format!("SQL statements, page of {n}, {size} members"),
                    *count as f64,
                    "",
                )
                .on(backend),
            );
        }
        metrics.push(
            Metric::new(
                "page",
                format!("statements of the page of 100 − of the page of 10, {size} members"),
                counts[0] as f64 - counts[1] as f64,
                "",
            )
            .on(backend)
            .target(Target::exactly(0.0)),
        );

        let shared = Arc::new((bench.client.clone(), bench.base.clone(), token.clone()));
        for clients in CLIENTS {
            for n in PAGE_SIZES {
                let requests = match (clients, quick) {
                    (1, true) => 30,
                    (1, false) => 200,
                    (_, true) => 160,
                    (_, false) => 800,
                };
                let variables = Arc::new(json!({ "o": organization, "n": n }));
                let before = cpu_ticks(bench.server.pid())?;
                let measured = {
                    let shared = Arc::clone(&shared);
                    load_count(clients, requests, move |_| {
                        let shared = Arc::clone(&shared);
                        let variables = Arc::clone(&variables);
                        async move {
                            let body = graphql(
                                &shared.0,
                                &shared.1,
                                Some(&shared.2),
                                PAGE,
                                (*variables).clone(),
                            )
                            .await?;
                            let rows = body["data"]["users"]["nodes"]
                                .as_array()
                                .map_or(0, Vec::len);
                            ensure!(rows as u64 == n, "a page of {n} had {rows} users");
                            Ok(())
                        }
                    })
                    .await?
                };
                let cpu_ms = (cpu_ticks(bench.server.pid())? - before) as f64 * 1000.0
                    / ticks_per_second
                    / measured.requests.max(1) as f64;
                let what = format!("page of {n}, {clients} client{}", plural(clients));
                let p50 = measured.millis(0.5);
                let at_one_client = |metric: Metric, target| {
                    if clients == 1 && n == 100 {
                        metric.target(target)
                    } else {
                        metric
                    }
                };
                metrics.push(at_one_client(
                    Metric::new("page", format!("{what}, {size} members: p50"), p50, "ms")
                        .on(backend),
                    Target::at_most(5.0),
                ));
                metrics.push(
                    Metric::new(
                        "page",
                        format!("{what}, {size} members: p99"),
                        measured.millis(0.99),
                        "ms",
                    )
                    .on(backend),
                );
                let cpu = Metric::new(
                    "page",
                    format!(
                        "{what}, {size} members: server CPU per page ({} pages)",
                        measured.requests
                    ),
                    cpu_ms,
                    "ms",
                )
                .on(backend);
                metrics.push(if clients == 16 && n == 100 {
                    cpu.target(Target::at_most(3.0))
                } else {
                    cpu
                });
                match smallest.iter().find(|(key, _)| *key == (clients, n)) {
                    None => smallest.push(((clients, n), p50)),
                    Some((_, at_smallest)) if size == sorted[sorted.len() - 1] => {
                        metrics.push(at_one_client(
                            Metric::new(
                                "page",
                                format!("{what}: p50 at {size} / at {} members", sorted[0]),
                                p50 / at_smallest.max(1e-9),
                                "x",
                            )
                            .on(backend),
                            Target::at_most(1.2),
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
    }
    bench.stop().await?;
    Ok(metrics)
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// The CPU time a process has used, user and system, in clock ticks (`utime` and `stime`,
/// the 14th and 15th fields of `/proc/<pid>/stat`).
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat (Linux only)"))?;
    // The command name, in parentheses, may hold spaces: count fields after it.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("an unreadable /proc/<pid>/stat")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |index: usize| -> anyhow::Result<u64> {
        fields
            .get(index)
            .context("a short /proc/<pid>/stat")?
            .parse()
            .context("a /proc/<pid>/stat field that is not a number")
    };
    // After the name, the state is field 3: utime (14) and stime (15) are 11 and 12 on.
    Ok(field(11)? + field(12)?)
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`; 100 on Linux when it cannot be
/// asked).
fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}
