use async_graphql::{Context, MergedObject, Object};

use steward_domain::DomainError;
use steward_store::UserRecord;

use crate::error::refused;
use crate::graphql::api_keys::ApiKeyQuery;
use crate::graphql::audit::AuditQuery;
use crate::graphql::consistency::ConsistencyQuery;
use crate::graphql::context::ContextExt as _;
use crate::graphql::groups::GroupQuery;
use crate::graphql::invitations::InvitationQuery;
use crate::graphql::jobs::JobQuery;
use crate::graphql::notifications::NotificationQuery;
use crate::graphql::organizations::OrganizationQuery;
use crate::graphql::ownership::OwnershipQuery;
use crate::graphql::resources::ResourceQuery;
use crate::graphql::sessions::SessionQuery;
use crate::graphql::ssh_keys::SshKeyQuery;
use crate::graphql::types::User;
use crate::graphql::users::UserQuery;

/// Every query, merged from one object per area.
#[derive(MergedObject, Default)]
pub struct Query(
    ViewerQuery,
    UserQuery,
    OrganizationQuery,
    GroupQuery,
    AuditQuery,
    NotificationQuery,
    InvitationQuery,
    SessionQuery,
    ApiKeyQuery,
    ResourceQuery,
    OwnershipQuery,
    SshKeyQuery,
    JobQuery,
    ConsistencyQuery,
    ServerQuery,
);

#[derive(Default)]
pub struct ViewerQuery;

#[Object]
impl ViewerQuery {
    /// The logged-in user. Answers also while a password change is owed, so a console can
    /// show the change-password form.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        let principal = ctx.principal_before_password_change()?;
        if let Some(account) = &principal.account {
            // Read with the session, in the same statement: nothing more to read.
            return Ok(User(UserRecord::clone(account)));
        }
        ctx.loaders()?
            .users
            .load_one(principal.user_id)
            .await?
            .map(User)
            .ok_or_else(|| refused(DomainError::unauthenticated("the account no longer exists")))
    }
}

#[derive(Default)]
pub struct ServerQuery;

#[Object]
impl ServerQuery {
    /// The server's version. Needs no login.
    async fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
}
