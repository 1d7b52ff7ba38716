//! Resources shared with users and groups, read-only or read-write.

use sqlx::QueryBuilder;
use steward_domain::DomainError;
use steward_domain::audit::{AuditAction, AuditOutcome};
use steward_domain::policy::SharingAuthorized;
use steward_domain::resource::{ResourceAccess, ShareGrantee, check_shareable};
use steward_domain::{GroupId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::resources::{ResourceRow, resource_columns};
use crate::{AuditEntry, ResourceRecord, Result, Store, StoreError, Timestamp, on_pool, on_tx};

/// One resource shared with one user or group.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceShareRecord {
    pub resource: Uuid,
    pub grantee: ShareGrantee,
    pub access: ResourceAccess,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct ShareRow {
    resource_id: Uuid,
    user_id: Option<Uuid>,
    group_id: Option<Uuid>,
    access: String,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl TryFrom<ShareRow> for ResourceShareRecord {
    type Error = StoreError;

    fn try_from(row: ShareRow) -> Result<Self> {
        let grantee = match (row.user_id, row.group_id) {
            (Some(user), None) => ShareGrantee::User(UserId(user)),
            (None, Some(group)) => ShareGrantee::Group(GroupId(group)),
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "a share of resource {} has no single grantee",
                    row.resource_id
                )));
            }
        };
        Ok(Self {
            resource: row.resource_id,
            grantee,
            access: parse_access(&row.access)?,
            created_at: row.created_at.into(),
            updated_at: row.updated_at.into(),
        })
    }
}

fn parse_access(code: &str) -> Result<ResourceAccess> {
    ResourceAccess::from_code(code)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown resource access {code}")))
}

/// A resource with the access a share (or the widest of several) gives.
#[derive(sqlx::FromRow)]
struct SharedRow {
    #[sqlx(flatten)]
    resource: ResourceRow,
    grantee: Uuid,
    access: String,
}

/// Pushes the statement of [`Store::shares_of_resources`].
macro_rules! push_shares_of_resources {
    ($query:expr, $resources:expr) => {{
        $query.push(
            "SELECT s.resource_id AS resource_id, s.user_id AS user_id, \
             s.group_id AS group_id, s.access AS access, s.created_at AS created_at, \
             s.updated_at AS updated_at FROM resource_shares s \
             JOIN resources r ON r.id = s.resource_id \
             WHERE r.deleted_at IS NULL AND s.resource_id IN (",
        );
        push_in_list!($query, $resources.iter().copied());
        $query.push(" ORDER BY s.resource_id, s.created_at, s.user_id, s.group_id");
    }};
}

/// Pushes the statement of [`Store::shared_resources`]: the users' own shares, then their
/// groups' shares, each joined to its resources. Joining the resources inside each branch
/// lets PostgreSQL read them by id for the branch's few shares, where one join over the
/// union of both made it hash every resource.
macro_rules! push_shared_resources {
    ($query:expr, $users:expr, $kind:expr) => {{
        let kind: Option<&str> = $kind;
        $query.push(concat!(
            "SELECT ",
            resource_columns!(r),
            ", s.user_id AS grantee, s.access AS access FROM resource_shares s \
             JOIN resources r ON r.id = s.resource_id WHERE r.deleted_at IS NULL"
        ));
        if let Some(kind) = kind {
            $query.push(" AND r.kind = ").push_bind(kind);
        }
        $query.push(" AND s.user_id IN (");
        push_in_list!($query, $users.iter().map(|user| user.as_uuid()));
        $query.push(concat!(
            " UNION ALL SELECT ",
            resource_columns!(r),
            ", gm.user_id AS grantee, s.access AS access FROM group_members gm \
             JOIN groups g ON g.id = gm.group_id \
             JOIN resource_shares s ON s.group_id = gm.group_id \
             JOIN resources r ON r.id = s.resource_id \
             WHERE g.archived_at IS NULL AND r.deleted_at IS NULL"
        ));
        if let Some(kind) = kind {
            $query.push(" AND r.kind = ").push_bind(kind);
        }
        $query.push(" AND gm.user_id IN (");
        push_in_list!($query, $users.iter().map(|user| user.as_uuid()));
        $query.push(" ORDER BY grantee, kind, id");
    }};
}

/// The user and group columns of a grantee, exactly one of them set.
fn grantee_columns(grantee: ShareGrantee) -> (Option<Uuid>, Option<Uuid>) {
    match grantee {
        ShareGrantee::User(user) => (Some(user.as_uuid()), None),
        ShareGrantee::Group(group) => (None, Some(group.as_uuid())),
    }
}

fn grantee_detail(grantee: ShareGrantee) -> serde_json::Value {
    match grantee {
        ShareGrantee::User(user) => serde_json::json!({ "user": user.to_string() }),
        ShareGrantee::Group(group) => serde_json::json!({ "group": group.to_string() }),
    }
}

