//! The transport keeps the boundary: a WebSocket lives only as long as its credentials, its
//! messages are limited like request bodies, and an upload is read only for a caller the
//! headers authenticate and authorize; a body that stops arriving is given up.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::support::{ADMIN_PASSWORD, TestApp, TestOrg, on_each_backend};

/// The issue's bound: a socket whose credentials ended is closed within this long.
const CLOSED_WITHIN: Duration = Duration::from_secs(5);
/// Generous: what a test waits for something that must come.
const PATIENCE: Duration = Duration::from_secs(60);
const MIB: usize = 1024 * 1024;

/// A worker that looks for jobs once, at start, then not for an hour: a job stays queued, so
/// a subscription to its progress stays open.
const IDLE_WORKER: &[&str] = &["--job-poll-ms", "3600000"];

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A `graphql-transport-ws` client.
struct Socket {
    stream: Stream,
}

/// What came from the server.
#[derive(Debug)]
enum Received {
    Message(Value),
    Closed(Option<u16>),
    /// The connection ended without a close frame (or failed).
    Gone,
}

impl Socket {
    async fn open(app: &TestApp) -> Socket {
        let mut request = format!("{}/graphql/ws", app.base.replacen("http", "ws", 1))
            .into_client_request()
            .expect("request");
        request.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().expect("header"),
        );
        let (stream, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("WebSocket connects");
        Socket { stream }
    }

    /// Opens a connection authenticated with `token` and waits for its acknowledgement.
    async fn signed_in(app: &TestApp, token: &str) -> Socket {
        let mut socket = Socket::open(app).await;
        socket
            .send_text(
                json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })
                    .to_string(),
            )
            .await;
        match socket.receive(PATIENCE).await {
            Received::Message(message) if message["type"] == "connection_ack" => socket,
            other => panic!("{:?}: no acknowledgement: {other:?}", app.backend),
        }
    }

    /// Sends a text message; false when the connection is already gone.
    async fn send_text(&mut self, text: String) -> bool {
        self.stream.send(Message::Text(text.into())).await.is_ok()
    }

    async fn start(&mut self, id: &str, query: &str, variables: Value) -> bool {
        self.send_text(
            json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } })
                .to_string(),
        )
        .await
    }

    /// The next message or the end of the connection, waiting at most `within`.
    async fn receive(&mut self, within: Duration) -> Received {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .unwrap_or_else(|_| panic!("nothing came within {within:?}"));
            return match frame {
                Some(Ok(Message::Text(text))) => {
                    Received::Message(serde_json::from_str(&text).expect("JSON message"))
                }
                Some(Ok(Message::Close(frame))) => {
                    Received::Closed(frame.map(|frame| u16::from(frame.code)))
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => Received::Gone,
            };
        }
    }

    /// Runs a query over the socket and returns its one answer (the payload of `next`).
    async fn query(&mut self, id: &str, query: &str) -> Value {
        assert!(self.start(id, query, json!({})).await, "sent");
        let mut answer = Value::Null;
        loop {
            match self.receive(PATIENCE).await {
                Received::Message(message) if message["id"] == id => {
                    match message["type"].as_str() {
                        Some("next") => answer = message["payload"].clone(),
                        Some("complete") => return answer,
                        _ => panic!("unexpected {message}"),
                    }
                }
                Received::Message(_) => {}
                other => panic!("the socket ended: {other:?}"),
            }
        }
    }
}

const ME: &str = "{ me { username } }";
const PROGRESS: &str = "subscription($j: ID!) { jobProgress(id: $j) { status } }";

/// A queued import in `org`, started by its owner.
async fn queued_job(app: &TestApp, org: &TestOrg, rows: &str) -> String {
    let response = app
        .client
        .post(format!(
            "{}/imports/users?organization={}&sendInvitations=false",
            app.base, org.id
        ))
        .bearer_auth(&org.owner_token)
        .header("content-type", "text/csv")
        .body(format!("username,email,name\n{rows}"))
        .send()
        .await
        .expect("sent");
    let body: Value = response.json().await.expect("JSON");
    let job = &body["data"]["startBulkUserImport"]["job"];
    assert_eq!(job["status"], "QUEUED", "{:?}: {body}", app.backend);
    job["id"].as_str().expect("job id").to_owned()
}

