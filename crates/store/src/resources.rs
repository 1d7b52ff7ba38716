//! The resource registry: kinds, and the resources the platform's services register for
//! their owners.

use sqlx::QueryBuilder;
use steward_domain::audit::{AuditAction, AuditOutcome};
use steward_domain::policy::{Authorized, ManageResources, PlatformAuthorized};
use steward_domain::resource::{KindCode, KindRules, check_not_deleted};
use steward_domain::{DomainError, OrganizationId, ProjectId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{AuditEntry, Result, Store, Timestamp, Tx, on_pool, on_tx};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ResourceKindRecord {
    pub code: String,
    pub name: String,
    pub transferable: bool,
    pub disable_before_transfer: bool,
    pub application_level: bool,
}

impl ResourceKindRecord {
    pub fn rules(&self) -> KindRules {
        KindRules {
            transferable: self.transferable,
            disable_before_transfer: self.disable_before_transfer,
            application_level: self.application_level,
        }
    }
}

/// A resource to register, or to update when its `(kind, external_id)` is known already.
#[derive(Debug, Clone)]
pub struct NewResource {
    pub kind: KindCode,
    pub name: String,
    pub external_id: String,
    pub project: Option<ProjectId>,
    /// None exactly for application-level kinds.
    pub owner: Option<UserId>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResourceRecord {
    pub id: Uuid,
    pub kind: String,
    pub name: String,
    pub external_id: String,
    pub organization: OrganizationId,
    pub project: Option<ProjectId>,
    /// None for a resource of an application-level kind.
    pub owner: Option<UserId>,
    pub enabled: bool,
    /// The transfer that last moved it, if one did.
    pub last_transfer: Option<Uuid>,
    /// When its organization was deleted.
    pub deleted_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ResourceRow {
    id: Uuid,
    kind: String,
    name: String,
    external_id: String,
    organization_id: Uuid,
    project_id: Option<Uuid>,
    owner_user_id: Option<Uuid>,
    enabled: bool,
    last_transfer_id: Option<Uuid>,
    deleted_at: Option<Timestamp>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl From<ResourceRow> for ResourceRecord {
    fn from(row: ResourceRow) -> Self {
        Self {
            id: row.id,
            kind: row.kind,
            name: row.name,
            external_id: row.external_id,
            organization: OrganizationId(row.organization_id),
            project: row.project_id.map(ProjectId),
            owner: row.owner_user_id.map(UserId),
            enabled: row.enabled,
            last_transfer: row.last_transfer_id,
            deleted_at: row.deleted_at.map(Into::into),
            created_at: row.created_at.into(),
            updated_at: row.updated_at.into(),
        }
    }
}

macro_rules! resource_columns {
    () => {
        "id, kind, name, external_id, organization_id, project_id, owner_user_id, enabled, \
         last_transfer_id, deleted_at, created_at, updated_at"
    };
}
pub(crate) use resource_columns;

macro_rules! select_resources {
    () => {
        concat!("SELECT ", resource_columns!(), " FROM resources")
    };
}

/// The `columns` of the shares with the user bound as `$n`: directly, or through a group
/// they are in that is not archived.
macro_rules! shared_with {
    ($columns:literal, $n:literal) => {
        concat!(
            "SELECT ",
            $columns,
            " FROM resource_shares WHERE user_id = ",
            $n,
            " OR group_id IN (SELECT gm.group_id FROM group_members gm \
             JOIN groups g ON g.id = gm.group_id WHERE gm.user_id = ",
            $n,
            " AND g.archived_at IS NULL)"
        )
    };
}

/// The conditions of [`ResourceFilter`] on `resources`, with the organization bound as `$1`
/// and the filter's fields as `$2` to `$5`, so the page and its count agree.
macro_rules! resource_filter {
    () => {
        concat!(
            " WHERE organization_id = $1 AND deleted_at IS NULL \
             AND ($2 IS NULL OR owner_user_id = $2) AND ($3 IS NULL OR kind = $3) \
             AND ($4 IS NULL OR project_id = $4) AND ($5 IS NULL OR id IN (",
            shared_with!("resource_id", "$5"),
            "))"
        )
    };
}

/// Which of an organization's resources to list; every field given narrows the list.
#[derive(Debug, Clone, Default)]
pub struct ResourceFilter {
    pub owner: Option<UserId>,
    pub kind: Option<String>,
    pub project: Option<ProjectId>,
    /// Shared with this user, directly or through one of their groups.
    pub shared_with: Option<UserId>,
}

/// What `updateResource` changes; `None` leaves a value as it is, and `Some(None)` takes the
/// resource out of its project. The owner is not among them: a transfer changes it.
#[derive(Debug, Clone, Default)]
pub struct ResourceChanges {
    pub name: Option<String>,
    pub project: Option<Option<ProjectId>>,
    pub enabled: Option<bool>,
}

impl Tx {
    pub(crate) async fn resource_kind(&mut self, code: &KindCode) -> Result<ResourceKindRecord> {
        let kind = on_tx!(self, |conn| {
            sqlx::query_as::<_, ResourceKindRecord>(
                "SELECT code, name, transferable, disable_before_transfer, application_level \
                 FROM resource_kinds WHERE code = $1",
            )
            .bind(code.as_str())
            .fetch_optional(conn)
            .await?
        });
        kind.ok_or_else(|| {
            DomainError::invalid(
                "kind",
                format!(
                    "{} is not a known resource kind; list them with resourceKinds, or ask a \
                     SuperAdmin to add it",
                    code.as_str()
                ),
            )
            .into()
        })
    }

    pub(crate) async fn resource(&mut self, id: Uuid) -> Result<Option<ResourceRecord>> {
        let row = on_tx!(self, |conn| {
            sqlx::query_as::<_, ResourceRow>(concat!(select_resources!(), " WHERE id = $1"))
                .bind(id)
                .fetch_optional(conn)
                .await?
        });
        Ok(row.map(Into::into))
    }

    /// The resource `id` of `organization`; NotFound when it is another organization's.
    pub(crate) async fn resource_in(
        &mut self,
        organization: OrganizationId,
        id: Uuid,
    ) -> Result<ResourceRecord> {
        Ok(self
            .resource(id)
            .await?
            .filter(|record| record.organization == organization)
            .ok_or(DomainError::NotFound {
                what: "the resource",
            })?)
    }

    /// Checks that `owner`, if any, is an active member of `organization` and `project` one
    /// of its projects.
    async fn check_placement(
        &mut self,
        organization: OrganizationId,
        owner: Option<UserId>,
        project: Option<ProjectId>,
    ) -> Result<()> {
        if let Some(owner) = owner {
            self.check_active_member(organization, owner, "owner")
                .await?;
        }
        if let Some(project) = project {
            let found: Option<Uuid> = on_tx!(self, |conn| {
                sqlx::query_scalar("SELECT organization_id FROM projects WHERE id = $1")
                    .bind(project.as_uuid())
                    .fetch_optional(conn)
                    .await?
            });
            if found != Some(organization.as_uuid()) {
                return Err(DomainError::NotFound {
                    what: "the project",
                }
                .into());
            }
        }
        Ok(())
    }

    /// Checks that `user` is an active member of `organization`; `field` names the input.
    /// On PostgreSQL the membership row stays share-locked to the end of the transaction,
    /// so a deletion or removal of the user running at the same time (which locks it for
    /// update first) is either seen whole or waited for. SQLite runs one writer at a time.
    pub(crate) async fn check_active_member(
        &mut self,
        organization: OrganizationId,
        user: UserId,
        field: &'static str,
    ) -> Result<()> {
        const READ: &str =
            "SELECT status FROM memberships WHERE organization_id = $1 AND user_id = $2";
        let membership: Option<String> =
            match self {
                Tx::Sqlite(tx) => {
                    sqlx::query_scalar(READ)
                        .bind(organization.as_uuid())
                        .bind(user.as_uuid())
                        .fetch_optional(&mut **tx)
                        .await?
                }
                Tx::Postgres(tx) => sqlx::query_scalar(concat!(
                    "SELECT status FROM memberships WHERE organization_id = $1 AND user_id = $2",
                    " FOR SHARE"
                ))
                .bind(organization.as_uuid())
                .bind(user.as_uuid())
                .fetch_optional(&mut **tx)
                .await?,
            };
        if membership.as_deref() != Some("ACTIVE") {
            return Err(DomainError::invalid(
                field,
                "must be an active member of the resource's organization",
            )
            .into());
        }
        Ok(())
    }
}

impl Store {
    pub async fn resource_kinds(&self) -> Result<Vec<ResourceKindRecord>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as::<_, ResourceKindRecord>(
                "SELECT code, name, transferable, disable_before_transfer, application_level \
                 FROM resource_kinds ORDER BY code",
            )
            .fetch_all(pool)
            .await?
        }))
    }

    /// Adds a kind of resource.
    pub async fn create_resource_kind(
        &self,
        _proof: &PlatformAuthorized,
        code: &KindCode,
        name: &str,
        rules: KindRules,
        entry: &AuditEntry,
    ) -> Result<ResourceKindRecord> {
        let rules = rules.validate()?;
        let mut tx = self.begin().await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "INSERT INTO resource_kinds (code, name, transferable, disable_before_transfer, \
                 application_level, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(code.as_str())
            .bind(name)
            .bind(rules.transferable)
            .bind(rules.disable_before_transfer)
            .bind(rules.application_level)
            .bind(Timestamp::from(entry.at))
            .execute(conn)
            .await
            .map_err(|error| {
                crate::error::on_unique(
                    error,
                    &[
                        ("resource_kinds.code", "kind", "exists already"),
                        ("resource_kinds_pkey", "kind", "exists already"),
                    ],
                )
            })?;
        });
        tx.audit(
            &entry
                .event(AuditAction::ResourceKindCreated, AuditOutcome::Success)
                .target("resource_kind", code.as_str()),
        )
        .await?;
        let kind = tx.resource_kind(code).await?;
        tx.commit().await?;
        Ok(kind)
    }

    /// Registers a resource in the proof's organization, or updates it (name, project,
    /// owner) when its `(kind, external_id)` is registered already: a service may repeat a
    /// registration safely. A proof confined to a project registers in that project only,
    /// and updates only a resource already there.
    pub async fn register_resource(
        &self,
        proof: &Authorized<ManageResources>,
        resource: &NewResource,
        entry: &AuditEntry,
    ) -> Result<ResourceRecord> {
        let organization = proof.organization();
        let now = Timestamp::from(entry.at);
        let mut tx = self.begin().await?;
        tx.refuse_deleted_organization(organization).await?;
        proof.check_covers(resource.project)?;
        let kind = tx.resource_kind(&resource.kind).await?;
        kind.rules()
            .check_owner(&kind.code, resource.owner.is_some())?;
        tx.check_placement(organization, resource.owner, resource.project)
            .await?;
        let existing: Option<(Uuid, Uuid, Option<Uuid>)> = on_tx!(&mut tx, |conn| {
            sqlx::query_as(
                "SELECT id, organization_id, project_id FROM resources \
                 WHERE kind = $1 AND external_id = $2",
            )
            .bind(resource.kind.as_str())
            .bind(resource.external_id.as_str())
            .fetch_optional(conn)
            .await?
        });
        let (id, action) = match existing {
            Some((_, other, _)) if other != organization.as_uuid() => {
                return Err(DomainError::conflict(
                    "externalId",
                    "is registered for a resource of this kind elsewhere; use another id",
                )
                .into());
            }
            Some((id, _, project)) => {
                proof.check_covers(project.map(ProjectId))?;
                on_tx!(&mut tx, |conn| {
                    sqlx::query(
                        "UPDATE resources SET name = $2, project_id = $3, owner_user_id = $4, \
                         last_transfer_id = CASE WHEN owner_user_id = $4 \
                         THEN last_transfer_id END, updated_at = $5 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(resource.name.as_str())
                    .bind(resource.project.map(|project| project.as_uuid()))
                    .bind(resource.owner.map(|owner| owner.as_uuid()))
                    .bind(now)
                    .execute(conn)
                    .await?;
                });
                (id, AuditAction::ResourceUpdated)
            }
            None => {
                let id = Uuid::now_v7();
                on_tx!(&mut tx, |conn| {
                    sqlx::query(
                        "INSERT INTO resources (id, kind, name, external_id, organization_id, \
                         project_id, owner_user_id, enabled, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
                    )
                    .bind(id)
                    .bind(resource.kind.as_str())
                    .bind(resource.name.as_str())
                    .bind(resource.external_id.as_str())
                    .bind(organization.as_uuid())
                    .bind(resource.project.map(|project| project.as_uuid()))
                    .bind(resource.owner.map(|owner| owner.as_uuid()))
                    .bind(true)
                    .bind(now)
                    .execute(conn)
                    .await?;
                });
                (id, AuditAction::ResourceRegistered)
            }
        };
        tx.audit(
            &entry
                .event(action, AuditOutcome::Success)
                .target("resource", id)
                .organization(organization)
                .detail(serde_json::json!({
                    "kind": resource.kind.as_str(),
                    "externalId": resource.external_id,
                    "owner": resource.owner.map(|owner| owner.to_string()),
                })),
        )
        .await?;
        let record = tx.resource(id).await?.ok_or(DomainError::NotFound {
            what: "the resource",
        })?;
        tx.commit().await?;
        Ok(record)
    }

    /// Removes a resource of the proof's organization from the registry.
    pub async fn delete_resource(
        &self,
        proof: &Authorized<ManageResources>,
        id: Uuid,
        entry: &AuditEntry,
    ) -> Result<ResourceRecord> {
        let mut tx = self.begin().await?;
        tx.refuse_deleted_organization(proof.organization()).await?;
        let record = tx.resource_in(proof.organization(), id).await?;
        proof.check_covers(record.project)?;
        on_tx!(&mut tx, |conn| {
            sqlx::query("DELETE FROM resources WHERE id = $1")
                .bind(id)
                .execute(conn)
                .await?;
        });
        tx.audit(
            &entry
                .event(AuditAction::ResourceDeleted, AuditOutcome::Success)
                .target("resource", id)
                .organization(record.organization)
                .detail(serde_json::json!({
                    "kind": record.kind,
                    "externalId": record.external_id,
                })),
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Changes a resource of the proof's organization: its name, its project (one of the
    /// organization's), whether it is enabled (a service re-enables a schedule a transfer
    /// disabled). A resource of a deleted organization no longer changes. A proof confined
    /// to a project changes only a resource in it, and does not move it out.
    pub async fn update_resource(
        &self,
        proof: &Authorized<ManageResources>,
        id: Uuid,
        changes: &ResourceChanges,
        entry: &AuditEntry,
    ) -> Result<ResourceRecord> {
        let mut tx = self.begin().await?;
        tx.refuse_deleted_organization(proof.organization()).await?;
        let record = tx.resource_in(proof.organization(), id).await?;
        check_not_deleted(record.deleted_at.is_some())?;
        let project = changes.project.unwrap_or(record.project);
        proof.check_covers(record.project)?;
        proof.check_covers(project)?;
        tx.check_placement(record.organization, None, project)
            .await?;
        let name = changes.name.as_deref().unwrap_or(&record.name);
        let enabled = changes.enabled.unwrap_or(record.enabled);
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE resources SET name = $2, project_id = $3, enabled = $4, updated_at = $5 \
                 WHERE id = $1",
            )
            .bind(id)
            .bind(name)
            .bind(project.map(|project| project.as_uuid()))
            .bind(enabled)
            .bind(Timestamp::from(entry.at))
            .execute(conn)
            .await?;
        });
        tx.audit(
            &entry
                .event(AuditAction::ResourceUpdated, AuditOutcome::Success)
                .target("resource", id)
                .organization(record.organization)
                .detail(serde_json::json!({
                    "kind": record.kind,
                    "externalId": record.external_id,
                    "name": name,
                    "project": project.map(|project| project.to_string()),
                    "enabled": enabled,
                })),
        )
        .await?;
        let updated = tx.resource(id).await?.ok_or(DomainError::NotFound {
            what: "the resource",
        })?;
        tx.commit().await?;
        Ok(updated)
    }

    pub async fn resource_by_id(&self, id: Uuid) -> Result<Option<ResourceRecord>> {
        let row = on_pool!(self, |pool| {
            sqlx::query_as::<_, ResourceRow>(concat!(select_resources!(), " WHERE id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(Into::into))
    }

    /// A page of an organization's resources in registration order, and how many match;
    /// resources marked deleted are left out.
    pub async fn resources_page(
        &self,
        organization: OrganizationId,
        filter: &ResourceFilter,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<(Vec<ResourceRecord>, i64)> {
        let owner = filter.owner.map(|owner| owner.as_uuid());
        let project = filter.project.map(|project| project.as_uuid());
        let kind = filter.kind.as_deref();
        let shared_with = filter.shared_with.map(|user| user.as_uuid());
        let (rows, total) = on_pool!(self, |pool| {
            let rows = sqlx::query_as::<_, ResourceRow>(concat!(
                select_resources!(),
                resource_filter!(),
                " AND ($6 IS NULL OR id > $6) ORDER BY id LIMIT $7"
            ))
            .bind(organization.as_uuid())
            .bind(owner)
            .bind(kind)
            .bind(project)
            .bind(shared_with)
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            let total: i64 = sqlx::query_scalar(concat!(
                "SELECT COUNT(*) FROM resources",
                resource_filter!()
            ))
            .bind(organization.as_uuid())
            .bind(owner)
            .bind(kind)
            .bind(project)
            .bind(shared_with)
            .fetch_one(pool)
            .await?;
            (rows, total)
        });
        Ok((rows.into_iter().map(Into::into).collect(), total))
    }

    /// Every resource these users own, in any organization, optionally of one kind, by kind
    /// and id; resources marked deleted are left out. One statement, for a DataLoader.
    pub async fn owned_resources(
        &self,
        users: &[UserId],
        kind: Option<&str>,
    ) -> Result<Vec<ResourceRecord>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let rows = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new(concat!(
                select_resources!(),
                " WHERE deleted_at IS NULL AND "
            ));
            if let Some(kind) = kind {
                query.push("kind = ").push_bind(kind).push(" AND ");
            }
            query.push("owner_user_id IN (");
            push_in_list!(query, users.iter().map(|user| user.as_uuid()));
            query.push(" ORDER BY kind, id");
            query
                .build_query_as::<ResourceRow>()
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// A page of the resources `user` owns because a transfer gave them, and how many.
    pub(crate) async fn resources_where_transferred_to(
        &self,
        user: UserId,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<(Vec<ResourceRecord>, i64)> {
        let (rows, total) = on_pool!(self, |pool| {
            let rows = sqlx::query_as::<_, ResourceRow>(concat!(
                select_resources!(),
                " WHERE owner_user_id = $1 AND last_transfer_id IS NOT NULL \
                 AND deleted_at IS NULL AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3"
            ))
            .bind(user.as_uuid())
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            let total: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM resources WHERE owner_user_id = $1 \
                 AND last_transfer_id IS NOT NULL AND deleted_at IS NULL",
            )
            .bind(user.as_uuid())
            .fetch_one(pool)
            .await?;
            (rows, total)
        });
        Ok((rows.into_iter().map(Into::into).collect(), total))
    }
}
