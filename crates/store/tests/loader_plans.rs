//! Every statement a DataLoader or a console's list page runs, asked for a page-sized key
//! list (100 ids) or one page, over 100 000 memberships, role bindings, group members,
//! resources and shares scattered over 50 000 users and 2 000 organizations: none reads
//! memberships, role bindings, group members, resources or shares (or users) whole, on
//! each backend. The plans are those of the very statements the store runs (each `explain_*`
//! twin builds its statement with the same code), after `ANALYZE`.

// A test binary: a failed expectation is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Instant;

use serde_json::Value;
use steward_domain::{GroupId, OrganizationId, ProjectId, RoleId, UserId};
use steward_store::testing::{TestDatabase, backends};
use steward_store::{Backend, ResourceFilter};
use uuid::Uuid;

const USERS: i64 = 50_000;
const ORGANIZATIONS: i64 = 2_000;
/// Memberships, and as many role bindings, group members, resources and shares.
const ROWS: i64 = 100_000;
/// A page's worth of keys.
const KEYS: i64 = 100;

/// The tables no statement of a page may read whole. The small ones (organizations, roles,
/// groups, projects, their settings) may be, when PostgreSQL finds that cheaper for 5 % of
/// them: they grow with organizations, not with members.
const LARGE_TABLES: &[&str] = &[
    "users",
    "memberships",
    "role_bindings",
    "group_members",
    "resources",
    "resource_shares",
];

/// What each seeded id is of: the high 32 bits of its UUID; the low bits are its number.
#[derive(Clone, Copy)]
enum Kind {
    User = 1,
    Organization = 2,
    Membership = 3,
    Role = 4,
    Binding = 5,
    Group = 6,
    Project = 7,
    Resource = 8,
}

/// The id of the `number`th seeded row of `kind`, as the seed writes it.
fn id(kind: Kind, number: i64) -> Uuid {
    Uuid::from_u128((kind as u128) << 96 | u128::try_from(number).unwrap())
}

/// `KEYS` ids of `kind` spread evenly over its `count` rows.
fn keys(kind: Kind, count: i64) -> Vec<Uuid> {
    (0..KEYS)
        .map(|k| id(kind, 1 + k * (count / KEYS)))
        .collect()
}

/// The seed's SQL fragments for one backend.
struct Dialect(Backend);

impl Dialect {
    /// The id of the row of `kind` numbered by the SQL expression `number`.
    fn id(&self, kind: Kind, number: &str) -> String {
        let kind = kind as u32;
        match self.0 {
            Backend::Sqlite => format!("unhex(printf('%08x%024x', {kind}, {number}))"),
            Backend::Postgres => {
                format!("(lpad(to_hex({kind}), 8, '0') || lpad(to_hex({number}), 24, '0'))::uuid")
            }
        }
    }

    /// The rows `i` = 1 … `count`, as a FROM item.
    fn numbers(&self, count: i64) -> String {
        match self.0 {
            Backend::Sqlite => format!(
                "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) \
                 SELECT i FROM n) AS n"
            ),
            Backend::Postgres => format!("generate_series(1, {count}) AS n(i)"),
        }
    }

    /// A time `seconds` after 2026-01-01.
    fn at(&self, seconds: &str) -> String {
        match self.0 {
            Backend::Sqlite => format!(
                "strftime('%Y-%m-%dT%H:%M:%S', 1767225600 + {seconds}, 'unixepoch') || '.000000Z'"
            ),
            Backend::Postgres => {
                format!("timestamptz '2026-01-01 00:00:00+00' + ({seconds}) * interval '1 second'")
            }
        }
    }

    /// `number` on six digits.
    fn padded(&self, number: &str) -> String {
        match self.0 {
            Backend::Sqlite => format!("printf('%06d', {number})"),
            Backend::Postgres => format!("lpad(({number})::text, 6, '0')"),
        }
    }

