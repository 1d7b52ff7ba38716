//! API keys over HTTP: shown once, acting as their owner (or only with some of the owner's
//! roles in one organization), stopped at once by revocation, regeneration, suspension or a
//! disabled membership — on another server instance too — and last-used times written in
//! batches.

use serde_json::{Value, json};

use crate::support::{TestApp, error_code, on_each_backend, test_config};

const PASSWORD: &str = "correct horse battery staple 42";
const ME: &str = "{ me { username } }";
const CREATE: &str = "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { token \
    apiKey { id name expiresAt lastUsedAt createdBy { username } organization { name } roles { name } } \
    errors { field code message } } }";

async fn create_key(app: &TestApp, session: &str, input: Value) -> (String, String) {
    let body = app
        .graphql(Some(session), CREATE, json!({ "i": input }))
        .await;
    let payload = &body["data"]["createApiKey"];
    assert_eq!(payload["errors"], json!([]), "{:?}: {body}", app.backend);
    (
        payload["token"].as_str().expect("token").to_owned(),
        payload["apiKey"]["id"].as_str().expect("id").to_owned(),
    )
}

async fn works(app: &TestApp, key: &str) -> bool {
    app.graphql(Some(key), ME, json!({})).await["data"]["me"]["username"].is_string()
}

#[tokio::test]
async fn a_key_acts_as_its_owner_until_revoked_or_regenerated() {
    on_each_backend(&[], |app| async move {
        app.create_user("automaton", PASSWORD).await;
        let session = app.token("automaton", PASSWORD).await;
        let (key, id) = create_key(&app, &session, json!({ "name": "CI deploys" })).await;
        assert_eq!(key.split('.').count(), 3, "a JWT");
        let claims: Value = {
            use base64::Engine as _;
            let payload = key.split('.').nth(1).expect("payload");
            serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(payload)
                    .expect("base64"),
            )
            .expect("claims")
        };
        assert_eq!(claims["token_use"], "api_key");
        assert!(claims.get("exp").is_none(), "no expiry unless asked: {claims}");
        // 256 random bits: 43 URL-safe base64 characters.
        assert!(
            claims["jti"].as_str().is_some_and(|jti| jti.len() >= 43),
            "{claims}"
        );
        assert!(works(&app, &key).await);

        // A key is no login session: it makes no keys and is no refresh token.
        let nested = app
            .graphql(Some(&key), CREATE, json!({ "i": { "name": "nested" } }))
            .await;
        assert_eq!(error_code(&nested), "FORBIDDEN", "{nested}");
        let as_refresh = app
            .graphql(
                None,
                "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken errors { field } } }",
                json!({ "t": key }),
            )
            .await;
        assert!(as_refresh["data"]["refreshSession"]["accessToken"].is_null());

        // Uses are written in batches, not per request.
        let list = "{ apiKeys { id name lastUsedAt createdBy { username } } }";
        let before = app.graphql(Some(&session), list, json!({})).await;
        assert_eq!(before["data"]["apiKeys"][0]["lastUsedAt"], Value::Null, "{before}");
        app.server.app.flush_api_key_uses().await.expect("flush");
        let after = app.graphql(Some(&session), list, json!({})).await;
        assert!(after["data"]["apiKeys"][0]["lastUsedAt"].is_string(), "{after}");
        assert_eq!(after["data"]["apiKeys"][0]["createdBy"]["username"], "automaton");

        let regenerated = app
            .graphql(
                Some(&session),
                "mutation($id: ID!) { regenerateApiKey(id: $id) { token errors { message } } }",
                json!({ "id": id }),
            )
            .await;
        let new_key = regenerated["data"]["regenerateApiKey"]["token"]
            .as_str()
            .expect("new token")
            .to_owned();
        assert!(!works(&app, &key).await, "the old secret stops at once");
        assert!(works(&app, &new_key).await);

        let revoked = app
            .graphql(
                Some(&session),
                "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { revokedAt } errors { message } } }",
                json!({ "id": id }),
            )
            .await;
        assert!(
            revoked["data"]["revokeApiKey"]["apiKey"]["revokedAt"].is_string(),
            "{revoked}"
        );
        assert!(!works(&app, &new_key).await);

        // A key made to expire stops then.
        let expiring = (app.server.app.clock.now() + time::Duration::hours(1))
            .format(&time::format_description::well_known::Rfc3339)
            .expect("format");
        let (short, _) = create_key(
            &app,
            &session,
            json!({ "name": "one hour", "expiresAt": expiring }),
        )
        .await;
        assert!(works(&app, &short).await);
        app.server.app.clock.advance(time::Duration::minutes(61));
        assert!(!works(&app, &short).await);
        app
    })
    .await;
}

