//! Refresh tokens and the sessions a user sees and ends.
//!
//! Each session is a family of refresh tokens: a refresh uses the current one and issues the
//! next in one transaction. A used token presented again was copied by someone, so the whole
//! session ends, the copy and the original holder alike.

use steward_domain::audit::{AuditAction, AuditOutcome};
use steward_domain::user::UserStatus;
use steward_domain::{DomainError, OrganizationId, RoleId, SessionId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{AuditEntry, Result, Store, StoreError, Timestamp, Tx, on_pool, on_tx};

/// A refresh token to store: only its hash, and when it stops working.
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub token_hash: String,
    pub expires_at: OffsetDateTime,
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refreshed {
    /// The token was good: it is used up, `next` is stored, and the session lives on.
    Rotated {
        session: SessionId,
        user: UserId,
        active: Option<(OrganizationId, RoleId)>,
    },
    /// The token had been used before: the session has been ended.
    Reused,
}

/// A session as its user sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRecord {
    pub id: Uuid,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(sqlx::FromRow)]
struct PresentedRow {
    session_id: Uuid,
    used_at: Option<Timestamp>,
    expires_at: Timestamp,
    session_revoked_at: Option<Timestamp>,
    session_expires_at: Timestamp,
    user_id: Uuid,
    organization_id: Option<Uuid>,
    active_role_id: Option<Uuid>,
    status: String,
}

fn ended() -> DomainError {
    DomainError::invalid("refreshToken", "the session has ended; log in again")
}

impl Tx {
    pub(crate) async fn insert_refresh_token(
        &mut self,
        session: SessionId,
        token: &NewRefreshToken,
        now: OffsetDateTime,
    ) -> Result<()> {
        on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO refresh_tokens (id, session_id, token_hash, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(Uuid::now_v7())
            .bind(session.as_uuid())
            .bind(token.token_hash.as_str())
            .bind(Timestamp::from(now))
            .bind(Timestamp::from(token.expires_at))
            .execute(conn)
            .await?;
        });
        Ok(())
    }

    async fn end_session(&mut self, session: SessionId, now: Timestamp) -> Result<bool> {
        let ended = on_tx!(self, |conn| {
            sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(session.as_uuid())
                .bind(now)
                .execute(conn)
                .await?
                .rows_affected()
        });
        Ok(ended > 0)
    }
}