/// How a case ends the credentials of its socket.
#[derive(Debug, Clone, Copy)]
enum Ending {
    Logout,
    RevokedKey,
    Suspension,
    Expiry,
}

/// A socket signed in with credentials about to end, following a job of its own; runs the
/// `ending` and checks that the subscription ends with an error, that an operation started
/// after it gets no data, and that the socket closes with `code` within [`CLOSED_WITHIN`].
async fn socket_ends(app: &TestApp, ending: Ending, code: u16) {
    let name = format!("{ending:?}").to_lowercase();
    let org = app
        .organization_owned_by(&format!("Org {name}"), &format!("{name}owner"))
        .await;
    let job = queued_job(app, &org, &format!("{name}1,{name}1@example.com,One\n")).await;
    // The credential, and the API key's id or the suspended member's.
    let (credential, key) = match ending {
        Ending::RevokedKey => {
            let body = app
                .graphql(
                    Some(&org.owner_token),
                    "mutation { createApiKey(input: {name: \"live\"}) { token apiKey { id } errors { message } } }",
                    json!({}),
                )
                .await;
            let created = &body["data"]["createApiKey"];
            assert_eq!(created["errors"], json!([]), "{body}");
            (
                created["token"].as_str().expect("key").to_owned(),
                created["apiKey"]["id"].clone(),
            )
        }
        // An owner cannot be suspended: an administrator of the organization is.
        Ending::Suspension => {
            let username = format!("{name}admin");
            let member = app.create_user(&username, ADMIN_PASSWORD).await;
            let administrator = app
                .role_id(&org.owner_token, &org.id, "Administrator")
                .await;
            // Added by a SuperAdmin: anyone else's `addMember` only invites.
            let body = app
                .graphql(
                    Some(&app.admin_token().await),
                    "mutation($o: ID!, $u: ID!, $r: ID!) { addMember(input: {organization: $o, \
                     user: $u, role: $r}) { errors { message } } }",
                    json!({ "o": org.id, "u": member, "r": administrator }),
                )
                .await;
            assert_eq!(body["data"]["addMember"]["errors"], json!([]), "{body}");
            (app.token(&username, ADMIN_PASSWORD).await, json!(member))
        }
        _ => (org.owner_token.clone(), Value::Null),
    };

    let mut socket = Socket::signed_in(app, &credential).await;
    assert!(
        socket
            .start("progress", PROGRESS, json!({ "j": job }))
            .await
    );
    match socket.receive(PATIENCE).await {
        Received::Message(message) if message["type"] == "next" => assert_eq!(
            message["payload"]["data"]["jobProgress"]["status"], "QUEUED",
            "{:?} {ending:?}: {message}",
            app.backend
        ),
        other => panic!("{:?} {ending:?}: {other:?}", app.backend),
    }
    // Before: queries and mutations run over the socket.
    let before = socket.query("before", ME).await;
    assert!(
        before["data"]["me"]["username"].is_string(),
        "{:?} {ending:?}: {before}",
        app.backend
    );

    match ending {
        Ending::Logout => {
            let body = app
                .graphql(
                    Some(&credential),
                    "mutation { logout { loggedOut } }",
                    json!({}),
                )
                .await;
            assert_eq!(body["data"]["logout"]["loggedOut"], true, "{body}");
        }
        Ending::RevokedKey => {
            let body = app
                .graphql(
                    Some(&org.owner_token),
                    "mutation($id: ID!) { revokeApiKey(id: $id) { errors { message } } }",
                    json!({ "id": key }),
                )
                .await;
            assert_eq!(body["data"]["revokeApiKey"]["errors"], json!([]), "{body}");
        }
        Ending::Suspension => {
            let admin = app.admin_token().await;
            let body = app
                .graphql(
                    Some(&admin),
                    "mutation($u: ID!) { suspendUser(input: {user: $u}) { errors { message } } }",
                    json!({ "u": key }),
                )
                .await;
            assert_eq!(body["data"]["suspendUser"]["errors"], json!([]), "{body}");
        }
        // Access tokens live 15 minutes.
        Ending::Expiry => app.server.app.clock.advance(time::Duration::minutes(16)),
    }

    // After: the next operation gets no data, the subscription ends with an error, and the
    // socket closes, all within the bound.
    let deadline = tokio::time::Instant::now() + CLOSED_WITHIN;
    socket.start("after", ME, json!({})).await;
    let mut subscription_error = None;
    let closed = loop {
        let within = deadline.saturating_duration_since(tokio::time::Instant::now());
        assert!(
            !within.is_zero(),
            "{:?} {ending:?}: the socket is still open after {CLOSED_WITHIN:?}",
            app.backend
        );
        match socket.receive(within).await {
            Received::Message(message) => {
                assert!(
                    message["payload"]["data"]["me"].is_null(),
                    "{:?} {ending:?}: answered after its credentials ended: {message}",
                    app.backend
                );
                if message["id"] == "progress" {
                    assert_ne!(
                        message["type"], "complete",
                        "{:?} {ending:?}: completed without an error",
                        app.backend
                    );
                    if message["type"] == "error" {
                        subscription_error = Some(message);
                    }
                }
            }
            Received::Closed(code) => break code,
            Received::Gone => panic!(
                "{:?} {ending:?}: the socket ended without a close frame",
                app.backend
            ),
        }
    };
    let error = subscription_error.unwrap_or_else(|| {
        panic!(
            "{:?} {ending:?}: the subscription got no error before the close",
            app.backend
        )
    });
    assert_eq!(
        error["payload"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{error}"
    );
    assert_eq!(closed, Some(code), "{:?} {ending:?}", app.backend);
}

#[tokio::test]
async fn a_websocket_ends_with_its_credentials() {
    on_each_backend(IDLE_WORKER, |app| async move {
        // The idle worker's one look at start must be over before the first job is queued.
        tokio::time::sleep(Duration::from_millis(200)).await;
        socket_ends(&app, Ending::Logout, 4403).await;
        socket_ends(&app, Ending::RevokedKey, 4403).await;
        socket_ends(&app, Ending::Suspension, 4403).await;
        // Last: it moves the server's clock.
        socket_ends(&app, Ending::Expiry, 4401).await;
        app
    })
    .await;
}

#[tokio::test]
async fn credentials_refused_at_connection_init_close_the_socket() {
    on_each_backend(&[], |app| async move {
        app.create_user("leaver", ADMIN_PASSWORD).await;
        let token = app.token("leaver", ADMIN_PASSWORD).await;
        app.graphql(Some(&token), "mutation { logout { loggedOut } }", json!({}))
            .await;
        let mut socket = Socket::open(&app).await;
        socket
            .send_text(
                json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })
                    .to_string(),
            )
            .await;
        match socket.receive(PATIENCE).await {
            Received::Closed(code) => assert_eq!(code, Some(4403), "{:?}", app.backend),
            other => panic!("{:?}: {other:?}", app.backend),
        }
        app
    })
    .await;
}

