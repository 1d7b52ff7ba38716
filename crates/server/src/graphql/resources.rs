//! The resource registry: what the platform's services register for their owners.

use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use steward_domain::organization::Name;
use steward_domain::policy::{
    Actor, ManageResources, SharingAuthorized, ViewResources, authorize_in_projects,
    authorize_platform, authorize_sharing,
};
use steward_domain::resource::{ExternalId, KindCode, KindRules, ShareGrantee};
use steward_domain::{DomainError, GroupId, OrganizationId, ProjectId, UserId};
use steward_store::{
    NewResource, ResourceChanges, ResourceFilter, ResourceKindRecord, ResourceRecord,
    ResourceShareRecord,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{AppError, refused};
use crate::graphql::connection::{Page, PageRequest};
use crate::graphql::context::{ContextExt as _, actor, parse_id};
use crate::graphql::groups::Group;
use crate::graphql::organizations::expected;
use crate::graphql::types::{Organization, Project, User, UserError};

/// A kind of resource and what it allows.
#[derive(SimpleObject)]
pub struct ResourceKind {
    /// Such as `DASHBOARD`.
    pub code: String,
    pub name: String,
    /// Its resources can change owner.
    pub transferable: bool,
    /// Its resources (schedules) are disabled before they change owner.
    pub disable_before_transfer: bool,
    /// Never owned by a user: it belongs to the application.
    pub application_level: bool,
}

impl From<ResourceKindRecord> for ResourceKind {
    fn from(kind: ResourceKindRecord) -> Self {
        Self {
            code: kind.code,
            name: kind.name,
            transferable: kind.transferable,
            disable_before_transfer: kind.disable_before_transfer,
            application_level: kind.application_level,
        }
    }
}

/// A resource a user owns.
pub struct Resource(pub ResourceRecord);

#[Object]
impl Resource {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The kind's code.
    async fn kind(&self) -> &str {
        &self.0.kind
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The registering service's id for it.
    async fn external_id(&self) -> &str {
        &self.0.external_id
    }

    async fn enabled(&self) -> bool {
        self.0.enabled
    }

    /// Null for a resource of an application-level kind, which belongs to the application.
    async fn owner(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(owner) = self.0.owner else {
            return Ok(None);
        };
        Ok(ctx.loaders()?.users.load_one(owner).await?.map(User))
    }

    /// The transfers that moved it, oldest first.
    async fn transfer_history(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<crate::graphql::ownership::ResourceTransferItem>> {
        crate::graphql::ownership::transfer_history(ctx, self.0.id).await
    }

    /// When its organization was deleted; null while it exists.
    async fn deleted_at(&self) -> Option<OffsetDateTime> {
        self.0.deleted_at
    }

    async fn organization(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Organization>> {
        Ok(ctx
            .loaders()?
            .organizations
            .load_one(self.0.organization)
            .await?
            .map(Organization))
    }

    async fn project(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Project>> {
        let Some(project) = self.0.project else {
            return Ok(None);
        };
        Ok(ctx
            .loaders()?
            .projects
            .load_one(project)
            .await?
            .map(Project))
    }

    /// Whom it is shared with, oldest share first.
    async fn shares(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ResourceShare>> {
        Ok(ctx
            .loaders()?
            .shares_of_resource
            .load_one(self.0.id)
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(ResourceShare)
            .collect())
    }

    async fn created_at(&self) -> OffsetDateTime {
        self.0.created_at
    }

    async fn updated_at(&self) -> OffsetDateTime {
        self.0.updated_at
    }
}

/// What a share lets its grantee do with a resource.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "steward_domain::resource::ResourceAccess")]
pub enum ResourceAccess {
    /// Read-only.
    Read,
    /// Read-write.
    Write,
}

/// A resource shared with one user or one group.
pub struct ResourceShare(pub ResourceShareRecord);

#[Object]
impl ResourceShare {
    /// The user it is shared with; null for a share with a group.
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let ShareGrantee::User(user) = self.0.grantee else {
            return Ok(None);
        };
        Ok(ctx.loaders()?.users.load_one(user).await?.map(User))
    }

    /// The group it is shared with; null for a share with a user.
    async fn group(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Group>> {
        let ShareGrantee::Group(group) = self.0.grantee else {
            return Ok(None);
        };
        Ok(ctx.loaders()?.groups.load_one(group).await?.map(Group))
    }

    async fn access(&self) -> ResourceAccess {
        self.0.access.into()
    }

    async fn created_at(&self) -> OffsetDateTime {
        self.0.created_at
    }

    /// When the access last changed.
    async fn updated_at(&self) -> OffsetDateTime {
        self.0.updated_at
    }
}

/// A resource shared with a user, and the access they hold on it: the widest of their own
/// share and their groups' shares.
#[derive(SimpleObject)]
pub struct SharedResource {
    pub resource: Resource,
    pub access: ResourceAccess,
}

#[derive(InputObject, Default)]
pub struct ResourceFilterInput {
    pub owner: Option<ID>,
    /// A kind's code.
    pub kind: Option<String>,
    pub project: Option<ID>,
    /// Shared with this user, directly or through one of their groups.
    pub shared_with: Option<ID>,
}

#[derive(Default)]
pub struct ResourceQuery;

#[Object]
impl ResourceQuery {
    /// Every kind of resource, by code.
    async fn resource_kinds(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ResourceKind>> {
        ctx.principal()?;
        let kinds = ctx
            .app()?
            .store
            .resource_kinds()
            .await
            .map_err(AppError::from)?;
        Ok(kinds.into_iter().map(Into::into).collect())
    }

    /// An organization's resources in registration order. Needs `RESOURCES/VIEW` in the
    /// organization, or in the project of `filter.project` through a role bound for it.
    async fn resources(
        &self,
        ctx: &Context<'_>,
        organization: ID,
        #[graphql(default)] filter: ResourceFilterInput,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<Resource>> {
        let organization: OrganizationId = parse_id("organization", &organization)?;
        let project: Option<ProjectId> = filter
            .project
            .as_ref()
            .map(|id| parse_id("project", id))
            .transpose()?;
        authorize_in_projects::<ViewResources>(actor(ctx).await?, organization, &[project])
            .map_err(refused)?;
        let filter = ResourceFilter {
            owner: filter
                .owner
                .as_ref()
                .map(|id| parse_id::<UserId>("owner", id))
                .transpose()?,
            kind: filter.kind,
            project,
            shared_with: filter
                .shared_with
                .as_ref()
                .map(|id| parse_id::<UserId>("sharedWith", id))
                .transpose()?,
        };
        let request = PageRequest::parse(first, after)?;
        let (records, total) = ctx
            .app()?
            .store
            .resources_page(organization, &filter, request.after, request.fetch)
            .await
            .map_err(AppError::from)?;
        let items = records
            .into_iter()
            .map(|record| (record.id, Resource(record)))
            .collect();
        Ok(request.page(items, total))
    }
}

/// Whether `actor` may see `record`, a resource owned by or shared with `user`: all of them
/// for the user or a SuperAdmin, otherwise those where the actor holds `RESOURCES/VIEW`, in
/// the organization or through a role bound for the resource's project.
fn sees_resources_of(actor: &Actor, user: UserId, record: &ResourceRecord) -> bool {
    actor.user == user
        || actor.is_super_admin()
        || authorize_in_projects::<ViewResources>(actor, record.organization, &[record.project])
            .is_ok()
}

/// The resources `user` owns that the caller may see (see [`sees_resources_of`]).
pub async fn owned_resources(
    ctx: &Context<'_>,
    user: UserId,
    kind: Option<String>,
) -> async_graphql::Result<Vec<Resource>> {
    let actor = actor(ctx).await?;
    let records = ctx
        .loaders()?
        .owned_resources
        .load_one((user, kind))
        .await?
        .unwrap_or_default();
    Ok(records
        .into_iter()
        .filter(|record| sees_resources_of(actor, user, record))
        .map(Resource)
        .collect())
}

/// The resources shared with `user` that the caller may see (see [`sees_resources_of`]).
pub async fn shared_resources(
    ctx: &Context<'_>,
    user: UserId,
    kind: Option<String>,
) -> async_graphql::Result<Vec<SharedResource>> {
    let actor = actor(ctx).await?;
    let shared = ctx
        .loaders()?
        .shared_resources
        .load_one((user, kind))
        .await?
        .unwrap_or_default();
    Ok(shared
        .into_iter()
        .filter(|(record, _)| sees_resources_of(actor, user, record))
        .map(|(record, access)| SharedResource {
            resource: Resource(record),
            access: access.into(),
        })
        .collect())
}

#[derive(InputObject)]
pub struct CreateResourceKindInput {
    pub code: String,
    pub name: String,
    pub transferable: bool,
    #[graphql(default)]
    pub disable_before_transfer: bool,
    #[graphql(default)]
    pub application_level: bool,
}

#[derive(InputObject)]
pub struct RegisterResourceInput {
    pub organization: ID,
    /// A kind's code, such as `DASHBOARD`.
    pub kind: String,
    pub name: String,
    /// The registering service's own id; registering the same kind and id again updates it.
    pub external_id: String,
    pub project: Option<ID>,
    /// An active member of the organization; left out exactly for an application-level kind.
    pub owner: Option<ID>,
}

#[derive(InputObject)]
pub struct ShareResourceInput {
    pub resource: ID,
    /// An active member of the resource's organization; give this or `group`.
    pub user: Option<ID>,
    /// One of the organization's groups in use; give this or `user`.
    pub group: Option<ID>,
    pub access: ResourceAccess,
}

#[derive(InputObject)]
pub struct UnshareResourceInput {
    pub resource: ID,
    /// Give this or `group`.
    pub user: Option<ID>,
    pub group: Option<ID>,
}

#[derive(InputObject)]
pub struct UpdateResourceInput {
    pub id: ID,
    pub name: Option<String>,
    /// One of the organization's projects; null takes the resource out of its project.
    #[graphql(default)]
    pub project: MaybeUndefined<ID>,
    /// Whether it runs (a schedule); a transfer disables schedules, and their service
    /// enables them again here.
    pub enabled: Option<bool>,
}

#[derive(SimpleObject, Default)]
pub struct ResourceKindPayload {
    pub resource_kind: Option<ResourceKind>,
    pub errors: Vec<UserError>,
}

#[derive(SimpleObject, Default)]
pub struct ResourcePayload {
    pub resource: Option<Resource>,
    pub errors: Vec<UserError>,
}

fn resource_payload(result: Result<ResourceRecord, DomainError>) -> ResourcePayload {
    match result {
        Ok(record) => ResourcePayload {
            resource: Some(Resource(record)),
            errors: Vec::new(),
        },
        Err(error) => ResourcePayload {
            resource: None,
            errors: vec![UserError::from_domain("input", &error)],
        },
    }
}

#[derive(Default)]
pub struct ResourceMutation;

#[Object]
impl ResourceMutation {
    /// Adds a kind of resource. SuperAdmins only.
    async fn create_resource_kind(
        &self,
        ctx: &Context<'_>,
        input: CreateResourceKindInput,
    ) -> async_graphql::Result<ResourceKindPayload> {
        let proof = authorize_platform(actor(ctx).await?).map_err(refused)?;
        let parsed = KindCode::parse(&input.code)
            .and_then(|code| Ok((code, Name::parse("name", &input.name)?)));
        let (code, name) = match parsed {
            Ok(parsed) => parsed,
            Err(error) => {
                return Ok(ResourceKindPayload {
                    resource_kind: None,
                    errors: vec![UserError::from_domain("input", &error)],
                });
            }
        };
        let rules = KindRules {
            transferable: input.transferable,
            disable_before_transfer: input.disable_before_transfer,
            application_level: input.application_level,
        };
        let entry = ctx.audit_entry()?;
        Ok(
            match expected(
                ctx.app()?
                    .store
                    .create_resource_kind(&proof, &code, name.as_str(), rules, &entry)
                    .await,
            )? {
                Ok(kind) => ResourceKindPayload {
                    resource_kind: Some(kind.into()),
                    errors: Vec::new(),
                },
                Err(error) => ResourceKindPayload {
                    resource_kind: None,
                    errors: vec![UserError::from_domain("input", &error)],
                },
            },
        )
    }

    /// Registers a resource for its owner, or updates it when the same kind and external id
    /// were registered before. Needs `RESOURCES/MANAGE` in the organization, or in `project`
    /// through a role bound for it.
    async fn register_resource(
        &self,
        ctx: &Context<'_>,
        input: RegisterResourceInput,
    ) -> async_graphql::Result<ResourcePayload> {
        let organization: OrganizationId = parse_id("organization", &input.organization)?;
        let owner: Option<UserId> = input
            .owner
            .as_ref()
            .map(|id| parse_id("owner", id))
            .transpose()?;
        let project: Option<ProjectId> = input
            .project
            .as_ref()
            .map(|id| parse_id("project", id))
            .transpose()?;
        let proof =
            authorize_in_projects::<ManageResources>(actor(ctx).await?, organization, &[project])
                .map_err(refused)?;
        let parsed = (|| {
            Ok::<_, DomainError>(NewResource {
                kind: KindCode::parse(&input.kind)?,
                name: Name::parse("name", &input.name)?.as_str().to_owned(),
                external_id: ExternalId::parse(&input.external_id)?.as_str().to_owned(),
                project,
                owner,
            })
        })();
        let resource = match parsed {
            Ok(resource) => resource,
            Err(error) => return Ok(resource_payload(Err(error))),
        };
        let entry = ctx.audit_entry()?;
        Ok(resource_payload(expected(
            ctx.app()?
                .store
                .register_resource(&proof, &resource, &entry)
                .await,
        )?))
    }

    /// Changes a resource's name, project or enabled flag (not its owner: a transfer does
    /// that). Needs `RESOURCES/MANAGE` in its organization, or through a role bound for its
    /// project (which does not move it to another project).
    async fn update_resource(
        &self,
        ctx: &Context<'_>,
        input: UpdateResourceInput,
    ) -> async_graphql::Result<ResourcePayload> {
        let id: Uuid = parse_id("id", &input.id)?;
        let project = match &input.project {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(id) => Some(Some(parse_id::<ProjectId>("project", id)?)),
        };
        let record = visible_resource(ctx, id).await?;
        let places = [record.project, project.unwrap_or(record.project)];
        let proof = authorize_in_projects::<ManageResources>(
            actor(ctx).await?,
            record.organization,
            &places,
        )
        .map_err(refused)?;
        let name = match input.name.as_deref().map(|name| Name::parse("name", name)) {
            None => None,
            Some(Ok(name)) => Some(name.as_str().to_owned()),
            Some(Err(error)) => return Ok(resource_payload(Err(error))),
        };
        let changes = ResourceChanges {
            name,
            project,
            enabled: input.enabled,
        };
        let entry = ctx.audit_entry()?;
        Ok(resource_payload(expected(
            ctx.app()?
                .store
                .update_resource(&proof, id, &changes, &entry)
                .await,
        )?))
    }

    /// Shares a resource with a user or a group, read-only or read-write; sharing again
    /// changes the access. Its owner may, and whoever holds `RESOURCES/MANAGE` in its
    /// organization or through a role bound for its project.
    async fn share_resource(
        &self,
        ctx: &Context<'_>,
        input: ShareResourceInput,
    ) -> async_graphql::Result<ResourcePayload> {
        let request = sharing_request(ctx, &input.resource, input.user, input.group).await?;
        let (proof, grantee) = match request {
            Ok(request) => request,
            Err(error) => return Ok(resource_payload(Err(error))),
        };
        let entry = ctx.audit_entry()?;
        Ok(resource_payload(expected(
            ctx.app()?
                .store
                .share_resource(&proof, grantee, input.access.into(), &entry)
                .await,
        )?))
    }

    /// Takes back a resource's share with a user or a group. Its owner may, and whoever holds
    /// `RESOURCES/MANAGE` in its organization or through a role bound for its project.
    async fn unshare_resource(
        &self,
        ctx: &Context<'_>,
        input: UnshareResourceInput,
    ) -> async_graphql::Result<ResourcePayload> {
        let request = sharing_request(ctx, &input.resource, input.user, input.group).await?;
        let (proof, grantee) = match request {
            Ok(request) => request,
            Err(error) => return Ok(resource_payload(Err(error))),
        };
        let entry = ctx.audit_entry()?;
        Ok(resource_payload(expected(
            ctx.app()?
                .store
                .unshare_resource(&proof, grantee, &entry)
                .await,
        )?))
    }

    /// Removes a resource from the registry. Needs `RESOURCES/MANAGE` in its organization,
    /// or through a role bound for its project.
    async fn delete_resource(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<ResourcePayload> {
        let id: Uuid = parse_id("id", &id)?;
        let record = visible_resource(ctx, id).await?;
        let proof = authorize_in_projects::<ManageResources>(
            actor(ctx).await?,
            record.organization,
            &[record.project],
        )
        .map_err(refused)?;
        let entry = ctx.audit_entry()?;
        Ok(resource_payload(expected(
            ctx.app()?.store.delete_resource(&proof, id, &entry).await,
        )?))
    }
}

/// The resource `id`, if the caller may know it exists: it is in an organization they can
/// see.
async fn visible_resource(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<ResourceRecord> {
    let not_found = || {
        refused(DomainError::NotFound {
            what: "the resource",
        })
    };
    let record = ctx
        .app()?
        .store
        .resource_by_id(id)
        .await
        .map_err(AppError::from)?
        .ok_or_else(not_found)?;
    if !actor(ctx).await?.can_see(record.organization) {
        return Err(not_found());
    }
    Ok(record)
}

/// What a share or unshare is about: the proof that the caller may share the resource, and
/// the user or group. A malformed id is a GraphQL error; naming both or neither, a payload
/// error.
async fn sharing_request(
    ctx: &Context<'_>,
    resource: &ID,
    user: Option<ID>,
    group: Option<ID>,
) -> async_graphql::Result<Result<(SharingAuthorized, ShareGrantee), DomainError>> {
    let id: Uuid = parse_id("resource", resource)?;
    let record = visible_resource(ctx, id).await?;
    let proof = authorize_sharing(
        actor(ctx).await?,
        record.organization,
        record.project,
        id,
        record.owner,
    )
    .map_err(refused)?;
    let user: Option<UserId> = user.as_ref().map(|id| parse_id("user", id)).transpose()?;
    let group: Option<GroupId> = group.as_ref().map(|id| parse_id("group", id)).transpose()?;
    Ok(ShareGrantee::from_choice(user, group).map(|grantee| (proof, grantee)))
}
