//! Deleting a user and removing a member: the plan of what will move, be revoked or be
//! disabled, and carrying out exactly that plan in one transaction.

use std::collections::BTreeMap;

use steward_domain::audit::{AuditAction, AuditOutcome};
use steward_domain::deletion::{
    PlanRevision, TransferReason, active_api_keys, new_owner_cannot_receive, new_owner_is_leaving,
    no_new_owner, not_a_member, not_suspended, organization_deleted_already, organization_owner,
    plan_changed, refusal, removing_yourself,
};
use steward_domain::notification::Notification;
use steward_domain::policy::{
    AccountAuthorized, Authorized, DeleteOrganization, ManageUsers, PlatformAuthorized,
};
use steward_domain::user::UserStatus;
use steward_domain::{ApiKeyId, DomainError, OrganizationId, UserId};
use uuid::Uuid;

use crate::transfers::TransferRecord;
use crate::{AuditEntry, Result, Store, StoreError, Timestamp, Tx, UserRecord, on_tx};

/// Everything a deletion (or a removal from one organization) would do.
#[derive(Debug, Clone, PartialEq)]
pub struct DeletionPlan {
    pub user: UserId,
    pub organizations: Vec<OrganizationPlan>,
    /// The user's API keys that still work, which must be revoked.
    pub api_keys: Vec<ApiKeyId>,
    /// Sessions that end.
    pub sessions: i64,
    /// Why the plan cannot be carried out as it is, each exactly as its mutation answers it;
    /// empty when it can.
    pub refusals: Vec<DomainError>,
    /// Fingerprint of all of the above and of every resource that moves.
    pub revision: String,
}

/// What happens in one organization.
#[derive(Debug, Clone, PartialEq)]
pub struct OrganizationPlan {
    pub organization: OrganizationId,
    pub name: String,
    /// Who receives the resources: the one named, or the organization's owner.
    pub new_owner: Option<UserId>,
    pub kinds: Vec<KindPlan>,
    /// Resources shared with the user there, whose shares pass to the new owner.
    pub shares: i64,
}

impl OrganizationPlan {
    /// How many resources change owner.
    pub fn moving(&self) -> i64 {
        self.kinds
            .iter()
            .filter(|kind| kind.transferable)
            .map(|kind| kind.count)
            .sum()
    }
}

/// The user's resources of one kind in one organization.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct KindPlan {
    pub kind: String,
    /// Whether they change owner; resources of other kinds stay with the tombstone.
    pub transferable: bool,
    pub count: i64,
    /// How many are disabled before they move (schedules).
    pub disabled: i64,
}

/// What deleting an organization would do, and what refuses it.
#[derive(Debug, Clone, PartialEq)]
pub struct OrganizationDeletionPreflight {
    pub organization: OrganizationId,
    /// Its name, which the deletion must be confirmed with; empty when it does not exist.
    pub name: String,
    /// Memberships that are disabled (every one not disabled yet, the owner's too).
    pub members: i64,
    /// API keys limited to the organization that are revoked.
    pub api_keys: i64,
    /// Pending invitations that are withdrawn.
    pub invitations: i64,
    /// Resources that are marked deleted.
    pub resources: i64,
    /// Why it cannot be deleted, each exactly as `delete_organization` answers it (but for
    /// the typed name, which only the deletion is given).
    pub refusals: Vec<DomainError>,
}

/// What a deletion did.
#[derive(Debug, Clone)]
pub struct DeletionOutcome {
    pub user: UserRecord,
    pub transfers: Vec<TransferRecord>,
}

/// Which plan: a whole deletion, or the removal from one organization.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scope {
    Deletion,
    Removal(OrganizationId),
}

impl Scope {
    fn organization(self) -> Option<OrganizationId> {
        match self {
            Scope::Deletion => None,
            Scope::Removal(organization) => Some(organization),
        }
    }

    fn doing(self) -> &'static str {
        match self {
            Scope::Deletion => "deleted",
            Scope::Removal(_) => "removed",
        }
    }

    fn reason(self) -> TransferReason {
        match self {
            Scope::Deletion => TransferReason::UserDeleted,
            Scope::Removal(_) => TransferReason::MembershipRemoved,
        }
    }
}

