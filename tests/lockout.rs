//! Brute-force protection over HTTP, with the server's clock moved: lockout after the
//! configured failures, a growing wait, release after it, the same for unknown names, per
//! client address, shared by server instances, and an administrator's clear.

use serde_json::{Value, json};

use crate::support::{ADMIN_PASSWORD, TestApp, on_each_backend, test_config};

const PASSWORD: &str = "correct horse battery staple 42";
const ARGS: &[&str] = &[
    "--lockout-failures",
    "3",
    "--lockout-wait-seconds",
    "60",
    "--lockout-address-failures",
    "1000",
];

async fn code_of(app: &TestApp, login: &str, password: &str) -> Value {
    let payload = app.login(login, password).await;
    if payload["accessToken"].is_string() {
        json!("OK")
    } else {
        payload["errors"][0]["code"].clone()
    }
}

async fn fail(app: &TestApp, login: &str, times: usize) {
    for _ in 0..times {
        assert_eq!(
            code_of(app, login, "not the password at all").await,
            "WRONG_CREDENTIALS"
        );
    }
}

fn advance(app: &TestApp, seconds: i64) {
    app.server
        .app
        .clock
        .advance(time::Duration::seconds(seconds));
}

#[tokio::test]
async fn an_account_is_locked_after_the_failures_and_released_after_a_growing_wait() {
    on_each_backend(ARGS, |app| async move {
        app.create_user("hammered", PASSWORD).await;
        fail(&app, "hammered", 3).await;
        // Locked: even the right password is not checked.
        let locked = app.login("hammered", PASSWORD).await;
        assert_eq!(locked["errors"][0]["code"], "LOCKED_OUT", "{locked}");
        assert!(
            locked["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("about 1 minute")),
            "{locked}"
        );
        advance(&app, 61);
        assert_eq!(code_of(&app, "hammered", PASSWORD).await, "OK");

        // A success starts the count again; past the threshold each failure waits longer.
        fail(&app, "hammered", 3).await;
        advance(&app, 61);
        fail(&app, "hammered", 1).await;
        advance(&app, 61);
        assert_eq!(code_of(&app, "hammered", PASSWORD).await, "LOCKED_OUT");
        advance(&app, 60);
        assert_eq!(code_of(&app, "hammered", PASSWORD).await, "OK");

        // The lockout left an audit event.
        let events = app
            .database
            .store
            .audit_events_page(
                &steward_store::AuditFilter {
                    action: Some("login.locked_out".to_owned()),
                    ..Default::default()
                },
                None,
                10,
            )
            .await
            .expect("events");
        assert_eq!(events.1, 3, "{:?}: three lockouts began", app.backend);
        app
    })
    .await;
}

#[tokio::test]
async fn unknown_names_lock_out_the_same_way_so_lockouts_reveal_no_account() {
    on_each_backend(ARGS, |app| async move {
        fail(&app, "nosuchuser", 3).await;
        assert_eq!(code_of(&app, "nosuchuser", PASSWORD).await, "LOCKED_OUT");
        app
    })
    .await;
}

#[tokio::test]
async fn failures_from_one_address_lock_it_out_whatever_the_accounts() {
    let args = [
        "--lockout-failures",
        "1000",
        "--lockout-address-failures",
        "4",
    ];
    on_each_backend(&args, |app| async move {
        app.create_user("victim", PASSWORD).await;
        for name in ["alice", "bob", "carol", "dave"] {
            fail(&app, name, 1).await;
        }
        // Every login from this address is refused now, a valid one too.
        assert_eq!(code_of(&app, "victim", PASSWORD).await, "LOCKED_OUT");
        advance(&app, 61);
        assert_eq!(code_of(&app, "victim", PASSWORD).await, "OK");
        app
    })
    .await;
}

#[tokio::test]
async fn instances_sharing_a_database_share_the_count_and_an_administrator_clears_it() {
    on_each_backend(ARGS, |app| async move {
        let user = app.create_user("roamer", PASSWORD).await;
        // A second instance on the same database.
        let second = steward_server::start(&test_config(&app.database.url, ARGS))
            .await
            .expect("second instance");
        let second_base = format!("http://{}", second.local_addr);
        fail(&app, "roamer", 2).await;
        let body: Value = app
            .client
            .post(format!("{second_base}/graphql"))
            .json(&json!({
                "query": "mutation($i: LoginInput!) { login(input: $i) { errors { code } } }",
                "variables": { "i": { "login": "roamer", "password": "wrong wrong wrong" } },
            }))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        assert_eq!(
            body["data"]["login"]["errors"][0]["code"],
            "WRONG_CREDENTIALS"
        );
        assert_eq!(code_of(&app, "roamer", PASSWORD).await, "LOCKED_OUT");

        let admin = app.token("admin", ADMIN_PASSWORD).await;
        let cleared = app
            .graphql(
                Some(&admin),
                "mutation($u: ID!) { clearLoginLockout(user: $u) { cleared errors { message } } }",
                json!({ "u": user }),
            )
            .await;
        assert_eq!(
            cleared["data"]["clearLoginLockout"]["cleared"], true,
            "{cleared}"
        );
        assert_eq!(code_of(&app, "roamer", PASSWORD).await, "OK");
        second.shutdown().await.expect("second instance stops");
        app
    })
    .await;
}
