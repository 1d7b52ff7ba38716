//! Names of organizations, roles, groups and projects.

use crate::DomainError;

/// A display name of 1–100 characters, without control characters, unique (regardless of
/// case) where the store says so. `field` names the input in errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    pub const MAX_LEN: usize = 100;

    pub fn parse(field: &'static str, value: &str) -> Result<Self, DomainError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(DomainError::invalid(field, "must not be empty"));
        }
        if value.chars().count() > Self::MAX_LEN {
            return Err(DomainError::invalid(
                field,
                format!("must be at most {} characters long", Self::MAX_LEN),
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(DomainError::invalid(
                field,
                "must not contain control characters",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form uniqueness is checked on.
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_checked() {
        assert_eq!(
            Name::parse("name", "  Acme  ")
                .map(|n| n.as_str().to_owned())
                .ok(),
            Some("Acme".into())
        );
        assert_eq!(
            Name::parse("name", "Acme").map(|n| n.normalized()).ok(),
            Some("acme".into())
        );
        for bad in ["", "   ", "a\u{0}b"] {
            assert_eq!(
                Name::parse("name", bad).expect_err(bad).field(),
                Some("name")
            );
        }
        assert!(Name::parse("name", &"x".repeat(101)).is_err());
    }
}
