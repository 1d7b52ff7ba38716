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
