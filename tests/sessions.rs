//! Sessions over HTTP: refresh token rotation and reuse detection, the sessions a user sees
//! and ends, and signing key rotation with old tokens valid until they expire. The server's
//! clock is moved, never slept on.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use steward_store::AuditEntry;

use crate::support::{TestApp, error_code, on_each_backend};

const PASSWORD: &str = "correct horse battery staple 42";
const ME: &str = "{ me { username } }";
const REFRESH: &str = "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken \
    expiresAt refreshToken refreshExpiresAt errors { field code message } } }";

/// Logs in and returns (access token, refresh token).
async fn login(app: &TestApp, username: &str) -> (String, String) {
    let body = app
        .graphql(
            None,
            "mutation($i: LoginInput!) { login(input: $i) { accessToken refreshToken refreshExpiresAt } }",
            json!({ "i": { "login": username, "password": PASSWORD } }),
        )
        .await;
    let login = &body["data"]["login"];
    assert!(login["refreshExpiresAt"].is_string(), "{body}");
    (
        login["accessToken"]
            .as_str()
            .expect("access token")
            .to_owned(),
        login["refreshToken"]
            .as_str()
            .expect("refresh token")
            .to_owned(),
    )
}

async fn refresh(app: &TestApp, token: &str) -> Value {
    app.graphql(None, REFRESH, json!({ "t": token })).await["data"]["refreshSession"].clone()
}

async fn is_accepted(app: &TestApp, access: &str) -> bool {
    let body = app.graphql(Some(access), ME, json!({})).await;
    body["data"]["me"]["username"].is_string()
}

fn kid_of(token: &str) -> Value {
    let header = token.split('.').next().expect("header");
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64")).expect("json");
    header["kid"].clone()
}