impl Store {
    /// Shares the proof's resource with a user (an active member of its organization) or
    /// with one of its groups in use; sharing again changes the access.
    pub async fn share_resource(
        &self,
        proof: &SharingAuthorized,
        grantee: ShareGrantee,
        access: ResourceAccess,
        entry: &AuditEntry,
    ) -> Result<ResourceRecord> {
        let mut tx = self.begin().await?;
        let resource = tx
            .resource_in(proof.organization(), proof.resource())
            .await?;
        check_shareable(resource.owner, resource.deleted_at.is_some(), grantee)?;
        match grantee {
            ShareGrantee::User(user) => {
                tx.check_active_member(resource.organization, user, "user")
                    .await?;
            }
            ShareGrantee::Group(group) => {
                let group = tx
                    .group_in(resource.organization, group)
                    .await?
                    .ok_or(DomainError::NotFound { what: "the group" })?;
                if group.archived_at.is_some() {
                    return Err(DomainError::invalid(
                        "group",
                        "is archived; share with a group in use",
                    )
                    .into());
                }
            }
        }
        let (user, group) = grantee_columns(grantee);
        // Each grantee column has its own unique constraint, so the conflict target follows
        // the grantee.
        let upsert = match grantee {
            ShareGrantee::User(_) => {
                "INSERT INTO resource_shares (resource_id, user_id, group_id, access, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (resource_id, user_id) \
                 DO UPDATE SET access = excluded.access, updated_at = excluded.updated_at"
            }
            ShareGrantee::Group(_) => {
                "INSERT INTO resource_shares (resource_id, user_id, group_id, access, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (resource_id, group_id) \
                 DO UPDATE SET access = excluded.access, updated_at = excluded.updated_at"
            }
        };
        on_tx!(&mut tx, |conn| {
            sqlx::query(upsert)
                .bind(resource.id)
                .bind(user)
                .bind(group)
                .bind(access.code())
                .bind(Timestamp::from(entry.at))
                .execute(conn)
                .await?;
        });
        let mut detail = grantee_detail(grantee);
        detail["access"] = access.code().into();
        tx.audit(
            &entry
                .event(AuditAction::ResourceShared, AuditOutcome::Success)
                .target("resource", resource.id)
                .organization(resource.organization)
                .detail(detail),
        )
        .await?;
        tx.commit().await?;
        Ok(resource)
    }

    /// Takes back the share of the proof's resource with a user or group.
    pub async fn unshare_resource(
        &self,
        proof: &SharingAuthorized,
        grantee: ShareGrantee,
        entry: &AuditEntry,
    ) -> Result<ResourceRecord> {
        let mut tx = self.begin().await?;
        let resource = tx
            .resource_in(proof.organization(), proof.resource())
            .await?;
        let (user, group) = grantee_columns(grantee);
        let removed = on_tx!(&mut tx, |conn| {
            sqlx::query(
                "DELETE FROM resource_shares WHERE resource_id = $1 \
                 AND (user_id = $2 OR group_id = $3)",
            )
            .bind(resource.id)
            .bind(user)
            .bind(group)
            .execute(conn)
            .await?
            .rows_affected()
        });
        if removed == 0 {
            return Err(DomainError::NotFound {
                what: "a share of the resource with them",
            }
            .into());
        }
        tx.audit(
            &entry
                .event(AuditAction::ResourceUnshared, AuditOutcome::Success)
                .target("resource", resource.id)
                .organization(resource.organization)
                .detail(grantee_detail(grantee)),
        )
        .await?;
        tx.commit().await?;
        Ok(resource)
    }

    /// The shares of several resources, in one statement, oldest first; none for a resource
    /// of a deleted organization.
    pub async fn shares_of_resources(
        &self,
        resources: &[Uuid],
    ) -> Result<Vec<ResourceShareRecord>> {
        if resources.is_empty() {
            return Ok(Vec::new());
        }
        let rows = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new("");
            push_shares_of_resources!(query, resources);
            query.build_query_as::<ShareRow>().fetch_all(pool).await?
        });
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// The plan of [`Store::shares_of_resources`]'s statement (see `explain_plan!`).
    #[cfg(feature = "testing")]
    pub async fn explain_shares_of_resources(&self, resources: &[Uuid]) -> Result<Vec<String>> {
        Ok(explain_plan!(self, |query| push_shares_of_resources!(
            query, resources
        )))
    }

    /// The resources shared with each of these users, directly or through their groups in
    /// use, with the widest access each holds there (WRITE beats READ); resources marked
    /// deleted are left out. One statement for any number of users, for a DataLoader.
    pub async fn shared_resources(
        &self,
        users: &[UserId],
        kind: Option<&str>,
    ) -> Result<Vec<(UserId, ResourceRecord, ResourceAccess)>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let rows = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new("");
            push_shared_resources!(query, users, kind);
            query.build_query_as::<SharedRow>().fetch_all(pool).await?
        });
        let mut shared: Vec<(UserId, ResourceRecord, ResourceAccess)> = Vec::new();
        for row in rows {
            let access = parse_access(&row.access)?;
            let grantee = UserId(row.grantee);
            let resource = ResourceRecord::from(row.resource);
            match shared.last_mut() {
                // Rows come by grantee and resource: a second one is another of the user's
                // shares of it.
                Some((user, last, held)) if *user == grantee && last.id == resource.id => {
                    *held = ResourceAccess::effective([*held, access]).unwrap_or(access);
                }
                _ => shared.push((grantee, resource, access)),
            }
        }
        Ok(shared)
    }

    /// The plan of [`Store::shared_resources`]'s statement (see `explain_plan!`).
    #[cfg(feature = "testing")]
    pub async fn explain_shared_resources(
        &self,
        users: &[UserId],
        kind: Option<&str>,
    ) -> Result<Vec<String>> {
        Ok(explain_plan!(self, |query| push_shared_resources!(
            query, users, kind
        )))
    }
}
