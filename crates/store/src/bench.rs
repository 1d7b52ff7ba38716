//! Fixtures for `cargo xtask bench`: large amounts of data written in bulk, straight in the
//! database, so that what is measured is the operation and not the seeding.

use sqlx::QueryBuilder;
use steward_domain::user::{EmailAddress, FullName, Language, UserStatus, Username};
use steward_domain::{JobId, OrganizationId, UserId};
use uuid::Uuid;

use crate::{AuditEntry, NewUser, Result, Store, Timestamp, on_pool, on_tx};

/// Kinds the fixture's resources cycle through; every tenth is a schedule.
const KINDS: [&str; 10] = [
    "DASHBOARD",
    "DATASET",
    "VIEW",
    "NOTEBOOK",
    "WORKFLOW",
    "INSIGHT",
    "STREAM",
    "ETL_JOB",
    "LOOKUP",
    "SCHEDULE",
];

/// Rows per INSERT statement (9 values each, well under both databases' parameter limits).
const BATCH: usize = 1000;

/// An organization with its owner, a suspended member who owns many resources, and an
/// active member who can receive them.
#[derive(Debug, Clone, Copy)]
pub struct DeletionFixture {
    pub organization: OrganizationId,
    pub owner: UserId,
    pub leaver: UserId,
    pub heir: UserId,
}

/// Writes a [`DeletionFixture`] whose leaver owns `resources` resources; `tag` keeps names
/// unique when one database holds several fixtures.
pub async fn deletion_fixture(
    store: &Store,
    tag: &str,
    resources: usize,
    entry: &AuditEntry,
) -> Result<DeletionFixture> {
    let mut users = Vec::new();
    for role in ["owner", "leaver", "heir"] {
        let name = format!("{role}{tag}");
        let user = NewUser {
            username: Username::parse(&name)?,
            email: EmailAddress::parse(&format!("{name}@bench.example"))?,
            full_name: FullName::parse(&name)?,
            status: UserStatus::Active,
            platform_role: None,
            password_hash: None,
            must_change_password: false,
            language: Language::En,
        };
        users.push(store.create_user(&user, entry).await?.id);
    }
    let [owner, leaver, heir] = users[..] else {
        unreachable!("three users were made");
    };
    let organization = OrganizationId::new();
    let now = Timestamp::from(entry.at);
    let mut tx = store.begin().await?;
    on_tx!(&mut tx, |conn| {
        sqlx::query(
            "INSERT INTO organizations (id, name, owner_user_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(organization.as_uuid())
        .bind(format!("Bench {tag}"))
        .bind(owner.as_uuid())
        .bind(now)
        .execute(&mut *conn)
        .await?;
        for user in [owner, leaver, heir] {
            sqlx::query(
                "INSERT INTO memberships (id, organization_id, user_id, status, created_at, \
                 updated_at) VALUES ($1, $2, $3, 'ACTIVE', $4, $4)",
            )
            .bind(Uuid::now_v7())
            .bind(organization.as_uuid())
            .bind(user.as_uuid())
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        sqlx::query("UPDATE users SET status = 'SUSPENDED' WHERE id = $1")
            .bind(leaver.as_uuid())
            .execute(&mut *conn)
            .await?;
    });
    let mut written = 0;
    while written < resources {
        let rows = (resources - written).min(BATCH);
        on_tx!(&mut tx, |conn| {
            let mut query = QueryBuilder::new(
                "INSERT INTO resources (id, kind, name, external_id, organization_id, \
                 owner_user_id, enabled, created_at, updated_at) ",
            );
            query.push_values(written..written + rows, |mut row, index| {
                let kind = KINDS[index % KINDS.len()];
                row.push_bind(Uuid::now_v7())
                    .push_bind(kind)
                    .push_bind(format!("{kind} {index}"))
                    .push_bind(format!("bench-{tag}-{index}"))
                    .push_bind(organization.as_uuid())
                    .push_bind(leaver.as_uuid())
                    .push_bind(true)
                    .push_bind(now)
                    .push_bind(now);
            });
            query.build().execute(&mut *conn).await?;
        });
        written += rows;
    }
    tx.commit().await?;
    Ok(DeletionFixture {
        organization,
        owner,
        leaver,
        heir,
    })
}

/// How many resources `user` owns, and how many of them are disabled.
pub async fn owned_counts(store: &Store, user: UserId) -> Result<(i64, i64)> {
    Ok(on_pool!(store, |pool| {
        sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN enabled THEN 0 ELSE 1 END), 0) \
             FROM resources WHERE owner_user_id = $1",
        )
        .bind(user.as_uuid())
        .fetch_one(pool)
        .await?
    }))
}

/// What an import left in the database, counted from its rows rather than from the job's
/// counters, so that a check can tell the two apart: the rows marked created, and how many
/// distinct users those rows point to (fewer would mean a row was created twice).
pub async fn import_created_counts(store: &Store, job: JobId) -> Result<(i64, i64)> {
    Ok(on_pool!(store, |pool| {
        sqlx::query_as(
            "SELECT COUNT(*), COUNT(DISTINCT user_id) FROM import_rows \
             WHERE job_id = $1 AND status = 'CREATED'",
        )
        .bind(job.as_uuid())
        .fetch_one(pool)
        .await?
    }))
}

/// How many users have a username starting with `prefix` (compared lower-case): the users a
/// generated import file made, when its usernames share a prefix nothing else uses.
pub async fn users_with_username_prefix(store: &Store, prefix: &str) -> Result<i64> {
    let pattern = format!("{}%", prefix.to_ascii_lowercase());
    Ok(on_pool!(store, |pool| {
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE username_normalized LIKE $1")
            .bind(&pattern)
            .fetch_one(pool)
            .await?
    }))
}
