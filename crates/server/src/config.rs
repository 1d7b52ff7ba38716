//! Configuration: every setting is a flag and a `STEWARD_*` environment variable, and its doc
//! comment is its `--help` text.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};
use steward_domain::throttle::ThrottlePolicy;

/// Where the data lives. Shared by `serve`, `migrate` and the maintainers' `cargo xtask`.
#[derive(Args, Debug, Clone)]
pub struct DatabaseConfig {
    /// Database URL: `sqlite://FILE` (created on first start) or `postgres://USER@HOST/DB`.
    #[arg(
        long,
        env = "STEWARD_DATABASE_URL",
        default_value = "sqlite://steward.db"
    )]
    pub database_url: String,

    /// Largest number of open database connections.
    #[arg(long, env = "STEWARD_DATABASE_MAX_CONNECTIONS", default_value_t = 10)]
    pub database_max_connections: u32,

    /// How long a request waits for a database connection, in milliseconds, before it fails
    /// with `UNAVAILABLE` (HTTP 503). While the database is down, requests fail this fast
    /// instead of hanging; the server reconnects by itself when it is back.
    #[arg(
        long,
        env = "STEWARD_DATABASE_ACQUIRE_TIMEOUT_MS",
        default_value_t = 3_000
    )]
    pub database_acquire_timeout_ms: u64,
}

impl DatabaseConfig {
    pub fn store_options(&self) -> steward_store::StoreOptions {
        steward_store::StoreOptions {
            max_connections: self.database_max_connections,
            acquire_timeout: Duration::from_millis(self.database_acquire_timeout_ms.max(1)),
            ..Default::default()
        }
    }
}

/// How log lines are written.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Parameters of argon2id. The defaults are OWASP's (19 MiB, 2 passes, 1 lane); lower them
/// only for tests. Stored hashes carry their parameters and are upgraded at the next login.
#[derive(Args, Debug, Clone)]
pub struct PasswordHashConfig {
    /// argon2id memory cost in KiB.
    #[arg(long, env = "STEWARD_PASSWORD_HASH_MEMORY_KIB", default_value_t = 19 * 1024)]
    pub password_hash_memory_kib: u32,

    /// argon2id number of passes.
    #[arg(long, env = "STEWARD_PASSWORD_HASH_ITERATIONS", default_value_t = 2)]
    pub password_hash_iterations: u32,

    /// argon2id degree of parallelism.
    #[arg(long, env = "STEWARD_PASSWORD_HASH_PARALLELISM", default_value_t = 1)]
    pub password_hash_parallelism: u32,

    /// How many password hashes may be computed at once (default: the number of CPUs). Further
    /// logins wait their turn instead of starving the rest of the server.
    #[arg(long, env = "STEWARD_PASSWORD_HASH_CONCURRENCY")]
    pub password_hash_concurrency: Option<usize>,
}

/// The first administrator, created on first start when no SuperAdmin exists.
#[derive(Args, Debug, Clone)]
pub struct AdminConfig {
    /// Username of the first administrator.
    #[arg(long, env = "STEWARD_ADMIN_USERNAME", default_value = "admin")]
    pub admin_username: String,

    /// E-mail address of the first administrator.
    #[arg(
        long,
        env = "STEWARD_ADMIN_EMAIL",
        default_value = "admin@steward.local"
    )]
    pub admin_email: String,

    /// Password of the first administrator. When unset, a password is generated, shown once
    /// on the console, and must be changed at the first login.
    #[arg(long, env = "STEWARD_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
}

/// How the SMTP connection is secured.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Connect in plain text and upgrade with STARTTLS (refuses servers that cannot). Port 587.
    Starttls,
    /// TLS from the first byte (SMTPS). Port 465.
    Tls,
    /// No encryption at all: only for a relay on the same host or a test sink.
    None,
}

/// Outgoing mail. Without `--smtp-host`, messages go to the local mailbox in the database.
#[derive(Args, Debug, Clone)]
pub struct MailConfig {
    /// SMTP server to send through. Unset: the embedded default keeps mail in a local mailbox
    /// (`devMailbox` in development mode) and sends nothing over the network.
    #[arg(long, env = "STEWARD_SMTP_HOST")]
    pub smtp_host: Option<String>,

    /// SMTP port (default: 587 for starttls, 465 for tls, 25 for none).
    #[arg(long, env = "STEWARD_SMTP_PORT")]
    pub smtp_port: Option<u16>,

    /// How the SMTP connection is secured.
    #[arg(long, env = "STEWARD_SMTP_SECURITY", value_enum, default_value_t = SmtpSecurity::Starttls)]
    pub smtp_security: SmtpSecurity,

