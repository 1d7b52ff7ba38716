//! Ownership transfer, deleting users and removing members: the preflight plan and the
//! mutations that carry it out.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use steward_domain::deletion::{hold_reason, justification};
use steward_domain::policy::{
    ManageResources, ManageUsers, ViewResources, authorize, authorize_in_projects,
    authorize_platform,
};
use steward_domain::resource::check_named_in_transfer;
use steward_domain::{DomainError, OrganizationId, UserId};
use steward_store::{
    DeletionHoldRecord, DeletionPlan as DeletionPlanRecord, KindPlan, OrganizationPlan,
    ResourceFilter, TransferItemRecord, TransferRecord, TransferSelection,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{AppError, expected, refused};
use crate::graphql::accounts::{UserPayload, account_proof, user_payload};
use crate::graphql::api_keys::ApiKey;
use crate::graphql::connection::{Page, PageRequest};
use crate::graphql::context::{ContextExt as _, actor, parse_id};
use crate::graphql::resources::Resource;
use crate::graphql::types::{Organization, User, UserError, payload_parts};

/// A hold on a user's deletion, placed by another service (billing, say): while one is not
/// released, a pending deletion waits.
pub struct DeletionHold(pub DeletionHoldRecord);

#[Object]
impl DeletionHold {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        Ok(ctx.loaders()?.users.load_one(self.0.user).await?.map(User))
    }

    async fn reason(&self) -> &str {
        &self.0.reason
    }

    async fn placed_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        Ok(ctx
            .loaders()?
            .users
            .load_one(self.0.placed_by)
            .await?
            .map(User))
    }

    async fn placed_at(&self) -> OffsetDateTime {
        self.0.placed_at
    }

    async fn released_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(by) = self.0.released_by else {
            return Ok(None);
        };
        Ok(ctx.loaders()?.users.load_one(by).await?.map(User))
    }

    /// Null while the hold is in force.
    async fn released_at(&self) -> Option<OffsetDateTime> {
        self.0.released_at
    }
}

/// The holds on `user`'s deletion, for the user and whoever may delete them; null for
/// anyone else.
pub async fn deletion_holds(
    ctx: &Context<'_>,
    user: UserId,
) -> async_graphql::Result<Option<Vec<DeletionHold>>> {
    if actor(ctx).await?.user != user && account_proof(ctx, user).await.is_err() {
        return Ok(None);
    }
    let holds = ctx
        .app()?
        .store
        .deletion_holds_of(user)
        .await
        .map_err(AppError::from)?;
    Ok(Some(holds.into_iter().map(DeletionHold).collect()))
}

/// Why resources changed owner.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "steward_domain::deletion::TransferReason")]
pub enum TransferReason {
    /// An administrator moved them.
    Transfer,
    /// Their owner was deleted.
    UserDeleted,
    /// Their owner was removed from the organization.
    MembershipRemoved,
}

/// One move of resources: of one previous owner, in one organization, to one new owner.
pub struct ResourceTransfer(pub TransferRecord);

#[Object]
impl ResourceTransfer {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn organization(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Organization>> {
        Ok(ctx
            .loaders()?
            .organizations
            .load_one(self.0.organization)
            .await?
            .map(Organization))
    }

    /// The previous owner; a deleted one shows with status `DELETED`.
    async fn from(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(from) = self.0.from else {
            return Ok(None);
        };
        Ok(ctx.loaders()?.users.load_one(from).await?.map(User))
    }

    async fn to(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        Ok(ctx.loaders()?.users.load_one(self.0.to).await?.map(User))
    }

    async fn reason(&self) -> TransferReason {
        self.0.reason.into()
    }

    /// Who asked for it; null when Steward did it (purging a self-service deletion).
    async fn initiated_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(initiator) = self.0.initiated_by else {
            return Ok(None);
        };
        Ok(ctx.loaders()?.users.load_one(initiator).await?.map(User))
    }

    async fn resource_count(&self) -> i64 {
        self.0.resource_count
    }

    async fn at(&self) -> OffsetDateTime {
        self.0.at
    }
}

/// A transfer as it touched one resource.
pub struct ResourceTransferItem(pub TransferItemRecord);

#[Object]
impl ResourceTransferItem {
    async fn transfer(&self) -> ResourceTransfer {
        ResourceTransfer(self.0.transfer.clone())
    }

    /// The resource was disabled before it moved (schedules are).
    async fn disabled_before_transfer(&self) -> bool {
        self.0.disabled
    }
}

