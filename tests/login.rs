use serde_json::json;
use steward_domain::audit::AuditAction;
use steward_store::testing::{TestDatabase, backends};

use crate::support::{ADMIN_PASSWORD, TestApp, error_code, on_each_backend};

const ME: &str =
    "{ me { id username email fullName status platformRole mustChangePassword lastLoginAt } }";

#[tokio::test]
async fn the_first_administrator_logs_in_and_me_returns_them() {
    on_each_backend(&[], |app| async move {
        let created = app
            .server
            .first_admin
            .clone()
            .expect("an admin was created on first start");
        assert!(
            created.generated_password.is_none(),
            "the configured password was used"
        );

        let token = app.token("admin", ADMIN_PASSWORD).await;
        let body = app.graphql(Some(&token), ME, json!({})).await;
        let me = &body["data"]["me"];
        assert_eq!(
            me["id"],
            created.user.id.to_string(),
            "{:?}: {body}",
            app.backend
        );
        assert_eq!(me["username"], "admin");
        assert_eq!(me["email"], "admin@steward.local");
        assert_eq!(me["status"], "ACTIVE");
        assert_eq!(me["platformRole"], "SUPER_ADMIN");
        assert_eq!(me["mustChangePassword"], false);
        assert!(me["lastLoginAt"].is_string());
        app
    })
    .await;
}

#[tokio::test]
async fn logging_in_by_email_address_works_regardless_of_case() {
    on_each_backend(&[], |app| async move {
        let payload = app.login("Admin@Steward.LOCAL", ADMIN_PASSWORD).await;
        assert!(
            payload["accessToken"].is_string(),
            "{:?}: {payload}",
            app.backend
        );
        assert_eq!(payload["errors"], json!([]));
        app
    })
    .await;
}

