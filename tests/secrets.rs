//! Secrets stay secret: passwords, tokens, API keys, TOTP secrets and reset links never appear
//! in the logs (captured at the most verbose level, every target) or in error messages; and
//! the HTTP answers carry the security headers and exactly the CORS configured.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::json;
use tracing_subscriber::Layer as _;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::support::{ADMIN_PASSWORD, TestApp, on_each_backend};

/// Log lines written by the server, kept for searching.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("logs").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl CapturedLogs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("logs")).into_owned()
    }
}

const NEW_PASSWORD: &str = "quartz lantern orbit 7719 velvet";
const RESET_PASSWORD: &str = "harbor thimble cascade 2284 mango";
const WRONG_PASSWORD: &str = "wrong wrong wrong 5531 password";

/// Runs the flows that handle secrets, returning every secret that went by.
async fn handle_secrets(app: &TestApp) -> Vec<String> {
    let mut secrets = vec![
        ADMIN_PASSWORD.to_owned(),
        NEW_PASSWORD.to_owned(),
        RESET_PASSWORD.to_owned(),
        WRONG_PASSWORD.to_owned(),
    ];
    let user = app.create_user("secretive", ADMIN_PASSWORD).await;
    assert!(!user.is_empty());
    // A failed login, then a good one.
    let failed = app
        .graphql(
            None,
            "mutation($i: LoginInput!) { login(input: $i) { accessToken errors { message } } }",
            json!({ "i": { "login": "secretive", "password": WRONG_PASSWORD } }),
        )
        .await;
    assert!(failed["data"]["login"]["accessToken"].is_null(), "{failed}");
    let login = app.login("secretive", ADMIN_PASSWORD).await;
    let token = login["accessToken"].as_str().expect("token").to_owned();
    secrets.push(token.clone());
    // The password change.
    let changed = app
        .graphql(
            Some(&token),
            "mutation($i: ChangePasswordInput!) { changePassword(input: $i) { errors { message } } }",
            json!({ "i": { "currentPassword": ADMIN_PASSWORD, "newPassword": NEW_PASSWORD } }),
        )
        .await;
    assert!(changed.get("errors").is_none(), "{changed}");
    let login = app
        .graphql(
            None,
            "mutation($i: LoginInput!) { login(input: $i) { accessToken refreshToken } }",
            json!({ "i": { "login": "secretive", "password": NEW_PASSWORD } }),
        )
        .await;
    let token = login["data"]["login"]["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let refresh = login["data"]["login"]["refreshToken"]
        .as_str()
        .expect("refresh")
        .to_owned();
    secrets.extend([token.clone(), refresh.clone()]);
    let refreshed = app
        .graphql(
            None,
            "mutation($r: String!) { refreshSession(refreshToken: $r) { accessToken refreshToken } }",
            json!({ "r": refresh }),
        )
        .await;
    for field in ["accessToken", "refreshToken"] {
        secrets.push(
            refreshed["data"]["refreshSession"][field]
                .as_str()
                .unwrap_or_else(|| panic!("{refreshed}"))
                .to_owned(),
        );
    }
    // An API key, created and used.
    let key = app
        .graphql(
            Some(&token),
            "mutation { createApiKey(input: { name: \"logged\" }) { token errors { message } } }",
            json!({}),
        )
        .await;
    let key = key["data"]["createApiKey"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{key}"))
        .to_owned();
    let me = app
        .graphql(Some(&key), "{ me { username } }", json!({}))
        .await;
    assert_eq!(me["data"]["me"]["username"], "secretive", "{me}");
    secrets.push(key);
    // A TOTP secret.
    let enrolled = app
        .graphql(
            Some(&token),
            "mutation { enrollTotp { secret otpauthUri errors { message } } }",
            json!({}),
        )
        .await;
    let secret = enrolled["data"]["enrollTotp"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("{enrolled}"))
        .to_owned();
    secrets.push(secret);
    // A reset link, used.
    app.graphql(
        None,
        "mutation($e: String!) { requestPasswordReset(email: $e) { message } }",
        json!({ "e": "secretive@example.com" }),
    )
    .await;
    let mail = app.mail_about("secretive@example.com", "Reset").await;
    let text = mail["text"].as_str().expect("text");
    let start = text.find("token=").expect("a link") + "token=".len();
    let reset: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let done = app
        .graphql(
            None,
            "mutation($t: String!, $p: String!) { resetPassword(input: { token: $t, newPassword: $p }) { errors { message } } }",
            json!({ "t": reset, "p": RESET_PASSWORD }),
        )
        .await;
    assert!(done.get("errors").is_none(), "{done}");
    secrets.push(reset.clone());
    // Secrets sent where they do not belong come back in no error message.
    let reused = app
        .graphql(
            None,
            "mutation($t: String!, $p: String!) { resetPassword(input: { token: $t, newPassword: $p }) { errors { message } } }",
            json!({ "t": reset, "p": WRONG_PASSWORD }),
        )
        .await;
    let garbage_bearer = app
        .graphql(Some(&format!("{reset}x")), "{ me { id } }", json!({}))
        .await;
    for answer in [&failed, &reused, &garbage_bearer] {
        let text = answer.to_string();
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "an answer holds a secret: {text}"
            );
        }
    }
    secrets
}

