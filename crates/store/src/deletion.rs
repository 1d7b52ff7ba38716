//! Deleting a user and removing a member: the plan of what will move, be revoked or be
//! disabled, and carrying out exactly that plan in one transaction.

use std::collections::BTreeMap;

use steward_domain::audit::{AuditAction, AuditOutcome};
use steward_domain::deletion::{PlanRevision, TransferReason, active_api_keys, plan_changed};
use steward_domain::notification::Notification;
use steward_domain::policy::{AccountAuthorized, Authorized, ManageUsers};
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
    /// Why the plan cannot be carried out as it is; empty when it can.
    pub refusals: Vec<String>,
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
    /// Works out what deleting `user` (or removing them from one organization) would do,
    /// with `transfer_to` as the new owner everywhere, or each organization's owner.
    pub(crate) async fn deletion_plan(
        &mut self,
        user: UserId,
        transfer_to: Option<UserId>,
        scope: Scope,
        now: Timestamp,
    ) -> Result<DeletionPlan> {
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
                refusals.push(format!(
                    "the owner of the organization {name} cannot be {}; transfer the \
                     organization's ownership to another member first",
                    scope.doing()
                ));
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
                    None => refusals.push(format!(
                        "the organization {} has no owner to receive the resources; name a \
                         new owner",
                        plan.name
                    )),
                    Some(new_owner) if new_owner == user => refusals.push(format!(
                        "the resources in {} cannot go to the user who is {}; name another \
                         new owner",
                        plan.name,
                        scope.doing()
                    )),
                    Some(new_owner) => {
                        if let Err(StoreError::Domain(_)) =
                            self.check_recipient(organization, new_owner).await
                        {
                            let username = self.username(new_owner).await?;
                            refusals.push(format!(
                                "{username} cannot receive the resources in {}: the new owner \
                                 must be an active user with an active membership there; \
                                 name another new owner",
                                plan.name
                            ));
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

    /// Refuses a plan that cannot be carried out, or is not the plan the client confirmed.
    fn check_plan(
        plan: &DeletionPlan,
        revision: Option<&str>,
        revoke_api_keys: bool,
    ) -> Result<()> {
        if revision.is_some_and(|revision| revision != plan.revision) {
            return Err(plan_changed().into());
        }
        if !plan.refusals.is_empty() {
            return Err(DomainError::forbidden(plan.refusals.join("; ")).into());
        }
        if !plan.api_keys.is_empty() && !revoke_api_keys {
            return Err(active_api_keys().into());
        }
        Ok(())
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
    /// organization's owner).
    pub async fn deletion_plan(
        &self,
        proof: &AccountAuthorized,
        transfer_to: Option<UserId>,
        entry: &AuditEntry,
    ) -> Result<DeletionPlan> {
        let mut tx = self.begin().await?;
        let plan = tx
            .deletion_plan(
                proof.user(),
                transfer_to,
                Scope::Deletion,
                Timestamp::from(entry.at),
            )
            .await?;
        tx.commit().await?;
        Ok(plan)
    }

    /// What removing `user` from the proof's organization would do.
    pub async fn removal_plan(
        &self,
        proof: &Authorized<ManageUsers>,
        user: UserId,
        transfer_to: Option<UserId>,
        entry: &AuditEntry,
    ) -> Result<DeletionPlan> {
        let mut tx = self.begin().await?;
        let plan = tx
            .deletion_plan(
                user,
                transfer_to,
                Scope::Removal(proof.organization()),
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
        let status = tx.user_status(user).await?;
        if status != UserStatus::Suspended {
            return Err(DomainError::InvalidTransition {
                what: "the user's status",
                from: status.code(),
                to: UserStatus::Deleted.code(),
                reason: "only a suspended user can be deleted; suspend the user first",
            }
            .into());
        }
        let plan = tx
            .deletion_plan(
                user,
                transfer_to,
                Scope::Deletion,
                Timestamp::from(entry.at),
            )
            .await?;
        Tx::check_plan(&plan, revision, revoke_api_keys)?;
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
        if user == proof.actor() {
            return Err(DomainError::forbidden(
                "you cannot remove yourself from the organization; ask another administrator",
            )
            .into());
        }
        let now = Timestamp::from(entry.at);
        let mut tx = self.begin().await?;
        let member: Option<Uuid> = on_tx!(&mut tx, |conn| {
            sqlx::query_scalar(
                "SELECT id FROM memberships WHERE organization_id = $1 AND user_id = $2",
            )
            .bind(organization.as_uuid())
            .bind(user.as_uuid())
            .fetch_optional(conn)
            .await?
        });
        if member.is_none() {
            return Err(DomainError::NotFound { what: "the member" }.into());
        }
        let scope = Scope::Removal(organization);
        let plan = tx.deletion_plan(user, transfer_to, scope, now).await?;
        Tx::check_plan(&plan, None, true)?;
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
            &Notification::MembershipDisabled { organization: name },
            entry.at,
        )
        .await?;
        tx.commit().await?;
        Ok(transfers)
    }
}
