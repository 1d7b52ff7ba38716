use serde_json::{Value, json};

use crate::support::{error_code, on_each_backend};

#[tokio::test]
async fn health_readiness_and_graphiql_answer() {
    on_each_backend(&[], |app| async move {
        for (path, expected) in [("/healthz", "ok"), ("/readyz", "ready")] {
            let response = app
                .client
                .get(format!("{}{path}", app.base))
                .send()
                .await
                .expect("sent");
            assert_eq!(response.status(), 200, "{path}");
            assert_eq!(response.text().await.expect("body"), expected);
        }
        let response = app
            .client
            .get(format!("{}/graphiql", app.base))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200);
        assert!(response.headers().contains_key("content-security-policy"));
        assert!(
            response
                .text()
                .await
                .expect("body")
                .contains("/graphiql/assets/graphiql.min.js")
        );
        app
    })
    .await;
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    on_each_backend(&[], |app| async move {
        let response = app
            .client
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .expect("sent");
        let id = response
            .headers()
            .get("x-request-id")
            .expect("a request id");
        assert_eq!(id.len(), 36, "a UUID");
        let response = app
            .client
            .get(format!("{}/healthz", app.base))
            .header("x-request-id", "given-by-the-caller")
            .send()
            .await
            .expect("sent");
        assert_eq!(response.headers()["x-request-id"], "given-by-the-caller");
        app
    })
    .await;
}

#[tokio::test]
async fn queries_may_use_get_but_mutations_may_not() {
    on_each_backend(&[], |app| async move {
        let url = format!("{}/graphql", app.base);
        let response = app
            .client
            .get(&url)
            .query(&[("query", "{ version }")])
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["data"]["version"], env!("CARGO_PKG_VERSION"));

        let mutation =
            "mutation { login(input: {login: \"admin\", password: \"x\"}) { accessToken } }";
        let response = app
            .client
            .get(&url)
            .query(&[("query", mutation)])
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 405);
        let body: Value = response.json().await.expect("json");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("POST")
        );
        app
    })
    .await;
}

#[tokio::test]
async fn syntax_errors_and_unknown_fields_are_client_errors_without_internals() {
    on_each_backend(&[], |app| async move {
        let body = app.graphql(None, "{ me { ", json!({})).await;
        assert!(body["errors"][0]["message"].is_string(), "{body}");
        let body = app.graphql(None, "{ nosuchfield }", json!({})).await;
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("nosuchfield")
        );
        assert!(!body.to_string().to_lowercase().contains("sqlx"));
        app
    })
    .await;
}

#[tokio::test]
async fn depth_limits_refuse_deep_operations_before_they_run() {
    on_each_backend(&["--graphql-max-depth", "3"], |app| async move {
        let token = app.admin_token().await;
        let shallow = app
            .graphql(Some(&token), "{ me { memberships { status } } }", json!({}))
            .await;
        assert!(
            shallow.get("errors").is_none(),
            "{:?}: {shallow}",
            app.backend
        );
        let deep = app
            .graphql(
                Some(&token),
                "{ me { memberships { organization { name } } } }",
                json!({}),
            )
            .await;
        assert!(
            deep["errors"][0]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("nested too deep"),
            "{deep}"
        );
        assert_eq!(deep["data"], Value::Null);
        app
    })
    .await;
}

#[tokio::test]
async fn introspection_can_be_turned_off_in_development_and_on_in_production() {
    on_each_backend(
        &["--dev", "--graphql-introspection", "false"],
        |app| async move {
            let body = app
                .graphql(None, "{ __schema { queryType { name } } }", json!({}))
                .await;
            // Turned off, introspection is refused, saying so.
            assert_eq!(body["data"], Value::Null, "{:?}: {body}", app.backend);
            assert_eq!(error_code(&body), "BAD_REQUEST", "{body}");
            assert!(
                body["errors"][0]["message"]
                    .as_str()
                    .is_some_and(|message| message.contains("introspection is off")),
                "{body}"
            );
            app
        },
    )
    .await;
    on_each_backend(&["--graphql-introspection", "true"], |app| async move {
        let body = app
            .graphql(None, "{ __schema { queryType { name } } }", json!({}))
            .await;
        assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
        app
    })
    .await;
}

#[tokio::test]
async fn batched_operations_are_refused() {
    on_each_backend(&[], |app| async move {
        let response = app
            .client
            .post(format!("{}/graphql", app.base))
            .json(&json!([{ "query": "{ version }" }, { "query": "{ version }" }]))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 400, "{:?}", app.backend);
        app
    })
    .await;
}

#[tokio::test]
async fn oversized_request_bodies_get_413() {
    on_each_backend(&[], |app| async move {
        let padding = "x".repeat(steward_server::http::MAX_BODY_BYTES + 1);
        let response = app
            .client
            .post(format!("{}/graphql", app.base))
            .json(&json!({ "query": "{ version }", "variables": { "padding": padding } }))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 413, "{:?}", app.backend);
        app
    })
    .await;
}