/// A `connection_init` message of exactly `size` bytes, without credentials.
fn padded_init(size: usize) -> String {
    let empty = json!({ "type": "connection_init", "payload": { "pad": "" } }).to_string();
    json!({ "type": "connection_init", "payload": { "pad": "x".repeat(size - empty.len()) } })
        .to_string()
}

#[tokio::test]
async fn a_websocket_message_is_limited_like_a_request_body() {
    on_each_backend(&[], |app| async move {
        let mut socket = Socket::open(&app).await;
        let init = padded_init(MIB);
        assert_eq!(init.len(), MIB);
        socket.send_text(init).await;
        match socket.receive(PATIENCE).await {
            Received::Message(message) => assert_eq!(message["type"], "connection_ack"),
            other => panic!("{:?}: 1 MiB refused: {other:?}", app.backend),
        }

        let mut socket = Socket::open(&app).await;
        socket.send_text(padded_init(MIB + 1)).await;
        match socket.receive(PATIENCE).await {
            Received::Closed(code) => assert_eq!(code, Some(1009), "{:?}", app.backend),
            Received::Gone => {}
            Received::Message(message) => {
                panic!("{:?}: 1 MiB + 1 accepted: {message}", app.backend)
            }
        }
        app
    })
    .await;
}

/// What a raw HTTP exchange gave.
#[derive(Debug)]
struct RawAnswer {
    status: u16,
    body: String,
    /// Body bytes the client managed to send before the answer.
    written: u64,
}