    /// The statements that seed the database, `ANALYZE` last.
    ///
    /// Organization `o` has roles, groups and projects numbered from `(o - 1) * 10 + 1`
    /// (`* 5` for projects). User `u` is a member of two organizations: membership
    /// `i` = `2u - 1` and `2u`, of organization `(7u + 997k) % 2000 + 1` (`k` = 0 or 1), each
    /// with a role binding and a group of that organization; resource `i` is the user's, in
    /// that organization, shared with another user (even `i`) or with the member's group.
    fn seed(&self) -> Vec<String> {
        let at = self.at("i");
        let name = self.padded("i");
        let user = "(i - 1) / 2 + 1";
        let organization =
            format!("(((i - 1) / 2 + 1) * 7 + ((i - 1) % 2) * 997) % {ORGANIZATIONS} + 1");
        let role = format!("({organization} - 1) * 10 + 1 + i % 10");
        let group = &role;
        let project = format!("({organization} - 1) * 5 + 1 + i % 5");
        let shared_with = format!("(i * 37) % {USERS} + 1");
        let (ids, organizations, users) = (
            |kind| self.id(kind, "i"),
            self.numbers(ORGANIZATIONS),
            self.numbers(USERS),
        );
        let rows = self.numbers(ROWS);
        let tens = self.numbers(ORGANIZATIONS * 10);
        vec![
            format!(
                "INSERT INTO users (id, username, username_normalized, email, email_normalized, \
                 full_name, status, created_at, updated_at) \
                 SELECT {}, 'user' || {name}, 'user' || {name}, 'user' || {name} || '@example.com', \
                 'user' || {name} || '@example.com', 'Name ' || {name}, 'ACTIVE', {at}, {at} FROM {users}",
                ids(Kind::User)
            ),
            format!(
                "INSERT INTO organizations (id, name, owner_user_id, created_at, updated_at) \
                 SELECT {}, 'Organization ' || {name}, {}, {at}, {at} FROM {organizations}",
                ids(Kind::Organization),
                ids(Kind::User)
            ),
            format!(
                "INSERT INTO roles (id, organization_id, name, name_normalized, built_in, created_at, \
                 updated_at) SELECT {}, {}, 'Role ' || ((i - 1) % 10), 'role ' || ((i - 1) % 10), \
                 ((i - 1) % 10 < 3), {at}, {at} FROM {tens}",
                ids(Kind::Role),
                self.id(Kind::Organization, "(i - 1) / 10 + 1")
            ),
            format!(
                "INSERT INTO role_permissions (role_id, area, level) \
                 SELECT {}, 'USERS', 'VIEW' FROM {tens}",
                ids(Kind::Role)
            ),
            format!(
                "INSERT INTO role_permissions (role_id, area, level) \
                 SELECT {}, 'GROUPS', 'MANAGE' FROM {tens}",
                ids(Kind::Role)
            ),
            format!(
                "INSERT INTO groups (id, organization_id, name, name_normalized, created_at, \
                 updated_at) SELECT {}, {}, 'Group ' || ((i - 1) % 10), 'group ' || ((i - 1) % 10), \
                 {at}, {at} FROM {tens}",
                ids(Kind::Group),
                self.id(Kind::Organization, "(i - 1) / 10 + 1")
            ),
            format!(
                "INSERT INTO projects (id, organization_id, name, name_normalized, created_at, \
                 updated_at) SELECT {}, {}, 'Project ' || ((i - 1) % 5), 'project ' || ((i - 1) % 5), \
                 {at}, {at} FROM {}",
                ids(Kind::Project),
                self.id(Kind::Organization, "(i - 1) / 5 + 1"),
                self.numbers(ORGANIZATIONS * 5)
            ),
            format!(
                "INSERT INTO organization_email_domains (organization_id, domain, created_at) \
                 SELECT {}, 'd' || i || '.example.com', {at} FROM {}",
                self.id(Kind::Organization, "(i - 1) / 2 + 1"),
                self.numbers(ORGANIZATIONS * 2)
            ),
            format!(
                "INSERT INTO organization_password_rules (organization_id, require_digit, updated_at) \
                 SELECT {}, (1 = 1), {at} FROM {organizations} WHERE i % 2 = 0",
                ids(Kind::Organization)
            ),
            format!(
                "INSERT INTO memberships (id, organization_id, user_id, status, default_role_id, \
                 created_at, updated_at) SELECT {}, {}, {}, 'ACTIVE', {}, {at}, {at} FROM {rows}",
                ids(Kind::Membership),
                self.id(Kind::Organization, &organization),
                self.id(Kind::User, user),
                self.id(Kind::Role, &format!("({organization} - 1) * 10 + 1"))
            ),
            format!(
                "INSERT INTO role_bindings (id, organization_id, role_id, user_id, subject_key, \
                 scope_key, created_at) SELECT {}, {}, {}, {}, 'user:' || i, 'organization', {at} \
                 FROM {rows}",
                ids(Kind::Binding),
                self.id(Kind::Organization, &organization),
                self.id(Kind::Role, &role),
                self.id(Kind::User, user)
            ),
            format!(
                "INSERT INTO group_members (group_id, user_id, created_at) SELECT {}, {}, {at} \
                 FROM {rows}",
                self.id(Kind::Group, group),
                self.id(Kind::User, user)
            ),
            format!(
                "INSERT INTO resources (id, kind, name, external_id, organization_id, project_id, \
                 owner_user_id, enabled, created_at, updated_at) SELECT {}, \
                 CASE i % 4 WHEN 0 THEN 'FORECAST_JOB' WHEN 1 THEN 'ETL_JOB' WHEN 2 THEN 'ENDPOINT' \
                 ELSE 'APP' END, 'Resource ' || i, 'ext' || i, {}, \
                 CASE WHEN i % 3 = 0 THEN NULL ELSE {} END, {}, (1 = 1), {at}, {at} FROM {rows}",
                ids(Kind::Resource),
                self.id(Kind::Organization, &organization),
                self.id(Kind::Project, &project),
                self.id(Kind::User, user)
            ),
            format!(
                "INSERT INTO resource_shares (resource_id, user_id, group_id, access, created_at, \
                 updated_at) SELECT {}, CASE WHEN i % 2 = 0 THEN {} END, \
                 CASE WHEN i % 2 = 1 THEN {} END, CASE WHEN i % 3 = 0 THEN 'WRITE' ELSE 'READ' END, \
                 {at}, {at} FROM {rows}",
                ids(Kind::Resource),
                self.id(Kind::User, &shared_with),
                self.id(Kind::Group, group)
            ),
            "ANALYZE".to_owned(),
        ]
    }
}

