//! Notifications: the typed messages Steward sends, who always receives them, and how they are
//! rendered in each language.
//!
//! A [`Notification`] is written to the outbox in the same transaction as the change that
//! caused it and rendered only when it is delivered, so the payload carries everything the
//! templates need and nothing is looked up again at delivery time.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::user::Language;

/// One message to one recipient, as stored in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Notification {
    /// A new user is invited to an organization; the link sets a password and accepts.
    Invitation {
        organization: String,
        inviter: String,
        token: String,
        #[serde(with = "time::serde::rfc3339")]
        expires_at: OffsetDateTime,
    },
    /// An existing user was given access to an organization; the link accepts in one click.
    AccessGranted {
        organization: String,
        granted_by: String,
        token: String,
        #[serde(with = "time::serde::rfc3339")]
        expires_at: OffsetDateTime,
    },
    /// A user created without an invitation confirms their e-mail address.
    EmailValidation {
        token: String,
        #[serde(with = "time::serde::rfc3339")]
        expires_at: OffsetDateTime,
    },
    /// A link to choose a new password.
    PasswordReset {
        token: String,
        #[serde(with = "time::serde::rfc3339")]
        expires_at: OffsetDateTime,
    },
    /// The password was changed (tells the owner, in case it was not them).
    PasswordChanged {
        #[serde(with = "time::serde::rfc3339")]
        changed_at: OffsetDateTime,
    },
    /// The account was suspended; `reason` is what the administrator wrote, if anything.
    Suspended { reason: Option<String> },
    /// The account was reactivated after a suspension.
    Reactivated,
    /// The recipient's membership of an organization was disabled; their other
    /// organizations are not affected.
    MembershipDisabled { organization: String },
    /// A disabled membership was enabled again.
    MembershipEnabled { organization: String },
    /// The user was removed from an organization; the account stays.
    MembershipRemoved { organization: String },
    /// To the deleted user: the account is deleted.
    AccountDeleted,
    /// To the administrator who deleted a user: what happened to the account and its resources.
    DeletionCompleted {
        username: String,
        resources_transferred: u32,
    },
    /// To each new owner of a deleted user's resources.
    DeletedUsersResourcesReceived { username: String, resources: u32 },
    /// Resources were transferred to the recipient outside a deletion.
    ResourcesTransferred {
        from: String,
        by: String,
        resources: u32,
    },
    /// A bulk user import the recipient started has ended.
    BulkImportFinished {
        job: String,
        created: u32,
        skipped: u32,
        failed: u32,
    },
    /// A report the recipient asked for is ready.
    /// `summary` is one line per check with findings, `CODE: found / repaired`.
    ReportReady {
        report: String,
        job: String,
        summary: String,
    },
    /// An API key was created for the recipient's account.
    NewApiKey {
        name: String,
        #[serde(with = "time::serde::rfc3339::option")]
        expires_at: Option<OffsetDateTime>,
    },
    /// Two-factor authentication was turned off for the recipient's account.
    MfaDisabled { by: String },
    /// The organization was deleted by its owner: the recipient's access to it has ended;
    /// their account and their other organizations are not affected.
    OrganizationDeleted { organization: String },
}

/// Why a message is sent, which decides whether the e-mail subscription applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// About the safety of the recipient's own account: always sent.
    Security,
    /// About the recipient's own account and access: always sent.
    Account,
    /// Everything else: sent only to users with the e-mail subscription on.
    Information,
}

