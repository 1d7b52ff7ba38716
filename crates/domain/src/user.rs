//! Users: validated fields and the account status state machine.

use std::fmt;
use std::str::FromStr;

use crate::DomainError;

/// 3–20 ASCII letters or digits. Stored as typed; uniqueness is case-insensitive, so the
/// store compares [`Username::normalized`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub const MIN_LEN: usize = 3;
    pub const MAX_LEN: usize = 20;

    pub fn parse(value: &str) -> Result<Self, DomainError> {
        let value = value.trim();
        let len = value.chars().count();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&len) {
            return Err(DomainError::invalid(
                "username",
                format!(
                    "must be {} to {} characters long, got {len}",
                    Self::MIN_LEN,
                    Self::MAX_LEN
                ),
            ));
        }
        if !value.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(DomainError::invalid(
                "username",
                "may contain only ASCII letters and digits (a-z, A-Z, 0-9)",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form uniqueness is checked on.
    pub fn normalized(&self) -> String {
        self.0.to_ascii_lowercase()
    }

    /// A username for someone known only by e-mail address (an invitation): the letters and
    /// digits of the address's local part, lower-case, padded with `user` when too short and
    /// cut to fit. `n` above 1 gives the n-th alternative, with `n` appended, for when the
    /// plain one is taken.
    pub fn from_email(email: &EmailAddress, n: u32) -> Username {
        let local = email
            .as_str()
            .rsplit_once('@')
            .map_or("", |(local, _)| local);
        let mut base: String = local
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if base.len() < Self::MIN_LEN {
            base.insert_str(0, "user");
        }
        let suffix = if n > 1 { n.to_string() } else { String::new() };
        base.truncate(Self::MAX_LEN - suffix.len());
        Username(base + &suffix)
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A valid e-mail address (RFC 5322 address syntax, as checked by the `email_address` crate),
/// at most 254 characters. Uniqueness is case-insensitive over the whole address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub const MAX_LEN: usize = 254;

    pub fn parse(value: &str) -> Result<Self, DomainError> {
        let value = value.trim();
        if value.len() > Self::MAX_LEN {
            return Err(DomainError::invalid(
                "email",
                format!("must be at most {} characters long", Self::MAX_LEN),
            ));
        }
        let parsed = email_address::EmailAddress::from_str(value).map_err(|error| {
            DomainError::invalid(
                "email",
                format!("is not a valid e-mail address ({error}); expected name@example.com"),
            )
        })?;
        // The crate accepts display-name forms ("Ann <ann@example.com>"); only bare addresses
        // belong in this field.
        if parsed.email() != value || !parsed.domain().contains('.') {
            return Err(DomainError::invalid(
                "email",
                "is not a valid e-mail address; expected name@example.com",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, domain)| domain)
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A person's display name: 1–200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullName(String);

impl FullName {
    pub const MAX_LEN: usize = 200;

    pub fn parse(value: &str) -> Result<Self, DomainError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(DomainError::invalid("name", "must not be empty"));
        }
        if value.chars().count() > Self::MAX_LEN {
            return Err(DomainError::invalid(
                "name",
                format!("must be at most {} characters long", Self::MAX_LEN),
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(DomainError::invalid(
                "name",
                "must not contain control characters",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The interface and e-mail language of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    #[default]
    En,
    De,
    Zh,
    Ru,
}

impl Language {
    pub const ALL: [Language; 4] = [Language::En, Language::De, Language::Zh, Language::Ru];

    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::De => "de",
            Language::Zh => "zh",
            Language::Ru => "ru",
        }
    }

    pub fn parse(value: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|language| language.code().eq_ignore_ascii_case(value.trim()))
            .ok_or_else(|| DomainError::invalid("language", "must be one of en, de, zh, ru"))
    }
}

/// A country as its ISO 3166-1 alpha-2 code (`DE`, `CN`), stored upper-case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Country(String);

impl Country {
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        let code = value.trim().to_ascii_uppercase();
        if code.len() != 2 || isocountry::CountryCode::for_alpha2(&code).is_err() {
            return Err(DomainError::invalid(
                "country",
                format!(
                    "{:?} is not an ISO 3166-1 alpha-2 country code; expected two letters such \
                     as DE, US or CN",
                    value.trim()
                ),
            ));
        }
        Ok(Self(code))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A telephone number in E.164 form (`+4930123456`), checked against the numbering plan of
/// its country by the `phonenumber` crate. Spaces, dashes and brackets are accepted on input
/// and dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        let value = value.trim();
        let invalid = |what: &str| {
            DomainError::invalid(
                "phone",
                format!(
                    "{what}; expected an international number in E.164 form, a + and the \
                     country code, such as +4930123456"
                ),
            )
        };
        if !value.starts_with('+') {
            return Err(invalid("must start with + and the country code"));
        }
        let number =
            phonenumber::parse(None, value).map_err(|_| invalid("is not a telephone number"))?;
        if !phonenumber::is_valid(&number) {
            return Err(invalid(
                "is not a valid number in its country's numbering plan",
            ));
        }
        Ok(Self(
            number.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What an administrator writes when suspending a user: shown in the e-mail and kept in the
/// audit trail. At most 500 characters; a blank one says nothing and is left out.
pub fn suspension_reason(value: Option<&str>) -> Result<Option<String>, DomainError> {
    let Some(reason) = value.map(str::trim).filter(|reason| !reason.is_empty()) else {
        return Ok(None);
    };
    if reason.chars().count() > 500 {
        return Err(DomainError::invalid(
            "reason",
            "must be at most 500 characters long",
        ));
    }
    Ok(Some(reason.to_owned()))
}

/// Account status at platform level. Transitions go through [`UserStatus::transition`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    PendingValidation,
    Active,
    Suspended,
    PendingDeletion,
    Deleted,
}

impl UserStatus {
    /// Refuses, naming `field`, to invite an account that is being deleted or was deleted.
    pub fn check_invitable(self, field: &'static str) -> Result<(), DomainError> {
        if matches!(self, UserStatus::PendingDeletion | UserStatus::Deleted) {
            Err(DomainError::invalid(
                field,
                "is an account that is being deleted or was deleted; a SuperAdmin can restore \
                 an account pending deletion",
            ))
        } else {
            Ok(())
        }
    }

    pub const ALL: [UserStatus; 5] = [
        UserStatus::PendingValidation,
        UserStatus::Active,
        UserStatus::Suspended,
        UserStatus::PendingDeletion,
        UserStatus::Deleted,
    ];

    /// The name stored in the database and shown in the API.
    pub fn code(self) -> &'static str {
        match self {
            UserStatus::PendingValidation => "PENDING_VALIDATION",
            UserStatus::Active => "ACTIVE",
            UserStatus::Suspended => "SUSPENDED",
            UserStatus::PendingDeletion => "PENDING_DELETION",
            UserStatus::Deleted => "DELETED",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.code() == code)
    }

    pub fn can_log_in(self) -> bool {
        self == UserStatus::Active
    }

    /// Checks a status change and says why it is refused.
    pub fn transition(self, to: UserStatus) -> Result<UserStatus, DomainError> {
        use UserStatus::*;
        let refused = |reason| DomainError::InvalidTransition {
            what: "the user's status",
            from: self.code(),
            to: to.code(),
            reason,
        };
        match (self, to) {
            (PendingValidation, Active) => Ok(to),
            (Active, Suspended) | (Suspended, Active) => Ok(to),
            (Active | Suspended, PendingDeletion) => Ok(to),
            (PendingDeletion, Active) => Ok(to),
            (Suspended | PendingDeletion, Deleted) => Ok(to),
            (PendingValidation, Suspended) => Err(refused(
                "the user must be validated first; resend the activation link",
            )),
            (Active, Deleted) => Err(refused("the user must be suspended before deletion")),
            (Deleted, _) => Err(refused("a deleted user cannot be changed")),
            _ if self == to => Err(refused("the user already has this status")),
            _ => Err(refused("this change is not allowed")),
        }
    }
}

/// A role held at platform level, above every organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformRole {
    SuperAdmin,
}

impl PlatformRole {
    pub fn code(self) -> &'static str {
        match self {
            PlatformRole::SuperAdmin => "SUPER_ADMIN",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        (code == "SUPER_ADMIN").then_some(PlatformRole::SuperAdmin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_of_letters_and_digits_between_3_and_20_are_accepted() {
        for name in ["abc", "Admin2", "a1234567890123456789"] {
            assert_eq!(
                Username::parse(name).map(|u| u.to_string()).ok(),
                Some(name.to_owned())
            );
        }
    }

    #[test]
    fn usernames_that_are_too_short_too_long_or_not_alphanumeric_are_refused() {
        for name in [
            "ab",
            "a12345678901234567890",
            "ann.lee",
            "ann lee",
            "änne",
            "",
        ] {
            let error = Username::parse(name).expect_err(name);
            assert_eq!(error.field(), Some("username"), "{name}");
        }
    }

    #[test]
    fn usernames_made_from_addresses_are_valid_and_numbered_when_taken() {
        let email = |value: &str| EmailAddress::parse(value).expect("address");
        let made = |value: &str, n| Username::from_email(&email(value), n).to_string();
        assert_eq!(made("Ann.Lee@example.com", 1), "annlee");
        assert_eq!(made("Ann.Lee@example.com", 3), "annlee3");
        assert_eq!(made("x@example.com", 1), "userx");
        let long = made("a.very.long.local.part.indeed@example.com", 12);
        assert_eq!(long, "averylonglocalpart12");
        for name in ["annlee", "annlee3", "userx", long.as_str()] {
            assert!(Username::parse(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn username_uniqueness_ignores_case() {
        let upper = Username::parse("AnnLee").map(|u| u.normalized()).ok();
        let lower = Username::parse("annlee").map(|u| u.normalized()).ok();
        assert_eq!(upper, lower);
    }

    #[test]
    fn email_addresses_are_checked_and_normalized() {
        let email = EmailAddress::parse("Ann.Lee@Example.com").expect("valid");
        assert_eq!(email.normalized(), "ann.lee@example.com");
        assert_eq!(email.domain(), "Example.com");
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "Ann <ann@example.com>",
            "ann@localhost",
        ] {
            let error = EmailAddress::parse(bad).expect_err(bad);
            assert_eq!(error.field(), Some("email"), "{bad}");
        }
    }

    #[test]
    fn countries_are_iso_alpha_2_codes() {
        assert_eq!(
            Country::parse(" de ").map(|c| c.as_str().to_owned()).ok(),
            Some("DE".into())
        );
        assert!(Country::parse("CN").is_ok());
        for bad in ["", "D", "DEU", "XX", "Germany", "1A"] {
            assert_eq!(
                Country::parse(bad).expect_err(bad).field(),
                Some("country"),
                "{bad}"
            );
        }
    }

    #[test]
    fn phones_are_valid_e164_numbers() {
        assert_eq!(
            Phone::parse("+49 30 1234567")
                .map(|p| p.as_str().to_owned())
                .ok(),
            Some("+49301234567".into())
        );
        assert!(Phone::parse("+14155552671").is_ok());
        for bad in [
            "",
            "030 1234567",
            "+",
            "+12",
            "+1 000 000 0000",
            "+49 abc",
            "phone",
        ] {
            assert_eq!(
                Phone::parse(bad).expect_err(bad).field(),
                Some("phone"),
                "{bad}"
            );
        }
    }

    #[test]
    fn suspension_reasons_are_trimmed_bounded_and_optional() {
        assert_eq!(
            suspension_reason(Some(" left ")),
            Ok(Some("left".to_owned()))
        );
        assert_eq!(suspension_reason(Some("   ")), Ok(None));
        assert_eq!(suspension_reason(None), Ok(None));
        let long = "x".repeat(501);
        assert_eq!(
            suspension_reason(Some(&long))
                .expect_err("too long")
                .field(),
            Some("reason")
        );
    }

    #[test]
    fn languages_are_the_four_supported_codes() {
        assert_eq!(Language::parse("DE").ok(), Some(Language::De));
        assert!(Language::parse("fr").is_err());
    }

    #[test]
    fn only_active_users_can_log_in() {
        let can: Vec<_> = UserStatus::ALL
            .into_iter()
            .filter(|s| s.can_log_in())
            .collect();
        assert_eq!(can, vec![UserStatus::Active]);
    }

    #[test]
    fn an_active_user_must_be_suspended_before_deletion() {
        let error = UserStatus::Active
            .transition(UserStatus::Deleted)
            .expect_err("refused");
        assert!(
            error
                .to_string()
                .contains("must be suspended before deletion")
        );
        assert_eq!(
            UserStatus::Suspended.transition(UserStatus::Deleted).ok(),
            Some(UserStatus::Deleted)
        );
    }

    #[test]
    fn every_status_transition_is_allowed_or_refused_with_a_reason() {
        use UserStatus::*;
        let allowed = [
            (PendingValidation, Active),
            (Active, Suspended),
            (Suspended, Active),
            (Active, PendingDeletion),
            (Suspended, PendingDeletion),
            (PendingDeletion, Active),
            (Suspended, Deleted),
            (PendingDeletion, Deleted),
        ];
        for from in UserStatus::ALL {
            for to in UserStatus::ALL {
                let result = from.transition(to);
                if allowed.contains(&(from, to)) {
                    assert_eq!(result.ok(), Some(to), "{from:?} → {to:?}");
                } else {
                    let error = result.expect_err("refused");
                    let DomainError::InvalidTransition { reason, .. } = error else {
                        panic!("{from:?} → {to:?}: {error:?}");
                    };
                    assert!(!reason.is_empty(), "{from:?} → {to:?}");
                }
            }
        }
        let error = PendingValidation
            .transition(Suspended)
            .expect_err("refused");
        assert!(
            error
                .to_string()
                .contains("the user must be validated first; resend the activation link")
        );
    }

    #[test]
    fn status_codes_round_trip() {
        for status in UserStatus::ALL {
            assert_eq!(UserStatus::from_code(status.code()), Some(status));
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;
        use crate::strategies::{any_text, padded, text, valid_email, valid_username};

        proptest! {
            // A username is accepted exactly when, trimmed, it is 3–20 ASCII letters or digits,
            // and it is kept as typed.
            #[test]
            fn a_username_is_3_to_20_ascii_letters_or_digits(value in any_text()) {
                let trimmed = value.trim();
                let rule = (Username::MIN_LEN..=Username::MAX_LEN)
                    .contains(&trimmed.chars().count())
                    && trimmed.chars().all(|c| c.is_ascii_alphanumeric());
                match Username::parse(&value) {
                    Ok(username) => {
                        prop_assert!(rule, "{value:?} was accepted");
                        prop_assert_eq!(username.as_str(), trimmed);
                        prop_assert_eq!(Username::parse(username.as_str()), Ok(username.clone()));
                    }
                    Err(error) => {
                        prop_assert!(!rule, "{value:?}: {error}");
                        prop_assert_eq!(error.field(), Some("username"));
                    }
                }
            }

            // Every username of the grammar is accepted, and its case does not make it another.
            #[test]
            fn usernames_of_the_grammar_are_accepted_regardless_of_case(
                value in padded(valid_username()),
            ) {
                let username = Username::parse(&value)?;
                prop_assert_eq!(username.as_str(), value.trim());
                let upper = Username::parse(&value.to_ascii_uppercase())?;
                prop_assert_eq!(upper.normalized(), username.normalized());
            }

            // A username made from any address is a valid username, and an alternative ends in its
            // number.
            #[test]
            fn usernames_made_from_addresses_are_valid(email in valid_email(), n in any::<u32>()) {
                let made = Username::from_email(&EmailAddress::parse(&email)?, n);
                prop_assert_eq!(Username::parse(made.as_str()), Ok(made.clone()));
                if n > 1 {
                    prop_assert!(made.as_str().ends_with(&n.to_string()), "{made}");
                }
            }

            // An accepted e-mail address is the trimmed input, at most 254 bytes, with a dotted
            // domain and no control characters, and it reads back as itself.
            #[test]
            fn an_accepted_email_address_is_bare_bounded_and_stable(value in any_text()) {
                match EmailAddress::parse(&value) {
                    Ok(email) => {
                        prop_assert_eq!(email.as_str(), value.trim());
                        prop_assert!(email.as_str().len() <= EmailAddress::MAX_LEN);
                        prop_assert!(email.domain().contains('.'), "{email}");
                        prop_assert!(!email.as_str().chars().any(char::is_control), "{email:?}");
                        prop_assert_eq!(EmailAddress::parse(email.as_str()), Ok(email.clone()));
                    }
                    Err(error) => prop_assert_eq!(error.field(), Some("email")),
                }
            }

            // A plain address is accepted; its domain is what follows the @ and its normal form
            // is lower-case.
            #[test]
            fn plain_addresses_are_accepted(value in padded(valid_email())) {
                let email = EmailAddress::parse(&value)?;
                let trimmed = value.trim();
                prop_assert_eq!(email.as_str(), trimmed);
                let domain = trimmed.split_once('@').map(|(_, domain)| domain);
                prop_assert_eq!(Some(email.domain()), domain);
                prop_assert_eq!(email.normalized(), trimmed.to_lowercase());
            }

            // A full name is accepted exactly when, trimmed, it is 1–200 characters without
            // control characters.
            #[test]
            fn a_full_name_is_1_to_200_characters_without_controls(value in any_text()) {
                let trimmed = value.trim();
                let rule = (1..=FullName::MAX_LEN).contains(&trimmed.chars().count())
                    && !trimmed.chars().any(char::is_control);
                match FullName::parse(&value) {
                    Ok(name) => {
                        prop_assert!(rule, "{value:?} was accepted");
                        prop_assert_eq!(name.as_str(), trimmed);
                        prop_assert_eq!(FullName::parse(name.as_str()), Ok(name.clone()));
                    }
                    Err(error) => {
                        prop_assert!(!rule, "{value:?}: {error}");
                        prop_assert_eq!(error.field(), Some("name"));
                    }
                }
            }

            // A language is one of the four codes, in any case, with spaces around.
            #[test]
            fn a_language_is_one_of_the_four_codes(value in prop_oneof![
                any_text(),
                padded("(en|De|ZH|rU)"),
            ]) {
                let code = value.trim().to_ascii_lowercase();
                match Language::parse(&value) {
                    Ok(language) => prop_assert_eq!(language.code(), code),
                    Err(error) => {
                        prop_assert!(!["en", "de", "zh", "ru"].contains(&code.as_str()));
                        prop_assert_eq!(error.field(), Some("language"));
                    }
                }
            }

            // An accepted country is two upper-case ASCII letters, read the same in any case.
            #[test]
            fn an_accepted_country_is_two_upper_case_letters(
                value in prop_oneof![text(4), any_text()],
            ) {
                match Country::parse(&value) {
                    Ok(country) => {
                        prop_assert_eq!(country.as_str(), value.trim().to_ascii_uppercase());
                        let code = country.as_str();
                        prop_assert_eq!(code.len(), 2);
                        prop_assert!(code.bytes().all(|b| b.is_ascii_uppercase()), "{code}");
                        let lower = Country::parse(&code.to_ascii_lowercase());
                        prop_assert_eq!(lower, Ok(country.clone()));
                    }
                    Err(error) => prop_assert_eq!(error.field(), Some("country")),
                }
            }

            // Every ISO 3166-1 alpha-2 code is accepted, in any case, and stored upper-case.
            #[test]
            fn every_iso_code_is_a_country(
                code in proptest::sample::select(&isocountry::CountryCode::as_array_alpha2()[..]),
                lower in any::<bool>(),
            ) {
                let typed = if lower {
                    code.alpha2().to_ascii_lowercase()
                } else {
                    code.alpha2().to_owned()
                };
                let country = Country::parse(&typed)?;
                prop_assert_eq!(country.as_str(), code.alpha2());
            }

            // An accepted phone number is in E.164 form (+ and 2 to 15 digits) and reads back as
            // itself.
            #[test]
            fn an_accepted_phone_number_is_e164(value in prop_oneof![
                any_text(),
                "\\+[0-9 ()\\-]{0,24}",
                "\\+[0-9]{1,3}[ -]?[0-9a-z+()#*.;=]{0,20}",
            ]) {
                match Phone::parse(&value) {
                    Ok(phone) => {
                        let digits = phone.as_str().strip_prefix('+').unwrap_or_default();
                        prop_assert!((2..=15).contains(&digits.len()), "{phone:?}");
                        prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{phone:?}");
                        prop_assert_eq!(Phone::parse(phone.as_str()), Ok(phone.clone()));
                    }
                    Err(error) => prop_assert_eq!(error.field(), Some("phone")),
                }
            }

            // Spaces, dashes and brackets typed between the digits of a valid number, after its
            // country code, do not change it.
            #[test]
            fn a_phone_number_is_the_same_however_it_is_spaced(
                (country, national) in proptest::sample::select(&[
                    ("+49", "301234567"),
                    ("+1", "4155552671"),
                    ("+86", "13800138000"),
                    ("+7", "4951234567"),
                    ("+44", "2079460958"),
                ][..]),
                separators in proptest::collection::vec(
                    proptest::sample::select(&["", "", " ", "-", "(", ")"][..]),
                    12,
                ),
            ) {
                let canonical = Phone::parse(&format!("{country}{national}"))?;
                let spaced: String = std::iter::once(format!("{country} "))
                    .chain(
                        national
                            .chars()
                            .zip(&separators)
                            .map(|(digit, separator)| format!("{separator}{digit}")),
                    )
                    .collect();
                prop_assert_eq!(Phone::parse(&spaced), Ok(canonical));
            }

            // A suspension reason is dropped when blank, refused over 500 characters, and
            // otherwise kept trimmed.
            #[test]
            fn a_suspension_reason_is_trimmed_and_bounded(
                value in prop_oneof![text(40), text(700)],
            ) {
                let trimmed = value.trim();
                match suspension_reason(Some(&value)) {
                    Ok(None) => prop_assert!(trimmed.is_empty()),
                    Ok(Some(reason)) => {
                        prop_assert_eq!(reason.as_str(), trimmed);
                        prop_assert!(reason.chars().count() <= 500);
                    }
                    Err(error) => {
                        prop_assert!(trimmed.chars().count() > 500);
                        prop_assert_eq!(error.field(), Some("reason"));
                    }
                }
            }
        }
    }
}
