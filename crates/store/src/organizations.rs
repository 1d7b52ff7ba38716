use sqlx::QueryBuilder;
use steward_domain::{MembershipId, OrganizationId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use steward_domain::audit::{AuditAction, AuditOutcome};

use crate::{AuditEntry, Result, Store, Timestamp, on_pool, on_tx};

#[derive(Debug, Clone, PartialEq)]
pub struct OrganizationRecord {
    pub id: OrganizationId,
    pub name: String,
    pub owner: Option<UserId>,
    pub created_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct OrganizationRow {
    id: Uuid,
    name: String,
    owner_user_id: Option<Uuid>,
    created_at: Timestamp,
}

impl From<OrganizationRow> for OrganizationRecord {
    fn from(row: OrganizationRow) -> Self {
        Self {
            id: OrganizationId(row.id),
            name: row.name,
            owner: row.owner_user_id.map(UserId),
            created_at: row.created_at.into(),
        }
    }
}

/// A user's membership of an organization.
#[derive(Debug, Clone, PartialEq)]
pub struct MembershipRecord {
    pub id: MembershipId,
    pub organization: OrganizationId,
    pub user: UserId,
    pub status: String,
    pub created_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct MembershipRow {
    id: Uuid,
    organization_id: Uuid,
    user_id: Uuid,
    status: String,
    created_at: Timestamp,
}

impl From<MembershipRow> for MembershipRecord {
    fn from(row: MembershipRow) -> Self {
        Self {
            id: MembershipId(row.id),
            organization: OrganizationId(row.organization_id),
            user: UserId(row.user_id),
            status: row.status,
            created_at: row.created_at.into(),
        }
    }
}

impl Store {
    /// Creates an organization owned by `owner`, who becomes its first active member.
    pub async fn create_organization(
        &self,
        name: &str,
        owner: UserId,
        entry: &AuditEntry,
    ) -> Result<OrganizationRecord> {
        let id = OrganizationId::new();
        let now = Timestamp::from(entry.at);
        let mut tx = self.begin().await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "INSERT INTO organizations (id, name, owner_user_id, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $4)",
            )
            .bind(id.as_uuid())
            .bind(name)
            .bind(owner.as_uuid())
            .bind(now)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "INSERT INTO memberships (id, organization_id, user_id, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, 'ACTIVE', $4, $4)",
            )
            .bind(MembershipId::new().as_uuid())
            .bind(id.as_uuid())
            .bind(owner.as_uuid())
            .bind(now)
            .execute(conn)
            .await?;
        });
        tx.audit(
            &entry
                .event(AuditAction::OrganizationCreated, AuditOutcome::Success)
                .target("organization", id)
                .organization(id)
                .detail(serde_json::json!({ "name": name, "owner": owner.to_string() })),
        )
        .await?;
        tx.commit().await?;
        Ok(OrganizationRecord {
            id,
            name: name.to_owned(),
            owner: Some(owner),
            created_at: now.into(),
        })
    }

    /// Organizations by id; unknown ids are left out.
    pub async fn organizations_by_ids(
        &self,
        ids: &[OrganizationId],
    ) -> Result<Vec<OrganizationRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new(
                "SELECT id, name, owner_user_id, created_at FROM organizations WHERE id IN (",
            );
            let mut separated = query.separated(", ");
            for id in ids {
                separated.push_bind(id.as_uuid());
            }
            query.push(")");
            query
                .build_query_as::<OrganizationRow>()
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The memberships of several users, oldest first, in one statement.
    pub async fn memberships_of_users(&self, users: &[UserId]) -> Result<Vec<MembershipRecord>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let rows = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new(
                "SELECT id, organization_id, user_id, status, created_at FROM memberships \
                 WHERE user_id IN (",
            );
            let mut separated = query.separated(", ");
            for id in users {
                separated.push_bind(id.as_uuid());
            }
            query.push(") ORDER BY created_at, id");
            query
                .build_query_as::<MembershipRow>()
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
