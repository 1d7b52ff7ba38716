//! Mail: the outbox delivered through a real SMTP server on loopback, retried while the server
//! is down, shared by two workers, and kept in the local mailbox without SMTP settings.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use steward_domain::notification::Notification;
use steward_domain::user::Language;
use steward_server::clock::Clock;
use steward_server::mail::{DeliveryPolicy, DeliveryWorker, Mailer};
use steward_store::testing::backends;
use steward_store::{Recipient, Store, StoreOptions};
use tokio::sync::watch;

use crate::smtp_sink::SmtpSink;
use crate::support::{ADMIN_PASSWORD, TestApp, error_code, on_each_backend, test_config};

const PASSWORD: &str = "correct horse battery staple 42";
const NEW_PASSWORD: &str = "a completely new passphrase 77";

fn smtp_args(port: &str) -> Vec<&str> {
    vec![
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        port,
        "--smtp-security",
        "none",
        "--smtp-timeout-seconds",
        "5",
        "--mail-poll-ms",
        "50",
        "--mail-retry-base-ms",
        "200",
        "--mail-retry-max-ms",
        "400",
    ]
}

/// Changes `username`'s password through the API, which writes a password-changed notice.
async fn change_password(app: &TestApp, username: &str) {
    let token = app.token(username, PASSWORD).await;
    let body = app
        .graphql(
            Some(&token),
            "mutation($input: ChangePasswordInput!) { changePassword(input: $input) { errors { message } } }",
            json!({ "input": { "currentPassword": PASSWORD, "newPassword": NEW_PASSWORD } }),
        )
        .await;
    assert_eq!(
        body["data"]["changePassword"]["errors"],
        json!([]),
        "{:?}: {body}",
        app.backend
    );
}

