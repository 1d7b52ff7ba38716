//! The password policy of NIST SP 800-63B: length limits, no composition rules, no password
//! that contains the account's own username or e-mail address, and no weak or common one, as
//! the zxcvbn strength estimator judges it (score 3 of 4 at least, with the account's own
//! names counted as known words). Composition rules (an upper-case letter, a digit, ...) are
//! off unless an organization turns them on for its members.

use crate::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_len: usize,
    pub max_len: usize,
    /// The least zxcvbn score (0–4) a password must reach.
    pub min_score: u8,
    pub composition: CompositionRules,
}

/// Rules an organization may impose on its members' passwords, all off by default (NIST SP
/// 800-63B advises against them). A user in several organizations meets the strictest
/// combination of theirs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompositionRules {
    pub lowercase: bool,
    pub uppercase: bool,
    pub digit: bool,
    /// Anything that is neither a letter nor a digit, spaces included.
    pub symbol: bool,
    /// A longer minimum than the platform's 12.
    pub min_len: Option<usize>,
}

impl CompositionRules {
    /// The shortest minimum an organization may set: the platform's own.
    pub const MIN_LEN_RANGE: std::ops::RangeInclusive<usize> = 12..=64;

    /// Checks rules an organization administrator asks for.
    pub fn validate(self) -> Result<Self, DomainError> {
        if let Some(min_len) = self.min_len
            && !Self::MIN_LEN_RANGE.contains(&min_len)
        {
            return Err(DomainError::invalid(
                "minLength",
                format!(
                    "must be between {} and {}",
                    Self::MIN_LEN_RANGE.start(),
                    Self::MIN_LEN_RANGE.end()
                ),
            ));
        }
        Ok(self)
    }

    /// Every rule of either.
    pub fn and(self, other: CompositionRules) -> CompositionRules {
        CompositionRules {
            lowercase: self.lowercase || other.lowercase,
            uppercase: self.uppercase || other.uppercase,
            digit: self.digit || other.digit,
            symbol: self.symbol || other.symbol,
            min_len: self.min_len.max(other.min_len),
        }
    }

    fn check(self, password: &str) -> Result<(), DomainError> {
        let missing = [
            (
                self.lowercase,
                "a lower-case letter",
                password.chars().any(char::is_lowercase),
            ),
            (
                self.uppercase,
                "an upper-case letter",
                password.chars().any(char::is_uppercase),
            ),
            (
                self.digit,
                "a digit",
                password.chars().any(|c| c.is_numeric()),
            ),
            (
                self.symbol,
                "a character that is neither a letter nor a digit",
                password.chars().any(|c| !c.is_alphanumeric()),
            ),
        ]
        .into_iter()
        .filter(|(required, _, present)| *required && !present)
        .map(|(_, what, _)| what)
        .collect::<Vec<_>>();
        if missing.is_empty() {
            return Ok(());
        }
        Err(DomainError::invalid(
            "password",
            format!(
                "must contain {}: a rule of your organization",
                missing.join(", ")
            ),
        ))
    }
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_len: 12,
            max_len: 128,
            min_score: 3,
            composition: CompositionRules::default(),
        }
    }
}

impl PasswordPolicy {
    /// The platform's policy with an organization's composition rules on top.
    pub fn with(composition: CompositionRules) -> Self {
        Self {
            composition,
            ..Self::default()
        }
    }

