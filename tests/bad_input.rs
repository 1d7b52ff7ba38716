//! Bad input never becomes a 5xx: broken HTTP requests, broken GraphQL, and every query and
//! mutation of the schema sent garbage arguments. Each answer is a client error with a code,
//! and the server keeps answering.

use serde_json::{Map, Value, json};

use crate::support::{TestApp, on_each_backend};

/// The codes a client error may carry; `INTERNAL`, `UNAVAILABLE` and `TIMEOUT` are the
/// server's failures.
const CLIENT_CODES: [&str; 5] = [
    "BAD_REQUEST",
    "BAD_USER_INPUT",
    "NOT_FOUND",
    "FORBIDDEN",
    "UNAUTHENTICATED",
];

/// Sends a raw body to `/graphql` and checks the answer is a client error, or a success.
async fn post_raw(app: &TestApp, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// Every error of `body` carries a client code, and the status is below 500.
fn assert_client_error(what: &str, status: u16, body: &Value) {
    assert!(status < 500, "{what}: status {status}: {body}");
    if let Some(errors) = body.get("errors").and_then(Value::as_array) {
        for error in errors {
            let code = error["extensions"]["code"].as_str().unwrap_or("<none>");
            assert!(CLIENT_CODES.contains(&code), "{what}: code {code}: {body}");
        }
    }
}

#[tokio::test]
async fn broken_http_requests_are_client_errors() {
    on_each_backend(&[], |app| async move {
        let cases: Vec<(&str, &str, Vec<u8>)> = vec![
            (
                "malformed JSON",
                "application/json",
                b"{\"query\": ".to_vec(),
            ),
            ("not an object", "application/json", b"42".to_vec()),
            ("an empty body", "application/json", Vec::new()),
            (
                "query not a string",
                "application/json",
                br#"{"query": 7}"#.to_vec(),
            ),
            (
                "variables not an object",
                "application/json",
                br#"{"query": "{ version }", "variables": [1]}"#.to_vec(),
            ),
            (
                "a batch",
                "application/json",
                br#"[{"query": "{ version }"}]"#.to_vec(),
            ),
            (
                "wrong content type",
                "text/plain",
                br#"{"query": "{ version }"}"#.to_vec(),
            ),
            (
                "not UTF-8",
                "application/json",
                b"{\"query\": \"\xff\xfe\"}".to_vec(),
            ),
            (
                "multipart without parts",
                "multipart/form-data; boundary=x",
                b"--x--".to_vec(),
            ),
            (
                "a NUL in the query",
                "application/json",
                b"{\"query\": \"{ ver\\u0000sion }\"}".to_vec(),
            ),
        ];
        for (what, content_type, body) in cases {
            let (status, body) = post_raw(&app, content_type, body).await;
            assert!(
                (400..500).contains(&status) || status == 200,
                "{what}: {status} {body}"
            );
            assert_client_error(what, status, &body);
        }
        // GET with a broken query string.
        let response = app
            .client
            .get(format!("{}/graphql?query=%7B&variables=%5B", app.base))
            .send()
            .await
            .expect("sent");
        assert!(response.status().is_client_error() || response.status() == 200);
        app
    })
    .await;
}

#[tokio::test]
async fn broken_operations_and_values_are_client_errors() {
    on_each_backend(&[], |app| async move {
        let token = app.admin_token().await;
        let long = "x".repeat(200_000);
        let cases: Vec<(&str, &str, Value)> = vec![
            ("invalid variables", "query($n: Int) { users(first: $n) { totalCount } }", json!({ "n": "ten" })),
            ("a missing variable", "query($n: Int!) { users(first: $n) { totalCount } }", json!({})),
            ("an integer out of range", "{ users(first: 3000000000) { totalCount } }", json!({})),
            ("a negative page size", "{ users(first: -5) { totalCount } }", json!({})),
            ("a huge page size", "{ users(first: 2147483647) { totalCount } }", json!({})),
            ("an invalid cursor", "{ users(first: 2, after: \"garbage\") { totalCount } }", json!({})),
            ("an invalid id", "{ user(id: \"not-a-uuid\") { id } }", json!({})),
            ("an unknown id", "{ user(id: \"00000000-0000-0000-0000-000000000000\") { id } }", json!({})),
            ("an oversized string", "mutation($i: ProfileInput!) { updateProfile(input: $i) { errors { field } } }", json!({ "i": { "fullName": long } })),
            (
                "an oversized list",
                "mutation($r: [ID!]!) { createApiKey(input: { name: \"k\", roles: $r }) { errors { field } } }",
                json!({ "r": vec!["00000000-0000-0000-0000-000000000000"; 10_000] }),
            ),
            ("an unknown operation", "query A { version }", json!({})),
        ];
        for (what, query, variables) in cases {
            let mut request = json!({ "query": query, "variables": variables });
            if what == "an unknown operation" {
                request["operationName"] = json!("B");
            }
            let response = app
                .client
                .post(format!("{}/graphql", app.base))
                .bearer_auth(&token)
                .json(&request)
                .send()
                .await
                .expect("sent");
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert_client_error(what, status, &body);
        }
        app
    })
    .await;
}

#[tokio::test]
async fn a_csv_file_that_is_not_utf8_is_refused_with_a_reason() {
    on_each_backend(&[], |app| async move {
        let token = app.admin_token().await;
        let organization = app.organization_owned_by("csvorg", "csvowner").await.id;
        let response = app
            .client
            .post(format!(
                "{}/imports/users?organization={organization}",
                app.base
            ))
            .bearer_auth(&token)
            .header("content-type", "text/csv")
            .body(b"username,email,name\n\xff\xfe\xfd,bad@example.com,Bad\n".to_vec())
            .send()
            .await
            .expect("sent");
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("json");
        assert_client_error("non-UTF-8 CSV", status, &body);
        let reason = body.to_string();
        assert!(reason.contains("UTF-8"), "{body}");
        app
    })
    .await;
}

// ---- The schema walk -------------------------------------------------------------------

const INTROSPECTION: &str = "{ __schema { \
    queryType { fields { ...F } } mutationType { fields { ...F } } \
    types { kind name enumValues { name } inputFields { name type { ...T } } } } } \
    fragment F on __Field { name args { name type { ...T } } type { ...T } } \
    fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name \
    ofType { kind name } } } } }";

struct Schema {
    types: Map<String, Value>,
}

impl Schema {
    fn ty(&self, name: &str) -> &Value {
        &self.types[name]
    }

    /// The GraphQL spelling of a type reference (`[ID!]!`).
    fn spell(reference: &Value) -> String {
        match reference["kind"].as_str() {
            Some("NON_NULL") => format!("{}!", Self::spell(&reference["ofType"])),
            Some("LIST") => format!("[{}]", Self::spell(&reference["ofType"])),
            _ => reference["name"].as_str().unwrap_or_default().to_owned(),
        }
    }

    /// The named type under the wrappers.
    fn named(reference: &Value) -> &Value {
        match reference["kind"].as_str() {
            Some("NON_NULL" | "LIST") => Self::named(&reference["ofType"]),
            _ => reference,
        }
    }

    /// A value of the right shape with garbage content; `variant` picks which garbage.
    fn garbage(&self, reference: &Value, variant: usize, depth: usize) -> Value {
        match reference["kind"].as_str() {
            Some("NON_NULL") => self.garbage(&reference["ofType"], variant, depth),
            Some("LIST") => match variant {
                0 => json!([self.garbage(&reference["ofType"], variant, depth)]),
                1 => json!([]),
                _ => Value::Array(vec![self.garbage(&reference["ofType"], 0, depth); 300]),
            },
            Some("ENUM") => {
                let values = self.ty(reference["name"].as_str().unwrap_or_default())["enumValues"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                values
                    .get(variant % values.len().max(1))
                    .map_or(Value::Null, |value| value["name"].clone())
            }
            Some("INPUT_OBJECT") => {
                if depth > 4 {
                    return Value::Null;
                }
                let fields = self.ty(reference["name"].as_str().unwrap_or_default())["inputFields"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let mut object = Map::new();
                for field in fields {
                    let name = field["name"].as_str().unwrap_or_default().to_owned();
                    object.insert(name, self.garbage(&field["type"], variant, depth + 1));
                }
                Value::Object(object)
            }
            _ => scalar_garbage(reference["name"].as_str().unwrap_or_default(), variant),
        }
    }
}

fn scalar_garbage(scalar: &str, variant: usize) -> Value {
    match (scalar, variant) {
        ("ID", 0) => json!("not-a-uuid"),
        ("ID", 1) => json!("00000000-0000-0000-0000-000000000000"),
        ("ID", _) => json!("'; DROP TABLE users; --\u{0}\u{202e}"),
        ("String", 0) => json!(""),
        ("String", 1) => json!("x".repeat(70_000)),
        ("String", _) => json!("\u{0}\u{7}<script>alert(1)</script>'\"; --\u{202e}\u{1F600}"),
        ("Int", 0) => json!(-1),
        ("Int", 1) => json!(i32::MAX),
        ("Int", _) => json!(i32::MIN),
        ("Float", 0) => json!(-1.0),
        ("Float", 1) => json!(1e308),
        ("Float", _) => json!(0.0),
        ("Boolean", _) => json!(variant.is_multiple_of(2)),
        ("DateTime", 0) => json!("not a date"),
        ("DateTime", 1) => json!("9999-12-31T23:59:59Z"),
        ("DateTime", _) => json!("1970-01-01T00:00:00Z"),
        ("JSON", 0) => json!({ "a": [1, { "b": null }] }),
        ("JSON", 1) => json!("x".repeat(50_000)),
        ("JSON", _) => (0..60).fold(json!(1), |inner, _| json!([inner])),
        _ => Value::Null,
    }
}

/// Mutations that end the caller's session go last, so that the others run signed in.
fn runs_last(name: &str) -> bool {
    [
        "logout",
        "revoke",
        "deleteMyAccount",
        "changePassword",
        "disableTotp",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// Sends each field of `root` (`queryType` or `mutationType`) three sets of garbage
/// arguments and one set of wrongly typed ones, checking each answer. Answers how many
/// requests were sent and how many of the garbage ones got past validation to a resolver.
async fn walk(app: &TestApp, schema: &Schema, fields: &[Value], operation: &str) -> (usize, usize) {
    let mut fields = fields.to_vec();
    fields.sort_by_key(|field| runs_last(field["name"].as_str().unwrap_or_default()));
    let (mut sent, mut resolved) = (0, 0);
    for field in &fields {
        let name = field["name"].as_str().unwrap_or_default();
        let args = field["args"].as_array().cloned().unwrap_or_default();
        let selection = match Schema::named(&field["type"])["kind"].as_str() {
            Some("OBJECT" | "INTERFACE" | "UNION") => " { __typename }",
            _ => "",
        };
        let declarations: Vec<String> = args
            .iter()
            .enumerate()
            .map(|(index, arg)| format!("$a{index}: {}", Schema::spell(&arg["type"])))
            .collect();
        let uses: Vec<String> = args
            .iter()
            .enumerate()
            .map(|(index, arg)| format!("{}: $a{index}", arg["name"].as_str().unwrap_or_default()))
            .collect();
        let query = if args.is_empty() {
            format!("{operation} {{ {name}{selection} }}")
        } else {
            format!(
                "{operation}({}) {{ {name}({}){selection} }}",
                declarations.join(", "),
                uses.join(", ")
            )
        };
        // Three shapes of garbage, then a wrongly typed value for every argument.
        for variant in 0..4 {
            let variables: Map<String, Value> = args
                .iter()
                .enumerate()
                .map(|(index, arg)| {
                    let value = if variant == 3 {
                        json!({ "wrong": ["type"] })
                    } else {
                        schema.garbage(&arg["type"], variant, 0)
                    };
                    (format!("a{index}"), value)
                })
                .collect();
            // A fresh session each time: a garbage mutation may end the last one.
            let token = app.admin_token().await;
            let response = app
                .client
                .post(format!("{}/graphql", app.base))
                .bearer_auth(&token)
                .json(&json!({ "query": query, "variables": variables }))
                .send()
                .await
                .unwrap_or_else(|error| panic!("{name} (variant {variant}): no answer: {error}"));
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert_client_error(&format!("{name} (variant {variant})"), status, &body);
            sent += 1;
            // Errors of execution have a path; those of parsing and validation do not.
            let executed = body["errors"]
                .as_array()
                .is_none_or(|errors| errors.iter().any(|error| error.get("path").is_some()));
            resolved += usize::from(variant < 3 && executed);
        }
    }
    (sent, resolved)
}

#[tokio::test]
async fn every_operation_of_the_schema_survives_garbage_arguments() {
    on_each_backend(&["--dev"], |app| async move {
        let introspection = app.graphql(None, INTROSPECTION, json!({})).await;
        let root = &introspection["data"]["__schema"];
        let types = root["types"]
            .as_array()
            .expect("types")
            .iter()
            .map(|ty| {
                (
                    ty["name"].as_str().unwrap_or_default().to_owned(),
                    ty.clone(),
                )
            })
            .collect();
        let schema = Schema { types };
        let queries = root["queryType"]["fields"].as_array().expect("queries");
        let mutations = root["mutationType"]["fields"]
            .as_array()
            .expect("mutations");
        assert!(
            queries.len() > 20 && mutations.len() > 60,
            "{introspection}"
        );
        let (queries_sent, queries_resolved) = walk(&app, &schema, queries, "query").await;
        let (mutations_sent, mutations_resolved) = walk(&app, &schema, mutations, "mutation").await;
        let fields = queries.len() + mutations.len();
        assert_eq!(queries_sent + mutations_sent, 4 * fields);
        // Garbage of the right types must reach the resolvers (nine in ten: an `Upload` cannot
        // be sent as JSON), or the walk only tested validation.
        let resolved = queries_resolved + mutations_resolved;
        eprintln!(
            "{:?}: {resolved} of {} garbage requests reached a resolver",
            app.backend,
            3 * fields
        );
        assert!(
            resolved * 2 > 3 * fields,
            "only {resolved} of {} reached a resolver",
            3 * fields
        );
        // Still up and answering.
        let version = app.graphql(None, "{ version }", json!({})).await;
        assert!(version["data"]["version"].is_string(), "{version}");
        app
    })
    .await;
}

#[tokio::test]
async fn subscriptions_over_websocket_get_the_same_limits_and_codes() {
    on_each_backend(&["--graphql-max-aliases", "1"], |app| async move {
        let token = app.admin_token().await;
        let init = json!({ "Authorization": format!("Bearer {token}") });
        let job = "00000000-0000-0000-0000-000000000000";
        for (what, query) in [
            (
                "an unknown field",
                "subscription($j: ID!) { jobProgress(id: $j) { nosuchfield } }",
            ),
            (
                "too many aliases",
                "subscription($j: ID!) { p: jobProgress(id: $j) { s: status } }",
            ),
            ("a syntax error", "subscription { jobProgress("),
        ] {
            let messages = app
                .subscribe(init.clone(), query, json!({ "j": job }))
                .await;
            // The errors come in a `next` message's payload, or as an `error` message's.
            let errors: Vec<&Value> = messages
                .iter()
                .flat_map(|message| match message["type"].as_str() {
                    Some("error") => message["payload"].as_array(),
                    _ => message["payload"]["errors"].as_array(),
                })
                .flatten()
                .collect();
            assert!(!errors.is_empty(), "{what}: {messages:?}");
            for error in errors {
                assert_eq!(
                    error["extensions"]["code"], "BAD_REQUEST",
                    "{what}: {error}"
                );
            }
        }
        app
    })
    .await;
}