impl Tx {
    /// On PostgreSQL, locks `user`'s memberships (only of `organization`, if given) for the
    /// rest of the transaction: a resource registered for the user at the same time waits,
    /// then finds the membership ended (see `check_active_member`). SQLite runs one writer
    /// at a time already.
    async fn lock_memberships(
        &mut self,
        user: UserId,
        organization: Option<OrganizationId>,
    ) -> Result<()> {
        if let Tx::Postgres(tx) = self {
            sqlx::query(
                "SELECT id FROM memberships WHERE user_id = $1 \
                 AND ($2::uuid IS NULL OR organization_id = $2) FOR UPDATE",
            )
            .bind(user.as_uuid())
            .bind(organization.map(|organization| organization.as_uuid()))
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// Works out what deleting `user` (or removing them from one organization) would do,
    /// with `transfer_to` as the new owner everywhere, or each organization's owner.
    pub(crate) async fn deletion_plan(
        &mut self,
        user: UserId,
        transfer_to: Option<UserId>,
        scope: Scope,
        now: Timestamp,
    ) -> Result<DeletionPlan> {
        // The plan is worked out, and carried out, with the memberships locked.
        self.lock_memberships(user, scope.organization()).await?;
        let scoped = scope
            .organization()
            .map(|organization| organization.as_uuid());
        let organizations: Vec<(Uuid, String, Option<Uuid>)> = on_tx!(self, |conn| {
            sqlx::query_as(
                "SELECT o.id, o.name, o.owner_user_id FROM organizations o \
                 WHERE o.deleted_at IS NULL AND ($2 IS NULL OR o.id = $2) AND (\
                 o.id IN (SELECT organization_id FROM memberships WHERE user_id = $1) OR \
                 o.id IN (SELECT organization_id FROM resources WHERE owner_user_id = $1 \
                 AND deleted_at IS NULL)) ORDER BY o.id",
            )
            .bind(user.as_uuid())
            .bind(scoped)
            .fetch_all(conn)
            .await?
        });
        let mut revision = PlanRevision::default();
        revision.add(user.to_string());
        revision.add(scope.doing());
        let mut refusals = Vec::new();
        let mut plans = Vec::with_capacity(organizations.len());
        for (organization, name, owner) in organizations {
            let owns = owner == Some(user.as_uuid());
            if owns {
                refusals.push(organization_owner(&name, scope.doing()));
            }
            let kinds: Vec<KindPlan> = on_tx!(self, |conn| {
                sqlx::query_as(
                    "SELECT r.kind AS kind, k.transferable AS transferable, COUNT(*) AS count, \
                     SUM(CASE WHEN k.disable_before_transfer AND r.enabled THEN 1 ELSE 0 END) \
                     AS disabled FROM resources r JOIN resource_kinds k ON k.code = r.kind \
                     WHERE r.owner_user_id = $1 AND r.organization_id = $2 \
                     AND r.deleted_at IS NULL GROUP BY r.kind, k.transferable ORDER BY r.kind",
                )
                .bind(user.as_uuid())
                .bind(organization)
                .fetch_all(conn)
                .await?
            });
            let shares: i64 = on_tx!(self, |conn| {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM resource_shares s JOIN resources r \
                     ON r.id = s.resource_id WHERE s.user_id = $1 AND r.organization_id = $2",
                )
                .bind(user.as_uuid())
                .bind(organization)
                .fetch_one(conn)
                .await?
            });
            let organization = OrganizationId(organization);
            let plan = OrganizationPlan {
                organization,
                name,
                new_owner: transfer_to.or(owner.map(UserId)),
                kinds,
                shares,
            };
            if !owns && (plan.moving() > 0 || plan.shares > 0) {
                match plan.new_owner {
                    None => refusals.push(no_new_owner(&plan.name)),
                    Some(new_owner) if new_owner == user => {
                        refusals.push(new_owner_is_leaving(&plan.name, scope.doing()));
                    }
                    Some(new_owner) => {
                        if let Err(StoreError::Domain(_)) =
                            self.check_recipient(organization, new_owner).await
                        {
                            // A new owner who does not exist is refused too, without a name.
                            let username: Option<String> = on_tx!(self, |conn| {
                                sqlx::query_scalar("SELECT username FROM users WHERE id = $1")
                                    .bind(new_owner.as_uuid())
                                    .fetch_optional(conn)
                                    .await?
                            });
                            refusals
                                .push(new_owner_cannot_receive(username.as_deref(), &plan.name));
                        }
                    }
                }
            }
            revision.add(organization.to_string());
            revision.add(
                plan.new_owner
                    .map(|owner| owner.to_string())
                    .unwrap_or_default(),
            );
            for kind in &plan.kinds {
                revision.add(format!(
                    "{}:{}:{}:{}",
                    kind.kind, kind.transferable, kind.count, kind.disabled
                ));
            }
            revision.add(plan.shares.to_string());
            let resources: Vec<(Uuid, bool)> = on_tx!(self, |conn| {
                sqlx::query_as(
                    "SELECT id, enabled FROM resources WHERE owner_user_id = $1 \
                     AND organization_id = $2 AND deleted_at IS NULL ORDER BY id",
                )
                .bind(user.as_uuid())
                .bind(organization.as_uuid())
                .fetch_all(conn)
                .await?
            });
            for (id, enabled) in resources {
                revision.add(format!("{id}:{enabled}"));
            }
            plans.push(plan);
        }
        let api_keys: Vec<Uuid> = on_tx!(self, |conn| {
            sqlx::query_scalar(
                "SELECT id FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL \
                 AND (expires_at IS NULL OR expires_at > $2) \
                 AND ($3 IS NULL OR organization_id = $3) ORDER BY id",
            )
            .bind(user.as_uuid())
            .bind(now)
            .bind(scoped)
            .fetch_all(conn)
            .await?
        });
        let sessions: i64 = on_tx!(self, |conn| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL \
                 AND ($2 IS NULL OR organization_id = $2)",
            )
            .bind(user.as_uuid())
            .bind(scoped)
            .fetch_one(conn)
            .await?
        });
        for key in &api_keys {
            revision.add(key.to_string());
        }
        Ok(DeletionPlan {
            user,
            organizations: plans,
            api_keys: api_keys.into_iter().map(ApiKeyId).collect(),
            sessions,
            refusals,
            revision: revision.finish(),
        })
    }

    /// The plan of an administrator's deletion of `user`, with every refusal `deleteUser`
    /// answers: the user's status first, then the plan's own, then the API keys that still
    /// work unless the deletion revokes them too.
    async fn user_deletion_plan(
        &mut self,
        user: UserId,
        transfer_to: Option<UserId>,
        revoke_api_keys: bool,
        now: Timestamp,
    ) -> Result<DeletionPlan> {
        let status = self.user_status(user).await?;
        let mut plan = self
            .deletion_plan(user, transfer_to, Scope::Deletion, now)
            .await?;
        if status != UserStatus::Suspended {
            plan.refusals.insert(0, not_suspended(status));
        }
        if !plan.api_keys.is_empty() && !revoke_api_keys {
            plan.refusals.push(active_api_keys());
        }
        Ok(plan)
    }

    /// The plan of `actor`'s removal of `user` from `organization`, with every refusal
    /// `removeMember` answers: removing oneself, a deleted organization, someone who is not
    /// a member, then the plan's own. (The user's API keys there are always revoked.)
    async fn member_removal_plan(
        &mut self,
        actor: UserId,
        organization: OrganizationId,
        user: UserId,
        transfer_to: Option<UserId>,
        now: Timestamp,
    ) -> Result<DeletionPlan> {
        let mut refusals = Vec::new();
        if user == actor {
            refusals.push(removing_yourself());
        }
        match self.refuse_deleted_organization(organization).await {
            Ok(()) => {}
            Err(StoreError::Domain(refused)) => refusals.push(refused),
            Err(error) => return Err(error),
        }
        let member: Option<Uuid> = on_tx!(self, |conn| {
            sqlx::query_scalar(
                "SELECT id FROM memberships WHERE organization_id = $1 AND user_id = $2",
            )
            .bind(organization.as_uuid())
            .bind(user.as_uuid())
            .fetch_optional(conn)
            .await?
        });
        if member.is_none() {
            refusals.push(not_a_member());
        }
        let mut plan = self
            .deletion_plan(user, transfer_to, Scope::Removal(organization), now)
            .await?;
        refusals.append(&mut plan.refusals);
        plan.refusals = refusals;
        Ok(plan)
    }

    /// What deleting `organization` would do, with every refusal `delete_organization`
    /// answers before it checks the typed name: an organization that does not exist, or
    /// was deleted already.
    pub(crate) async fn organization_deletion_preflight(
        &mut self,
        organization: OrganizationId,
    ) -> Result<OrganizationDeletionPreflight> {
        let found: Option<(String, Option<Timestamp>)> = on_tx!(self, |conn| {
            sqlx::query_as("SELECT name, deleted_at FROM organizations WHERE id = $1")
                .bind(organization.as_uuid())
                .fetch_optional(conn)
                .await?
        });
        let mut refusals = Vec::new();
        let name = match found {
            None => {
                refusals.push(DomainError::NotFound {
                    what: "the organization",
                });
                String::new()
            }
            Some((name, deleted)) => {
                if deleted.is_some() {
                    refusals.push(organization_deleted_already());
                }
                name
            }
        };
        let (members, api_keys, invitations, resources) = on_tx!(self, |conn| {
            let mut counts = [0_i64; 4];
            for (count, statement) in counts.iter_mut().zip([
                "SELECT COUNT(*) FROM memberships WHERE organization_id = $1 \
                 AND status <> 'DISABLED'",
                "SELECT COUNT(*) FROM api_keys WHERE organization_id = $1 AND revoked_at IS NULL",
                "SELECT COUNT(*) FROM invitations WHERE organization_id = $1 \
                 AND status = 'PENDING'",
                "SELECT COUNT(*) FROM resources WHERE organization_id = $1 AND deleted_at IS NULL",
            ]) {
                *count = sqlx::query_scalar(statement)
                    .bind(organization.as_uuid())
                    .fetch_one(&mut *conn)
                    .await?;
            }
            (counts[0], counts[1], counts[2], counts[3])
        });
        Ok(OrganizationDeletionPreflight {
            organization,
            name,
            members,
            api_keys,
            invitations,
            resources,
            refusals,
        })
    }

    /// Refuses a plan that is not the plan the client confirmed, or that has refusals: with
    /// the one error [`refusal`] makes of them, so the mutation answers what the plan listed.
    fn check_plan(plan: &DeletionPlan, revision: Option<&str>) -> Result<()> {
        if revision.is_some_and(|revision| revision != plan.revision) {
            return Err(plan_changed().into());
        }
        match refusal(&plan.refusals) {
            Some(refused) => Err(refused.into()),
            None => Ok(()),
        }
    }

    /// Moves the plan's resources and the user's shares to each organization's new owner,
    /// and revokes the plan's API keys.
    async fn carry_out_moves(
        &mut self,
        plan: &DeletionPlan,
        scope: Scope,
        entry: &AuditEntry,
    ) -> Result<Vec<TransferRecord>> {
        let now = Timestamp::from(entry.at);
        let user = plan.user;
        let mut transfers = Vec::new();
        for organization in &plan.organizations {
            let Some(new_owner) = organization.new_owner else {
                continue;
            };
            if organization.moving() > 0
                && let Some(transfer) = self
                    .transfer_all(
                        organization.organization,
                        user,
                        new_owner,
                        scope.reason(),
                        entry.actor,
                        now,
                    )
                    .await?
            {
                self.audit_transfer(&transfer, entry).await?;
                transfers.push(transfer);
            }
            if organization.shares > 0 {
                self.pass_shares(organization.organization, user, new_owner)
                    .await?;
            }
        }
        for key in &plan.api_keys {
            on_tx!(self, |conn| {
                sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1")
                    .bind(key.as_uuid())
                    .bind(now)
                    .execute(conn)
                    .await?;
            });
        }
        Ok(transfers)
    }

    /// Gives `to` the shares `from` holds on resources of `organization`, unless `to` holds
    /// one already or owns the resource; `from`'s shares there end.
    async fn pass_shares(
        &mut self,
        organization: OrganizationId,
        from: UserId,
        to: UserId,
    ) -> Result<()> {
        on_tx!(self, |conn| {
            sqlx::query(
                "UPDATE resource_shares SET user_id = $3 WHERE user_id = $2 AND resource_id IN \
                 (SELECT id FROM resources WHERE organization_id = $1 \
                 AND (owner_user_id IS NULL OR owner_user_id <> $3)) \
                 AND NOT EXISTS (SELECT 1 FROM resource_shares held \
                 WHERE held.resource_id = resource_shares.resource_id AND held.user_id = $3)",
            )
            .bind(organization.as_uuid())
            .bind(from.as_uuid())
            .bind(to.as_uuid())
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "DELETE FROM resource_shares WHERE user_id = $2 AND resource_id IN \
                 (SELECT id FROM resources WHERE organization_id = $1)",
            )
            .bind(organization.as_uuid())
            .bind(from.as_uuid())
            .execute(&mut *conn)
            .await?;
        });
        Ok(())
    }

    /// Tells each new owner how many of `username`'s resources they received.
    async fn notify_new_owners(
        &mut self,
        username: &str,
        transfers: &[TransferRecord],
        entry: &AuditEntry,
    ) -> Result<i64> {
        let mut received: BTreeMap<Uuid, i64> = BTreeMap::new();
        for transfer in transfers {
            *received.entry(transfer.to.as_uuid()).or_default() += transfer.resource_count;
        }
        for (new_owner, resources) in &received {
            self.notify_user(
                UserId(*new_owner),
                &Notification::DeletedUsersResourcesReceived {
                    username: username.to_owned(),
                    resources: u32::try_from(*resources).unwrap_or(u32::MAX),
                },
                entry.at,
            )
            .await?;
        }
        Ok(received.values().sum())
    }

    /// Carries out a deletion plan that has been checked: resources move, credentials and
    /// memberships end, and the user becomes a `DELETED` tombstone that keeps its id, name
    /// and e-mail. The user, `entry`'s actor and each new owner are told.
    pub(crate) async fn purge_user(
        &mut self,
        plan: &DeletionPlan,
        entry: &AuditEntry,
    ) -> Result<Vec<TransferRecord>> {
        let user = plan.user;
        let now = Timestamp::from(entry.at);
        let transfers = self.carry_out_moves(plan, Scope::Deletion, entry).await?;
        self.revoke_sessions(user, None, now).await?;
        on_tx!(self, |conn| {
            for statement in [
                "DELETE FROM ssh_keys WHERE user_id = $1",
                "DELETE FROM recovery_codes WHERE user_id = $1",
                "DELETE FROM user_totp WHERE user_id = $1",
                "DELETE FROM group_members WHERE user_id = $1",
                "DELETE FROM role_bindings WHERE user_id = $1",
                "DELETE FROM resource_shares WHERE user_id = $1",
            ] {
                sqlx::query(statement)
                    .bind(user.as_uuid())
                    .execute(&mut *conn)
                    .await?;
            }
            sqlx::query(
                "UPDATE memberships SET status = 'DISABLED', updated_at = $2 WHERE user_id = $1",
            )
            .bind(user.as_uuid())
            .bind(now)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "UPDATE invitations SET status = 'REVOKED', revoked_at = $2, updated_at = $2 \
                 WHERE user_id = $1 AND status = 'PENDING'",
            )
            .bind(user.as_uuid())
            .bind(now)
            .execute(&mut *conn)
            .await?;
            sqlx::query("UPDATE links SET revoked_at = $2 WHERE user_id = $1 AND used_at IS NULL AND revoked_at IS NULL")
                .bind(user.as_uuid())
                .bind(now)
                .execute(&mut *conn)
                .await?;
            sqlx::query(
                "UPDATE users SET status = 'DELETED', deleted_at = $2, updated_at = $2, \
                 password_hash = NULL, must_change_password = $3, mfa_enabled = $3 \
                 WHERE id = $1",
            )
            .bind(user.as_uuid())
            .bind(now)
            .bind(false)
            .execute(&mut *conn)
            .await?;
        });
        self.refresh_effective_roles(&[user]).await?;
        let username = self.username(user).await?;
        let moved = self.notify_new_owners(&username, &transfers, entry).await?;
        self.audit(
            &entry
                .event(AuditAction::UserDeleted, AuditOutcome::Success)
                .target("user", user)
                .detail(serde_json::json!({
                    "resourcesTransferred": moved,
                    "apiKeysRevoked": plan.api_keys.len(),
                    "revision": plan.revision,
                })),
        )
        .await?;
        self.notify_user(user, &Notification::AccountDeleted, entry.at)
            .await?;
        if let Some(initiator) = entry.actor.filter(|actor| *actor != user) {
            self.notify_user(
                initiator,
                &Notification::DeletionCompleted {
                    username,
                    resources_transferred: u32::try_from(moved).unwrap_or(u32::MAX),
                },
                entry.at,
            )
            .await?;
        }
        Ok(transfers)
    }
}

