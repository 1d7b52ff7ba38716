//! Two-factor authentication over HTTP, with the server's clock moved: enrolment and
//! confirmation, login with a valid, a replayed and a wrong code (counted for the lockout),
//! with a valid, a used and an invalid recovery code, turning it off with its e-mail, the
//! `mfaEnabled` list filter, and the secret encrypted at rest.

use std::time::Duration;

use serde_json::{Value, json};
use steward_store::Store;
use time::OffsetDateTime;
use totp_rs::{Builder, Secret};

use crate::support::{TestApp, on_each_backend};

const PASSWORD: &str = "correct horse battery staple 42";
const ARGS: &[&str] = &[
    "--mail-poll-ms",
    "50",
    "--lockout-failures",
    "3",
    "--lockout-wait-seconds",
    "60",
    "--lockout-address-failures",
    "1000",
];

/// The code an authenticator app would show at `at`, computed here with totp-rs.
fn code_at(secret: &str, at: OffsetDateTime) -> String {
    let secret = Secret::try_from_base32(secret).expect("base32 secret");
    Builder::new()
        .with_secret(secret)
        .build()
        .expect("RFC 6238 parameters")
        .generate(u64::try_from(at.unix_timestamp()).expect("after 1970"))
        .to_string()
}

fn now(app: &TestApp) -> OffsetDateTime {
    app.server.app.clock.now()
}

fn advance(app: &TestApp, seconds: i64) {
    app.server
        .app
        .clock
        .advance(time::Duration::seconds(seconds));
}

