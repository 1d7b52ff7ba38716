//! The N+1 guard: how many SQL statements one users page costs, with every related field a
//! console shows (memberships with their roles, groups), at page sizes 10 and 100. The
//! server runs in this process, so that a tracing layer can count sqlx's statement events;
//! a constant count means related data is loaded per page, not per row. `bench page` counts
//! its own page with the same [`statements_per_request`].

use anyhow::{Context as _, ensure};
use serde_json::{Value, json};
use steward_domain::user::{EmailAddress, FullName, Language, PlatformRole, UserStatus, Username};
use steward_store::bench::{add_members, bench_organizations};
use steward_store::statement_log;
use steward_store::{AuditEntry, NewUser, Store, StoreOptions};

use super::backend_name;
use super::report::{Metric, Target};
use crate::import::{run_tag, serve_config, throwaway_secret_key};

const PAGE: &str = "query($o: ID!, $n: Int!) { users(organization: $o, first: $n) { nodes { \
    id username memberships { status defaultRole { name } roles { role { name } } \
    organization { name } } groups { name } } } }";

/// The SQL statements `query` costs with each of `variables`, asked by `login` (password
/// `password`) of a server started in this process on `url`, after one run to warm caches
/// (signing keys, the schema), by the request id of the span they ran in. Each answer
/// must have `nodes_at` (a JSON pointer) holding `n` nodes, `n` being the variable.
pub(super) async fn statements_per_request(
    url: &str,
    login: &str,
    password: &str,
    query: &str,
    variables: &[Value],
    nodes_at: &str,
) -> anyhow::Result<Vec<u64>> {
    statement_log::install();
    let tag = run_tag();
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
    let post = |token: Option<&str>, query: &str, variables: &Value, request_id: &str| {
        let mut request = client
            .post(format!("{base}/graphql"))
            .header("x-request-id", request_id)
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let body: Value = request.send().await?.json().await?;
            ensure!(body["errors"].is_null(), "{body}");
            Ok::<_, anyhow::Error>(body)
        }
    };
    let result = async {
        let token = post(
            None,
            "mutation($l: String!, $p: String!) { login(input: {login: $l, password: $p}) { accessToken } }",
            &json!({ "l": login, "p": password }),
            "login",
        )
        .await?["data"]["login"]["accessToken"]
            .as_str()
            .context("the token of the account that asks")?
            .to_owned();
        let mut counts = Vec::new();
        for variables in variables {
            post(Some(&token), query, variables, "warm-up").await?;
            let request_id = uuid::Uuid::new_v4().to_string();
            let body = post(Some(&token), query, variables, &request_id).await?;
            let rows = body
                .pointer(nodes_at)
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            ensure!(
                Some(rows as u64) == variables["n"].as_u64(),
                "a page of {} had {rows} nodes",
                variables["n"]
            );
            counts.push(statement_log::statements_of(&request_id).len() as u64);
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
        counts.iter().all(|count| *count > 0),
        "no statement was counted: sqlx's statement events did not reach the counter"
    );
    Ok(counts)
}

pub async fn run(url: &str) -> anyhow::Result<Vec<Metric>> {
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

    let organization = organizations[0].0.to_string();
    let sizes = [10, 100];
    let variables: Vec<Value> = sizes
        .iter()
        .map(|size| json!({ "o": organization, "n": size }))
        .collect();
    let counted =
        statements_per_request(url, &admin, password, PAGE, &variables, "/data/users/nodes")
            .await?;
    let counts: Vec<(u64, u64)> = sizes.into_iter().zip(counted).collect();
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
