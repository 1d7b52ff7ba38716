//! The benchmarks that go over HTTP to a real server (the binary built next to this one, in
//! a child process): logins, authenticated queries, refresh-token rotations, and the users
//! list as an organization grows. Latencies go into HDR histograms; every compared figure
//! is a ratio of two measurements of the same run.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use argon2::{Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use steward_domain::user::{EmailAddress, FullName, Language, PlatformRole, UserStatus, Username};
use steward_store::bench::{add_members, bench_organizations};
use steward_store::{AuditEntry, NewUser, Store, StoreOptions};

use super::backend_name;
use super::report::{Metric, Target};
use crate::import::{Scratch, run_tag};
use crate::server_process::Server;

pub(super) const PASSWORD: &str = "bench password, long enough 42";

/// The server's default argon2id costs (OWASP: 19 MiB, 2 passes, 1 lane).
pub(super) const DEFAULT_COSTS: (u32, u32) = (19 * 1024, 2);
/// Keycloak's (7 MiB, 5 passes, 1 lane), for comparing with its published 15 logins/s per vCPU.
const KEYCLOAK_COSTS: (u32, u32) = (7 * 1024, 5);
/// The least costs argon2id takes (8 KiB, one pass): a login then costs what is not hashing.
const MINIMAL_COSTS: (u32, u32) = (8, 1);
/// Keycloak's published figures: logins and refresh-token rotations per second per vCPU.
const KEYCLOAK_LOGINS_PER_VCPU: f64 = 15.0;
const KEYCLOAK_REFRESHES_PER_VCPU: f64 = 120.0;

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// An argon2id hash of `password` with `costs` (memory in KiB, passes; one lane).
pub(crate) fn hash(password: &str, (memory, passes): (u32, u32)) -> anyhow::Result<String> {
    let params = Params::new(memory, passes, 1, None)
        .map_err(|error| anyhow::anyhow!("argon2id parameters: {error}"))?;
    let argon2 = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    Ok(argon2
        .hash_password(password.as_bytes())
        .map_err(|error| anyhow::anyhow!("hashing: {error}"))?
        .to_string())
}

/// A server on `url` with users `b<tag>u<n>` (password [`PASSWORD`], hashed with `costs`)
/// and a SuperAdmin `b<tag>admin`.
pub(super) struct Bench {
    pub(super) server: Server,
    pub(super) client: reqwest::Client,
    pub(super) base: String,
    pub(super) tag: String,
    pub(super) backend: &'static str,
    pub(super) store: Store,
}

impl Bench {
    pub(super) async fn start(
        url: &str,
        scratch: &Scratch,
        users: usize,
        costs: (u32, u32),
    ) -> anyhow::Result<Self> {
        let store = Store::connect(url, &StoreOptions::default())
            .await
            .context("opening the benchmark database")?;
        store.migrate().await?;
        let tag = run_tag();
        let hash = hash(PASSWORD, costs)?;
        let entry = AuditEntry {
            actor: None,
            client_address: None,
            at: time::OffsetDateTime::now_utc(),
        };
        for index in 0..=users {
            let (name, role) = if index == users {
                (format!("b{tag}admin"), Some(PlatformRole::SuperAdmin))
            } else {
                (format!("b{tag}u{index}"), None)
            };
            store
                .create_user(
                    &NewUser {
                        username: Username::parse(&name)?,
                        email: EmailAddress::parse(&format!("{name}@bench.example"))?,
                        full_name: FullName::parse(&name)?,
                        status: UserStatus::Active,
                        platform_role: role,
                        password_hash: Some(hash.clone()),
                        must_change_password: false,
                        language: Language::En,
                    },
                    &entry,
                )
                .await?;
        }
        let binary = std::env::current_exe()?
            .with_file_name("steward")
            .with_extension(std::env::consts::EXE_EXTENSION);
        ensure!(
            binary.exists(),
            "no server binary next to this one ({}): run `cargo xtask bench` without --this-build, \
             or build the server first",
            binary.display()
        );
        let args: Vec<String> = [
            "--password-hash-memory-kib",
            &costs.0.to_string(),
            "--password-hash-iterations",
            &costs.1.to_string(),
            "--admin-username",
            &format!("b{tag}first"),
            "--admin-email",
            &format!("b{tag}first@bench.example"),
            // The benchmark's own load is no attack: no per-address login limit in the way.
            "--database-max-connections",
            "20",
        ]
        .map(str::to_owned)
        .to_vec();
        let server = Server::start(
            &binary,
            url,
            &args,
            &scratch.path.join(format!("server-{tag}.log")),
        )?;
        let base = format!("http://127.0.0.1:{}", server.port);
        Ok(Bench {
            server,
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(128)
                .build()?,
            base,
            tag,
            backend: backend_name(store.backend()),
            store,
        })
    }

