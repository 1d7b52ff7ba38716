use steward_domain::{DomainError, OrganizationId, RoleId, SessionId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use steward_domain::audit::{AuditAction, AuditOutcome};

use crate::UserRecord;
use crate::users::{UserRow, select_users};
use crate::{AuditEntry, Result, Store, Timestamp, Tx, on_pool, on_tx};

/// A session opened by a login.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: SessionId,
    pub user_id: UserId,
    /// The organization and role the session acts in, when the user has a membership.
    pub active: Option<(OrganizationId, RoleId)>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
}

/// Who stands behind a live session, read on every authenticated request. One indexed lookup
/// makes suspension, deletion and revocation effective at once rather than at token expiry.
/// The same read gives the account itself, so that `me` costs nothing more.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionPrincipal {
    pub session_id: SessionId,
    pub user: UserRecord,
    pub active: Option<(OrganizationId, RoleId)>,
}

#[derive(sqlx::FromRow)]
struct PrincipalRow {
    session_id: Uuid,
    organization_id: Option<Uuid>,
    active_role_id: Option<Uuid>,
    #[sqlx(flatten)]
    user: UserRow,
}

impl Tx {
    pub(crate) async fn insert_session(&mut self, session: &NewSession) -> Result<()> {
        on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO sessions (id, user_id, organization_id, active_role_id, created_at, \
                 expires_at, client_address, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(session.id.as_uuid())
            .bind(session.user_id.as_uuid())
            .bind(
                session
                    .active
                    .map(|(organization, _)| organization.as_uuid()),
            )
            .bind(session.active.map(|(_, role)| role.as_uuid()))
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
            sqlx::query_as::<_, PrincipalRow>(concat!(
                "SELECT s.id AS session_id, s.organization_id, s.active_role_id, u.* \
                 FROM sessions s JOIN (",
                select_users!(),
                ") u ON u.id = s.user_id \
                 WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2"
            ))
            .bind(session.as_uuid())
            .bind(Timestamp::from(now))
            .fetch_optional(pool)
            .await?
        });
        row.map(|row| {
            Ok(SessionPrincipal {
                session_id: SessionId(row.session_id),
                user: row.user.try_into()?,
                active: row
                    .organization_id
                    .zip(row.active_role_id)
                    .map(|(o, r)| (OrganizationId(o), RoleId(r))),
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

    /// Makes `role` the session's active role in `organization`; the role must be bound to
    /// the session's user there and the membership active.
    pub async fn switch_session_role(
        &self,
        session: SessionId,
        user: UserId,
        organization: OrganizationId,
        role: RoleId,
        entry: &AuditEntry,
    ) -> Result<()> {
        let active_member = self
            .member_grants(user, Some((organization, role)))
            .await?
            .into_iter()
            .any(|grant| grant.organization == organization);
        if !active_member {
            return Err(DomainError::NotFound {
                what: "the organization",
            }
            .into());
        }
        if !self.role_bound_to_user(user, organization, role).await? {
            return Err(DomainError::invalid(
                "role",
                "is not one of your roles in this organization",
            )
            .into());
        }
        let mut tx = self.begin().await?;
        let updated = on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE sessions SET organization_id = $3, active_role_id = $4 \
                 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
            )
            .bind(session.as_uuid())
            .bind(user.as_uuid())
            .bind(organization.as_uuid())
            .bind(role.as_uuid())
            .execute(conn)
            .await?
            .rows_affected()
        });
        if updated == 0 {
            return Err(DomainError::unauthenticated("the session has ended; log in again").into());
        }
        tx.audit(
            &entry
                .event(AuditAction::RoleSwitched, AuditOutcome::Success)
                .target("session", session)
                .organization(organization)
                .detail(serde_json::json!({ "role": role.to_string() })),
        )
        .await?;
        tx.commit().await
    }

    /// The organization and role a new session of `user` starts in: the oldest active
    /// membership and its default role.
    pub async fn login_context(&self, user: UserId) -> Result<Option<(OrganizationId, RoleId)>> {
        let row: Option<(Uuid, Option<Uuid>)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT organization_id, default_role_id FROM memberships \
                 WHERE user_id = $1 AND status = 'ACTIVE' ORDER BY created_at, id LIMIT 1",
            )
            .bind(user.as_uuid())
            .fetch_optional(pool)
            .await?
        });
        Ok(row.and_then(|(organization, role)| {
            role.map(|role| (OrganizationId(organization), RoleId(role)))
        }))
    }
}