    /// Checks a new password for the account with the given username and e-mail address.
    pub fn check(&self, password: &str, username: &str, email: &str) -> Result<(), DomainError> {
        let len = password.chars().count();
        let min_len = self.min_len.max(self.composition.min_len.unwrap_or(0));
        if len < min_len {
            return Err(DomainError::invalid(
                "password",
                format!("must be at least {min_len} characters long"),
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
        self.composition.check(password)?;
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

    #[test]
    fn composition_rules_are_off_by_default_and_enforced_when_an_organization_sets_them() {
        let strong = "correct horse battery staple";
        assert!(
            PasswordPolicy::default()
                .check(strong, "ann", "ann@example.com")
                .is_ok()
        );
        let strict = PasswordPolicy::with(
            CompositionRules {
                uppercase: true,
                digit: true,
                ..CompositionRules::default()
            }
            .and(CompositionRules {
                symbol: true,
                min_len: Some(30),
                ..CompositionRules::default()
            }),
        );
        let error = strict
            .check(strong, "ann", "ann@example.com")
            .expect_err("too short for the stricter organization");
        assert!(error.to_string().contains("at least 30"), "{error}");
        let error = strict
            .check(
                "correct horse battery staple here",
                "ann",
                "ann@example.com",
            )
            .expect_err("no upper-case letter or digit");
        let message = error.to_string();
        assert!(
            message.contains("an upper-case letter, a digit") && !message.contains("neither"),
            "{message}"
        );
        assert!(
            strict
                .check("Correct horse battery staple 42", "ann", "ann@example.com")
                .is_ok()
        );
        assert!(
            CompositionRules {
                min_len: Some(8),
                ..CompositionRules::default()
            }
            .validate()
            .is_err()
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;
        use crate::strategies::{text, valid_email, valid_username};

        fn rules() -> impl Strategy<Value = CompositionRules> {
            (
                any::<[bool; 4]>(),
                proptest::option::of(CompositionRules::MIN_LEN_RANGE),
            )
                .prop_map(|([lowercase, uppercase, digit, symbol], min_len)| {
                    CompositionRules {
                        lowercase,
                        uppercase,
                        digit,
                        symbol,
                        min_len,
                    }
                })
        }

        /// Passphrases, most of which are strong enough, and arbitrary text.
        fn password() -> impl Strategy<Value = String> {
            prop_oneof![
                "[a-z]{3,9}( [A-Za-z]{3,9}){3,5}( [0-9]{1,3})?[!?.]?",
                text(20),
                text(140),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            // An accepted password meets every rule of the policy; a refusal names the password.
            #[test]
            fn an_accepted_password_meets_every_rule(
                password in password(),
                username in valid_username(),
                email in valid_email(),
                rules in rules(),
            ) {
                let policy = PasswordPolicy::with(rules);
                match policy.check(&password, &username, &email) {
                    Ok(()) => {
                        let len = password.chars().count();
                        prop_assert!(len >= policy.min_len.max(rules.min_len.unwrap_or(0)));
                        prop_assert!(len <= policy.max_len);
                        let lower = password.to_lowercase();
                        let local = email.split('@').next().unwrap_or_default().to_lowercase();
                        prop_assert!(!lower.contains(&username.to_lowercase()));
                        prop_assert!(local.len() < 3 || !lower.contains(&local));
                        prop_assert!(!rules.lowercase || password.chars().any(char::is_lowercase));
                        prop_assert!(!rules.uppercase || password.chars().any(char::is_uppercase));
                        prop_assert!(!rules.digit || password.chars().any(char::is_numeric));
                        let symbol = password.chars().any(|c| !c.is_alphanumeric());
                        prop_assert!(!rules.symbol || symbol);
                    }
                    Err(error) => prop_assert_eq!(error.field(), Some("password")),
                }
            }

            // A password of the wrong length is refused for its length, whatever else it is.
            #[test]
            fn a_password_of_the_wrong_length_is_refused_for_it(
                password in prop_oneof![text(12), "[a-z ]{120,140}"],
                rules in rules(),
            ) {
                let policy = PasswordPolicy::with(rules);
                let len = password.chars().count();
                let min_len = policy.min_len.max(rules.min_len.unwrap_or(0));
                if len < min_len || len > policy.max_len {
                    let error = policy
                        .check(&password, "ann", "ann@example.com")
                        .expect_err("length");
                    prop_assert!(error.to_string().contains("characters long"), "{error}");
                }
            }

            // An organization may set a minimum length of 12 to 64 and nothing else.
            #[test]
            fn a_minimum_length_is_12_to_64(min_len in proptest::option::of(0usize..200)) {
                let rules = CompositionRules { min_len, ..CompositionRules::default() };
                match rules.validate() {
                    Ok(valid) => {
                        prop_assert_eq!(valid, rules);
                        prop_assert!(min_len.is_none_or(|n| (12..=64).contains(&n)));
                    }
                    Err(error) => {
                        prop_assert!(min_len.is_some_and(|n| !(12..=64).contains(&n)));
                        prop_assert_eq!(error.field(), Some("minLength"));
                    }
                }
            }
        }
    }
}
