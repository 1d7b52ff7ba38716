//! Every password guess counts: malformed login names against the client address, one login
//! per request, the passwords given to confirm sensitive changes against the account, and
//! password reset requests limited per typed address and per client address.

use serde_json::{Value, json};
use steward_store::{AuditEventRecord, AuditFilter};
use time::OffsetDateTime;
use totp_rs::{Builder, Secret};

use crate::support::{TestApp, on_each_backend};

const PASSWORD: &str = "correct horse battery staple 42";
const RESET: &str =
    "mutation($e: String!) { requestPasswordReset(email: $e) { message errors { message } } }";

fn advance(app: &TestApp, seconds: i64) {
    app.server
        .app
        .clock
        .advance(time::Duration::seconds(seconds));
}

async fn events(app: &TestApp, action: &str) -> Vec<AuditEventRecord> {
    app.database
        .store
        .audit_events_page(
            &AuditFilter {
                action: Some(action.to_owned()),
                ..Default::default()
            },
            None,
            1000,
        )
        .await
        .expect("events")
        .0
}

async fn login_code(app: &TestApp, login: &str, password: &str) -> String {
    let payload = app.login(login, password).await;
    if payload["accessToken"].is_string() {
        return "OK".to_owned();
    }
    payload["errors"][0]["code"]
        .as_str()
        .unwrap_or("?")
        .to_owned()
}

#[tokio::test]
async fn two_hundred_malformed_login_names_from_one_address_lock_that_address() {
    // The default thresholds: 100 failures per address, 30 per account.
    on_each_backend(&[], |app| async move {
        app.create_user("bystander", PASSWORD).await;
        let mut codes = Vec::new();
        for attempt in 0..200 {
            // Names no account can have: each one different, so no name key ever counts.
            codes.push(login_code(&app, &format!("a!{attempt}"), "not the password").await);
        }
        // Each malformed name cost a hash and counted; the 100th locked the address, and from
        // then on nothing is checked.
        assert!(
            codes[..100].iter().all(|code| code == "INVALID"),
            "{:?}: {codes:?}",
            app.backend
        );
        assert!(
            codes[100..].iter().all(|code| code == "LOCKED_OUT"),
            "{:?}: {codes:?}",
            app.backend
        );
        // The address is locked for every account, a right password too.
        assert_eq!(login_code(&app, "bystander", PASSWORD).await, "LOCKED_OUT");
        let reasons: Vec<String> = events(&app, "login.failed")
            .await
            .iter()
            .map(|event| event.detail.0["reason"].as_str().unwrap_or("?").to_owned())
            .collect();
        assert_eq!(
            reasons.iter().filter(|r| *r == "invalid_input").count(),
            100,
            "{:?}: {reasons:?}",
            app.backend
        );
        // The lockout is audited like any other, as the address's; the refused attempts
        // after it were not counted.
        let locked = events(&app, "login.locked_out").await;
        assert_eq!(locked.len(), 1, "{:?}", app.backend);
        assert_eq!(locked[0].detail.0["key"], "address");
        app
    })
    .await;
}

