//! Organizations: who can see which, creating them, adding members.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use steward_domain::organization::Name;
use steward_domain::policy::{ManageUsers, authorize, authorize_platform};
use steward_domain::{DomainError, OrganizationId, RoleId, UserId};

use crate::error::{AppError, refused};
use crate::graphql::connection::{Page, PageRequest};
use crate::graphql::context::{ContextExt as _, actor, parse_id};
use crate::graphql::types::{Organization, UserError};

/// A store result split into an expected refusal (for the payload) or an internal failure.
pub fn expected<T>(
    result: Result<T, steward_store::StoreError>,
) -> Result<Result<T, DomainError>, AppError> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(steward_store::StoreError::Domain(error)) => Ok(Err(error)),
        Err(error) => Err(error.into()),
    }
}

#[derive(Default)]
pub struct OrganizationQuery;

#[Object]
impl OrganizationQuery {
    /// One organization the caller belongs to (any, for a SuperAdmin).
    async fn organization(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Organization> {
        let id: OrganizationId = parse_id("id", &id)?;
        let not_found = || {
            refused(DomainError::NotFound {
                what: "the organization",
            })
        };
        if !actor(ctx).await?.can_see(id) {
            return Err(not_found());
        }
        ctx.loaders()?
            .organizations
            .load_one(id)
            .await?
            .map(Organization)
            .ok_or_else(not_found)
    }

    /// The organizations the caller is an active member of; every organization for a
    /// SuperAdmin. Oldest first.
    async fn organizations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<Organization>> {
        let request = PageRequest::parse(first, after)?;
        let actor = actor(ctx).await?;
        let visible: Option<Vec<OrganizationId>> =
            (!actor.is_super_admin()).then(|| actor.organizations().collect());
        let (organizations, total) = ctx
            .app()?
            .store
            .organizations_page(visible.as_deref(), request.after, request.fetch)
            .await
            .map_err(AppError::from)?;
        let items = organizations
            .into_iter()
            .map(|o| (o.id.as_uuid(), Organization(o)))
            .collect();
        Ok(request.page(items, total))
    }
}

#[derive(InputObject)]
pub struct CreateOrganizationInput {
    pub name: String,
    /// The owner, who becomes the first member, with the Administrator role.
    pub owner: ID,
}

#[derive(SimpleObject, Default)]
pub struct CreateOrganizationPayload {
    pub organization: Option<Organization>,
    pub errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct AddMemberInput {
    pub organization: ID,
    pub user: ID,
    /// The member's default role, bound to them organization-wide.
    pub role: ID,
}

#[derive(SimpleObject, Default)]
pub struct AddMemberPayload {
    pub organization: Option<Organization>,
    pub errors: Vec<UserError>,
}

#[derive(Default)]
pub struct OrganizationMutation;

#[Object]
impl OrganizationMutation {
    /// Creates an organization with the built-in roles. SuperAdmin only.
    async fn create_organization(
        &self,
        ctx: &Context<'_>,
        input: CreateOrganizationInput,
    ) -> async_graphql::Result<CreateOrganizationPayload> {
        let proof = authorize_platform(actor(ctx).await?).map_err(refused)?;
        let owner: UserId = parse_id("owner", &input.owner)?;
        let name = match Name::parse("name", &input.name) {
            Ok(name) => name,
            Err(error) => {
                return Ok(CreateOrganizationPayload {
                    errors: vec![UserError::from_domain("input", &error)],
                    ..Default::default()
                });
            }
        };
        let entry = ctx.audit_entry()?;
        Ok(
            match expected(
                ctx.app()?
                    .store
                    .create_organization(&proof, &name, owner, &entry)
                    .await,
            )? {
                Ok(organization) => CreateOrganizationPayload {
                    organization: Some(Organization(organization)),
                    errors: Vec::new(),
                },
                Err(error) => CreateOrganizationPayload {
                    errors: vec![UserError::from_domain("input", &error)],
                    ..Default::default()
                },
            },
        )
    }

    /// Adds an existing user to an organization with a default role. Needs `USERS/MANAGE`.
    async fn add_member(
        &self,
        ctx: &Context<'_>,
        input: AddMemberInput,
    ) -> async_graphql::Result<AddMemberPayload> {
        let organization: OrganizationId = parse_id("organization", &input.organization)?;
        let user: UserId = parse_id("user", &input.user)?;
        let role: RoleId = parse_id("role", &input.role)?;
        let proof = authorize::<ManageUsers>(actor(ctx).await?, organization).map_err(refused)?;
        let entry = ctx.audit_entry()?;
        let app = ctx.app()?;
        Ok(
            match expected(app.store.add_member(&proof, user, role, &entry).await)? {
                Ok(()) => AddMemberPayload {
                    organization: ctx
                        .loaders()?
                        .organizations
                        .load_one(organization)
                        .await?
                        .map(Organization),
                    errors: Vec::new(),
                },
                Err(error) => AddMemberPayload {
                    errors: vec![UserError::from_domain("input", &error)],
                    ..Default::default()
                },
            },
        )
    }
}