/// The logs of the whole test process while this test runs. A subscriber scoped to the
/// test's thread misses events whose callsites other tests' threads registered first, so the
/// capture is the process's global subscriber, filtered to nothing outside this test.
fn capture_logs() -> CapturedLogs {
    static CAPTURE: OnceLock<CapturedLogs> = OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let logs = CapturedLogs::default();
            let capturing =
                tracing_subscriber::filter::filter_fn(|_| CAPTURING.load(Ordering::Relaxed));
            let layer = tracing_subscriber::fmt::layer()
                .with_writer(logs.clone())
                .with_ansi(false)
                .with_filter(capturing);
            tracing_subscriber::registry()
                .with(layer.with_filter(tracing_subscriber::filter::LevelFilter::TRACE))
                .try_init()
                .expect("no other global subscriber in the test process");
            logs
        })
        .clone()
}

static CAPTURING: AtomicBool = AtomicBool::new(false);

/// Capturing lasts while this lives, so a failed test does not leave it on for the others.
struct Capturing;

impl Capturing {
    fn start() -> Self {
        CAPTURING.store(true, Ordering::Relaxed);
        Capturing
    }
}

impl Drop for Capturing {
    fn drop(&mut self) {
        CAPTURING.store(false, Ordering::Relaxed);
    }
}

#[tokio::test]
async fn secrets_never_reach_the_logs_or_error_messages() {
    let logs = capture_logs();
    let _capturing = Capturing::start();
    on_each_backend(&["--dev", "--mail-poll-ms", "50"], |app| {
        let logs = logs.clone();
        async move {
            let secrets = handle_secrets(&app).await;
            let text = logs.text();
            // The capture works: the requests were logged.
            assert!(
                text.contains("finished processing request") && text.lines().count() > 50,
                "{text}"
            );
            for secret in &secrets {
                assert!(secret.len() >= 16, "a weak probe: {secret}");
                if let Some(line) = text.lines().find(|line| line.contains(secret.as_str())) {
                    panic!("{:?}: a secret is in the logs: {line}", app.backend);
                }
            }
            app
        }
    })
    .await;
}

#[tokio::test]
async fn responses_carry_security_headers_and_graphiql_its_policy() {
    on_each_backend(&[], |app| async move {
        let api = app
            .client
            .post(format!("{}/graphql", app.base))
            .json(&json!({ "query": "{ version }" }))
            .send()
            .await
            .expect("sent");
        let headers = api.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert_eq!(headers["cache-control"], "no-store");
        assert!(
            headers["content-security-policy"]
                .to_str()
                .expect("csp")
                .contains("default-src 'none'")
        );
        assert!(
            headers.get("strict-transport-security").is_none(),
            "http is not https"
        );
        assert!(headers.get("access-control-allow-origin").is_none());
        let page = app
            .client
            .get(format!("{}/graphiql", app.base))
            .send()
            .await
            .expect("sent");
        let csp = page.headers()["content-security-policy"]
            .to_str()
            .expect("csp")
            .to_owned();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert_eq!(page.headers()["x-content-type-options"], "nosniff");
        app
    })
    .await;
    // Behind https, browsers are told to keep to it (the backend plays no part).
    let database = steward_store::testing::TestDatabase::create(steward_store::Backend::Sqlite)
        .await
        .expect("database");
    let mut config = crate::support::test_config(&database.url, &[]);
    config.public_url = "https://steward.example.com".to_owned();
    let server = steward_server::start(&config).await.expect("starts");
    let response = reqwest::get(format!("http://{}/healthz", server.local_addr))
        .await
        .expect("sent");
    let hsts = response.headers()["strict-transport-security"]
        .to_str()
        .expect("hsts");
    assert!(hsts.contains("max-age="), "{hsts}");
    server.shutdown().await.expect("stops");
}

#[tokio::test]
async fn cross_origin_calls_are_allowed_only_from_configured_origins() {
    let origins = [
        "--cors-allowed-origins",
        "https://console.example.com,https://admin.example.com",
    ];
    on_each_backend(&origins, |app| async move {
        for (origin, allowed) in [
            ("https://console.example.com", true),
            ("https://admin.example.com", true),
            ("https://evil.example.com", false),
        ] {
            let preflight = app
                .client
                .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.base))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "authorization, content-type",
                )
                .send()
                .await
                .expect("sent");
            let allow = preflight
                .headers()
                .get("access-control-allow-origin")
                .cloned();
            assert_eq!(
                allow.is_some(),
                allowed,
                "{origin}: {:?}",
                preflight.headers()
            );
            let call = app
                .client
                .post(format!("{}/graphql", app.base))
                .header("origin", origin)
                .json(&json!({ "query": "{ version }" }))
                .send()
                .await
                .expect("sent");
            let allow = call.headers().get("access-control-allow-origin");
            if allowed {
                assert_eq!(allow.expect("allowed"), origin);
                let methods = preflight.headers()["access-control-allow-methods"]
                    .to_str()
                    .expect("methods")
                    .to_owned();
                assert!(methods.contains("POST"), "{methods}");
            } else {
                assert!(allow.is_none());
            }
            assert!(
                call.headers()
                    .get("access-control-allow-credentials")
                    .is_none()
            );
        }
        app
    })
    .await;
}

#[tokio::test]
async fn a_malformed_cors_origin_stops_the_server_at_start() {
    let database = steward_store::testing::TestDatabase::create(steward_store::Backend::Sqlite)
        .await
        .expect("database");
    for origin in [
        "console.example.com",
        "https://example.com/path",
        "https://*.example.com",
    ] {
        let config =
            crate::support::test_config(&database.url, &["--cors-allowed-origins", origin]);
        let Err(error) = steward_server::start(&config).await else {
            panic!("{origin} was accepted");
        };
        assert!(
            error.describe().contains("is not an origin"),
            "{}",
            error.describe()
        );
    }
}
