//! The audit trail: who may read which events, and the events as the API shows them.

use async_graphql::{Context, Enum, ID, InputObject, Json, Object};
use steward_domain::policy::{ViewAudit, authorize};
use steward_domain::{DomainError, OrganizationId, UserId};
use steward_store::{AuditEventRecord, AuditFilter};
use time::OffsetDateTime;

use crate::error::{AppError, refused};
use crate::graphql::connection::{Page, PageRequest};
use crate::graphql::context::{ContextExt as _, actor, parse_id};
use crate::graphql::types::{Organization, User};
use crate::graphql::users::may_view_user;

/// Which events to list. Every field given narrows the list.
#[derive(InputObject, Default)]
pub struct AuditEventFilter {
    /// Only this organization's events. Needs `AUDIT/VIEW` there.
    pub organization: Option<ID>,
    /// Only events caused by this user.
    pub actor: Option<ID>,
    /// Only this action, by its code, for example `role.created` or `membership.added`.
    pub action: Option<String>,
    /// Only events about this kind of object, for example `user` or `role`.
    pub target_type: Option<String>,
    /// Only events about the object with this id.
    pub target_id: Option<String>,
    /// Events at or after this instant.
    pub from: Option<OffsetDateTime>,
    /// Events before this instant.
    pub to: Option<OffsetDateTime>,
}

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// Audit events, newest first. With `filter.organization`, that organization's events
    /// (needs `AUDIT/VIEW` there). Without it, a SuperAdmin gets every event, platform events
    /// such as logins included, and anyone else the events of the organizations where they
    /// hold `AUDIT/VIEW` (none: an empty list).
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditEventFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<AuditEvent>> {
        let request = PageRequest::parse(first, after)?;
        let filter = filter.unwrap_or_default();
        let actor = actor(ctx).await?;
        let organizations = match &filter.organization {
            Some(organization) => {
                let organization: OrganizationId = parse_id("organization", organization)?;
                authorize::<ViewAudit>(actor, organization).map_err(refused)?;
                Some(vec![organization])
            }
            None if actor.is_super_admin() => None,
            None => Some(
                actor
                    .organizations()
                    .filter(|organization| authorize::<ViewAudit>(actor, *organization).is_ok())
                    .collect(),
            ),
        };
        if let (Some(from), Some(to)) = (filter.from, filter.to)
            && to < from
        {
            return Err(refused(DomainError::invalid(
                "to",
                "must not be before `from`",
            )));
        }
        let store_filter = AuditFilter {
            organizations,
            actor: filter
                .actor
                .as_ref()
                .map(|id| parse_id::<UserId>("actor", id))
                .transpose()?,
            action: filter.action,
            target_type: filter.target_type,
            target_id: filter.target_id,
            from: filter.from,
            to: filter.to,
        };
        let (events, total) = ctx
            .app()?
            .store
            .audit_events_page(&store_filter, request.after, request.fetch)
            .await
            .map_err(AppError::from)?;
        let items = events
            .into_iter()
            .map(|event| (event.id, AuditEvent(event)))
            .collect();
        Ok(request.page(items, total))
    }
}

/// Whether the recorded action took effect.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditOutcome {
    Success,
    /// Failed, such as a login with a wrong password.
    Failure,
    /// A mutation refused: not allowed, an object the caller may not see (or that does not
    /// exist), or a change its state does not allow. Nothing changed.
    Denied,
}

/// One entry of the append-only audit trail.
pub struct AuditEvent(pub AuditEventRecord);

#[Object]
impl AuditEvent {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn occurred_at(&self) -> OffsetDateTime {
        self.0.occurred_at.into_inner()
    }

    /// What happened, as a code such as `role.created`.
    async fn action(&self) -> &str {
        &self.0.action
    }

    async fn outcome(&self) -> async_graphql::Result<AuditOutcome> {
        match self.0.outcome.as_str() {
            "SUCCESS" => Ok(AuditOutcome::Success),
            "FAILURE" => Ok(AuditOutcome::Failure),
            "DENIED" => Ok(AuditOutcome::Denied),
            other => Err(AppError::internal(format!("unknown audit outcome {other:?}")).into()),
        }
    }

    /// The kind of object acted on, such as `user` or `role`.
    async fn target_type(&self) -> Option<&str> {
        self.0.target_type.as_deref()
    }

    async fn target_id(&self) -> Option<&str> {
        self.0.target_id.as_deref()
    }

    /// The organization the event belongs to; null for platform events (logins, signing
    /// keys), which only SuperAdmins see.
    async fn organization(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Organization>> {
        let Some(organization) = self.0.organization_id else {
            return Ok(None);
        };
        Ok(ctx
            .loaders()?
            .organizations
            .load_one(OrganizationId(organization))
            .await?
            .map(Organization))
    }

    /// Who acted; null when no user did (a start-up task, a failed login for an unknown name).
    async fn actor_id(&self) -> Option<ID> {
        self.0.actor_user_id.map(|id| ID(id.to_string()))
    }

    /// Who acted, when the caller may see that user: themselves, anyone for a SuperAdmin,
    /// and members of an organization where the caller holds `USERS/VIEW`. Otherwise null;
    /// `actorId` is always given.
    async fn actor(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(user) = self.0.actor_user_id.map(UserId) else {
            return Ok(None);
        };
        let Some(record) = ctx.loaders()?.users.load_one(user).await? else {
            return Ok(None);
        };
        Ok(may_view_user(ctx, &record).await?.then_some(User(record)))
    }

    /// The caller's network address as the server saw it.
    async fn client_address(&self) -> Option<&str> {
        self.0.client_address.as_deref()
    }

    /// Facts that help an investigator, as a JSON object. Never holds a password, token or key.
    async fn detail(&self) -> Json<&serde_json::Value> {
        Json(&self.0.detail.0)
    }
}
