//! Membership status: a user's standing in one organization. Changes go through
//! [`MembershipStatus::transition`].

use crate::DomainError;
use crate::user::UserStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipStatus {
    /// Invited; the invitation is not accepted yet.
    Invited,
    Active,
    /// Blocked from this organization only; the user keeps their other organizations.
    Disabled,
}

impl MembershipStatus {
    pub const ALL: [MembershipStatus; 3] = [
        MembershipStatus::Invited,
        MembershipStatus::Active,
        MembershipStatus::Disabled,
    ];

    /// The name stored in the database and shown in the API.
    pub fn code(self) -> &'static str {
        match self {
            MembershipStatus::Invited => "INVITED",
            MembershipStatus::Active => "ACTIVE",
            MembershipStatus::Disabled => "DISABLED",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.code() == code)
    }

    /// Checks a change of a membership whose user has status `user`, and says why it is
    /// refused.
    pub fn transition(
        self,
        to: MembershipStatus,
        user: UserStatus,
    ) -> Result<MembershipStatus, DomainError> {
        use MembershipStatus::*;
        let refused = |reason| DomainError::InvalidTransition {
            what: "the membership",
            from: self.code(),
            to: to.code(),
            reason,
        };
        match (self, to) {
            // Accepting an invitation validates a new user in the same step; enabling does not.
            (Disabled, Active) if user == UserStatus::PendingValidation => Err(refused(
                "the user must be validated first; resend the activation link",
            )),
            (Invited | Disabled, Active) if user == UserStatus::Deleted => {
                Err(refused("the user has been deleted"))
            }
            (Invited, Active) | (Active, Disabled) | (Disabled, Active) => Ok(to),
            (Invited, Disabled) => Err(refused(
                "the invitation is not accepted yet; revoke the invitation instead",
            )),
            (Active | Disabled, Invited) => Err(refused(
                "the user is a member already; an invitation cannot be undone after it was accepted",
            )),
            _ => Err(refused("the membership already has this status")),
        }
    }
}

/// Where an invitation stands. `Expired` is never stored: it is a pending invitation whose
/// newest link is past its expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

impl InvitationStatus {
    pub fn code(self) -> &'static str {
        match self {
            InvitationStatus::Pending => "PENDING",
            InvitationStatus::Accepted => "ACCEPTED",
            InvitationStatus::Revoked => "REVOKED",
            InvitationStatus::Expired => "EXPIRED",
        }
    }

    /// The status shown at `now` for a stored one (`PENDING`, `ACCEPTED` or `REVOKED`).
    pub fn at(
        stored: &str,
        expires_at: time::OffsetDateTime,
        now: time::OffsetDateTime,
    ) -> Option<InvitationStatus> {
        match stored {
            "PENDING" if now >= expires_at => Some(InvitationStatus::Expired),
            "PENDING" => Some(InvitationStatus::Pending),
            "ACCEPTED" => Some(InvitationStatus::Accepted),
            "REVOKED" => Some(InvitationStatus::Revoked),
            _ => None,
        }
    }

    /// Checks that an invitation in this status may be resent (a new link replaces the old).
    pub fn check_resend(self) -> Result<(), DomainError> {
        match self {
            InvitationStatus::Pending | InvitationStatus::Expired => Ok(()),
            InvitationStatus::Accepted => Err(DomainError::invalid(
                "invitation",
                "has been accepted already; the user is a member",
            )),
            InvitationStatus::Revoked => Err(DomainError::invalid(
                "invitation",
                "has been revoked; invite the user again",
            )),
        }
    }

    /// Checks that an invitation in this status may be revoked.
    pub fn check_revoke(self) -> Result<(), DomainError> {
        match self {
            InvitationStatus::Pending | InvitationStatus::Expired => Ok(()),
            InvitationStatus::Accepted => Err(DomainError::invalid(
                "invitation",
                "has been accepted already; disable the membership instead",
            )),
            InvitationStatus::Revoked => Err(DomainError::invalid(
                "invitation",
                "has been revoked already",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::MembershipStatus::*;
    use super::*;

    fn reason(result: Result<MembershipStatus, DomainError>) -> String {
        result.expect_err("refused").to_string()
    }

    #[test]
    fn allowed_transitions_are_accepted() {
        for (from, to, user) in [
            (Invited, Active, UserStatus::PendingValidation),
            (Invited, Active, UserStatus::Active),
            (Active, Disabled, UserStatus::Active),
            (Active, Disabled, UserStatus::Suspended),
            (Disabled, Active, UserStatus::Active),
        ] {
            assert_eq!(
                from.transition(to, user).ok(),
                Some(to),
                "{from:?} → {to:?}"
            );
        }
    }

    #[test]
    fn a_membership_of_a_user_not_validated_cannot_be_enabled() {
        let message = reason(Disabled.transition(Active, UserStatus::PendingValidation));
        assert!(
            message.contains("the user must be validated first; resend the activation link"),
            "{message}"
        );
    }

    #[test]
    fn refused_transitions_say_why() {
        for (from, to, expected) in [
            (Invited, Disabled, "revoke the invitation"),
            (Active, Invited, "a member already"),
            (Disabled, Invited, "a member already"),
            (Active, Active, "already has this status"),
            (Disabled, Disabled, "already has this status"),
            (Invited, Invited, "already has this status"),
        ] {
            let message = reason(from.transition(to, UserStatus::Active));
            assert!(message.contains(expected), "{from:?} → {to:?}: {message}");
        }
        assert!(reason(Disabled.transition(Active, UserStatus::Deleted)).contains("deleted"));
    }

    #[test]
    fn a_pending_invitation_expires_and_only_open_ones_are_resent_or_revoked() {
        let now = time::OffsetDateTime::UNIX_EPOCH;
        let later = now + time::Duration::hours(1);
        assert_eq!(
            InvitationStatus::at("PENDING", later, now),
            Some(InvitationStatus::Pending)
        );
        assert_eq!(
            InvitationStatus::at("PENDING", now, later),
            Some(InvitationStatus::Expired)
        );
        assert_eq!(
            InvitationStatus::at("ACCEPTED", now, later),
            Some(InvitationStatus::Accepted)
        );
        assert_eq!(InvitationStatus::at("nonsense", now, later), None);
        for open in [InvitationStatus::Pending, InvitationStatus::Expired] {
            assert!(open.check_resend().is_ok() && open.check_revoke().is_ok());
        }
        for closed in [InvitationStatus::Accepted, InvitationStatus::Revoked] {
            assert!(closed.check_resend().is_err() && closed.check_revoke().is_err());
        }
    }

    #[test]
    fn status_codes_round_trip() {
        for status in MembershipStatus::ALL {
            assert_eq!(MembershipStatus::from_code(status.code()), Some(status));
        }
    }
}
