//! The vocabulary of the audit trail.

/// What happened. Stored as its code; new actions are appended, never renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    LoginSucceeded,
    LoginFailed,
    UserCreated,
    PasswordChanged,
    SigningKeyCreated,
    OrganizationCreated,
    SessionRevoked,
    MemberAdded,
    RoleCreated,
    RoleUpdated,
    RoleDeleted,
    RoleBound,
    RoleUnbound,
    RoleSwitched,
    DefaultRoleChanged,
    OrganizationRenamed,
    OwnershipTransferred,
    EmailDomainAdded,
    EmailDomainRemoved,
    ProjectCreated,
    ProjectRenamed,
    ProjectArchived,
    GroupCreated,
    GroupRenamed,
    GroupArchived,
    GroupMemberAdded,
    GroupMemberRemoved,
    NotificationRetried,
    PreferencesChanged,
    UserInvited,
    InvitationResent,
    InvitationRevoked,
    InvitationAccepted,
    EmailValidated,
    ValidationResent,
    UserSuspended,
    UserReactivated,
    MembershipDisabled,
    MembershipEnabled,
    PasswordResetRequested,
    PasswordReset,
    PasswordResetForced,
    ProfileUpdated,
    PasswordRulesChanged,
    SshKeyAdded,
    SshKeyRemoved,
}

impl AuditAction {
    pub fn code(self) -> &'static str {
        match self {
            AuditAction::LoginSucceeded => "login.succeeded",
            AuditAction::LoginFailed => "login.failed",
            AuditAction::UserCreated => "user.created",
            AuditAction::PasswordChanged => "user.password_changed",
            AuditAction::SigningKeyCreated => "signing_key.created",
            AuditAction::OrganizationCreated => "organization.created",
            AuditAction::SessionRevoked => "session.revoked",
            AuditAction::MemberAdded => "membership.added",
            AuditAction::RoleCreated => "role.created",
            AuditAction::RoleUpdated => "role.updated",
            AuditAction::RoleDeleted => "role.deleted",
            AuditAction::RoleBound => "role.bound",
            AuditAction::RoleUnbound => "role.unbound",
            AuditAction::RoleSwitched => "session.role_switched",
            AuditAction::DefaultRoleChanged => "membership.default_role_changed",
            AuditAction::OrganizationRenamed => "organization.renamed",
            AuditAction::OwnershipTransferred => "organization.ownership_transferred",
            AuditAction::EmailDomainAdded => "organization.email_domain_added",
            AuditAction::EmailDomainRemoved => "organization.email_domain_removed",
            AuditAction::ProjectCreated => "project.created",
            AuditAction::ProjectRenamed => "project.renamed",
            AuditAction::ProjectArchived => "project.archived",
            AuditAction::GroupCreated => "group.created",
            AuditAction::GroupRenamed => "group.renamed",
            AuditAction::GroupArchived => "group.archived",
            AuditAction::GroupMemberAdded => "group.member_added",
            AuditAction::GroupMemberRemoved => "group.member_removed",
            AuditAction::NotificationRetried => "notification.retried",
            AuditAction::PreferencesChanged => "user.preferences_changed",
            AuditAction::UserInvited => "user.invited",
            AuditAction::InvitationResent => "invitation.resent",
            AuditAction::InvitationRevoked => "invitation.revoked",
            AuditAction::InvitationAccepted => "invitation.accepted",
            AuditAction::EmailValidated => "user.email_validated",
            AuditAction::ValidationResent => "user.validation_resent",
            AuditAction::UserSuspended => "user.suspended",
            AuditAction::UserReactivated => "user.reactivated",
            AuditAction::MembershipDisabled => "membership.disabled",
            AuditAction::MembershipEnabled => "membership.enabled",
            AuditAction::PasswordResetRequested => "user.password_reset_requested",
            AuditAction::PasswordReset => "user.password_reset",
            AuditAction::PasswordResetForced => "user.password_reset_forced",
            AuditAction::ProfileUpdated => "user.profile_updated",
            AuditAction::PasswordRulesChanged => "organization.password_rules_changed",
            AuditAction::SshKeyAdded => "ssh_key.added",
            AuditAction::SshKeyRemoved => "ssh_key.removed",
        }
    }
}

/// Whether the action took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditOutcome {
    Success,
    Failure,
}

impl AuditOutcome {
    pub fn code(self) -> &'static str {
        match self {
            AuditOutcome::Success => "SUCCESS",
            AuditOutcome::Failure => "FAILURE",
        }
    }
}