/// Reads an HTTP/1.1 response (status and body) until its announced length or the end of the
/// connection.
async fn read_response(reader: &mut (impl tokio::io::AsyncRead + Unpin)) -> (u16, String) {
    let text = crate::support::read_http_answer(reader, PATIENCE).await;
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// POSTs `prefix`, `filler` bytes of CSV-looking text and `suffix` to `target` with their
/// total as `Content-Length`, writing while the answer is awaited; stops writing at the
/// answer.
async fn post_streamed(
    app: &TestApp,
    target: &str,
    headers: &str,
    prefix: Vec<u8>,
    filler: usize,
    suffix: Vec<u8>,
) -> RawAnswer {
    let address = app.server.local_addr;
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connects");
    let (mut reader, mut writer) = stream.into_split();
    let length = prefix.len() + filler + suffix.len();
    let head = format!(
        "POST {target} HTTP/1.1\r\nHost: {address}\r\n{headers}Content-Length: {length}\r\n\r\n"
    );
    let written = Arc::new(AtomicU64::new(0));
    let sender = tokio::spawn({
        let written = written.clone();
        async move {
            writer.write_all(head.as_bytes()).await?;
            let chunk = b"name0001,name0001@example.com,Somebody\n".repeat(1700);
            let mut parts = vec![prefix];
            let mut left = filler;
            while left > 0 {
                let take = left.min(chunk.len());
                parts.push(chunk[..take].to_vec());
                left -= take;
            }
            parts.push(suffix);
            for part in parts {
                writer.write_all(&part).await?;
                written.fetch_add(part.len() as u64, Ordering::Relaxed);
            }
            std::io::Result::Ok(writer)
        }
    });
    let (status, body) = read_response(&mut reader).await;
    sender.abort();
    RawAnswer {
        status,
        body,
        written: written.load(Ordering::Relaxed),
    }
}

/// 40 MiB of CSV to `/imports/users`, with `authorization` (a header line or nothing).
async fn csv_upload(app: &TestApp, organization: &str, authorization: &str) -> RawAnswer {
    post_streamed(
        app,
        &format!("/imports/users?organization={organization}"),
        &format!("{authorization}Content-Type: text/csv\r\n"),
        b"username,email,name\n".to_vec(),
        40 * MIB,
        Vec::new(),
    )
    .await
}

/// 40 MiB in a GraphQL multipart request starting an import, with `authorization`.
async fn multipart_upload(app: &TestApp, organization: &str, authorization: &str) -> RawAnswer {
    let operations = json!({
        "query": "mutation($o: ID!, $f: Upload!) { startBulkUserImport(organization: $o, file: $f) { job { id } } }",
        "variables": { "o": organization, "f": null },
    });
    let prefix = format!(
        "--XYZ\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{operations}\r\n\
         --XYZ\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{{\"0\": [\"variables.f\"]}}\r\n\
         --XYZ\r\nContent-Disposition: form-data; name=\"0\"; filename=\"people.csv\"\r\n\
         Content-Type: text/csv\r\n\r\nusername,email,name\n"
    );
    post_streamed(
        app,
        "/graphql",
        &format!("{authorization}Content-Type: multipart/form-data; boundary=XYZ\r\n"),
        prefix.into_bytes(),
        40 * MIB,
        b"\r\n--XYZ--\r\n".to_vec(),
    )
    .await
}

#[tokio::test]
async fn an_upload_is_refused_from_its_headers_before_its_body_is_read() {
    on_each_backend(&[], |app| async move {
        let org = app.organization_owned_by("Uploads", "uploader").await;
        let outsider = app.organization_owned_by("Elsewhere", "outsider").await;
        app.create_user("nobody", ADMIN_PASSWORD).await;
        let nobody = app.token("nobody", ADMIN_PASSWORD).await;
        let read = || app.server.app.body_bytes_read.total();
        let before = read();

        let outsider_header = format!("Authorization: Bearer {}\r\n", outsider.owner_token);
        let nobody_header = format!("Authorization: Bearer {nobody}\r\n");
        let cases = [
            (
                "anonymous CSV",
                csv_upload(&app, &org.id, "").await,
                401,
                "UNAUTHENTICATED",
            ),
            (
                "anonymous multipart",
                multipart_upload(&app, &org.id, "").await,
                401,
                "UNAUTHENTICATED",
            ),
            (
                "a garbage token",
                csv_upload(&app, &org.id, "Authorization: Bearer garbage\r\n").await,
                401,
                "UNAUTHENTICATED",
            ),
            (
                "CSV to another organization",
                csv_upload(&app, &org.id, &outsider_header).await,
                404,
                "NOT_FOUND",
            ),
            (
                "multipart from a member of no organization",
                multipart_upload(&app, &org.id, &nobody_header).await,
                403,
                "FORBIDDEN",
            ),
        ];
        let total = (40 * MIB) as u64;
        for (what, answer, status, code) in cases {
            assert_eq!(
                answer.status, status,
                "{:?} {what}: {answer:?}",
                app.backend
            );
            let body: Value =
                serde_json::from_str(&answer.body).unwrap_or_else(|_| panic!("{what}: {answer:?}"));
            assert_eq!(
                body["errors"][0]["extensions"]["code"], code,
                "{what}: {body}"
            );
            assert!(
                answer.written < total,
                "{:?} {what}: the whole body was taken before the answer",
                app.backend
            );
        }
        // Of the five 40 MiB bodies, the routes read at most 64 KiB (in fact nothing)...
        let uploads_read = read() - before;
        assert!(
            uploads_read <= 64 * 1024,
            "{:?}: {uploads_read} bytes of refused uploads were read",
            app.backend
        );
        // ... and the count sees what is read: a 200 KiB JSON body is, whole.
        let padded = format!("{{ version }}{}", " ".repeat(200 * 1024));
        app.graphql(None, &padded, json!({})).await;
        assert!(
            read() - before - uploads_read >= u64::try_from(padded.len()).expect("size"),
            "{:?}",
            app.backend
        );
        app
    })
    .await;
}

/// Sends a request announcing `length` body bytes, sends `sent` of them, then nothing.
async fn stalled(app: &TestApp, target: &str, headers: &str, length: usize, sent: &[u8]) -> u16 {
    let address = app.server.local_addr;
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connects");
    let head = format!(
        "POST {target} HTTP/1.1\r\nHost: {address}\r\n{headers}Content-Length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    stream.write_all(sent).await.expect("part of the body");
    let (status, _) = read_response(&mut stream).await;
    status
}

#[tokio::test]
async fn a_body_that_stops_arriving_is_given_up_with_408() {
    on_each_backend(&["--body-idle-timeout-seconds", "1"], |app| async move {
        let org = app.organization_owned_by("Slow", "slowpoke").await;
        let csv = stalled(
            &app,
            &format!("/imports/users?organization={}", org.id),
            &format!(
                "Authorization: Bearer {}\r\nContent-Type: text/csv\r\n",
                org.owner_token
            ),
            10_000,
            b"username,email,name\nslow1,slow1@example.com,Slow\n",
        )
        .await;
        assert_eq!(csv, 408, "{:?}: CSV", app.backend);
        let json = stalled(
            &app,
            "/graphql",
            "Content-Type: application/json\r\n",
            10_000,
            b"{\"query\": \"{ version }\", ",
        )
        .await;
        assert_eq!(json, 408, "{:?}: JSON", app.backend);
        // Nothing was imported from the stalled file.
        let jobs = app
            .graphql(
                Some(&org.owner_token),
                "query($o: ID!) { jobs(filter: {organization: $o}) { nodes { id } } }",
                json!({ "o": org.id }),
            )
            .await;
        assert_eq!(jobs["data"]["jobs"]["nodes"], json!([]), "{jobs}");
        app
    })
    .await;
}
