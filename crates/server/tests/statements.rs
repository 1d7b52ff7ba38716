//! Lists are Relay connections backed by DataLoaders: listing an organization's members with
//! their roles and groups, or its resources with their shares, costs the same number of SQL
//! statements for 10 members (and resources) as for 100.
//!
//! sqlx emits one `tracing` event with target `sqlx::query` (at DEBUG, unless the connect
//! options say otherwise) for every statement it runs. This test binary installs a global
//! subscriber that counts them, so statements run on any thread — DataLoader tasks, SQLite
//! workers — are counted. It holds a single test so that nothing else runs statements while
//! a request is measured.

// A test binary: a failed expectation is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::fmt::Debug;
use std::sync::Mutex;

use clap::Parser;
use serde_json::{Value, json};
use steward_domain::organization::Name;
use steward_domain::policy::{
    Actor, Authorized, Capability, ManageGroups, ManageResources, ManageRoles, ManageUsers,
    PlatformAuthorized, authorize, authorize_platform, authorize_sharing,
};
use steward_domain::resource::{KindCode, ResourceAccess, ShareGrantee};
use steward_domain::user::{EmailAddress, FullName, Language, PlatformRole, UserStatus, Username};
use steward_domain::{OrganizationId, UserId};
use steward_server::RunningServer;
use steward_server::config::ServeConfig;
use steward_store::testing::{TestDatabase, backends};
use steward_store::{
    AuditEntry, Backend, BindingScope, BindingSubject, NewResource, NewUser, Store,
};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

const PASSWORD: &str = "correct horse battery staple 42";

/// The members query a client's member list would run.
const MEMBERS: &str = "query($o: ID!) { organization(id: $o) { members(first: 100) { \
    totalCount edges { node { status defaultRole { name } roles { role { name } project { name } } \
    user { username groups { name } ownedResources { name } sharedResources { access } } organization { name } } } } } }";

/// The resources query a client's resource list would run.
const RESOURCES: &str = "query($o: ID!) { resources(organization: $o, first: 100) { \
    totalCount nodes { name owner { username } shares { access group { name } } } } }";

/// The statements sqlx has run in this process since the last `take_statements`, each by
/// its summary (the first words of its SQL).
static STATEMENTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct CountStatements;

impl<S: Subscriber> Layer<S> for CountStatements {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target().starts_with("sqlx::query") {
            let mut summary = Summary(String::new());
            event.record(&mut summary);
            // A connection the pool opens sets itself up (SQLite's PRAGMAs): that is the
            // pool's, not the request's.
            if !summary.0.starts_with("PRAGMA") {
                STATEMENTS.lock().unwrap().push(summary.0);
            }
        }
    }
}

/// Keeps an event's `summary` field.
struct Summary(String);

impl tracing::field::Visit for Summary {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn Debug) {
        if field.name() == "summary" {
            self.0 = format!("{value:?}");
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "summary" {
            value.clone_into(&mut self.0);
        }
    }
}

fn take_statements() -> Vec<String> {
    std::mem::take(&mut *STATEMENTS.lock().unwrap())
}

#[derive(Parser)]
struct TestCli {
    #[command(flatten)]
    serve: ServeConfig,
}

fn test_config(database_url: &str) -> ServeConfig {
    TestCli::parse_from([
        "steward",
        "--database-url",
        database_url,
        "--bind",
        "127.0.0.1:0",
        "--public-url",
        "http://steward.test",
        "--password-hash-memory-kib",
        "64",
        "--password-hash-iterations",
        "1",
        "--admin-password",
        PASSWORD,
        "--secret-key",
        "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
        // The mail worker polls the outbox in the background; its statements are not the
        // request's. After its first look at start it must stay quiet while we count.
        "--mail-poll-ms",
        "3600000",
        // Likewise the periodic upkeep (signing keys, API key uses, pending deletions).
        "--signing-key-reload-seconds",
        "3600",
        // And the job worker, which looks for queued jobs.
        "--job-poll-ms",
        "3600000",
    ])
    .serve
}

