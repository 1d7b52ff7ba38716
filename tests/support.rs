use clap::Parser;
use serde_json::{Value, json};
use steward_server::RunningServer;
use steward_server::config::ServeConfig;
use steward_store::Backend;
use steward_store::testing::{TestDatabase, backends};

pub const ADMIN_PASSWORD: &str = "correct horse battery staple 42";

#[derive(Parser)]
struct TestCli {
    #[command(flatten)]
    serve: ServeConfig,
}

/// An organization made by the SuperAdmin for a new owner (password [`ADMIN_PASSWORD`]), with
/// the owner's token and the Viewer role's id.
pub struct TestOrg {
    pub id: String,
    pub owner_token: String,
    pub viewer: String,
}

/// A server under test, with its own database.
pub struct TestApp {
    pub backend: Backend,
    pub base: String,
    pub client: reqwest::Client,
    pub server: RunningServer,
    pub database: TestDatabase,
}

/// Runs `test` once per backend on a fresh server.
pub async fn on_each_backend<F, Fut>(extra_args: &[&str], test: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: Future<Output = TestApp>,
{
    for backend in backends() {
        let app = TestApp::spawn(backend, extra_args).await;
        let app = test(app).await;
        app.stop().await;
    }
}

impl TestApp {
    /// A server on a new database, with cheap password hashing and a known admin password.
    pub async fn spawn(backend: Backend, extra_args: &[&str]) -> TestApp {
        let database = TestDatabase::create(backend).await.expect("test database");
        Self::spawn_on(database, extra_args).await
    }

    pub async fn spawn_on(database: TestDatabase, extra_args: &[&str]) -> TestApp {
        let config = test_config(&database.url, extra_args);
        let server = steward_server::start(&config).await.expect("server starts");
        TestApp {
            backend: database.store.backend(),
            base: format!("http://{}", server.local_addr),
            client: reqwest::Client::new(),
            server,
            database,
        }
    }

    pub async fn stop(self) -> TestDatabase {
        self.server.shutdown().await.expect("clean shutdown");
        self.database
    }

    /// Runs a subscription over WebSocket (`graphql-transport-ws`) with `init` as the
    /// `connection_init` payload; returns the messages after the acknowledgement, up to and
    /// with the `complete` or `error` that ends it.
    pub async fn subscribe(&self, init: Value, query: &str, variables: Value) -> Vec<Value> {
        use futures_util::{SinkExt as _, StreamExt as _};
        use tokio_tungstenite::tungstenite::Message;
        use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

        let mut request = format!("{}/graphql/ws", self.base.replacen("http", "ws", 1))
            .into_client_request()
            .expect("request");
        request.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().expect("header"),
        );
        let (mut socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("WebSocket connects");
        let send = |message: Value| Message::Text(message.to_string().into());
        socket
            .send(send(json!({ "type": "connection_init", "payload": init })))
            .await
            .expect("init");
        socket
            .send(send(json!({
                "id": "1",
                "type": "subscribe",
                "payload": { "query": query, "variables": variables },
            })))
            .await
            .expect("subscribe");
        let mut messages = Vec::new();
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
                Some("next") => messages.push(message),
                Some("complete") | Some("error") => {
                    messages.push(message);
                    return messages;
                }
                _ => panic!("{:?}: unexpected {message}", self.backend),
            }
        }
    }

    /// POSTs a GraphQL operation and returns the whole response body.
    pub async fn graphql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .client
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
        response.json().await.expect("JSON body")
    }

    /// POSTs a GraphQL operation as a multipart request (the GraphQL multipart request spec)
    /// with `file` as the upload in variable `variable` (declared `Upload!`); returns the
    /// whole response body.
    pub async fn graphql_upload(
        &self,
        token: Option<&str>,
        query: &str,
        mut variables: Value,
        variable: &str,
        file: &[u8],
    ) -> Value {
        variables[variable] = Value::Null;
        let operations = json!({ "query": query, "variables": variables });
        let form = reqwest::multipart::Form::new()
            .text("operations", operations.to_string())
            .text(
                "map",
                json!({ "0": [format!("variables.{variable}")] }).to_string(),
            )
            .part(
                "0",
                reqwest::multipart::Part::bytes(file.to_vec())
                    .file_name("people.csv")
                    .mime_str("text/csv")
                    .expect("mime"),
            );
        let mut request = self
            .client
            .post(format!("{}/graphql", self.base))
            .multipart(form);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("upload sent");
        response.json().await.expect("JSON body")
    }

    /// A new organization owned by a new user `owner` (see [`TestOrg`]).
    pub async fn organization_owned_by(&self, name: &str, owner: &str) -> TestOrg {
        let admin = self.admin_token().await;
        let owner_id = self.create_user(owner, ADMIN_PASSWORD).await;
        let id = self.create_organization(&admin, name, &owner_id).await;
        let owner_token = self.token(owner, ADMIN_PASSWORD).await;
        let viewer = self.role_id(&owner_token, &id, "Viewer").await;
        TestOrg {
            id,
            owner_token,
            viewer,
        }
    }

    /// A new active user `username` (password [`ADMIN_PASSWORD`]) made a Viewer member of
    /// `org` by a SuperAdmin (anyone else's `addMember` only invites); returns the user's id.
    pub async fn member_of(&self, org: &TestOrg, username: &str) -> String {
        let user = self.create_user(username, ADMIN_PASSWORD).await;
        let body = self
            .graphql(
                Some(&self.admin_token().await),
                "mutation($o: ID!, $u: ID!, $r: ID!) { addMember(input: {organization: $o, \
                 user: $u, role: $r}) { errors { message } } }",
                json!({ "o": org.id, "u": user, "r": org.viewer }),
            )
            .await;
        assert_eq!(
            body["data"]["addMember"]["errors"],
            json!([]),
            "{:?}: {body}",
            self.backend
        );
        user
    }

    /// The id of the role called `name` in `organization`, as `token` sees it.
    pub async fn role_id(&self, token: &str, organization: &str, name: &str) -> String {
        let roles = self
            .graphql(
                Some(token),
                "query($o: ID!) { organization(id: $o) { roles { id name } } }",
                json!({ "o": organization }),
            )
            .await;
        roles["data"]["organization"]["roles"]
            .as_array()
            .and_then(|roles| roles.iter().find(|role| role["name"] == name))
            .and_then(|role| role["id"].as_str())
            .unwrap_or_else(|| panic!("{:?}: no role {name}: {roles}", self.backend))
            .to_owned()
    }

    /// The published JSON Web Key Set.
    pub async fn jwks(&self) -> Value {
        self.client
            .get(format!("{}/.well-known/jwks.json", self.base))
            .send()
            .await
            .expect("jwks")
            .json()
            .await
            .expect("json")
    }

    /// The `login` payload.
    pub async fn login(&self, login: &str, password: &str) -> Value {
        let body = self
            .graphql(
                None,
                "mutation($input: LoginInput!) { login(input: $input) { accessToken expiresAt \
                 user { id username mustChangePassword } errors { field code message } } }",
                json!({ "input": { "login": login, "password": password } }),
            )
            .await;
        assert!(body.get("errors").is_none(), "{:?}: {body}", self.backend);
        body["data"]["login"].clone()
    }

    /// Logs in and returns the access token.
    pub async fn token(&self, login: &str, password: &str) -> String {
        let payload = self.login(login, password).await;
        payload["accessToken"]
            .as_str()
            .unwrap_or_else(|| panic!("{:?}: login failed: {payload}", self.backend))
            .to_owned()
    }

    pub async fn admin_token(&self) -> String {
        self.token("admin", ADMIN_PASSWORD).await
    }

    /// Creates an organization through the API (as a SuperAdmin) and returns its id.
    pub async fn create_organization(&self, token: &str, name: &str, owner: &str) -> String {
        let body = self
            .graphql(
                Some(token),
                "mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { \
                 organization { id } errors { field code message } } }",
                json!({ "input": { "name": name, "owner": owner } }),
            )
            .await;
        body["data"]["createOrganization"]["organization"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{:?}: createOrganization: {body}", self.backend))
            .to_owned()
    }

    /// Waits until `address` has `count` messages in the local mailbox and returns them, newest
    /// first, as `{subject, text}`.
    pub async fn mails(&self, address: &str, count: i64) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let (messages, _) = self
                .database
                .store
                .mailbox_page(Some(address), None, 100)
                .await
                .expect("mailbox");
            // The page, not the count beside it: a message delivered between the two statements
            // is counted but not listed.
            let total = i64::try_from(messages.len()).unwrap_or(i64::MAX);
            if total >= count {
                return messages
                    .iter()
                    .map(|message| json!({ "subject": message.subject, "text": message.text_body }))
                    .collect();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{:?}: {address} has {total} of {count} messages",
                self.backend
            );
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }

    /// Waits until a message to `address` has a subject containing `words`; returns it.
    pub async fn mail_about(&self, address: &str, words: &str) -> Value {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let found = self
                .mails(address, 0)
                .await
                .into_iter()
                .find(|mail| mail["subject"].as_str().is_some_and(|s| s.contains(words)));
            if let Some(mail) = found {
                return mail;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{:?}: no mail to {address} about {words:?}",
                self.backend
            );
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }

    /// Creates an active user with a password, straight in the store (user creation through
    /// the API belongs to the user lifecycle), and returns the id.
    pub async fn create_user(&self, username: &str, password: &str) -> String {
        use steward_domain::user::{EmailAddress, FullName, Language, UserStatus, Username};
        let hash = self
            .server
            .app
            .passwords
            .hash(password.to_owned())
            .await
            .expect("hash");
        let user = steward_store::NewUser {
            username: Username::parse(username).expect("username"),
            email: EmailAddress::parse(&format!("{username}@example.com")).expect("email"),
            full_name: FullName::parse(username).expect("name"),
            status: UserStatus::Active,
            platform_role: None,
            password_hash: Some(hash),
            must_change_password: false,
            language: Language::En,
        };
        let entry = steward_store::AuditEntry {
            actor: None,
            client_address: None,
            at: time::OffsetDateTime::now_utc(),
        };
        self.database
            .store
            .create_user(&user, &entry)
            .await
            .expect("create user")
            .id
            .to_string()
    }
}

