//! Single-use links sent by e-mail: invitations, e-mail validation, password reset.
//!
//! A link carries a random token; only its hash is stored. A link is good once, for
//! [`LINK_LIFETIME`], and a newer link of the same purpose for the same user replaces it.

use time::{Duration, OffsetDateTime};

use crate::DomainError;

/// How long a link is good for.
pub const LINK_LIFETIME: Duration = Duration::hours(24);

/// What a link is for. A token is accepted only by the operation of its purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    Invitation,
    EmailValidation,
    PasswordReset,
}

impl LinkPurpose {
    pub const ALL: [LinkPurpose; 3] = [
        LinkPurpose::Invitation,
        LinkPurpose::EmailValidation,
        LinkPurpose::PasswordReset,
    ];

    pub fn code(self) -> &'static str {
        match self {
            LinkPurpose::Invitation => "INVITATION",
            LinkPurpose::EmailValidation => "EMAIL_VALIDATION",
            LinkPurpose::PasswordReset => "PASSWORD_RESET",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|purpose| purpose.code() == code)
    }

    /// What the holder of a dead link should do.
    fn remedy(self) -> &'static str {
        match self {
            LinkPurpose::Invitation => {
                "ask the administrator who invited you to resend the invitation"
            }
            LinkPurpose::EmailValidation => "ask for a new validation e-mail",
            LinkPurpose::PasswordReset => "ask for a new password reset e-mail",
        }
    }
}

/// A stored link as the store finds it by its token's hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkState {
    pub purpose: LinkPurpose,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
    /// Set when a newer link replaced it or its invitation was revoked.
    pub revoked_at: Option<OffsetDateTime>,
}

impl LinkState {
    /// Whether the link may be used at `now` for `purpose`; otherwise why not, and what to do.
    /// Every refusal names the field `token`.
    pub fn check(&self, purpose: LinkPurpose, now: OffsetDateTime) -> Result<(), DomainError> {
        if self.purpose != purpose {
            return Err(unknown());
        }
        let remedy = purpose.remedy();
        if self.used_at.is_some() {
            return Err(DomainError::invalid(
                "token",
                format!("this link has been used already; {remedy}"),
            ));
        }
        if self.revoked_at.is_some() {
            return Err(DomainError::invalid(
                "token",
                format!(
                    "this link has been replaced by a newer one or withdrawn; use the newest e-mail or {remedy}"
                ),
            ));
        }
        if now >= self.expires_at {
            return Err(DomainError::invalid(
                "token",
                format!(
                    "this link expired after {} hours; {remedy}",
                    LINK_LIFETIME.whole_hours()
                ),
            ));
        }
        Ok(())
    }
}

/// The refusal for a token that matches no link (mistyped, cut short, or from elsewhere).
pub fn unknown() -> DomainError {
    DomainError::invalid(
        "token",
        "this link is not valid; copy the whole link from the e-mail",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh(now: OffsetDateTime) -> LinkState {
        LinkState {
            purpose: LinkPurpose::Invitation,
            expires_at: now + LINK_LIFETIME,
            used_at: None,
            revoked_at: None,
        }
    }

    fn refusal(state: LinkState, purpose: LinkPurpose, now: OffsetDateTime) -> String {
        state.check(purpose, now).expect_err("refused").to_string()
    }

    #[test]
    fn a_fresh_link_is_good_until_it_expires() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let link = fresh(now);
        assert!(link.check(LinkPurpose::Invitation, now).is_ok());
        assert!(
            link.check(LinkPurpose::Invitation, now + Duration::hours(23))
                .is_ok()
        );
        let message = refusal(link, LinkPurpose::Invitation, now + Duration::hours(24));
        assert!(message.contains("expired after 24 hours"), "{message}");
        assert!(message.contains("resend the invitation"), "{message}");
    }

    #[test]
    fn used_replaced_and_foreign_links_are_refused() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let used = LinkState {
            used_at: Some(now),
            ..fresh(now)
        };
        assert!(refusal(used, LinkPurpose::Invitation, now).contains("used already"));
        let replaced = LinkState {
            revoked_at: Some(now),
            ..fresh(now)
        };
        assert!(refusal(replaced, LinkPurpose::Invitation, now).contains("replaced"));
        // A token of another purpose is not told apart from a wrong one.
        assert_eq!(
            fresh(now).check(LinkPurpose::PasswordReset, now),
            Err(unknown())
        );
    }

    #[test]
    fn purpose_codes_round_trip() {
        for purpose in LinkPurpose::ALL {
            assert_eq!(LinkPurpose::from_code(purpose.code()), Some(purpose));
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        fn instant() -> impl Strategy<Value = OffsetDateTime> {
            (0i64..4_000_000_000)
                .prop_map(|seconds| OffsetDateTime::from_unix_timestamp(seconds).expect("in range"))
        }

        proptest! {
            // A link is good exactly when used for its purpose, unused, not withdrawn and before
            // it expires; every refusal names the token field.
            #[test]
            fn a_link_is_good_only_unused_unwithdrawn_unexpired_for_its_purpose(
                purpose in proptest::sample::select(&LinkPurpose::ALL[..]),
                asked in proptest::sample::select(&LinkPurpose::ALL[..]),
                expires_at in instant(),
                used_at in proptest::option::of(instant()),
                revoked_at in proptest::option::of(instant()),
                now in instant(),
            ) {
                let state = LinkState { purpose, expires_at, used_at, revoked_at };
                let good = purpose == asked
                    && used_at.is_none()
                    && revoked_at.is_none()
                    && now < expires_at;
                match state.check(asked, now) {
                    Ok(()) => prop_assert!(good),
                    Err(error) => {
                        prop_assert!(!good);
                        prop_assert_eq!(error.field(), Some("token"));
                    }
                }
            }
        }
    }
}