    fn user(&self, index: usize) -> String {
        format!("b{}u{index}", self.tag)
    }

    pub(super) async fn login(&self, login: &str) -> anyhow::Result<Value> {
        let body = graphql(
            &self.client,
            &self.base,
            None,
            "mutation($l: String!, $p: String!) { login(input: {login: $l, password: $p}) { \
             accessToken refreshToken errors { code message } } }",
            json!({ "l": login, "p": PASSWORD }),
        )
        .await?;
        let payload = body["data"]["login"].clone();
        ensure!(
            payload["accessToken"].is_string(),
            "login of {login} failed: {body}"
        );
        Ok(payload)
    }

    pub(super) async fn stop(mut self) -> anyhow::Result<()> {
        self.server.check_alive()?;
        self.store.close().await;
        Ok(())
    }
}

/// POSTs an operation; an answer with `errors` is a failure of the benchmark.
pub(super) async fn graphql(
    client: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> anyhow::Result<Value> {
    let mut request = client
        .post(format!("{base}/graphql"))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status();
    let body: Value = response.json().await?;
    if !status.is_success() || !body["errors"].is_null() {
        bail!("{status}: {body}");
    }
    Ok(body)
}

/// What a load of `clients` concurrent loops did.
pub(super) struct Load {
    pub(super) requests: u64,
    elapsed: Duration,
    latencies: Histogram<u64>,
}

impl Load {
    pub(super) fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub(super) fn millis(&self, quantile: f64) -> f64 {
        self.latencies.value_at_quantile(quantile) as f64 / 1000.0
    }
}

/// Runs `step(client_index)` in `clients` concurrent loops for `duration`, each step timed.
async fn load<F, Fut>(clients: usize, duration: Duration, step: F) -> anyhow::Result<Load>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    load_until(clients, Until::Elapsed(duration), step).await
}

/// Runs `step(client_index)` `requests` times in all, in `clients` concurrent loops, each
/// step timed: for figures divided by a known number of requests.
pub(super) async fn load_count<F, Fut>(
    clients: usize,
    requests: u64,
    step: F,
) -> anyhow::Result<Load>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    load_until(clients, Until::Done(requests), step).await
}

/// When the loops of a load stop.
#[derive(Clone, Copy)]
enum Until {
    Elapsed(Duration),
    Done(u64),
}