    /// SMTP user name, when the server wants a login.
    #[arg(long, env = "STEWARD_SMTP_USERNAME")]
    pub smtp_username: Option<String>,

    /// SMTP password.
    #[arg(long, env = "STEWARD_SMTP_PASSWORD", hide_env_values = true)]
    pub smtp_password: Option<String>,

    /// Seconds to wait for the SMTP server before an attempt counts as failed.
    #[arg(long, env = "STEWARD_SMTP_TIMEOUT_SECONDS", default_value_t = 30)]
    pub smtp_timeout_seconds: u64,

    /// The From address of every message, optionally with a display name.
    #[arg(
        long,
        env = "STEWARD_MAIL_FROM",
        default_value = "Steward <steward@localhost>"
    )]
    pub mail_from: String,

    /// The product name used in messages.
    #[arg(long, env = "STEWARD_PRODUCT_NAME", default_value = "Steward")]
    pub product_name: String,

    /// Delivery attempts per message before it is marked failed (its error is kept).
    #[arg(long, env = "STEWARD_MAIL_MAX_ATTEMPTS", default_value_t = 10)]
    pub mail_max_attempts: u32,

    /// Delay before the first retry, in milliseconds; it doubles at each further failure.
    #[arg(long, env = "STEWARD_MAIL_RETRY_BASE_MS", default_value_t = 30_000)]
    pub mail_retry_base_ms: u64,

    /// Longest delay between two attempts, in milliseconds.
    #[arg(long, env = "STEWARD_MAIL_RETRY_MAX_MS", default_value_t = 3_600_000)]
    pub mail_retry_max_ms: u64,

    /// How often the delivery worker looks for due messages, in milliseconds.
    #[arg(long, env = "STEWARD_MAIL_POLL_MS", default_value_t = 1_000)]
    pub mail_poll_ms: u64,
}

/// Everything `steward serve` needs.
#[derive(Args, Debug, Clone)]
pub struct ServeConfig {
    #[command(flatten)]
    pub database: DatabaseConfig,

