//! Moving resources from one owner to another: one transfer per organization and previous
//! owner, its items, and the history a resource and a new owner can look at.

use std::collections::BTreeMap;

use sqlx::QueryBuilder;
use steward_domain::audit::{AuditAction, AuditOutcome};
use steward_domain::deletion::TransferReason;
use steward_domain::notification::Notification;
use steward_domain::policy::{Authorized, ManageResources};
use steward_domain::resource::{KindCode, check_named_in_transfer};
use steward_domain::{DomainError, OrganizationId, ProjectId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::resources::ResourceRecord;
use crate::{AuditEntry, Result, Store, StoreError, Timestamp, Tx, on_pool, on_tx};

/// One move of resources: of one previous owner, in one organization, to one new owner.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferRecord {
    pub id: Uuid,
    pub organization: OrganizationId,
    /// None when the resources had no owner.
    pub from: Option<UserId>,
    pub to: UserId,
    pub reason: TransferReason,
    /// None when Steward moved them itself (purging a self-service deletion).
    pub initiated_by: Option<UserId>,
    pub resource_count: i64,
    pub at: OffsetDateTime,
}

/// A transfer as it touched one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferItemRecord {
    pub transfer: TransferRecord,
    pub resource: Uuid,
    /// The resource was disabled before it moved (its kind asks for that: schedules).
    pub disabled: bool,
}

/// Which resources to transfer.
#[derive(Debug, Clone)]
pub enum TransferSelection {
    /// These resources, wherever their owners are.
    Resources(Vec<Uuid>),
    /// Every transferable resource `user` owns in the proof's organization.
    AllOf(UserId),
}

#[derive(sqlx::FromRow)]
struct TransferRow {
    id: Uuid,
    organization_id: Uuid,
    from_user_id: Option<Uuid>,
    to_user_id: Uuid,
    reason: String,
    initiated_by: Option<Uuid>,
    resource_count: i64,
    at: Timestamp,
}

impl TryFrom<TransferRow> for TransferRecord {
    type Error = StoreError;

    fn try_from(row: TransferRow) -> Result<Self> {
        Ok(Self {
            id: row.id,
            organization: OrganizationId(row.organization_id),
            from: row.from_user_id.map(UserId),
            to: UserId(row.to_user_id),
            reason: TransferReason::from_code(&row.reason)
                .ok_or_else(|| StoreError::Corrupt(format!("transfer reason {:?}", row.reason)))?,
            initiated_by: row.initiated_by.map(UserId),
            resource_count: row.resource_count,
            at: row.at.into(),
        })
    }
}

macro_rules! select_transfers {
    ($alias:literal) => {
        concat!(
            "SELECT ",
            $alias,
            ".id, ",
            $alias,
            ".organization_id, ",
            $alias,
            ".from_user_id, ",
            $alias,
            ".to_user_id, ",
            $alias,
            ".reason, ",
            $alias,
            ".initiated_by, ",
            $alias,
            ".resource_count, ",
            $alias,
            ".at"
        )
    };
}

/// A transfer being written: its row first, then its items, then the move itself.
pub(crate) struct PendingTransfer {
    id: Uuid,
    organization: OrganizationId,
    from: Option<UserId>,
    to: UserId,
}

