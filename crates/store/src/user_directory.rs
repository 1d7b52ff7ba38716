//! The users of an organization as a list: filtered, searched, sorted five ways and paged by
//! keyset, never by offset.
//!
//! A page is one statement. Its position is a sort key and a user id (the tie-breaker): the
//! next page is "after this key and id" in the sort order, which an index on `(key, id)`
//! answers by reading from that position on, however deep the page. Reading backwards (the
//! last page, `before` a position) is the same statement in the opposite direction. The SQL is
//! built by one macro for both the page and [`Store::explain_users_page`], so tests can check
//! the plan of the very statement that runs.

use sqlx::QueryBuilder;
use steward_domain::membership::MembershipStatus;
use steward_domain::policy::{Authorized, ViewUsers};
use steward_domain::user::UserStatus;
use steward_domain::{DomainError, GroupId, RoleId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::users::UserRow;
use crate::{Result, Store, Timestamp, UserRecord, on_pool};

/// A search of the users listing: an exact user id, or the start of a username, e-mail
/// address or full name, regardless of case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSearch {
    /// As typed, trimmed: the full name is compared with the database's `lower()` of it, the
    /// function its lower-case column is generated with.
    text: String,
    /// Lower-cased as usernames and e-mail addresses are stored.
    lowered: String,
    id: Option<Uuid>,
}

impl UserSearch {
    /// The longest search: longer than any e-mail address or name.
    pub const MAX_LEN: usize = 254;

    /// `None` for a blank search, which filters nothing.
    pub fn parse(text: &str) -> Result<Option<UserSearch>, DomainError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        if text.chars().count() > Self::MAX_LEN {
            return Err(DomainError::invalid(
                "search",
                format!("must be at most {} characters long", Self::MAX_LEN),
            ));
        }
        Ok(Some(UserSearch {
            text: text.to_owned(),
            lowered: text.to_lowercase(),
            id: Uuid::parse_str(text).ok(),
        }))
    }
}

/// Which members to list. Every field narrows the list; `None` does not filter, and an empty
/// list matches nothing.
#[derive(Debug, Clone, Default)]
pub struct UserListFilter {
    /// Account statuses, any of them.
    pub statuses: Option<Vec<UserStatus>>,
    /// Membership statuses in the organization, any of them.
    pub membership_statuses: Option<Vec<MembershipStatus>>,
    /// Roles of the organization the user holds, any of them, bound to the user or to a group
    /// of theirs that is not archived, for the organization or for a project.
    pub roles: Option<Vec<RoleId>>,
    /// Groups of the organization the user is in, any of them.
    pub groups: Option<Vec<GroupId>>,
    pub mfa_enabled: Option<bool>,
    pub search: Option<UserSearch>,
}

impl UserListFilter {
    fn matches_nothing(&self) -> bool {
        self.statuses.as_ref().is_some_and(Vec::is_empty)
            || self.membership_statuses.as_ref().is_some_and(Vec::is_empty)
            || self.roles.as_ref().is_some_and(Vec::is_empty)
            || self.groups.as_ref().is_some_and(Vec::is_empty)
    }
}

/// What the listing is sorted by; ties are broken by user id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserOrder {
    CreatedAt,
    /// Regardless of case.
    Username,
    /// Regardless of case.
    Email,
    /// Regardless of case (ASCII letters only on SQLite).
    Name,
    /// Users who never logged in come first in ascending order, last in descending order.
    LastLogin,
}

impl UserOrder {
    fn column(self) -> &'static str {
        match self {
            UserOrder::CreatedAt => "u.created_at",
            UserOrder::Username => "u.username_normalized",
            UserOrder::Email => "u.email_normalized",
            UserOrder::Name => "u.full_name_normalized",
            UserOrder::LastLogin => "u.last_login_at",
        }
    }

    /// Whether `key` is a value of this order's sort key (a cursor from a client may say
    /// anything).
    pub fn accepts(self, key: &UserSortKey) -> bool {
        matches!(
            (self, key),
            (
                UserOrder::CreatedAt | UserOrder::LastLogin,
                UserSortKey::Time(_)
            ) | (UserOrder::LastLogin, UserSortKey::Never)
                | (
                    UserOrder::Username | UserOrder::Email | UserOrder::Name,
                    UserSortKey::Text(_)
                )
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortDirection {
    Ascending,
    Descending,
}

impl SortDirection {
    pub fn reversed(self) -> Self {
        match self {
            SortDirection::Ascending => SortDirection::Descending,
            SortDirection::Descending => SortDirection::Ascending,
        }
    }
}

/// A user's value of the sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserSortKey {
    Text(String),
    Time(OffsetDateTime),
    /// No last login.
    Never,
}

/// A place in the listing: a user and their sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPosition {
    pub key: UserSortKey,
    pub id: UserId,
}

