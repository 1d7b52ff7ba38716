//! Lists are Relay connections backed by DataLoaders: listing an organization's members with
//! their roles and groups, its resources with their shares and transfer histories, its groups
//! with their members, or its imports with their rows costs the very same SQL statements for
//! 10 items as for 100; and `me` costs one.
//!
//! Each request is sent with an `x-request-id` of its own, and its statements are those
//! `steward_store::statement_log` noted in the span of that request: the server's mail, job
//! and upkeep workers run as usual meanwhile.

// A test binary: a failed expectation is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use clap::Parser;
use serde_json::{Value, json};
use steward_domain::job::ImportRow;
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
use steward_store::statement_log::{self, Statement, statements_of};
use steward_store::testing::{TestDatabase, backends};
use steward_store::{
    AuditEntry, Backend, BindingScope, BindingSubject, NewResource, NewUser, NewUserImport, Store,
};

const PASSWORD: &str = "correct horse battery staple 42";

/// The members query a client's member list would run.
const MEMBERS: &str = "query($o: ID!) { organization(id: $o) { members(first: 100) { \
    totalCount edges { node { status defaultRole { name } roles { role { name } project { name } } \
    user { username groups { name } ownedResources { name } sharedResources { access } } organization { name } } } } } }";

/// A console's users page: each user with their memberships, the roles bound in each, and
/// their groups.
const USERS: &str = "query($o: ID!) { users(organization: $o, first: 100) { nodes { id \
    username memberships { organization { name } defaultRole { name } roles { role { name } } } \
    groups { name } } } }";

/// The resources query a client's resource list would run.
const RESOURCES: &str = "query($o: ID!) { resources(organization: $o, first: 100) { \
    totalCount nodes { name owner { username } shares { access group { name } } \
    transferHistory { transfer { reason from { username } } } } } }";

/// A client's list of groups, each with the first page of its members.
const GROUPS: &str = "query($o: ID!) { organization(id: $o) { groups { name \
    members(first: 10) { totalCount nodes { username } } } } }";

/// A client's list of imports, each with the first rows of its report.
const IMPORTS: &str = "query($o: ID!) { jobs(filter: { organization: $o }, first: 100) { \
    totalCount nodes { rows(first: 5) { totalCount nodes { rowNumber username } } } } }";

