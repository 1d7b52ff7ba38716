//! Groups: named sets of members inside an organization, which roles can be bound to.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use steward_domain::organization::Name;
use steward_domain::policy::{ManageGroups, ViewGroups, authorize};
use steward_domain::{DomainError, GroupId, OrganizationId, UserId};
use steward_store::{GroupRecord, StoreError};
use time::OffsetDateTime;

use crate::error::refused;
use crate::graphql::connection::{Page, PageRequest};
use crate::graphql::context::{ContextExt as _, actor, parse_id};
use crate::graphql::loaders::PageKey;
use crate::graphql::organizations::expected;
use crate::graphql::types::{Organization, User, UserError};

/// A named set of members of one organization. Roles bound to it are held by its members
/// while it is not archived.
pub struct Group(pub GroupRecord);

#[Object]
impl Group {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Unique in the organization regardless of case, archived groups included.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// An archived group keeps its members, but its roles give them nothing and it takes no
    /// new members.
    async fn archived(&self) -> bool {
        self.0.is_archived()
    }

    async fn created_at(&self) -> OffsetDateTime {
        self.0.created_at
    }

    async fn organization(&self, ctx: &Context<'_>) -> async_graphql::Result<Organization> {
        ctx.loaders()?
            .organizations
            .load_one(self.0.organization)
            .await?
            .map(Organization)
            .ok_or_else(|| {
                refused(DomainError::NotFound {
                    what: "the organization",
                })
            })
    }

    /// The group's members in a stable order. Needs `GROUPS/VIEW`.
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<User>> {
        authorize::<ViewGroups>(actor(ctx).await?, self.0.organization).map_err(refused)?;
        let request = PageRequest::parse(first, after)?;
        let (ids, total) = ctx
            .loaders()?
            .group_members
            .load_one(PageKey {
                parent: self.0.id,
                filter: (),
                after: request.after,
                limit: request.fetch,
                counted: ctx.look_ahead().field("totalCount").exists(),
            })
            .await?
            .unwrap_or_default();
        let mut users = ctx.loaders()?.users.load_many(ids.iter().copied()).await?;
        crate::graphql::prefetch::user_rows(ctx, &ids).await?;
        let items = ids
            .into_iter()
            .filter_map(|id| users.remove(&id).map(|user| (id.as_uuid(), User(user))))
            .collect();
        Ok(request.page(items, total))
    }
}

/// A group the caller may see: one of an organization the caller can see, where the caller
/// holds `GROUPS/VIEW`. Any other does not exist for the caller.
async fn visible_group(ctx: &Context<'_>, group: GroupId) -> async_graphql::Result<GroupRecord> {
    let not_found = || refused(DomainError::NotFound { what: "the group" });
    let group = ctx
        .loaders()?
        .groups
        .load_one(group)
        .await?
        .ok_or_else(not_found)?;
    let actor = actor(ctx).await?;
    if actor.can_see(group.organization)
        && authorize::<ViewGroups>(actor, group.organization).is_ok()
    {
        Ok(group)
    } else {
        Err(not_found())
    }
}

/// The organization of a group of an organization the caller can see.
async fn organization_of_group(
    ctx: &Context<'_>,
    group: GroupId,
) -> async_graphql::Result<OrganizationId> {
    let not_found = || refused(DomainError::NotFound { what: "the group" });
    let group = ctx
        .loaders()?
        .groups
        .load_one(group)
        .await?
        .ok_or_else(not_found)?;
    if actor(ctx).await?.can_see(group.organization) {
        Ok(group.organization)
    } else {
        Err(not_found())
    }
}

#[derive(Default)]
pub struct GroupQuery;

