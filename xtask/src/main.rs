//! `cargo xtask`: maintainers' commands. One module per command, each with `run`.

mod admin;
mod audit;
mod bench;
mod chaos;
mod consistency;
mod graphiql_check;
mod import;
mod import_crash_check;
mod keys;
mod loadtest;
mod migrate;
mod outbox;
mod pg;
mod schema;
mod server_process;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "cargo xtask", about = "Steward maintainers' commands")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Apply database migrations.
    Migrate(migrate::Migrate),
    /// Write schema.graphql from the code, or check that it is up to date.
    Schema(schema::Schema),
    /// Create a SuperAdmin (a generated password is printed once unless one is given).
    CreateAdmin(admin::CreateAdmin),
    /// A throwaway PostgreSQL for tests: start, stop, or print its URL.
    Pg(pg::Pg),
    /// List the notification outbox, or queue failed messages again.
    Outbox(outbox::Outbox),
    /// Add a new signing key for access tokens and retire the one in use.
    RotateSigningKey(keys::RotateSigningKey),
    /// Measure operations with performance targets (times and ratios of one run).
    Bench(bench::Bench),
    /// Import users from a CSV file into an organization, working the import in this process.
    Import(import::Import),
    /// Kill a server in the middle of an import and check that a restarted one finishes it,
    /// creating every user exactly once.
    ImportCrashCheck(import_crash_check::ImportCrashCheck),
    /// Faults made on purpose: PostgreSQL stopped under load, SQLite busy with writers, a
    /// worker killed mid-job; exits non-zero when the servers do not hold.
    Chaos(chaos::Chaos),
    /// A mixed workload against release servers (one, or several sharing PostgreSQL): no
    /// 5xx, p99 per operation, no memory growth, a consistent database afterwards.
    Loadtest(loadtest::Loadtest),
    /// Check the data against the consistency invariants (a dry run: nothing changes) and
    /// print the findings; exits non-zero when there are any.
    Report(consistency::Report),
    /// Check the data and repair what has a fix, each fix audited; exits non-zero when
    /// findings remain unresolved.
    Repair(consistency::Repair),
    /// Delete the audit events older than the retention period (the only way events leave
    /// the trail; the database refuses any other change to it).
    PurgeAudit(audit::PurgeAudit),
    /// Open /graphiql in headless Chromium: with --dev the documentation explorer must list
    /// the fields of Query; without it the page must say that introspection is off.
    GraphiqlCheck(graphiql_check::GraphiqlCheck),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Migrate(command) => command.run(),
        Command::Schema(command) => command.run(),
        Command::CreateAdmin(command) => command.run(),
        Command::Pg(command) => command.run(),
        Command::Outbox(command) => command.run(),
        Command::RotateSigningKey(command) => command.run(),
        Command::Bench(command) => command.run(),
        Command::Import(command) => command.run(),
        Command::ImportCrashCheck(command) => command.run(),
        Command::Chaos(command) => command.run(),
        Command::Loadtest(command) => command.run(),
        Command::Report(command) => command.run(),
        Command::Repair(command) => command.run(),
        Command::PurgeAudit(command) => command.run(),
        Command::GraphiqlCheck(command) => command.run(),
    }
}

/// The workspace root: xtask lives one folder below it.
fn workspace_root() -> std::path::PathBuf {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// A runtime for commands that talk to the database.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}