impl Tx {
    /// Checks that `user` may receive resources in `organization`: an active user with an
    /// active membership there.
    pub(crate) async fn check_recipient(
        &mut self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<()> {
        self.check_active_member(organization, user, "to").await?;
        let status = self.user_status(user).await?;
        if status != steward_domain::user::UserStatus::Active {
            return Err(DomainError::invalid(
                "to",
                "must be an active user; the new owner's account is not active",
            )
            .into());
        }
        Ok(())
    }

    /// Starts a transfer of `from`'s resources in `organization` to `to`.
    pub(crate) async fn begin_transfer(
        &mut self,
        organization: OrganizationId,
        from: Option<UserId>,
        to: UserId,
        reason: TransferReason,
        initiated_by: Option<UserId>,
        at: Timestamp,
    ) -> Result<PendingTransfer> {
        let id = Uuid::now_v7();
        on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO resource_transfers (id, organization_id, from_user_id, to_user_id, \
                 reason, initiated_by, resource_count, at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7)",
            )
            .bind(id)
            .bind(organization.as_uuid())
            .bind(from.map(|user| user.as_uuid()))
            .bind(to.as_uuid())
            .bind(reason.code())
            .bind(initiated_by.map(|user| user.as_uuid()))
            .bind(at)
            .execute(conn)
            .await?;
        });
        Ok(PendingTransfer {
            id,
            organization,
            from,
            to,
        })
    }

    /// Adds the transferable, undeleted resources of the transfer's previous owner in its
    /// organization — only `resource`, when given — and notes which must be disabled first.
    pub(crate) async fn add_transfer_items(
        &mut self,
        transfer: &PendingTransfer,
        resource: Option<Uuid>,
    ) -> Result<()> {
        on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO resource_transfer_items (transfer_id, resource_id, disabled) \
                 SELECT $1, r.id, CASE WHEN k.disable_before_transfer AND r.enabled \
                 THEN $5 ELSE $6 END \
                 FROM resources r JOIN resource_kinds k ON k.code = r.kind \
                 WHERE r.organization_id = $2 AND r.owner_user_id = $3 AND r.deleted_at IS NULL \
                 AND k.transferable AND ($4 IS NULL OR r.id = $4)",
            )
            .bind(transfer.id)
            .bind(transfer.organization.as_uuid())
            .bind(transfer.from.map(|user| user.as_uuid()))
            .bind(resource)
            .bind(true)
            .bind(false)
            .execute(conn)
            .await?;
        });
        Ok(())
    }

    /// Moves the transfer's items to the new owner, disabling first those that must be; the
    /// new owner's shares of them end (they own them now). None when nothing moved.
    pub(crate) async fn finish_transfer(
        &mut self,
        transfer: PendingTransfer,
        at: Timestamp,
    ) -> Result<Option<TransferRecord>> {
        let id = transfer.id;
        let to = transfer.to.as_uuid();
        let count: i64 = on_tx!(self, |conn| {
            sqlx::query(
                "UPDATE resources SET enabled = $3 WHERE id IN (SELECT resource_id \
                 FROM resource_transfer_items WHERE transfer_id = $1 AND disabled = $2)",
            )
            .bind(id)
            .bind(true)
            .bind(false)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "UPDATE resources SET owner_user_id = $2, last_transfer_id = $1, updated_at = $3 \
                 WHERE id IN (SELECT resource_id FROM resource_transfer_items WHERE transfer_id = $1)",
            )
            .bind(id)
            .bind(to)
            .bind(at)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "DELETE FROM resource_shares WHERE user_id = $2 AND resource_id IN \
                 (SELECT resource_id FROM resource_transfer_items WHERE transfer_id = $1)",
            )
            .bind(id)
            .bind(to)
            .execute(&mut *conn)
            .await?;
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM resource_transfer_items WHERE transfer_id = $1",
            )
            .bind(id)
            .fetch_one(&mut *conn)
            .await?
        });
        if count == 0 {
            on_tx!(self, |conn| {
                sqlx::query("DELETE FROM resource_transfers WHERE id = $1")
                    .bind(id)
                    .execute(conn)
                    .await?;
            });
            return Ok(None);
        }
        let row = on_tx!(self, |conn| {
            sqlx::query_as::<_, TransferRow>(concat!(
                "UPDATE resource_transfers SET resource_count = $2 WHERE id = $1 RETURNING ",
                "id, organization_id, from_user_id, to_user_id, reason, initiated_by, \
                 resource_count, at"
            ))
            .bind(id)
            .bind(count)
            .fetch_one(conn)
            .await?
        });
        row.try_into().map(Some)
    }

    /// Moves every transferable resource of `from` in `organization` to `to`, in full.
    pub(crate) async fn transfer_all(
        &mut self,
        organization: OrganizationId,
        from: UserId,
        to: UserId,
        reason: TransferReason,
        initiated_by: Option<UserId>,
        at: Timestamp,
    ) -> Result<Option<TransferRecord>> {
        let transfer = self
            .begin_transfer(organization, Some(from), to, reason, initiated_by, at)
            .await?;
        self.add_transfer_items(&transfer, None).await?;
        self.finish_transfer(transfer, at).await
    }

    pub(crate) async fn username(&mut self, user: UserId) -> Result<String> {
        Ok(on_tx!(self, |conn| {
            sqlx::query_scalar("SELECT username FROM users WHERE id = $1")
                .bind(user.as_uuid())
                .fetch_one(conn)
                .await?
        }))
    }

    /// Audits a finished transfer.
    pub(crate) async fn audit_transfer(
        &mut self,
        transfer: &TransferRecord,
        entry: &AuditEntry,
    ) -> Result<()> {
        self.audit(
            &entry
                .event(AuditAction::ResourcesTransferred, AuditOutcome::Success)
                .target("resource_transfer", transfer.id)
                .organization(transfer.organization)
                .detail(serde_json::json!({
                    "from": transfer.from.map(|user| user.to_string()),
                    "to": transfer.to.to_string(),
                    "reason": transfer.reason.code(),
                    "resources": transfer.resource_count,
                })),
        )
        .await
    }
}