fn entry() -> AuditEntry {
    AuditEntry {
        actor: None,
        client_address: None,
        at: time::OffsetDateTime::now_utc(),
    }
}

/// A SuperAdmin's proof, as the policy gives it.
fn platform() -> PlatformAuthorized {
    authorize_platform(&Actor::new(
        UserId::new(),
        Some(PlatformRole::SuperAdmin),
        [],
    ))
    .expect("super admin")
}

/// A SuperAdmin's proof for a capability in an organization.
fn granted<C: Capability>(organization: OrganizationId) -> Authorized<C> {
    authorize::<C>(
        &Actor::new(UserId::new(), Some(PlatformRole::SuperAdmin), []),
        organization,
    )
    .expect("super admin")
}

fn new_user(username: &str, password_hash: &str) -> NewUser {
    NewUser {
        username: Username::parse(username).expect("username"),
        email: EmailAddress::parse(&format!("{username}@example.com")).expect("email"),
        full_name: FullName::parse(username).expect("name"),
        status: UserStatus::Active,
        platform_role: None,
        password_hash: Some(password_hash.to_owned()),
        must_change_password: false,
        language: Language::En,
    }
}

/// Seeds, straight in the store, an organization of `members` members (its owner included),
/// each a Viewer by default and in one of two groups (the owner in both), every third one
/// also bound to Editor, each but the owner owning a dashboard shared with their group.
/// Returns the organization's id and the owner's username.
async fn seed(store: &Store, password_hash: &str, members: usize) -> (OrganizationId, String) {
    let owner_name = format!("owner{members}");
    let owner = store
        .create_user(&new_user(&owner_name, password_hash), &entry())
        .await
        .expect("owner");
    let organization = store
        .create_organization(
            &platform(),
            &Name::parse("name", &format!("Acme{members}")).expect("name"),
            owner.id,
            &entry(),
        )
        .await
        .expect("organization")
        .id;
    let roles = store
        .roles_of_organizations(&[organization])
        .await
        .expect("roles");
    let role = |name: &str| {
        roles
            .iter()
            .find(|role| role.name == name)
            .unwrap_or_else(|| panic!("no {name} role"))
            .id
    };
    let (viewer, editor) = (role("Viewer"), role("Editor"));
    let mut groups = Vec::new();
    for name in ["Alpha", "Beta"] {
        let group = store
            .create_group(
                &granted::<ManageGroups>(organization),
                &Name::parse("name", name).expect("group name"),
                &entry(),
            )
            .await
            .expect("group");
        store
            .add_group_member(
                &granted::<ManageGroups>(organization),
                group.id,
                owner.id,
                &entry(),
            )
            .await
            .expect("owner in group");
        groups.push(group.id);
    }
    for i in 1..members {
        let user = store
            .create_user(
                &new_user(&format!("m{members}x{i}"), password_hash),
                &entry(),
            )
            .await
            .expect("member user");
        store
            .add_member(
                &granted::<ManageUsers>(organization),
                user.id,
                viewer,
                &entry(),
            )
            .await
            .expect("add member");
        store
            .add_group_member(
                &granted::<ManageGroups>(organization),
                groups[i % 2],
                user.id,
                &entry(),
            )
            .await
            .expect("group member");
        let dashboard = store
            .register_resource(
                &granted::<ManageResources>(organization),
                &NewResource {
                    kind: KindCode::parse("DASHBOARD").expect("kind"),
                    name: format!("Board{i}"),
                    external_id: format!("board-{members}-{i}"),
                    project: None,
                    owner: Some(user.id),
                },
                &entry(),
            )
            .await
            .expect("dashboard");
        let root = Actor::new(UserId::new(), Some(PlatformRole::SuperAdmin), []);
        store
            .share_resource(
                &authorize_sharing(
                    &root,
                    organization,
                    dashboard.project,
                    dashboard.id,
                    dashboard.owner,
                )
                .expect("super admin"),
                ShareGrantee::Group(groups[i % 2]),
                ResourceAccess::Read,
                &entry(),
            )
            .await
            .expect("share");
        if i % 3 == 0 {
            store
                .bind_role(
                    &granted::<ManageRoles>(organization),
                    editor,
                    BindingSubject::User(user.id),
                    BindingScope::Organization,
                    &entry(),
                )
                .await
                .expect("bind editor");
        }
    }
    (organization, owner_name)
}

