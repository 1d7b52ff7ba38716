//! Consistency reports and repairs: the invariants Steward's data must keep, each with a
//! stable code, what it means and how it is fixed; where a run stands; and who may run one.
//!
//! The checks themselves are set-based SQL in the store, one statement per invariant and
//! chunk of users (or organizations); this module is what they are checked against and how
//! their findings are named.

use std::collections::BTreeMap;
use std::fmt;

use uuid::Uuid;

use crate::policy::{Actor, PlatformAuthorized, authorize_platform};
use crate::{DomainError, OrganizationId, UserId};

/// One rule of the data. Codes are stable: scripts and dashboards filter on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invariant {
    /// A `DELETED` user keeps only disabled memberships (tombstones).
    MembershipOfDeletedUser,
    /// A group's members are members of the group's organization.
    GroupMemberNotMember,
    /// An archived group has no members.
    ArchivedGroupMember,
    /// Role bindings name users that are not deleted.
    BindingOfDeletedUser,
    /// Shares name users that are not deleted and resources that are not deleted.
    DanglingShare,
    /// Resources are owned by users that are not deleted.
    ResourceOwnedByDeletedUser,
    /// Resources are owned by members of their organization.
    ResourceOwnedByNonMember,
    /// `effective_roles` equals its recomputation from role bindings and groups.
    PermissionParity,
    /// Live sessions (and so their refresh tokens) belong to active users acting in an
    /// organization where their membership is active.
    LiveSessionOfInactiveUser,
    /// API keys that work belong to users that are not deleted, members of the key's
    /// organization.
    LiveApiKeyOfInactiveUser,
    /// A deleted user has no password, SSH keys or second factor left.
    CredentialsOfDeletedUser,
    /// A deleted user has no pending invitation.
    PendingInvitationOfDeletedUser,
    /// A `PENDING_DELETION` user with no hold left is purged.
    UnheldPendingDeletion,
    /// Every organization has an active owner who is an active member.
    OrganizationWithoutActiveOwner,
}

