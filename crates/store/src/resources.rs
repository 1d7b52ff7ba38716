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
    // The same columns of `resources` aliased `r`, under their own names.
    (r) => {
        "r.id AS id, r.kind AS kind, r.name AS name, r.external_id AS external_id, \
         r.organization_id AS organization_id, r.project_id AS project_id, \
         r.owner_user_id AS owner_user_id, r.enabled AS enabled, \
         r.last_transfer_id AS last_transfer_id, r.deleted_at AS deleted_at, \
         r.created_at AS created_at, r.updated_at AS updated_at"
    };
}
pub(crate) use resource_columns;

macro_rules! select_resources {
    () => {
        concat!("SELECT ", resource_columns!(), " FROM resources")
    };
}

/// Pushes the conditions of a [`ResourceFilter`] on `resources`: of the organization, not
/// marked deleted, and each field given. A field not given adds nothing, so that each
/// combination is a statement of its own, planned for the fields it has. "Shared with" is a
/// union of the user's own shares and their groups' shares (each read through its index), not
/// one condition ORing both, which PostgreSQL answers by reading every share.
macro_rules! push_resource_filter {
    ($query:expr, $organization:expr, $filter:expr) => {{
        let filter: &ResourceFilter = $filter;
        $query
            .push(" WHERE organization_id = ")
            .push_bind($organization.as_uuid())
            .push(" AND deleted_at IS NULL");
        if let Some(owner) = filter.owner {
            $query
                .push(" AND owner_user_id = ")
                .push_bind(owner.as_uuid());
        }
        if let Some(kind) = &filter.kind {
            $query.push(" AND kind = ").push_bind(kind.clone());
        }
        if let Some(project) = filter.project {
            $query
                .push(" AND project_id = ")
                .push_bind(project.as_uuid());
        }
        if let Some(user) = filter.shared_with {
            $query
                .push(" AND id IN (SELECT resource_id FROM resource_shares WHERE user_id = ")
                .push_bind(user.as_uuid())
                .push(
                    " UNION ALL SELECT s.resource_id FROM resource_shares s \
                     JOIN group_members gm ON gm.group_id = s.group_id \
                     JOIN groups g ON g.id = gm.group_id \
                     WHERE g.archived_at IS NULL AND gm.user_id = ",
                )
                .push_bind(user.as_uuid())
                .push(")");
        }
    }};
}

/// Pushes the page statement of [`Store::resources_page`]: by id, after `$after` if some.
macro_rules! push_resources_page {
    ($query:expr, $organization:expr, $filter:expr, $after:expr, $limit:expr) => {{
        $query.push(select_resources!());
        push_resource_filter!($query, $organization, $filter);
        if let Some(after) = $after {
            $query.push(" AND id > ").push_bind(after);
        }
        $query.push(" ORDER BY id LIMIT ").push_bind($limit);
    }};
}

/// Pushes the count statement of [`Store::resources_page`].
macro_rules! push_resources_count {
    ($query:expr, $organization:expr, $filter:expr) => {{
        $query.push("SELECT COUNT(*) FROM resources");
        push_resource_filter!($query, $organization, $filter);
    }};
}

/// Pushes the statement of [`Store::owned_resources`].
macro_rules! push_owned_resources {
    ($query:expr, $users:expr, $kind:expr) => {{
        $query.push(concat!(
            select_resources!(),
            " WHERE deleted_at IS NULL AND "
        ));
        if let Some(kind) = $kind {
            $query.push("kind = ").push_bind(kind).push(" AND ");
        }
        $query.push("owner_user_id IN (");
        push_in_list!($query, $users.iter().map(|user| user.as_uuid()));
        $query.push(" ORDER BY kind, id");
    }};
}

/// Pushes the page statement of [`Store::resources_where_transferred_to`].
macro_rules! push_transferred_page {
    ($query:expr, $user:expr, $after:expr, $limit:expr) => {{
        $query
            .push(concat!(select_resources!(), " WHERE owner_user_id = "))
            .push_bind($user.as_uuid())
            .push(" AND last_transfer_id IS NOT NULL AND deleted_at IS NULL");
        if let Some(after) = $after {
            $query.push(" AND id > ").push_bind(after);
        }
        $query.push(" ORDER BY id LIMIT ").push_bind($limit);
    }};
}

/// Pushes the count statement of [`Store::resources_where_transferred_to`].
macro_rules! push_transferred_count {
    ($query:expr, $user:expr) => {{
        $query
            .push("SELECT COUNT(*) FROM resources WHERE owner_user_id = ")
            .push_bind($user.as_uuid())
            .push(" AND last_transfer_id IS NOT NULL AND deleted_at IS NULL");
    }};
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
        let (rows, total) = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new("");
            push_resources_page!(query, organization, filter, after, limit);
            let rows = query
                .build_query_as::<ResourceRow>()
                .fetch_all(pool)
                .await?;
            let mut count = QueryBuilder::new("");
            push_resources_count!(count, organization, filter);
            let total: i64 = count.build_query_scalar().fetch_one(pool).await?;
            (rows, total)
        });
        Ok((rows.into_iter().map(Into::into).collect(), total))
    }

    /// The plans of [`Store::resources_page`]'s page and count statements (see
    /// `explain_plan!`).
    #[cfg(feature = "testing")]
    pub async fn explain_resources_page(
        &self,
        organization: OrganizationId,
        filter: &ResourceFilter,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let page = explain_plan!(self, |query| push_resources_page!(
            query,
            organization,
            filter,
            after,
            limit
        ));
        let count = explain_plan!(self, |query| push_resources_count!(
            query,
            organization,
            filter
        ));
        Ok((page, count))
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
            let mut query = QueryBuilder::new("");
            push_owned_resources!(query, users, kind);
            query
                .build_query_as::<ResourceRow>()
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The plan of [`Store::owned_resources`]'s statement (see `explain_plan!`).
    #[cfg(feature = "testing")]
    pub async fn explain_owned_resources(
        &self,
        users: &[UserId],
        kind: Option<&str>,
    ) -> Result<Vec<String>> {
        Ok(explain_plan!(self, |query| push_owned_resources!(
            query, users, kind
        )))
    }

    /// A page of the resources `user` owns because a transfer gave them, and how many.
    pub(crate) async fn resources_where_transferred_to(
        &self,
        user: UserId,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<(Vec<ResourceRecord>, i64)> {
        let (rows, total) = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new("");
            push_transferred_page!(query, user, after, limit);
            let rows = query
                .build_query_as::<ResourceRow>()
                .fetch_all(pool)
                .await?;
            let mut count = QueryBuilder::new("");
            push_transferred_count!(count, user);
            let total: i64 = count.build_query_scalar().fetch_one(pool).await?;
            (rows, total)
        });
        Ok((rows.into_iter().map(Into::into).collect(), total))
    }

    /// The plans of [`Store::transferred_resources_page`]'s page and count statements (see
    /// `explain_plan!`).
    #[cfg(feature = "testing")]
    pub async fn explain_transferred_resources_page(
        &self,
        user: UserId,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let page = explain_plan!(self, |query| push_transferred_page!(
            query, user, after, limit
        ));
        let count = explain_plan!(self, |query| push_transferred_count!(query, user));
        Ok((page, count))
    }
}