/// The tables a plan reads whole: SQLite's `SCAN <table>` rows without an index (it names
/// a table by its alias when it has one; the rows of a subquery it made itself, a
/// `CO-ROUTINE` or `MATERIALIZE`d one such as each page of a list of groups, are not a
/// table), PostgreSQL's `Seq Scan` nodes.
fn tables_scanned(backend: Backend, plan: &[String]) -> Vec<String> {
    match backend {
        Backend::Sqlite => {
            let subqueries: Vec<&str> = plan
                .iter()
                .filter_map(|line| {
                    line.strip_prefix("CO-ROUTINE ")
                        .or_else(|| line.strip_prefix("MATERIALIZE "))
                })
                .collect();
            plan.iter()
                .filter(|line| line.starts_with("SCAN ") && !line.contains(" INDEX "))
                .map(|line| line["SCAN ".len()..].to_owned())
                .filter(|scanned| !subqueries.contains(&scanned.as_str()))
                .collect()
        }
        Backend::Postgres => {
            fn walk(node: &Value, scanned: &mut Vec<String>) {
                if node["Node Type"] == "Seq Scan" {
                    scanned.push(node["Relation Name"].as_str().unwrap_or("?").to_owned());
                }
                if let Some(plans) = node["Plans"].as_array() {
                    for child in plans {
                        walk(child, scanned);
                    }
                }
            }
            let document: Value = serde_json::from_str(&plan[0]).unwrap();
            let mut scanned = Vec::new();
            walk(&document[0]["Plan"], &mut scanned);
            scanned
        }
    }
}

/// Checks that `plan` reads no large table whole (on SQLite, no table at all: its plans for
/// these statements all search) and that it uses every index of `uses`.
fn assert_indexed(backend: Backend, what: &str, plan: &[String], uses: &[&str]) {
    let text = plan.join("\n");
    let scanned = tables_scanned(backend, plan);
    let forbidden: Vec<&String> = match backend {
        Backend::Sqlite => scanned.iter().collect(),
        Backend::Postgres => scanned
            .iter()
            .filter(|table| LARGE_TABLES.contains(&table.as_str()))
            .collect(),
    };
    assert!(
        forbidden.is_empty(),
        "{backend:?} {what}: reads {forbidden:?} whole:\n{text}"
    );
    for index in uses {
        assert!(
            text.contains(index),
            "{backend:?} {what}: the plan does not use {index}:\n{text}"
        );
    }
    eprintln!("{backend:?} {what}: scans {scanned:?}");
}