impl Invariant {
    pub const ALL: [Invariant; 14] = [
        Invariant::MembershipOfDeletedUser,
        Invariant::GroupMemberNotMember,
        Invariant::ArchivedGroupMember,
        Invariant::BindingOfDeletedUser,
        Invariant::DanglingShare,
        Invariant::ResourceOwnedByDeletedUser,
        Invariant::ResourceOwnedByNonMember,
        Invariant::PermissionParity,
        Invariant::LiveSessionOfInactiveUser,
        Invariant::LiveApiKeyOfInactiveUser,
        Invariant::CredentialsOfDeletedUser,
        Invariant::PendingInvitationOfDeletedUser,
        Invariant::UnheldPendingDeletion,
        Invariant::OrganizationWithoutActiveOwner,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Invariant::MembershipOfDeletedUser => "MEMBERSHIP_OF_DELETED_USER",
            Invariant::GroupMemberNotMember => "GROUP_MEMBER_NOT_MEMBER",
            Invariant::ArchivedGroupMember => "ARCHIVED_GROUP_MEMBER",
            Invariant::BindingOfDeletedUser => "BINDING_OF_DELETED_USER",
            Invariant::DanglingShare => "DANGLING_SHARE",
            Invariant::ResourceOwnedByDeletedUser => "RESOURCE_OWNED_BY_DELETED_USER",
            Invariant::ResourceOwnedByNonMember => "RESOURCE_OWNED_BY_NON_MEMBER",
            Invariant::PermissionParity => "PERMISSION_PARITY",
            Invariant::LiveSessionOfInactiveUser => "LIVE_SESSION_OF_INACTIVE_USER",
            Invariant::LiveApiKeyOfInactiveUser => "LIVE_API_KEY_OF_INACTIVE_USER",
            Invariant::CredentialsOfDeletedUser => "CREDENTIALS_OF_DELETED_USER",
            Invariant::PendingInvitationOfDeletedUser => "PENDING_INVITATION_OF_DELETED_USER",
            Invariant::UnheldPendingDeletion => "UNHELD_PENDING_DELETION",
            Invariant::OrganizationWithoutActiveOwner => "ORGANIZATION_WITHOUT_ACTIVE_OWNER",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|invariant| invariant.code() == code)
    }

    /// What the invariant requires, for reports.
    pub fn description(self) -> &'static str {
        match self {
            Invariant::MembershipOfDeletedUser => "a deleted user keeps only disabled memberships",
            Invariant::GroupMemberNotMember => {
                "a group's members are members of its organization and not deleted"
            }
            Invariant::ArchivedGroupMember => "an archived group has no members",
            Invariant::BindingOfDeletedUser => "no role is bound to a deleted user",
            Invariant::DanglingShare => {
                "no resource is shared with a deleted user, and no deleted resource is shared"
            }
            Invariant::ResourceOwnedByDeletedUser => {
                "no transferable resource is owned by a deleted user"
            }
            Invariant::ResourceOwnedByNonMember => {
                "a transferable resource's owner is a member of its organization"
            }
            Invariant::PermissionParity => {
                "the effective roles authorization reads equal their recomputation from role \
                 bindings and group memberships"
            }
            Invariant::LiveSessionOfInactiveUser => {
                "a live session belongs to an active user, acting where their membership is active"
            }
            Invariant::LiveApiKeyOfInactiveUser => {
                "an API key that works belongs to a user who is not deleted and is a member of \
                 the key's organization"
            }
            Invariant::CredentialsOfDeletedUser => {
                "a deleted user has no password, SSH key or second factor left"
            }
            Invariant::PendingInvitationOfDeletedUser => "a deleted user has no pending invitation",
            Invariant::UnheldPendingDeletion => {
                "an account pending deletion with no hold left is purged"
            }
            Invariant::OrganizationWithoutActiveOwner => {
                "every organization has an active owner who is an active member"
            }
        }
    }

    /// What a repair does, or `None` when it must be left to a person.
    pub fn fix(self) -> Option<&'static str> {
        Some(match self {
            Invariant::MembershipOfDeletedUser => "disable the membership",
            Invariant::GroupMemberNotMember | Invariant::ArchivedGroupMember => {
                "remove the user from the group and recompute their effective roles"
            }
            Invariant::BindingOfDeletedUser => {
                "remove the binding and recompute the user's effective roles"
            }
            Invariant::DanglingShare => "remove the share",
            Invariant::ResourceOwnedByDeletedUser | Invariant::ResourceOwnedByNonMember => {
                "transfer the resource to the organization's owner, recorded in its transfer history"
            }
            Invariant::PermissionParity => "recompute the user's effective roles",
            Invariant::LiveSessionOfInactiveUser => {
                "revoke the session (its refresh tokens stop with it)"
            }
            Invariant::LiveApiKeyOfInactiveUser => "revoke the API key",
            Invariant::CredentialsOfDeletedUser => {
                "remove the password, SSH keys, second factor and recovery codes"
            }
            Invariant::PendingInvitationOfDeletedUser => "revoke the invitation and its links",
            Invariant::UnheldPendingDeletion => "purge the account as its deletion would",
            Invariant::OrganizationWithoutActiveOwner => return None,
        })
    }

    /// What a person must do when there is no automatic fix.
    pub fn manual_fix(self) -> &'static str {
        match self {
            Invariant::OrganizationWithoutActiveOwner => {
                "not repaired automatically: a SuperAdmin chooses the new owner with \
                 transferOrganizationOwnership"
            }
            _ => "",
        }
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// What a finding became.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FindingStatus {
    /// Reported; a dry run leaves every finding here.
    Open,
    /// Fixed by the run.
    Repaired,
    /// No automatic fix, or the fix was refused (the finding's note says why).
    Unresolved,
    /// No longer there when the repair came to it: something else fixed it meanwhile.
    Gone,
}

impl FindingStatus {
    pub const ALL: [FindingStatus; 4] = [
        FindingStatus::Open,
        FindingStatus::Repaired,
        FindingStatus::Unresolved,
        FindingStatus::Gone,
    ];

