//! Steward's server: configuration, authentication, the GraphQL API and its HTTP routes.
//!
//! Requests flow one way: HTTP → authentication → GraphQL resolvers → the application flows
//! in [`auth`] and the domain crate's rules → the store.

pub mod accounts;
pub mod app;
pub mod auth;
pub mod bootstrap;
pub mod clock;
pub mod config;
pub mod error;
pub mod graphiql;
pub mod graphql;
pub mod http;
pub mod import;
pub mod jobs;
pub mod mail;
pub mod telemetry;

use std::future::Future;
use std::net::SocketAddr;

use time::OffsetDateTime;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::app::App;
use crate::bootstrap::CreatedAdmin;
use crate::config::ServeConfig;
use crate::error::AppError;

/// A server accepting connections.
#[derive(Debug)]
pub struct RunningServer {
    pub local_addr: SocketAddr,
    /// The first administrator, when this start created one.
    pub first_admin: Option<CreatedAdmin>,
    pub app: App,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
    /// Stops the background workers (mail delivery, signing key reload, jobs).
    stop_workers: watch::Sender<bool>,
    mail_task: JoinHandle<()>,
    key_task: JoinHandle<()>,
    job_task: JoinHandle<()>,
}

impl RunningServer {
    /// Stops accepting connections, lets requests in flight finish, and closes the database.
    pub async fn shutdown(self) -> Result<(), AppError> {
        let _ = self.stop.send(());
        let _ = self.stop_workers.send(true);
        let served = self
            .task
            .await
            .map_err(|error| AppError::internal(format!("the server task failed: {error}")))?;
        self.mail_task
            .await
            .map_err(|error| AppError::internal(format!("the mail worker failed: {error}")))?;
        self.key_task.await.map_err(|error| {
            AppError::internal(format!("the signing key reload failed: {error}"))
        })?;
        self.job_task
            .await
            .map_err(|error| AppError::internal(format!("the job worker failed: {error}")))?;
        self.app.store.close().await;
        served.map_err(|error| AppError::internal(format!("serving failed: {error}")))
    }

    /// Serves until `signal` completes, then shuts down gracefully.
    pub async fn run_until(self, signal: impl Future<Output = ()>) -> Result<(), AppError> {
        signal.await;
        tracing::info!("shutting down");
        self.shutdown().await
    }
}

/// Opens the database (migrating it), makes sure an administrator exists, binds the address
/// and starts serving in the background.
pub async fn start(config: &ServeConfig) -> Result<RunningServer, AppError> {
    let now = OffsetDateTime::now_utc();
    let app = App::start(config, now).await?;
    let first_admin =
        bootstrap::ensure_first_admin(&app.store, &app.passwords, &config.admin, now).await?;
    let schemas = graphql::Schemas::new(&config.graphql_limits());
    let router = http::router(
        app.clone(),
        schemas,
        http::HttpSettings::from_config(config)?,
    );
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|error| AppError::Config(format!("cannot listen on {}: {error}", config.bind)))?;
    let local_addr = listener
        .local_addr()
        .map_err(|error| AppError::internal(format!("reading the bound address: {error}")))?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stopped.await;
        })
        .await
    });
    let mailer = mail::Mailer::from_config(&config.mail, &config.public_url)?;
    if mailer.is_local() {
        tracing::info!("no SMTP server configured: mail goes to the local mailbox");
    }
    let (stop_workers, workers_stopped) = watch::channel(false);
    let key_task = tokio::spawn(reload_signing_keys(
        app.clone(),
        std::time::Duration::from_secs(config.signing_key_reload_seconds.max(1)),
        workers_stopped.clone(),
    ));
    let mail_task = tokio::spawn(
        mail::DeliveryWorker {
            store: app.store.clone(),
            mailer,
            policy: mail::DeliveryPolicy::from_config(&config.mail),
            clock: app.clock.clone(),
        }
        .run(workers_stopped.clone()),
    );
    let job_task = tokio::spawn(jobs::JobWorker { app: app.clone() }.run(workers_stopped));
    tracing::info!(address = %local_addr, backend = ?app.store.backend(), "steward is listening");
    Ok(RunningServer {
        local_addr,
        first_admin,
        app,
        stop,
        task,
        stop_workers,
        mail_task,
        key_task,
        job_task,
    })
}

/// Every `every` until told to stop: reads the signing keys again, writes the API key uses
/// noted since the last time, removes imports abandoned while staging and jobs past their retention, and purges pending
/// deletions that nothing holds any more (one
/// whose purge failed when it was asked for, say).
async fn reload_signing_keys(
    app: App,
    every: std::time::Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => {}
            () = tokio::time::sleep(every) => {}
        }
        if *stop.borrow() {
            if let Err(error) = app.flush_api_key_uses().await {
                tracing::error!(error = %error.describe(), "recording API key uses failed");
            }
            return;
        }
        if let Err(error) = app.reload_signing_keys().await {
            tracing::error!(error = %error.describe(), "reloading the signing keys failed");
        }
        if let Err(error) = app.flush_api_key_uses().await {
            tracing::error!(error = %error.describe(), "recording API key uses failed");
        }
        let entry = steward_store::AuditEntry {
            actor: None,
            client_address: None,
            at: app.clock.now(),
        };
        match app
            .store
            .purge_abandoned_imports(entry.at - time::Duration::hours(1))
            .await
        {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "imports abandoned while staging removed"),
            Err(error) => {
                tracing::error!(error = %AppError::from(error).describe(), "removing abandoned imports failed");
            }
        }
        let retention = time::Duration::days(i64::from(app.settings.jobs.job_retention_days));
        match app.store.purge_finished_jobs(entry.at - retention).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "jobs past their retention removed"),
            Err(error) => {
                tracing::error!(error = %AppError::from(error).describe(), "removing old jobs failed");
            }
        }
        match app.store.purge_unheld_deletions(&entry).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "pending deletions carried out"),
            Err(error) => {
                tracing::error!(error = %AppError::from(error).describe(), "purging pending deletions failed");
            }
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