#[tokio::test]
async fn every_loader_and_list_statement_reads_a_page_of_100_000_rows_through_indexes() {
    for backend in backends() {
        let database = TestDatabase::for_store_test(backend).await.unwrap();
        let store = &database.store;
        let started = Instant::now();
        for statement in Dialect(backend).seed() {
            database.execute_sql(statement).await.unwrap();
        }
        eprintln!("{backend:?}: seeded in {:?}", started.elapsed());
        let check = |what: &str, plan: &[String], uses: &[&str]| {
            assert_indexed(backend, what, plan, uses);
        };

        let users: Vec<UserId> = keys(Kind::User, USERS).into_iter().map(UserId).collect();
        let organizations: Vec<OrganizationId> = keys(Kind::Organization, ORGANIZATIONS)
            .into_iter()
            .map(OrganizationId)
            .collect();
        let roles: Vec<RoleId> = keys(Kind::Role, ORGANIZATIONS * 10)
            .into_iter()
            .map(RoleId)
            .collect();
        let groups: Vec<GroupId> = keys(Kind::Group, ORGANIZATIONS * 10)
            .into_iter()
            .map(GroupId)
            .collect();
        let projects: Vec<ProjectId> = keys(Kind::Project, ORGANIZATIONS * 5)
            .into_iter()
            .map(ProjectId)
            .collect();
        let resources = keys(Kind::Resource, ROWS);

        // The DataLoaders' statements, for 100 keys; the statements answer what the seed
        // holds (two memberships, bindings, groups and resources per user).
        check(
            "users_by_ids",
            &store.explain_users_by_ids(&users).await.unwrap(),
            &[],
        );
        assert_eq!(store.users_by_ids(&users).await.unwrap().len(), 100);
        check(
            "organizations_by_ids",
            &store
                .explain_organizations_by_ids(&organizations)
                .await
                .unwrap(),
            &[],
        );
        check(
            "memberships_of_users",
            &store.explain_memberships_of_users(&users).await.unwrap(),
            &["memberships_user_id"],
        );
        assert_eq!(store.memberships_of_users(&users).await.unwrap().len(), 200);
        check(
            "roles_by_ids",
            &store.explain_roles_by_ids(&roles).await.unwrap(),
            &[],
        );
        check(
            "permissions of roles",
            &store.explain_permissions_of_roles(&roles).await.unwrap(),
            &[],
        );
        assert_eq!(store.roles_by_ids(&roles).await.unwrap().len(), 100);
        check(
            "roles_of_organizations",
            &store
                .explain_roles_of_organizations(&organizations)
                .await
                .unwrap(),
            &[],
        );
        check(
            "email_domains_of_organizations",
            &store
                .explain_email_domains_of_organizations(&organizations)
                .await
                .unwrap(),
            &[],
        );
        check(
            "password_rules_of_organizations",
            &store
                .explain_password_rules_of_organizations(&organizations)
                .await
                .unwrap(),
            &[],
        );
        check(
            "projects_of_organizations",
            &store
                .explain_projects_of_organizations(&organizations)
                .await
                .unwrap(),
            &[],
        );
        check(
            "projects_by_ids",
            &store.explain_projects_by_ids(&projects).await.unwrap(),
            &[],
        );
        check(
            "bindings_of_users",
            &store.explain_bindings_of_users(&users).await.unwrap(),
            &["role_bindings_user_id"],
        );
        assert_eq!(store.bindings_of_users(&users).await.unwrap().len(), 200);
        check(
            "groups_by_ids",
            &store.explain_groups_by_ids(&groups).await.unwrap(),
            &[],
        );
        check(
            "groups_of_organizations",
            &store
                .explain_groups_of_organizations(&organizations)
                .await
                .unwrap(),
            &[],
        );
        check(
            "groups_of_users",
            &store.explain_groups_of_users(&users).await.unwrap(),
            &["group_members_user_id"],
        );
        assert_eq!(store.groups_of_users(&users).await.unwrap().len(), 200);
        check(
            "shares_of_resources",
            &store.explain_shares_of_resources(&resources).await.unwrap(),
            &[],
        );
        assert_eq!(
            store.shares_of_resources(&resources).await.unwrap().len(),
            100
        );
        for kind in [None, Some("APP")] {
            check(
                &format!("owned_resources of kind {kind:?}"),
                &store.explain_owned_resources(&users, kind).await.unwrap(),
                &["resources_owner"],
            );
            check(
                &format!("shared_resources of kind {kind:?}"),
                &store.explain_shared_resources(&users, kind).await.unwrap(),
                &[
                    "resource_shares_user",
                    "group_members_user_id",
                    "resource_shares_group",
                ],
            );
        }
        assert_eq!(
            store.owned_resources(&users, None).await.unwrap().len(),
            200
        );
        assert!(
            !store
                .shared_resources(&users, None)
                .await
                .unwrap()
                .is_empty()
        );

        // The console's list pages: the first page and the one after it, and their counts, in
        // organization 8 (that of the first membership).
        let organization = OrganizationId(id(Kind::Organization, 8));
        let (first, total) = store.members_page(organization, None, 21).await.unwrap();
        assert_eq!(total, 50, "{backend:?}: members of an organization");
        let after = Some(first[19].user.as_uuid());
        for (what, after) in [("members page", None), ("next members page", after)] {
            let (page, count) = store
                .explain_members_page(organization, after, 21)
                .await
                .unwrap();
            check(what, &page, &[]);
            check(&format!("{what}: count"), &count, &[]);
        }

        // The group of the first membership.
        let group = GroupId(id(Kind::Group, 72));
        let (first, total) = store.group_members_page(group, None, 2).await.unwrap();
        assert_eq!(total, 25, "{backend:?}: members of a group");
        let after = Some(first[1].as_uuid());
        for (what, after) in [
            ("group members page", None),
            ("next group members page", after),
        ] {
            // The page of each of a list of groups (the group first), as a loader asks.
            let mut listed = vec![group];
            listed.extend(groups.iter().copied().filter(|other| *other != group));
            let (page, count) = store
                .explain_group_members_pages(&listed, after, 21)
                .await
                .unwrap();
            check(what, &page, &[]);
            check(&format!("{what}: count"), &count, &[]);
        }

        // An owner, a kind, a project and a grantee of some of the organization's 50 resources.
        let (every, total) = store
            .resources_page(organization, &ResourceFilter::default(), None, 200)
            .await
            .unwrap();
        assert_eq!(
            (every.len(), total),
            (50, 50),
            "{backend:?}: resources of an organization"
        );
        let owner = every[0].owner.unwrap();
        let kind = every[0].kind.clone();
        let project = every.iter().find_map(|resource| resource.project).unwrap();
        let grantee = first[0];
        let filters = [
            ("every resource", ResourceFilter::default(), &[][..]),
            (
                "resources of an owner",
                ResourceFilter {
                    owner: Some(owner),
                    ..ResourceFilter::default()
                },
                &[][..],
            ),
            (
                "resources of a kind",
                ResourceFilter {
                    kind: Some(kind),
                    ..ResourceFilter::default()
                },
                &[][..],
            ),
            (
                "resources of a project",
                ResourceFilter {
                    project: Some(project),
                    ..ResourceFilter::default()
                },
                &[][..],
            ),
            (
                "resources shared with a user",
                ResourceFilter {
                    shared_with: Some(grantee),
                    ..ResourceFilter::default()
                },
                &["resource_shares_user", "resource_shares_group"][..],
            ),
        ];
        for (what, filter, uses) in &filters {
            let (rows, total) = store
                .resources_page(organization, filter, None, 21)
                .await
                .unwrap();
            assert!(
                i64::try_from(rows.len()).unwrap() <= total,
                "{backend:?} {what}"
            );
            assert!(!rows.is_empty(), "{backend:?} {what}");
            let after = rows.first().map(|resource| resource.id);
            for after in [None, after] {
                let what = format!("{what}, after {after:?}");
                let (page, count) = store
                    .explain_resources_page(organization, filter, after, 21)
                    .await
                    .unwrap();
                check(&what, &page, uses);
                check(&format!("{what}: count"), &count, uses);
            }
        }

        let (page, count) = store
            .explain_transferred_resources_page(owner, None, 21)
            .await
            .unwrap();
        check("transferred resources page", &page, &["resources_owner"]);
        check(
            "transferred resources page: count",
            &count,
            &["resources_owner"],
        );

        database.store.close().await;
    }
}