struct Client {
    backend: Backend,
    base: String,
    http: reqwest::Client,
}

impl Client {
    async fn graphql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .http
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        assert!(
            response.status().is_success(),
            "{:?}: HTTP {}",
            self.backend,
            response.status()
        );
        let body: Value = response.json().await.expect("JSON body");
        assert!(body.get("errors").is_none(), "{:?}: {body}", self.backend);
        body
    }

    async fn token(&self, login: &str) -> String {
        let body = self
            .graphql(
                None,
                "mutation($input: LoginInput!) { login(input: $input) { accessToken \
                 errors { field code message } } }",
                json!({ "input": { "login": login, "password": PASSWORD } }),
            )
            .await;
        body["data"]["login"]["accessToken"]
            .as_str()
            .unwrap_or_else(|| panic!("{:?}: login failed: {body}", self.backend))
            .to_owned()
    }

    /// Runs `query` on `organization` and returns the answer and the statements it cost.
    async fn counted(
        &self,
        token: &str,
        query: &str,
        organization: OrganizationId,
    ) -> (Value, Vec<String>) {
        take_statements();
        let body = self
            .graphql(Some(token), query, json!({ "o": organization.to_string() }))
            .await;
        (body, take_statements())
    }

    /// Lists the members, checks the answer is complete, and returns the statements it cost.
    async fn list_members(
        &self,
        token: &str,
        organization: OrganizationId,
        n: usize,
    ) -> Vec<String> {
        let (body, statements) = self.counted(token, MEMBERS, organization).await;
        let backend = self.backend;
        let members = &body["data"]["organization"]["members"];
        assert_eq!(members["totalCount"], json!(n), "{backend:?}: {body}");
        let edges = members["edges"].as_array().expect("edges");
        assert_eq!(edges.len(), n, "{backend:?}: {body}");
        let mut editors = 0;
        for edge in edges {
            let node = &edge["node"];
            assert_eq!(node["status"], "ACTIVE", "{backend:?}: {node}");
            assert!(
                node["defaultRole"]["name"].is_string(),
                "{backend:?}: {node}"
            );
            assert_eq!(
                node["organization"]["name"],
                json!(format!("Acme{n}")),
                "{backend:?}: {node}"
            );
            assert!(node["user"]["username"].is_string(), "{backend:?}: {node}");
            let roles = node["roles"].as_array().expect("roles");
            assert!(!roles.is_empty(), "{backend:?}: no roles: {node}");
            assert!(
                roles
                    .iter()
                    .all(|binding| binding["role"]["name"].is_string())
            );
            if roles
                .iter()
                .any(|binding| binding["role"]["name"] == "Editor")
            {
                editors += 1;
            }
            assert!(
                node["user"]["ownedResources"].is_array(),
                "{backend:?}: {node}"
            );
            let groups = node["user"]["groups"].as_array().expect("groups");
            assert!(!groups.is_empty(), "{backend:?}: no groups: {node}");
        }
        assert_eq!(editors, (n - 1) / 3, "{backend:?}: Editor bindings");
        statements
    }

    /// Lists the resources, checks each comes with its owner and its share, and returns the
    /// statements it cost.
    async fn list_resources(
        &self,
        token: &str,
        organization: OrganizationId,
        n: usize,
    ) -> Vec<String> {
        let (body, statements) = self.counted(token, RESOURCES, organization).await;
        let backend = self.backend;
        let resources = &body["data"]["resources"];
        assert_eq!(resources["totalCount"], json!(n - 1), "{backend:?}: {body}");
        for node in resources["nodes"].as_array().expect("nodes") {
            assert!(node["owner"]["username"].is_string(), "{backend:?}: {node}");
            assert_eq!(node["shares"][0]["access"], "READ", "{backend:?}: {node}");
            assert!(
                node["shares"][0]["group"]["name"].is_string(),
                "{backend:?}: {node}"
            );
        }
        statements
    }
}

