//! Automatic persisted queries (Apollo's protocol, issue 22 part 7): a console sends the
//! SHA-256 of a query instead of its text; a hash the server does not know is answered
//! `PERSISTED_QUERY_NOT_FOUND`, the console sends the text with the hash, and from then on the
//! hash alone runs the query, over POST and GET, held to the same rules as its text.

use serde_json::{Value, json};

use crate::support::{ADMIN_PASSWORD, TestApp, on_each_backend};

fn sha256_hex(text: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

/// POSTs `body` to `/graphql`; the status and the JSON answer.
async fn post(app: &TestApp, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = app.client.post(format!("{}/graphql", app.base)).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

/// Sends the hash of `text` alone, by POST.
async fn by_hash(app: &TestApp, token: Option<&str>, text: &str) -> (u16, Value) {
    post(
        app,
        token,
        json!({ "extensions": persisted(&sha256_hex(text)) }),
    )
    .await
}

/// Sends the hash of `text` alone, by GET (Apollo's `useGETForHashedQueries`).
async fn by_hash_over_get(app: &TestApp, token: Option<&str>, text: &str) -> (u16, Value) {
    let extensions = persisted(&sha256_hex(text)).to_string();
    let mut request = app
        .client
        .get(format!("{}/graphql", app.base))
        .query(&[("extensions", extensions.as_str())]);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

/// Sends `text` with its hash: the server keeps it.
async fn with_text(app: &TestApp, token: Option<&str>, text: &str) -> (u16, Value) {
    post(
        app,
        token,
        json!({ "query": text, "extensions": persisted(&sha256_hex(text)) }),
    )
    .await
}

fn assert_not_found(what: &str, (status, body): &(u16, Value)) {
    assert_eq!(*status, 200, "{what}: {body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND",
        "{what}: {body}"
    );
    assert_eq!(
        body["errors"][0]["message"], "PersistedQueryNotFound",
        "{what}: {body}"
    );
}

fn assert_answered(what: &str, (status, body): &(u16, Value), data: Value) {
    assert_eq!(*status, 200, "{what}: {body}");
    assert!(body.get("errors").is_none(), "{what}: {body}");
    assert_eq!(body["data"], data, "{what}: {body}");
}

fn assert_bad_request(what: &str, (status, body): &(u16, Value), expected: &str) {
    assert_eq!(*status, 400, "{what}: {body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_REQUEST",
        "{what}: {body}"
    );
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains(expected), "{what}: {body}");
}

#[tokio::test]
async fn a_hash_alone_runs_the_query_once_its_text_was_sent_with_it() {
    on_each_backend(&[], |app| async move {
        let admin = app.admin_token().await;
        app.create_user("ann", ADMIN_PASSWORD).await;
        let ann = app.token("ann", ADMIN_PASSWORD).await;
        let me = "query Me { me { username } }";

        assert_not_found("unknown, by POST", &by_hash(&app, Some(&admin), me).await);
        assert_not_found(
            "unknown, by GET",
            &by_hash_over_get(&app, Some(&admin), me).await,
        );
        assert_answered(
            "the text with its hash",
            &with_text(&app, Some(&admin), me).await,
            json!({ "me": { "username": "admin" } }),
        );
        // The text is kept, not the answer: each caller gets their own.
        assert_answered(
            "known, by POST",
            &by_hash(&app, Some(&ann), me).await,
            json!({ "me": { "username": "ann" } }),
        );
        assert_answered(
            "known, by GET",
            &by_hash_over_get(&app, Some(&admin), me).await,
            json!({ "me": { "username": "admin" } }),
        );
        // GET runs queries only, whether the text or its hash is sent.
        let logout = "mutation { logout { loggedOut } }";
        with_text(&app, None, logout).await;
        let (status, body) = by_hash_over_get(&app, Some(&ann), logout).await;
        assert_eq!(status, 405, "{body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_REQUEST");
        assert_answered(
            "ann is still logged in",
            &by_hash(&app, Some(&ann), me).await,
            json!({ "me": { "username": "ann" } }),
        );
        app
    })
    .await;
}

#[tokio::test]
async fn a_hash_that_is_not_the_texts_or_not_a_hash_is_refused() {
    on_each_backend(&[], |app| async move {
        let version = "{ version }";
        let other = "query Other { version }";
        let lying = post(
            &app,
            None,
            json!({ "query": version, "extensions": persisted(&sha256_hex(other)) }),
        )
        .await;
        assert_bad_request(
            "a hash of another text",
            &lying,
            "not the SHA-256 of `query`",
        );
        // Nothing was kept under either hash.
        assert_not_found("the other text's hash", &by_hash(&app, None, other).await);
        assert_not_found("the text's own hash", &by_hash(&app, None, version).await);
        for (what, extension) in [
            (
                "version 2",
                json!({ "persistedQuery": { "version": 2, "sha256Hash": sha256_hex(version) } }),
            ),
            (
                "a short hash",
                json!({ "persistedQuery": { "version": 1, "sha256Hash": "abc" } }),
            ),
            ("no hash", json!({ "persistedQuery": { "version": 1 } })),
        ] {
            let answer = post(&app, None, json!({ "extensions": extension })).await;
            assert_bad_request(what, &answer, "extensions.persistedQuery");
        }
        // The same text with its right hash is answered.
        let (status, body) = with_text(&app, None, version).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["data"]["version"].is_string(), "{body}");
        app
    })
    .await;
}

#[tokio::test]
async fn a_persisted_query_is_held_to_the_limits_as_its_text_is() {
    on_each_backend(&["--graphql-max-depth", "3"], |app| async move {
        let admin = app.admin_token().await;
        let deep = "{ me { memberships { defaultRole { name } } } }";
        for answer in [
            with_text(&app, Some(&admin), deep).await,
            by_hash(&app, Some(&admin), deep).await,
            by_hash_over_get(&app, Some(&admin), deep).await,
        ] {
            let (status, body) = &answer;
            assert_eq!(*status, 200, "{body}");
            assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_REQUEST");
            let message = body["errors"][0]["message"].as_str().unwrap_or_default();
            assert!(message.contains("nested too deep"), "{body}");
        }
        app
    })
    .await;
}

#[tokio::test]
async fn past_its_budget_the_cache_forgets_the_least_recently_used_texts() {
    // Room for two of the texts below (300 bytes each, plus what an entry costs), not three.
    on_each_backend(
        &["--graphql-persisted-query-cache-bytes", "1000"],
        |app| async move {
            let text = |letter: &str| format!("{{ version }} #{}", letter.repeat(300 - 13));
            let (a, b, c) = (text("a"), text("b"), text("c"));
            assert_eq!(a.len(), 300);
            for text in [&a, &b] {
                assert_eq!(with_text(&app, None, text).await.0, 200);
            }
            let answered = |answer: &(u16, Value)| answer.1["data"]["version"].is_string();
            assert!(answered(&by_hash(&app, None, &a).await), "a is kept");
            // c makes room for itself by forgetting b, the least recently used.
            assert_eq!(with_text(&app, None, &c).await.0, 200);
            assert_not_found("b, forgotten", &by_hash(&app, None, &b).await);
            assert!(answered(&by_hash(&app, None, &a).await), "a is kept");
            assert!(answered(&by_hash(&app, None, &c).await), "c is kept");
            app
        },
    )
    .await;
    // A budget of 0 turns persisted queries off: a hash alone is not supported, a text is
    // answered.
    on_each_backend(
        &["--graphql-persisted-query-cache-bytes", "0"],
        |app| async move {
            let version = "{ version }";
            for _ in 0..2 {
                let (status, body) = by_hash(&app, None, version).await;
                assert_eq!(status, 200, "{body}");
                assert_eq!(
                    body["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_SUPPORTED",
                    "{body}"
                );
                assert_eq!(body["errors"][0]["message"], "PersistedQueryNotSupported");
                let (status, body) = with_text(&app, None, version).await;
                assert_eq!(status, 200, "{body}");
                assert!(body["data"]["version"].is_string(), "{body}");
            }
            app
        },
    )
    .await;
}