impl Store {
    /// Uses the refresh token whose hash is `token_hash` and stores `next` in its place. The
    /// session's lifetime slides to `next.expires_at`. A token used before ends its session
    /// (committed, and audited as a failure) and answers [`Refreshed::Reused`].
    pub async fn refresh_session(
        &self,
        token_hash: &str,
        next: &NewRefreshToken,
        entry: &AuditEntry,
    ) -> Result<Refreshed> {
        let now = Timestamp::from(entry.at);
        let mut tx = self.begin().await?;
        let row = on_tx!(&mut tx, |conn| {
            sqlx::query_as::<_, PresentedRow>(
                "SELECT rt.session_id, rt.used_at, rt.expires_at, s.revoked_at AS session_revoked_at, \
                 s.expires_at AS session_expires_at, s.user_id, s.organization_id, \
                 s.active_role_id, u.status \
                 FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id \
                 JOIN users u ON u.id = s.user_id WHERE rt.token_hash = $1",
            )
            .bind(token_hash)
            .fetch_optional(conn)
            .await?
        });
        let Some(row) = row else {
            return Err(DomainError::invalid(
                "refreshToken",
                "is not a refresh token of this server; log in again",
            )
            .into());
        };
        let session = SessionId(row.session_id);
        let user = UserId(row.user_id);
        if row.used_at.is_some() {
            return self.refresh_reused(tx, session, user, now, entry).await;
        }
        let at = entry.at;
        if row.session_revoked_at.is_some()
            || OffsetDateTime::from(row.session_expires_at) <= at
            || OffsetDateTime::from(row.expires_at) <= at
        {
            return Err(ended().into());
        }
        let status = UserStatus::from_code(&row.status)
            .ok_or_else(|| StoreError::Corrupt(format!("user status {:?}", row.status)))?;
        if !status.can_log_in() {
            return Err(DomainError::invalid(
                "refreshToken",
                "the account may not log in now; ask an administrator",
            )
            .into());
        }
        let used = on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL",
            )
            .bind(token_hash)
            .bind(now)
            .execute(conn)
            .await?
            .rows_affected()
        });
        if used == 0 {
            // Used by a concurrent request since it was read: a copy is in play.
            return self.refresh_reused(tx, session, user, now, entry).await;
        }
        tx.insert_refresh_token(session, next, entry.at).await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query("UPDATE sessions SET last_used_at = $2, expires_at = $3 WHERE id = $1")
                .bind(session.as_uuid())
                .bind(now)
                .bind(Timestamp::from(next.expires_at))
                .execute(conn)
                .await?;
        });
        tx.audit(
            &crate::AuditEntry {
                actor: Some(user),
                ..entry.clone()
            }
            .event(AuditAction::SessionRefreshed, AuditOutcome::Success)
            .target("session", session),
        )
        .await?;
        tx.commit().await?;
        Ok(Refreshed::Rotated {
            session,
            user,
            active: row
                .organization_id
                .zip(row.active_role_id)
                .map(|(organization, role)| (OrganizationId(organization), RoleId(role))),
        })
    }

    async fn refresh_reused(
        &self,
        mut tx: Tx,
        session: SessionId,
        user: UserId,
        now: Timestamp,
        entry: &AuditEntry,
    ) -> Result<Refreshed> {
        tx.end_session(session, now).await?;
        tx.audit(
            &crate::AuditEntry {
                actor: Some(user),
                ..entry.clone()
            }
            .event(AuditAction::RefreshTokenReused, AuditOutcome::Failure)
            .target("session", session),
        )
        .await?;
        tx.commit().await?;
        Ok(Refreshed::Reused)
    }

    /// The user's sessions that are neither ended nor expired at `now`, newest first.
    pub async fn live_sessions_of_user(
        &self,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as::<_, SessionRecord>(
                "SELECT id, created_at, expires_at, last_used_at, client_address, user_agent \
                 FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
                 ORDER BY id DESC",
            )
            .bind(user.as_uuid())
            .bind(Timestamp::from(now))
            .fetch_all(pool)
            .await?
        }))
    }

    /// Ends one of `user`'s sessions. Any other session does not exist for them.
    pub async fn revoke_session_of_user(
        &self,
        user: UserId,
        session: SessionId,
        entry: &AuditEntry,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let owner: Option<Uuid> = on_tx!(&mut tx, |conn| {
            sqlx::query_scalar("SELECT user_id FROM sessions WHERE id = $1 AND revoked_at IS NULL")
                .bind(session.as_uuid())
                .fetch_optional(conn)
                .await?
        });
        if owner != Some(user.as_uuid()) {
            return Err(DomainError::NotFound {
                what: "the session",
            }
            .into());
        }
        tx.end_session(session, Timestamp::from(entry.at)).await?;
        tx.audit(
            &entry
                .event(AuditAction::SessionRevoked, AuditOutcome::Success)
                .target("session", session),
        )
        .await?;
        tx.commit().await
    }

    /// Ends every session of `user` but `keep`; returns how many ended.
    pub async fn revoke_all_sessions_of_user(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        entry: &AuditEntry,
    ) -> Result<u64> {
        let mut tx = self.begin().await?;
        let ended = on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE sessions SET revoked_at = $3 WHERE user_id = $1 AND revoked_at IS NULL \
                 AND ($2 IS NULL OR id <> $2)",
            )
            .bind(user.as_uuid())
            .bind(keep.map(|session| session.as_uuid()))
            .bind(Timestamp::from(entry.at))
            .execute(conn)
            .await?
            .rows_affected()
        });
        tx.audit(
            &entry
                .event(AuditAction::SessionsRevoked, AuditOutcome::Success)
                .target("user", user)
                .detail(serde_json::json!({ "ended": ended })),
        )
        .await?;
        tx.commit().await?;
        Ok(ended)
    }
}