async fn measure(backend: Backend) -> Measured {
    let database = TestDatabase::create(backend).await.expect("test database");
    let server: RunningServer = steward_server::start(&test_config(&database.url))
        .await
        .expect("server starts");
    let hash = server
        .app
        .passwords
        .hash(PASSWORD.to_owned())
        .await
        .expect("hash");
    let (small, small_owner) = seed(&database.store, &hash, 10).await;
    let (large, large_owner) = seed(&database.store, &hash, 100).await;
    let client = Client {
        backend,
        base: format!("http://{}", server.local_addr),
        http: reqwest::Client::new(),
    };
    let small_token = client.token(&small_owner).await;
    let large_token = client.token(&large_owner).await;

    // Warm-up: whatever is made lazily on a first request is not what is measured.
    client.list_members(&small_token, small, 10).await;
    client.list_members(&large_token, large, 100).await;

    client.list_resources(&small_token, small, 10).await;
    client.list_resources(&large_token, large, 100).await;

    let ten = client.list_members(&small_token, small, 10).await;
    let hundred = client.list_members(&large_token, large, 100).await;
    let ten_resources = client.list_resources(&small_token, small, 10).await;
    let hundred_resources = client.list_resources(&large_token, large, 100).await;
    server.shutdown().await.expect("clean shutdown");
    database.store.close().await;
    Measured {
        ten,
        hundred,
        ten_resources,
        hundred_resources,
    }
}

/// The statements each list cost, for 10 and for 100.
struct Measured {
    ten: Vec<String>,
    hundred: Vec<String>,
    ten_resources: Vec<String>,
    hundred_resources: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_members_or_resources_costs_a_constant_number_of_statements() {
    tracing_subscriber::registry()
        .with(CountStatements.with_filter(EnvFilter::new("sqlx::query=trace")))
        .init();
    // Every backend is measured before any is judged, so one report shows them all.
    let mut measured = Vec::new();
    for backend in backends() {
        let measured_here = measure(backend).await;
        println!(
            "{backend:?}: 10 members: {} statements; 100 members: {} statements; \
             10 resources: {}; 100 resources: {}",
            measured_here.ten.len(),
            measured_here.hundred.len(),
            measured_here.ten_resources.len(),
            measured_here.hundred_resources.len()
        );
        measured.push((backend, measured_here));
    }
    for (backend, measured) in measured {
        let Measured {
            ten,
            hundred,
            ten_resources,
            hundred_resources,
        } = measured;
        assert!(
            !ten.is_empty(),
            "{backend:?}: no statement counted; is the counter wired?"
        );
        // Not proportional to the page, nor to the clock: a page's batches are started when
        // its resolvers have registered their keys (`Batches::drive`), so ten times the
        // members cost the very same statements, however busy the machine. (A statement per
        // row cost 24 to 49 more; a batch window split pages at random.)
        // (Sorted: batches started together may finish in either order.)
        let sorted = |mut statements: Vec<String>| {
            statements.sort();
            statements
        };
        assert_eq!(
            sorted(hundred),
            sorted(ten),
            "{backend:?}: listing 100 members cost other statements than 10"
        );
        assert_eq!(
            sorted(hundred_resources),
            sorted(ten_resources),
            "{backend:?}: listing 100 resources cost other statements than 10"
        );
    }
}
