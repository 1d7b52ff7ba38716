use steward_domain::user::{PlatformRole, UserStatus};
use steward_domain::{SessionId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use steward_domain::audit::{AuditAction, AuditOutcome};

use crate::{AuditEntry, Result, Store, StoreError, Timestamp, Tx, on_pool, on_tx};

/// A session opened by a login.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
}

/// Who stands behind a live session, read on every authenticated request. One indexed lookup
/// makes suspension, deletion and revocation effective at once rather than at token expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPrincipal {
    pub session_id: SessionId,
    pub user_id: UserId,
    pub status: UserStatus,
    pub platform_role: Option<PlatformRole>,
    pub must_change_password: bool,
}

#[derive(sqlx::FromRow)]
struct PrincipalRow {
    session_id: Uuid,
    user_id: Uuid,
    status: String,
    platform_role: Option<String>,
    must_change_password: bool,
}

impl Tx {
    pub(crate) async fn insert_session(&mut self, session: &NewSession) -> Result<()> {
        on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO sessions (id, user_id, created_at, expires_at, client_address, user_agent) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(session.id.as_uuid())
            .bind(session.user_id.as_uuid())
            .bind(Timestamp::from(session.created_at))
            .bind(Timestamp::from(session.expires_at))
            .bind(session.client_address.as_deref())
            .bind(session.user_agent.as_deref())
            .execute(conn)
            .await?;
        });
        Ok(())
    }
}

impl Store {
    /// The principal of a session that is neither revoked nor expired at `now`.
    pub async fn live_session(
        &self,
        session: SessionId,
        now: OffsetDateTime,
    ) -> Result<Option<SessionPrincipal>> {
        let row = on_pool!(self, |pool| {
            sqlx::query_as::<_, PrincipalRow>(
                "SELECT s.id AS session_id, u.id AS user_id, u.status, u.platform_role, \
                 u.must_change_password \
                 FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2",
            )
            .bind(session.as_uuid())
            .bind(Timestamp::from(now))
            .fetch_optional(pool)
            .await?
        });
        row.map(|row| {
            Ok(SessionPrincipal {
                session_id: SessionId(row.session_id),
                user_id: UserId(row.user_id),
                status: UserStatus::from_code(&row.status).ok_or_else(|| {
                    StoreError::Corrupt(format!("unknown status {:?}", row.status))
                })?,
                platform_role: row
                    .platform_role
                    .as_deref()
                    .and_then(PlatformRole::from_code),
                must_change_password: row.must_change_password,
            })
        })
        .transpose()
    }

    /// Ends a session now; its access tokens stop working at once. Audited when it ended a
    /// live session; `false` when the session had already ended.
    pub async fn revoke_session(&self, session: SessionId, entry: &AuditEntry) -> Result<bool> {
        let mut tx = self.begin().await?;
        let revoked = on_tx!(&mut tx, |conn| {
            sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(session.as_uuid())
                .bind(Timestamp::from(entry.at))
                .execute(conn)
                .await?
                .rows_affected()
        }) > 0;
        if revoked {
            tx.audit(
                &entry
                    .event(AuditAction::SessionRevoked, AuditOutcome::Success)
                    .target("session", session),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(revoked)
    }
}