    pub fn code(self) -> &'static str {
        match self {
            FindingStatus::Open => "OPEN",
            FindingStatus::Repaired => "REPAIRED",
            FindingStatus::Unresolved => "UNRESOLVED",
            FindingStatus::Gone => "GONE",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.code() == code)
    }

    /// Whether the run applied the finding's fix.
    pub fn is_applied(self) -> bool {
        self == FindingStatus::Repaired
    }

    /// Whether the finding still stands after the run (a deployment gate fails on it).
    pub fn is_unresolved(self) -> bool {
        matches!(self, FindingStatus::Open | FindingStatus::Unresolved)
    }
}

/// What a run covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunScope {
    /// One user, and the organizations they own.
    User(UserId),
    /// An organization's members (all of their data, in any organization) and the
    /// organization itself.
    Organization(OrganizationId),
    /// Every user and organization.
    All,
}

impl RunScope {
    pub fn code(self) -> &'static str {
        match self {
            RunScope::User(_) => "USER",
            RunScope::Organization(_) => "ORGANIZATION",
            RunScope::All => "ALL",
        }
    }

    /// The scope named by `code` and its subject, with what is wrong when they do not fit.
    pub fn parse(code: &str, subject: Option<Uuid>) -> Result<Self, DomainError> {
        match (code, subject) {
            ("USER", Some(user)) => Ok(RunScope::User(UserId(user))),
            ("ORGANIZATION", Some(organization)) => {
                Ok(RunScope::Organization(OrganizationId(organization)))
            }
            ("ALL", None) => Ok(RunScope::All),
            ("ALL", Some(_)) => Err(DomainError::invalid(
                "subject",
                "must be left out for scope ALL, which covers everyone",
            )),
            ("USER" | "ORGANIZATION", None) => Err(DomainError::invalid(
                "subject",
                "is required for scopes USER and ORGANIZATION: the user's or organization's id",
            )),
            _ => Err(DomainError::invalid(
                "scope",
                "must be USER, ORGANIZATION or ALL",
            )),
        }
    }

    pub fn subject(self) -> Option<Uuid> {
        match self {
            RunScope::User(user) => Some(user.as_uuid()),
            RunScope::Organization(organization) => Some(organization.as_uuid()),
            RunScope::All => None,
        }
    }
}

/// The two walks of a run, in order: users, then organizations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Users,
    Organizations,
}

/// Where a run stands: the phase, and the last subject of it whose findings are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunCursor {
    /// In a phase, after `after` (from its start when `None`).
    At { phase: Phase, after: Option<Uuid> },
    /// Both walks are done.
    Done,
}

impl RunCursor {
    pub const START: RunCursor = RunCursor::At {
        phase: Phase::Users,
        after: None,
    };

    /// The stored form: `USERS`, `USERS:<id>`, `ORGANIZATIONS[:<id>]` or `DONE`.
    pub fn encode(self) -> String {
        match self {
            RunCursor::At { phase, after } => {
                let phase = match phase {
                    Phase::Users => "USERS",
                    Phase::Organizations => "ORGANIZATIONS",
                };
                match after {
                    Some(after) => format!("{phase}:{after}"),
                    None => phase.to_owned(),
                }
            }
            RunCursor::Done => "DONE".to_owned(),
        }
    }

    /// Reads a stored cursor; a job without one starts at the beginning.
    pub fn parse(stored: Option<&str>) -> Result<Self, DomainError> {
        let Some(stored) = stored else {
            return Ok(RunCursor::START);
        };
        if stored == "DONE" {
            return Ok(RunCursor::Done);
        }
        let (phase, after) = match stored.split_once(':') {
            Some((phase, after)) => (phase, Some(after)),
            None => (stored, None),
        };
        let phase = match phase {
            "USERS" => Phase::Users,
            "ORGANIZATIONS" => Phase::Organizations,
            _ => return Err(DomainError::invalid("cursor", "names no phase of a run")),
        };
        let after = after
            .map(Uuid::parse_str)
            .transpose()
            .map_err(|_| DomainError::invalid("cursor", "has no valid id after its phase"))?;
        Ok(RunCursor::At { phase, after })
    }

