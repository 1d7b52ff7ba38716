//! Every SQL statement of Steward, over SQLite (the embedded default) and PostgreSQL.
//!
//! One [`Store`] serves both backends. Queries are written once, with `$1`-style placeholders
//! that both drivers accept, and expanded for each typed pool by the [`on_pool!`] and
//! [`on_tx!`] macros, so PostgreSQL keeps its native types (uuid, timestamptz, jsonb) and
//! SQLite keeps sqlx's encodings of them. Every change is written in one transaction together
//! with its audit event.

/// Binds each value as the next placeholder of an open `IN (` list of a `QueryBuilder`, and
/// closes the list. Defined before the modules so that all of them can use it.
macro_rules! push_in_list {
    ($query:expr, $values:expr) => {{
        let mut separated = $query.separated(", ");
        for value in $values {
            separated.push_bind(value);
        }
        $query.push(")");
    }};
}

/// Pushes `sql` onto a `QueryBuilder`, binding the slice `ids` as a parenthesized list at
/// each `{ids}` marker and `now` at each `{now}`: one statement text for both backends,
/// whatever the number of ids.
macro_rules! push_marked_sql {
    ($query:ident, $sql:expr, $ids:expr) => {
        push_marked_sql!(@ $query, $sql, $ids, |_query: &mut sqlx::QueryBuilder<_>| {
            unreachable!("a {{now}} marker with no time to bind")
        })
    };
    ($query:ident, $sql:expr, $ids:expr, $now:expr) => {
        push_marked_sql!(@ $query, $sql, $ids, |query: &mut sqlx::QueryBuilder<_>| {
            query.push_bind($now);
        })
    };
    (@ $query:ident, $sql:expr, $ids:expr, $bind_now:expr) => {{
        let bind_now = $bind_now;
        let mut rest: &str = $sql;
        while let Some(start) = rest.find('{') {
            $query.push(&rest[..start]);
            let end = start + rest[start..].find('}').expect("a closed marker");
            match &rest[start + 1..end] {
                "ids" => {
                    $query.push("(");
                    push_in_list!($query, $ids.iter().copied());
                }
                "now" => bind_now(&mut $query),
                other => unreachable!("unknown marker {other}"),
            }
            rest = &rest[end + 1..];
        }
        $query.push(rest);
    }};
}

/// The plan the database makes for the statement that `$push` writes into `$query`:
/// SQLite's `EXPLAIN QUERY PLAN` rows (`detail` column), or PostgreSQL's
/// `EXPLAIN (FORMAT JSON)` document as one text. A store function and its `explain_*` twin
/// write their statement with the same macro, so tests check the plan of the very statement
/// that runs, with the same bound values.
#[cfg(feature = "testing")]
macro_rules! explain_plan {
    ($store:expr, |$query:ident| $push:expr) => {
        match $store {
            $crate::Store::Sqlite(pool) => {
                let mut $query = sqlx::QueryBuilder::new("EXPLAIN QUERY PLAN ");
                $push;
                let rows: Vec<(i64, i64, i64, String)> =
                    $query.build_query_as().fetch_all(pool).await?;
                rows.into_iter()
                    .map(|(_, _, _, detail)| detail)
                    .collect::<Vec<String>>()
            }
            $crate::Store::Postgres(pool) => {
                let mut $query = sqlx::QueryBuilder::new("EXPLAIN (FORMAT JSON) ");
                $push;
                let plan: sqlx::types::Json<serde_json::Value> =
                    $query.build_query_scalar().fetch_one(pool).await?;
                vec![plan.0.to_string()]
            }
        }
    };
}

mod accounts;
mod api_keys;
mod audit;
#[cfg(feature = "bench")]
pub mod bench;
mod consistency;
mod deletion;
mod effective_roles;
mod error;
mod groups;
mod imports;
mod invitations;
mod jobs;
mod mfa;
mod organizations;
mod outbox;
mod password_rules;
mod pool;
mod preferences;
mod projects;
mod refresh_tokens;
mod resources;
mod roles;
mod sessions;
mod shares;
mod signing_keys;
mod ssh_keys;
#[cfg(any(feature = "testing", feature = "bench"))]
pub mod statement_log;
#[cfg(feature = "testing")]
pub mod testing;
mod throttles;
mod timestamp;
mod transfers;
mod user_directory;
mod users;

pub use accounts::{Creator, ProfileChanges};
pub use api_keys::{API_KEY_EXPIRED, ApiKeyPrincipal, ApiKeyRecord, ApiKeySecret, NewApiKey};
pub use audit::{AuditEntry, AuditEventRecord, AuditFilter, NewAuditEvent};
pub use consistency::{Finding, FindingFilter, run_parameters};
pub use deletion::{
    DeletionHoldRecord, DeletionOutcome, DeletionPlan, KindPlan, OrganizationDeletionPreflight,
    OrganizationPlan,
};
pub use error::StoreError;
pub use groups::GroupRecord;
pub use imports::{BatchOutcome, ImportRowRecord, ImportStaging, NewUserImport};
pub use invitations::{InvitationRecord, LinkHolder, NewInvitation, NewLink};
pub use jobs::{ClaimedJob, JobFilter, JobRecord};
pub use mfa::{RecoveryCodeRecord, TotpRecord};
pub use organizations::{MembershipRecord, OrganizationRecord};
pub use outbox::{
    AttemptFailed, ClaimedNotification, DeliveredVia, MailboxMessage, MailboxRecord, OutboxRecord,
    Recipient,
};
pub use pool::{Backend, Store, StoreOptions, Tx, redact_url};
pub use projects::ProjectRecord;
pub use refresh_tokens::{NewRefreshToken, Refreshed, SessionRecord};
pub use resources::{
    NewResource, ResourceChanges, ResourceFilter, ResourceKindRecord, ResourceRecord,
};
pub use roles::{
    BindingScope, BindingSubject, RoleBindingRecord, RoleDefinition, RoleRecord, RoleSummary,
};
pub use sessions::{NewSession, SessionPrincipal};
pub use shares::ResourceShareRecord;
pub use signing_keys::{NewSigningKey, SigningKeyRecord};
pub use ssh_keys::{MAX_SSH_KEYS_PER_USER, SshKeyRecord};
pub use timestamp::Timestamp;
pub use transfers::{TransferItemRecord, TransferRecord, TransferSelection};
pub use user_directory::{
    ListedUser, SortDirection, UserListFilter, UserOrder, UserPageRequest, UserPosition,
    UserSearch, UserSortKey,
};
pub use users::{LoginCandidate, NewUser, UserRecord};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