/// One page to read, in reading order.
#[derive(Debug, Clone)]
pub struct UserPageRequest {
    pub order: UserOrder,
    /// The direction rows are read in: the opposite of the listing's for a page counted from
    /// its end (`last`).
    pub direction: SortDirection,
    /// Only users strictly after this position, in reading order.
    pub after: Option<UserPosition>,
    /// Only users strictly before this position, in reading order.
    pub before: Option<UserPosition>,
    pub limit: i64,
}

/// A user of a page, with their position for a cursor.
#[derive(Debug, Clone)]
pub struct ListedUser {
    pub user: UserRecord,
    pub position: UserPosition,
}

#[derive(sqlx::FromRow)]
struct ListedUserRow {
    #[sqlx(flatten)]
    user: UserRow,
    username_normalized: String,
    email_normalized: String,
    full_name_normalized: String,
}

/// The largest code point: `prefix || MAX_CHAR` is above every text that starts with `prefix`
/// (but for texts whose next character is this one, which is a noncharacter).
const MAX_CHAR: &str = "\u{10FFFF}";

/// Pushes ` FROM ... WHERE ...` for the members of `$organization` that `$filter` keeps.
macro_rules! push_members_matching {
    ($query:expr, $organization:expr, $filter:expr) => {{
        let organization: Uuid = $organization;
        let filter: &UserListFilter = $filter;
        // A semi-join, not a join: SQLite then reads users in the listing's order through
        // the sort key's index and stops at the page's end, where with a join it starts from
        // the organization's memberships and sorts all of them. PostgreSQL plans either way.
        $query
            .push(
                " FROM users u WHERE EXISTS (SELECT 1 FROM memberships m \
                 WHERE m.user_id = u.id AND ",
            )
            .push(crate::organizations::SHOWN_MEMBERSHIP)
            .push(" AND m.organization_id = ")
            .push_bind(organization);
        if let Some(statuses) = &filter.membership_statuses {
            $query.push(" AND m.status IN (");
            push_in_list!($query, statuses.iter().map(|status| status.code()));
        }
        $query.push(")");
        if let Some(statuses) = &filter.statuses {
            $query.push(" AND u.status IN (");
            push_in_list!($query, statuses.iter().map(|status| status.code()));
        }
        if let Some(mfa_enabled) = filter.mfa_enabled {
            $query.push(" AND u.mfa_enabled = ").push_bind(mfa_enabled);
        }
        if let Some(groups) = &filter.groups {
            $query
                .push(
                    " AND EXISTS (SELECT 1 FROM group_members gm JOIN groups g ON g.id = gm.group_id \
                     WHERE gm.user_id = u.id AND g.organization_id = ",
                )
                .push_bind(organization)
                .push(" AND gm.group_id IN (");
            push_in_list!($query, groups.iter().map(|group| group.as_uuid()));
            $query.push(")");
        }
        if let Some(roles) = &filter.roles {
            // As the grants are computed: a role held through a group counts while the group
            // is not archived.
            $query
                .push(
                    " AND EXISTS (SELECT 1 FROM role_bindings rb WHERE rb.organization_id = ",
                )
                .push_bind(organization)
                .push(" AND rb.role_id IN (");
            push_in_list!($query, roles.iter().map(|role| role.as_uuid()));
            $query.push(
                " AND (rb.user_id = u.id OR rb.group_id IN (\
                 SELECT gm.group_id FROM group_members gm JOIN groups g ON g.id = gm.group_id \
                 WHERE gm.user_id = u.id AND g.archived_at IS NULL)))",
            );
        }
        if let Some(search) = &filter.search {
            // Ranges on lower-case columns, each an index range on both databases, in a
            // subquery: SQLite then reads the few matching ids first and sorts them, where
            // with the ranges ORed in the outer WHERE it may walk the sort order's index
            // through every member looking for them.
            $query
                .push(
                    " AND u.id IN (SELECT id FROM users \
                     WHERE username_normalized >= ",
                )
                .push_bind(search.lowered.clone())
                .push(" AND username_normalized < ")
                .push_bind(search.lowered.clone())
                .push(" || ")
                .push_bind(MAX_CHAR)
                .push(" UNION ALL SELECT id FROM users WHERE email_normalized >= ")
                .push_bind(search.lowered.clone())
                .push(" AND email_normalized < ")
                .push_bind(search.lowered.clone())
                .push(" || ")
                .push_bind(MAX_CHAR)
                .push(" UNION ALL SELECT id FROM users WHERE full_name_normalized >= lower(")
                .push_bind(search.text.clone())
                .push(") AND full_name_normalized < lower(")
                .push_bind(search.text.clone())
                .push(") || ")
                .push_bind(MAX_CHAR);
            if let Some(id) = search.id {
                $query
                    .push(" UNION ALL SELECT id FROM users WHERE id = ")
                    .push_bind(id);
            }
            $query.push(")");
        }
    }};
}

