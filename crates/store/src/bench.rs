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

/// Organizations each user of a [`consistency_fixture`] belongs to, with a Viewer binding
/// (and its effective role) in each: ten memberships and grants a user.
pub const FIXTURE_ORGANIZATIONS: usize = 5;

/// Every this many users, one is `DELETED` with its memberships and bindings left active,
/// and one (half-way) has lost its effective roles.
pub const FIXTURE_VIOLATION_EVERY: u64 = 10_000;

/// What a [`consistency_fixture`] wrote.
#[derive(Debug, Clone)]
pub struct ConsistencyFixture {
    /// The findings a check of everything must report: per deleted user, a live membership
    /// and a binding in each organization; per user without effective roles, one parity
    /// finding per organization.
    pub expected_findings: u64,
}

/// Writes `users` users, each an active Viewer member of [`FIXTURE_ORGANIZATIONS`]
/// organizations (membership, role binding and effective role in each), 1 000 rows to a
/// statement, with the violations [`FIXTURE_VIOLATION_EVERY`] describes. `progress` is
/// called with the users written so far.
pub async fn consistency_fixture(
    store: &Store,
    tag: &str,
    users: u64,
    entry: &AuditEntry,
    progress: impl FnMut(u64),
) -> Result<ConsistencyFixture> {
    let organizations = bench_organizations(store, tag, FIXTURE_ORGANIZATIONS, entry).await?;
    let expected_findings =
        add_members(store, tag, &organizations, 0..users, true, entry, progress).await?;
    Ok(ConsistencyFixture { expected_findings })
}

/// `count` new organizations owned by a new user, with each one's Viewer role.
pub async fn bench_organizations(
    store: &Store,
    tag: &str,
    count: usize,
    entry: &AuditEntry,
) -> Result<Vec<(OrganizationId, Uuid)>> {
    let owner = store
        .create_user(
            &NewUser {
                username: Username::parse(&format!("own{tag}"))?,
                email: EmailAddress::parse(&format!("own{tag}@bench.example"))?,
                full_name: FullName::parse("Bench owner")?,
                status: UserStatus::Active,
                platform_role: None,
                password_hash: None,
                must_change_password: false,
                language: Language::En,
            },
            entry,
        )
        .await?
        .id;
    bench_organizations_owned_by(store, tag, owner, count, entry).await
}

/// `count` new organizations owned by `owner` (their Administrator), with each one's Viewer
/// role.
pub async fn bench_organizations_owned_by(
    store: &Store,
    tag: &str,
    owner: UserId,
    count: usize,
    entry: &AuditEntry,
) -> Result<Vec<(OrganizationId, Uuid)>> {
    let proof = steward_domain::policy::authorize_platform(&steward_domain::policy::Actor::new(
        owner,
        Some(steward_domain::user::PlatformRole::SuperAdmin),
        [],
    ))?;
    let mut organizations = Vec::new();
    for index in 0..count {
        let name =
            steward_domain::organization::Name::parse("name", &format!("Bench {tag} {index}"))?;
        let organization = store
            .create_organization(&proof, &name, owner, entry)
            .await?
            .id;
        let viewer = role_named(store, organization, "viewer").await?;
        organizations.push((organization, viewer));
    }
    Ok(organizations)
}

/// The id of `organization`'s role whose normalized name is `normalized` (a built-in one's,
/// such as `viewer` or `editor`).
pub async fn role_named(
    store: &Store,
    organization: OrganizationId,
    normalized: &str,
) -> Result<Uuid> {
    Ok(on_pool!(store, |pool| {
        sqlx::query_scalar(
            "SELECT id FROM roles WHERE organization_id = $1 AND name_normalized = $2",
        )
        .bind(organization.as_uuid())
        .bind(normalized)
        .fetch_one(pool)
        .await?
    }))
}

/// `count` new groups of `organization`, named `Team <n>`, in one statement.
pub async fn bench_groups(
    store: &Store,
    organization: OrganizationId,
    count: usize,
    entry: &AuditEntry,
) -> Result<Vec<Uuid>> {
    let now = Timestamp::from(entry.at);
    let groups: Vec<Uuid> = (0..count).map(|_| Uuid::now_v7()).collect();
    if groups.is_empty() {
        return Ok(groups);
    }
    on_pool!(store, |pool| {
        let mut query = QueryBuilder::new(
            "INSERT INTO groups (id, organization_id, name, name_normalized, created_at, \
             updated_at) ",
        );
        query.push_values(groups.iter().enumerate(), |mut row, (index, id)| {
            row.push_bind(*id)
                .push_bind(organization.as_uuid())
                .push_bind(format!("Team {index}"))
                .push_bind(format!("team {index}"))
                .push_bind(now)
                .push_bind(now);
        });
        query.build().execute(pool).await?;
    });
    Ok(groups)
}

