//! The password policy of NIST SP 800-63B: length limits, no composition rules, and no
//! password that contains the account's own username or e-mail address.
//!
//! The strength estimate (a blocklist of common passwords) belongs to the user lifecycle work;
//! this module holds the rules every password change already needs.

use crate::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_len: usize,
    pub max_len: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_len: 12,
            max_len: 128,
        }
    }
}

impl PasswordPolicy {
    /// Checks a new password for the account with the given username and e-mail address.
    pub fn check(&self, password: &str, username: &str, email: &str) -> Result<(), DomainError> {
        let len = password.chars().count();
        if len < self.min_len {
            return Err(DomainError::invalid(
                "password",
                format!("must be at least {} characters long", self.min_len),
            ));
        }
        if len > self.max_len {
            return Err(DomainError::invalid(
                "password",
                format!("must be at most {} characters long", self.max_len),
            ));
        }
        let lower = password.to_lowercase();
        let local_part = email.split('@').next().unwrap_or_default().to_lowercase();
        for (part, what) in [
            (username.to_lowercase(), "username"),
            (local_part, "e-mail address"),
        ] {
            if part.len() >= 3 && lower.contains(&part) {
                return Err(DomainError::invalid(
                    "password",
                    format!("must not contain your {what}"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_between_12_and_128_characters_are_accepted() {
        let policy = PasswordPolicy::default();
        assert!(
            policy
                .check("correct horse battery", "ann", "ann@example.com")
                .is_ok()
        );
        assert!(policy.check("short", "bob", "bob@example.com").is_err());
        assert!(
            policy
                .check(&"x".repeat(129), "bob", "bob@example.com")
                .is_err()
        );
    }

    #[test]
    fn passwords_containing_the_username_or_email_are_refused() {
        let policy = PasswordPolicy::default();
        let error = policy
            .check("my-AnnLee-password", "annlee", "ann@example.com")
            .expect_err("contains username");
        assert!(error.to_string().contains("username"));
        assert!(
            policy
                .check("hello-sales-team-2026", "annlee", "sales@example.com")
                .is_err()
        );
    }
}