/// Pushes the condition that a row lies strictly beyond `$position` in ascending order
/// (`$beyond` true) or strictly before it (false). Never-logged-in users (NULL) come first in
/// ascending order; a row comparison with NULL is not true, hence the explicit NULL terms.
macro_rules! push_position {
    ($query:expr, $column:expr, $position:expr, $beyond:expr) => {{
        let column: &str = $column;
        let position: &UserPosition = $position;
        let beyond: bool = $beyond;
        let id = position.id.as_uuid();
        match (&position.key, beyond) {
            (UserSortKey::Never, true) => {
                $query
                    .push(" AND ((")
                    .push(column)
                    .push(" IS NULL AND u.id > ")
                    .push_bind(id)
                    .push(") OR ")
                    .push(column)
                    .push(" IS NOT NULL)");
            }
            (UserSortKey::Never, false) => {
                $query
                    .push(" AND ")
                    .push(column)
                    .push(" IS NULL AND u.id < ")
                    .push_bind(id);
            }
            (key, beyond) => {
                $query
                    .push(" AND ((")
                    .push(column)
                    .push(", u.id) ")
                    .push(if beyond { ">" } else { "<" })
                    .push(" (");
                match key {
                    UserSortKey::Text(text) => {
                        $query.push_bind(text.clone());
                    }
                    UserSortKey::Time(time) => {
                        $query.push_bind(Timestamp::from(*time));
                    }
                    UserSortKey::Never => {}
                }
                $query.push(", ").push_bind(id).push(")");
                if !beyond && column == UserOrder::LastLogin.column() {
                    $query.push(" OR ").push(column).push(" IS NULL");
                }
                $query.push(")");
            }
        }
    }};
}

/// Pushes the whole page statement.
macro_rules! push_users_page {
    ($query:expr, $organization:expr, $filter:expr, $page:expr) => {{
        let page: &UserPageRequest = $page;
        let column = page.order.column();
        let ascending = page.direction == SortDirection::Ascending;
        $query.push(
            "SELECT u.id, u.username, u.email, u.full_name, u.status, u.platform_role, \
             u.must_change_password, u.language, u.email_subscription, u.country, u.phone, \
             u.mfa_enabled, u.created_at, u.updated_at, u.last_login_at, \
             u.deletion_requested_at, u.deleted_at, u.username_normalized, u.email_normalized, u.full_name_normalized",
        );
        push_members_matching!($query, $organization, $filter);
        if let Some(after) = &page.after {
            push_position!($query, column, after, ascending);
        }
        if let Some(before) = &page.before {
            push_position!($query, column, before, !ascending);
        }
        // Spelled out for the nullable key only: PostgreSQL's default is NULLS LAST, and its
        // index for it is built NULLS FIRST, as SQLite sorts NULL.
        let direction = match (ascending, page.order == UserOrder::LastLogin) {
            (true, true) => " ASC NULLS FIRST",
            (false, true) => " DESC NULLS LAST",
            (true, false) => " ASC",
            (false, false) => " DESC",
        };
        $query
            .push(" ORDER BY ")
            .push(column)
            .push(direction)
            .push(", u.id")
            .push(if ascending { " ASC" } else { " DESC" })
            .push(" LIMIT ")
            .push_bind(page.limit);
    }};
}