/// What [`add_members_with`] gives each member on top of an active Viewer membership, role
/// binding and effective role in every organization.
#[derive(Debug, Clone, Default)]
pub struct MemberExtras {
    /// Groups member `n` joins: `groups_each` of these (of the first organization), from the
    /// `n % groups.len()`-th on.
    pub groups: Vec<Uuid>,
    pub groups_each: usize,
    /// A role of the first organization bound to every member besides its Viewer role,
    /// with its effective role.
    pub second_role: Option<Uuid>,
}

/// Writes the users numbered `range` (username `u<tag>x<n>`, name `Bench User <n>`), each an
/// active Viewer member of every one of `organizations` (membership, role binding and
/// effective role), 1 000 users to a transaction. With `plant`, the violations
/// [`FIXTURE_VIOLATION_EVERY`] describes; returns the findings they make.
pub async fn add_members(
    store: &Store,
    tag: &str,
    organizations: &[(OrganizationId, Uuid)],
    range: std::ops::Range<u64>,
    plant: bool,
    entry: &AuditEntry,
    progress: impl FnMut(u64),
) -> Result<u64> {
    let extras = MemberExtras::default();
    add_members_with(
        store,
        tag,
        organizations,
        &extras,
        range,
        plant,
        entry,
        progress,
    )
    .await
}

