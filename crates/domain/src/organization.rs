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

/// Checks the name typed to confirm an organization's deletion against its `name`, so that a
/// console cannot delete one by a slip. Surrounding spaces are forgiven; case is not.
pub fn confirm_deletion(name: &str, typed: &str) -> Result<(), DomainError> {
    if typed.trim() == name {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "confirmName",
            format!("must be the organization's name, {name}, exactly: nothing was deleted"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deletion_is_confirmed_by_the_exact_name() {
        assert_eq!(confirm_deletion("Acme", " Acme "), Ok(()));
        for slip in ["acme", "Acm", ""] {
            let error = confirm_deletion("Acme", slip).expect_err(slip);
            assert_eq!(error.field(), Some("confirmName"));
            assert!(error.to_string().contains("Acme"), "{error}");
        }
    }

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

    mod properties {
        use proptest::prelude::*;

        use super::*;
        use crate::strategies::{any_text, blank};

        proptest! {
            // A name is accepted exactly when, trimmed, it is 1–100 characters without control
            // characters; refusals name the field asked for.
            #[test]
            fn a_name_is_1_to_100_characters_without_controls(
                value in any_text(),
                field in proptest::sample::select(&["name", "title", "role"][..]),
            ) {
                let trimmed = value.trim();
                let rule = (1..=Name::MAX_LEN).contains(&trimmed.chars().count())
                    && !trimmed.chars().any(char::is_control);
                match Name::parse(field, &value) {
                    Ok(name) => {
                        prop_assert!(rule, "{value:?} was accepted");
                        prop_assert_eq!(name.as_str(), trimmed);
                        prop_assert_eq!(Name::parse(field, name.as_str()), Ok(name.clone()));
                        prop_assert_eq!(name.normalized(), trimmed.to_lowercase());
                    }
                    Err(error) => {
                        prop_assert!(!rule, "{value:?}: {error}");
                        prop_assert_eq!(error.field(), Some(field));
                    }
                }
            }

            // A deletion is confirmed by the name with spaces around it, and by nothing else.
            #[test]
            fn a_deletion_is_confirmed_only_by_the_name(
                name in "[A-Za-z][A-Za-z0-9 ]{0,20}[A-Za-z0-9]",
                typed in any_text(),
                before in blank(),
                after in blank(),
            ) {
                prop_assert_eq!(confirm_deletion(&name, &format!("{before}{name}{after}")), Ok(()));
                if typed.trim() != name {
                    let error = confirm_deletion(&name, &typed).expect_err("refused");
                    prop_assert_eq!(error.field(), Some("confirmName"));
                }
            }
        }
    }
}

/// A domain an organization accepts e-mail addresses from: lower-case, dot-separated labels of
/// letters, digits and hyphens, at most 253 characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EmailDomain(String);

impl EmailDomain {
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        let value = value.trim().trim_start_matches('@').to_ascii_lowercase();
        let valid_label = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if value.len() > 253 || !value.contains('.') || !value.split('.').all(valid_label) {
            return Err(DomainError::invalid(
                "domain",
                "is not a valid e-mail domain; expected something like example.com",
            ));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether an address's domain is this one (case-insensitive, exact: no subdomains).
    pub fn accepts(&self, address_domain: &str) -> bool {
        self.0.eq_ignore_ascii_case(address_domain)
    }
}

/// Checks that `email` may join an organization that accepts `allowed` domains (none listed
/// means any).
pub fn check_email_domain(
    allowed: &[EmailDomain],
    email: &crate::user::EmailAddress,
) -> Result<(), DomainError> {
    if allowed.is_empty() || allowed.iter().any(|domain| domain.accepts(email.domain())) {
        return Ok(());
    }
    let list: Vec<&str> = allowed.iter().map(EmailDomain::as_str).collect();
    Err(DomainError::invalid(
        "email",
        format!(
            "the organization accepts only addresses at {}; use such an address or ask an \
             administrator to add the domain",
            list.join(", ")
        ),
    ))
}

#[cfg(test)]
mod email_domain_tests {
    use super::*;
    use crate::user::EmailAddress;

    #[test]
    fn an_allow_list_admits_only_its_domains_and_an_empty_one_admits_any() {
        let address = EmailAddress::parse("ann@Acme.example").expect("address");
        assert!(check_email_domain(&[], &address).is_ok());
        let acme = EmailDomain::parse("acme.example").expect("domain");
        let other = EmailDomain::parse("other.example").expect("domain");
        assert!(check_email_domain(&[other.clone(), acme], &address).is_ok());
        let error = check_email_domain(&[other], &address).expect_err("refused");
        assert_eq!(error.field(), Some("email"));
        assert!(error.to_string().contains("other.example"), "{error}");
    }

    #[test]
    fn email_domains_are_normalized_and_checked() {
        assert_eq!(
            EmailDomain::parse(" @Example.COM ")
                .map(|d| d.as_str().to_owned())
                .ok(),
            Some("example.com".into())
        );
        for bad in [
            "",
            "localhost",
            "exa mple.com",
            "-x.com",
            "x..com",
            "a_b.com",
        ] {
            assert_eq!(
                EmailDomain::parse(bad).expect_err(bad).field(),
                Some("domain"),
                "{bad}"
            );
        }
        let domain = EmailDomain::parse("example.com").expect("valid");
        assert!(domain.accepts("EXAMPLE.com"));
        assert!(!domain.accepts("mail.example.com"));
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;
        use crate::strategies::{any_text, padded};
        use crate::user::EmailAddress;

        fn valid_domain() -> impl Strategy<Value = String> {
            let label = "[A-Za-z0-9]([A-Za-z0-9-]{0,20}[A-Za-z0-9])?";
            proptest::string::string_regex(&format!("{label}(\\.{label}){{1,3}}")).expect("regex")
        }

        proptest! {
            // An accepted domain is lower-case dot-separated labels of 1–63 letters, digits and
            // inner hyphens, at most 253 characters, and reads back as itself.
            #[test]
            fn an_accepted_domain_is_lower_case_labels(
                value in prop_oneof![any_text(), padded(valid_domain())],
            ) {
                match EmailDomain::parse(&value) {
                    Ok(domain) => {
                        let text = domain.as_str();
                        prop_assert!(text.len() <= 253 && text.contains('.'), "{text}");
                        for label in text.split('.') {
                            prop_assert!((1..=63).contains(&label.len()), "{text}");
                            let allowed =
                                |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
                            prop_assert!(label.bytes().all(allowed), "{text}");
                            let hyphen_at_end = label.starts_with('-') || label.ends_with('-');
                            prop_assert!(!hyphen_at_end, "{text}");
                        }
                        prop_assert_eq!(EmailDomain::parse(text), Ok(domain.clone()));
                    }
                    Err(error) => prop_assert_eq!(error.field(), Some("domain")),
                }
            }

            // A domain of the grammar is accepted, typed with an @ or in any case.
            #[test]
            fn domains_of_the_grammar_are_accepted(value in valid_domain(), at in any::<bool>()) {
                let typed = if at { format!("@{value}") } else { value.clone() };
                let domain = EmailDomain::parse(&typed)?;
                prop_assert_eq!(domain.as_str(), value.to_ascii_lowercase());
            }

            // An allow-listed domain admits its addresses whatever their case, and no one else's.
            #[test]
            fn an_allow_list_admits_exactly_its_domains(
                domain in valid_domain(),
                other in valid_domain(),
                local in "[a-z0-9]{1,10}",
            ) {
                let allowed = EmailDomain::parse(&domain)?;
                let shouted = domain.to_ascii_uppercase();
                let address = EmailAddress::parse(&format!("{local}@{shouted}"))?;
                prop_assert!(check_email_domain(std::slice::from_ref(&allowed), &address).is_ok());
                let stranger = EmailAddress::parse(&format!("{local}@{other}"))?;
                let refused = check_email_domain(&[allowed], &stranger);
                prop_assert_eq!(refused.is_ok(), other.eq_ignore_ascii_case(&domain));
            }
        }
    }
}