impl Store {
    /// A page of the proof's organization's members (any membership status) that `filter`
    /// keeps, in the order and from the position `page` says. Counting them is separate
    /// ([`Store::count_users`]): a count reads every match, a page only its own rows.
    pub async fn users_page(
        &self,
        proof: &Authorized<ViewUsers>,
        filter: &UserListFilter,
        page: &UserPageRequest,
    ) -> Result<Vec<ListedUser>> {
        if filter.matches_nothing() || page.limit <= 0 {
            return Ok(Vec::new());
        }
        let organization = proof.organization().as_uuid();
        let rows = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new("");
            push_users_page!(query, organization, filter, page);
            query
                .build_query_as::<ListedUserRow>()
                .fetch_all(pool)
                .await?
        });
        rows.into_iter()
            .map(|row| {
                let user = UserRecord::try_from(row.user)?;
                let key = match page.order {
                    UserOrder::CreatedAt => UserSortKey::Time(user.created_at),
                    UserOrder::LastLogin => user
                        .last_login_at
                        .map_or(UserSortKey::Never, UserSortKey::Time),
                    UserOrder::Username => UserSortKey::Text(row.username_normalized),
                    UserOrder::Email => UserSortKey::Text(row.email_normalized),
                    UserOrder::Name => UserSortKey::Text(row.full_name_normalized),
                };
                Ok(ListedUser {
                    position: UserPosition { key, id: user.id },
                    user,
                })
            })
            .collect()
    }

    /// How many of the proof's organization's members `filter` keeps.
    pub async fn count_users(
        &self,
        proof: &Authorized<ViewUsers>,
        filter: &UserListFilter,
    ) -> Result<i64> {
        if filter.matches_nothing() {
            return Ok(0);
        }
        let organization = proof.organization().as_uuid();
        let count = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new("SELECT COUNT(*)");
            push_members_matching!(query, organization, filter);
            query.build_query_scalar::<i64>().fetch_one(pool).await?
        });
        Ok(count)
    }

    /// The plan the database makes for [`Store::users_page`]'s statement: SQLite's
    /// `EXPLAIN QUERY PLAN` rows (`detail` column), or PostgreSQL's `EXPLAIN (FORMAT JSON)`
    /// document as one text.
    #[cfg(feature = "testing")]
    pub async fn explain_users_page(
        &self,
        proof: &Authorized<ViewUsers>,
        filter: &UserListFilter,
        page: &UserPageRequest,
    ) -> Result<Vec<String>> {
        let organization = proof.organization().as_uuid();
        Ok(match self {
            Store::Sqlite(pool) => {
                let mut query = QueryBuilder::new("EXPLAIN QUERY PLAN ");
                push_users_page!(query, organization, filter, page);
                let rows: Vec<(i64, i64, i64, String)> =
                    query.build_query_as().fetch_all(pool).await?;
                rows.into_iter().map(|(_, _, _, detail)| detail).collect()
            }
            Store::Postgres(pool) => {
                let mut query = QueryBuilder::new("EXPLAIN (FORMAT JSON) ");
                push_users_page!(query, organization, filter, page);
                let plan: sqlx::types::Json<serde_json::Value> =
                    query.build_query_scalar().fetch_one(pool).await?;
                vec![plan.0.to_string()]
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_is_trimmed_lower_cased_and_may_be_an_id() {
        let search = UserSearch::parse("  Ann.Lee@Example.COM ")
            .expect("valid")
            .expect("not blank");
        assert_eq!(search.text, "Ann.Lee@Example.COM");
        assert_eq!(search.lowered, "ann.lee@example.com");
        assert_eq!(search.id, None);
        let id = Uuid::now_v7();
        let search = UserSearch::parse(&id.to_string().to_uppercase())
            .expect("valid")
            .expect("not blank");
        assert_eq!(search.id, Some(id));
        assert_eq!(UserSearch::parse("   "), Ok(None));
        assert!(UserSearch::parse(&"a".repeat(255)).is_err());
    }

    #[test]
    fn a_cursor_key_must_be_of_the_order_it_is_used_with() {
        let text = UserSortKey::Text("ann".into());
        let time = UserSortKey::Time(OffsetDateTime::UNIX_EPOCH);
        assert!(UserOrder::Username.accepts(&text));
        assert!(!UserOrder::Username.accepts(&time));
        assert!(UserOrder::CreatedAt.accepts(&time));
        assert!(!UserOrder::CreatedAt.accepts(&UserSortKey::Never));
        assert!(UserOrder::LastLogin.accepts(&UserSortKey::Never));
        assert!(!UserOrder::LastLogin.accepts(&text));
    }
}
