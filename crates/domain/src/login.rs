//! What a person types into the login form's first field.

use crate::DomainError;
use crate::user::{EmailAddress, Username};

/// A username or an e-mail address, decided by the presence of `@`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginName {
    Username(Username),
    Email(EmailAddress),
}

impl LoginName {
    /// Parses the login field. A value that is neither a valid username nor a valid e-mail
    /// address cannot match any account; it is reported as a bad field rather than as wrong
    /// credentials, because the form, not the password, is at fault.
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(DomainError::invalid(
                "login",
                "enter your username or e-mail address",
            ));
        }
        if value.contains('@') {
            EmailAddress::parse(value)
                .map(LoginName::Email)
                .map_err(|_| DomainError::invalid("login", "is not a valid e-mail address"))
        } else {
            Username::parse(value)
                .map(LoginName::Username)
                .map_err(|_| DomainError::invalid("login", "is not a valid username"))
        }
    }

    /// The lower-cased form the store looks up.
    pub fn normalized(&self) -> String {
        match self {
            LoginName::Username(username) => username.normalized(),
            LoginName::Email(email) => email.normalized(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_with_an_at_sign_is_an_email_address() {
        assert!(matches!(
            LoginName::parse("Ann@Example.com"),
            Ok(LoginName::Email(_))
        ));
        assert!(matches!(
            LoginName::parse(" ann "),
            Ok(LoginName::Username(_))
        ));
    }

    #[test]
    fn an_empty_login_asks_for_a_username_or_email() {
        let error = LoginName::parse("  ").expect_err("empty");
        assert_eq!(error.field(), Some("login"));
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;
        use crate::strategies::{any_text, padded, valid_email, valid_username};

        proptest! {
            // A login is an address exactly when it has an @, and is then what the address or
            // username rules accept; a refusal always names the login field.
            #[test]
            fn a_login_is_an_address_with_an_at_sign_and_a_username_without(value in prop_oneof![
                any_text(),
                padded(valid_email()),
                padded(valid_username()),
            ]) {
                let trimmed = value.trim();
                match LoginName::parse(&value) {
                    Ok(LoginName::Email(email)) => {
                        prop_assert!(trimmed.contains('@'));
                        prop_assert_eq!(EmailAddress::parse(trimmed), Ok(email.clone()));
                        prop_assert_eq!(
                            LoginName::parse(&value).map(|login| login.normalized()),
                            Ok(email.normalized())
                        );
                    }
                    Ok(LoginName::Username(username)) => {
                        prop_assert!(!trimmed.contains('@'));
                        prop_assert_eq!(Username::parse(trimmed), Ok(username.clone()));
                    }
                    Err(error) => {
                        prop_assert_eq!(error.field(), Some("login"));
                        if trimmed.contains('@') {
                            prop_assert!(EmailAddress::parse(trimmed).is_err());
                        } else {
                            prop_assert!(Username::parse(trimmed).is_err());
                        }
                    }
                }
            }
        }
    }
}
