//! Deleting users and removing them from organizations: the rules and messages that do not
//! depend on the database, and the fingerprint of a deletion plan.

use sha2::{Digest, Sha256};

use crate::DomainError;
use crate::user::UserStatus;

/// Why resources changed owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferReason {
    /// An administrator moved them.
    Transfer,
    /// Their owner was deleted.
    UserDeleted,
    /// Their owner was removed from the organization.
    MembershipRemoved,
}

impl TransferReason {
    pub fn code(self) -> &'static str {
        match self {
            TransferReason::Transfer => "TRANSFER",
            TransferReason::UserDeleted => "USER_DELETED",
            TransferReason::MembershipRemoved => "MEMBERSHIP_REMOVED",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        [
            TransferReason::Transfer,
            TransferReason::UserDeleted,
            TransferReason::MembershipRemoved,
        ]
        .into_iter()
        .find(|reason| reason.code() == code)
    }
}

/// The refusal while the user still has API keys that work.
pub fn active_api_keys() -> DomainError {
    DomainError::forbidden("You can't remove the user as they have active tokens.")
}

// The refusals below are what a deletion or removal plan lists and what its mutation
// answers: both take them from here, so a plan cannot promise what the mutation refuses.

/// An administrator deletes only a suspended user.
pub fn not_suspended(status: UserStatus) -> DomainError {
    DomainError::InvalidTransition {
        what: "the user's status",
        from: status.code(),
        to: UserStatus::Deleted.code(),
        reason: "only a suspended user can be deleted; suspend the user first",
    }
}

/// An organization's owner is neither deleted nor removed (`doing`: "deleted", "removed").
pub fn organization_owner(organization: &str, doing: &str) -> DomainError {
    DomainError::forbidden(format!(
        "the owner of the organization {organization} cannot be {doing}; transfer the \
         organization's ownership to another member first"
    ))
}

/// The resources in `organization` would have no one to go to.
pub fn no_new_owner(organization: &str) -> DomainError {
    DomainError::forbidden(format!(
        "the organization {organization} has no owner to receive the resources; name a new \
         owner"
    ))
}

/// The new owner named is the user who leaves.
pub fn new_owner_is_leaving(organization: &str, doing: &str) -> DomainError {
    DomainError::forbidden(format!(
        "the resources in {organization} cannot go to the user who is {doing}; name another \
         new owner"
    ))
}

/// The new owner named may not receive resources in `organization`; `new_owner` is their
/// username, unknown when no such user exists.
pub fn new_owner_cannot_receive(new_owner: Option<&str>, organization: &str) -> DomainError {
    let who = new_owner.unwrap_or("the new owner named");
    DomainError::forbidden(format!(
        "{who} cannot receive the resources in {organization}: the new owner must be an \
         active user with an active membership there; name another new owner"
    ))
}

/// An administrator does not remove themselves.
pub fn removing_yourself() -> DomainError {
    DomainError::forbidden(
        "you cannot remove yourself from the organization; ask another administrator",
    )
}

/// The user to remove is not a member of the organization.
pub fn not_a_member() -> DomainError {
    DomainError::NotFound { what: "the member" }
}

/// The organization to delete was deleted before.
pub fn organization_deleted_already() -> DomainError {
    DomainError::invalid("organization", "has been deleted already")
}

/// The one error a mutation answers for the refusals its plan lists, or none when the list
/// is empty: the refusal itself when there is one; all of them, joined with "; ", in one
/// `Forbidden` when there are several. Either way its message is the plan's refusals joined.
pub fn refusal(refusals: &[DomainError]) -> Option<DomainError> {
    match refusals {
        [] => None,
        [only] => Some(only.clone()),
        several => Some(DomainError::forbidden(
            several
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )),
    }
}

/// The refusal when the plan a client confirmed is not the plan any more.
pub fn plan_changed() -> DomainError {
    DomainError::conflict(
        "planRevision",
        "the deletion plan has changed since it was shown (resources, tokens or new owners \
         differ); look at deletionPlan again and confirm its new revision",
    )
}

/// A justification for deleting one's own account: 10–2000 characters, trimmed.
pub fn justification(value: &str) -> Result<String, DomainError> {
    let value = value.trim();
    let length = value.chars().count();
    if !(10..=2000).contains(&length) {
        return Err(DomainError::invalid(
            "justification",
            "must be 10 to 2000 characters: say briefly why the account should go",
        ));
    }
    Ok(value.to_owned())
}

/// A deletion hold's reason: 3–500 characters, trimmed.
pub fn hold_reason(value: &str) -> Result<String, DomainError> {
    let value = value.trim();
    let length = value.chars().count();
    if !(3..=500).contains(&length) {
        return Err(DomainError::invalid(
            "reason",
            "must be 3 to 500 characters, such as \"unpaid invoice 2027-114\"",
        ));
    }
    Ok(value.to_owned())
}