impl Notification {
    /// The stable code stored in the outbox's `kind` column (the serde tag).
    pub fn kind(&self) -> &'static str {
        match self {
            Notification::Invitation { .. } => "INVITATION",
            Notification::AccessGranted { .. } => "ACCESS_GRANTED",
            Notification::EmailValidation { .. } => "EMAIL_VALIDATION",
            Notification::PasswordReset { .. } => "PASSWORD_RESET",
            Notification::PasswordChanged { .. } => "PASSWORD_CHANGED",
            Notification::Suspended { .. } => "SUSPENDED",
            Notification::Reactivated => "REACTIVATED",
            Notification::MembershipDisabled { .. } => "MEMBERSHIP_DISABLED",
            Notification::MembershipEnabled { .. } => "MEMBERSHIP_ENABLED",
            Notification::MembershipRemoved { .. } => "MEMBERSHIP_REMOVED",
            Notification::AccountDeleted => "ACCOUNT_DELETED",
            Notification::DeletionCompleted { .. } => "DELETION_COMPLETED",
            Notification::DeletedUsersResourcesReceived { .. } => {
                "DELETED_USERS_RESOURCES_RECEIVED"
            }
            Notification::ResourcesTransferred { .. } => "RESOURCES_TRANSFERRED",
            Notification::BulkImportFinished { .. } => "BULK_IMPORT_FINISHED",
            Notification::ReportReady { .. } => "REPORT_READY",
            Notification::NewApiKey { .. } => "NEW_API_KEY",
            Notification::MfaDisabled { .. } => "MFA_DISABLED",
            Notification::OrganizationDeleted { .. } => "ORGANIZATION_DELETED",
        }
    }

    pub fn category(&self) -> Category {
        match self {
            Notification::PasswordReset { .. }
            | Notification::PasswordChanged { .. }
            | Notification::NewApiKey { .. }
            | Notification::MfaDisabled { .. } => Category::Security,
            Notification::Invitation { .. }
            | Notification::AccessGranted { .. }
            | Notification::EmailValidation { .. }
            | Notification::Suspended { .. }
            | Notification::Reactivated
            | Notification::MembershipDisabled { .. }
            | Notification::MembershipEnabled { .. }
            | Notification::MembershipRemoved { .. }
            | Notification::AccountDeleted
            | Notification::OrganizationDeleted { .. } => Category::Account,
            Notification::DeletionCompleted { .. }
            | Notification::DeletedUsersResourcesReceived { .. }
            | Notification::ResourcesTransferred { .. }
            | Notification::BulkImportFinished { .. }
            | Notification::ReportReady { .. } => Category::Information,
        }
    }

    /// Whether a recipient with the given e-mail subscription gets this message. Security
    /// and account messages ignore the subscription.
    pub fn is_sent_to(&self, subscribed: bool) -> bool {
        subscribed || self.category() != Category::Information
    }
}

/// Where links point and what the product is called, from the server's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub product_name: String,
    /// The public base URL, without a trailing slash (`https://console.example.com`).
    pub public_url: String,
}

/// The pages the e-mails link to, as paths under [`Site::public_url`], for the web app to
/// serve. Token links carry the token in the [`TOKEN_QUERY_PARAMETER`] (percent-encoded);
/// job links append `/{job}` to [`JOBS_PATH`].
pub const ACCEPT_INVITATION_PATH: &str = "/invitations/accept";
pub const VALIDATE_EMAIL_PATH: &str = "/validate-email";
pub const RESET_PASSWORD_PATH: &str = "/reset-password";
pub const JOBS_PATH: &str = "/jobs";
pub const ACCOUNT_SECURITY_PATH: &str = "/account/security";
pub const TOKEN_QUERY_PARAMETER: &str = "token";

/// A message ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMessage {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The delay before delivery attempt `attempt + 1` after `attempt` failures (1-based):
/// `base · 2^(attempt-1)`, capped at `max`, then scaled by `jitter` (0.0–1.0 drawn by the
/// caller) into the upper half, `[delay/2, delay]`, so workers that failed together do not
/// retry together. Pure: the caller brings the randomness.
pub fn retry_delay(
    attempt: u32,
    base: time::Duration,
    max: time::Duration,
    jitter: f64,
) -> time::Duration {
    let exponent = attempt.saturating_sub(1).min(30);
    let delay = base
        .checked_mul(1_i32 << exponent.min(30))
        .map_or(max, |d| d.min(max));
    let jitter = jitter.clamp(0.0, 1.0);
    delay * (0.5 + 0.5 * jitter)
}

/// Renders a notification in `language`, with the product name and links of `site`.
pub fn render(notification: &Notification, language: Language, site: &Site) -> RenderedMessage {
    templates::render(notification, language, site)
}

mod templates;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn informational_messages_respect_the_subscription_and_the_rest_do_not() {
        let report = Notification::ReportReady {
            report: "orphans".into(),
            job: "j".into(),
            summary: String::new(),
        };
        assert!(!report.is_sent_to(false));
        assert!(report.is_sent_to(true));
        let changed = Notification::PasswordChanged {
            changed_at: OffsetDateTime::UNIX_EPOCH,
        };
        assert!(changed.is_sent_to(false));
        assert!(Notification::Reactivated.is_sent_to(false));
    }

    #[test]
    fn the_stored_kind_is_the_serde_tag() {
        let value = Notification::MfaDisabled { by: "root".into() };
        let json = serde_json::to_value(&value).unwrap_or_default();
        assert_eq!(json["kind"], value.kind());
    }

    #[test]
    fn retries_back_off_exponentially_with_jitter_and_a_cap() {
        let base = time::Duration::seconds(10);
        let max = time::Duration::minutes(10);
        assert_eq!(retry_delay(1, base, max, 1.0), base);
        assert_eq!(retry_delay(1, base, max, 0.0), base / 2);
        assert_eq!(retry_delay(3, base, max, 1.0), base * 4);
        assert_eq!(retry_delay(30, base, max, 1.0), max);
        assert_eq!(retry_delay(u32::MAX, base, max, 1.0), max);
    }
}
