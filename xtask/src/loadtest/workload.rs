//! The mixed workload: what one operation sends and what counts as its success, the weighted
//! choice between operations, concurrent clients, and what they saw (per operation: counts,
//! HTTP status classes, GraphQL error codes, latencies in HDR histograms).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use super::population::{PASSWORD, Population};

/// How long a client waits for an answer before counting the request as hung.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Failures kept word for word per operation, for the report.
const SAMPLES: usize = 3;

/// What a client does in one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    /// A password login of any user of the population (argon2id: deliberately slow).
    Login,
    /// `me` with the client's access token.
    Me,
    /// The organization's users, first page, with memberships and roles.
    ListUsers,
    /// The users whose username starts with a prefix.
    SearchUsers,
    /// `updateProfile`: the client's user gets a new full name.
    EditProfile,
    /// An administrator invites a new address.
    Invite,
    /// An administrator binds the Editor role to a member, then unbinds it.
    ChangeRole,
    /// `me` and a users page with the client's API key.
    ApiKey,
}

impl Operation {
    pub fn name(self) -> &'static str {
        match self {
            Operation::Login => "login",
            Operation::Me => "me",
            Operation::ListUsers => "users list",
            Operation::SearchUsers => "users search",
            Operation::EditProfile => "profile edit",
            Operation::Invite => "invitation",
            Operation::ChangeRole => "role change",
            Operation::ApiKey => "API key use",
        }
    }
}

/// Operations with their weights: each step picks one with probability weight / total.
#[derive(Debug, Clone)]
pub struct Mix(Vec<(Operation, u32)>);

impl Mix {
    /// The load test's mix: mostly reads, as a directory is used; logins a small share.
    pub fn mixed() -> Self {
        Mix(vec![
            (Operation::Login, 2),
            (Operation::Me, 22),
            (Operation::ListUsers, 14),
            (Operation::SearchUsers, 14),
            (Operation::EditProfile, 14),
            (Operation::Invite, 6),
            (Operation::ChangeRole, 4),
            (Operation::ApiKey, 24),
        ])
    }

    /// Writes only: what makes SQLite's single writer busy.
    pub fn writes() -> Self {
        Mix(vec![
            (Operation::EditProfile, 45),
            (Operation::Invite, 25),
            (Operation::ChangeRole, 30),
        ])
    }

    pub fn of(operations: &[(Operation, u32)]) -> Self {
        Mix(operations.to_vec())
    }

    fn pick(&self, random: u64) -> Operation {
        let total: u64 = self.0.iter().map(|(_, weight)| u64::from(*weight)).sum();
        let mut left = random % total.max(1);
        for (operation, weight) in &self.0 {
            if left < u64::from(*weight) {
                return *operation;
            }
            left -= u64::from(*weight);
        }
        self.0
            .first()
            .map_or(Operation::Me, |(operation, _)| *operation)
    }

