//! Every request to `/graphql` that is not a GraphQL request (bad JSON, a wrong content type,
//! a body too large, no `query`, a broken query string, a batch) is answered as GraphQL
//! answers: JSON, `{"errors": [{"message", "extensions": {"code": "BAD_REQUEST"}}]}`, with a
//! message for people and an HTTP status saying what kind of failure it is (issue 22, part 2).

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;

use crate::support::{TestApp, on_each_backend};

/// Generous: what a test waits for something that must come.
const PATIENCE: Duration = Duration::from_secs(60);

/// What an HTTP exchange gave.
#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.text().await.expect("a body");
    Answer {
        status,
        content_type,
        body,
    }
}

async fn post(app: &TestApp, content_type: Option<&str>, body: impl Into<Vec<u8>>) -> Answer {
    post_as(app, None, content_type, body).await
}

async fn post_as(
    app: &TestApp,
    token: Option<&str>,
    content_type: Option<&str>,
    body: impl Into<Vec<u8>>,
) -> Answer {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.base))
        .body(body.into());
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    answer(request.send().await.expect("the server answers")).await
}

async fn get(app: &TestApp, query_string: &str) -> Answer {
    let response = app
        .client
        .get(format!("{}/graphql{query_string}", app.base))
        .send()
        .await
        .expect("the server answers");
    answer(response).await
}

/// POSTs `size` bytes of a JSON request in chunks, without a `Content-Length`: the server
/// learns that it is too large only while reading it.
async fn post_chunked(app: &TestApp, size: usize) -> Answer {
    let address = app.server.local_addr;
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connects");
    let (mut reader, mut writer) = stream.into_split();
    let frame = json!({ "query": "{ version }", "variables": { "p": "" } }).to_string();
    let body =
        json!({ "query": "{ version }", "variables": { "p": "x".repeat(size - frame.len()) } })
            .to_string();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n"
    );
    // Written while the answer is awaited: the server may answer before reading it all.
    let sender = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        for chunk in body.as_bytes().chunks(16 * 1024) {
            writer
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            writer.write_all(chunk).await?;
            writer.write_all(b"\r\n").await?;
        }
        writer.write_all(b"0\r\n\r\n").await?;
        std::io::Result::Ok(writer)
    });
    let text = crate::support::read_http_answer(&mut reader, PATIENCE).await;
    sender.abort();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Answer {
        status: head
            .split(' ')
            .nth(1)
            .and_then(|status| status.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP answer: {text:?}")),
        content_type: crate::support::http_header(head, "content-type").unwrap_or_default(),
        body: body.to_owned(),
    }
}

/// The answer is a GraphQL error with code `BAD_REQUEST` and `status`, as JSON, whose message
/// contains `expected` and no Rust debug text; returns the message.
fn assert_refused(what: &str, answer: &Answer, status: u16, expected: &str) -> String {
    assert_eq!(answer.status, status, "{what}: {answer:?}");
    assert!(
        answer.content_type.starts_with("application/json"),
        "{what}: {answer:?}"
    );
    let body: Value = serde_json::from_str(&answer.body)
        .unwrap_or_else(|error| panic!("{what}: not JSON ({error}): {answer:?}"));
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{what}: {body}");
    assert_eq!(
        errors[0]["extensions"]["code"], "BAD_REQUEST",
        "{what}: {body}"
    );
    assert!(body.get("data").is_none(), "{what}: {body}");
    let message = errors[0]["message"].as_str().expect("a message").to_owned();
    assert!(message.contains(expected), "{what}: {message}");
    for debug in [
        "InvalidRequest(",
        "Error(",
        "Io(",
        "Custom {",
        "UnsupportedBatch",
    ] {
        assert!(!message.contains(debug), "{what}: {message}");
    }
    message
}

#[tokio::test]
async fn what_is_not_a_graphql_request_is_answered_as_a_graphql_error_with_a_code() {
    on_each_backend(&[], |app| async move {
        // Multipart requests carry uploads: they are read only from someone who may import.
        let admin = app.admin_token().await;
        let json = Some("application/json");
        let version = br#"{"query": "{ version }"}"#;
        let cases = [
            (
                "malformed JSON",
                post(&app, json, &b"{\"query\": "[..]).await,
                400,
                "not valid JSON",
            ),
            (
                "an empty body",
                post(&app, json, Vec::new()).await,
                400,
                "not valid JSON",
            ),
            (
                "a wrong content type",
                post(&app, Some("text/plain"), &version[..]).await,
                415,
                "application/json",
            ),
            (
                "no content type",
                post(&app, None, &version[..]).await,
                415,
                "application/json",
            ),
            (
                "no query",
                post(&app, json, &br#"{"variables": {}}"#[..]).await,
                400,
                "has no `query`",
            ),
            (
                "a query that is not a string",
                post(&app, json, &br#"{"query": 7}"#[..]).await,
                400,
                "not a GraphQL request",
            ),
            (
                "a JSON value that is not an object",
                post(&app, json, &b"42"[..]).await,
                400,
                "not a GraphQL request",
            ),
            (
                "a batch",
                post(&app, json, &br#"[{"query": "{ version }"}]"#[..]).await,
                400,
                "batches",
            ),
            (
                "a broken multipart form",
                post_as(
                    &app,
                    Some(&admin),
                    Some("multipart/form-data; boundary=x"),
                    &b"--x--"[..],
                )
                .await,
                400,
                "multipart",
            ),
            (
                "a body announced over the limit",
                post(
                    &app,
                    json,
                    vec![b' '; steward_server::http::MAX_BODY_BYTES + 1],
                )
                .await,
                413,
                "larger than the limit",
            ),
            (
                "a chunked body past the limit",
                post_chunked(&app, steward_server::http::MAX_BODY_BYTES + 1).await,
                413,
                "larger than the limit",
            ),
            (
                "a broken query string",
                get(&app, "?query=%7B&variables=%5B").await,
                400,
                "invalid variables",
            ),
            (
                "GET without a query",
                get(&app, "").await,
                400,
                "has no `query`",
            ),
        ];
        for (what, answer, status, expected) in cases {
            assert_refused(
                &format!("{:?}: {what}", app.backend),
                &answer,
                status,
                expected,
            );
        }
        // What is a GraphQL request is answered, a chunked body within the limit too.
        let fine = post(&app, Some("application/json; charset=utf-8"), &version[..]).await;
        assert_eq!(fine.status, 200, "{fine:?}");
        assert!(fine.body.contains("\"version\""), "{fine:?}");
        let chunked = post_chunked(&app, 64 * 1024).await;
        assert_eq!(chunked.status, 200, "{chunked:?}");
        let fine = get(&app, "?query=%7B%20version%20%7D").await;
        assert_eq!(fine.status, 200, "{fine:?}");
        app
    })
    .await;
}