/// The fingerprint of a deletion plan: everything the plan would do goes in, in a fixed
/// order, so two plans share a revision exactly when they would do the same.
#[derive(Default)]
pub struct PlanRevision(Sha256);

impl PlanRevision {
    pub fn add(&mut self, part: impl AsRef<[u8]>) {
        self.0.update(part.as_ref());
        self.0.update([0]);
    }

    pub fn finish(self) -> String {
        format!("{:x}", self.0.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip_through_their_codes() {
        for reason in [
            TransferReason::Transfer,
            TransferReason::UserDeleted,
            TransferReason::MembershipRemoved,
        ] {
            assert_eq!(TransferReason::from_code(reason.code()), Some(reason));
        }
        assert_eq!(TransferReason::from_code("OTHER"), None);
    }

    #[test]
    fn the_revision_changes_with_any_part_and_with_how_parts_are_split() {
        let revision = |parts: &[&str]| {
            let mut revision = PlanRevision::default();
            for part in parts {
                revision.add(part);
            }
            revision.finish()
        };
        let base = revision(&["user", "org:a", "r1"]);
        assert_eq!(base, revision(&["user", "org:a", "r1"]));
        assert_eq!(base.len(), 64);
        assert_ne!(base, revision(&["user", "org:a", "r2"]));
        assert_ne!(base, revision(&["user", "org:a", "r1", "r2"]));
        assert_ne!(base, revision(&["user", "org:ar1"]));
    }

    #[test]
    fn the_active_token_refusal_is_word_for_word() {
        assert_eq!(
            active_api_keys().to_string(),
            "You can't remove the user as they have active tokens."
        );
    }

    #[test]
    fn a_mutation_answers_its_plans_refusals_in_one_error() {
        assert_eq!(refusal(&[]), None);
        let status = not_suspended(UserStatus::Active);
        assert_eq!(
            status.to_string(),
            "cannot change the user's status from ACTIVE to DELETED: only a suspended user \
             can be deleted; suspend the user first"
        );
        // One refusal is answered as it is, its kind kept.
        assert_eq!(refusal(std::slice::from_ref(&status)), Some(status.clone()));
        // Several are one refusal whose message is the plan's list joined.
        let several = [
            status.clone(),
            organization_owner("Acme", "deleted"),
            active_api_keys(),
        ];
        let answered = refusal(&several).expect("refused");
        assert!(matches!(answered, DomainError::Forbidden { .. }));
        assert_eq!(
            answered.to_string(),
            several
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        );
    }

    #[test]
    fn a_new_owner_who_does_not_exist_is_refused_without_a_name() {
        assert!(
            new_owner_cannot_receive(None, "Acme")
                .to_string()
                .starts_with("the new owner named cannot receive the resources in Acme")
        );
        assert!(
            new_owner_cannot_receive(Some("heir"), "Acme")
                .to_string()
                .starts_with("heir cannot receive the resources in Acme")
        );
    }

    #[test]
    fn justifications_and_hold_reasons_have_bounds() {
        assert!(justification("  too short ").is_err());
        assert_eq!(
            justification("  I am leaving the company  ").as_deref(),
            Ok("I am leaving the company")
        );
        assert!(justification(&"x".repeat(2001)).is_err());
        assert!(hold_reason("ok").is_err());
        assert!(hold_reason("unpaid invoice").is_ok());
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;
        use crate::strategies::text;

        proptest! {
            // A justification is kept trimmed exactly when it is 10–2000 characters.
            #[test]
            fn a_justification_is_10_to_2000_characters(
                value in prop_oneof![text(40), text(2100)],
            ) {
                let trimmed = value.trim();
                match justification(&value) {
                    Ok(kept) => {
                        prop_assert!((10..=2000).contains(&trimmed.chars().count()));
                        prop_assert_eq!(kept.as_str(), trimmed);
                    }
                    Err(error) => {
                        prop_assert!(!(10..=2000).contains(&trimmed.chars().count()));
                        prop_assert_eq!(error.field(), Some("justification"));
                    }
                }
            }

            // A hold's reason is kept trimmed exactly when it is 3–500 characters.
            #[test]
            fn a_hold_reason_is_3_to_500_characters(value in prop_oneof![text(10), text(600)]) {
                let trimmed = value.trim();
                match hold_reason(&value) {
                    Ok(kept) => {
                        prop_assert!((3..=500).contains(&trimmed.chars().count()));
                        prop_assert_eq!(kept.as_str(), trimmed);
                    }
                    Err(error) => {
                        prop_assert!(!(3..=500).contains(&trimmed.chars().count()));
                        prop_assert_eq!(error.field(), Some("reason"));
                    }
                }
            }
        }
    }
}
