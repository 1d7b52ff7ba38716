//! Steward's domain: identifiers, validated values, state machines and policies.
//!
//! Nothing here performs I/O. Time is always a parameter, so expiry and lockout rules are
//! tested without sleeping, and every decision can be replayed from its inputs.

pub mod audit;
pub mod consistency;
pub mod deletion;
pub mod error;
pub mod ids;
pub mod job;
pub mod link;
pub mod login;
pub mod membership;
pub mod mfa;
pub mod notification;
pub mod organization;
pub mod password;
pub mod permission;
pub mod policy;
pub mod preferences;
pub mod resource;
pub mod ssh;
#[cfg(test)]
mod strategies;
pub mod throttle;
pub mod user;

pub use error::DomainError;
pub use ids::{
    ApiKeyId, AuditEventId, GroupId, InvitationId, JobId, MembershipId, NotificationId,
    OrganizationId, ProjectId, RoleBindingId, RoleId, SessionId, SigningKeyId, SshKeyId, UserId,
};
