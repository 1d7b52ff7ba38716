//! English: the reference catalog, complete by construction (an exhaustive `match`), which
//! the translations are checked against and fall back to.

use super::Paragraph::{Text, With, Without};
use super::{Layout, Template};
use crate::notification::Notification;

pub(super) const LAYOUT: Layout = Layout {
    colon: ":",
    link_hint: "If the button does not work, copy this link into your browser:",
    footer: "This message was sent automatically by {product}: {public_url}",
};

pub(super) fn template(notification: &Notification) -> Template {
    match notification {
        Notification::Invitation { .. } => Template {
            subject: "Invitation to join {organization} on {product}",
            body: &[
                Text(
                    "{inviter} has invited you to join the organization {organization} on {product}.",
                ),
                Text(
                    "To accept, open the link below and choose a password for your new account. The invitation is valid until {expires}.",
                ),
                Text("If you were not expecting this invitation, you can ignore this e-mail."),
            ],
            action: Some("Accept invitation"),
        },
        Notification::AccessGranted { .. } => Template {
            subject: "You have been given access to {organization} on {product}",
            body: &[
                Text(
                    "{granted_by} has given you access to the organization {organization} on {product}.",
                ),
                Text(
                    "Accept it with one click using the link below. The link is valid until {expires}.",
                ),
                Text("If you were not expecting this, you can ignore this e-mail."),
            ],
            action: Some("Accept access"),
        },
        Notification::EmailValidation { .. } => Template {
            subject: "Confirm your e-mail address for {product}",
            body: &[
                Text(
                    "Please confirm that this e-mail address belongs to you to finish setting up your {product} account.",
                ),
                Text("The link is valid until {expires}."),
                Text("If you did not create an account, you can ignore this e-mail."),
            ],
            action: Some("Confirm e-mail address"),
        },
        Notification::PasswordReset { .. } => Template {
            subject: "Reset your {product} password",
            body: &[
                Text(
                    "We received a request to reset the password of your {product} account. Use the link below to choose a new password. The link is valid until {expires}.",
                ),
                Text(
                    "If you did not ask for this, you can ignore this e-mail: your password stays unchanged.",
                ),
            ],
            action: Some("Choose a new password"),
        },
        Notification::PasswordChanged { .. } => Template {
            subject: "Your {product} password has been changed",
            body: &[
                Text("The password of your {product} account was changed on {changed}."),
                Text(
                    "If you made this change, there is nothing else to do. If you did not, review your security settings right away and contact your administrator.",
                ),
            ],
            action: Some("Review security settings"),
        },
        Notification::Suspended { .. } => Template {
            subject: "Your {product} account has been suspended",
            body: &[
                Text(
                    "Your {product} account has been suspended by an administrator. You can no longer sign in.",
                ),
                With("reason", "Reason given: {reason}"),
                Text("If you think this is a mistake, please contact your administrator."),
            ],
            action: None,
        },
        Notification::Reactivated => Template {
            subject: "Your {product} account has been reactivated",
            body: &[Text(
                "Your {product} account has been reactivated. You can sign in again.",
            )],
            action: None,
        },
        Notification::MembershipDisabled { .. } => Template {
            subject: "Your access to {organization} on {product} has been disabled",
            body: &[
                Text(
                    "An administrator of {organization} has disabled your access to it on {product}. Your other organizations are not affected.",
                ),
                Text(
                    "If you think this is a mistake, please contact an administrator of {organization}.",
                ),
            ],
            action: None,
        },
        Notification::MembershipRemoved { .. } => Template {
            subject: "You have been removed from {organization} on {product}",
            body: &[
                Text(
                    "An administrator of {organization} has removed you from it on {product}. Resources you owned there now belong to another member. Your account and your other organizations are not affected.",
                ),
                Text(
                    "If you think this is a mistake, please contact an administrator of {organization}.",
                ),
            ],
            action: None,
        },
        Notification::MembershipEnabled { .. } => Template {
            subject: "Your access to {organization} on {product} has been restored",
            body: &[Text(
                "An administrator of {organization} has restored your access to it on {product}.",
            )],
            action: Some("Open {product}"),
        },
        Notification::AccountDeleted => Template {
            subject: "Your {product} account has been deleted",
            body: &[
                Text("Your {product} account has been deleted. You can no longer sign in."),
                Text("If you think this is a mistake, please contact your administrator."),
            ],
            action: None,
        },
        Notification::DeletionCompleted { .. } => Template {
            subject: "The account {username} on {product} has been deleted",
            body: &[
                Text("The account {username} on {product} has been deleted, as you requested."),
                Text("Resources transferred to new owners: {count}."),
            ],
            action: None,
        },
        Notification::DeletedUsersResourcesReceived { .. } => Template {
            subject: "You have received resources of the deleted account {username} on {product}",
            body: &[
                Text(
                    "The account {username} on {product} has been deleted, and some of its resources have been transferred to you.",
                ),
                Text("Resources transferred to you: {count}."),
            ],
            action: None,
        },
        Notification::ResourcesTransferred { .. } => Template {
            subject: "Resources of {from} have been transferred to you on {product}",
            body: &[
                Text("{by} has transferred resources of {from} to you on {product}."),
                Text("Resources transferred: {count}."),
            ],
            action: None,
        },
        Notification::BulkImportFinished { .. } => Template {
            subject: "Your user import on {product} has finished",
            body: &[
                Text("The user import you started on {product} has finished."),
                Text("Users created: {created}. Skipped: {skipped}. Failed: {failed}."),
                Text("The import page lists the details of skipped and failed entries."),
            ],
            action: Some("View import"),
        },
        Notification::ReportReady { .. } => Template {
            subject: "Your report {report} on {product} is ready",
            body: &[
                Text("The report {report} you requested on {product} is ready."),
                Text("Findings per check (found / repaired): {summary}"),
            ],
            action: Some("View report"),
        },
        Notification::NewApiKey { .. } => Template {
            subject: "A new API key has been created for your {product} account",
            body: &[
                Text("A new API key named {name} has been created for your {product} account."),
                With("expires", "It expires on {expires}."),
                Without("expires", "It does not expire."),
                Text(
                    "If you did not create this key, revoke it right away in your security settings.",
                ),
            ],
            action: Some("Open security settings"),
        },
        Notification::MfaDisabled { .. } => Template {
            subject: "Two-factor authentication has been turned off for your {product} account",
            body: &[
                Text("{by} has turned off two-factor authentication for your {product} account."),
                Text(
                    "Your account is now protected by your password alone. If you were not expecting this, turn two-factor authentication back on and contact your administrator.",
                ),
            ],
            action: Some("Open security settings"),
        },
        Notification::OrganizationDeleted { .. } => Template {
            subject: "The organization {organization} on {product} has been deleted",
            body: &[
                Text(
                    "The owner of {organization} has deleted the organization on {product}. Your access to {organization} has ended, and its resources have been marked deleted.",
                ),
                Text("Your {product} account and your other organizations are not affected."),
            ],
            action: None,
        },
    }
}