/// The transfers that moved a resource, oldest first (for `Resource.transferHistory`).
pub async fn transfer_history(
    ctx: &Context<'_>,
    resource: Uuid,
) -> async_graphql::Result<Vec<ResourceTransferItem>> {
    let items = ctx
        .loaders()?
        .transfer_history
        .load_one(resource)
        .await?
        .unwrap_or_default();
    Ok(items.into_iter().map(ResourceTransferItem).collect())
}

/// What a deletion (or a removal) does with the user's resources of one kind.
#[derive(SimpleObject)]
pub struct ResourceKindPlan {
    pub kind: String,
    /// They change owner; resources of other kinds stay with the deleted user.
    pub transferable: bool,
    pub count: i64,
    /// How many are disabled before they move (schedules).
    pub disabled_before_transfer: i64,
}

impl From<&KindPlan> for ResourceKindPlan {
    fn from(kind: &KindPlan) -> Self {
        Self {
            kind: kind.kind.clone(),
            transferable: kind.transferable,
            count: kind.count,
            disabled_before_transfer: kind.disabled,
        }
    }
}

/// What a deletion (or a removal) does in one organization.
pub struct OrganizationDeletionPlan {
    user: UserId,
    plan: OrganizationPlan,
}

#[Object]
impl OrganizationDeletionPlan {
    async fn organization(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Organization>> {
        Ok(ctx
            .loaders()?
            .organizations
            .load_one(self.plan.organization)
            .await?
            .map(Organization))
    }

    /// Who receives the resources: the new owner asked for, or the organization's owner.
    async fn new_owner(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(owner) = self.plan.new_owner else {
            return Ok(None);
        };
        Ok(ctx.loaders()?.users.load_one(owner).await?.map(User))
    }

    /// How many resources change owner.
    async fn resources_moving(&self) -> i64 {
        self.plan.moving()
    }

    /// By kind.
    async fn kinds(&self) -> Vec<ResourceKindPlan> {
        self.plan.kinds.iter().map(Into::into).collect()
    }

    /// Resources shared with the user there; their shares pass to the new owner.
    async fn shares_passing(&self) -> i64 {
        self.plan.shares
    }

    /// The user's resources there, one by one.
    async fn resources(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<Resource>> {
        authorize::<ViewResources>(actor(ctx).await?, self.plan.organization).map_err(refused)?;
        let request = PageRequest::parse(first, after)?;
        let filter = ResourceFilter {
            owner: Some(self.user),
            ..ResourceFilter::default()
        };
        let (records, total) = ctx
            .app()?
            .store
            .resources_page(
                self.plan.organization,
                &filter,
                request.after,
                request.fetch,
            )
            .await
            .map_err(AppError::from)?;
        let items = records
            .into_iter()
            .map(|record| (record.id, Resource(record)))
            .collect();
        Ok(request.page(items, total))
    }
}

/// Everything deleting a user (or removing them from an organization) would do. Confirm it
/// by passing its `revision` to `deleteUser`: the deletion is refused if anything changed.
pub struct DeletionPlan(pub DeletionPlanRecord);

#[Object]
impl DeletionPlan {
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        Ok(ctx.loaders()?.users.load_one(self.0.user).await?.map(User))
    }

    /// A fingerprint of everything below and of every resource that moves.
    async fn revision(&self) -> &str {
        &self.0.revision
    }

    /// Why it cannot be carried out as it is (empty when it can): each says what to do, in
    /// the words of the mutation's refusal. The mutation answers one refusal as it is, and
    /// several as one `FORBIDDEN` error whose message is this list joined with "; ".
    async fn refusals(&self) -> Vec<String> {
        self.0.refusals.iter().map(ToString::to_string).collect()
    }

    async fn organizations(&self) -> Vec<OrganizationDeletionPlan> {
        self.0
            .organizations
            .iter()
            .map(|plan| OrganizationDeletionPlan {
                user: self.0.user,
                plan: plan.clone(),
            })
            .collect()
    }

    /// How many resources change owner, in all.
    async fn resources_moving(&self) -> i64 {
        self.0
            .organizations
            .iter()
            .map(OrganizationPlan::moving)
            .sum()
    }

    /// How many are disabled before they move, in all.
    async fn resources_disabled(&self) -> i64 {
        self.0
            .organizations
            .iter()
            .flat_map(|plan| &plan.kinds)
            .filter(|kind| kind.transferable)
            .map(|kind| kind.disabled)
            .sum()
    }

    /// The user's API keys that still work: the deletion is refused unless it also revokes
    /// them (`revokeApiKeys: true`).
    async fn api_keys(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ApiKey>> {
        let store = &ctx.app()?.store;
        let mut keys = Vec::with_capacity(self.0.api_keys.len());
        for id in &self.0.api_keys {
            if let Some(key) = store.api_key_by_id(*id).await.map_err(AppError::from)? {
                keys.push(ApiKey(key));
            }
        }
        Ok(keys)
    }

    /// Sessions that end.
    async fn sessions(&self) -> i64 {
        self.0.sessions
    }
}

#[derive(SimpleObject, Default)]
pub struct TransferPayload {
    /// One per organization and previous owner.
    pub transfers: Vec<ResourceTransfer>,
    pub errors: Vec<UserError>,
}

#[derive(SimpleObject, Default)]
pub struct DeleteUserPayload {
    /// The tombstone: status `DELETED`, id, name and e-mail kept.
    pub user: Option<User>,
    pub transfers: Vec<ResourceTransfer>,
    pub errors: Vec<UserError>,
}

fn transfer_payload(result: Result<Vec<TransferRecord>, DomainError>) -> TransferPayload {
    let (transfers, errors) = payload_parts(result, |transfers| {
        transfers.into_iter().map(ResourceTransfer).collect()
    });
    TransferPayload {
        transfers: transfers.unwrap_or_default(),
        errors,
    }
}

#[derive(InputObject)]
pub struct TransferResourcesInput {
    /// These resources (in any organizations where you hold `RESOURCES/MANAGE`)...
    pub resources: Option<Vec<ID>>,
    /// ...or every transferable resource of this user in `organization`.
    pub all_of: Option<ID>,
    pub organization: Option<ID>,
    /// The new owner: an active member of each resource's organization.
    pub to: ID,
}

#[derive(InputObject)]
pub struct DeleteUserInput {
    /// A suspended user.
    pub user: ID,
    /// The new owner of the user's resources everywhere; default: each organization's owner.
    pub transfer_to: Option<ID>,
    /// Also revoke the user's API keys that still work (otherwise they refuse the deletion).
    #[graphql(default)]
    pub revoke_api_keys: bool,
    /// The `revision` of the `deletionPlan` that was shown: the deletion is refused if the
    /// plan has changed since.
    pub plan_revision: Option<String>,
}

#[derive(InputObject)]
pub struct DeleteMyAccountInput {
    pub password: String,
    /// Why the account should go: 10 to 2000 characters, kept in the audit trail.
    pub justification: String,
}

#[derive(InputObject)]
pub struct PlaceDeletionHoldInput {
    pub user: ID,
    /// Such as "unpaid invoice 2027-114": 3 to 500 characters.
    pub reason: String,
}

#[derive(SimpleObject, Default)]
pub struct DeletionHoldPayload {
    pub deletion_hold: Option<DeletionHold>,
    pub errors: Vec<UserError>,
}

fn hold_payload(result: Result<DeletionHoldRecord, DomainError>) -> DeletionHoldPayload {
    let (deletion_hold, errors) = payload_parts(result, DeletionHold);
    DeletionHoldPayload {
        deletion_hold,
        errors,
    }
}

fn account_payload(result: Result<steward_store::UserRecord, DomainError>) -> UserPayload {
    user_payload(result, "input")
}

#[derive(InputObject)]
pub struct RemoveMemberInput {
    pub organization: ID,
    pub user: ID,
    /// The new owner of the user's resources there; default: the organization's owner.
    pub transfer_to: Option<ID>,
}

fn optional_user(field: &'static str, id: Option<&ID>) -> async_graphql::Result<Option<UserId>> {
    id.map(|id| parse_id(field, id)).transpose()
}

#[derive(Default)]
pub struct OwnershipQuery;

#[Object]
impl OwnershipQuery {
    /// What deleting `user` would do, with `transferTo` as the new owner (default: each
    /// organization's owner), and every refusal `deleteUser` would answer given the same
    /// `transferTo` and `revokeApiKeys`. Same permissions as `deleteUser`.
    async fn deletion_plan(
        &self,
        ctx: &Context<'_>,
        user: ID,
        transfer_to: Option<ID>,
        #[graphql(default)] revoke_api_keys: bool,
    ) -> async_graphql::Result<DeletionPlan> {
        let user: UserId = parse_id("user", &user)?;
        let transfer_to = optional_user("transferTo", transfer_to.as_ref())?;
        let proof = account_proof(ctx, user).await?;
        let entry = ctx.audit_entry()?;
        let plan = ctx
            .app()?
            .store
            .deletion_plan(&proof, transfer_to, revoke_api_keys, &entry)
            .await
            .map_err(AppError::from)?;
        Ok(DeletionPlan(plan))
    }

    /// What removing `user` from `organization` would do, and every refusal `removeMember`
    /// would answer given the same `transferTo`. Needs `USERS/MANAGE` there.
    async fn removal_plan(
        &self,
        ctx: &Context<'_>,
        organization: ID,
        user: ID,
        transfer_to: Option<ID>,
    ) -> async_graphql::Result<DeletionPlan> {
        let organization: OrganizationId = parse_id("organization", &organization)?;
        let user: UserId = parse_id("user", &user)?;
        let transfer_to = optional_user("transferTo", transfer_to.as_ref())?;
        let proof = authorize::<ManageUsers>(actor(ctx).await?, organization).map_err(refused)?;
        let entry = ctx.audit_entry()?;
        let plan = ctx
            .app()?
            .store
            .removal_plan(&proof, user, transfer_to, &entry)
            .await
            .map_err(AppError::from)?;
        Ok(DeletionPlan(plan))
    }

    /// The resources you own because a transfer gave them to you, in id order.
    async fn transferred_resources(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<Resource>> {
        let principal = ctx.principal()?;
        let request = PageRequest::parse(first, after)?;
        let (records, total) = ctx
            .app()?
            .store
            .transferred_resources_page(principal.user_id, request.after, request.fetch)
            .await
            .map_err(AppError::from)?;
        let items = records
            .into_iter()
            .map(|record| (record.id, Resource(record)))
            .collect();
        Ok(request.page(items, total))
    }
}

#[derive(Default)]
pub struct OwnershipMutation;

#[Object]
impl OwnershipMutation {
    /// Gives resources a new owner, atomically: the named ones, or all of one user's in an
    /// organization. Needs `RESOURCES/MANAGE` in each resource's organization, or through a
    /// role bound for its project (all of a user's needs it organization-wide); refused for
    /// application-level kinds and for a new owner who is not an active member there.
    /// Schedules are disabled before they move; the new owner is told.
    async fn transfer_resources(
        &self,
        ctx: &Context<'_>,
        input: TransferResourcesInput,
    ) -> async_graphql::Result<TransferPayload> {
        let to: UserId = parse_id("to", &input.to)?;
        let actor = actor(ctx).await?;
        let store = &ctx.app()?.store;
        let (selection, placements) = match (&input.resources, &input.all_of) {
            (Some(ids), None) => {
                if let Err(error) = check_named_in_transfer(ids.len()) {
                    return Ok(transfer_payload(Err(error)));
                }
                let ids = ids
                    .iter()
                    .map(|id| parse_id::<Uuid>("resources", id))
                    .collect::<async_graphql::Result<Vec<_>>>()?;
                let placements = store
                    .resource_placements(&ids)
                    .await
                    .map_err(AppError::from)?;
                (TransferSelection::Resources(ids), placements)
            }
            (None, Some(user)) => {
                let Some(organization) = &input.organization else {
                    return Ok(transfer_payload(Err(DomainError::invalid(
                        "organization",
                        "name the organization whose resources of allOf move",
                    ))));
                };
                let organization: OrganizationId = parse_id("organization", organization)?;
                (
                    TransferSelection::AllOf(parse_id("allOf", user)?),
                    vec![(organization, None)],
                )
            }
            _ => {
                return Ok(transfer_payload(Err(DomainError::invalid(
                    "resources",
                    "give either resources or allOf, not both and not neither",
                ))));
            }
        };
        let mut proofs = Vec::with_capacity(placements.len());
        for (organization, project) in placements {
            if !actor.can_see(organization) {
                return Err(refused(DomainError::NotFound {
                    what: "the resource",
                }));
            }
            proofs.push(
                authorize_in_projects::<ManageResources>(actor, organization, &[project])
                    .map_err(refused)?,
            );
        }
        let entry = ctx.audit_entry()?;
        Ok(transfer_payload(expected(
            store
                .transfer_resources(&proofs, &selection, to, &entry)
                .await,
        )?))
    }

    /// Deletes a suspended user, carrying out exactly what `deletionPlan` shows in one
    /// transaction: resources move (schedules disabled first), API keys, sessions and
    /// credentials end, and the account becomes a `DELETED` tombstone. Refused while the
    /// user has API keys that work, unless `revokeApiKeys`. The user, you and each new owner
    /// are told. Needs `USERS/MANAGE` in every organization of the user, or a SuperAdmin.
    async fn delete_user(
        &self,
        ctx: &Context<'_>,
        input: DeleteUserInput,
    ) -> async_graphql::Result<DeleteUserPayload> {
        let user: UserId = parse_id("user", &input.user)?;
        let transfer_to = optional_user("transferTo", input.transfer_to.as_ref())?;
        let proof = account_proof(ctx, user).await?;
        let entry = ctx.audit_entry()?;
        let result = expected(
            ctx.app()?
                .store
                .delete_user(
                    &proof,
                    transfer_to,
                    input.revoke_api_keys,
                    input.plan_revision.as_deref(),
                    &entry,
                )
                .await,
        )?;
        let (outcome, errors) = payload_parts(result, |outcome| {
            (
                User(outcome.user),
                outcome
                    .transfers
                    .into_iter()
                    .map(ResourceTransfer)
                    .collect(),
            )
        });
        let (user, transfers) = outcome.unzip();
        Ok(DeleteUserPayload {
            user,
            transfers: transfers.unwrap_or_default(),
            errors,
        })
    }

    /// Removes a member from the organization: their resources there go to `transferTo`
    /// (default: the organization's owner), their API keys and sessions there end, and the
    /// membership with its roles and groups is gone. The account stays. Needs
    /// `USERS/MANAGE`.
    async fn remove_member(
        &self,
        ctx: &Context<'_>,
        input: RemoveMemberInput,
    ) -> async_graphql::Result<TransferPayload> {
        let organization: OrganizationId = parse_id("organization", &input.organization)?;
        let user: UserId = parse_id("user", &input.user)?;
        let transfer_to = optional_user("transferTo", input.transfer_to.as_ref())?;
        let proof = authorize::<ManageUsers>(actor(ctx).await?, organization).map_err(refused)?;
        let entry = ctx.audit_entry()?;
        Ok(transfer_payload(expected(
            ctx.app()?
                .store
                .remove_member(&proof, user, transfer_to, &entry)
                .await,
        )?))
    }

    /// Deletes your own account: give your password and why. The account is
    /// `PENDING_DELETION` at once (no login; sessions and API keys stop) and is purged
    /// (resources to each organization's owner, then a `DELETED` tombstone) as soon as no
    /// deletion hold remains. Refused for an organization's owner. Needs a login session.
    async fn delete_my_account(
        &self,
        ctx: &Context<'_>,
        input: DeleteMyAccountInput,
    ) -> async_graphql::Result<UserPayload> {
        let principal = ctx.principal()?;
        principal.session().map_err(refused)?;
        let user = principal.user_id;
        let app = ctx.app()?;
        let justification = match justification(&input.justification) {
            Ok(justification) => justification,
            Err(error) => return Ok(account_payload(Err(error))),
        };
        let entry = ctx.audit_entry()?;
        if let Err(error) = app.check_password(user, input.password, &entry).await? {
            return Ok(account_payload(Err(error)));
        }
        Ok(account_payload(expected(
            app.store
                .request_account_deletion(user, &justification, &entry)
                .await,
        )?))
    }

    /// Holds a user's deletion until the hold is released (a service such as billing).
    /// SuperAdmins (and their API keys) only.
    async fn place_deletion_hold(
        &self,
        ctx: &Context<'_>,
        input: PlaceDeletionHoldInput,
    ) -> async_graphql::Result<DeletionHoldPayload> {
        let proof = authorize_platform(actor(ctx).await?).map_err(refused)?;
        let user: UserId = parse_id("user", &input.user)?;
        let reason = match hold_reason(&input.reason) {
            Ok(reason) => reason,
            Err(error) => return Ok(hold_payload(Err(error))),
        };
        let entry = ctx.audit_entry()?;
        Ok(hold_payload(expected(
            ctx.app()?
                .store
                .place_deletion_hold(&proof, user, &reason, &entry)
                .await,
        )?))
    }

    /// Releases a deletion hold; when it was the last one on a pending deletion, the account
    /// is purged. SuperAdmins (and their API keys) only.
    async fn release_deletion_hold(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<DeletionHoldPayload> {
        let proof = authorize_platform(actor(ctx).await?).map_err(refused)?;
        let id: Uuid = parse_id("id", &id)?;
        let entry = ctx.audit_entry()?;
        Ok(hold_payload(expected(
            ctx.app()?
                .store
                .release_deletion_hold(&proof, id, &entry)
                .await,
        )?))
    }

    /// Takes back a pending deletion: the account is `ACTIVE` again and the user is told.
    /// SuperAdmins only.
    async fn restore_user(
        &self,
        ctx: &Context<'_>,
        user: ID,
    ) -> async_graphql::Result<UserPayload> {
        let proof = authorize_platform(actor(ctx).await?).map_err(refused)?;
        let user: UserId = parse_id("user", &user)?;
        let entry = ctx.audit_entry()?;
        Ok(account_payload(expected(
            ctx.app()?.store.restore_user(&proof, user, &entry).await,
        )?))
    }
}
