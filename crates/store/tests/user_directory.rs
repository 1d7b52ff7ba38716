//! The users listing on 100 000 members: its first page, its last page, a page after a cursor
//! and prefix searches are answered through indexes, never by reading the users or
//! memberships table whole, on each backend. The plans are those of the very statement
//! `users_page` runs (`explain_users_page` builds it with the same code), after `ANALYZE`.

// A test binary: a failed expectation is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Instant;

use steward_domain::organization::Name;
use steward_domain::policy::{Actor, Authorized, ViewUsers, authorize, authorize_platform};
use steward_domain::user::{EmailAddress, FullName, Language, PlatformRole, UserStatus, Username};
use steward_domain::{OrganizationId, UserId};
use steward_store::testing::{TestDatabase, backends};
use steward_store::{
    AuditEntry, Backend, NewUser, SortDirection, Store, UserListFilter, UserOrder, UserPageRequest,
    UserPosition, UserSearch,
};
use time::macros::datetime;

const MEMBERS: i64 = 100_000;
/// Users of no organization, so that the listing has to tell members apart.
const OUTSIDERS: i64 = 20_000;
const PAGE: i64 = 20;
const SEARCH_INDEXES: &[&str] = &["users_username_id", "users_email_id", "users_full_name_id"];

fn super_admin() -> Actor {
    Actor::new(UserId::new(), Some(PlatformRole::SuperAdmin), [])
}

/// An organization whose owner `aowner` (created before everyone else) is its only member.
async fn organization(store: &Store) -> OrganizationId {
    let entry = AuditEntry {
        actor: None,
        client_address: None,
        at: datetime!(2025-06-01 00:00:00 UTC),
    };
    let owner = NewUser {
        username: Username::parse("aowner").unwrap(),
        email: EmailAddress::parse("aowner@example.com").unwrap(),
        full_name: FullName::parse("A Owner").unwrap(),
        status: UserStatus::Active,
        platform_role: None,
        password_hash: None,
        must_change_password: false,
        language: Language::En,
    };
    let owner = store.create_user(&owner, &entry).await.unwrap();
    let proof = authorize_platform(&super_admin()).unwrap();
    store
        .create_organization(
            &proof,
            &Name::parse("name", "Big").unwrap(),
            owner.id,
            &entry,
        )
        .await
        .unwrap()
        .id
}

/// Users `user000001` … `user100000` (created a second apart in that order, named
/// `Name 000001` …, every third never logged in) as members of `organization`, and
/// `other000001` … as users of no organization; in a few statements, then `ANALYZE`.
async fn seed(store: &Store, organization: OrganizationId) {
    match store {
        Store::Sqlite(pool) => {
            for (prefix, count) in [("user", MEMBERS), ("other", OUTSIDERS)] {
                sqlx::query(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2) \
                     INSERT INTO users (id, username, username_normalized, email, email_normalized, \
                     full_name, status, mfa_enabled, created_at, updated_at, last_login_at) \
                     SELECT randomblob(16), $1 || printf('%06d', i), $1 || printf('%06d', i), \
                     $1 || printf('%06d', i) || '@example.com', $1 || printf('%06d', i) || '@example.com', \
                     'Name ' || printf('%06d', i), 'ACTIVE', i % 2, \
                     strftime('%Y-%m-%dT%H:%M:%S', 1767225600 + i, 'unixepoch') || '.000000Z', \
                     strftime('%Y-%m-%dT%H:%M:%S', 1767225600 + i, 'unixepoch') || '.000000Z', \
                     CASE WHEN i % 3 = 0 THEN NULL \
                     ELSE strftime('%Y-%m-%dT%H:%M:%S', 1780000000 + i, 'unixepoch') || '.000000Z' END \
                     FROM n",
                )
                .bind(prefix)
                .bind(count)
                .execute(pool)
                .await
                .unwrap();
            }
            sqlx::query(
                "INSERT INTO memberships (id, organization_id, user_id, status, created_at, updated_at) \
                 SELECT randomblob(16), $1, id, 'ACTIVE', created_at, created_at FROM users \
                 WHERE username_normalized LIKE 'user%'",
            )
            .bind(organization.as_uuid())
            .execute(pool)
            .await
            .unwrap();
            sqlx::query("ANALYZE").execute(pool).await.unwrap();
        }
        Store::Postgres(pool) => {
            for (prefix, count) in [("user", MEMBERS), ("other", OUTSIDERS)] {
                sqlx::query(
                    "INSERT INTO users (id, username, username_normalized, email, email_normalized, \
                     full_name, status, mfa_enabled, created_at, updated_at, last_login_at) \
                     SELECT gen_random_uuid(), $1 || lpad(i::text, 6, '0'), $1 || lpad(i::text, 6, '0'), \
                     $1 || lpad(i::text, 6, '0') || '@example.com', $1 || lpad(i::text, 6, '0') || '@example.com', \
                     'Name ' || lpad(i::text, 6, '0'), 'ACTIVE', i % 2 = 1, \
                     timestamptz '2026-01-01 00:00:00+00' + i * interval '1 second', \
                     timestamptz '2026-01-01 00:00:00+00' + i * interval '1 second', \
                     CASE WHEN i % 3 = 0 THEN NULL \
                     ELSE timestamptz '2026-05-28 00:00:00+00' + i * interval '1 second' END \
                     FROM generate_series(1, $2) AS i",
                )
                .bind(prefix)
                .bind(count)
                .execute(pool)
                .await
                .unwrap();
            }
            sqlx::query(
                "INSERT INTO memberships (id, organization_id, user_id, status, created_at, updated_at) \
                 SELECT gen_random_uuid(), $1, id, 'ACTIVE', created_at, created_at FROM users \
                 WHERE username_normalized LIKE 'user%'",
            )
            .bind(organization.as_uuid())
            .execute(pool)
            .await
            .unwrap();
            sqlx::query("ANALYZE").execute(pool).await.unwrap();
        }
    }
}