impl Store {
    /// What deleting the proof's user would do, with `transfer_to` as the new owner (or each
    /// organization's owner), and every refusal [`Store::delete_user`] would answer with the
    /// same arguments.
    pub async fn deletion_plan(
        &self,
        proof: &AccountAuthorized,
        transfer_to: Option<UserId>,
        revoke_api_keys: bool,
        entry: &AuditEntry,
    ) -> Result<DeletionPlan> {
        let mut tx = self.begin().await?;
        let plan = tx
            .user_deletion_plan(
                proof.user(),
                transfer_to,
                revoke_api_keys,
                Timestamp::from(entry.at),
            )
            .await?;
        tx.commit().await?;
        Ok(plan)
    }

    /// What deleting the proof's organization would do, and every refusal
    /// [`Store::delete_organization`] would answer (but for the typed name).
    pub async fn organization_deletion_preflight(
        &self,
        proof: &Authorized<DeleteOrganization>,
    ) -> Result<OrganizationDeletionPreflight> {
        let mut tx = self.begin().await?;
        let preflight = tx
            .organization_deletion_preflight(proof.organization())
            .await?;
        tx.commit().await?;
        Ok(preflight)
    }

    /// What removing `user` from the proof's organization would do, and every refusal
    /// [`Store::remove_member`] would answer with the same arguments.
    pub async fn removal_plan(
        &self,
        proof: &Authorized<ManageUsers>,
        user: UserId,
        transfer_to: Option<UserId>,
        entry: &AuditEntry,
    ) -> Result<DeletionPlan> {
        let mut tx = self.begin().await?;
        let plan = tx
            .member_removal_plan(
                proof.actor(),
                proof.organization(),
                user,
                transfer_to,
                Timestamp::from(entry.at),
            )
            .await?;
        tx.commit().await?;
        Ok(plan)
    }