#[Object]
impl GroupQuery {
    /// One group. Needs `GROUPS/VIEW` in its organization.
    async fn group(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Group> {
        let id: GroupId = parse_id("id", &id)?;
        visible_group(ctx, id).await.map(Group)
    }
}

#[derive(InputObject)]
pub struct CreateGroupInput {
    pub organization: ID,
    pub name: String,
}

#[derive(InputObject)]
pub struct RenameGroupInput {
    pub group: ID,
    pub name: String,
}

#[derive(InputObject)]
pub struct GroupMemberInput {
    pub group: ID,
    /// To add: an active or invited member of the group's organization.
    pub user: ID,
}

#[derive(SimpleObject, Default)]
pub struct GroupPayload {
    pub group: Option<Group>,
    pub errors: Vec<UserError>,
}

fn group_payload(result: Result<GroupRecord, DomainError>) -> GroupPayload {
    match result {
        Ok(group) => GroupPayload {
            group: Some(Group(group)),
            errors: Vec::new(),
        },
        Err(error) => GroupPayload {
            group: None,
            errors: vec![UserError::from_domain("input", &error)],
        },
    }
}

fn store_payload(result: Result<GroupRecord, StoreError>) -> async_graphql::Result<GroupPayload> {
    Ok(group_payload(expected(result)?))
}

#[derive(Default)]
pub struct GroupMutation;

#[Object]
impl GroupMutation {
    /// Creates a group. Needs `GROUPS/MANAGE`.
    async fn create_group(
        &self,
        ctx: &Context<'_>,
        input: CreateGroupInput,
    ) -> async_graphql::Result<GroupPayload> {
        let organization: OrganizationId = parse_id("organization", &input.organization)?;
        let proof = authorize::<ManageGroups>(actor(ctx).await?, organization).map_err(refused)?;
        let name = match Name::parse("name", &input.name) {
            Ok(name) => name,
            Err(error) => return Ok(group_payload(Err(error))),
        };
        let entry = ctx.audit_entry()?;
        store_payload(ctx.app()?.store.create_group(&proof, &name, &entry).await)
    }

    /// Renames a group, archived or not. Needs `GROUPS/MANAGE`.
    async fn rename_group(
        &self,
        ctx: &Context<'_>,
        input: RenameGroupInput,
    ) -> async_graphql::Result<GroupPayload> {
        let group: GroupId = parse_id("group", &input.group)?;
        let organization = organization_of_group(ctx, group).await?;
        let proof = authorize::<ManageGroups>(actor(ctx).await?, organization).map_err(refused)?;
        let name = match Name::parse("name", &input.name) {
            Ok(name) => name,
            Err(error) => return Ok(group_payload(Err(error))),
        };
        let entry = ctx.audit_entry()?;
        store_payload(
            ctx.app()?
                .store
                .rename_group(&proof, group, &name, &entry)
                .await,
        )
    }

    /// Archives a group: its members stay, but the roles bound to it stop giving them
    /// anything from the next request on. Needs `GROUPS/MANAGE`.
    async fn archive_group(
        &self,
        ctx: &Context<'_>,
        group: ID,
    ) -> async_graphql::Result<GroupPayload> {
        let group: GroupId = parse_id("group", &group)?;
        let organization = organization_of_group(ctx, group).await?;
        let proof = authorize::<ManageGroups>(actor(ctx).await?, organization).map_err(refused)?;
        let entry = ctx.audit_entry()?;
        store_payload(ctx.app()?.store.archive_group(&proof, group, &entry).await)
    }

    /// Adds a member of the organization to a group that is not archived. Needs
    /// `GROUPS/MANAGE`.
    async fn add_group_member(
        &self,
        ctx: &Context<'_>,
        input: GroupMemberInput,
    ) -> async_graphql::Result<GroupPayload> {
        let group: GroupId = parse_id("group", &input.group)?;
        let user: UserId = parse_id("user", &input.user)?;
        let organization = organization_of_group(ctx, group).await?;
        let proof = authorize::<ManageGroups>(actor(ctx).await?, organization).map_err(refused)?;
        let entry = ctx.audit_entry()?;
        store_payload(
            ctx.app()?
                .store
                .add_group_member(&proof, group, user, &entry)
                .await,
        )
    }

    /// Takes a user out of a group. Needs `GROUPS/MANAGE`.
    async fn remove_group_member(
        &self,
        ctx: &Context<'_>,
        input: GroupMemberInput,
    ) -> async_graphql::Result<GroupPayload> {
        let group: GroupId = parse_id("group", &input.group)?;
        let user: UserId = parse_id("user", &input.user)?;
        let organization = organization_of_group(ctx, group).await?;
        let proof = authorize::<ManageGroups>(actor(ctx).await?, organization).map_err(refused)?;
        let entry = ctx.audit_entry()?;
        store_payload(
            ctx.app()?
                .store
                .remove_group_member(&proof, group, user, &entry)
                .await,
        )
    }
}