async fn load_until<F, Fut>(clients: usize, until: Until, step: F) -> anyhow::Result<Load>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let step = Arc::new(step);
    let started = Instant::now();
    let taken = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for client in 0..clients {
        let step = Arc::clone(&step);
        let taken = Arc::clone(&taken);
        let another = move || match until {
            Until::Elapsed(duration) => started.elapsed() < duration,
            Until::Done(requests) => taken.fetch_add(1, Ordering::Relaxed) < requests,
        };
        tasks.push(tokio::spawn(async move {
            let mut latencies = Histogram::<u64>::new(3)?;
            let mut requests = 0;
            while another() {
                let at = Instant::now();
                step(client).await?;
                latencies.record(u64::try_from(at.elapsed().as_micros()).unwrap_or(u64::MAX))?;
                requests += 1;
            }
            Ok::<_, anyhow::Error>((requests, latencies))
        }));
    }
    let mut total = Load {
        requests: 0,
        elapsed: Duration::ZERO,
        latencies: Histogram::new(3)?,
    };
    for task in tasks {
        let (requests, latencies) = task.await??;
        total.requests += requests;
        total.latencies.add(latencies)?;
    }
    total.elapsed = started.elapsed();
    Ok(total)
}

/// Logins per second through GraphQL against raw argon2id verifications with the same costs
/// and concurrency (one client per CPU), at the server's costs and at Keycloak's; and at
/// minimal costs, which leaves what a login costs besides hashing.
pub async fn login(url: &str, scratch: &Scratch, quick: bool) -> anyhow::Result<Vec<Metric>> {
    let duration = Duration::from_secs(if quick { 2 } else { 10 });
    let clients = cpus();
    let mut metrics = Vec::new();
    for (costs, what) in [
        (DEFAULT_COSTS, "19 MiB, t=2"),
        (KEYCLOAK_COSTS, "Keycloak's 7 MiB, t=5"),
        (MINIMAL_COSTS, "8 KiB, t=1"),
    ] {
        // Twice as many users as clients: the second load below runs two clients a CPU.
        let bench = Arc::new(Bench::start(url, scratch, 2 * clients, costs).await?);
        let logins = {
            let bench = Arc::clone(&bench);
            load(clients, duration, move |client| {
                let bench = Arc::clone(&bench);
                async move { bench.login(&bench.user(client)).await.map(|_| ()) }
            })
            .await?
        };
        let raw = raw_verifications(clients, duration, costs).await?;
        let backend = bench.backend;
        let ratio = logins.per_second() / raw.max(1e-9);
        let per_vcpu = logins.per_second() / clients as f64;
        metrics.push(
            Metric::new(
                "login",
                format!("logins/s through GraphQL ({what}, {clients} clients)"),
                logins.per_second(),
                "/s",
            )
            .on(backend),
        );
        metrics.push(
            Metric::new(
                "login",
                format!("raw argon2id verifications/s ({what}, {clients} threads)"),
                raw,
                "/s",
            )
            .on(backend),
        );
        metrics.push(
            Metric::new(
                "login",
                format!("logins/s per vCPU ({what})"),
                per_vcpu,
                "/s",
            )
            .on(backend),
        );
        if costs == DEFAULT_COSTS {
            // The same logins with two clients a CPU: when it comes near the raw rate, what
            // one client a CPU loses is time the server waits (I/O, the round trip), not CPU.
            let doubled = {
                let bench = Arc::clone(&bench);
                load(2 * clients, duration, move |client| {
                    let bench = Arc::clone(&bench);
                    async move { bench.login(&bench.user(client)).await.map(|_| ()) }
                })
                .await?
            };
            metrics.push(
                Metric::new(
                    "login",
                    format!("login with two clients a CPU / raw verification ({what})"),
                    doubled.per_second() / raw.max(1e-9),
                    "x",
                )
                .on(backend),
            );
            metrics.push(
                Metric::new(
                    "login",
                    format!("login / raw verification ({what})"),
                    ratio,
                    "x",
                )
                .on(backend)
                .target(Target::at_least(0.95)),
            );
            metrics.push(
                Metric::new(
                    "login",
                    format!("login p99 ({what})"),
                    logins.millis(0.99),
                    "ms",
                )
                .on(backend),
            );
        } else if costs == MINIMAL_COSTS {
            // With hashing next to free, what a login costs besides it: CPU time per login
            // (the clients keep every CPU busy), for explaining the ratios above.
            metrics.push(
                Metric::new(
                    "login",
                    "CPU time of a login besides hashing (8 KiB, t=1)",
                    clients as f64 * 1000.0 / logins.per_second().max(1e-9),
                    "ms",
                )
                .on(backend),
            );
        } else {
            metrics.push(
                Metric::new(
                    "login",
                    format!("login / raw verification ({what})"),
                    ratio,
                    "x",
                )
                .on(backend),
            );
            metrics.push(
                Metric::new(
                    "login",
                    "logins/s per vCPU / Keycloak's 15 (its parameters)",
                    per_vcpu / KEYCLOAK_LOGINS_PER_VCPU,
                    "x",
                )
                .on(backend),
            );
        }
        match Arc::try_unwrap(bench) {
            Ok(bench) => bench.stop().await?,
            Err(_) => bail!("the login clients still hold the server"),
        }
    }
    Ok(metrics)
}

