//! `cargo xtask graphiql-check`: the embedded GraphiQL seen in a real browser. Headless
//! Chromium opens `/graphiql` on a development server (`--dev`, introspection on) and the
//! documentation explorer must list the fields of `Query`; on a server without `--dev`
//! (introspection off, as in production) the page must say that introspection is off.
//!
//! The browser is driven over the DevTools protocol: Chromium started with
//! `--remote-debugging-port=0` writes the port it chose to `DevToolsActivePort` in its
//! profile folder, `/json/list` names the page's WebSocket, and `Runtime.evaluate` runs a
//! script in the page that clicks as a user would and answers what it sees.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::import::Scratch;
use crate::server_process::{Server, build_server};

/// Longest wait for Chromium to start, and for the page to show what it must. Generous: the
/// machines are shared, and the checks wait on what is seen, not on time.
const PATIENCE: Duration = Duration::from_secs(120);

/// Flags that let Chromium run headless as root on a machine without a display, a D-Bus
/// session or network access, with a fresh profile (`--user-data-dir`, added at start).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-port=0",
];

/// What the server without `--dev` must show in the page (its refusal of introspection, in
/// GraphiQL's result pane).
const INTROSPECTION_OFF: &str = "introspection is off";

#[derive(clap::Args, Debug)]
pub struct GraphiqlCheck {
    /// The Chromium (or Chrome) binary.
    #[arg(long, env = "STEWARD_CHROMIUM", default_value = "chromium")]
    chromium: PathBuf,
    /// A server binary to check instead of building this workspace's (an older build, to
    /// see the check fail on it; a release build).
    #[arg(long)]
    server: Option<PathBuf>,
}

impl GraphiqlCheck {
    pub fn run(self) -> anyhow::Result<()> {
        let binary = match &self.server {
            Some(binary) => binary.clone(),
            None => build_server()?,
        };
        let mut scratch = Scratch::new("graphiql-check")?;
        let result = crate::runtime()?.block_on(self.check(&binary, &scratch.path));
        if result.is_err() {
            scratch.keep();
            eprintln!(
                "the servers' and Chromium's logs are kept in {}",
                scratch.path.display()
            );
        }
        result
    }

    async fn check(&self, binary: &Path, scratch: &Path) -> anyhow::Result<()> {
        // Development: the documentation explorer lists the fields of Query.
        let dev = Server::start(
            binary,
            &format!("sqlite://{}", scratch.join("dev.db").display()),
            &["--dev".to_owned()],
            &scratch.join("server-dev.log"),
        )?;
        let expected = query_fields(dev.port).await?;
        let listed = self
            .in_page(dev.port, scratch, "dev", LIST_QUERY_FIELDS)
            .await
            .context("GraphiQL on a server with --dev")?;
        let listed: BTreeSet<String> = serde_json::from_value(listed)
            .context("the documentation explorer's list of Query fields")?;
        ensure!(
            listed == expected,
            "on a server with --dev, GraphiQL's documentation explorer lists {listed:?} as the \
             fields of Query, but the schema has {expected:?}"
        );
        println!(
            "--dev: GraphiQL's documentation explorer lists the {} fields of Query",
            listed.len()
        );
        drop(dev);

        // Production: introspection is off, and the page says so.
        let production = Server::start(
            binary,
            &format!("sqlite://{}", scratch.join("production.db").display()),
            &[],
            &scratch.join("server-production.log"),
        )?;
        let script = SAYS_INTROSPECTION_IS_OFF.replace("{words}", INTROSPECTION_OFF);
        let shown = self
            .in_page(production.port, scratch, "production", &script)
            .await
            .context("GraphiQL on a server without --dev")?;
        let shown = shown.as_str().unwrap_or_default();
        println!("without --dev: GraphiQL shows \"{shown}\"");
        Ok(())
    }