#[tokio::test]
async fn a_request_with_several_logins_checks_the_first_and_refuses_the_others_unchecked() {
    on_each_backend(&[], |app| async move {
        app.create_user("ann", PASSWORD).await;
        let aliases: Vec<String> = (0..5)
            .map(|index| {
                format!(
                    "l{index}: login(input: {{login: \"a!{index}\", password: \"guess {index}\"}}) \
                     {{ accessToken errors {{ field code message }} }}"
                )
            })
            .collect();
        // A right password in the last alias changes nothing.
        let query = format!(
            "mutation {{ {} right: login(input: {{login: \"ann\", password: \"{PASSWORD}\"}}) \
             {{ accessToken errors {{ field code message }} }} }}",
            aliases.join(" ")
        );
        let body = app.graphql(None, &query, json!({})).await;
        assert!(body.get("errors").is_none(), "{:?}: {body}", app.backend);
        let first = &body["data"]["l0"]["errors"][0];
        assert_eq!(first["code"], "INVALID", "{body}");
        assert!(
            !first["message"]
                .as_str()
                .unwrap_or_default()
                .contains("one login per request"),
            "{body}"
        );
        for alias in ["l1", "l2", "l3", "l4", "right"] {
            let payload = &body["data"][alias];
            assert!(payload["accessToken"].is_null(), "{alias}: {body}");
            assert_eq!(payload["errors"][0]["code"], "INVALID", "{alias}: {body}");
            assert_eq!(
                payload["errors"][0]["field"],
                json!(["input", "login"]),
                "{alias}: {body}"
            );
            assert!(
                payload["errors"][0]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("one login per request"),
                "{alias}: {body}"
            );
        }
        // Only the first was an attempt: one audited failure.
        assert_eq!(
            events(&app, "login.failed").await.len(),
            1,
            "{:?}",
            app.backend
        );
        // A login in a request of its own still works.
        assert_eq!(login_code(&app, "ann", PASSWORD).await, "OK");
        app
    })
    .await;
}

/// The code an authenticator app would show at `at`.
fn code_at(secret: &str, at: OffsetDateTime) -> String {
    let secret = Secret::try_from_base32(secret).expect("base32 secret");
    Builder::new()
        .with_secret(secret)
        .build()
        .expect("RFC 6238 parameters")
        .generate(u64::try_from(at.unix_timestamp()).expect("after 1970"))
        .to_string()
}

async fn mutate(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    let body = app.graphql(Some(token), query, variables).await;
    assert!(body.get("errors").is_none(), "{:?}: {body}", app.backend);
    body["data"].clone()
}

#[tokio::test]
async fn wrong_passwords_given_to_confirm_sensitive_changes_count_toward_the_accounts_lockout() {
    let args = [
        "--lockout-failures",
        "5",
        "--lockout-wait-seconds",
        "60",
        "--lockout-address-failures",
        "1000",
    ];
    on_each_backend(&args, |app| async move {
        app.create_user("ann", PASSWORD).await;
        // A session, then two-factor authentication on (so that disableTotp checks passwords).
        let token = app.token("ann", PASSWORD).await;
        let secret = mutate(&app, &token, "mutation { enrollTotp { secret } }", json!({}))
            .await["enrollTotp"]["secret"]
            .as_str()
            .expect("secret")
            .to_owned();
        let confirmed = mutate(
            &app,
            &token,
            "mutation($c: String!) { confirmTotp(code: $c) { recoveryCodes } }",
            json!({ "c": code_at(&secret, app.server.app.clock.now()) }),
        )
        .await;
        assert!(confirmed["confirmTotp"]["recoveryCodes"][0].is_string(), "{confirmed}");

        // One wrong guess through each of them: five failures, the account's threshold.
        let wrong = "not the password at all";
        let guesses = [
            (
                "deleteMyAccount",
                "mutation($p: String!) { deleteMyAccount(input: {password: $p, justification: \
                 \"I am leaving the company at the end of the month\"}) { errors { field message } } }",
                json!({ "p": wrong }),
            ),
            (
                "regenerateRecoveryCodes",
                "mutation($p: String!) { regenerateRecoveryCodes(password: $p) { errors { field message } } }",
                json!({ "p": wrong }),
            ),
            (
                "disableTotp",
                "mutation($p: String!) { disableTotp(input: {password: $p}) { errors { field message } } }",
                json!({ "p": wrong }),
            ),
            (
                "disableTotp",
                "mutation($c: String!) { disableTotp(input: {recoveryCode: $c}) { errors { field message } } }",
                json!({ "c": "zzzzz-zzzzz" }),
            ),
            (
                "changePassword",
                "mutation($p: String!) { changePassword(input: {currentPassword: $p, newPassword: \
                 \"a brand new passphrase 7\"}) { errors { field message } } }",
                json!({ "p": wrong }),
            ),
        ];
        for (field, query, variables) in &guesses {
            let data = mutate(&app, &token, query, variables.clone()).await;
            let message = data[field]["errors"][0]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("wrong") || message.contains("not one of"),
                "{:?}: {field}: {data}",
                app.backend
            );
        }
        // The account is locked: its right password and a fresh code do not log in ...
        advance(&app, 30);
        let payload = app
            .graphql(
                None,
                "mutation($i: LoginInput!) { login(input: $i) { accessToken errors { code } } }",
                json!({ "i": { "login": "ann", "password": PASSWORD,
                               "totpCode": code_at(&secret, app.server.app.clock.now()) } }),
            )
            .await;
        assert_eq!(payload["data"]["login"]["errors"][0]["code"], "LOCKED_OUT", "{payload}");
        // ... and even the right password is not checked by the session's mutations.
        let (_, query, _) = &guesses[0];
        let refused = mutate(&app, &token, query, json!({ "p": PASSWORD })).await;
        let message = refused["deleteMyAccount"]["errors"][0]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(message.contains("too many failed logins"), "{refused}");
        let locked = events(&app, "login.locked_out").await;
        assert_eq!(locked.len(), 1, "{:?}", app.backend);
        assert_eq!(locked[0].detail.0["key"], "account");

        // After the wait, the right password works again, and was not deleted meanwhile.
        advance(&app, 61);
        let regenerated = mutate(
            &app,
            &token,
            "mutation($p: String!) { regenerateRecoveryCodes(password: $p) { recoveryCodes errors { message } } }",
            json!({ "p": PASSWORD }),
        )
        .await;
        assert!(
            regenerated["regenerateRecoveryCodes"]["recoveryCodes"][0].is_string(),
            "{regenerated}"
        );
        app
    })
    .await;
}

