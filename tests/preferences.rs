//! A user's own preferences: language, e-mail subscription and bounded front-end settings.

use serde_json::{Value, json};

use crate::support::{TestApp, on_each_backend};

const PASSWORD: &str = "correct horse battery staple 42";

const UPDATE: &str = "mutation($input: UpdatePreferencesInput!) { updatePreferences(input: $input) { \
    user { language emailSubscription settings { key value } } errors { field code message } } }";

async fn update(app: &TestApp, token: &str, input: Value) -> Value {
    let body = app
        .graphql(Some(token), UPDATE, json!({ "input": input }))
        .await;
    body["data"]["updatePreferences"].clone()
}

#[tokio::test]
async fn users_change_their_language_subscription_and_settings_all_or_nothing() {
    on_each_backend(&[], |app| async move {
        app.create_user("prefann", PASSWORD).await;
        let token = app.token("prefann", PASSWORD).await;

        let payload = update(
            &app,
            &token,
            json!({ "language": "DE", "emailSubscription": false, "settings": [
                { "key": "console.theme", "value": "dark" },
                { "key": "console.pageSize", "value": "50" },
            ] }),
        )
        .await;
        assert_eq!(payload["errors"], json!([]), "{:?}: {payload}", app.backend);
        assert_eq!(
            payload["user"],
            json!({ "language": "DE", "emailSubscription": false, "settings": [
                { "key": "console.pageSize", "value": "50" },
                { "key": "console.theme", "value": "dark" },
            ] })
        );

        // Replace one, remove the other; fields left out stay as they are.
        let payload = update(
            &app,
            &token,
            json!({ "settings": [
                { "key": "console.theme", "value": "light" },
                { "key": "console.pageSize", "value": null },
            ] }),
        )
        .await;
        assert_eq!(
            payload["user"],
            json!({ "language": "DE", "emailSubscription": false, "settings": [
                { "key": "console.theme", "value": "light" },
            ] }),
            "{:?}",
            app.backend
        );

        // A bad key names the field and what is allowed; nothing changes.
        let payload = update(
            &app,
            &token,
            json!({ "language": "RU", "settings": [{ "key": "has space", "value": "x" }] }),
        )
        .await;
        assert_eq!(payload["errors"][0]["code"], "INVALID", "{payload}");
        assert_eq!(
            payload["errors"][0]["field"],
            json!(["input", "settings", "0", "key"])
        );
        assert!(
            payload["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("letters, digits")),
            "{payload}"
        );

        // Past the limit of 64 settings, the whole change is refused.
        let many: Vec<Value> = (0..64)
            .map(|n| json!({ "key": format!("k{n}"), "value": "v" }))
            .collect();
        let payload = update(&app, &token, json!({ "language": "RU", "settings": many })).await;
        assert_eq!(payload["errors"][0]["code"], "INVALID", "{payload}");
        assert!(
            payload["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("at most 64")),
            "{payload}"
        );
        let me = app
            .graphql(
                Some(&token),
                "{ me { language settings { key } } }",
                json!({}),
            )
            .await;
        assert_eq!(
            me["data"]["me"],
            json!({ "language": "DE", "settings": [{ "key": "console.theme" }] }),
            "{:?}: nothing of the refused changes was applied",
            app.backend
        );
        app
    })
    .await;
}

#[tokio::test]
async fn nobody_else_reads_a_users_settings() {
    on_each_backend(&[], |app| async move {
        let owner = app.create_user("prefowner", PASSWORD).await;
        let member = app.create_user("prefbob", PASSWORD).await;
        let admin = app.admin_token().await;
        let organization = app.create_organization(&admin, "Prefs", &owner).await;
        let owner_token = app.token("prefowner", PASSWORD).await;
        let roles = app
            .graphql(
                Some(&owner_token),
                "query($o: ID!) { organization(id: $o) { roles { id name } } }",
                json!({ "o": organization }),
            )
            .await;
        let viewer = roles["data"]["organization"]["roles"]
            .as_array()
            .and_then(|roles| roles.iter().find(|r| r["name"] == "Viewer"))
            .and_then(|r| r["id"].as_str())
            .expect("Viewer")
            .to_owned();
        app.graphql(
            Some(&app.admin_token().await),
            "mutation($o: ID!, $u: ID!, $r: ID!) { addMember(input: {organization: $o, user: $u, role: $r}) { errors { code } } }",
            json!({ "o": organization, "u": member, "r": viewer }),
        )
        .await;
        let bob = app.token("prefbob", PASSWORD).await;
        update(
            &app,
            &bob,
            json!({ "settings": [{ "key": "secret", "value": "bobs-private-value" }] }),
        )
        .await;

        // The organization's owner lists members, settings included: Bob's are null.
        let body = app
            .graphql(
                Some(&owner_token),
                "query($o: ID!) { organization(id: $o) { members(first: 10) { nodes { user { username settings { value } } } } } }",
                json!({ "o": organization }),
            )
            .await;
        assert!(body.get("errors").is_none(), "{:?}: {body}", app.backend);
        assert!(!body.to_string().contains("bobs-private-value"), "{body}");
        let nodes = body["data"]["organization"]["members"]["nodes"]
            .as_array()
            .expect("members");
        let bob_node = nodes
            .iter()
            .find(|n| n["user"]["username"] == "prefbob")
            .expect("Bob listed");
        assert_eq!(bob_node["user"]["settings"], Value::Null);
        app
    })
    .await;
}
