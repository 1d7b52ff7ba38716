//! Test support: a fresh, migrated database for each test, on each backend under test.
//!
//! SQLite runs always, in memory. PostgreSQL runs when `STEWARD_TEST_POSTGRES_URL` names a
//! server (`cargo xtask pg start` gives one), or, when it is unset and a Docker engine answers,
//! in a container started once per test process. Each test gets its own PostgreSQL database,
//! so tests run in parallel without seeing each other's rows.

use std::str::FromStr;
use std::sync::OnceLock;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use uuid::Uuid;

use crate::pool::with_database;
use crate::{Backend, Result, Store, StoreError, StoreOptions};

/// The environment variable naming the PostgreSQL server for tests.
pub const POSTGRES_URL_VAR: &str = "STEWARD_TEST_POSTGRES_URL";

/// The backends to run each store and end-to-end test on.
pub fn backends() -> Vec<Backend> {
    let mut backends = vec![Backend::Sqlite];
    if postgres_server_url().is_some() {
        backends.push(Backend::Postgres);
    }
    backends
}

/// A database made for one test.
#[derive(Debug)]
pub struct TestDatabase {
    pub store: Store,
    /// A URL another process or pool can open the same database with.
    pub url: String,
}

impl TestDatabase {
    /// A new empty, migrated database. On SQLite the file lives in the system's temporary
    /// folder (a server under test opens it by URL); `in_memory` keeps it in this process only.
    pub async fn create(backend: Backend) -> Result<TestDatabase> {
        let url = match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir()
                    .join(format!("steward-test-{}.db", Uuid::new_v4().simple()));
                format!("sqlite://{}", path.display())
            }
            Backend::Postgres => create_postgres_database().await?,
        };
        let store = Store::connect(&url, &StoreOptions::default()).await?;
        store.migrate().await?;
        Ok(TestDatabase { store, url })
    }

    /// A migrated SQLite database in memory, for store tests that need no second process.
    pub async fn in_memory() -> Result<TestDatabase> {
        let url = "sqlite::memory:".to_owned();
        let store = Store::connect(&url, &StoreOptions::default()).await?;
        store.migrate().await?;
        Ok(TestDatabase { store, url })
    }

    /// Runs `sql` (one or more statements) as it is: for tests that inject a fault, such as
    /// a trigger that fails a step of a transaction.
    pub async fn execute_raw(&self, sql: &'static str) -> Result<()> {
        crate::on_pool!(&self.store, |pool| {
            sqlx::raw_sql(sql).execute(pool).await?;
        });
        Ok(())
    }

    /// A transaction that holds the write lock of the database (SQLite) or an exclusive lock
    /// on `users` (PostgreSQL: reads go on, writes wait) until it is dropped: for tests of
    /// requests that wait on a lock.
    pub async fn hold_write_lock(&self) -> Result<crate::Tx> {
        let mut tx = self.store.begin().await?;
        if let crate::Tx::Postgres(tx) = &mut tx {
            sqlx::query("LOCK TABLE users IN EXCLUSIVE MODE")
                .execute(&mut **tx)
                .await?;
        }
        Ok(tx)
    }

    /// Runs `sql` built at run time (ids of the test's rows in it): test fixtures only.
    pub async fn execute_sql(&self, sql: String) -> Result<()> {
        crate::on_pool!(&self.store, |pool| {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The store for a backend: in memory for SQLite, a new database for PostgreSQL.
    pub async fn for_store_test(backend: Backend) -> Result<TestDatabase> {
        match backend {
            Backend::Sqlite => Self::in_memory().await,
            Backend::Postgres => Self::create(backend).await,
        }
    }
}

impl Drop for TestDatabase {
    /// Removes a SQLite test file and its WAL companions. (PostgreSQL test databases live in
    /// a throwaway server or container and go with it.)
    fn drop(&mut self) {
        if let Some(path) = self.url.strip_prefix("sqlite://") {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{path}{suffix}"));
            }
        }
    }
}

/// The URL of the PostgreSQL server tests use, if there is one.
pub fn postgres_server_url() -> Option<String> {
    static URL: OnceLock<Option<String>> = OnceLock::new();
    URL.get_or_init(|| match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if docker_engine_reachable() => start_container(),
        _ => None,
    })
    .clone()
}

async fn create_postgres_database() -> Result<String> {
    let server = postgres_server_url().ok_or_else(|| {
        StoreError::Corrupt(format!(
            "{POSTGRES_URL_VAR} is not set and no Docker engine answers"
        ))
    })?;
    let name = format!("steward_test_{}", Uuid::new_v4().simple());
    let mut admin = PgConnection::connect_with(&PgConnectOptions::from_str(&server)?).await?;
    // The name is made here of hex digits only; no client text reaches this statement.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(with_database(&server, &name))
}

fn docker_engine_reachable() -> bool {
    std::env::var_os("DOCKER_HOST").is_some()
        || std::path::Path::new("/var/run/docker.sock").exists()
}

/// Starts a PostgreSQL container on a thread of its own that keeps it alive for the whole test
/// process (each test has its own runtime, which must not own the container). The container
/// is removed by testcontainers' reaper when the process ends.
fn start_container() -> Option<String> {
    let (sender, receiver) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("postgres-container".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    let _ = sender.send(Err(error.to_string()));
                    return;
                }
            };
            runtime.block_on(async move {
                use testcontainers_modules::postgres::Postgres;
                use testcontainers_modules::testcontainers::runners::AsyncRunner;
                let container = match Postgres::default().start().await {
                    Ok(container) => container,
                    Err(error) => {
                        let _ = sender.send(Err(error.to_string()));
                        return;
                    }
                };
                let url = container
                    .get_host_port_ipv4(5432)
                    .await
                    .map(|port| format!("postgres://postgres:postgres@127.0.0.1:{port}/postgres"))
                    .map_err(|error| error.to_string());
                let _ = sender.send(url);
                std::future::pending::<()>().await;
                drop(container);
            });
        });
    if spawned.is_err() {
        return None;
    }
    match receiver.recv() {
        Ok(Ok(url)) => Some(url),
        Ok(Err(error)) => {
            eprintln!(
                "a Docker engine is present but PostgreSQL did not start in it ({error}); testing on SQLite only"
            );
            None
        }
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_of_a_url_is_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5433/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5433/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h:1/db?sslmode=disable", "t1"),
            "postgres://u:p@h:1/t1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "t1"), "postgres://h/t1");
    }
}