async fn login(app: &TestApp, second: Value) -> Value {
    let mut input = json!({ "login": "ann", "password": PASSWORD });
    if let (Some(input), Some(second)) = (input.as_object_mut(), second.as_object()) {
        input.extend(second.clone());
    }
    let body = app
        .graphql(
            None,
            "mutation($input: LoginInput!) { login(input: $input) { accessToken \
             user { mfaEnabled } errors { field code message } } }",
            json!({ "input": input }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{:?}: {body}", app.backend);
    body["data"]["login"].clone()
}

/// `OK` for a login that gave a token, otherwise the payload error's code and message.
async fn outcome(app: &TestApp, second: Value) -> (String, String) {
    let payload = login(app, second).await;
    if payload["accessToken"].is_string() {
        return ("OK".to_owned(), String::new());
    }
    assert!(payload["user"].is_null(), "{payload}");
    (
        payload["errors"][0]["code"]
            .as_str()
            .unwrap_or("?")
            .to_owned(),
        payload["errors"][0]["message"]
            .as_str()
            .unwrap_or("?")
            .to_owned(),
    )
}

async fn mutate(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    let body = app.graphql(Some(token), query, variables).await;
    assert!(body.get("errors").is_none(), "{:?}: {body}", app.backend);
    body["data"].clone()
}

async fn mfa_users(app: &TestApp, token: &str, organization: &str) -> Vec<String> {
    let body = app
        .graphql(
            Some(token),
            "query($o: ID!) { users(organization: $o, filter: {mfaEnabled: true}, first: 10) { \
             nodes { username mfaEnabled } } }",
            json!({ "o": organization }),
        )
        .await;
    body["data"]["users"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|node| node["username"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn stored_totp_row(app: &TestApp, user: &str) -> Vec<u8> {
    let user = uuid::Uuid::parse_str(user).expect("uuid");
    let sql = "SELECT secret_ciphertext, nonce FROM user_totp WHERE user_id = $1";
    let (ciphertext, nonce): (Vec<u8>, Vec<u8>) = match &app.database.store {
        Store::Sqlite(pool) => sqlx::query_as(sql).bind(user).fetch_one(pool).await,
        Store::Postgres(pool) => sqlx::query_as(sql).bind(user).fetch_one(pool).await,
    }
    .expect("user_totp row");
    [ciphertext, nonce].concat()
}

async fn mails(app: &TestApp, address: &str, count: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (messages, _) = app
            .database
            .store
            .mailbox_page(Some(address), None, 10)
            .await
            .expect("mailbox");
        if messages.len() >= count {
            return messages
                .iter()
                .map(|message| format!("{}\n{}", message.subject, message.text_body))
                .collect();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}: {address} has {} of {count} messages",
            app.backend,
            messages.len()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn totp_login_with_valid_replayed_and_wrong_codes_and_recovery_codes() {
    on_each_backend(ARGS, |app| async move {
        let ann = app.create_user("ann", PASSWORD).await;
        let admin = app.admin_token().await;
        let organization = app.create_organization(&admin, "Acme", &ann).await;
        let token = app.token("ann", PASSWORD).await;

        // Enrol: a base32 secret and its otpauth URI; encrypted in the database.
        let enrolled = mutate(
            &app,
            &token,
            "mutation { enrollTotp { secret otpauthUri errors { code message } } }",
            json!({}),
        )
        .await["enrollTotp"]
            .clone();
        let secret = enrolled["secret"].as_str().expect("secret").to_owned();
        let uri = enrolled["otpauthUri"].as_str().expect("uri");
        assert!(
            uri.starts_with("otpauth://totp/Steward:ann%40example.com?"),
            "{uri}"
        );
        assert!(uri.contains(&format!("secret={secret}")), "{uri}");
        let row = stored_totp_row(&app, &ann).await;
        let raw = Secret::try_from_base32(&secret)
            .expect("base32")
            .as_bytes()
            .to_vec();
        assert!(!row.windows(secret.len()).any(|w| w == secret.as_bytes()));
        assert!(!row.windows(raw.len()).any(|w| w == raw.as_slice()));
        // Until it is confirmed, the password alone still logs in.
        assert_eq!(outcome(&app, json!({})).await.0, "OK");

        // Confirm: a wrong code is refused, the right one gives ten recovery codes.
        let confirm = "mutation($c: String!) { confirmTotp(code: $c) { recoveryCodes \
                       user { mfaEnabled } errors { field code message } } }";
        let right = code_at(&secret, now(&app));
        let wrong = format!(
            "{:06}",
            (right.parse::<u32>().expect("digits") + 1) % 1_000_000
        );
        let refused = mutate(&app, &token, confirm, json!({ "c": wrong })).await;
        assert_eq!(
            refused["confirmTotp"]["errors"][0]["field"],
            json!(["code"]),
            "{refused}"
        );
        assert!(mfa_users(&app, &token, &organization).await.is_empty());
        let confirmed =
            mutate(&app, &token, confirm, json!({ "c": right })).await["confirmTotp"].clone();
        assert_eq!(confirmed["user"]["mfaEnabled"], true, "{confirmed}");
        let recovery: Vec<String> = confirmed["recoveryCodes"]
            .as_array()
            .expect("recovery codes")
            .iter()
            .map(|code| code.as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(recovery.len(), 10);
        assert!(
            recovery
                .iter()
                .all(|code| code.len() == 11 && &code[5..6] == "-")
        );
        assert_eq!(mfa_users(&app, &token, &organization).await, vec!["ann"]);
        // While it is on, a second enrolment is refused.
        let again = mutate(
            &app,
            &token,
            "mutation { enrollTotp { secret errors { code } } }",
            json!({}),
        )
        .await;
        assert_eq!(
            again["enrollTotp"]["errors"][0]["code"], "CONFLICT",
            "{again}"
        );

        // Login: the password alone is not enough.
        assert_eq!(outcome(&app, json!({})).await.0, "MFA_REQUIRED");
        // The code used to confirm is spent; the next step's code logs in, once.
        assert_eq!(
            outcome(&app, json!({ "totpCode": right })).await.0,
            "INVALID_MFA_CODE"
        );
        advance(&app, 30);
        let code = code_at(&secret, now(&app));
        assert_eq!(outcome(&app, json!({ "totpCode": code })).await.0, "OK");
        let (replayed, message) = outcome(&app, json!({ "totpCode": code })).await;
        assert_eq!(replayed, "INVALID_MFA_CODE");
        assert!(message.contains("used already"), "{message}");
        advance(&app, 30);
        let code = code_at(&secret, now(&app));
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert_eq!(outcome(&app, json!({ "totpCode": spaced })).await.0, "OK");

        // Wrong codes count as failed logins: the third locks the account, even for the
        // right code, until the wait is over.
        advance(&app, 30);
        let code = code_at(&secret, now(&app));
        let wrong = format!(
            "{:06}",
            (code.parse::<u32>().expect("digits") + 1) % 1_000_000
        );
        for _ in 0..3 {
            assert_eq!(
                outcome(&app, json!({ "totpCode": wrong })).await.0,
                "INVALID_MFA_CODE"
            );
        }
        assert_eq!(
            outcome(&app, json!({ "totpCode": code })).await.0,
            "LOCKED_OUT"
        );
        advance(&app, 61);
        let code = code_at(&secret, now(&app));
        assert_eq!(outcome(&app, json!({ "totpCode": code })).await.0, "OK");

        // Recovery codes: a valid one works once, typed in any case; an invalid one is refused.
        let typed = recovery[0].to_uppercase().replace('-', " ");
        let with_recovery = login(&app, json!({ "recoveryCode": typed })).await;
        assert!(with_recovery["accessToken"].is_string(), "{with_recovery}");
        let (used, message) = outcome(&app, json!({ "recoveryCode": recovery[0] })).await;
        assert_eq!(used, "INVALID_MFA_CODE");
        assert!(message.contains("has been used already"), "{message}");
        let (invalid, message) = outcome(&app, json!({ "recoveryCode": "zzzzz-zzzzz" })).await;
        assert_eq!(invalid, "INVALID_MFA_CODE");
        assert!(message.contains("not one of this account's"), "{message}");
        assert_eq!(
            outcome(&app, json!({ "recoveryCode": recovery[1] }))
                .await
                .0,
            "OK"
        );

        // Turn it off: a wrong password is refused; the right one turns it off and tells the
        // user by e-mail.
        let disable = "mutation($input: DisableTotpInput!) { disableTotp(input: $input) { \
                       user { mfaEnabled } errors { field code message } } }";
        let refused = mutate(
            &app,
            &token,
            disable,
            json!({ "input": { "password": "nope" } }),
        )
        .await;
        assert_eq!(
            refused["disableTotp"]["errors"][0]["field"],
            json!(["input", "password"])
        );
        let disabled = mutate(
            &app,
            &token,
            disable,
            json!({ "input": { "password": PASSWORD } }),
        )
        .await;
        assert_eq!(
            disabled["disableTotp"]["user"]["mfaEnabled"], false,
            "{disabled}"
        );
        let mail = mails(&app, "ann@example.com", 1).await;
        assert!(
            mail.iter().any(
                |m| m.contains("Two-factor authentication has been turned off")
                    && m.contains("ann has turned off")
            ),
            "{mail:?}"
        );
        assert!(mfa_users(&app, &token, &organization).await.is_empty());
        assert_eq!(outcome(&app, json!({})).await.0, "OK");
        app
    })
    .await;
}

#[tokio::test]
async fn a_recovery_code_turns_two_factor_authentication_off_once() {
    on_each_backend(ARGS, |app| async move {
        app.create_user("ann", PASSWORD).await;
        let token = app.token("ann", PASSWORD).await;
        let enrolled = mutate(
            &app,
            &token,
            "mutation { enrollTotp { secret } }",
            json!({}),
        )
        .await;
        let secret = enrolled["enrollTotp"]["secret"]
            .as_str()
            .expect("secret")
            .to_owned();
        let confirmed = mutate(
            &app,
            &token,
            "mutation($c: String!) { confirmTotp(code: $c) { recoveryCodes } }",
            json!({ "c": code_at(&secret, now(&app)) }),
        )
        .await;
        let code = confirmed["confirmTotp"]["recoveryCodes"][3]
            .as_str()
            .expect("recovery code")
            .to_owned();
        let disable = "mutation($input: DisableTotpInput!) { disableTotp(input: $input) { \
                       user { mfaEnabled } errors { field code message } } }";
        let both = mutate(
            &app,
            &token,
            disable,
            json!({ "input": { "password": PASSWORD, "recoveryCode": code } }),
        )
        .await;
        assert_eq!(
            both["disableTotp"]["errors"][0]["code"], "INVALID",
            "{both}"
        );
        let off = mutate(
            &app,
            &token,
            disable,
            json!({ "input": { "recoveryCode": code } }),
        )
        .await;
        assert_eq!(off["disableTotp"]["user"]["mfaEnabled"], false, "{off}");
        // Off already: nothing more to turn off.
        let again = mutate(
            &app,
            &token,
            disable,
            json!({ "input": { "password": PASSWORD } }),
        )
        .await;
        assert!(
            again["disableTotp"]["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("not on")),
            "{again}"
        );
        app
    })
    .await;
}

async fn actions_about(app: &TestApp, admin: &str, user: &str) -> Vec<String> {
    let body = app
        .graphql(
            Some(admin),
            "query($u: String!) { auditEvents(filter: {targetType: \"user\", targetId: $u}, \
             first: 50) { nodes { action } } }",
            json!({ "u": user }),
        )
        .await;
    body["data"]["auditEvents"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .filter_map(|node| node["action"].as_str())
        .filter(|action| action.starts_with("mfa."))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn new_recovery_codes_replace_the_old_and_an_administrator_can_reset_a_lost_device() {
    on_each_backend(ARGS, |app| async move {
        let ann = app.create_user("ann", PASSWORD).await;
        let token = app.token("ann", PASSWORD).await;
        let admin = app.admin_token().await;
        let enrolled = mutate(
            &app,
            &token,
            "mutation { enrollTotp { secret } }",
            json!({}),
        )
        .await;
        let secret = enrolled["enrollTotp"]["secret"]
            .as_str()
            .expect("secret")
            .to_owned();
        let confirmed = mutate(
            &app,
            &token,
            "mutation($c: String!) { confirmTotp(code: $c) { recoveryCodes } }",
            json!({ "c": code_at(&secret, now(&app)) }),
        )
        .await;
        let old = confirmed["confirmTotp"]["recoveryCodes"][0]
            .as_str()
            .expect("recovery code")
            .to_owned();

        // New codes need the password; the old ones stop working.
        let regenerate = "mutation($p: String!) { regenerateRecoveryCodes(password: $p) { \
                          recoveryCodes errors { field code message } } }";
        let refused = mutate(&app, &token, regenerate, json!({ "p": "nope" })).await;
        assert_eq!(
            refused["regenerateRecoveryCodes"]["errors"][0]["field"],
            json!(["password"]),
            "{refused}"
        );
        let renewed = mutate(&app, &token, regenerate, json!({ "p": PASSWORD })).await;
        let new = renewed["regenerateRecoveryCodes"]["recoveryCodes"][0]
            .as_str()
            .expect("new recovery code")
            .to_owned();
        assert_eq!(
            outcome(&app, json!({ "recoveryCode": old })).await.0,
            "INVALID_MFA_CODE"
        );
        assert_eq!(outcome(&app, json!({ "recoveryCode": new })).await.0, "OK");

        // Nobody resets their own; an administrator resets another's, and the user is told.
        let reset = "mutation($u: ID!) { resetTotp(user: $u) { user { mfaEnabled } \
                     errors { field code message } } }";
        let own = app.graphql(Some(&token), reset, json!({ "u": ann })).await;
        assert!(own.get("errors").is_some(), "{own}");
        let done = mutate(&app, &admin, reset, json!({ "u": ann })).await;
        assert_eq!(done["resetTotp"]["user"]["mfaEnabled"], false, "{done}");
        let again = mutate(&app, &admin, reset, json!({ "u": ann })).await;
        assert_eq!(
            again["resetTotp"]["errors"][0]["field"],
            json!(["user"]),
            "{again}"
        );
        let mail = mails(&app, "ann@example.com", 1).await;
        assert!(
            mail.iter().any(|m| m.contains("admin has turned off")),
            "{mail:?}"
        );
        assert_eq!(outcome(&app, json!({})).await.0, "OK");

        // Every step is in the audit trail.
        let mut actions = actions_about(&app, &admin, &ann).await;
        actions.sort();
        assert_eq!(
            actions,
            vec![
                "mfa.disabled",
                "mfa.enabled",
                "mfa.enrolled",
                "mfa.recovery_code_used",
                "mfa.recovery_codes_regenerated",
            ],
            "{:?}",
            app.backend
        );
        app
    })
    .await;
}