fn summaries(statements: Vec<Statement>) -> Vec<String> {
    statements
        .into_iter()
        .map(|statement| statement.summary)
        .collect()
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
        // The workers run as they do in production, and more often: their statements are
        // theirs, not a request's.
        "--mail-poll-ms",
        "20",
        "--job-poll-ms",
        "20",
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
/// each a Viewer by default and in one of `members / 5` groups (the owner in all), every
/// third one also bound to Editor, each but the owner owning a dashboard shared with their
/// group; and `members / 5` imports (dry runs) of three rows each.
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
    for g in 0..members / 5 {
        let group = store
            .create_group(
                &granted::<ManageGroups>(organization),
                &Name::parse("name", &format!("Group{g}")).expect("group name"),
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
                groups[i % groups.len()],
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
                ShareGrantee::Group(groups[i % groups.len()]),
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
    for j in 0..members / 5 {
        let mut import = store
            .begin_user_import(
                &NewUserImport {
                    organization,
                    initiator: Some(owner.id),
                    dry_run: true,
                    send_invitations: false,
                    file_name: None,
                },
                time::OffsetDateTime::now_utc(),
            )
            .await
            .expect("import");
        let rows: Vec<ImportRow> = (1..=3)
            .map(|r| ImportRow {
                username: format!("new{members}x{j}x{r}"),
                email: format!("new{members}x{j}x{r}@example.com"),
                name: format!("New {r}"),
                role: None,
                language: None,
                width: None,
            })
            .collect();
        import.add(&rows).await.expect("rows");
        import.finish(&entry()).await.expect("queued");
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
    async fn counted(&self, token: &str, query: &str, variables: Value) -> (Value, Vec<Statement>) {
        let request_id = uuid::Uuid::new_v4().to_string();
        let response = self
            .http
            .post(format!("{}/graphql", self.base))
            .header("x-request-id", &request_id)
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request sent");
        let backend = self.backend;
        assert!(
            response.status().is_success(),
            "{backend:?}: HTTP {}",
            response.status()
        );
        let body: Value = response.json().await.expect("JSON body");
        assert!(body.get("errors").is_none(), "{backend:?}: {body}");
        (body, statements_of(&request_id))
    }

    /// Lists the users page, checks the answer, and returns the statements it cost.
    async fn list_users(&self, token: &str, organization: OrganizationId, n: usize) -> Vec<String> {
        let (body, statements) = self
            .counted(token, USERS, json!({ "o": organization.to_string() }))
            .await;
        let backend = self.backend;
        let nodes = body["data"]["users"]["nodes"].as_array().expect("nodes");
        assert_eq!(nodes.len(), n, "{backend:?}: {body}");
        for node in nodes {
            let membership = &node["memberships"][0];
            assert!(
                membership["organization"]["name"].is_string(),
                "{backend:?}: {node}"
            );
            assert!(
                membership["roles"][0]["role"]["name"].is_string(),
                "{backend:?}: {node}"
            );
            assert!(node["groups"][0]["name"].is_string(), "{backend:?}: {node}");
        }
        summaries(statements)
    }

    /// Runs `query` over a new WebSocket (`graphql-transport-ws`) and returns the answer and
    /// the statements of the connection: its authentication at `connection_init`, and the
    /// operation's (the periodic check of its credentials runs in a span of its own).
    async fn over_websocket(
        &self,
        token: &str,
        query: &str,
        organization: OrganizationId,
    ) -> (Value, Vec<String>) {
        use futures_util::{SinkExt as _, StreamExt as _};
        use tokio_tungstenite::tungstenite::Message;
        use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

        let backend = self.backend;
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut request = format!("{}/graphql/ws", self.base.replacen("http", "ws", 1))
            .into_client_request()
            .expect("request");
        let headers = request.headers_mut();
        headers.insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        headers.insert("x-request-id", request_id.parse().unwrap());
        let (mut socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("WebSocket connects");
        let send = |message: Value| Message::Text(message.to_string().into());
        let init = json!({ "Authorization": format!("Bearer {token}") });
        socket
            .send(send(json!({ "type": "connection_init", "payload": init })))
            .await
            .expect("init");
        let variables = json!({ "o": organization.to_string() });
        socket
            .send(send(json!({
                "id": "1",
                "type": "subscribe",
                "payload": { "query": query, "variables": variables },
            })))
            .await
            .expect("subscribe");
        let mut answer = Value::Null;
        loop {
            let frame = tokio::time::timeout(std::time::Duration::from_secs(60), socket.next())
                .await
                .expect("a message in time")
                .expect("the socket stays open")
                .expect("a frame");
            let Message::Text(text) = frame else {
                continue;
            };
            let message: Value = serde_json::from_str(&text).expect("JSON message");
            match message["type"].as_str() {
                Some("connection_ack") => {}
                Some("next") => answer = message["payload"].clone(),
                Some("complete") => break,
                _ => panic!("{backend:?}: unexpected {message}"),
            }
        }
        socket.close(None).await.expect("closed");
        assert!(answer.get("errors").is_none(), "{backend:?}: {answer}");
        (answer, summaries(statements_of(&request_id)))
    }

    /// Lists the users page over WebSocket, whose loaders read each relation as it is
    /// resolved, checks that the answer is the one over HTTP, where the page reads its rows'
    /// relations ahead, and returns the statements the connection cost.
    async fn users_over_websocket(
        &self,
        token: &str,
        organization: OrganizationId,
        n: usize,
    ) -> Vec<String> {
        let (over_http, _) = self
            .counted(token, USERS, json!({ "o": organization.to_string() }))
            .await;
        let (answer, statements) = self.over_websocket(token, USERS, organization).await;
        let nodes = answer["data"]["users"]["nodes"].as_array().expect("nodes");
        assert_eq!(nodes.len(), n, "{:?}: {answer}", self.backend);
        assert_eq!(
            answer["data"], over_http["data"],
            "{:?}: the page read ahead over HTTP differs from the page resolved field by \
             field over WebSocket",
            self.backend
        );
        statements
    }

    /// Lists the members over WebSocket, checks the answer has them all, and returns the
    /// statements the connection cost.
    async fn members_over_websocket(
        &self,
        token: &str,
        organization: OrganizationId,
        n: usize,
    ) -> Vec<String> {
        let (answer, statements) = self.over_websocket(token, MEMBERS, organization).await;
        let members = &answer["data"]["organization"]["members"];
        assert_eq!(
            members["totalCount"],
            json!(n),
            "{:?}: {answer}",
            self.backend
        );
        let edges = members["edges"].as_array().expect("edges");
        assert_eq!(edges.len(), n, "{:?}: {answer}", self.backend);
        statements
    }

    /// Lists the groups with their first members, checks the answer, and returns the
    /// statements it cost.
    async fn list_groups(
        &self,
        token: &str,
        organization: OrganizationId,
        n: usize,
    ) -> Vec<String> {
        let (body, statements) = self
            .counted(token, GROUPS, json!({ "o": organization.to_string() }))
            .await;
        let backend = self.backend;
        let groups = body["data"]["organization"]["groups"]
            .as_array()
            .expect("groups");
        assert_eq!(groups.len(), n / 5, "{backend:?}: {body}");
        for group in groups {
            let members = &group["members"];
            // The owner and every fifth other member.
            let total = members["totalCount"].as_u64().expect("totalCount");
            assert!(total >= 2, "{backend:?}: {group}");
            let shown = members["nodes"].as_array().expect("nodes").len() as u64;
            assert_eq!(shown, total.min(10), "{backend:?}: {group}");
        }
        summaries(statements)
    }

    /// Lists the imports with their first rows, checks the answer, and returns the
    /// statements it cost.
    async fn list_imports(
        &self,
        token: &str,
        organization: OrganizationId,
        n: usize,
    ) -> Vec<String> {
        let (body, statements) = self
            .counted(token, IMPORTS, json!({ "o": organization.to_string() }))
            .await;
        let backend = self.backend;
        let jobs = &body["data"]["jobs"];
        assert_eq!(jobs["totalCount"], json!(n / 5), "{backend:?}: {body}");
        for job in jobs["nodes"].as_array().expect("nodes") {
            assert_eq!(job["rows"]["totalCount"], 3, "{backend:?}: {job}");
            let numbers: Vec<&Value> = job["rows"]["nodes"]
                .as_array()
                .expect("rows")
                .iter()
                .map(|row| &row["rowNumber"])
                .collect();
            assert_eq!(numbers, [1, 2, 3], "{backend:?}: {job}");
        }
        summaries(statements)
    }

    /// Asks `me { id username }` and returns the statements it cost.
    async fn me(&self, token: &str, username: &str) -> Vec<String> {
        let (body, statements) = self
            .counted(token, "{ me { id username } }", json!({}))
            .await;
        assert_eq!(
            body["data"]["me"]["username"], username,
            "{:?}: {body}",
            self.backend
        );
        summaries(statements)
    }

    /// Lists the members, checks the answer is complete, that no statement read what the
    /// query did not ask for (the roles' permissions), and returns the statements it cost.
    async fn list_members(
        &self,
        token: &str,
        organization: OrganizationId,
        n: usize,
    ) -> Vec<String> {
        let (body, statements) = self
            .counted(token, MEMBERS, json!({ "o": organization.to_string() }))
            .await;
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
        let unasked: Vec<&str> = statements
            .iter()
            // (The caller's own grants come with their permissions, for the policy.)
            .filter(|statement| {
                statement
                    .sql
                    .contains("FROM role_permissions WHERE role_id IN")
            })
            .map(|statement| statement.sql.as_str())
            .collect();
        assert!(
            unasked.is_empty(),
            "{backend:?}: the roles' permissions were read, not asked for: {unasked:?}"
        );
        summaries(statements)
    }

    /// Lists the resources, checks each comes with its owner and its share, and returns the
    /// statements it cost.
    async fn list_resources(
        &self,
        token: &str,
        organization: OrganizationId,
        n: usize,
    ) -> Vec<String> {
        let (body, statements) = self
            .counted(token, RESOURCES, json!({ "o": organization.to_string() }))
            .await;
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
            assert!(node["transferHistory"].is_array(), "{backend:?}: {node}");
        }
        summaries(statements)
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

    let measured = Measured {
        lists: vec![
            (
                "members",
                client.list_members(&small_token, small, 10).await,
                client.list_members(&large_token, large, 100).await,
            ),
            (
                "users",
                client.list_users(&small_token, small, 10).await,
                client.list_users(&large_token, large, 100).await,
            ),
            (
                "members over WebSocket",
                client.members_over_websocket(&small_token, small, 10).await,
                client
                    .members_over_websocket(&large_token, large, 100)
                    .await,
            ),
            (
                "users over WebSocket",
                client.users_over_websocket(&small_token, small, 10).await,
                client.users_over_websocket(&large_token, large, 100).await,
            ),
            (
                "resources",
                client.list_resources(&small_token, small, 10).await,
                client.list_resources(&large_token, large, 100).await,
            ),
            (
                "groups with their members",
                client.list_groups(&small_token, small, 10).await,
                client.list_groups(&large_token, large, 100).await,
            ),
            (
                "imports with their rows",
                client.list_imports(&small_token, small, 10).await,
                client.list_imports(&large_token, large, 100).await,
            ),
        ],
        me: client.me(&large_token, &large_owner).await,
    };
    server.shutdown().await.expect("clean shutdown");
    database.store.close().await;
    measured
}

/// The statements each list cost, for 10 and for 100 items, and those of `me`.
struct Measured {
    lists: Vec<(&'static str, Vec<String>, Vec<String>)>,
    me: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_cost_the_same_statements_for_10_items_as_for_100_and_me_costs_one() {
    statement_log::install();
    // Every backend is measured before any is judged, so one report shows them all.
    let mut measured = Vec::new();
    for backend in backends() {
        let measured_here = measure(backend).await;
        for (list, ten, hundred) in &measured_here.lists {
            println!(
                "{backend:?}: {list}: 10: {} statements; 100: {} statements",
                ten.len(),
                hundred.len()
            );
        }
        println!("{backend:?}: me: {:?}", measured_here.me);
        measured.push((backend, measured_here));
    }
    for (backend, measured) in measured {
        for (list, ten, hundred) in measured.lists {
            assert!(
                !ten.is_empty(),
                "{backend:?}: {list}: no statement counted; is the counter wired?"
            );
            // Not proportional to the page, nor to the clock: a page's batches are started
            // when its resolvers have registered their keys (`Batches::drive`), so ten times
            // the items cost the very same statements, however busy the machine. (A
            // statement per row cost 24 to 49 more; a batch window split pages at random.)
            // (Sorted: batches started together may finish in either order.)
            let sorted = |mut statements: Vec<String>| {
                statements.sort();
                statements
            };
            assert_eq!(
                sorted(hundred),
                sorted(ten),
                "{backend:?}: listing 100 {list} cost other statements than 10"
            );
        }
        // The session and the account, in one read.
        assert_eq!(
            measured.me.len(),
            1,
            "{backend:?}: me cost {:?}",
            measured.me
        );
    }
}
