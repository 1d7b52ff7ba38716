//! The N+1 guard: how many SQL statements one users page costs, with every related field a
//! console shows (memberships with their roles, groups), at page sizes 10 and 100. The
//! server runs in this process, so that a tracing layer can count sqlx's statement events;
//! a constant count means related data is loaded per page, not per row.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context as _, ensure};
use serde_json::{Value, json};
use steward_domain::user::{EmailAddress, FullName, Language, PlatformRole, UserStatus, Username};
use steward_store::bench::{add_members, bench_organizations};
use steward_store::{AuditEntry, NewUser, Store, StoreOptions};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::{Layer, Registry};

use super::backend_name;
use super::report::{Metric, Target};
use crate::import::{run_tag, serve_config, throwaway_secret_key};

/// Counts sqlx's per-statement events (target `sqlx::query`).
struct StatementCounter(Arc<AtomicU64>);

impl<S: Subscriber> Layer<S> for StatementCounter {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

const PAGE: &str = "query($o: ID!, $n: Int!) { users(organization: $o, first: $n) { nodes { \
    id username memberships { status defaultRole { name } roles { role { name } } \
    organization { name } } groups { name } } } }";

pub async fn run(url: &str) -> anyhow::Result<Vec<Metric>> {
    let statements = Arc::new(AtomicU64::new(0));
    let subscriber = Registry::default().with(StatementCounter(Arc::clone(&statements)));
    // This process's only subscriber: the server under measurement logs nothing else here.
    let _ = tracing::subscriber::set_global_default(subscriber);

    let store = Store::connect(url, &StoreOptions::default())
        .await
        .context("opening the benchmark database")?;
    store.migrate().await?;
    let backend = backend_name(store.backend());
    let tag = run_tag();
    let entry = AuditEntry {
        actor: None,
        client_address: None,
        at: time::OffsetDateTime::now_utc(),
    };
    let organizations = bench_organizations(&store, &tag, 1, &entry).await?;
    add_members(&store, &tag, &organizations, 0..200, false, &entry, |_| {}).await?;
    let password = "bench admin password 42";
    let admin = format!("b{tag}admin");
    store
        .create_user(
            &NewUser {
                username: Username::parse(&admin)?,
                email: EmailAddress::parse(&format!("{admin}@bench.example"))?,
                full_name: FullName::parse(&admin)?,
                status: UserStatus::Active,
                platform_role: Some(PlatformRole::SuperAdmin),
                password_hash: Some(super::http::hash(password, (19 * 1024, 2))?),
                must_change_password: false,
                language: Language::En,
            },
            &entry,
        )
        .await?;
    store.close().await;

    let first = format!("b{tag}first");
    let first_email = format!("{first}@bench.example");
    let mut args = vec![
        "--bind",
        "127.0.0.1:0",
        "--admin-username",
        &first,
        "--admin-email",
        &first_email,
    ];
    let key = throwaway_secret_key();
    args.extend(["--secret-key", &key]);
    let config = serve_config(url, &args)?;
    let server = steward_server::start(&config)
        .await
        .map_err(steward_server::error::AppError::into_anyhow)?;
    let base = format!("http://{}", server.local_addr);
    let client = reqwest::Client::new();
    let post = |token: Option<String>, query: &'static str, variables: Value| {
        let client = client.clone();
        let base = base.clone();
        async move {
            let mut request = client
                .post(format!("{base}/graphql"))
                .json(&json!({ "query": query, "variables": variables }));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let body: Value = request.send().await?.json().await?;
            ensure!(body["errors"].is_null(), "{body}");
            Ok::<_, anyhow::Error>(body)
        }
    };
    let login = post(
        None,
        "mutation($l: String!, $p: String!) { login(input: {login: $l, password: $p}) { accessToken } }",
        json!({ "l": admin, "p": password }),
    )
    .await;
    let result = async {
        let token = login?["data"]["login"]["accessToken"]
            .as_str()
            .context("the admin's token")?
            .to_owned();
        let organization = organizations[0].0.to_string();
        let mut counts = Vec::new();
        for size in [10, 100] {
            // Once to warm caches (signing keys, the schema), then counted.
            post(
                Some(token.clone()),
                PAGE,
                json!({ "o": organization, "n": size }),
            )
            .await?;
            let before = statements.load(Ordering::Relaxed);
            let body = post(
                Some(token.clone()),
                PAGE,
                json!({ "o": organization, "n": size }),
            )
            .await?;
            let counted = statements.load(Ordering::Relaxed) - before;
            let rows = body["data"]["users"]["nodes"]
                .as_array()
                .map_or(0, Vec::len);
            ensure!(rows == size, "a page of {size} had {rows} users");
            counts.push((size, counted));
        }
        Ok::<_, anyhow::Error>(counts)
    }
    .await;
    server
        .shutdown()
        .await
        .map_err(steward_server::error::AppError::into_anyhow)?;
    let counts = result?;
    ensure!(
        counts.iter().all(|(_, count)| *count > 0),
        "no statement was counted: sqlx's statement events did not reach the counter"
    );
    let mut metrics: Vec<Metric> = counts
        .iter()
        .map(|(size, count)| {
            Metric::new(
                "statements",
                format!("SQL statements for a users page of {size}"),
                *count as f64,
                "",
            )
            .on(backend)
        })
        .collect();
    metrics.push(
        Metric::new(
            "statements",
            "statements at 100 / at 10 (constant: 1)",
            counts[1].1 as f64 / counts[0].1.max(1) as f64,
            "x",
        )
        .on(backend)
        .target(Target::at_most(1.0)),
    );
    Ok(metrics)
}