    /// Deletes a suspended user, carrying out exactly the plan `deletionPlan` shows, in one
    /// transaction: refused when the plan has refusals, when it is not the plan of
    /// `revision` (if given), or while the user has API keys that work and `revoke_api_keys`
    /// is false.
    pub async fn delete_user(
        &self,
        proof: &AccountAuthorized,
        transfer_to: Option<UserId>,
        revoke_api_keys: bool,
        revision: Option<&str>,
        entry: &AuditEntry,
    ) -> Result<DeletionOutcome> {
        let user = proof.user();
        let mut tx = self.begin().await?;
        let plan = tx
            .user_deletion_plan(
                user,
                transfer_to,
                revoke_api_keys,
                Timestamp::from(entry.at),
            )
            .await?;
        Tx::check_plan(&plan, revision)?;
        let transfers = tx.purge_user(&plan, entry).await?;
        let user = tx.commit_returning(user).await?;
        Ok(DeletionOutcome { user, transfers })
    }

    /// Removes `user` from the proof's organization: their resources there go to
    /// `transfer_to` (or the organization's owner), their API keys and sessions there end,
    /// and the membership with its roles and groups is gone. The identity stays.
    pub async fn remove_member(
        &self,
        proof: &Authorized<ManageUsers>,
        user: UserId,
        transfer_to: Option<UserId>,
        entry: &AuditEntry,
    ) -> Result<Vec<TransferRecord>> {
        let organization = proof.organization();
        let now = Timestamp::from(entry.at);
        let mut tx = self.begin().await?;
        let scope = Scope::Removal(organization);
        let plan = tx
            .member_removal_plan(proof.actor(), organization, user, transfer_to, now)
            .await?;
        Tx::check_plan(&plan, None)?;
        let transfers = tx.carry_out_moves(&plan, scope, entry).await?;
        tx.revoke_sessions(user, Some(organization), now).await?;
        on_tx!(&mut tx, |conn| {
            for statement in [
                "DELETE FROM role_bindings WHERE organization_id = $1 AND user_id = $2",
                "DELETE FROM group_members WHERE user_id = $2 AND group_id IN \
                 (SELECT id FROM groups WHERE organization_id = $1)",
                "UPDATE invitations SET status = 'REVOKED' WHERE organization_id = $1 \
                 AND user_id = $2 AND status = 'PENDING'",
                "DELETE FROM memberships WHERE organization_id = $1 AND user_id = $2",
            ] {
                sqlx::query(statement)
                    .bind(organization.as_uuid())
                    .bind(user.as_uuid())
                    .execute(&mut *conn)
                    .await?;
            }
        });
        tx.refresh_effective_roles(&[user]).await?;
        let username = tx.username(user).await?;
        let by = match entry.actor {
            Some(actor) => tx.username(actor).await?,
            None => "Steward".to_owned(),
        };
        for transfer in &transfers {
            tx.notify_user(
                transfer.to,
                &Notification::ResourcesTransferred {
                    from: username.clone(),
                    by: by.clone(),
                    resources: u32::try_from(transfer.resource_count).unwrap_or(u32::MAX),
                },
                entry.at,
            )
            .await?;
        }
        let name: String = on_tx!(&mut tx, |conn| {
            sqlx::query_scalar("SELECT name FROM organizations WHERE id = $1")
                .bind(organization.as_uuid())
                .fetch_one(conn)
                .await?
        });
        tx.audit(
            &entry
                .event(AuditAction::MemberRemoved, AuditOutcome::Success)
                .target("user", user)
                .organization(organization)
                .detail(serde_json::json!({
                    "resourcesTransferred": transfers.iter().map(|t| t.resource_count).sum::<i64>(),
                })),
        )
        .await?;
        tx.notify_user(
            user,
            &Notification::MembershipRemoved { organization: name },
            entry.at,
        )
        .await?;
        tx.commit().await?;
        Ok(transfers)
    }
}

