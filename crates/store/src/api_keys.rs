//! API keys. A key is found by the SHA-256 of the whole key on every request it makes, so a
//! revocation, a suspension or a disabled membership stops it at once on every instance.

use steward_domain::audit::{AuditAction, AuditOutcome};
use steward_domain::notification::Notification;
use steward_domain::user::{PlatformRole, UserStatus};
use steward_domain::{ApiKeyId, DomainError, OrganizationId, RoleId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{AuditEntry, Result, Store, StoreError, Timestamp, Tx, on_pool, on_tx};

/// A key to store: never the key itself, only its `jti` and hash.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub name: String,
    /// The organization the key is limited to, with `roles` of the owner there (none: the
    /// owner's default role); `None`: the key acts as its owner everywhere.
    pub organization: Option<OrganizationId>,
    pub roles: Vec<RoleId>,
    pub expires_at: Option<OffsetDateTime>,
    pub secret: ApiKeySecret,
}

/// What identifies a key's current token.
#[derive(Debug, Clone)]
pub struct ApiKeySecret {
    pub jti: String,
    pub token_hash: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub user: UserId,
    pub created_by: Option<UserId>,
    pub name: String,
    pub organization: Option<OrganizationId>,
    pub roles: Vec<RoleId>,
    pub created_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    id: Uuid,
    user_id: Uuid,
    created_by: Option<Uuid>,
    name: String,
    organization_id: Option<Uuid>,
    created_at: Timestamp,
    expires_at: Option<Timestamp>,
    last_used_at: Option<Timestamp>,
    revoked_at: Option<Timestamp>,
}

macro_rules! select_keys {
    () => {
        "SELECT id, user_id, created_by, name, organization_id, created_at, expires_at, \
         last_used_at, revoked_at FROM api_keys"
    };
}

/// Why a key past its expiry is refused.
pub const API_KEY_EXPIRED: &str = "the API key has expired";

/// Who a presented key acts as, read on each request it makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyPrincipal {
    pub key: ApiKeyId,
    pub user: UserId,
    pub platform_role: Option<PlatformRole>,
    pub organization: Option<OrganizationId>,
    pub roles: Vec<RoleId>,
}

#[derive(sqlx::FromRow)]
struct PrincipalRow {
    id: Uuid,
    user_id: Uuid,
    organization_id: Option<Uuid>,
    expires_at: Option<Timestamp>,
    status: String,
    platform_role: Option<String>,
    membership_status: Option<String>,
}

impl Tx {
    async fn api_key(&mut self, id: ApiKeyId) -> Result<ApiKeyRecord> {
        let row = on_tx!(self, |conn| {
            sqlx::query_as::<_, ApiKeyRow>(concat!(select_keys!(), " WHERE id = $1"))
                .bind(id.as_uuid())
                .fetch_optional(&mut *conn)
                .await?
        });
        let row = row.ok_or(DomainError::NotFound {
            what: "the API key",
        })?;
        let roles: Vec<Uuid> = on_tx!(self, |conn| {
            sqlx::query_scalar("SELECT role_id FROM api_key_roles WHERE api_key_id = $1")
                .bind(id.as_uuid())
                .fetch_all(conn)
                .await?
        });
        Ok(record(row, roles.into_iter().map(RoleId).collect()))
    }
}

fn record(row: ApiKeyRow, roles: Vec<RoleId>) -> ApiKeyRecord {
    ApiKeyRecord {
        id: ApiKeyId(row.id),
        user: UserId(row.user_id),
        created_by: row.created_by.map(UserId),
        name: row.name,
        organization: row.organization_id.map(OrganizationId),
        roles,
        created_at: row.created_at.into(),
        expires_at: row.expires_at.map(Into::into),
        last_used_at: row.last_used_at.map(Into::into),
        revoked_at: row.revoked_at.map(Into::into),
    }
}

