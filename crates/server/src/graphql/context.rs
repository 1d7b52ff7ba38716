//! What each request hands the resolvers, and the accessors that enforce authentication.

use async_graphql::Context;
use steward_domain::DomainError;
use steward_store::AuditEntry;
use time::OffsetDateTime;

use crate::app::App;
use crate::auth::{Authentication, ClientInfo, Principal};
use crate::error::refused;
use crate::graphql::loaders::Loaders;

/// Per-request data.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub authentication: Authentication,
    pub client: ClientInfo,
    /// The request's clock: one instant for the whole request.
    pub now: OffsetDateTime,
}

pub trait ContextExt {
    fn app(&self) -> async_graphql::Result<&App>;
    fn request(&self) -> async_graphql::Result<&RequestContext>;
    fn loaders(&self) -> async_graphql::Result<&Loaders>;

    /// The caller, who must be logged in and must not owe a password change.
    fn principal(&self) -> async_graphql::Result<&Principal>;

    /// The caller, who must be logged in but may still have to change the password; only for
    /// what such a caller needs (`me`, `changePassword`, `logout`).
    fn principal_before_password_change(&self) -> async_graphql::Result<&Principal>;

    /// An audit entry for this request, acting as the caller if there is one.
    fn audit_entry(&self) -> async_graphql::Result<AuditEntry>;
}

impl ContextExt for Context<'_> {
    fn app(&self) -> async_graphql::Result<&App> {
        self.data::<App>()
    }

    fn request(&self) -> async_graphql::Result<&RequestContext> {
        self.data::<RequestContext>()
    }

    fn loaders(&self) -> async_graphql::Result<&Loaders> {
        self.data::<Loaders>()
    }

    fn principal(&self) -> async_graphql::Result<&Principal> {
        let principal = self.principal_before_password_change()?;
        if principal.must_change_password {
            return Err(refused(DomainError::forbidden(
                "you must change your password first: use the changePassword mutation",
            )));
        }
        Ok(principal)
    }

    fn principal_before_password_change(&self) -> async_graphql::Result<&Principal> {
        match &self.request()?.authentication {
            Authentication::Session(principal) => Ok(principal),
            Authentication::Anonymous => Err(refused(DomainError::unauthenticated(
                "log in first and send the access token as `Authorization: Bearer <token>`",
            ))),
            Authentication::Rejected(reason) => Err(refused(DomainError::unauthenticated(*reason))),
        }
    }

    fn audit_entry(&self) -> async_graphql::Result<AuditEntry> {
        let request = self.request()?;
        let actor = match &request.authentication {
            Authentication::Session(principal) => Some(principal.user_id),
            _ => None,
        };
        Ok(AuditEntry {
            actor,
            client_address: request.client.address.clone(),
            at: request.now,
        })
    }
}