async fn outbox(app: &TestApp) -> Vec<Value> {
    let admin = app.token("admin", ADMIN_PASSWORD).await;
    let body = app
        .graphql(
            Some(&admin),
            "{ outbox(first: 100) { totalCount nodes { id kind recipient status attempts lastError deliveredVia } } }",
            json!({}),
        )
        .await;
    body["data"]["outbox"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{:?}: outbox: {body}", app.backend))
        .clone()
}

#[tokio::test]
async fn a_notice_is_rendered_and_sent_through_smtp_with_the_outbox_id_as_message_id() {
    let sink = SmtpSink::start(0).await;
    let port = sink.port.to_string();
    let shared = &sink;
    on_each_backend(&smtp_args(&port), |app| async move {
        let sink = shared;
        sink.received.lock().expect("lock").clear();
        app.create_user("mailann", PASSWORD).await;
        change_password(&app, "mailann").await;

        let messages = sink.wait_for(1, 30).await;
        assert_eq!(messages.len(), 1, "{:?}", app.backend);
        let message = &messages[0];
        assert_eq!(message.recipients, ["mailann@example.com"]);
        let subject = message.header("Subject").expect("subject");
        assert!(!subject.is_empty());
        assert!(
            message
                .header("Content-Type")
                .is_some_and(|t| t.starts_with("multipart/alternative")),
            "plain text and HTML: {}",
            message.data
        );
        assert!(message.data.contains("text/html"));

        let outbox = outbox(&app).await;
        let notice = outbox
            .iter()
            .find(|n| n["kind"] == "PASSWORD_CHANGED")
            .expect("the notice");
        assert_eq!(notice["status"], "SENT", "{:?}: {notice}", app.backend);
        assert_eq!(notice["deliveredVia"], "SMTP");
        let id = notice["id"].as_str().expect("id");
        assert_eq!(
            message.header("Message-ID").as_deref(),
            Some(format!("<{id}@localhost>").as_str()),
            "the Message-ID names the outbox row"
        );
        app
    })
    .await;
    sink.stop();
}

#[tokio::test]
async fn mail_waits_while_the_smtp_server_is_down_and_is_delivered_once_when_it_is_back() {
    for backend in backends() {
        // A port nobody listens on yet.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("free port")
            .port();
        let port_text = port.to_string();
        let app = TestApp::spawn(backend, &smtp_args(&port_text)).await;
        app.create_user("mailbob", PASSWORD).await;
        change_password(&app, "mailbob").await;

        // At least one attempt fails and is recorded, and the message stays pending.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let failed_once = loop {
            let outbox = outbox(&app).await;
            let notice = outbox.into_iter().find(|n| n["kind"] == "PASSWORD_CHANGED");
            if let Some(notice) = notice
                && notice["attempts"].as_i64().unwrap_or(0) >= 1
            {
                break notice;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{backend:?}: no attempt failed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(
            failed_once["status"], "PENDING",
            "{backend:?}: {failed_once}"
        );
        assert!(failed_once["lastError"].is_string(), "{failed_once}");

        let sink = SmtpSink::start(port).await;
        let messages = sink.wait_for(1, 30).await;
        assert_eq!(messages.len(), 1, "{backend:?}: delivered after recovery");
        // Later polls must not send it again.
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(sink.messages().len(), 1, "{backend:?}: delivered once");
        let outbox = outbox(&app).await;
        let notice = outbox
            .iter()
            .find(|n| n["kind"] == "PASSWORD_CHANGED")
            .expect("notice");
        assert_eq!(notice["status"], "SENT", "{backend:?}: {notice}");
        sink.stop();
        app.stop().await;
    }
}

#[tokio::test]
async fn two_workers_on_one_database_deliver_a_thousand_messages_once_each() {
    const COUNT: usize = 1000;
    let sink = SmtpSink::start(0).await;
    let port = sink.port.to_string();
    for backend in backends() {
        sink.received.lock().expect("lock").clear();
        let database = steward_store::testing::TestDatabase::create(backend)
            .await
            .expect("database");
        let config = test_config(&database.url, &smtp_args(&port));
        let store = &database.store;
        let mut tx = store.begin().await.expect("begin");
        for n in 0..COUNT {
            let recipient = Recipient {
                user: None,
                address: format!("user{n}@example.com"),
                name: format!("User {n}"),
                language: Language::ALL[n % 4],
            };
            let notice = Notification::PasswordChanged {
                changed_at: time::OffsetDateTime::now_utc(),
            };
            tx.notify(&recipient, &notice, time::OffsetDateTime::now_utc())
                .await
                .expect("notify");
        }
        tx.commit().await.expect("commit");

        // Two workers, each with its own connection pool, as two server instances would be.
        let (stop, stopped) = watch::channel(false);
        let mut workers = Vec::new();
        for _ in 0..2 {
            let store = Store::connect(&database.url, &StoreOptions::default())
                .await
                .expect("second pool");
            let worker = DeliveryWorker {
                store,
                mailer: Mailer::from_config(&config.mail, &config.public_url).expect("mailer"),
                policy: DeliveryPolicy::from_config(&config.mail),
                clock: Clock::default(),
            };
            workers.push(tokio::spawn(worker.run(stopped.clone())));
        }
        let messages = sink.wait_for(COUNT, 300).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.send(true).expect("stop");
        for worker in workers {
            worker.await.expect("worker ends");
        }

        let messages_now = sink.messages();
        assert!(
            messages.len() >= COUNT,
            "{backend:?}: only {} arrived",
            messages.len()
        );
        let ids: BTreeSet<String> = messages_now
            .iter()
            .map(|m| m.header("Message-ID").expect("Message-ID"))
            .collect();
        assert_eq!(ids.len(), COUNT, "{backend:?}: every message arrived");
        assert_eq!(messages_now.len(), COUNT, "{backend:?}: none arrived twice");
        let recipients: BTreeSet<String> = messages_now
            .iter()
            .flat_map(|m| m.recipients.clone())
            .collect();
        assert_eq!(recipients.len(), COUNT, "{backend:?}: each recipient once");
        let (_, sent) = store
            .outbox_page(Some("SENT"), None, 1)
            .await
            .expect("outbox");
        assert_eq!(sent, COUNT as i64, "{backend:?}: all marked sent");
        database.store.close().await;
    }
    sink.stop();
}

#[tokio::test]
async fn without_smtp_mail_goes_to_the_local_mailbox_listed_only_in_development_mode() {
    on_each_backend(&["--dev", "--mail-poll-ms", "50"], |app| async move {
        app.create_user("mailcy", PASSWORD).await;
        change_password(&app, "mailcy").await;
        let admin = app.token("admin", ADMIN_PASSWORD).await;
        let query = "{ devMailbox(recipient: \"MAILCY@example.com\") { totalCount nodes { recipient subject text html messageId } } }";
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let body = loop {
            let body = app.graphql(Some(&admin), query, json!({})).await;
            if body["data"]["devMailbox"]["totalCount"] == 1 {
                break body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{:?}: nothing in the mailbox: {body}",
                app.backend
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let message = &body["data"]["devMailbox"]["nodes"][0];
        assert_eq!(message["recipient"], "mailcy@example.com");
        assert!(
            message["text"]
                .as_str()
                .is_some_and(|text| text.contains("http://steward.test")),
            "links are built from the public URL: {message}"
        );
        assert!(message["html"].as_str().is_some_and(|h| h.contains("<html")));

        // Only a SuperAdmin sees it.
        let token = app.token("mailcy", NEW_PASSWORD).await;
        let refused = app.graphql(Some(&token), query, json!({})).await;
        assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
        app
    })
    .await;

    on_each_backend(&[], |app| async move {
        let admin = app.token("admin", ADMIN_PASSWORD).await;
        let body = app
            .graphql(Some(&admin), "{ devMailbox { totalCount } }", json!({}))
            .await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("--dev")),
            "{body}"
        );
        app
    })
    .await;
}

#[tokio::test]
async fn a_permanently_refused_message_fails_at_once_and_a_superadmin_can_queue_it_again() {
    let sink = SmtpSink::start(0).await;
    let port = sink.port.to_string();
    let shared = &sink;
    on_each_backend(&smtp_args(&port), |app| async move {
        let sink = shared;
        sink.rejecting.store(true, std::sync::atomic::Ordering::SeqCst);
        sink.received.lock().expect("lock").clear();
        app.create_user("rejectme", PASSWORD).await;
        change_password(&app, "rejectme").await;

        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let failed = loop {
            let outbox = outbox(&app).await;
            if let Some(notice) = outbox.into_iter().find(|n| n["status"] == "FAILED") {
                break notice;
            }
            assert!(tokio::time::Instant::now() < deadline, "{:?}: never failed", app.backend);
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(failed["attempts"], 1, "a 5xx reply is not retried: {failed}");
        assert!(
            failed["lastError"].as_str().is_some_and(|e| e.contains("550")),
            "the error is kept: {failed}"
        );

        sink.rejecting.store(false, std::sync::atomic::Ordering::SeqCst);
        let admin = app.token("admin", ADMIN_PASSWORD).await;
        let retry = "mutation($id: ID!) { retryNotification(id: $id) { notification { status attempts } errors { code message } } }";
        let body = app
            .graphql(Some(&admin), retry, json!({ "id": failed["id"] }))
            .await;
        assert_eq!(
            body["data"]["retryNotification"]["notification"],
            json!({ "status": "PENDING", "attempts": 0 }),
            "{body}"
        );
        let messages = sink.wait_for(1, 30).await;
        assert_eq!(messages.len(), 1, "{:?}: delivered after the retry", app.backend);

        // Once sent, it is not sent again; a stranger may not even ask.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let body = app
                .graphql(Some(&admin), retry, json!({ "id": failed["id"] }))
                .await;
            if body["data"]["retryNotification"]["errors"][0]["code"] == "INVALID" {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{body}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let token = app.token("rejectme", NEW_PASSWORD).await;
        let body = app
            .graphql(Some(&token), retry, json!({ "id": failed["id"] }))
            .await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
        app
    })
    .await;
    sink.stop();
}

#[tokio::test]
async fn a_worker_starts_no_attempt_that_could_outlast_its_lease() {
    for backend in backends() {
        let database = steward_store::testing::TestDatabase::create(backend)
            .await
            .expect("database");
        let config = test_config(&database.url, &[]);
        let mut tx = database.store.begin().await.expect("begin");
        let recipient = Recipient {
            user: None,
            address: "slow@example.com".into(),
            name: "Slow".into(),
            language: Language::En,
        };
        let notice = Notification::Reactivated;
        tx.notify(&recipient, &notice, time::OffsetDateTime::now_utc())
            .await
            .expect("notify");
        tx.commit().await.expect("commit");

        let mut policy = DeliveryPolicy::from_config(&config.mail);
        let worker = |policy: DeliveryPolicy| DeliveryWorker {
            store: database.store.clone(),
            mailer: Mailer::from_config(&config.mail, &config.public_url).expect("mailer"),
            policy,
            clock: Clock::default(),
        };
        // A lease shorter than one attempt: the message is claimed but not tried.
        policy.lease = time::Duration::milliseconds(200);
        assert_eq!(
            worker(policy.clone()).deliver_due().await.expect("claim"),
            1
        );
        let (mailbox, _) = database
            .store
            .mailbox_page(None, None, 10)
            .await
            .expect("mailbox");
        assert!(mailbox.is_empty(), "{backend:?}: nothing was attempted");
        let (pending, _) = database
            .store
            .outbox_page(Some("PENDING"), None, 10)
            .await
            .expect("outbox");
        assert_eq!(
            pending[0].attempts, 0,
            "{backend:?}: not counted as a failure"
        );

        // When the lease has ended, a worker with room for an attempt delivers it.
        tokio::time::sleep(Duration::from_millis(250)).await;
        let roomy = DeliveryPolicy::from_config(&config.mail);
        assert_eq!(worker(roomy).deliver_due().await.expect("claim"), 1);
        let (mailbox, _) = database
            .store
            .mailbox_page(None, None, 10)
            .await
            .expect("mailbox");
        assert_eq!(mailbox.len(), 1, "{backend:?}");
        database.store.close().await;
    }
}