impl Store {
    /// Stores a key of `owner` and tells the owner a key was made. The organization must be
    /// one the owner is an active member of, and the roles bound to the owner there.
    pub async fn create_api_key(
        &self,
        owner: UserId,
        key: &NewApiKey,
        entry: &AuditEntry,
    ) -> Result<ApiKeyRecord> {
        if key.organization.is_none() && !key.roles.is_empty() {
            return Err(
                DomainError::invalid("roles", "need an organization: roles belong to one").into(),
            );
        }
        if let Some(organization) = key.organization {
            let active = self
                .member_grants(owner, None)
                .await?
                .iter()
                .any(|grant| grant.organization == organization);
            if !active {
                return Err(DomainError::NotFound {
                    what: "the organization",
                }
                .into());
            }
            for role in &key.roles {
                if !self.role_bound_to_user(owner, organization, *role).await? {
                    return Err(DomainError::invalid(
                        "roles",
                        "may name only roles you hold in the organization",
                    )
                    .into());
                }
            }
        }
        let id = ApiKeyId::new();
        let mut tx = self.begin().await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "INSERT INTO api_keys (id, user_id, created_by, name, organization_id, jti, \
                 token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(id.as_uuid())
            .bind(owner.as_uuid())
            .bind(entry.actor.map(|actor| actor.as_uuid()))
            .bind(key.name.as_str())
            .bind(key.organization.map(|organization| organization.as_uuid()))
            .bind(key.secret.jti.as_str())
            .bind(key.secret.token_hash.as_str())
            .bind(Timestamp::from(entry.at))
            .bind(key.expires_at.map(Timestamp::from))
            .execute(&mut *conn)
            .await?;
            for role in &key.roles {
                sqlx::query(
                    "INSERT INTO api_key_roles (api_key_id, role_id) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(id.as_uuid())
                .bind(role.as_uuid())
                .execute(&mut *conn)
                .await?;
            }
        });
        let mut event = entry
            .event(AuditAction::ApiKeyCreated, AuditOutcome::Success)
            .target("api_key", id)
            .detail(serde_json::json!({ "name": key.name, "owner": owner.to_string() }));
        if let Some(organization) = key.organization {
            event = event.organization(organization);
        }
        tx.audit(&event).await?;
        tx.notify_user(
            owner,
            &Notification::NewApiKey {
                name: key.name.clone(),
                expires_at: key.expires_at,
            },
            entry.at,
        )
        .await?;
        let created = tx.api_key(id).await?;
        tx.commit().await?;
        Ok(created)
    }

    /// Gives a live key a new token; the old one stops at once.
    pub async fn regenerate_api_key(
        &self,
        id: ApiKeyId,
        secret: &ApiKeySecret,
        entry: &AuditEntry,
    ) -> Result<ApiKeyRecord> {
        let mut tx = self.begin().await?;
        let updated = on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE api_keys SET jti = $2, token_hash = $3 WHERE id = $1 AND revoked_at IS NULL",
            )
            .bind(id.as_uuid())
            .bind(secret.jti.as_str())
            .bind(secret.token_hash.as_str())
            .execute(conn)
            .await?
            .rows_affected()
        });
        if updated == 0 {
            return Err(
                DomainError::invalid("id", "the key has been revoked; create a new one").into(),
            );
        }
        tx.audit(
            &entry
                .event(AuditAction::ApiKeyRegenerated, AuditOutcome::Success)
                .target("api_key", id),
        )
        .await?;
        let key = tx.api_key(id).await?;
        tx.commit().await?;
        Ok(key)
    }

    /// Revokes a key: it stops at once.
    pub async fn revoke_api_key(&self, id: ApiKeyId, entry: &AuditEntry) -> Result<ApiKeyRecord> {
        let mut tx = self.begin().await?;
        let updated = on_tx!(&mut tx, |conn| {
            sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id.as_uuid())
                .bind(Timestamp::from(entry.at))
                .execute(conn)
                .await?
                .rows_affected()
        });
        if updated == 0 {
            return Err(DomainError::invalid("id", "the key has been revoked already").into());
        }
        tx.audit(
            &entry
                .event(AuditAction::ApiKeyRevoked, AuditOutcome::Success)
                .target("api_key", id),
        )
        .await?;
        let key = tx.api_key(id).await?;
        tx.commit().await?;
        Ok(key)
    }

    pub async fn api_key_by_id(&self, id: ApiKeyId) -> Result<Option<ApiKeyRecord>> {
        let mut tx = self.begin().await?;
        let key = match tx.api_key(id).await {
            Ok(key) => Some(key),
            Err(StoreError::Domain(DomainError::NotFound { .. })) => None,
            Err(error) => return Err(error),
        };
        tx.commit().await?;
        Ok(key)
    }

    /// A user's keys that are not revoked, newest first.
    pub async fn api_keys_of_user(
        &self,
        user: UserId,
        include_revoked: bool,
    ) -> Result<Vec<ApiKeyRecord>> {
        let (rows, roles): (Vec<ApiKeyRow>, Vec<(Uuid, Uuid)>) = on_pool!(self, |pool| {
            let rows = sqlx::query_as::<_, ApiKeyRow>(concat!(
                select_keys!(),
                " WHERE user_id = $1 AND ($2 OR revoked_at IS NULL) ORDER BY id DESC"
            ))
            .bind(user.as_uuid())
            .bind(include_revoked)
            .fetch_all(pool)
            .await?;
            let roles = sqlx::query_as(
                "SELECT r.api_key_id, r.role_id FROM api_key_roles r \
                 JOIN api_keys k ON k.id = r.api_key_id WHERE k.user_id = $1",
            )
            .bind(user.as_uuid())
            .fetch_all(pool)
            .await?;
            (rows, roles)
        });
        Ok(rows
            .into_iter()
            .map(|row| {
                let own = roles
                    .iter()
                    .filter(|(key, _)| *key == row.id)
                    .map(|(_, role)| RoleId(*role))
                    .collect();
                record(row, own)
            })
            .collect())
    }

    /// The principal of the key whose hash is `token_hash`, if it may act at `now`: not
    /// revoked or expired, its owner active, and its organization's membership active.
    /// Otherwise why not.
    pub async fn api_key_principal(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<std::result::Result<ApiKeyPrincipal, &'static str>> {
        let row = on_pool!(self, |pool| {
            sqlx::query_as::<_, PrincipalRow>(
                "SELECT k.id, k.user_id, k.organization_id, k.expires_at, u.status, \
                 u.platform_role, m.status AS membership_status \
                 FROM api_keys k JOIN users u ON u.id = k.user_id \
                 LEFT JOIN memberships m ON m.user_id = k.user_id \
                   AND m.organization_id = k.organization_id \
                 WHERE k.token_hash = $1 AND k.revoked_at IS NULL",
            )
            .bind(token_hash)
            .fetch_optional(pool)
            .await?
        });
        let Some(row) = row else {
            return Ok(Err("the API key is not valid or has been revoked"));
        };
        if row
            .expires_at
            .is_some_and(|at| OffsetDateTime::from(at) <= now)
        {
            return Ok(Err(API_KEY_EXPIRED));
        }
        let status = UserStatus::from_code(&row.status)
            .ok_or_else(|| StoreError::Corrupt(format!("user status {:?}", row.status)))?;
        if !status.can_log_in() {
            return Ok(Err("the API key's owner may not act now"));
        }
        if row.organization_id.is_some() && row.membership_status.as_deref() != Some("ACTIVE") {
            return Ok(Err(
                "the API key's owner is not an active member of its organization",
            ));
        }
        let roles: Vec<Uuid> = on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT role_id FROM api_key_roles WHERE api_key_id = $1")
                .bind(row.id)
                .fetch_all(pool)
                .await?
        });
        Ok(Ok(ApiKeyPrincipal {
            key: ApiKeyId(row.id),
            user: UserId(row.user_id),
            platform_role: row
                .platform_role
                .as_deref()
                .and_then(PlatformRole::from_code),
            organization: row.organization_id.map(OrganizationId),
            roles: roles.into_iter().map(RoleId).collect(),
        }))
    }

    /// Records when keys were last used; called in batches, not per request.
    pub async fn record_api_key_uses(&self, uses: &[(ApiKeyId, OffsetDateTime)]) -> Result<()> {
        if uses.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for (key, at) in uses {
            on_tx!(&mut tx, |conn| {
                sqlx::query(
                    "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 \
                     AND (last_used_at IS NULL OR last_used_at < $2)",
                )
                .bind(key.as_uuid())
                .bind(Timestamp::from(*at))
                .execute(conn)
                .await?;
            });
        }
        tx.commit().await
    }
}
