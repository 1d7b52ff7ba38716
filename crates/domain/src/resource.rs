//! Resources that users own: their kinds, and the rules of what a kind allows.

use crate::{DomainError, GroupId, UserId};

/// A resource kind's code, such as `DASHBOARD`: 2–40 upper-case ASCII letters, digits or
/// underscores, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindCode(String);

impl KindCode {
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        let value = value.trim();
        let valid = (2..=40).contains(&value.len())
            && value.starts_with(|c: char| c.is_ascii_uppercase())
            && value
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(DomainError::invalid(
                "kind",
                "must be 2 to 40 upper-case letters, digits or underscores, starting with a \
                 letter, such as DASHBOARD",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A registering service's own id for a resource: 1–200 characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalId(String);

impl ExternalId {
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        let value = value.trim();
        if value.is_empty() || value.chars().count() > 200 {
            return Err(DomainError::invalid(
                "externalId",
                "must be 1 to 200 characters long",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The most resources one transfer may name one by one.
pub const MAX_NAMED_IN_TRANSFER: usize = 1000;

/// Checks how many resources a transfer names one by one.
pub fn check_named_in_transfer(count: usize) -> Result<(), DomainError> {
    if count == 0 || count > MAX_NAMED_IN_TRANSFER {
        return Err(DomainError::invalid(
            "resources",
            format!(
                "name 1 to {MAX_NAMED_IN_TRANSFER} resources; to move all of a user's, use allOf"
            ),
        ));
    }
    Ok(())
}

/// What a kind allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindRules {
    pub transferable: bool,
    /// Resources of the kind (schedules) are disabled before they change owner.
    pub disable_before_transfer: bool,
    /// Application-level kinds (data classifications, mail servers) are never owned.
    pub application_level: bool,
}

impl KindRules {
    /// Checks that a resource of this kind, `code`, has an owner exactly when the kind is
    /// not application-level.
    pub fn check_owner(self, code: &str, has_owner: bool) -> Result<(), DomainError> {
        match (self.application_level, has_owner) {
            (true, true) => Err(DomainError::invalid(
                "kind",
                format!(
                    "{code} is an application-level kind: its resources belong to the \
                     application and are never owned by a user; leave the owner out"
                ),
            )),
            (false, false) => Err(DomainError::invalid(
                "owner",
                format!("is required for a resource of kind {code}"),
            )),
            _ => Ok(()),
        }
    }

    /// Checks that a resource of this kind, `code`, may change owner.
    pub fn check_transferable(self, code: &str) -> Result<(), DomainError> {
        if self.application_level {
            return Err(DomainError::invalid(
                "resources",
                format!(
                    "{code} is an application-level kind: its resources belong to the \
                     application and are never transferred"
                ),
            ));
        }
        if !self.transferable {
            return Err(DomainError::invalid(
                "resources",
                format!("{code} resources cannot be transferred; they stay with their owner"),
            ));
        }
        Ok(())
    }

    /// Checks that a kind asked for is consistent.
    pub fn validate(self) -> Result<Self, DomainError> {
        if self.application_level && (self.transferable || self.disable_before_transfer) {
            return Err(DomainError::invalid(
                "applicationLevel",
                "an application-level kind is never owned, so it cannot be transferable",
            ));
        }
        if self.disable_before_transfer && !self.transferable {
            return Err(DomainError::invalid(
                "disableBeforeTransfer",
                "only a transferable kind is disabled before a transfer",
            ));
        }
        Ok(self)
    }
}

/// How far a share lets its grantee go. Ordered: `Write` includes `Read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceAccess {
    Read,
    Write,
}

impl ResourceAccess {
    pub fn code(self) -> &'static str {
        match self {
            ResourceAccess::Read => "READ",
            ResourceAccess::Write => "WRITE",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "READ" => Some(ResourceAccess::Read),
            "WRITE" => Some(ResourceAccess::Write),
            _ => None,
        }
    }

    /// What a user holds through several shares (their own and their groups'): the widest.
    pub fn effective(shares: impl IntoIterator<Item = Self>) -> Option<Self> {
        shares.into_iter().max()
    }
}

/// Whom a resource is shared with: one user or one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShareGrantee {
    User(UserId),
    Group(GroupId),
}

impl ShareGrantee {
    /// The grantee named by a request that may give a user, a group, or (wrongly) both or
    /// neither.
    pub fn from_choice(user: Option<UserId>, group: Option<GroupId>) -> Result<Self, DomainError> {
        match (user, group) {
            (Some(user), None) => Ok(ShareGrantee::User(user)),
            (None, Some(group)) => Ok(ShareGrantee::Group(group)),
            _ => Err(DomainError::invalid(
                "user",
                "give exactly one of user and group: a share is with one user or one group",
            )),
        }
    }
}

/// Checks that a resource owned by `owner` (None for an application-level kind) may be
/// shared with `grantee`, or changed, while it is `deleted` or not.
pub fn check_shareable(
    owner: Option<UserId>,
    deleted: bool,
    grantee: ShareGrantee,
) -> Result<(), DomainError> {
    check_not_deleted(deleted)?;
    let Some(owner) = owner else {
        return Err(DomainError::invalid(
            "resource",
            "is of an application-level kind: it belongs to the application, and so to \
             everyone already; it cannot be shared",
        ));
    };
    if grantee == ShareGrantee::User(owner) {
        return Err(DomainError::invalid(
            "user",
            "owns the resource already; share it with someone else",
        ));
    }
    Ok(())
}

/// Checks that a resource is not one of a deleted organization, which can no longer change.
pub fn check_not_deleted(deleted: bool) -> Result<(), DomainError> {
    if deleted {
        return Err(DomainError::invalid(
            "resource",
            "belongs to a deleted organization; it can no longer be shared or changed",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transfer_names_between_one_and_a_thousand_resources() {
        assert!(check_named_in_transfer(0).is_err());
        assert!(check_named_in_transfer(1).is_ok());
        assert!(check_named_in_transfer(MAX_NAMED_IN_TRANSFER).is_ok());
        assert!(check_named_in_transfer(MAX_NAMED_IN_TRANSFER + 1).is_err());
    }

    #[test]
    fn kind_codes_are_upper_snake_case() {
        for good in ["DASHBOARD", "ML_MODEL", "ETL2"] {
            assert!(KindCode::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "D", "dashboard", "2D", "ML-MODEL", &"X".repeat(41)] {
            assert_eq!(
                KindCode::parse(bad).expect_err(bad).field(),
                Some("kind"),
                "{bad}"
            );
        }
    }

    #[test]
    fn external_ids_are_1_to_200_characters() {
        assert_eq!(
            ExternalId::parse(" dash-1 ")
                .map(|id| id.as_str().to_owned())
                .ok(),
            Some("dash-1".into())
        );
        for bad in ["", "  ", &"x".repeat(201)] {
            assert_eq!(
                ExternalId::parse(bad).expect_err("refused").field(),
                Some("externalId")
            );
        }
    }

    #[test]
    fn application_level_kinds_are_never_owned_and_rules_must_agree() {
        let app = KindRules {
            transferable: false,
            disable_before_transfer: false,
            application_level: true,
        };
        let message = app
            .check_owner("MAIL_SERVER", true)
            .expect_err("refused")
            .to_string();
        assert!(message.contains("never owned"), "{message}");
        assert!(app.check_owner("MAIL_SERVER", false).is_ok());
        let message = app
            .check_transferable("MAIL_SERVER")
            .expect_err("refused")
            .to_string();
        assert!(message.contains("never transferred"), "{message}");
        assert!(
            KindRules {
                transferable: true,
                ..app
            }
            .validate()
            .is_err()
        );
        let schedule = KindRules {
            transferable: true,
            disable_before_transfer: true,
            application_level: false,
        };
        assert!(schedule.check_owner("SCHEDULE", true).is_ok() && schedule.validate().is_ok());
        assert!(schedule.check_owner("SCHEDULE", false).is_err());
        assert!(schedule.check_transferable("SCHEDULE").is_ok());
        assert!(
            KindRules {
                transferable: false,
                ..schedule
            }
            .validate()
            .is_err()
        );
    }

    #[test]
    fn write_beats_read_and_a_share_has_exactly_one_grantee() {
        use ResourceAccess::{Read, Write};
        assert_eq!(ResourceAccess::effective([Read, Write, Read]), Some(Write));
        assert_eq!(ResourceAccess::effective([Read]), Some(Read));
        assert_eq!(ResourceAccess::effective([]), None);
        for access in [Read, Write] {
            assert_eq!(ResourceAccess::from_code(access.code()), Some(access));
        }
        let user = UserId::new();
        let group = GroupId::new();
        assert_eq!(
            ShareGrantee::from_choice(Some(user), None).ok(),
            Some(ShareGrantee::User(user))
        );
        assert_eq!(
            ShareGrantee::from_choice(None, Some(group)).ok(),
            Some(ShareGrantee::Group(group))
        );
        for (user, group) in [(Some(user), Some(group)), (None, None)] {
            let message = ShareGrantee::from_choice(user, group)
                .expect_err("refused")
                .to_string();
            assert!(message.contains("exactly one"), "{message}");
        }
    }

    #[test]
    fn only_an_owned_live_resource_is_shared_and_never_with_its_owner() {
        let owner = UserId::new();
        let someone = ShareGrantee::User(UserId::new());
        assert!(check_shareable(Some(owner), false, someone).is_ok());
        assert!(check_shareable(Some(owner), false, ShareGrantee::Group(GroupId::new())).is_ok());
        for (owner, deleted, grantee, words) in [
            (None, false, someone, "application-level"),
            (
                Some(owner),
                false,
                ShareGrantee::User(owner),
                "owns the resource",
            ),
            (Some(owner), true, someone, "deleted organization"),
        ] {
            let message = check_shareable(owner, deleted, grantee)
                .expect_err("refused")
                .to_string();
            assert!(message.contains(words), "{message}");
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;
        use crate::strategies::{any_text, padded};

        proptest! {
            // A kind code is accepted exactly when, trimmed, it is 2–40 upper-case letters,
            // digits or underscores starting with a letter.
            #[test]
            fn a_kind_code_is_upper_snake_case(
                value in prop_oneof![any_text(), padded("[A-Z0-9_]{0,42}")],
            ) {
                let trimmed = value.trim();
                let rule = (2..=40).contains(&trimmed.chars().count())
                    && trimmed.starts_with(|c: char| c.is_ascii_uppercase())
                    && trimmed
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
                match KindCode::parse(&value) {
                    Ok(code) => {
                        prop_assert!(rule, "{value:?} was accepted");
                        prop_assert_eq!(code.as_str(), trimmed);
                        prop_assert_eq!(KindCode::parse(code.as_str()), Ok(code.clone()));
                    }
                    Err(error) => {
                        prop_assert!(!rule, "{value:?}: {error}");
                        prop_assert_eq!(error.field(), Some("kind"));
                    }
                }
            }

            // An external id is accepted exactly when, trimmed, it is 1–200 characters.
            #[test]
            fn an_external_id_is_1_to_200_characters(value in any_text()) {
                let trimmed = value.trim();
                let rule = (1..=200).contains(&trimmed.chars().count());
                match ExternalId::parse(&value) {
                    Ok(id) => {
                        prop_assert!(rule, "{value:?} was accepted");
                        prop_assert_eq!(id.as_str(), trimmed);
                        prop_assert_eq!(ExternalId::parse(id.as_str()), Ok(id.clone()));
                    }
                    Err(error) => {
                        prop_assert!(!rule, "{value:?}: {error}");
                        prop_assert_eq!(error.field(), Some("externalId"));
                    }
                }
            }
        }
    }
}
