//! Effective roles: the derived table authorization reads. Every role a user holds in an
//! organization, at each scope, bound to them directly or to a group in use they belong to.
//!
//! It is written only here: [`Tx::refresh_effective_roles`] recomputes a set of users' rows
//! from `role_bindings` and `group_members` in the transaction that changed either, and the
//! consistency check `PERMISSION_PARITY` compares it with the same recomputation.

use sqlx::QueryBuilder;
use steward_domain::{GroupId, UserId};
use uuid::Uuid;

use crate::{Result, Tx, on_tx};

/// Users a statement handles at once (one bind each, twice).
const CHUNK: usize = 400;

/// The effective roles of the users `{ids}` (see `push_marked_sql!`) recomputed from their
/// bindings and the groups in use they belong to, as `(user_id, organization_id, role_id,
/// project_id, scope_key)`.
pub(crate) const RECOMPUTED: &str = "SELECT rb.user_id AS user_id, rb.organization_id AS organization_id, \
     rb.role_id AS role_id, rb.project_id AS project_id, rb.scope_key AS scope_key \
     FROM role_bindings rb WHERE rb.user_id IN {ids} \
     UNION SELECT gm.user_id, rb.organization_id, rb.role_id, rb.project_id, rb.scope_key \
     FROM role_bindings rb JOIN groups g ON g.id = rb.group_id AND g.archived_at IS NULL \
     JOIN group_members gm ON gm.group_id = g.id WHERE gm.user_id IN {ids}";

impl Tx {
    /// Rewrites the effective roles of `users` from their bindings and groups as they stand
    /// in this transaction.
    pub(crate) async fn refresh_effective_roles(&mut self, users: &[UserId]) -> Result<()> {
        let mut users: Vec<Uuid> = users.iter().map(|user| user.as_uuid()).collect();
        users.sort_unstable();
        users.dedup();
        for chunk in users.chunks(CHUNK) {
            // Two transactions refreshing the same user on PostgreSQL would each compute from
            // their own view and the later one could keep a role the earlier one removed:
            // locking the users first makes the later one wait and recompute after it.
            // (SQLite's single writer serializes them already.) `FOR NO KEY UPDATE`, not `FOR
            // UPDATE`: the transaction inserted a binding or a group member before, and so
            // holds the foreign key's `KEY SHARE` lock on the user, as a concurrent one does;
            // `FOR UPDATE` conflicts with that lock and the two deadlocked.
            if let Tx::Postgres(tx) = self {
                let mut lock = QueryBuilder::new("SELECT id FROM users WHERE id IN (");
                push_in_list!(lock, chunk.iter().copied());
                lock.push(" ORDER BY id FOR NO KEY UPDATE");
                lock.build().execute(&mut **tx).await?;
            }
            on_tx!(&mut *self, |conn| {
                let mut delete =
                    QueryBuilder::new("DELETE FROM effective_roles WHERE user_id IN (");
                push_in_list!(delete, chunk.iter().copied());
                delete.build().execute(&mut *conn).await?;
                let mut insert = QueryBuilder::new(
                    "INSERT INTO effective_roles (user_id, organization_id, role_id, project_id, scope_key) ",
                );
                push_marked_sql!(insert, RECOMPUTED, chunk);
                insert.build().execute(&mut *conn).await?;
            });
        }
        Ok(())
    }

    pub(crate) async fn group_member_ids(&mut self, group: GroupId) -> Result<Vec<UserId>> {
        let members: Vec<Uuid> = on_tx!(self, |conn| {
            sqlx::query_scalar("SELECT user_id FROM group_members WHERE group_id = $1")
                .bind(group.as_uuid())
                .fetch_all(conn)
                .await?
        });
        Ok(members.into_iter().map(UserId).collect())
    }
}
