use steward_domain::DomainError;

/// A failure of the store. Domain failures (a taken username, say) are told apart from
/// database failures, which are internal and never shown to clients as they are.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether this is a unique-constraint violation on `column`. SQLite names the column in
    /// its message ("UNIQUE constraint failed: users.email_normalized"); PostgreSQL names the
    /// constraint, whose default name contains the column ("users_email_normalized_key").
    pub fn is_unique_violation_on(&self, column: &str) -> bool {
        let StoreError::Database(sqlx::Error::Database(error)) = self else {
            return false;
        };
        error.is_unique_violation()
            && (error.constraint().is_some_and(|name| name.contains(column))
                || error.message().contains(column))
    }
}

impl StoreError {
    /// Whether the database could not be reached or did not answer in time (the pool timed
    /// out, the connection broke, PostgreSQL is shutting down or refuses connections, SQLite
    /// stayed locked past its busy timeout): a transient failure the client may retry, not a
    /// fault of the request.
    pub fn is_unavailable(&self) -> bool {
        let StoreError::Database(error) = self else {
            return false;
        };
        match error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(error) => error.code().is_some_and(|code| {
                // PostgreSQL: class 08 (connection exception), 57P01-57P03 (shutdown, cannot
                // connect now); SQLite: 5 and 6 (busy, locked) and their extended codes.
                code.starts_with("08")
                    || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")
                    || code
                        .parse::<i32>()
                        .is_ok_and(|code| matches!(code & 0xff, 5 | 6))
            }),
            _ => false,
        }
    }

    /// Whether a reference to a missing row was refused.
    pub fn is_foreign_key_violation(&self) -> bool {
        matches!(self, StoreError::Database(error) if Self::is_foreign_key(error))
    }

    pub(crate) fn is_foreign_key(error: &sqlx::Error) -> bool {
        matches!(error, sqlx::Error::Database(error) if error.is_foreign_key_violation())
    }
}

/// Turns a unique violation on one of `columns` into a [`DomainError::Conflict`] naming the
/// client's field, in the manner of realworld-axum-sqlx's `on_constraint`.
pub(crate) fn on_unique(
    error: sqlx::Error,
    columns: &[(&str, &'static str, &'static str)],
) -> StoreError {
    let error = StoreError::Database(error);
    for (column, field, reason) in columns {
        if error.is_unique_violation_on(column) {
            return StoreError::Domain(DomainError::conflict(field, *reason));
        }
    }
    error
}