/// The configuration a test server runs with: the database, a free port, cheap argon2id.
/// The `--secret-key` of test servers: base64 of 32 bytes of 7.
pub const TEST_SECRET_KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";

pub fn test_config(database_url: &str, extra_args: &[&str]) -> ServeConfig {
    let mut args = vec![
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
        ADMIN_PASSWORD,
        // PostgreSQL needs a configured key for TOTP secrets; a fixed one serves tests.
        "--secret-key",
        TEST_SECRET_KEY,
    ];
    args.extend_from_slice(extra_args);
    TestCli::parse_from(args).serve
}

/// The `extensions.code` of the first GraphQL error of a response.
pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<no code>")
}

/// The value of header `name` in an HTTP head, whatever its case.
pub fn http_header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

/// Reads a raw HTTP/1.1 answer until its announced `Content-Length` or the end of the
/// connection, each read within `patience`, and returns its text, head and body.
pub async fn read_http_answer(
    reader: &mut (impl tokio::io::AsyncRead + Unpin),
    patience: std::time::Duration,
) -> String {
    use tokio::io::AsyncReadExt as _;
    let mut received = Vec::new();
    let mut buffer = vec![0u8; 16 * 1024];
    let complete = |received: &[u8]| -> bool {
        let text = String::from_utf8_lossy(received);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            return false;
        };
        http_header(head, "content-length")
            .and_then(|length| length.parse::<usize>().ok())
            .is_some_and(|length| body.len() >= length)
    };
    while !complete(&received) {
        match tokio::time::timeout(patience, reader.read(&mut buffer))
            .await
            .expect("an answer in time")
        {
            Ok(0) | Err(_) => break,
            Ok(read) => received.extend_from_slice(&buffer[..read]),
        }
    }
    String::from_utf8_lossy(&received).into_owned()
}
