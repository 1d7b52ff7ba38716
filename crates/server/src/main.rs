//! `steward`: the server binary.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use steward_server::config::{DatabaseConfig, LogFormat, ServeConfig};
use steward_server::error::AppError;
use steward_store::Store;

/// mimalloc instead of the system's allocator: a page of users allocates and frees many
/// small objects across the runtime's and SQLite's threads, and glibc's malloc spent a
/// quarter of the server's CPU on them (docs/benchmarks.md, *Where a page's CPU goes*).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "steward",
    version,
    about = "Steward: users, roles and resource ownership"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// `serve`'s settings, for when no subcommand is given.
    #[command(flatten)]
    serve: ServeConfig,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (the default).
    Serve(Box<ServeConfig>),
    /// Apply database migrations, then exit.
    Migrate(DatabaseConfig),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => serve(cli.serve).await,
        Some(Command::Serve(config)) => serve(*config).await,
        Some(Command::Migrate(config)) => migrate(config).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("steward: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    steward_server::telemetry::init(config.log_format);
    let server = steward_server::start(&config)
        .await
        .map_err(AppError::into_anyhow)?;
    if let Some(admin) = &server.first_admin {
        // Straight to the console, never to the log stream: it may hold a password.
        eprintln!("{}", admin.console_message(&config.public_url));
    }
    server
        .run_until(steward_server::shutdown_signal())
        .await
        .map_err(AppError::into_anyhow)?;
    Ok(())
}

async fn migrate(config: DatabaseConfig) -> anyhow::Result<()> {
    steward_server::telemetry::init(LogFormat::Text);
    let store = Store::connect(&config.database_url, &config.store_options()).await?;
    store.migrate().await?;
    store.close().await;
    eprintln!("steward: the database is up to date");
    Ok(())
}