/// [`add_members`], each member also given the groups and second role of `extras`, in the
/// same statements' batches.
#[allow(clippy::too_many_arguments)]
pub async fn add_members_with(
    store: &Store,
    tag: &str,
    organizations: &[(OrganizationId, Uuid)],
    extras: &MemberExtras,
    range: std::ops::Range<u64>,
    plant: bool,
    entry: &AuditEntry,
    mut progress: impl FnMut(u64),
) -> Result<u64> {
    let now = Timestamp::from(entry.at);
    let per_user = organizations.len() as u64;
    let deleted = |index: u64| plant && index.is_multiple_of(FIXTURE_VIOLATION_EVERY);
    let unrefreshed =
        |index: u64| plant && index % FIXTURE_VIOLATION_EVERY == FIXTURE_VIOLATION_EVERY / 2;
    let mut expected_findings = 0;
    let mut written = range.start;
    while written < range.end {
        let count = (range.end - written).min(BATCH as u64);
        let batch: Vec<(u64, Uuid)> = (written..written + count)
            .map(|index| (index, Uuid::new_v4()))
            .collect();
        for (index, _) in &batch {
            if deleted(*index) {
                expected_findings += 2 * per_user;
            } else if unrefreshed(*index) {
                expected_findings += per_user;
            }
        }
        let mut tx = store.begin().await?;
        on_tx!(&mut tx, |conn| {
            let mut query = QueryBuilder::new(
                "INSERT INTO users (id, username, username_normalized, email, email_normalized, \
                 full_name, status, created_at, updated_at) ",
            );
            query.push_values(&batch, |mut row, (index, id)| {
                let name = format!("u{tag}x{index}");
                row.push_bind(*id)
                    .push_bind(name.clone())
                    .push_bind(name.clone())
                    .push_bind(format!("{name}@bench.example"))
                    .push_bind(format!("{name}@bench.example"))
                    .push_bind(format!("Bench User {index}"))
                    .push_bind(if deleted(*index) { "DELETED" } else { "ACTIVE" })
                    .push_bind(now)
                    .push_bind(now);
            });
            query.build().execute(&mut *conn).await?;
            for (organization, viewer) in organizations {
                let mut query = QueryBuilder::new(
                    "INSERT INTO memberships (id, organization_id, user_id, status, \
                     default_role_id, created_at, updated_at) ",
                );
                query.push_values(&batch, |mut row, (_, user)| {
                    row.push_bind(Uuid::now_v7())
                        .push_bind(organization.as_uuid())
                        .push_bind(*user)
                        .push_bind("ACTIVE")
                        .push_bind(*viewer)
                        .push_bind(now)
                        .push_bind(now);
                });
                query.build().execute(&mut *conn).await?;
                let mut query = QueryBuilder::new(
                    "INSERT INTO role_bindings (id, organization_id, role_id, user_id, \
                     subject_key, scope_key, created_at) ",
                );
                query.push_values(&batch, |mut row, (_, user)| {
                    row.push_bind(Uuid::now_v7())
                        .push_bind(organization.as_uuid())
                        .push_bind(*viewer)
                        .push_bind(*user)
                        .push_bind(format!("user:{user}"))
                        .push_bind("organization")
                        .push_bind(now);
                });
                query.build().execute(&mut *conn).await?;
                let refreshed: Vec<&(u64, Uuid)> = batch
                    .iter()
                    .filter(|(index, _)| !unrefreshed(*index))
                    .collect();
                if refreshed.is_empty() {
                    continue;
                }
                let mut query = QueryBuilder::new(
                    "INSERT INTO effective_roles (user_id, organization_id, role_id, scope_key) ",
                );
                query.push_values(refreshed, |mut row, (_, user)| {
                    row.push_bind(*user)
                        .push_bind(organization.as_uuid())
                        .push_bind(*viewer)
                        .push_bind("organization");
                });
                query.build().execute(&mut *conn).await?;
            }
            if let (Some((organization, _)), Some(role)) =
                (organizations.first(), extras.second_role)
            {
                let mut query = QueryBuilder::new(
                    "INSERT INTO role_bindings (id, organization_id, role_id, user_id, \
                     subject_key, scope_key, created_at) ",
                );
                query.push_values(&batch, |mut row, (_, user)| {
                    row.push_bind(Uuid::now_v7())
                        .push_bind(organization.as_uuid())
                        .push_bind(role)
                        .push_bind(*user)
                        .push_bind(format!("user:{user}"))
                        .push_bind("organization")
                        .push_bind(now);
                });
                query.build().execute(&mut *conn).await?;
                let mut query = QueryBuilder::new(
                    "INSERT INTO effective_roles (user_id, organization_id, role_id, scope_key) ",
                );
                query.push_values(&batch, |mut row, (_, user)| {
                    row.push_bind(*user)
                        .push_bind(organization.as_uuid())
                        .push_bind(role)
                        .push_bind("organization");
                });
                query.build().execute(&mut *conn).await?;
            }
            let each = extras.groups_each.min(extras.groups.len());
            if each > 0 {
                let mut query =
                    QueryBuilder::new("INSERT INTO group_members (group_id, user_id, created_at) ");
                let pairs = batch.iter().flat_map(|(index, user)| {
                    (0..each).map(move |offset| {
                        let group = (*index as usize + offset) % extras.groups.len();
                        (extras.groups[group], *user)
                    })
                });
                query.push_values(pairs, |mut row, (group, user)| {
                    row.push_bind(group).push_bind(user).push_bind(now);
                });
                query.build().execute(&mut *conn).await?;
            }
        });
        tx.commit().await?;
        written += count;
        progress(written);
    }
    Ok(expected_findings)
}

/// Brings the planner's statistics up to date after a bulk seed, as autovacuum would in a
/// while (PostgreSQL's `ANALYZE`; SQLite keeps none unless asked, and a server's own SQLite
/// database has none, so nothing there).
pub async fn refresh_statistics(store: &Store) -> Result<()> {
    if let Store::Postgres(pool) = store {
        sqlx::query("ANALYZE").execute(pool).await?;
    }
    Ok(())
}

/// Creates a new, empty database on the PostgreSQL server of `url` and returns its URL, so
/// that a benchmark's counts are not mixed with what else the server holds.
pub async fn new_postgres_database(url: &str, name: &str) -> Result<String> {
    use sqlx::Connection as _;
    let mut admin = sqlx::PgConnection::connect(url).await?;
    // `name` is made by the caller of letters and digits only.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(crate::pool::with_database(url, name))
}

/// Drops a database [`new_postgres_database`] made, ending the connections a benchmark's
/// killed server may have left for a moment.
pub async fn drop_postgres_database(url: &str, name: &str) -> Result<()> {
    use sqlx::Connection as _;
    let mut admin = sqlx::PgConnection::connect(url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    admin.close().await?;
    Ok(())
}