/// A deletion hold: while one is placed and not released, a pending deletion waits.
#[derive(Debug, Clone, PartialEq)]
pub struct DeletionHoldRecord {
    pub id: Uuid,
    pub user: UserId,
    pub reason: String,
    pub placed_by: UserId,
    pub placed_at: time::OffsetDateTime,
    pub released_by: Option<UserId>,
    pub released_at: Option<time::OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
struct HoldRow {
    id: Uuid,
    user_id: Uuid,
    reason: String,
    placed_by: Uuid,
    placed_at: Timestamp,
    released_by: Option<Uuid>,
    released_at: Option<Timestamp>,
}

impl From<HoldRow> for DeletionHoldRecord {
    fn from(row: HoldRow) -> Self {
        Self {
            id: row.id,
            user: UserId(row.user_id),
            reason: row.reason,
            placed_by: UserId(row.placed_by),
            placed_at: row.placed_at.into(),
            released_by: row.released_by.map(UserId),
            released_at: row.released_at.map(Into::into),
        }
    }
}

const SELECT_HOLDS: &str = "SELECT id, user_id, reason, placed_by, placed_at, released_by, \
                            released_at FROM deletion_holds";

impl Tx {
    async fn hold(&mut self, id: Uuid) -> Result<Option<DeletionHoldRecord>> {
        let row = on_tx!(self, |conn| {
            sqlx::query_as::<_, HoldRow>(sqlx::AssertSqlSafe(format!(
                "{SELECT_HOLDS} WHERE id = $1"
            )))
            .bind(id)
            .fetch_optional(conn)
            .await?
        });
        Ok(row.map(Into::into))
    }