    /// Where the run goes once `phase` has nothing after the cursor.
    pub fn after_phase(phase: Phase) -> Self {
        match phase {
            Phase::Users => RunCursor::At {
                phase: Phase::Organizations,
                after: None,
            },
            Phase::Organizations => RunCursor::Done,
        }
    }
}

/// Only a SuperAdmin reports and repairs: a user's findings span every organization they
/// belong to, so no organization's administrator may see all of them.
pub fn authorize_consistency(actor: &Actor) -> Result<PlatformAuthorized, DomainError> {
    authorize_platform(actor)
        .map_err(|_| DomainError::forbidden("only a SuperAdmin can run consistency reports"))
}

/// Whether a run may go on for the person who started it (checked before each step): they
/// must still be an active SuperAdmin.
pub fn check_run_initiator(actor: &Actor, account_active: bool) -> Result<(), DomainError> {
    if !account_active || !actor.is_super_admin() {
        return Err(DomainError::forbidden(
            "the account that started the run is no longer an active SuperAdmin; what was \
             repaired stays repaired, and another SuperAdmin can start the run again",
        ));
    }
    Ok(())
}

/// Counts per invariant: findings and how many of them were repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindingCounts(pub BTreeMap<Invariant, (u64, u64)>);

impl FindingCounts {
    pub fn add(&mut self, invariant: Invariant, found: u64, repaired: u64) {
        let entry = self.0.entry(invariant).or_default();
        entry.0 += found;
        entry.1 += repaired;
    }