/// argon2id verifications per second on `threads` blocking threads.
async fn raw_verifications(
    threads: usize,
    duration: Duration,
    costs: (u32, u32),
) -> anyhow::Result<f64> {
    let stored = hash(PASSWORD, costs)?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..threads {
        let stored = stored.clone();
        tasks.push(tokio::task::spawn_blocking(move || {
            let hash = PasswordHash::new(&stored).map_err(|error| anyhow::anyhow!("{error}"))?;
            let mut done = 0u64;
            while started.elapsed() < duration {
                Argon2::default()
                    .verify_password(PASSWORD.as_bytes(), &hash)
                    .map_err(|error| anyhow::anyhow!("verification failed: {error}"))?;
                done += 1;
            }
            Ok::<_, anyhow::Error>(done)
        }));
    }
    let mut done = 0;
    for task in tasks {
        done += task.await??;
    }
    Ok(done as f64 / started.elapsed().as_secs_f64().max(1e-9))
}

/// `me` with an access token and with an API key, against `{ __typename }`, at 1, 16 and 64
/// clients: requests per second and latency quantiles.
pub async fn query(url: &str, scratch: &Scratch, quick: bool) -> anyhow::Result<Vec<Metric>> {
    let duration = Duration::from_secs(if quick { 1 } else { 5 });
    let bench = Bench::start(url, scratch, 1, DEFAULT_COSTS).await?;
    let token = bench.login(&bench.user(0)).await?["accessToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let key = graphql(
        &bench.client,
        &bench.base,
        Some(&token),
        "mutation { createApiKey(input: {name: \"bench\"}) { token errors { message } } }",
        json!({}),
    )
    .await?["data"]["createApiKey"]["token"]
        .as_str()
        .context("an API key")?
        .to_owned();
    let backend = bench.backend;
    let shared = Arc::new((bench.client.clone(), bench.base.clone()));
    let mut metrics = Vec::new();
    for clients in [1, 16, 64] {
        let mut rates = Vec::new();
        for (what, credential, query) in [
            ("trivial query", None, "{ __typename }"),
            (
                "me, access token",
                Some(token.clone()),
                "{ me { id username } }",
            ),
            ("me, API key", Some(key.clone()), "{ me { id username } }"),
        ] {
            let shared = Arc::clone(&shared);
            let credential = Arc::new(credential);
            let measured = load(clients, duration, move |_| {
                let shared = Arc::clone(&shared);
                let credential = Arc::clone(&credential);
                async move {
                    graphql(
                        &shared.0,
                        &shared.1,
                        credential.as_deref(),
                        query,
                        json!({}),
                    )
                    .await
                    .map(|_| ())
                }
            })
            .await?;
            let metric =
                |name: String, value, unit| Metric::new("query", name, value, unit).on(backend);
            metrics.push(metric(
                format!("{what}, {clients} clients: requests/s"),
                measured.per_second(),
                "/s",
            ));
            metrics.push(metric(
                format!("{what}, {clients} clients: p50"),
                measured.millis(0.5),
                "ms",
            ));
            metrics.push(metric(
                format!("{what}, {clients} clients: p99"),
                measured.millis(0.99),
                "ms",
            ));
            rates.push(measured.per_second());
        }
        for (index, what) in [(1, "access token"), (2, "API key")] {
            let metric = Metric::new(
                "query",
                format!("me ({what}) / trivial, {clients} clients (requests/s)"),
                rates[index] / rates[0].max(1e-9),
                "x",
            )
            .on(backend);
            // Issue 21's target: `me` with a Bearer token at no less than 0.3 of the
            // throughput of a query that reads nothing, one client at a time.
            metrics.push(if clients == 1 && index == 1 {
                metric.target(Target::at_least(0.3))
            } else {
                metric
            });
        }
    }
    bench.stop().await?;
    Ok(metrics)
}

