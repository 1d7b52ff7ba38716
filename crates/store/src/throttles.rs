//! Failed-login counters and lockouts, shared by every server instance. The same counters
//! limit password reset requests (keys `reset-email:` and `reset-address:`, see
//! `steward_domain::throttle`), where every request counts.

use steward_domain::throttle::ThrottlePolicy;
use time::OffsetDateTime;

use crate::{Result, Store, Timestamp, on_pool, on_tx};

impl Store {
    /// The latest time any of `keys` is locked until, if one is locked at `now`. One
    /// statement.
    pub async fn login_locked_until(
        &self,
        keys: &[String],
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>> {
        if keys.is_empty() {
            return Ok(None);
        }
        let until: Option<Timestamp> = on_pool!(self, |pool| {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT MAX(locked_until) FROM login_throttles WHERE locked_until > ",
            );
            query.push_bind(Timestamp::from(now));
            query.push(" AND key IN (");
            push_in_list!(query, keys.iter().map(String::as_str));
            query.build_query_scalar().fetch_one(pool).await?
        });
        Ok(until.map(OffsetDateTime::from))
    }

    /// Counts a failed login (or a password reset request) against `key` (atomically,
    /// whatever other instances do) and locks it when `policy` says so. Returns the lock's end when this failure locked it.
    pub async fn record_login_failure(
        &self,
        key: &str,
        policy: &ThrottlePolicy,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>> {
        let mut tx = self.begin().await?;
        let failures: i64 = on_tx!(&mut tx, |conn| {
            sqlx::query_scalar(
                "INSERT INTO login_throttles (key, failures, last_failure_at) VALUES ($1, 1, $2) \
                 ON CONFLICT (key) DO UPDATE SET failures = CASE \
                   WHEN login_throttles.last_failure_at <= $3 THEN 1 \
                   ELSE login_throttles.failures + 1 END, \
                 last_failure_at = excluded.last_failure_at \
                 RETURNING failures",
            )
            .bind(key)
            .bind(Timestamp::from(now))
            .bind(Timestamp::from(now - policy.reset_after))
            .fetch_one(conn)
            .await?
        });
        let locked_until = policy.locked_until(u32::try_from(failures).unwrap_or(u32::MAX), now);
        if let Some(until) = locked_until {
            on_tx!(&mut tx, |conn| {
                sqlx::query("UPDATE login_throttles SET locked_until = $2 WHERE key = $1")
                    .bind(key)
                    .bind(Timestamp::from(until))
                    .execute(conn)
                    .await?;
            });
        }
        tx.commit().await?;
        Ok(locked_until)
    }

    /// Forgets the failures of `key`: after a successful login, or an administrator's clear.
    /// Returns whether there were any.
    pub async fn clear_login_throttle(&self, key: &str) -> Result<bool> {
        let cleared = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM login_throttles WHERE key = $1")
                .bind(key)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(cleared > 0)
    }
}
