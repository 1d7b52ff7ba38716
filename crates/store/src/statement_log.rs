//! The statements the store ran for each request, for the tests and benchmarks that count
//! them (feature `testing` or `bench`).
//!
//! sqlx emits one `tracing` event with target `sqlx::query` for every statement it runs, in
//! the span it runs in (SQLite's worker thread enters the span of the task that sent the
//! statement). The server runs every HTTP request, and every WebSocket connection, in a
//! `request` span carrying its `x-request-id`. [`install`] makes a process note each
//! statement with the request id of its span, so that a request's statements are told apart
//! from everything else the server does meanwhile (its mail, job and upkeep workers run in
//! no request's span).

use std::fmt::Debug;
use std::sync::{Mutex, Once, PoisonError};

use tracing::Subscriber;
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// A statement sqlx ran.
#[derive(Debug, Clone)]
pub struct Statement {
    /// The first words of its SQL: the same for any number of ids in a list.
    pub summary: String,
    /// Its whole SQL.
    pub sql: String,
}

/// The statements run inside a request span, each with the request id of its span.
static STATEMENTS: Mutex<Vec<(String, Statement)>> = Mutex::new(Vec::new());

/// Installs the log as this process's global subscriber, with the spans and events it needs
/// only; once, however often it is called. Nothing else of the process is logged.
pub fn install() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let _ = tracing::subscriber::set_global_default(Registry::default().with(
            StatementLog.with_filter(EnvFilter::new(
                "sqlx::query=trace,steward_server::http=info",
            )),
        ));
    });
}

/// The statements of the request `request_id`; the log is emptied (of other requests' too,
/// such as a login or a warm-up before it).
pub fn statements_of(request_id: &str) -> Vec<Statement> {
    let mut statements = STATEMENTS.lock().unwrap_or_else(PoisonError::into_inner);
    std::mem::take(&mut *statements)
        .into_iter()
        .filter(|(id, _)| id == request_id)
        .map(|(_, statement)| statement)
        .collect()
}

/// The `request_id` of a `request` span, kept in the span's extensions.
struct RequestId(String);

struct StatementLog;

impl<S> Layer<S> for StatementLog
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
{
    fn on_new_span(&self, attributes: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attributes.metadata().name() != "request" {
            return;
        }
        let mut request_id = Field("request_id", String::new());
        attributes.record(&mut request_id);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(RequestId(request_id.1));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        if !event.metadata().target().starts_with("sqlx::query") {
            return;
        }
        let Some(request_id) = ctx.event_scope(event).and_then(|scope| {
            scope
                .into_iter()
                .find_map(|span| span.extensions().get::<RequestId>().map(|id| id.0.clone()))
        }) else {
            // Not a request's: a worker's, or seeding.
            return;
        };
        let mut summary = Field("summary", String::new());
        event.record(&mut summary);
        let mut sql = Field("db.statement", String::new());
        event.record(&mut sql);
        // A connection the pool opens sets itself up (SQLite's PRAGMAs): that is the pool's,
        // not the request's.
        if summary.1.starts_with("PRAGMA") {
            return;
        }
        let statement = Statement {
            // A short statement is all summary.
            sql: if sql.1.is_empty() {
                summary.1.clone()
            } else {
                sql.1
            },
            summary: summary.1,
        };
        STATEMENTS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((request_id, statement));
    }
}

/// Keeps the field named `.0` of an event or a span.
struct Field(&'static str, String);

impl tracing::field::Visit for Field {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn Debug) {
        if field.name() == self.0 {
            self.1 = format!("{value:?}");
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == self.0 {
            value.clone_into(&mut self.1);
        }
    }
}
