//! Groups: named sets of members inside an organization, which roles can be bound to.
//!
//! An archived group keeps its name and its role bindings, but its members leave it, its
//! bindings give nothing (see `effective_roles`), and it takes no new members.

use sqlx::QueryBuilder;
use steward_domain::audit::{AuditAction, AuditOutcome};
use steward_domain::organization::Name;
use steward_domain::policy::{Authorized, ManageGroups};
use steward_domain::{DomainError, GroupId, OrganizationId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::on_unique;
use crate::organizations::SHOWN_MEMBERSHIP;
use crate::{AuditEntry, Result, Store, StoreError, Timestamp, Tx, on_pool, on_tx};

/// How many groups' pages one statement of [`Store::group_members_pages`] reads: one `UNION
/// ALL` arm each, well below SQLite's 500 arms per compound statement.
pub const PAGES_PER_STATEMENT: usize = 200;

/// A group of an organization.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRecord {
    pub id: GroupId,
    pub organization: OrganizationId,
    pub name: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// When the group was archived; `None` while it is in use.
    pub archived_at: Option<OffsetDateTime>,
}

impl GroupRecord {
    pub fn is_archived(&self) -> bool {
        self.archived_at.is_some()
    }
}

#[derive(sqlx::FromRow)]
struct GroupRow {
    id: Uuid,
    organization_id: Uuid,
    name: String,
    created_at: Timestamp,
    updated_at: Timestamp,
    archived_at: Option<Timestamp>,
}

impl From<GroupRow> for GroupRecord {
    fn from(row: GroupRow) -> Self {
        Self {
            id: GroupId(row.id),
            organization: OrganizationId(row.organization_id),
            name: row.name,
            created_at: row.created_at.into(),
            updated_at: row.updated_at.into(),
            archived_at: row.archived_at.map(Into::into),
        }
    }
}

#[derive(sqlx::FromRow)]
struct UserGroupRow {
    user_id: Uuid,
    #[sqlx(flatten)]
    group: GroupRow,
}

/// Groups in use first, then archived ones; each by name.
const GROUP_ORDER: &str =
    "CASE WHEN g.archived_at IS NULL THEN 0 ELSE 1 END, g.name_normalized, g.id";

/// Pushes the statement of [`Store::groups_by_ids`].
macro_rules! push_groups_by_ids {
    ($query:expr, $ids:expr) => {{
        $query.push(
            "SELECT id, organization_id, name, created_at, updated_at, archived_at FROM groups \
             WHERE id IN (",
        );
        push_in_list!($query, IntoIterator::into_iter($ids).map(|id| id.as_uuid()));
    }};
}

/// Pushes the statement of [`Store::groups_of_organizations`].
macro_rules! push_groups_of_organizations {
    ($query:expr, $organizations:expr) => {{
        $query.push(
            "SELECT g.id AS id, g.organization_id AS organization_id, g.name AS name, \
             g.created_at AS created_at, g.updated_at AS updated_at, g.archived_at AS archived_at \
             FROM groups g WHERE g.organization_id IN (",
        );
        push_in_list!(
            $query,
            $organizations
                .iter()
                .map(|organization| organization.as_uuid())
        );
        $query.push(" ORDER BY ").push(GROUP_ORDER);
    }};
}

/// Pushes the members of groups whose membership of the group's organization shows them to
/// its viewers (an invited existing account is not shown before it accepts), up to a
/// condition on `gm.group_id`, which follows.
macro_rules! push_group_members_where {
    ($query:expr) => {{
        $query
            .push(
                " FROM group_members gm JOIN groups g ON g.id = gm.group_id \
                 JOIN memberships m ON m.user_id = gm.user_id \
                 AND m.organization_id = g.organization_id \
                 JOIN users u ON u.id = gm.user_id WHERE ",
            )
            .push(SHOWN_MEMBERSHIP)
            .push(" AND gm.group_id");
    }};
}