/// Checks that a plan reads users and memberships through indexes only, among them every
/// index of `uses`, and, for `ordered` pages, that it reads them in the listing's order (no
/// sort of every member). A search must read its matches through the search indexes, not
/// walk the sort order's index (`ordered` false).
fn assert_indexed(backend: Backend, what: &str, plan: &[String], ordered: bool, uses: &[&str]) {
    let text = plan.join("\n");
    match backend {
        Backend::Sqlite => {
            for line in plan {
                let scans_a_table = line.starts_with("SCAN ") && !line.contains(" INDEX ");
                assert!(
                    !scans_a_table,
                    "{what}: SQLite scans a table whole:\n{text}"
                );
            }
            if ordered {
                assert!(
                    !text.contains("TEMP B-TREE FOR ORDER BY"),
                    "{what}: SQLite sorts the members:\n{text}"
                );
            }
        }
        Backend::Postgres => {
            assert!(
                !text.contains("\"Seq Scan\""),
                "{what}: PostgreSQL scans a table whole:\n{text}"
            );
            if ordered {
                assert!(
                    !text.contains("\"Node Type\":\"Sort\"")
                        && !text.contains("\"Node Type\":\"Incremental Sort\""),
                    "{what}: PostgreSQL sorts the members:\n{text}"
                );
            }
        }
    }
    for index in uses {
        assert!(
            text.contains(index),
            "{what}: the plan does not use {index}:\n{text}"
        );
    }
    if !ordered {
        assert!(
            !text.contains("users_created_at_id"),
            "{what}: the search walks the listing's order:\n{text}"
        );
    }
    eprintln!("{backend:?} {what}:\n{text}\n");
}

struct Listing<'a> {
    store: &'a Store,
    backend: Backend,
    proof: Authorized<ViewUsers>,
}

impl Listing<'_> {
    /// The usernames of the page, in reading order, after checking its plan.
    async fn usernames(
        &self,
        what: &str,
        filter: &UserListFilter,
        page: &UserPageRequest,
        ordered: bool,
        uses: &[&str],
    ) -> (Vec<String>, Option<UserPosition>) {
        let plan = self
            .store
            .explain_users_page(&self.proof, filter, page)
            .await
            .unwrap();
        assert_indexed(self.backend, what, &plan, ordered, uses);
        let started = Instant::now();
        let users = self
            .store
            .users_page(&self.proof, filter, page)
            .await
            .unwrap();
        eprintln!("{:?} {what}: {:?}", self.backend, started.elapsed());
        let last = users.last().map(|user| user.position.clone());
        (
            users
                .into_iter()
                .map(|listed| listed.user.username)
                .collect(),
            last,
        )
    }
}