    pub fn describe(&self) -> String {
        let total: u32 = self.0.iter().map(|(_, weight)| weight).sum();
        self.0
            .iter()
            .map(|(operation, weight)| {
                format!(
                    "{} {}%",
                    operation.name(),
                    (f64::from(*weight) * 100.0 / f64::from(total.max(1))).round()
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What the clients share: the HTTP client, the servers, and the seeded population.
pub struct Target {
    pub http: reqwest::Client,
    /// The servers' base URLs; each client takes them in turn.
    pub servers: Vec<String>,
    pub population: Population,
}

impl Target {
    pub fn new(servers: Vec<String>, population: Population) -> anyhow::Result<Self> {
        Ok(Target {
            http: http_client()?,
            servers,
            population,
        })
    }
}

/// The client every command here uses: requests hung longer than [`REQUEST_TIMEOUT`] fail.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("building the HTTP client")
}

/// An answer as received, or why none was.
#[derive(Debug, Clone)]
pub struct Reply {
    /// `None` when no HTTP answer came (refused, reset, timed out).
    pub status: Option<u16>,
    pub body: Value,
    pub transport_error: Option<String>,
    pub elapsed: Duration,
}

impl Reply {
    /// The `extensions.code` of each GraphQL error.
    pub fn error_codes(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|error| {
                        error["extensions"]["code"]
                            .as_str()
                            .unwrap_or("(no code)")
                            .to_owned()
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Why the answer is not a success: transport, HTTP status, GraphQL errors, or the
    /// payload's `errors` under `data.<field>`; `None` when it is one.
    pub fn failure(&self, field: &str) -> Option<String> {
        if let Some(error) = &self.transport_error {
            return Some(format!("no answer: {error}"));
        }
        let status = self.status.unwrap_or_default();
        if !(200..300).contains(&status) || !self.body["errors"].is_null() {
            return Some(format!("{status}: {}", self.body));
        }
        let payload = &self.body["data"][field];
        if payload.is_null() {
            return Some(format!("{status}: no data.{field}: {}", self.body));
        }
        match payload["errors"].as_array() {
            Some(errors) if !errors.is_empty() => {
                Some(format!("{status}: payload errors: {}", payload["errors"]))
            }
            _ => None,
        }
    }
}

/// POSTs a GraphQL operation and keeps whatever comes back.
pub async fn post(
    http: &reqwest::Client,
    server: &str,
    credential: Option<&str>,
    query: &str,
    variables: Value,
) -> Reply {
    let started = Instant::now();
    let mut request = http
        .post(format!("{server}/graphql"))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(credential) = credential {
        request = request.bearer_auth(credential);
    }
    let (status, body, transport_error) = match request.send().await {
        Err(error) => (None, Value::Null, Some(describe(&error))),
        Ok(response) => {
            let status = response.status().as_u16();
            match response.bytes().await {
                Err(error) => (Some(status), Value::Null, Some(describe(&error))),
                Ok(bytes) => (
                    Some(status),
                    serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                        Value::String(String::from_utf8_lossy(&bytes).into_owned())
                    }),
                    None,
                ),
            }
        }
    };
    Reply {
        status,
        body,
        transport_error,
        elapsed: started.elapsed(),
    }
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        format!("timed out after {} s", REQUEST_TIMEOUT.as_secs())
    } else if error.is_connect() {
        "connection refused or failed".to_owned()
    } else {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
}

/// One operation's figures.
#[derive(Debug, Clone)]
pub struct OperationStats {
    pub requests: u64,
    pub failures: u64,
    /// Answers by HTTP status class: 2xx, 3xx and 4xx, 5xx, and no answer at all.
    pub success_status: u64,
    pub client_errors: u64,
    pub server_errors: u64,
    pub no_answer: u64,
    /// Answers by HTTP status.
    pub statuses: BTreeMap<u16, u64>,
    /// GraphQL errors by `extensions.code` (`INTERNAL`, `UNAVAILABLE`, ...).
    pub codes: BTreeMap<String, u64>,
    /// Microseconds per request (a [`Operation::ChangeRole`] is two requests: its sum).
    pub latencies: Histogram<u64>,
    pub samples: Vec<String>,
}

impl OperationStats {
    fn new() -> anyhow::Result<Self> {
        Ok(OperationStats {
            requests: 0,
            failures: 0,
            success_status: 0,
            client_errors: 0,
            server_errors: 0,
            no_answer: 0,
            statuses: BTreeMap::new(),
            codes: BTreeMap::new(),
            latencies: Histogram::new(3)?,
            samples: Vec::new(),
        })
    }

    fn add(&mut self, other: &OperationStats) -> anyhow::Result<()> {
        self.requests += other.requests;
        self.failures += other.failures;
        self.success_status += other.success_status;
        self.client_errors += other.client_errors;
        self.server_errors += other.server_errors;
        self.no_answer += other.no_answer;
        for (status, count) in &other.statuses {
            *self.statuses.entry(*status).or_default() += count;
        }
        for (code, count) in &other.codes {
            *self.codes.entry(code.clone()).or_default() += count;
        }
        self.latencies.add(&other.latencies)?;
        for sample in &other.samples {
            if self.samples.len() < SAMPLES {
                self.samples.push(sample.clone());
            }
        }
        Ok(())
    }

    pub fn millis(&self, quantile: f64) -> f64 {
        self.latencies.value_at_quantile(quantile) as f64 / 1000.0
    }

    pub fn max_millis(&self) -> f64 {
        self.latencies.max() as f64 / 1000.0
    }

    pub fn code(&self, code: &str) -> u64 {
        self.codes.get(code).copied().unwrap_or_default()
    }
}

/// Everything the clients of one run saw, per operation.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub operations: BTreeMap<Operation, OperationStats>,
    pub elapsed: Duration,
}

impl Stats {
    fn entry(&mut self, operation: Operation) -> anyhow::Result<&mut OperationStats> {
        Ok(match self.operations.entry(operation) {
            std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::btree_map::Entry::Vacant(entry) => {
                entry.insert(OperationStats::new()?)
            }
        })
    }

    fn add(&mut self, other: &Stats) -> anyhow::Result<()> {
        for (operation, stats) in &other.operations {
            self.entry(*operation)?.add(stats)?;
        }
        Ok(())
    }

    pub fn total(&self) -> anyhow::Result<OperationStats> {
        let mut total = OperationStats::new()?;
        for stats in self.operations.values() {
            total.add(stats)?;
        }
        Ok(total)
    }
}

/// Running totals the progress line reads while the clients work.
#[derive(Debug, Default)]
pub struct Live {
    pub requests: AtomicU64,
    pub failures: AtomicU64,
    pub server_errors: AtomicU64,
}

/// One client's state between steps.
struct Client {
    index: usize,
    /// The run this client belongs to: names made by two runs over one population differ.
    run: u64,
    random: u64,
    /// Steps taken: makes names unique and picks the server in turn.
    step: u64,
}

impl Client {
    fn new(index: usize, run: u64) -> Self {
        Client {
            index,
            run,
            random: 0x9e37_79b9_7f4a_7c15 ^ ((index as u64) << 32) ^ run,
            step: 0,
        }
    }

    /// splitmix64: enough randomness to pick operations and users, reproducible per client.
    fn next_random(&mut self) -> u64 {
        self.random = self.random.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.random;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn server<'a>(&mut self, target: &'a Target) -> &'a str {
        self.step += 1;
        let at = (self.index as u64 + self.step) % target.servers.len().max(1) as u64;
        target
            .servers
            .get(usize::try_from(at).unwrap_or_default())
            .map_or("", String::as_str)
    }
}

/// What one step did: one or two requests' replies, and the address it invited when the
/// server acknowledged an invitation (for checking that it outlived an outage).
struct Step {
    replies: Vec<(Reply, &'static str)>,
    invited: Option<String>,
}

const LIST_FIELDS: &str = "nodes { id username email memberships { status defaultRole { name } } } \
                           pageInfo { hasNextPage endCursor }";

async fn step(target: &Target, client: &mut Client, operation: Operation) -> Step {
    let population = &target.population;
    let credentials = population.client(client.index);
    let organization = population.organization.as_str();
    let server = client.server(target).to_owned();
    let http = &target.http;
    let single = |reply: Reply, field: &'static str| Step {
        replies: vec![(reply, field)],
        invited: None,
    };
    match operation {
        Operation::Login => {
            let user = population.username(client.next_random());
            let reply = post(
                http,
                &server,
                None,
                "mutation($l: String!, $p: String!) { login(input: {login: $l, password: $p}) { \
                 accessToken errors { code message } } }",
                json!({ "l": user, "p": PASSWORD }),
            )
            .await;
            single(reply, "login")
        }
        Operation::Me => {
            let reply = post(
                http,
                &server,
                Some(&credentials.access_token),
                "{ me { id username fullName } }",
                json!({}),
            )
            .await;
            single(reply, "me")
        }
        Operation::ListUsers => {
            let reply = post(
                http,
                &server,
                Some(&credentials.access_token),
                &format!(
                    "query($o: ID!) {{ users(organization: $o, first: 20) {{ {LIST_FIELDS} }} }}"
                ),
                json!({ "o": organization }),
            )
            .await;
            single(reply, "users")
        }
        Operation::SearchUsers => {
            let prefix = population.username(client.next_random());
            let reply = post(
                http,
                &server,
                Some(&credentials.access_token),
                &format!(
                    "query($o: ID!, $s: String!) {{ users(organization: $o, \
                     filter: {{search: $s}}, first: 20) {{ {LIST_FIELDS} }} }}"
                ),
                json!({ "o": organization, "s": prefix }),
            )
            .await;
            single(reply, "users")
        }
        Operation::EditProfile => {
            let name = format!("Load User {} {}", client.index, client.step);
            let reply = post(
                http,
                &server,
                Some(&credentials.access_token),
                "mutation($n: String!) { updateProfile(input: {fullName: $n}) { \
                 user { id fullName } errors { code message } } }",
                json!({ "n": name }),
            )
            .await;
            single(reply, "updateProfile")
        }
        Operation::Invite => {
            let email = format!(
                "lt{}r{}c{}n{}@load.example",
                population.tag, client.run, client.index, client.step
            );
            let reply = post(
                http,
                &server,
                Some(&population.manager_of(client.index).access_token),
                "mutation($o: ID!, $e: String!, $n: String!, $r: ID!) { inviteUser(input: \
                 {organization: $o, email: $e, fullName: $n, roles: [$r]}) { \
                 invitation { id } errors { code message } } }",
                json!({
                    "o": organization,
                    "e": email,
                    "n": format!("Invited {} {}", client.index, client.step),
                    "r": population.viewer_role,
                }),
            )
            .await;
            let invited = reply.failure("inviteUser").is_none().then_some(email);
            Step {
                replies: vec![(reply, "inviteUser")],
                invited,
            }
        }
        Operation::ChangeRole => {
            let manager = &population.manager_of(client.index).access_token;
            let bind = post(
                http,
                &server,
                Some(manager),
                "mutation($r: ID!, $u: ID!) { bindRole(input: {role: $r, user: $u}) { \
                 bindingId errors { code message } } }",
                json!({
                    "r": population.editor_role,
                    "u": population.role_change_subject(client.index),
                }),
            )
            .await;
            let Some(binding) = bind.body["data"]["bindRole"]["bindingId"]
                .as_str()
                .map(str::to_owned)
            else {
                return single(bind, "bindRole");
            };
            let server = client.server(target).to_owned();
            let unbind = post(
                http,
                &server,
                Some(manager),
                "mutation($o: ID!, $b: ID!) { unbindRole(input: {organization: $o, binding: $b}) { \
                 errors { code message } } }",
                json!({ "o": organization, "b": binding }),
            )
            .await;
            Step {
                replies: vec![(bind, "bindRole"), (unbind, "unbindRole")],
                invited: None,
            }
        }
        Operation::ApiKey => {
            let reply = post(
                http,
                &server,
                Some(&credentials.api_key),
                "query($o: ID!) { me { id } users(organization: $o, first: 5) { nodes { id } } }",
                json!({ "o": organization }),
            )
            .await;
            single(reply, "users")
        }
    }
}

fn record(
    stats: &mut OperationStats,
    live: &Live,
    replies: &[(Reply, &'static str)],
) -> anyhow::Result<()> {
    let mut failure = None;
    let mut elapsed = Duration::ZERO;
    for (reply, field) in replies {
        elapsed += reply.elapsed;
        if let Some(status) = reply.status {
            *stats.statuses.entry(status).or_default() += 1;
        }
        match reply.status {
            None => stats.no_answer += 1,
            Some(status) if status >= 500 => {
                stats.server_errors += 1;
                live.server_errors.fetch_add(1, Ordering::Relaxed);
            }
            Some(status) if status >= 300 => stats.client_errors += 1,
            Some(_) => stats.success_status += 1,
        }
        for code in reply.error_codes() {
            *stats.codes.entry(code).or_default() += 1;
        }
        if failure.is_none() {
            failure = reply.failure(field);
        }
    }
    stats.requests += 1;
    live.requests.fetch_add(1, Ordering::Relaxed);
    stats
        .latencies
        .record(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX))?;
    if let Some(failure) = failure {
        stats.failures += 1;
        live.failures.fetch_add(1, Ordering::Relaxed);
        if stats.samples.len() < SAMPLES {
            stats.samples.push(failure.chars().take(500).collect());
        }
    }
    Ok(())
}

/// Runs `clients` concurrent clients, each repeating steps picked from `mix` until
/// `duration` has passed; `run` varies the random choices between runs. Returns what they
/// saw and the addresses of the invitations the servers acknowledged.
pub async fn run(
    target: &Arc<Target>,
    mix: &Mix,
    clients: usize,
    duration: Duration,
    run: u64,
    live: &Arc<Live>,
) -> anyhow::Result<(Stats, Vec<String>)> {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for index in 0..clients {
        let target = Arc::clone(target);
        let mix = mix.clone();
        let live = Arc::clone(live);
        tasks.push(tokio::spawn(async move {
            let mut client = Client::new(index, run);
            let mut stats = Stats::default();
            let mut invited = Vec::new();
            while Instant::now() < deadline {
                let operation = mix.pick(client.next_random());
                let done = step(&target, &mut client, operation).await;
                record(stats.entry(operation)?, &live, &done.replies)?;
                invited.extend(done.invited);
            }
            Ok::<_, anyhow::Error>((stats, invited))
        }));
    }
    let mut total = Stats::default();
    let mut invited = Vec::new();
    for task in tasks {
        let (stats, addresses) = task.await.context("a client task failed")??;
        total.add(&stats)?;
        invited.extend(addresses);
    }
    total.elapsed = started.elapsed();
    Ok((total, invited))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mix_picks_each_operation_by_its_weight() {
        let mix = Mix::of(&[(Operation::Me, 3), (Operation::Login, 1)]);
        let picked: Vec<Operation> = (0..8).map(|random| mix.pick(random)).collect();
        assert_eq!(
            picked,
            [
                Operation::Me,
                Operation::Me,
                Operation::Me,
                Operation::Login,
                Operation::Me,
                Operation::Me,
                Operation::Me,
                Operation::Login,
            ]
        );
    }

    #[test]
    fn a_reply_with_payload_errors_is_a_failure() {
        let reply = |status, body| Reply {
            status: Some(status),
            body,
            transport_error: None,
            elapsed: Duration::ZERO,
        };
        let ok = reply(200, json!({ "data": { "me": { "id": "1" } } }));
        assert_eq!(ok.failure("me"), None);
        let refused = reply(
            200,
            json!({ "data": { "inviteUser": { "errors": [{ "code": "FORBIDDEN" }] } } }),
        );
        assert!(refused.failure("inviteUser").is_some());
        let unavailable = reply(
            503,
            json!({ "errors": [{ "message": "m", "extensions": { "code": "UNAVAILABLE" } }] }),
        );
        assert!(unavailable.failure("me").is_some());
        assert_eq!(unavailable.error_codes(), ["UNAVAILABLE"]);
    }
}