/// Pushes the statement of [`Store::group_members_pages`] for `$groups`: one `UNION ALL` arm
/// per group, its page by user id after `$after` if some.
macro_rules! push_group_members_pages {
    ($query:expr, $groups:expr, $after:expr, $limit:expr) => {{
        for (arm, group) in $groups.iter().enumerate() {
            if arm > 0 {
                $query.push(" UNION ALL ");
            }
            $query.push("SELECT * FROM (SELECT gm.group_id, gm.user_id");
            push_group_members_where!($query);
            $query.push(" = ").push_bind(group.as_uuid());
            if let Some(after) = $after {
                $query.push(" AND gm.user_id > ").push_bind(after);
            }
            $query
                .push(" ORDER BY gm.user_id LIMIT ")
                .push_bind($limit)
                .push(format!(") AS page{arm}"));
        }
    }};
}

/// Pushes the statement of [`Store::group_member_counts`]: one `UNION ALL` arm per group,
/// so that each is counted through its own index range (with one `IN` list, PostgreSQL
/// hashes every membership once the groups are many).
macro_rules! push_group_member_counts {
    ($query:expr, $groups:expr) => {{
        for (arm, group) in $groups.iter().enumerate() {
            if arm > 0 {
                $query.push(" UNION ALL ");
            }
            $query.push("SELECT gm.group_id, COUNT(*)");
            push_group_members_where!($query);
            $query
                .push(" = ")
                .push_bind(group.as_uuid())
                .push(" GROUP BY gm.group_id");
        }
    }};
}

/// Pushes the statement of [`Store::groups_of_users`].
macro_rules! push_groups_of_users {
    ($query:expr, $users:expr) => {{
        $query.push(
            "SELECT gm.user_id AS user_id, g.id AS id, g.organization_id AS organization_id, \
             g.name AS name, g.created_at AS created_at, g.updated_at AS updated_at, \
             g.archived_at AS archived_at FROM group_members gm \
             JOIN groups g ON g.id = gm.group_id WHERE gm.user_id IN (",
        );
        push_in_list!($query, $users.iter().map(|user| user.as_uuid()));
        $query.push(" ORDER BY ").push(GROUP_ORDER);
    }};
}

const NAME_TAKEN: (&str, &str, &str) = (
    "name_normalized",
    "name",
    "a group with this name exists already in the organization (archived groups keep their names)",
);

fn group_not_found() -> StoreError {
    DomainError::NotFound { what: "the group" }.into()
}

impl Tx {
    /// The group, archived or not, if it belongs to `organization`.
    pub(crate) async fn group_in(
        &mut self,
        organization: OrganizationId,
        group: GroupId,
    ) -> Result<Option<GroupRecord>> {
        let row = on_tx!(self, |conn| {
            sqlx::query_as::<_, GroupRow>(
                "SELECT id, organization_id, name, created_at, updated_at, archived_at FROM groups \
                 WHERE id = $1 AND organization_id = $2",
            )
            .bind(group.as_uuid())
            .bind(organization.as_uuid())
            .fetch_optional(conn)
            .await?
        });
        Ok(row.map(Into::into))
    }
}