    /// Address and port to listen on.
    #[arg(long, env = "STEWARD_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// The URL people and services reach this server at; links in e-mails are built from it
    /// and it is the `iss` of every token.
    #[arg(
        long,
        env = "STEWARD_PUBLIC_URL",
        default_value = "http://localhost:8080"
    )]
    pub public_url: String,

    /// The `aud` of access tokens: who they are meant for.
    #[arg(long, env = "STEWARD_TOKEN_AUDIENCE", default_value = "steward")]
    pub token_audience: String,

    /// Lifetime of access tokens, in seconds.
    #[arg(long, env = "STEWARD_ACCESS_TOKEN_TTL_SECONDS", default_value_t = 15 * 60)]
    pub access_token_ttl_seconds: u64,

    /// Lifetime of a login session, in seconds (the refresh token's lifetime).
    #[arg(long, env = "STEWARD_SESSION_TTL_SECONDS", default_value_t = 30 * 24 * 3600)]
    pub session_ttl_seconds: u64,

    /// How often the signing keys are read again from the database, in seconds, so that a
    /// rotation (`cargo xtask rotate-signing-key`) reaches every running instance.
    #[arg(long, env = "STEWARD_SIGNING_KEY_RELOAD_SECONDS", default_value_t = 60)]
    pub signing_key_reload_seconds: u64,

    /// Failed logins of one account before it is locked out (Keycloak's default: 30).
    #[arg(long, env = "STEWARD_LOCKOUT_FAILURES", default_value_t = 30)]
    pub lockout_failures: u32,

    /// Failed logins from one client address before it is locked out. Higher than for an
    /// account: many people may share an address.
    #[arg(long, env = "STEWARD_LOCKOUT_ADDRESS_FAILURES", default_value_t = 100)]
    pub lockout_address_failures: u32,

    /// The first lockout's length in seconds, added again at every further failure.
    #[arg(long, env = "STEWARD_LOCKOUT_WAIT_SECONDS", default_value_t = 60)]
    pub lockout_wait_seconds: u64,

    /// The longest lockout, in seconds.
    #[arg(long, env = "STEWARD_LOCKOUT_MAX_WAIT_SECONDS", default_value_t = 15 * 60)]
    pub lockout_max_wait_seconds: u64,

    /// Seconds after the last failure when the count starts again.
    #[arg(long, env = "STEWARD_LOCKOUT_RESET_SECONDS", default_value_t = 12 * 3600)]
    pub lockout_reset_seconds: u64,

    /// Password reset requests for one e-mail address (known or not) in a row, each less
    /// than the window after the previous one; past them, one per window. 0: no limit.
    #[arg(long, env = "STEWARD_PASSWORD_RESET_PER_EMAIL", default_value_t = 3)]
    pub password_reset_per_email: u32,

    /// Password reset requests from one client address in a row, each less than the window
    /// after the previous one; past them, one per window. 0: no limit.
    #[arg(long, env = "STEWARD_PASSWORD_RESET_PER_ADDRESS", default_value_t = 20)]
    pub password_reset_per_address: u32,

    /// The window of the password reset limits, in seconds.
    #[arg(
        long,
        env = "STEWARD_PASSWORD_RESET_WINDOW_SECONDS",
        default_value_t = 3600
    )]
    pub password_reset_window_seconds: u64,

    /// Log line format.
    #[arg(long, env = "STEWARD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Answer GraphQL introspection (GraphiQL's documentation and completion need it).
    /// Default: on in development mode (`--dev`), off otherwise.
    #[arg(long, env = "STEWARD_GRAPHQL_INTROSPECTION", action = clap::ArgAction::Set)]
    pub graphql_introspection: Option<bool>,

    /// Suggest field and type names ("did you mean ...?") in validation errors, which tells
    /// a stranger the schema. Default: on in development mode (`--dev`), off otherwise.
    #[arg(long, env = "STEWARD_GRAPHQL_SUGGESTIONS", action = clap::ArgAction::Set)]
    pub graphql_suggestions: Option<bool>,

    /// Deepest nesting of fields a GraphQL operation may have.
    #[arg(long, env = "STEWARD_GRAPHQL_MAX_DEPTH", default_value_t = 10)]
    pub graphql_max_depth: usize,

    /// Highest complexity (each field counts 1, a page of a list counts its size times its
    /// fields) a GraphQL operation may have.
    #[arg(long, env = "STEWARD_GRAPHQL_MAX_COMPLEXITY", default_value_t = 1000)]
    pub graphql_max_complexity: usize,

    /// Most aliased fields a GraphQL document may have.
    #[arg(long, env = "STEWARD_GRAPHQL_MAX_ALIASES", default_value_t = 30)]
    pub graphql_max_aliases: usize,

    /// Memory for automatic persisted queries, in bytes: the texts of the queries clients sent
    /// with their SHA-256 hash, so that they may send the hash alone afterwards. Each text
    /// counts its length plus 128 bytes; past the budget the least recently used are forgotten
    /// (their clients send the text again). 0 turns persisted queries off.
    #[arg(
        long,
        env = "STEWARD_GRAPHQL_PERSISTED_QUERY_CACHE_BYTES",
        default_value_t = 8 * 1024 * 1024
    )]
    pub graphql_persisted_query_cache_bytes: usize,

    /// Longest a GraphQL request may run, in milliseconds; past it the request is cancelled
    /// (its transaction rolls back) and answered 503 with code `TIMEOUT`. Uploads (bulk
    /// imports) are bounded by their size instead.
    #[arg(long, env = "STEWARD_GRAPHQL_TIMEOUT_MS", default_value_t = 15_000)]
    pub graphql_timeout_ms: u64,

    /// Seconds a request body may stop arriving before the request is given up and answered
    /// 408 (a client that sends part of a body and then nothing must not hold a connection
    /// and a temporary file for ever).
    #[arg(long, env = "STEWARD_BODY_IDLE_TIMEOUT_SECONDS", default_value_t = 30)]
    pub body_idle_timeout_seconds: u64,

    /// Web origins (`https://console.example.com`, comma-separated) whose pages may call
    /// the API from a browser (CORS). Default: none, and browsers refuse cross-origin calls.
    /// `*` allows every origin (tokens travel in the Authorization header, never in cookies).
    #[arg(long, env = "STEWARD_CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub cors_allowed_origins: Vec<String>,

    /// Base64 of 32 random bytes (`openssl rand -base64 32`): the key that encrypts
    /// two-factor secrets at rest. Required with PostgreSQL. Unset with SQLite, a key is made
    /// on first start and kept next to the database file (`steward.db` →
    /// `steward.secret-key`, readable by its owner only). Changing it makes every enrolled
    /// authenticator unusable.
    #[arg(long, env = "STEWARD_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    #[command(flatten)]
    pub password_hash: PasswordHashConfig,

    #[command(flatten)]
    pub jobs: JobConfig,

    #[command(flatten)]
    pub admin: AdminConfig,

    #[command(flatten)]
    pub mail: MailConfig,

    /// Development mode: GraphQL introspection and field suggestions are on (unless turned
    /// off), and `devMailbox` lists the local mailbox to SuperAdmins. Never in production.
    #[arg(long, env = "STEWARD_DEV", default_value_t = false)]
    pub dev: bool,
}