impl Store {
    /// Where these resources are, those that exist: each distinct organization and project
    /// (None: in no project), for authorizing a transfer before it starts.
    pub async fn resource_placements(
        &self,
        ids: &[Uuid],
    ) -> Result<Vec<(OrganizationId, Option<ProjectId>)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let placements: Vec<(Uuid, Option<Uuid>)> = on_pool!(self, |pool| {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT DISTINCT organization_id, project_id FROM resources WHERE id IN (",
            );
            push_in_list!(query, ids.iter().copied());
            query.push(" ORDER BY organization_id, project_id");
            query.build_query_as().fetch_all(pool).await?
        });
        Ok(placements
            .into_iter()
            .map(|(organization, project)| (OrganizationId(organization), project.map(ProjectId)))
            .collect())
    }

    /// Transfers resources to `to`, atomically: every resource must be in an organization
    /// and project a proof of `proofs` covers, of a transferable kind, not owned by `to` already, and `to` must be an
    /// active member of its organization. One transfer is recorded per organization and
    /// previous owner; the new owner is told.
    pub async fn transfer_resources(
        &self,
        proofs: &[Authorized<ManageResources>],
        selection: &TransferSelection,
        to: UserId,
        entry: &AuditEntry,
    ) -> Result<Vec<TransferRecord>> {
        let now = Timestamp::from(entry.at);
        let may_manage = |record: &ResourceRecord| {
            proofs.iter().any(|proof| {
                proof.organization() == record.organization && proof.covers(record.project)
            })
        };
        let mut tx = self.begin().await?;
        // (organization, previous owner) -> the selected resources, or None for all.
        let mut moves: BTreeMap<(Uuid, Option<Uuid>), Option<Vec<Uuid>>> = BTreeMap::new();
        match selection {
            TransferSelection::Resources(ids) => {
                check_named_in_transfer(ids.len())?;
                let mut ids = ids.clone();
                ids.sort_unstable();
                ids.dedup();
                for id in &ids {
                    let record = tx
                        .resource(*id)
                        .await?
                        .filter(|record| record.deleted_at.is_none())
                        .filter(|record| may_manage(record))
                        .ok_or(DomainError::NotFound {
                            what: "the resource",
                        })?;
                    tx.check_transferable(&record, to).await?;
                    moves
                        .entry((
                            record.organization.as_uuid(),
                            record.owner.map(|owner| owner.as_uuid()),
                        ))
                        .or_insert_with(|| Some(Vec::new()))
                        .get_or_insert_with(Vec::new)
                        .push(record.id);
                }
            }
            TransferSelection::AllOf(from) => {
                let [proof] = proofs else {
                    return Err(DomainError::invalid(
                        "organization",
                        "name the one organization whose resources move",
                    )
                    .into());
                };
                // All of a user's resources reach past any one project.
                proof.check_covers(None)?;
                if *from == to {
                    return Err(DomainError::invalid(
                        "to",
                        "is the user whose resources move; choose another new owner",
                    )
                    .into());
                }
                moves.insert((proof.organization().as_uuid(), Some(from.as_uuid())), None);
            }
        }
        let mut transfers = Vec::new();
        for ((organization, from), selected) in moves {
            let organization = OrganizationId(organization);
            tx.check_recipient(organization, to).await?;
            let transfer = tx
                .begin_transfer(
                    organization,
                    from.map(UserId),
                    to,
                    TransferReason::Transfer,
                    entry.actor,
                    now,
                )
                .await?;
            match selected {
                None => tx.add_transfer_items(&transfer, None).await?,
                Some(ids) => {
                    for id in ids {
                        tx.add_transfer_items(&transfer, Some(id)).await?;
                    }
                }
            }
            if let Some(transfer) = tx.finish_transfer(transfer, now).await? {
                tx.audit_transfer(&transfer, entry).await?;
                let from = match transfer.from {
                    Some(from) => tx.username(from).await?,
                    None => "the application".to_owned(),
                };
                let by = match entry.actor {
                    Some(actor) => tx.username(actor).await?,
                    None => "Steward".to_owned(),
                };
                tx.notify_user(
                    to,
                    &Notification::ResourcesTransferred {
                        from,
                        by,
                        resources: u32::try_from(transfer.resource_count).unwrap_or(u32::MAX),
                    },
                    entry.at,
                )
                .await?;
                transfers.push(transfer);
            }
        }
        tx.commit().await?;
        Ok(transfers)
    }

    /// The transfers that moved `resource`, oldest first.
    pub async fn transfer_history(&self, resource: Uuid) -> Result<Vec<TransferItemRecord>> {
        self.transfer_histories(&[resource]).await
    }

    /// The transfers that moved each of `resources`, oldest first, in one statement, for
    /// DataLoaders.
    pub async fn transfer_histories(&self, resources: &[Uuid]) -> Result<Vec<TransferItemRecord>> {
        #[derive(sqlx::FromRow)]
        struct ItemRow {
            #[sqlx(flatten)]
            transfer: TransferRow,
            resource_id: Uuid,
            disabled: bool,
        }
        if resources.is_empty() {
            return Ok(Vec::new());
        }
        let rows = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new(concat!(
                select_transfers!("t"),
                ", i.resource_id, i.disabled FROM resource_transfer_items i \
                 JOIN resource_transfers t ON t.id = i.transfer_id WHERE i.resource_id IN ("
            ));
            push_in_list!(query, resources.iter().copied());
            query.push(" ORDER BY t.id");
            query.build_query_as::<ItemRow>().fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|row| {
                Ok(TransferItemRecord {
                    transfer: row.transfer.try_into()?,
                    resource: row.resource_id,
                    disabled: row.disabled,
                })
            })
            .collect()
    }

    pub async fn transfer_by_id(&self, id: Uuid) -> Result<Option<TransferRecord>> {
        let row = on_pool!(self, |pool| {
            sqlx::query_as::<_, TransferRow>(concat!(
                select_transfers!("t"),
                " FROM resource_transfers t WHERE t.id = $1"
            ))
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        row.map(TryInto::try_into).transpose()
    }

    /// A page of the resources `user` owns because a transfer gave them, in id order, and
    /// how many there are.
    pub async fn transferred_resources_page(
        &self,
        user: UserId,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<(Vec<ResourceRecord>, i64)> {
        self.resources_where_transferred_to(user, after, limit)
            .await
    }
}

impl Tx {
    /// Checks that `record` may go to `to`: its kind is transferable and `to` does not own it.
    async fn check_transferable(&mut self, record: &ResourceRecord, to: UserId) -> Result<()> {
        let code = KindCode::parse(&record.kind)?;
        let kind = self.resource_kind(&code).await?;
        kind.rules().check_transferable(&kind.code)?;
        if record.owner == Some(to) {
            return Err(DomainError::invalid(
                "to",
                format!("owns {} already; choose another new owner", record.name),
            )
            .into());
        }
        Ok(())
    }
}