impl Store {
    /// Creates a group in the proof's organization.
    pub async fn create_group(
        &self,
        proof: &Authorized<ManageGroups>,
        name: &Name,
        entry: &AuditEntry,
    ) -> Result<GroupRecord> {
        let organization = proof.organization();
        let id = GroupId::new();
        let now = Timestamp::from(entry.at);
        let mut tx = self.begin().await?;
        tx.refuse_deleted_organization(proof.organization()).await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "INSERT INTO groups (id, organization_id, name, name_normalized, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(id.as_uuid())
            .bind(organization.as_uuid())
            .bind(name.as_str())
            .bind(name.normalized())
            .bind(now)
            .execute(conn)
            .await
            .map_err(|error| match on_unique(error, &[NAME_TAKEN]) {
                // A SuperAdmin's proof can name an organization that does not exist.
                error if error.is_foreign_key_violation() => DomainError::NotFound {
                    what: "the organization",
                }
                .into(),
                error => error,
            })?;
        });
        tx.audit(
            &entry
                .event(AuditAction::GroupCreated, AuditOutcome::Success)
                .target("group", id)
                .organization(organization)
                .detail(serde_json::json!({ "name": name.as_str() })),
        )
        .await?;
        tx.commit().await?;
        Ok(GroupRecord {
            id,
            organization,
            name: name.as_str().to_owned(),
            created_at: now.into(),
            updated_at: now.into(),
            archived_at: None,
        })
    }

    /// Renames a group of the proof's organization, archived or not.
    pub async fn rename_group(
        &self,
        proof: &Authorized<ManageGroups>,
        group: GroupId,
        name: &Name,
        entry: &AuditEntry,
    ) -> Result<GroupRecord> {
        let organization = proof.organization();
        let now = Timestamp::from(entry.at);
        let mut tx = self.begin().await?;
        tx.refuse_deleted_organization(proof.organization()).await?;
        let existing = tx
            .group_in(organization, group)
            .await?
            .ok_or_else(group_not_found)?;
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE groups SET name = $2, name_normalized = $3, updated_at = $4 WHERE id = $1",
            )
            .bind(group.as_uuid())
            .bind(name.as_str())
            .bind(name.normalized())
            .bind(now)
            .execute(conn)
            .await
            .map_err(|error| on_unique(error, &[NAME_TAKEN]))?;
        });
        tx.audit(
            &entry
                .event(AuditAction::GroupRenamed, AuditOutcome::Success)
                .target("group", group)
                .organization(organization)
                .detail(serde_json::json!({ "from": existing.name, "to": name.as_str() })),
        )
        .await?;
        tx.commit().await?;
        Ok(GroupRecord {
            name: name.as_str().to_owned(),
            updated_at: now.into(),
            ..existing
        })
    }

    /// Archives a group of the proof's organization: its members leave it and its role
    /// bindings stop giving anything from the next request on. Archiving it again is refused.
    pub async fn archive_group(
        &self,
        proof: &Authorized<ManageGroups>,
        group: GroupId,
        entry: &AuditEntry,
    ) -> Result<GroupRecord> {
        let organization = proof.organization();
        let now = Timestamp::from(entry.at);
        let already_archived = || -> StoreError {
            DomainError::InvalidTransition {
                what: "the group",
                from: "ARCHIVED",
                to: "ARCHIVED",
                reason: "it is archived already",
            }
            .into()
        };
        let mut tx = self.begin().await?;
        tx.refuse_deleted_organization(proof.organization()).await?;
        let existing = tx
            .group_in(organization, group)
            .await?
            .ok_or_else(group_not_found)?;
        if existing.is_archived() {
            return Err(already_archived());
        }
        // The condition on `archived_at` makes a concurrent second archive change nothing.
        let archived = on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE groups SET archived_at = $2, updated_at = $2 WHERE id = $1 AND archived_at IS NULL",
            )
            .bind(group.as_uuid())
            .bind(now)
            .execute(conn)
            .await?
            .rows_affected()
        });
        if archived == 0 {
            return Err(already_archived());
        }
        // Members leave an archived group (it gives nothing and takes no one), and their
        // effective roles lose what it gave.
        let members = tx.group_member_ids(group).await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query("DELETE FROM group_members WHERE group_id = $1")
                .bind(group.as_uuid())
                .execute(conn)
                .await?;
        });
        tx.refresh_effective_roles(&members).await?;
        tx.audit(
            &entry
                .event(AuditAction::GroupArchived, AuditOutcome::Success)
                .target("group", group)
                .organization(organization)
                .detail(serde_json::json!({ "name": existing.name, "members": members.len() })),
        )
        .await?;
        tx.commit().await?;
        Ok(GroupRecord {
            updated_at: now.into(),
            archived_at: Some(now.into()),
            ..existing
        })
    }

    /// Adds an active or invited member of the proof's organization to one of its groups in
    /// use.
    pub async fn add_group_member(
        &self,
        proof: &Authorized<ManageGroups>,
        group: GroupId,
        user: UserId,
        entry: &AuditEntry,
    ) -> Result<GroupRecord> {
        let organization = proof.organization();
        let mut tx = self.begin().await?;
        tx.refuse_deleted_organization(proof.organization()).await?;
        let existing = tx
            .group_in(organization, group)
            .await?
            .filter(|group| !group.is_archived())
            .ok_or_else(group_not_found)?;
        let is_member: i64 = on_tx!(&mut tx, |conn| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM memberships WHERE organization_id = $1 AND user_id = $2 \
                 AND status IN ('ACTIVE', 'INVITED')",
            )
            .bind(organization.as_uuid())
            .bind(user.as_uuid())
            .fetch_one(conn)
            .await?
        });
        if is_member == 0 {
            return Err(DomainError::NotFound { what: "the member" }.into());
        }
        let added = on_tx!(&mut tx, |conn| {
            sqlx::query(
                "INSERT INTO group_members (group_id, user_id, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (group_id, user_id) DO NOTHING",
            )
            .bind(group.as_uuid())
            .bind(user.as_uuid())
            .bind(Timestamp::from(entry.at))
            .execute(conn)
            .await?
            .rows_affected()
        });
        if added == 0 {
            return Err(DomainError::conflict("user", "is in the group already").into());
        }
        tx.refresh_effective_roles(&[user]).await?;
        tx.audit(
            &entry
                .event(AuditAction::GroupMemberAdded, AuditOutcome::Success)
                .target("group", group)
                .organization(organization)
                .detail(serde_json::json!({ "user": user.to_string() })),
        )
        .await?;
        tx.commit().await?;
        Ok(existing)
    }

    /// Takes a user out of a group of the proof's organization, archived or not.
    pub async fn remove_group_member(
        &self,
        proof: &Authorized<ManageGroups>,
        group: GroupId,
        user: UserId,
        entry: &AuditEntry,
    ) -> Result<GroupRecord> {
        let organization = proof.organization();
        let mut tx = self.begin().await?;
        tx.refuse_deleted_organization(proof.organization()).await?;
        let existing = tx
            .group_in(organization, group)
            .await?
            .ok_or_else(group_not_found)?;
        let removed = on_tx!(&mut tx, |conn| {
            sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
                .bind(group.as_uuid())
                .bind(user.as_uuid())
                .execute(conn)
                .await?
                .rows_affected()
        });
        if removed == 0 {
            return Err(DomainError::NotFound {
                what: "the group member",
            }
            .into());
        }
        tx.refresh_effective_roles(&[user]).await?;
        tx.audit(
            &entry
                .event(AuditAction::GroupMemberRemoved, AuditOutcome::Success)
                .target("group", group)
                .organization(organization)
                .detail(serde_json::json!({ "user": user.to_string() })),
        )
        .await?;
        tx.commit().await?;
        Ok(existing)
    }

    /// Groups by id, archived ones included; unknown ids are left out.
    pub async fn groups_by_ids(&self, ids: &[GroupId]) -> Result<Vec<GroupRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new("");
            push_groups_by_ids!(query, ids);
            query.build_query_as::<GroupRow>().fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The plan of [`Store::groups_by_ids`]'s statement (see `explain_plan!`).
    #[cfg(feature = "testing")]
    pub async fn explain_groups_by_ids(&self, ids: &[GroupId]) -> Result<Vec<String>> {
        Ok(explain_plan!(self, |query| push_groups_by_ids!(query, ids)))
    }

    /// The groups of several organizations, in one statement: those in use first, then the
    /// archived ones, each by name.
    pub async fn groups_of_organizations(
        &self,
        organizations: &[OrganizationId],
    ) -> Result<Vec<GroupRecord>> {
        if organizations.is_empty() {
            return Ok(Vec::new());
        }
        let rows = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new("");
            push_groups_of_organizations!(query, organizations);
            query.build_query_as::<GroupRow>().fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The plan of [`Store::groups_of_organizations`]'s statement (see `explain_plan!`).
    #[cfg(feature = "testing")]
    pub async fn explain_groups_of_organizations(
        &self,
        organizations: &[OrganizationId],
    ) -> Result<Vec<String>> {
        Ok(explain_plan!(self, |query| push_groups_of_organizations!(
            query,
            organizations
        )))
    }

    /// A page of a group's members in user id order after `after`, and how many it has.
    pub async fn group_members_page(
        &self,
        group: GroupId,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<(Vec<UserId>, i64)> {
        let members = self
            .group_members_pages(&[group], after, limit)
            .await?
            .into_iter()
            .map(|(_, user)| user)
            .collect();
        let total = self
            .group_member_counts(&[group])
            .await?
            .into_iter()
            .map(|(_, count)| count)
            .sum();
        Ok((members, total))
    }

    /// A page of each of `groups`' members, in user id order after `after`, in one statement
    /// (of up to [`PAGES_PER_STATEMENT`] groups), for DataLoaders: `(group, user)` pairs,
    /// each group's in user id order. Each group's page is read through its own index range.
    pub async fn group_members_pages(
        &self,
        groups: &[GroupId],
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<(GroupId, UserId)>> {
        let mut pairs: Vec<(Uuid, Uuid)> = Vec::new();
        for chunk in groups.chunks(PAGES_PER_STATEMENT) {
            let rows = on_pool!(self, |pool| {
                let mut query = QueryBuilder::new("");
                push_group_members_pages!(query, chunk, after, limit);
                query
                    .build_query_as::<(Uuid, Uuid)>()
                    .fetch_all(pool)
                    .await?
            });
            pairs.extend(rows);
        }
        // Arms of a UNION ALL come in no promised order: each group's members are put back in
        // user id order (the order of the statement, bytewise on both backends).
        pairs.sort_unstable();
        Ok(pairs
            .into_iter()
            .map(|(group, user)| (GroupId(group), UserId(user)))
            .collect())
    }

    /// How many members each of `groups` shows, in one statement (of up to
    /// [`PAGES_PER_STATEMENT`] groups), for DataLoaders; a group without members is left
    /// out.
    pub async fn group_member_counts(&self, groups: &[GroupId]) -> Result<Vec<(GroupId, i64)>> {
        let mut counts: Vec<(Uuid, i64)> = Vec::new();
        for chunk in groups.chunks(PAGES_PER_STATEMENT) {
            let rows = on_pool!(self, |pool| {
                let mut query = QueryBuilder::new("");
                push_group_member_counts!(query, chunk);
                query
                    .build_query_as::<(Uuid, i64)>()
                    .fetch_all(pool)
                    .await?
            });
            counts.extend(rows);
        }
        Ok(counts
            .into_iter()
            .map(|(group, count)| (GroupId(group), count))
            .collect())
    }

    /// The plans of [`Store::group_members_pages`]'s and [`Store::group_member_counts`]'
    /// statements for `groups` (see `explain_plan!`).
    #[cfg(feature = "testing")]
    pub async fn explain_group_members_pages(
        &self,
        groups: &[GroupId],
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let pages = explain_plan!(self, |query| push_group_members_pages!(
            query, groups, after, limit
        ));
        let counts = explain_plan!(self, |query| push_group_member_counts!(query, groups));
        Ok((pages, counts))
    }

    /// The groups of several users, archived ones included, in one statement, for
    /// DataLoaders: `(user, group)` pairs, groups in use first, each by name.
    pub async fn groups_of_users(&self, users: &[UserId]) -> Result<Vec<(UserId, GroupRecord)>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let rows = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new("");
            push_groups_of_users!(query, users);
            query
                .build_query_as::<UserGroupRow>()
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|row| (UserId(row.user_id), row.group.into()))
            .collect())
    }

    /// The plan of [`Store::groups_of_users`]'s statement (see `explain_plan!`).
    #[cfg(feature = "testing")]
    pub async fn explain_groups_of_users(&self, users: &[UserId]) -> Result<Vec<String>> {
        Ok(explain_plan!(self, |query| push_groups_of_users!(
            query, users
        )))
    }
}
