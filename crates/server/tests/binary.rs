//! The README's first command, for real: the `steward` binary started with no configuration
//! in an empty folder creates its SQLite database, prints how the first administrator gets
//! in, and that administrator can log in over HTTP.

// A test binary: a failed expectation is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

#[test]
fn the_binary_starts_on_sqlite_with_no_setup_and_the_first_admin_logs_in() {
    let folder =
        std::env::temp_dir().join(format!("steward-binary-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&folder).expect("folder");
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_steward"));
    command
        .current_dir(&folder)
        .env("STEWARD_BIND", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // Only what the README's command has: no database, no admin settings.
    for (name, _) in std::env::vars() {
        if name.starts_with("STEWARD_") && name != "STEWARD_BIND" {
            command.env_remove(name);
        }
    }
    let mut child = KillOnDrop(command.spawn().expect("steward starts"));
    let stderr = BufReader::new(child.0.stderr.take().expect("stderr"));
    let (lines, console) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });

    // The console names the generated password once; the log line says when it listens.
    let (mut password, mut listening) = (None, false);
    let deadline = Instant::now() + Duration::from_secs(120);
    while password.is_none() || !listening {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = console.recv_timeout(left) else {
            break;
        };
        if let Some(rest) = line.trim().strip_prefix("password: ") {
            password = Some(rest.trim().to_owned());
        }
        listening |= line.contains("steward is listening");
    }
    let password = password.expect("the console shows the generated password");
    assert!(listening, "the server says it is listening");
    assert!(
        folder.join("steward.db").exists(),
        "the SQLite file is created in the working folder"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let graphiql = client.get(format!("{base}/graphiql")).send().await.expect("graphiql");
        assert_eq!(graphiql.status(), 200);

        let login: serde_json::Value = client
            .post(format!("{base}/graphql"))
            .json(&serde_json::json!({
                "query": "mutation($p: String!) { login(input: {login: \"admin\", password: $p}) { accessToken errors { message } } }",
                "variables": { "p": password },
            }))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("json");
        let token = login["data"]["login"]["accessToken"].as_str().unwrap_or_else(|| panic!("{login}"));
        let me: serde_json::Value = client
            .post(format!("{base}/graphql"))
            .bearer_auth(token)
            .json(&serde_json::json!({ "query": "{ me { username platformRole mustChangePassword } }" }))
            .send()
            .await
            .expect("me")
            .json()
            .await
            .expect("json");
        assert_eq!(me["data"]["me"]["username"], "admin", "{me}");
        assert_eq!(me["data"]["me"]["platformRole"], "SUPER_ADMIN");
        assert_eq!(me["data"]["me"]["mustChangePassword"], true);
    });

    drop(child);
    let _ = std::fs::remove_dir_all(&folder);
}
