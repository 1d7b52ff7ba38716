//! The GraphQL limits, each tried just under and just over: an operation past a limit is
//! refused with `BAD_REQUEST` before any resolver runs, so a mutation past it changes
//! nothing.

use serde_json::{Value, json};

use crate::support::{TestApp, error_code, on_each_backend};

const PROFILE: &str = "mutation($input: ProfileInput!) { updateProfile(input: $input) ";

fn message(body: &Value) -> String {
    body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn full_name(app: &TestApp, token: &str) -> Value {
    let body = app
        .graphql(Some(token), "{ me { fullName } }", json!({}))
        .await;
    body["data"]["me"]["fullName"].clone()
}

/// Runs `selection` on `updateProfile` with a new full name and answers whether it ran, after
/// checking that a refusal carries `words` and left the name alone.
async fn profile_update_runs(
    app: &TestApp,
    token: &str,
    selection: &str,
    name: &str,
    words: &str,
) -> bool {
    let before = full_name(app, token).await;
    let body = app
        .graphql(
            Some(token),
            &format!("{PROFILE}{selection} }}"),
            json!({ "input": { "fullName": name } }),
        )
        .await;
    if body.get("errors").is_none() {
        assert_eq!(full_name(app, token).await, json!(name), "{body}");
        return true;
    }
    assert_eq!(error_code(&body), "BAD_REQUEST", "{body}");
    assert!(message(&body).contains(words), "{body}");
    assert_eq!(body["data"], Value::Null, "{body}");
    assert_eq!(
        full_name(app, token).await,
        before,
        "a refused mutation ran"
    );
    false
}

#[tokio::test]
async fn depth_complexity_and_aliases_are_refused_just_past_their_limits_before_running() {
    let limits = [
        "--graphql-max-depth",
        "3",
        "--graphql-max-complexity",
        "12",
        "--graphql-max-aliases",
        "2",
    ];
    on_each_backend(&limits, |app| async move {
        let token = app.admin_token().await;
        // Depth: updateProfile > user > fullName is 3; one level more is 4.
        assert!(
            profile_update_runs(
                &app,
                &token,
                "{ user { fullName } }",
                "Depth Three",
                "nested too deep"
            )
            .await
        );
        assert!(
            !profile_update_runs(
                &app,
                &token,
                "{ user { memberships { status } } }",
                "Depth Four",
                "nested too deep"
            )
            .await
        );
        // Complexity: 1 (updateProfile) + 1 (user) + 10 fields = 12; an eleventh makes 13.
        let ten = "id username email fullName status language emailSubscription country phone \
                   mfaEnabled";
        let twelve = format!("{{ user {{ {ten} }} }}");
        let thirteen = format!("{{ user {{ {ten} mustChangePassword }} }}");
        assert!(
            profile_update_runs(&app, &token, &twelve, "Complexity Twelve", "too complex").await
        );
        assert!(
            !profile_update_runs(
                &app,
                &token,
                &thirteen,
                "Complexity Thirteen",
                "too complex"
            )
            .await
        );
        // Aliases: two are allowed, a third is refused wherever it is.
        let two = "{ u: user { n: fullName } }";
        let three = "{ u: user { n: fullName c: country } }";
        assert!(profile_update_runs(&app, &token, two, "Two Aliases", "aliased fields").await);
        assert!(!profile_update_runs(&app, &token, three, "Three Aliases", "aliased fields").await);
        let spread = app
            .graphql(
                Some(&token),
                "{ a: version b: version ...F } fragment F on Query { c: version }",
                json!({}),
            )
            .await;
        assert_eq!(error_code(&spread), "BAD_REQUEST", "{spread}");
        app
    })
    .await;
}

#[tokio::test]
async fn the_default_limits_allow_what_the_console_asks() {
    // The production defaults (depth 10, complexity 1000, 30 aliases) with a realistic
    // console page: an organization's members with their roles and groups.
    on_each_backend(&[], |app| async move {
        let token = app.admin_token().await;
        let body = app
            .graphql(
                Some(&token),
                "{ me { id username memberships { status organization { id name \
                 members(first: 20) { totalCount nodes { status user { id username } \
                 roles { id role { name } } } } } } } }",
                json!({}),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        app
    })
    .await;
}

#[tokio::test]
async fn a_body_of_exactly_the_limit_is_read_and_one_byte_more_gets_413() {
    on_each_backend(&[], |app| async move {
        let limit = steward_server::http::MAX_BODY_BYTES;
        let body_of = |length: usize| {
            let frame = json!({ "query": "{ version }", "variables": { "p": "" } }).to_string();
            let padding = "x".repeat(length - frame.len());
            json!({ "query": "{ version }", "variables": { "p": padding } }).to_string()
        };
        for (length, status) in [(limit, 200), (limit + 1, 413)] {
            let body = body_of(length);
            assert_eq!(body.len(), length);
            let response = app
                .client
                .post(format!("{}/graphql", app.base))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("sent");
            assert_eq!(
                response.status(),
                status,
                "{length} bytes on {:?}",
                app.backend
            );
        }
        app
    })
    .await;
}

#[tokio::test]
async fn introspection_and_suggestions_are_off_in_production_and_on_in_development() {
    for (args, development) in [(&[][..], false), (&["--dev"][..], true)] {
        on_each_backend(args, |app| async move {
            let schema = app
                .graphql(None, "{ __schema { queryType { name } } }", json!({}))
                .await;
            let typo = app.graphql(None, "{ versio }", json!({})).await;
            assert_eq!(error_code(&typo), "BAD_REQUEST", "{typo}");
            if development {
                assert_eq!(schema["data"]["__schema"]["queryType"]["name"], "Query");
                assert!(message(&typo).contains("Did you mean"), "{typo}");
            } else {
                assert_eq!(schema["data"]["__schema"], Value::Null, "{schema}");
                assert!(!message(&typo).contains("Did you mean"), "{typo}");
            }
            app
        })
        .await;
    }
}

#[tokio::test]
async fn a_request_past_the_timeout_is_cancelled_and_rolled_back() {
    on_each_backend(&["--graphql-timeout-ms", "1500"], |app| async move {
        let token = app.admin_token().await;
        let update = format!("{PROFILE}{{ user {{ fullName }} }} }}");
        // Under the limit: a write that finds the database free.
        let quick = app
            .graphql(
                Some(&token),
                &update,
                json!({ "input": { "fullName": "Before" } }),
            )
            .await;
        assert_eq!(
            quick["data"]["updateProfile"]["user"]["fullName"], "Before",
            "{quick}"
        );
        // Over it: the same write waits on a lock a test transaction holds.
        let lock = app.database.hold_write_lock().await.expect("lock");
        let response = app
            .client
            .post(format!("{}/graphql", app.base))
            .bearer_auth(&token)
            .json(&json!({ "query": update, "variables": { "input": { "fullName": "Stuck" } } }))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 503, "{:?}", app.backend);
        let body: Value = response.json().await.expect("json");
        assert_eq!(error_code(&body), "TIMEOUT", "{body}");
        drop(lock);
        assert_eq!(full_name(&app, &token).await, json!("Before"));
        // The cancelled request left no connection holding a lock: writes go on.
        let after = app
            .graphql(
                Some(&token),
                &update,
                json!({ "input": { "fullName": "After" } }),
            )
            .await;
        assert_eq!(
            after["data"]["updateProfile"]["user"]["fullName"], "After",
            "{after}"
        );
        app
    })
    .await;
}