#[tokio::test]
async fn password_reset_requests_are_limited_per_email_and_per_address_with_the_same_answer() {
    let args = [
        "--mail-poll-ms",
        "50",
        "--password-reset-per-email",
        "2",
        "--password-reset-per-address",
        "5",
        "--password-reset-window-seconds",
        "3600",
    ];
    on_each_backend(&args, |app| async move {
        app.create_user("forgetful", PASSWORD).await;
        let request = |email: &'static str| {
            let app = &app;
            async move { app.graphql(None, RESET, json!({ "e": email })).await }
        };
        let first = request("forgetful@example.com").await;
        assert_eq!(
            first["data"]["requestPasswordReset"]["errors"],
            json!([]),
            "{first}"
        );
        let mut answers = vec![first.clone()];
        // Two per typed address, known or not: the third of each is limited. Counted from
        // the address: 4.
        answers.push(request("forgetful@example.com").await);
        answers.push(request("forgetful@example.com").await);
        for _ in 0..3 {
            answers.push(request("nobody@example.com").await);
        }
        // Five per client address: the fifth counted locks it, for any typed address.
        answers.push(request("someone@example.com").await);
        answers.push(request("someone.else@example.com").await);
        assert!(
            answers.iter().all(|answer| *answer == first),
            "{:?}: the answer must be the same: {answers:?}",
            app.backend
        );
        let mut limited: Vec<String> = events(&app, "user.password_reset_requested")
            .await
            .iter()
            .filter(|event| event.detail.0["reason"] == "rate_limited")
            .map(|event| event.detail.0["limit"].as_str().unwrap_or("?").to_owned())
            .collect();
        limited.sort();
        assert_eq!(limited, ["address", "email", "email"], "{:?}", app.backend);
        // The known address got its two links and no more.
        let mails = app.mails("forgetful@example.com", 2).await;
        assert_eq!(mails.len(), 2, "{:?}: {mails:?}", app.backend);

        // A window later, both limits let one more through.
        advance(&app, 3601);
        request("forgetful@example.com").await;
        let mails = app.mails("forgetful@example.com", 3).await;
        assert_eq!(mails.len(), 3, "{:?}", app.backend);
        app
    })
    .await;
}
