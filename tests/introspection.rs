//! Introspection that tools can use: with introspection on, the exact introspection queries
//! of graphql-js 16 and of the embedded GraphiQL are answered over HTTP and over WebSocket,
//! for introspection does not count toward depth and complexity; everything else is limited
//! as before, and with introspection off (production) the query is refused, saying so.

use serde_json::{Value, json};

use crate::support::{TestApp, error_code, on_each_backend};

/// The exact queries (after each fixture's leading comment lines), with the operation name
/// their sender gives.
const INTROSPECTION_QUERIES: [(&str, &str); 3] = [
    (
        "graphql-js 16 getIntrospectionQuery()",
        include_str!("fixtures/introspection-graphql-js-16.graphql"),
    ),
    (
        "graphql-js 16 getIntrospectionQuery() with every option",
        include_str!("fixtures/introspection-graphql-js-16-all-options.graphql"),
    ),
    (
        "the embedded GraphiQL",
        include_str!("fixtures/introspection-graphiql-4.graphql"),
    ),
];

/// Twelve fields deep, past the default depth limit of 10.
const TWELVE_DEEP: &str = "me { memberships { organization { members(first: 1) { nodes { \
    user { memberships { organization { members(first: 1) { nodes { user { id } } } } } } \
    } } } } }";

fn exact(fixture: &str) -> &str {
    let mut rest = fixture;
    while rest.starts_with('#') {
        rest = rest.split_once('\n').map_or("", |(_, after)| after);
    }
    rest
}

/// POSTs `query` as GraphiQL sends its introspection query: with its operation name.
async fn post(app: &TestApp, query: &str) -> Value {
    app.client
        .post(format!("{}/graphql", app.base))
        .json(&json!({ "query": query, "operationName": "IntrospectionQuery" }))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON")
}

/// The messages of the errors a WebSocket operation ended with (`next` with errors, or
/// `error`).
fn socket_errors(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .flat_map(|message| match message["type"].as_str() {
            Some("next") => message["payload"]["errors"].as_array().cloned(),
            Some("error") => message["payload"].as_array().cloned(),
            _ => None,
        })
        .flatten()
        .map(|error| error["message"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn query_type(body: &Value) -> &Value {
    &body["data"]["__schema"]["queryType"]["name"]
}

#[tokio::test]
async fn the_introspection_queries_of_graphql_js_and_graphiql_are_answered_when_introspection_is_on()
 {
    on_each_backend(&["--dev"], |app| async move {
        for (sender, fixture) in INTROSPECTION_QUERIES {
            let query = exact(fixture);
            assert!(query.contains("ofType"), "{sender}: {query}");
            let body = post(&app, query).await;
            assert!(body.get("errors").is_none(), "{sender}: {body}");
            assert_eq!(query_type(&body), "Query", "{sender}: {body}");
            let types = body["data"]["__schema"]["types"].as_array().expect("types");
            assert!(
                types.iter().any(|ty| ty["name"] == "User"),
                "{sender}: {body}"
            );

            // Over WebSocket (the schema with extensions) as well.
            let messages = app.subscribe(json!({}), query, json!({})).await;
            assert_eq!(socket_errors(&messages), Vec::<String>::new(), "{sender}");
            assert_eq!(
                query_type(&messages[0]["payload"]),
                "Query",
                "{sender}: {messages:?}"
            );
        }
        app
    })
    .await;
}

#[tokio::test]
async fn a_query_past_the_depth_limit_is_refused_even_beside_introspection() {
    on_each_backend(&["--dev"], |app| async move {
        let token = app.admin_token().await;
        for query in [
            format!("{{ {TWELVE_DEEP} }}"),
            format!("{{ __schema {{ queryType {{ name }} }} {TWELVE_DEEP} }}"),
            exact(INTROSPECTION_QUERIES[0].1).replace(
                "query IntrospectionQuery {",
                &format!("query IntrospectionQuery {{ {TWELVE_DEEP}"),
            ),
        ] {
            let body = app.graphql(Some(&token), &query, json!({})).await;
            assert_eq!(error_code(&body), "BAD_REQUEST", "{body}");
            assert_eq!(
                body["errors"][0]["message"], "Query is nested too deep.",
                "{body}"
            );
            assert_eq!(body["data"], Value::Null, "{body}");

            let messages = app
                .subscribe(
                    json!({ "Authorization": format!("Bearer {token}") }),
                    &query,
                    json!({}),
                )
                .await;
            assert_eq!(
                socket_errors(&messages),
                ["Query is nested too deep."],
                "{messages:?}"
            );
        }
        app
    })
    .await;
}

#[tokio::test]
async fn without_introspection_the_introspection_queries_are_refused_saying_it_is_off() {
    on_each_backend(&[], |app| async move {
        for (sender, fixture) in INTROSPECTION_QUERIES {
            let query = exact(fixture);
            let body = post(&app, query).await;
            assert_eq!(error_code(&body), "BAD_REQUEST", "{sender}: {body}");
            let message = body["errors"][0]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("introspection is off") && message.contains("--dev"),
                "{sender}: {body}"
            );
            assert_eq!(body["data"], Value::Null, "{sender}: {body}");

            let messages = app.subscribe(json!({}), query, json!({})).await;
            let errors = socket_errors(&messages);
            assert!(
                errors.len() == 1 && errors[0].contains("introspection is off"),
                "{sender}: {messages:?}"
            );
        }
        app
    })
    .await;
}
