//! The password policy of NIST SP 800-63B: length limits, no composition rules, no password
//! that contains the account's own username or e-mail address, and no weak or common one, as
//! the zxcvbn strength estimator judges it (score 3 of 4 at least, with the account's own
//! names counted as known words).

use crate::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_len: usize,
    pub max_len: usize,
    /// The least zxcvbn score (0–4) a password must reach.
    pub min_score: u8,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_len: 12,
            max_len: 128,
            min_score: 3,
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
        let estimate = zxcvbn::zxcvbn(password, &[username, email]);
        if u8::from(estimate.score()) < self.min_score {
            let hint = estimate
                .feedback()
                .and_then(|feedback| feedback.warning().map(|warning| format!(" ({warning})")))
                .unwrap_or_default();
            return Err(DomainError::invalid(
                "password",
                format!(
                    "is too easy to guess{hint}; use a longer passphrase of several unrelated words"
                ),
            ));
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

    #[test]
    fn weak_and_common_passwords_are_refused_and_strong_ones_pass() {
        let policy = PasswordPolicy::default();
        for weak in [
            "password1234",
            "qwertyuiop123",
            "aaaaaaaaaaaa",
            "123456789012",
        ] {
            let error = policy
                .check(weak, "ann", "ann@example.com")
                .expect_err(weak);
            assert!(
                error.to_string().contains("too easy to guess"),
                "{weak}: {error}"
            );
        }
        for strong in [
            "correct horse battery staple 42",
            "violet-tractor-Mosaic-91",
        ] {
            assert!(
                policy.check(strong, "ann", "ann@example.com").is_ok(),
                "{strong}"
            );
        }
    }
}
