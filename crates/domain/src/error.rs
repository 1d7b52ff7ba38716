//! The one error type of the domain. Messages are written for the person who sees them: they
//! say what is wrong and what to do about it.

/// An expected failure of a domain rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A value given by a client is not acceptable. `field` names the input field in the
    /// client's words (`username`, `email`, `password`, ...).
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },

    /// The object does not exist, or the caller may not know that it exists.
    #[error("{what} was not found")]
    NotFound { what: &'static str },

    /// A unique value is already taken.
    #[error("{field}: {reason}")]
    Conflict { field: &'static str, reason: String },

    /// The caller is known but may not do this.
    #[error("{reason}")]
    Forbidden { reason: String },

    /// The caller could not be identified (missing, bad or expired credentials).
    #[error("{reason}")]
    Unauthenticated { reason: String },

    /// A state machine refused a transition.
    #[error("cannot change {what} from {from} to {to}: {reason}")]
    InvalidTransition {
        what: &'static str,
        from: &'static str,
        to: &'static str,
        reason: &'static str,
    },
}

impl DomainError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }

    pub fn conflict(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Conflict {
            field,
            reason: reason.into(),
        }
    }

    pub fn forbidden(reason: impl Into<String>) -> Self {
        Self::Forbidden {
            reason: reason.into(),
        }
    }

    pub fn unauthenticated(reason: impl Into<String>) -> Self {
        Self::Unauthenticated {
            reason: reason.into(),
        }
    }

    /// The input field the error is about, when there is one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::Invalid { field, .. } | Self::Conflict { field, .. } => Some(field),
            _ => None,
        }
    }
}
