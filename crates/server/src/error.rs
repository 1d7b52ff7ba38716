//! The server's error type and its one mapping to GraphQL errors.
//!
//! Expected failures of mutations are returned as typed `errors` in their payloads (see
//! `graphql::types::UserError`); everything else becomes a GraphQL error whose
//! `extensions.code` is one of `UNAUTHENTICATED`, `FORBIDDEN`, `NOT_FOUND`, `BAD_USER_INPUT`,
//! `UNAVAILABLE` (the database is down or busy: retry; the HTTP status is 503) or `INTERNAL`.
//! Internal causes are logged, never sent.

use async_graphql::ErrorExtensions as _;
use steward_domain::DomainError;
use steward_store::StoreError;

///
/// `AppError` deliberately does not implement `Display`: async-graphql converts any `Display`
/// type into its error with a blanket `From`, which would drop `extensions.code`. Without it,
/// `?` in a resolver can only use the conversion below. [`AppError::describe`] is for logs.
#[derive(Debug)]
pub enum AppError {
    /// A domain rule refused the request (the variant decides the code).
    Domain(DomainError),
    /// The store failed; a domain failure inside it is mapped like [`AppError::Domain`].
    Store(StoreError),
    /// The configuration is not usable (reported at start, not to clients).
    Config(String),
    /// Anything else that should not happen. → `INTERNAL`.
    Internal(String),
}

impl From<DomainError> for AppError {
    fn from(error: DomainError) -> Self {
        AppError::Domain(error)
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        AppError::Store(error)
    }
}

impl AppError {
    /// The full description, causes included, for logs and operators (never for clients).
    pub fn describe(&self) -> String {
        match self {
            AppError::Domain(error) => error.to_string(),
            AppError::Store(error) => error.to_string(),
            AppError::Config(message) => format!("configuration error: {message}"),
            AppError::Internal(message) => format!("internal error: {message}"),
        }
    }

    /// For binaries, whose errors go through `anyhow`.
    pub fn into_anyhow(self) -> anyhow::Error {
        anyhow::anyhow!(self.describe())
    }

    pub fn internal(message: impl Into<String>) -> Self {
        AppError::Internal(message.into())
    }

    /// The GraphQL error code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Domain(error) | AppError::Store(StoreError::Domain(error)) => {
                domain_code(error)
            }
            AppError::Store(error) if error.is_unavailable() => UNAVAILABLE,
            _ => "INTERNAL",
        }
    }

    /// What the client may read: the domain message, or a generic line for internal errors.
    pub fn public_message(&self) -> String {
        match self {
            AppError::Domain(error) | AppError::Store(StoreError::Domain(error)) => {
                error.to_string()
            }
            AppError::Store(error) if error.is_unavailable() => {
                "the database is unavailable or too busy to answer: try again shortly".to_owned()
            }
            _ => "internal error: the server could not complete the request; it has been logged"
                .to_owned(),
        }
    }
}

/// The code of errors a client may retry: the database is down or busy.
pub const UNAVAILABLE: &str = "UNAVAILABLE";

pub fn domain_code(error: &DomainError) -> &'static str {
    match error {
        DomainError::Invalid { .. }
        | DomainError::Conflict { .. }
        | DomainError::InvalidTransition { .. } => "BAD_USER_INPUT",
        DomainError::NotFound { .. } => "NOT_FOUND",
        DomainError::Forbidden { .. } => "FORBIDDEN",
        DomainError::Unauthenticated { .. } => "UNAUTHENTICATED",
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(error: AppError) -> Self {
        let code = error.code();
        if code == "INTERNAL" {
            tracing::error!(error = %error.describe(), "request failed");
        } else if code == UNAVAILABLE {
            tracing::warn!(error = %error.describe(), "request failed: database unavailable");
        }
        async_graphql::Error::new(error.public_message()).extend_with(|_, extensions| {
            extensions.set("code", code);
            if let AppError::Domain(domain) | AppError::Store(StoreError::Domain(domain)) = &error
                && let Some(field) = domain.field()
            {
                extensions.set("field", field);
            }
        })
    }
}

/// A domain refusal as a GraphQL error with its code. (`DomainError` is `Display`, so `?` on
/// it would take async-graphql's blanket conversion and lose the code: use this instead.)
/// A store result split into an expected refusal (for a payload) or an internal failure.
pub fn expected<T>(result: Result<T, StoreError>) -> Result<Result<T, DomainError>, AppError> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(StoreError::Domain(error)) => Ok(Err(error)),
        Err(error) => Err(error.into()),
    }
}

pub fn refused(error: DomainError) -> async_graphql::Error {
    AppError::Domain(error).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_failure_maps_to_its_code() {
        let cases = [
            (
                AppError::Domain(DomainError::invalid("email", "bad")),
                "BAD_USER_INPUT",
            ),
            (
                AppError::Domain(DomainError::conflict("username", "taken")),
                "BAD_USER_INPUT",
            ),
            (
                AppError::Domain(DomainError::NotFound { what: "user" }),
                "NOT_FOUND",
            ),
            (AppError::Domain(DomainError::forbidden("no")), "FORBIDDEN"),
            (
                AppError::Domain(DomainError::unauthenticated("log in")),
                "UNAUTHENTICATED",
            ),
            (
                AppError::Store(StoreError::Domain(DomainError::forbidden("no"))),
                "FORBIDDEN",
            ),
            (AppError::Store(StoreError::Corrupt("x".into())), "INTERNAL"),
            (
                AppError::Store(StoreError::Database(sqlx::Error::PoolTimedOut)),
                UNAVAILABLE,
            ),
            (
                AppError::Store(StoreError::Database(sqlx::Error::Io(
                    std::io::ErrorKind::ConnectionRefused.into(),
                ))),
                UNAVAILABLE,
            ),
            (
                AppError::Store(StoreError::Database(sqlx::Error::RowNotFound)),
                "INTERNAL",
            ),
            (AppError::internal("boom"), "INTERNAL"),
        ];
        for (error, code) in cases {
            assert_eq!(error.code(), code, "{error:?}");
        }
    }

    #[test]
    fn internal_causes_never_reach_the_client() {
        let error = sqlx_error();
        let message = error.public_message();
        assert!(!message.contains("users"), "{message}");
        let graphql: async_graphql::Error = error.into();
        assert!(!graphql.message.contains("UNIQUE"));
    }

    fn sqlx_error() -> AppError {
        AppError::Store(StoreError::Corrupt(
            "UNIQUE constraint failed: users.email_normalized".into(),
        ))
    }

    #[test]
    fn a_refusal_keeps_its_code_through_question_mark() {
        fn resolver() -> async_graphql::Result<()> {
            Err(AppError::Domain(DomainError::forbidden("no")))?;
            Ok(())
        }
        let error = resolver().expect_err("refused");
        let code = error
            .extensions
            .as_ref()
            .and_then(|extensions| extensions.get("code"))
            .cloned();
        assert_eq!(code, Some(async_graphql::Value::from("FORBIDDEN")));
    }
}