    /// One line per invariant with findings, `CODE: found / repaired`; "none" when clean.
    /// Language-neutral: the e-mail around it is translated.
    pub fn summary(&self) -> String {
        if self.0.values().all(|(found, _)| *found == 0) {
            return "0".to_owned();
        }
        self.0
            .iter()
            .filter(|(_, (found, _))| *found > 0)
            .map(|(invariant, (found, repaired))| format!("{invariant}: {found} / {repaired}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::PlatformRole;

    #[test]
    fn codes_are_unique_and_read_back() {
        for invariant in Invariant::ALL {
            assert_eq!(Invariant::from_code(invariant.code()), Some(invariant));
            assert!(!invariant.description().is_empty());
            assert!(invariant.fix().is_some() || !invariant.manual_fix().is_empty());
        }
        let mut codes: Vec<_> = Invariant::ALL.iter().map(|i| i.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Invariant::ALL.len());
        assert_eq!(Invariant::from_code("NOPE"), None);
        for status in FindingStatus::ALL {
            assert_eq!(FindingStatus::from_code(status.code()), Some(status));
            assert_eq!(status.is_applied(), status == FindingStatus::Repaired);
            assert_eq!(
                status.is_unresolved(),
                matches!(status, FindingStatus::Open | FindingStatus::Unresolved)
            );
        }
    }

    #[test]
    fn a_cursor_reads_back_what_it_wrote_and_refuses_garbage() {
        let id = Uuid::now_v7();
        for cursor in [
            RunCursor::START,
            RunCursor::At {
                phase: Phase::Users,
                after: Some(id),
            },
            RunCursor::after_phase(Phase::Users),
            RunCursor::At {
                phase: Phase::Organizations,
                after: Some(id),
            },
            RunCursor::after_phase(Phase::Organizations),
        ] {
            assert_eq!(RunCursor::parse(Some(&cursor.encode())), Ok(cursor));
        }
        assert_eq!(RunCursor::parse(None), Ok(RunCursor::START));
        assert!(RunCursor::parse(Some("GROUPS")).is_err());
        assert!(RunCursor::parse(Some("USERS:not-an-id")).is_err());
    }

    #[test]
    fn a_scope_needs_its_subject_and_only_then() {
        let id = Uuid::now_v7();
        assert_eq!(
            RunScope::parse("USER", Some(id)),
            Ok(RunScope::User(UserId(id)))
        );
        assert_eq!(RunScope::parse("ALL", None), Ok(RunScope::All));
        for (code, subject, field) in [
            ("USER", None, "subject"),
            ("ORGANIZATION", None, "subject"),
            ("ALL", Some(id), "subject"),
            ("GROUP", Some(id), "scope"),
        ] {
            match RunScope::parse(code, subject) {
                Err(DomainError::Invalid { field: got, .. }) => assert_eq!(got, field, "{code}"),
                other => panic!("{code}: {other:?}"),
            }
        }
    }

    #[test]
    fn only_an_active_super_admin_runs_reports() {
        let admin = Actor::new(UserId::new(), Some(PlatformRole::SuperAdmin), Vec::new());
        let member = Actor::new(UserId::new(), None, Vec::new());
        assert!(authorize_consistency(&admin).is_ok());
        assert!(matches!(
            authorize_consistency(&member),
            Err(DomainError::Forbidden { .. })
        ));
        assert!(check_run_initiator(&admin, true).is_ok());
        assert!(check_run_initiator(&admin, false).is_err());
        assert!(check_run_initiator(&member, true).is_err());
    }

    #[test]
    fn the_summary_lists_invariants_with_findings_only() {
        let mut counts = FindingCounts::default();
        assert_eq!(counts.summary(), "0");
        counts.add(Invariant::PermissionParity, 2, 2);
        counts.add(Invariant::DanglingShare, 0, 0);
        counts.add(Invariant::OrganizationWithoutActiveOwner, 1, 0);
        assert_eq!(
            counts.summary(),
            "PERMISSION_PARITY: 2 / 2\nORGANIZATION_WITHOUT_ACTIVE_OWNER: 1 / 0"
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;
        use crate::strategies::any_text;

        fn id() -> impl Strategy<Value = Uuid> {
            any::<u128>().prop_map(Uuid::from_u128)
        }

        fn cursor() -> impl Strategy<Value = RunCursor> {
            let phase = prop_oneof![Just(Phase::Users), Just(Phase::Organizations)];
            prop_oneof![
                Just(RunCursor::Done),
                (phase, proptest::option::of(id()))
                    .prop_map(|(phase, after)| RunCursor::At { phase, after }),
            ]
        }

        proptest! {
            // A scope is its code with the subject it needs; otherwise the refusal names the
            // scope when the code is unknown and the subject when it is missing or extra.
            #[test]
            fn a_scope_is_a_known_code_with_the_subject_it_needs(
                code in prop_oneof!["USER|ORGANIZATION|ALL", "(user|All|GROUP)", any_text()],
                subject in proptest::option::of(id()),
            ) {
                let known = ["USER", "ORGANIZATION", "ALL"].contains(&code.as_str());
                match RunScope::parse(&code, subject) {
                    Ok(scope) => {
                        prop_assert_eq!(scope.code(), code.as_str());
                        prop_assert_eq!(scope.subject(), subject);
                    }
                    Err(error) if known => {
                        prop_assert_eq!(error.field(), Some("subject"));
                        prop_assert_eq!(subject.is_some(), code == "ALL");
                    }
                    Err(error) => prop_assert_eq!(error.field(), Some("scope")),
                }
            }

            // A cursor reads back what it wrote.
            #[test]
            fn a_cursor_reads_back_what_it_wrote(cursor in cursor()) {
                prop_assert_eq!(RunCursor::parse(Some(&cursor.encode())), Ok(cursor));
            }

            // A stored cursor is refused naming the cursor, or is a cursor of the phase it names
            // that reads back from its own encoding.
            #[test]
            fn a_stored_cursor_is_refused_or_stable(stored in prop_oneof![
                any_text(),
                "(USERS|ORGANIZATIONS|DONE|users)(:[0-9a-fA-F-]{0,40})?",
            ]) {
                match RunCursor::parse(Some(&stored)) {
                    Ok(cursor) => {
                        let encoded = cursor.encode();
                        prop_assert_eq!(encoded.split(':').next(), stored.split(':').next());
                        prop_assert_eq!(RunCursor::parse(Some(&encoded)), Ok(cursor));
                    }
                    Err(error) => prop_assert_eq!(error.field(), Some("cursor")),
                }
            }
        }
    }
}