    /// Purges `user` if their deletion is pending, no hold remains and nothing refuses it;
    /// says whether it did, or what refuses it.
    pub(crate) async fn purge_if_unheld(
        &mut self,
        user: UserId,
        entry: &AuditEntry,
    ) -> Result<std::result::Result<bool, Vec<String>>> {
        if self.user_status(user).await? != UserStatus::PendingDeletion {
            return Ok(Ok(false));
        }
        let holds: i64 = on_tx!(self, |conn| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM deletion_holds WHERE user_id = $1 AND released_at IS NULL",
            )
            .bind(user.as_uuid())
            .fetch_one(conn)
            .await?
        });
        if holds > 0 {
            return Ok(Ok(false));
        }
        let plan = self
            .deletion_plan(user, None, Scope::Deletion, Timestamp::from(entry.at))
            .await?;
        if !plan.refusals.is_empty() {
            let refusals: Vec<String> = plan.refusals.iter().map(ToString::to_string).collect();
            tracing::warn!(
                user = %user,
                refusals = ?refusals,
                "a pending deletion cannot be carried out yet"
            );
            return Ok(Err(refusals));
        }
        self.purge_user(&plan, entry).await?;
        Ok(Ok(true))
    }
}

impl Store {
    /// The user asks for their own account to be deleted (the caller checked the password):
    /// it becomes `PENDING_DELETION` at once (no login, sessions and API keys stop), and is
    /// purged in the same step when no deletion hold is placed. Refused for an
    /// organization's owner.
    pub async fn request_account_deletion(
        &self,
        user: UserId,
        justification: &str,
        entry: &AuditEntry,
    ) -> Result<UserRecord> {
        let now = Timestamp::from(entry.at);
        let mut tx = self.begin().await?;
        let to = tx
            .user_status(user)
            .await?
            .transition(UserStatus::PendingDeletion)?;
        tx.refuse_organization_owner(user, None, "deleted").await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE users SET status = $2, deletion_requested_at = $3, \
                 deletion_justification = $4, updated_at = $3 WHERE id = $1",
            )
            .bind(user.as_uuid())
            .bind(to.code())
            .bind(now)
            .bind(justification)
            .execute(conn)
            .await?;
        });
        tx.revoke_sessions(user, None, now).await?;
        tx.audit(
            &entry
                .event(AuditAction::AccountDeletionRequested, AuditOutcome::Success)
                .target("user", user)
                .detail(serde_json::json!({ "justification": justification })),
        )
        .await?;
        tx.commit().await?;
        // The purge is a step of its own: if it fails, the account stays pending and the
        // periodic sweep carries it out.
        self.purge_pending_deletion(
            user,
            &AuditEntry {
                actor: None,
                ..entry.clone()
            },
        )
        .await?;
        self.user_by_id(user)
            .await?
            .ok_or_else(|| DomainError::NotFound { what: "the user" }.into())
    }

    /// Purges `user` if their deletion is pending and nothing holds it; says whether it did.
    pub async fn purge_pending_deletion(&self, user: UserId, entry: &AuditEntry) -> Result<bool> {
        let mut tx = self.begin().await?;
        let purged = tx.purge_if_unheld(user, entry).await?;
        tx.commit().await?;
        Ok(purged == Ok(true))
    }

    /// Purges every pending deletion nothing holds any more; how many were purged. Each
    /// user is a transaction of its own.
    pub async fn purge_unheld_deletions(&self, entry: &AuditEntry) -> Result<usize> {
        let pending: Vec<Uuid> = crate::on_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT id FROM users WHERE status = 'PENDING_DELETION' AND NOT EXISTS \
                 (SELECT 1 FROM deletion_holds h WHERE h.user_id = users.id \
                 AND h.released_at IS NULL) ORDER BY id LIMIT 100",
            )
            .fetch_all(pool)
            .await?
        });
        let mut purged = 0;
        for user in pending {
            if self.purge_pending_deletion(UserId(user), entry).await? {
                purged += 1;
            }
        }
        Ok(purged)
    }

    /// Places a hold on `user`'s deletion (another service: billing, say).
    pub async fn place_deletion_hold(
        &self,
        proof: &PlatformAuthorized,
        user: UserId,
        reason: &str,
        entry: &AuditEntry,
    ) -> Result<DeletionHoldRecord> {
        let mut tx = self.begin().await?;
        if tx.user_status(user).await? == UserStatus::Deleted {
            return Err(DomainError::invalid(
                "user",
                "has been deleted already; there is nothing to hold",
            )
            .into());
        }
        let id = Uuid::now_v7();
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "INSERT INTO deletion_holds (id, user_id, reason, placed_by, placed_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(user.as_uuid())
            .bind(reason)
            .bind(proof.actor().as_uuid())
            .bind(Timestamp::from(entry.at))
            .execute(conn)
            .await?;
        });
        tx.audit(
            &entry
                .event(AuditAction::DeletionHoldPlaced, AuditOutcome::Success)
                .target("user", user)
                .detail(serde_json::json!({ "hold": id.to_string(), "reason": reason })),
        )
        .await?;
        let hold = tx.hold(id).await?.ok_or(DomainError::NotFound {
            what: "the deletion hold",
        })?;
        tx.commit().await?;
        Ok(hold)
    }

    /// Releases a hold; when it was the last one on a pending deletion, the account is
    /// purged in the same transaction.
    pub async fn release_deletion_hold(
        &self,
        proof: &PlatformAuthorized,
        id: Uuid,
        entry: &AuditEntry,
    ) -> Result<DeletionHoldRecord> {
        let mut tx = self.begin().await?;
        let hold = tx.hold(id).await?.ok_or(DomainError::NotFound {
            what: "the deletion hold",
        })?;
        if hold.released_at.is_some() {
            return Err(DomainError::invalid("id", "the hold has been released already").into());
        }
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE deletion_holds SET released_by = $2, released_at = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(proof.actor().as_uuid())
            .bind(Timestamp::from(entry.at))
            .execute(conn)
            .await?;
        });
        tx.audit(
            &entry
                .event(AuditAction::DeletionHoldReleased, AuditOutcome::Success)
                .target("user", hold.user)
                .detail(serde_json::json!({ "hold": id.to_string() })),
        )
        .await?;
        let released = tx.hold(id).await?.ok_or(DomainError::NotFound {
            what: "the deletion hold",
        })?;
        // A purge still refused leaves the account pending; the consistency report lists it.
        let _purged = tx
            .purge_if_unheld(
                hold.user,
                &AuditEntry {
                    actor: None,
                    ..entry.clone()
                },
            )
            .await?;
        tx.commit().await?;
        Ok(released)
    }

    /// The holds placed on `user`'s deletion, released ones too, oldest first.
    pub async fn deletion_holds_of(&self, user: UserId) -> Result<Vec<DeletionHoldRecord>> {
        let rows = crate::on_pool!(self, |pool| {
            sqlx::query_as::<_, HoldRow>(sqlx::AssertSqlSafe(format!(
                "{SELECT_HOLDS} WHERE user_id = $1 ORDER BY id"
            )))
            .bind(user.as_uuid())
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// A SuperAdmin takes back a pending deletion: the account is `ACTIVE` again.
    pub async fn restore_user(
        &self,
        _proof: &PlatformAuthorized,
        user: UserId,
        entry: &AuditEntry,
    ) -> Result<UserRecord> {
        let now = Timestamp::from(entry.at);
        let mut tx = self.begin().await?;
        let from = tx
            .require_status(
                user,
                UserStatus::PendingDeletion,
                UserStatus::Active,
                "only a user whose deletion is pending can be restored",
            )
            .await?;
        let to = from.transition(UserStatus::Active)?;
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE users SET status = $2, deletion_requested_at = NULL, \
                 deletion_justification = NULL, updated_at = $3 WHERE id = $1",
            )
            .bind(user.as_uuid())
            .bind(to.code())
            .bind(now)
            .execute(conn)
            .await?;
        });
        tx.audit(
            &entry
                .event(AuditAction::UserRestored, AuditOutcome::Success)
                .target("user", user),
        )
        .await?;
        tx.notify_user(user, &Notification::Reactivated, entry.at)
            .await?;
        tx.commit_returning(user).await
    }
}