/// Refresh-token rotations per second, one client per CPU, each rotating its own session.
pub async fn refresh(url: &str, scratch: &Scratch, quick: bool) -> anyhow::Result<Vec<Metric>> {
    let duration = Duration::from_secs(if quick { 2 } else { 10 });
    let clients = cpus();
    let bench = Bench::start(url, scratch, clients, DEFAULT_COSTS).await?;
    let mut tokens = Vec::new();
    for client in 0..clients {
        let login = bench.login(&bench.user(client)).await?;
        tokens.push(tokio::sync::Mutex::new(
            login["refreshToken"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ));
    }
    let shared = Arc::new((bench.client.clone(), bench.base.clone(), tokens));
    let measured = {
        let shared = Arc::clone(&shared);
        load(clients, duration, move |client| {
            let shared = Arc::clone(&shared);
            async move {
                let mut token = shared.2[client].lock().await;
                let body = graphql(
                    &shared.0,
                    &shared.1,
                    None,
                    "mutation($t: String!) { refreshSession(refreshToken: $t) { refreshToken errors { code message } } }",
                    json!({ "t": *token }),
                )
                .await?;
                let next = body["data"]["refreshSession"]["refreshToken"]
                    .as_str()
                    .with_context(|| format!("a rotation failed: {body}"))?;
                *token = next.to_owned();
                Ok(())
            }
        })
        .await?
    };
    let backend = bench.backend;
    bench.stop().await?;
    let per_vcpu = measured.per_second() / clients as f64;
    Ok(vec![
        Metric::new(
            "refresh",
            format!("rotations/s ({clients} clients)"),
            measured.per_second(),
            "/s",
        )
        .on(backend),
        Metric::new("refresh", "rotations p99", measured.millis(0.99), "ms").on(backend),
        Metric::new(
            "refresh",
            "rotations/s per vCPU / Keycloak's sizing anchor 120",
            per_vcpu / KEYCLOAK_REFRESHES_PER_VCPU,
            "x",
        )
        .on(backend),
    ])
}

/// The users list of an organization as it grows to each of `sizes`: the first page and a
/// page from the middle (keyset) with roles and groups, and searches by e-mail prefix and by
/// the start of the name; p50 and p99 of sequential requests, and the growth of the p50
/// from the smallest size to the largest.
pub async fn list(
    url: &str,
    scratch: &Scratch,
    sizes: &[u64],
    quick: bool,
) -> anyhow::Result<Vec<Metric>> {
    let requests = if quick { 20 } else { 100 };
    let bench = Bench::start(url, scratch, 0, DEFAULT_COSTS).await?;
    let admin = format!("b{}admin", bench.tag);
    let token = bench.login(&admin).await?["accessToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let entry = AuditEntry {
        actor: None,
        client_address: None,
        at: time::OffsetDateTime::now_utc(),
    };
    let organizations = bench_organizations(&bench.store, &bench.tag, 1, &entry).await?;
    let organization = organizations[0].0.to_string();
    let tag = bench.tag.clone();
    let backend = bench.backend;
    let fields = "nodes { id username email memberships { status defaultRole { name } } groups { name } } \
                  pageInfo { hasNextPage endCursor }";
    let mut metrics = Vec::new();
    let mut first_p50: Vec<(String, f64)> = Vec::new();
    let mut written = 0;
    for &size in sizes {
        let started = Instant::now();
        add_members(
            &bench.store,
            &tag,
            &organizations,
            written..size,
            false,
            &entry,
            |_| {},
        )
        .await?;
        written = size;
        eprintln!(
            "    {size} members seeded in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let middle = size / 2;
        let cursor = graphql(
            &bench.client,
            &bench.base,
            Some(&token),
            "query($o: ID!, $s: String!) { users(organization: $o, filter: {search: $s}, \
             orderBy: {field: USERNAME}, first: 1) { edges { cursor } } }",
            json!({ "o": organization, "s": format!("u{tag}x{middle}") }),
        )
        .await?["data"]["users"]["edges"][0]["cursor"]
            .as_str()
            .context("a cursor from the middle of the list")?
            .to_owned();
        let cases = [
            (
                "first page",
                json!({ "o": organization }),
                format!(
                    "query($o: ID!) {{ users(organization: $o, orderBy: {{field: USERNAME}}, first: 50) {{ {fields} }} }}"
                ),
            ),
            (
                "page from the middle",
                json!({ "o": organization, "a": cursor }),
                format!(
                    "query($o: ID!, $a: String!) {{ users(organization: $o, orderBy: {{field: USERNAME}}, first: 50, after: $a) {{ {fields} }} }}"
                ),
            ),
            (
                "search by e-mail prefix",
                json!({ "o": organization, "s": format!("u{tag}x{}", size / 3) }),
                format!(
                    "query($o: ID!, $s: String!) {{ users(organization: $o, filter: {{search: $s}}, first: 50) {{ {fields} }} }}"
                ),
            ),
            (
                "search by name",
                json!({ "o": organization, "s": format!("Bench User {}", size / 7) }),
                format!(
                    "query($o: ID!, $s: String!) {{ users(organization: $o, filter: {{search: $s}}, first: 50) {{ {fields} }} }}"
                ),
            ),
        ];
        for (what, variables, query) in cases {
            let mut latencies = Histogram::<u64>::new(3)?;
            for _ in 0..requests {
                let at = Instant::now();
                let body = graphql(
                    &bench.client,
                    &bench.base,
                    Some(&token),
                    &query,
                    variables.clone(),
                )
                .await?;
                latencies.record(u64::try_from(at.elapsed().as_micros()).unwrap_or(u64::MAX))?;
                ensure!(
                    body["data"]["users"]["nodes"]
                        .as_array()
                        .is_some_and(|nodes| !nodes.is_empty()),
                    "{what} found nobody: {body}"
                );
            }
            let p50 = latencies.value_at_quantile(0.5) as f64 / 1000.0;
            metrics.push(
                Metric::new("list", format!("{what}, {size} members: p50"), p50, "ms").on(backend),
            );
            metrics.push(
                Metric::new(
                    "list",
                    format!("{what}, {size} members: p99"),
                    latencies.value_at_quantile(0.99) as f64 / 1000.0,
                    "ms",
                )
                .on(backend),
            );
            match first_p50.iter().find(|(name, _)| name == what) {
                None => first_p50.push((what.to_owned(), p50)),
                Some((_, smallest)) if size == *sizes.last().unwrap_or(&size) => {
                    metrics.push(
                        Metric::new(
                            "list",
                            format!("{what}: p50 at {size} / at {}", sizes[0]),
                            p50 / smallest.max(1e-9),
                            "x",
                        )
                        .on(backend)
                        .target(Target::at_most(1.5)),
                    );
                }
                Some(_) => {}
            }
        }
    }
    bench.stop().await?;
    Ok(metrics)
}