    /// Opens `/graphiql` on the server at `port` in a new headless Chromium and answers what
    /// `script` (an expression whose promise resolves to a JSON value) finds there.
    async fn in_page(
        &self,
        port: u16,
        scratch: &Path,
        name: &str,
        script: &str,
    ) -> anyhow::Result<Value> {
        let url = format!("http://127.0.0.1:{port}/graphiql");
        let profile = scratch.join(format!("chromium-{name}"));
        let mut browser = Browser::start(&self.chromium, &profile, &url)?;
        let page = browser.page_socket(&url).await?;
        let (socket, _) = tokio_tungstenite::connect_async(page.as_str())
            .await
            .context("connecting to the page over the DevTools protocol")?;
        let mut page = Page { socket, next_id: 0 };
        // Chromium may still be replacing its first blank document with the page: wait until
        // the page's own document has loaded (an evaluation in a document being replaced
        // fails, and is tried again).
        let loaded = format!(
            "document.readyState === 'complete' && location.href === {}",
            json!(url)
        );
        let started = Instant::now();
        while page.evaluate(&loaded).await? != Ok(json!(true)) {
            ensure!(
                started.elapsed() < PATIENCE,
                "Chromium did not load {url} within 2 minutes"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        page.evaluate(&in_page_script(script))
            .await?
            .map_err(anyhow::Error::msg)
    }
}

/// A tab's DevTools connection.
struct Page {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_id: u64,
}

impl Page {
    /// Evaluates `expression` in the page, awaiting the promise it may return: its JSON value,
    /// or what went wrong in the page (an exception, or a document replaced meanwhile).
    async fn evaluate(&mut self, expression: &str) -> anyhow::Result<Result<Value, String>> {
        self.next_id += 1;
        let id = self.next_id;
        let request = json!({
            "id": id,
            "method": "Runtime.evaluate",
            "params": { "expression": expression, "awaitPromise": true, "returnByValue": true },
        });
        self.socket
            .send(Message::Text(request.to_string().into()))
            .await
            .context("sending a script to the page")?;
        let started = Instant::now();
        loop {
            let remaining = PATIENCE
                .checked_sub(started.elapsed())
                .context("the page did not answer a script within 2 minutes")?;
            let frame = tokio::time::timeout(remaining, self.socket.next())
                .await
                .context("the page did not answer a script within 2 minutes")?
                .context("Chromium closed the DevTools connection")?
                .context("reading from the DevTools connection")?;
            let Message::Text(text) = frame else {
                continue;
            };
            let message: Value = serde_json::from_str(&text).context("a DevTools message")?;
            if message["id"] != json!(id) {
                continue;
            }
            if let Some(error) = message.get("error") {
                return Ok(Err(format!("the page could not run the script: {error}")));
            }
            if let Some(exception) = message["result"]["exceptionDetails"].as_object() {
                let description = exception
                    .get("exception")
                    .and_then(|exception| exception["description"].as_str())
                    .unwrap_or_default();
                return Ok(Err(description.to_owned()));
            }
            return Ok(Ok(message["result"]["result"]["value"].clone()));
        }
    }
}

/// The fields of `Query`, as the server's introspection answers them.
async fn query_fields(port: u16) -> anyhow::Result<BTreeSet<String>> {
    let body: Value = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/graphql"))
        .json(&json!({ "query": "{ __schema { queryType { fields { name } } } }" }))
        .send()
        .await
        .context("asking the server for the fields of Query")?
        .json()
        .await
        .context("reading the fields of Query")?;
    let fields = body["data"]["__schema"]["queryType"]["fields"]
        .as_array()
        .with_context(|| format!("no fields of Query in {body}"))?;
    Ok(fields
        .iter()
        .filter_map(|field| field["name"].as_str())
        .map(str::to_owned)
        .collect())
}

/// `body` as an expression for `Runtime.evaluate`: an async function, called, after helpers
/// that wait in the page until something is seen (60 s at most) and open the documentation
/// explorer as a user would.
fn in_page_script(body: &str) -> String {
    format!("(async () => {{\n{HELPERS}\n{body}\n}})()")
}

const HELPERS: &str = r#"
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const text = () => document.body.innerText;
async function until(what, find) {
  for (let i = 0; i < 600; i++) {
    const found = find();
    if (found) return found;
    await sleep(100);
  }
  throw new Error('not seen within 60 s: ' + what + '. The page shows:\n' + text().slice(0, 3000));
}
const docs = await until('the button "Show Documentation Explorer"', () =>
  document.querySelector('[aria-label="Show Documentation Explorer"]'));
docs.click();
"#;

/// Opens the documentation explorer, then the `Query` type, and answers its field names.
const LIST_QUERY_FIELDS: &str = r#"
const query = await until('the type Query in the documentation explorer', () =>
  [...document.querySelectorAll('.graphiql-doc-explorer a.graphiql-doc-explorer-type-name')]
    .find((link) => link.textContent.trim() === 'Query'));
query.click();
const fields = await until('the fields of Query in the documentation explorer', () => {
  const names = [...document.querySelectorAll('.graphiql-doc-explorer .graphiql-doc-explorer-field-name')];
  return names.length > 0 && names;
});
return fields.map((field) => field.textContent.trim());
"#;

/// Opens the documentation explorer and waits until it has no schema and the page says why.
const SAYS_INTROSPECTION_IS_OFF: &str = r#"
await until('a documentation explorer without a schema', () =>
  document.querySelector('.graphiql-doc-explorer-error'));
const line = await until('"{words}" in the page', () =>
  text().split('\n').find((line) => line.includes('{words}')));
return line.trim();
"#;

/// A headless Chromium with its own profile, killed when dropped.
struct Browser {
    child: Child,
    profile: PathBuf,
}

impl Browser {
    fn start(chromium: &Path, profile: &Path, url: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(profile)
            .with_context(|| format!("creating {}", profile.display()))?;
        let log = profile.with_extension("log");
        let output = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new(chromium)
            .args(CHROMIUM_FLAGS)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output)
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} (install Debian's `chromium` package, or give --chromium)",
                    chromium.display()
                )
            })?;
        Ok(Browser {
            child,
            profile: profile.to_owned(),
        })
    }

    /// The DevTools WebSocket of the tab showing `url`, once Chromium listens.
    async fn page_socket(&mut self, url: &str) -> anyhow::Result<String> {
        let started = Instant::now();
        let active_port = self.profile.join("DevToolsActivePort");
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "Chromium exited ({status}) before opening {url}; its log: {}",
                    self.profile.with_extension("log").display()
                );
            }
            ensure!(
                started.elapsed() < PATIENCE,
                "Chromium did not open {url} within 2 minutes"
            );
            if let Some(socket) = page_socket(&active_port, url).await {
                return Ok(socket);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The WebSocket of the tab showing `url`, if Chromium has written the port of its DevTools
/// endpoint to `active_port` and lists that tab there.
async fn page_socket(active_port: &Path, url: &str) -> Option<String> {
    let contents = std::fs::read_to_string(active_port).ok()?;
    let port = contents.lines().next().filter(|port| !port.is_empty())?;
    let targets: Vec<Value> = reqwest::get(format!("http://127.0.0.1:{port}/json/list"))
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    targets
        .iter()
        .find(|target| target["type"] == "page" && target["url"] == url)
        .and_then(|target| target["webSocketDebuggerUrl"].as_str())
        .map(str::to_owned)
}

impl Drop for Browser {
    /// Kills Chromium and removes its profile. Its helper processes notice the browser gone
    /// and exit a moment later, and may write to the profile until then: the removal is tried
    /// again for a few seconds.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for _ in 0..50 {
            if std::fs::remove_dir_all(&self.profile).is_ok() || !self.profile.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