#[tokio::test]
async fn a_refresh_token_rotates_and_a_reused_one_ends_the_whole_session() {
    on_each_backend(&[], |app| async move {
        app.create_user("rotator", PASSWORD).await;
        let (access, first) = login(&app, "rotator").await;

        let renewed = refresh(&app, &first).await;
        assert_eq!(renewed["errors"], json!([]), "{renewed}");
        let second = renewed["refreshToken"].as_str().expect("next").to_owned();
        let renewed_access = renewed["accessToken"].as_str().expect("access").to_owned();
        assert_ne!(first, second);
        assert!(is_accepted(&app, &renewed_access).await);
        assert!(
            is_accepted(&app, &access).await,
            "older access tokens live on"
        );

        // The first token again: someone kept a copy. The session ends for everyone.
        let reused = refresh(&app, &first).await;
        assert!(
            reused["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("used before")),
            "{reused}"
        );
        assert!(!is_accepted(&app, &renewed_access).await);
        assert!(!is_accepted(&app, &access).await);
        let after = refresh(&app, &second).await;
        assert!(
            after["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("session has ended")),
            "{after}"
        );

        // An access token is no refresh token, and a refresh token no access token.
        let (access, refresh_token) = login(&app, "rotator").await;
        let swapped = refresh(&app, &access).await;
        assert_eq!(
            swapped["errors"][0]["field"],
            json!(["input", "refreshToken"])
        );
        let body = app.graphql(Some(&refresh_token), ME, json!({})).await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
        app
    })
    .await;
}

#[tokio::test]
async fn a_session_ends_30_days_after_its_last_refresh_and_a_suspension_stops_refreshes() {
    on_each_backend(&[], |app| async move {
        app.create_user("sleeper", PASSWORD).await;
        let (_, token) = login(&app, "sleeper").await;
        app.server.app.clock.advance(time::Duration::days(29));
        let renewed = refresh(&app, &token).await;
        let token = renewed["refreshToken"]
            .as_str()
            .expect("renewed")
            .to_owned();
        // 29 + 29 days: past the login's 30 days, within 30 of the last refresh.
        app.server.app.clock.advance(time::Duration::days(29));
        let renewed = refresh(&app, &token).await;
        assert_eq!(renewed["errors"], json!([]), "{renewed}");
        let token = renewed["refreshToken"]
            .as_str()
            .expect("renewed")
            .to_owned();
        app.server.app.clock.advance(time::Duration::days(31));
        let late = refresh(&app, &token).await;
        assert!(
            late["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("session has ended")),
            "{late}"
        );

        let user = app.create_user("suspended", PASSWORD).await;
        let (_, token) = login(&app, "suspended").await;
        let admin = app.admin_token().await;
        let body = app
            .graphql(
                Some(&admin),
                "mutation($u: ID!) { suspendUser(input: {user: $u}) { errors { message } } }",
                json!({ "u": user }),
            )
            .await;
        assert_eq!(body["data"]["suspendUser"]["errors"], json!([]), "{body}");
        let refused = refresh(&app, &token).await;
        assert!(refused["accessToken"].is_null(), "{refused}");
        app
    })
    .await;
}

#[tokio::test]
async fn users_list_and_end_their_own_sessions_only() {
    on_each_backend(&[], |app| async move {
        app.create_user("traveller", PASSWORD).await;
        app.create_user("bystander", PASSWORD).await;
        let (laptop, _) = login(&app, "traveller").await;
        let (phone, _) = login(&app, "traveller").await;
        let (tablet, _) = login(&app, "traveller").await;
        let (other, _) = login(&app, "bystander").await;

        let listed = app
            .graphql(
                Some(&laptop),
                "{ sessions { id current createdAt expiresAt clientAddress } }",
                json!({}),
            )
            .await;
        let sessions = listed["data"]["sessions"]
            .as_array()
            .expect("sessions")
            .clone();
        assert_eq!(sessions.len(), 3, "{listed}");
        assert_eq!(
            sessions.iter().filter(|s| s["current"] == true).count(),
            1,
            "{listed}"
        );
        assert!(sessions.iter().all(|s| s["clientAddress"] == "127.0.0.1"));

        // Another user's session does not exist for the caller.
        let theirs = app
            .graphql(Some(&other), "{ sessions { id } }", json!({}))
            .await["data"]["sessions"][0]["id"]
            .clone();
        let revoke = "mutation($id: ID!) { revokeSession(id: $id) { revoked errors { code } } }";
        let refused = app
            .graphql(Some(&laptop), revoke, json!({ "id": theirs }))
            .await;
        assert_eq!(
            refused["data"]["revokeSession"]["errors"][0]["code"],
            "NOT_FOUND"
        );
        assert!(is_accepted(&app, &other).await);

        // Ending one other session, then all but the current one.
        let phone_session = sessions
            .iter()
            .find(|s| s["current"] == false)
            .map(|s| s["id"].clone())
            .expect("another session");
        let ended = app
            .graphql(Some(&laptop), revoke, json!({ "id": phone_session }))
            .await;
        assert_eq!(ended["data"]["revokeSession"]["revoked"], 1, "{ended}");
        let all = app
            .graphql(
                Some(&laptop),
                "mutation { revokeAllSessions { revoked } }",
                json!({}),
            )
            .await;
        assert_eq!(all["data"]["revokeAllSessions"]["revoked"], 1, "{all}");
        assert!(is_accepted(&app, &laptop).await);
        assert!(!is_accepted(&app, &phone).await);
        assert!(!is_accepted(&app, &tablet).await);
        let everything = app
            .graphql(
                Some(&laptop),
                "mutation { revokeAllSessions(keepCurrent: false) { revoked } }",
                json!({}),
            )
            .await;
        assert_eq!(everything["data"]["revokeAllSessions"]["revoked"], 1);
        assert!(!is_accepted(&app, &laptop).await);
        app
    })
    .await;
}

async fn published_kids(app: &TestApp) -> Vec<Value> {
    app.jwks().await["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|key| key["kid"].clone())
        .collect()
}

#[tokio::test]
async fn a_rotated_signing_key_signs_new_tokens_while_old_ones_last_until_expiry() {
    on_each_backend(&[], |app| async move {
        app.create_user("keyholder", PASSWORD).await;
        let (old_token, refresh_token) = login(&app, "keyholder").await;
        let old_kid = kid_of(&old_token);
        assert_eq!(published_kids(&app).await, vec![old_kid.clone()]);

        // What `cargo xtask rotate-signing-key` does, then the server's periodic reload.
        let key = steward_server::auth::tokens::generate_signing_key().expect("key");
        let entry = AuditEntry {
            actor: None,
            client_address: None,
            at: app.server.app.clock.now(),
        };
        app.database
            .store
            .rotate_signing_key(&key, &entry)
            .await
            .expect("rotate");
        app.server.app.reload_signing_keys().await.expect("reload");

        let (new_token, _) = login(&app, "keyholder").await;
        assert_eq!(kid_of(&new_token), json!(key.kid));
        assert!(is_accepted(&app, &new_token).await);
        assert!(
            is_accepted(&app, &old_token).await,
            "signed before the rotation"
        );
        let mut kids = published_kids(&app).await;
        kids.sort_by_key(ToString::to_string);
        let mut expected = vec![old_kid.clone(), json!(key.kid)];
        expected.sort_by_key(ToString::to_string);
        assert_eq!(kids, expected, "both keys are published");
        // A refresh after the rotation is signed with the new key.
        let renewed = refresh(&app, &refresh_token).await;
        let renewed = renewed["accessToken"].as_str().expect("renewed");
        assert_eq!(kid_of(renewed), json!(key.kid));

        // Once every token of the old key has expired, the key is dropped.
        app.server.app.clock.advance(time::Duration::minutes(16));
        app.server.app.reload_signing_keys().await.expect("reload");
        assert_eq!(published_kids(&app).await, vec![json!(key.kid)]);
        assert!(!is_accepted(&app, &old_token).await);
        app
    })
    .await;
}