impl ServeConfig {
    /// The lockout policies for accounts and for client addresses.
    pub fn throttle_policies(&self) -> (ThrottlePolicy, ThrottlePolicy) {
        let seconds =
            |value: u64| time::Duration::seconds(i64::try_from(value).unwrap_or(i64::MAX));
        let account = ThrottlePolicy {
            max_failures: self.lockout_failures,
            wait_increment: seconds(self.lockout_wait_seconds),
            max_wait: seconds(self.lockout_max_wait_seconds),
            reset_after: seconds(self.lockout_reset_seconds),
        };
        let address = ThrottlePolicy {
            max_failures: self.lockout_address_failures,
            ..account
        };
        (account, address)
    }

    /// The limits of password reset requests per typed e-mail address and per client
    /// address.
    pub fn password_reset_policies(&self) -> (ThrottlePolicy, ThrottlePolicy) {
        let window = time::Duration::seconds(
            i64::try_from(self.password_reset_window_seconds).unwrap_or(i64::MAX),
        );
        (
            ThrottlePolicy::rate_limit(self.password_reset_per_email, window),
            ThrottlePolicy::rate_limit(self.password_reset_per_address, window),
        )
    }

    pub fn access_token_ttl(&self) -> Duration {
        Duration::from_secs(self.access_token_ttl_seconds)
    }

    pub fn session_ttl(&self) -> Duration {
        Duration::from_secs(self.session_ttl_seconds)
    }

    /// The issuer named in tokens: the public URL without a trailing slash.
    pub fn issuer(&self) -> String {
        self.public_url.trim_end_matches('/').to_owned()
    }

    pub fn graphql_limits(&self) -> crate::graphql::Limits {
        crate::graphql::Limits {
            max_depth: self.graphql_max_depth,
            max_complexity: self.graphql_max_complexity,
            max_aliases: self.graphql_max_aliases,
            introspection: self.graphql_introspection.unwrap_or(self.dev),
            suggestions: self.graphql_suggestions.unwrap_or(self.dev),
        }
    }

    pub fn graphql_timeout(&self) -> Duration {
        Duration::from_millis(self.graphql_timeout_ms.max(1))
    }

    pub fn body_idle_timeout(&self) -> Duration {
        Duration::from_secs(self.body_idle_timeout_seconds.max(1))
    }
}

/// Background jobs (bulk user imports).
#[derive(Args, Debug, Clone)]
pub struct JobConfig {
    /// How often an idle job worker looks for queued jobs, in milliseconds.
    #[arg(long, env = "STEWARD_JOB_POLL_MS", default_value_t = 1_000)]
    pub job_poll_ms: u64,

    /// How long a worker's claim on a job lasts without renewal, in seconds. Each batch
    /// renews it; when a worker dies, another instance (or this one, restarted) takes the
    /// job over after this long and resumes it after the last committed batch.
    #[arg(long, env = "STEWARD_JOB_LEASE_SECONDS", default_value_t = 60)]
    pub job_lease_seconds: u64,

    /// Rows of an import handled in one transaction.
    #[arg(long, env = "STEWARD_IMPORT_BATCH_ROWS", default_value_t = 500)]
    pub import_batch_rows: u32,

    /// Users (or organizations) a consistency run checks in one transaction.
    #[arg(long, env = "STEWARD_CONSISTENCY_CHUNK", default_value_t = 500)]
    pub consistency_chunk: u32,

    /// Days a job is kept after it ended, with its per-row results (an import's rows hold
    /// the names and addresses of its file); then the upkeep removes it.
    #[arg(long, env = "STEWARD_JOB_RETENTION_DAYS", default_value_t = 30)]
    pub job_retention_days: u32,

    /// Largest upload accepted (a CSV file for a bulk import), in bytes. Other requests stay
    /// limited to 1 MiB.
    #[arg(long, env = "STEWARD_MAX_UPLOAD_BYTES", default_value_t = 512 * 1024 * 1024)]
    pub max_upload_bytes: u64,
}

impl JobConfig {
    pub fn lease(&self) -> time::Duration {
        time::Duration::seconds(i64::try_from(self.job_lease_seconds.max(1)).unwrap_or(i64::MAX))
    }
}