fn numbered(range: impl Iterator<Item = i64>) -> Vec<String> {
    range.map(|i| format!("user{i:06}")).collect()
}

fn request(order: UserOrder, direction: SortDirection) -> UserPageRequest {
    UserPageRequest {
        order,
        direction,
        after: None,
        before: None,
        limit: PAGE + 1,
    }
}

#[tokio::test]
async fn a_listing_of_100_000_members_reads_first_last_and_searched_pages_through_indexes() {
    for backend in backends() {
        let database = TestDatabase::for_store_test(backend).await.unwrap();
        let store = &database.store;
        let started = Instant::now();
        let organization = organization(store).await;
        seed(store, organization).await;
        eprintln!("{backend:?}: seeded in {:?}", started.elapsed());
        let listing = Listing {
            store,
            backend,
            proof: authorize::<ViewUsers>(&super_admin(), organization).unwrap(),
        };
        let everyone = UserListFilter::default();
        let by_creation = &["users_created_at_id"];

        // The first page: the owner, then the oldest members; one more row than the page
        // tells that there is a next page.
        let first = request(UserOrder::CreatedAt, SortDirection::Ascending);
        let (names, _) = listing
            .usernames("first page", &everyone, &first, true, by_creation)
            .await;
        let mut expected = vec!["aowner".to_owned()];
        expected.extend(numbered(1..=PAGE));
        assert_eq!(names, expected, "{backend:?}");

        // The next page, from the position of the page's last user.
        let shown = listing
            .store
            .users_page(&listing.proof, &everyone, &first)
            .await
            .unwrap();
        let cursor = shown[usize::try_from(PAGE).unwrap() - 1].position.clone();
        let next = UserPageRequest {
            after: Some(cursor),
            ..first.clone()
        };
        let (names, _) = listing
            .usernames("next page", &everyone, &next, true, by_creation)
            .await;
        assert_eq!(names, numbered(PAGE..=2 * PAGE), "{backend:?}");

        // The last page: read backwards from the end.
        let last = request(UserOrder::CreatedAt, SortDirection::Descending);
        let (names, _) = listing
            .usernames("last page", &everyone, &last, true, by_creation)
            .await;
        assert_eq!(
            names,
            numbered((MEMBERS - PAGE..=MEMBERS).rev()),
            "{backend:?}"
        );

        // The page before a position near the end, by username, descending.
        let by_username = request(UserOrder::Username, SortDirection::Descending);
        let (_, position) = listing
            .usernames(
                "last page by username",
                &everyone,
                &by_username,
                true,
                &["users_username_id"],
            )
            .await;
        let deeper = UserPageRequest {
            after: position,
            ..by_username.clone()
        };
        let (names, _) = listing
            .usernames(
                "second page by username, descending",
                &everyone,
                &deeper,
                true,
                &["users_username_id"],
            )
            .await;
        assert_eq!(
            names,
            numbered((MEMBERS - 2 * PAGE - 1..=MEMBERS - PAGE - 1).rev()),
            "{backend:?}"
        );

        // Prefix searches, regardless of case: 100 usernames, 10 names, one e-mail address.
        for (what, search, expected) in [
            (
                "username prefix search",
                "USER0999",
                numbered(99_900..=99_900 + PAGE),
            ),
            (
                "name prefix search",
                "name 05000",
                numbered(50_000..=50_009),
            ),
            (
                "e-mail prefix search",
                "User012345@EXAMPLE",
                numbered(12_345..=12_345),
            ),
        ] {
            let filter = UserListFilter {
                search: UserSearch::parse(search).unwrap(),
                ..UserListFilter::default()
            };
            let (names, _) = listing
                .usernames(what, &filter, &first, false, SEARCH_INDEXES)
                .await;
            assert_eq!(names, expected, "{backend:?}: {what}");
        }
        database.store.close().await;
    }
}