#[tokio::test]
async fn a_second_start_on_the_same_database_creates_no_second_administrator() {
    for backend in backends() {
        let database = TestApp::spawn(backend, &[]).await.stop().await;
        let app = TestApp::spawn_on(database, &[]).await;
        assert!(app.server.first_admin.is_none(), "{backend:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_generated_admin_password_must_be_changed_before_anything_else() {
    for backend in backends() {
        let database = TestDatabase::create(backend).await.expect("database");
        let config = {
            let mut config = crate::support::test_config(&database.url, &[]);
            config.admin.admin_password = None;
            config
        };
        let server = steward_server::start(&config).await.expect("start");
        let generated = server
            .first_admin
            .as_ref()
            .and_then(|admin| admin.generated_password.clone())
            .expect("a generated password");
        let app = TestApp {
            backend,
            base: format!("http://{}", server.local_addr),
            client: reqwest::Client::new(),
            server,
            database,
        };

        let payload = app.login("admin", &generated).await;
        assert_eq!(
            payload["user"]["mustChangePassword"], true,
            "{backend:?}: {payload}"
        );
        let token = payload["accessToken"].as_str().expect("token").to_owned();

        // `me` answers so a console can show the change form; the change itself is checked.
        let body = app.graphql(Some(&token), ME, json!({})).await;
        assert_eq!(body["data"]["me"]["mustChangePassword"], true);

        let change = "mutation($input: ChangePasswordInput!) { changePassword(input: $input) { \
                      user { mustChangePassword } errors { field code message } } }";
        let too_short = app
            .graphql(
                Some(&token),
                change,
                json!({ "input": { "currentPassword": generated, "newPassword": "short" } }),
            )
            .await;
        let errors = &too_short["data"]["changePassword"]["errors"];
        assert_eq!(
            errors[0]["field"],
            json!(["input", "newPassword"]),
            "{backend:?}: {too_short}"
        );
        assert_eq!(errors[0]["code"], "INVALID");

        let wrong_current = app
            .graphql(
                Some(&token),
                change,
                json!({ "input": { "currentPassword": "not the password", "newPassword": "a brand new passphrase" } }),
            )
            .await;
        assert_eq!(
            wrong_current["data"]["changePassword"]["errors"][0]["field"],
            json!(["input", "currentPassword"])
        );

        let changed = app
            .graphql(
                Some(&token),
                change,
                json!({ "input": { "currentPassword": generated, "newPassword": "a brand new passphrase" } }),
            )
            .await;
        assert_eq!(
            changed["data"]["changePassword"]["errors"],
            json!([]),
            "{backend:?}: {changed}"
        );
        assert_eq!(
            changed["data"]["changePassword"]["user"]["mustChangePassword"],
            false
        );

        assert_eq!(
            app.login("admin", &generated).await["errors"][0]["code"],
            "WRONG_CREDENTIALS"
        );
        assert!(app.login("admin", "a brand new passphrase").await["accessToken"].is_string());
        let events = app
            .database
            .store
            .recent_audit_events(Some(AuditAction::PasswordChanged), 10)
            .await
            .expect("audit");
        assert_eq!(events.len(), 1, "{backend:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_wrong_password_gets_a_typed_error_and_leaves_an_audit_event() {
    on_each_backend(&[], |app| async move {
        let payload = app.login("admin", "not the right password").await;
        assert_eq!(payload["accessToken"], serde_json::Value::Null);
        let error = &payload["errors"][0];
        assert_eq!(
            error["code"], "WRONG_CREDENTIALS",
            "{:?}: {payload}",
            app.backend
        );
        assert_eq!(error["message"], "the login or the password is wrong");

        let events = app
            .database
            .store
            .recent_audit_events(Some(AuditAction::LoginFailed), 10)
            .await
            .expect("audit");
        assert_eq!(events.len(), 1, "{:?}", app.backend);
        let event = &events[0];
        assert_eq!(event.outcome, "FAILURE");
        assert_eq!(
            event.actor_user_id,
            app.server
                .first_admin
                .as_ref()
                .map(|admin| admin.user.id.as_uuid())
        );
        assert_eq!(event.client_address.as_deref(), Some("127.0.0.1"));
        assert_eq!(event.detail.0["reason"], "wrong_credentials");
        assert!(
            !event
                .detail
                .0
                .to_string()
                .contains("not the right password"),
            "no password in the audit trail"
        );
        app
    })
    .await;
}

#[tokio::test]
async fn an_unknown_login_gets_the_same_answer_as_a_wrong_password() {
    on_each_backend(&[], |app| async move {
        let unknown = app.login("nobody", "not the right password").await;
        let wrong = app.login("admin", "not the right password").await;
        assert_eq!(unknown["errors"], wrong["errors"], "{:?}", app.backend);
        let events = app
            .database
            .store
            .recent_audit_events(Some(AuditAction::LoginFailed), 10)
            .await
            .expect("audit");
        assert_eq!(events.len(), 2);
        app
    })
    .await;
}

#[tokio::test]
async fn a_successful_login_is_audited() {
    on_each_backend(&[], |app| async move {
        app.admin_token().await;
        let events = app
            .database
            .store
            .recent_audit_events(Some(AuditAction::LoginSucceeded), 10)
            .await
            .expect("audit");
        assert_eq!(events.len(), 1, "{:?}", app.backend);
        assert_eq!(events[0].outcome, "SUCCESS");
        app
    })
    .await;
}

#[tokio::test]
async fn a_malformed_login_names_the_field() {
    on_each_backend(&[], |app| async move {
        let payload = app.login("not a username!", "whatever it is").await;
        assert_eq!(
            payload["errors"][0]["field"],
            json!(["input", "login"]),
            "{:?}: {payload}",
            app.backend
        );
        assert_eq!(payload["errors"][0]["code"], "INVALID");
        app
    })
    .await;
}

#[tokio::test]
async fn after_logout_the_token_stops_working_at_once() {
    on_each_backend(&[], |app| async move {
        let token = app.admin_token().await;
        let body = app
            .graphql(Some(&token), "mutation { logout { loggedOut } }", json!({}))
            .await;
        assert_eq!(
            body["data"]["logout"]["loggedOut"], true,
            "{:?}: {body}",
            app.backend
        );
        let body = app.graphql(Some(&token), ME, json!({})).await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
        app
    })
    .await;
}

#[tokio::test]
async fn me_lists_memberships_with_their_organizations() {
    on_each_backend(&[], |app| async move {
        let admin = app.server.first_admin.clone().expect("admin").user;
        let token = app.admin_token().await;
        for name in ["Acme", "Globex"] {
            app.create_organization(&token, name, &admin.id.to_string()).await;
        }
        let body = app
            .graphql(
                Some(&token),
                "{ me { memberships { status organization { name } user { username } defaultRole { name } } } }",
                json!({}),
            )
            .await;
        let memberships = body["data"]["me"]["memberships"].as_array().cloned().unwrap_or_default();
        let names: Vec<_> = memberships.iter().map(|m| m["organization"]["name"].clone()).collect();
        assert_eq!(names, vec![json!("Acme"), json!("Globex")], "{:?}: {body}", app.backend);
        assert!(memberships.iter().all(|m| m["status"] == "ACTIVE"
            && m["user"]["username"] == "admin"
            && m["defaultRole"]["name"] == "Administrator"));
        app
    })
    .await;
}