#[tokio::test]
async fn a_key_revoked_on_one_instance_is_refused_by_another_on_its_next_request() {
    on_each_backend(&[], |app| async move {
        app.create_user("twoservers", PASSWORD).await;
        let session = app.token("twoservers", PASSWORD).await;
        let (key, id) = create_key(&app, &session, json!({ "name": "shared" })).await;
        let second = steward_server::start(&test_config(&app.database.url, &[]))
            .await
            .expect("second instance");
        let ask_second = |token: String| {
            let client = app.client.clone();
            let url = format!("http://{}/graphql", second.local_addr);
            async move {
                let body: Value = client
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({ "query": ME }))
                    .send()
                    .await
                    .expect("request")
                    .json()
                    .await
                    .expect("json");
                body
            }
        };
        assert_eq!(
            ask_second(key.clone()).await["data"]["me"]["username"],
            "twoservers"
        );
        app.graphql(
            Some(&session),
            "mutation($id: ID!) { revokeApiKey(id: $id) { errors { message } } }",
            json!({ "id": id }),
        )
        .await;
        let refused = ask_second(key).await;
        assert_eq!(error_code(&refused), "UNAUTHENTICATED", "{refused}");
        second.shutdown().await.expect("second stops");
        app
    })
    .await;
}

#[tokio::test]
async fn a_key_limited_to_a_role_has_only_that_roles_powers_and_stops_with_the_membership() {
    on_each_backend(&[], |app| async move {
        let org = app.organization_owned_by("Keyco", "keyowner").await;
        let (organization, owner_session, viewer) = (org.id, org.owner_token, org.viewer);
        let member = app.create_user("keymember", PASSWORD).await;
        // The member is an Administrator by default and also holds Viewer.
        let administrator = app
            .role_id(&owner_session, &organization, "Administrator")
            .await;
        app.graphql(
            Some(&app.admin_token().await),
            "mutation($o: ID!, $u: ID!, $r: ID!) { addMember(input: {organization: $o, user: $u, role: $r}) { errors { message } } }",
            json!({ "o": organization, "u": member, "r": administrator }),
        )
        .await;
        app.graphql(
            Some(&owner_session),
            "mutation($r: ID!, $u: ID!) { bindRole(input: {role: $r, user: $u}) { bindingId } }",
            json!({ "r": viewer, "u": member }),
        )
        .await;
        let session = app.token("keymember", PASSWORD).await;
        let (key, _) = create_key(
            &app,
            &session,
            json!({ "name": "read only", "organization": organization, "roles": [viewer] }),
        )
        .await;
        let create_group = "mutation($o: ID!) { createGroup(input: {organization: $o, name: \"Bots\"}) { errors { message } } }";
        let by_session = app
            .graphql(Some(&session), create_group, json!({ "o": organization }))
            .await;
        assert_eq!(by_session["data"]["createGroup"]["errors"], json!([]), "{by_session}");
        let by_key = app
            .graphql(Some(&key), create_group, json!({ "o": organization }))
            .await;
        assert_eq!(error_code(&by_key), "FORBIDDEN", "{by_key}");
        let read = app
            .graphql(
                Some(&key),
                "query($o: ID!) { organization(id: $o) { name } }",
                json!({ "o": organization }),
            )
            .await;
        assert_eq!(read["data"]["organization"]["name"], "Keyco", "{read}");
        // Roles one does not hold cannot be put on a key.
        let owner_admin = app
            .graphql(
                Some(&app.admin_token().await),
                CREATE,
                json!({ "i": { "name": "x", "organization": organization, "roles": [viewer] } }),
            )
            .await;
        assert!(
            !owner_admin["data"]["createApiKey"]["errors"]
                .as_array()
                .is_none_or(Vec::is_empty),
            "{owner_admin}"
        );

        // Disabling the membership stops the key at once.
        app.graphql(
            Some(&owner_session),
            "mutation($o: ID!, $u: ID!) { disableMembership(input: {organization: $o, user: $u}) { errors { message } } }",
            json!({ "o": organization, "u": member }),
        )
        .await;
        let stopped = app.graphql(Some(&key), ME, json!({})).await;
        assert_eq!(error_code(&stopped), "UNAUTHENTICATED", "{stopped}");
        app
    })
    .await;
}

#[tokio::test]
async fn a_suspended_owners_keys_stop_and_administrators_see_and_revoke_keys() {
    on_each_backend(&[], |app| async move {
        let user = app.create_user("keyed", PASSWORD).await;
        app.create_user("stranger", PASSWORD).await;
        let session = app.token("keyed", PASSWORD).await;
        let (key, id) = create_key(&app, &session, json!({ "name": "robot" })).await;
        let stranger = app.token("stranger", PASSWORD).await;
        let hidden = app
            .graphql(
                Some(&stranger),
                "query($u: ID!) { apiKeys(user: $u) { id } }",
                json!({ "u": user }),
            )
            .await;
        assert_eq!(error_code(&hidden), "NOT_FOUND", "{hidden}");
        let revoke = app
            .graphql(
                Some(&stranger),
                "mutation($id: ID!) { revokeApiKey(id: $id) { errors { message } } }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(error_code(&revoke), "NOT_FOUND", "{revoke}");

        let admin = app.admin_token().await;
        let listed = app
            .graphql(
                Some(&admin),
                "query($u: ID!) { apiKeys(user: $u) { name } }",
                json!({ "u": user }),
            )
            .await;
        assert_eq!(
            listed["data"]["apiKeys"],
            json!([{ "name": "robot" }]),
            "{listed}"
        );
        assert!(works(&app, &key).await);
        app.graphql(
            Some(&admin),
            "mutation($u: ID!) { suspendUser(input: {user: $u}) { errors { message } } }",
            json!({ "u": user }),
        )
        .await;
        assert!(!works(&app, &key).await, "a suspended owner's key stops");
        app
    })
    .await;
}
