//! Two-factor authentication: a user's encrypted TOTP secret and their recovery codes.
//!
//! The store keeps what the server hands it: a ciphertext it cannot read and argon2id hashes
//! it cannot check. Every change is one transaction with its audit event.

use steward_domain::audit::{AuditAction, AuditOutcome};
use steward_domain::notification::Notification;
use steward_domain::{DomainError, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{AuditEntry, Result, Store, Timestamp, Tx, on_pool, on_tx};

/// A user's TOTP secret as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpRecord {
    pub user: UserId,
    /// AES-256-GCM ciphertext (with its tag) of the secret.
    pub secret_ciphertext: Vec<u8>,
    pub nonce: Vec<u8>,
    /// Null while the enrolment waits for its first code.
    pub confirmed_at: Option<OffsetDateTime>,
    pub last_used_step: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct TotpRow {
    user_id: Uuid,
    secret_ciphertext: Vec<u8>,
    nonce: Vec<u8>,
    confirmed_at: Option<Timestamp>,
    last_used_step: Option<i64>,
}

/// One recovery code as stored: its hash, and when it was used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryCodeRecord {
    pub id: Uuid,
    pub code_hash: String,
    pub used_at: Option<OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
struct RecoveryCodeRow {
    id: Uuid,
    code_hash: String,
    used_at: Option<Timestamp>,
}

const ALREADY_ENABLED: &str =
    "two-factor authentication is already on; turn it off first to enrol a new authenticator";

impl Tx {
    async fn replace_recovery_codes(&mut self, user: UserId, code_hashes: &[String]) -> Result<()> {
        on_tx!(self, |conn| {
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                .bind(user.as_uuid())
                .execute(&mut *conn)
                .await?;
            for hash in code_hashes {
                sqlx::query(
                    "INSERT INTO recovery_codes (id, user_id, code_hash) VALUES ($1, $2, $3)",
                )
                .bind(Uuid::now_v7())
                .bind(user.as_uuid())
                .bind(hash.as_str())
                .execute(&mut *conn)
                .await?;
            }
        });
        Ok(())
    }
}

impl Store {
    /// The user's TOTP secret, confirmed or waiting for confirmation.
    pub async fn totp_of(&self, user: UserId) -> Result<Option<TotpRecord>> {
        let row: Option<TotpRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT user_id, secret_ciphertext, nonce, confirmed_at, last_used_step \
                 FROM user_totp WHERE user_id = $1",
            )
            .bind(user.as_uuid())
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|row| TotpRecord {
            user: UserId(row.user_id),
            secret_ciphertext: row.secret_ciphertext,
            nonce: row.nonce,
            confirmed_at: row.confirmed_at.map(Into::into),
            last_used_step: row.last_used_step,
        }))
    }

    /// Stores a new, unconfirmed secret for `user`, replacing one still waiting for
    /// confirmation. Refused when two-factor authentication is already on.
    pub async fn enroll_totp(
        &self,
        user: UserId,
        secret_ciphertext: &[u8],
        nonce: &[u8],
        entry: &AuditEntry,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        on_tx!(&mut tx, |conn| {
            let confirmed: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM user_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL",
            )
            .bind(user.as_uuid())
            .fetch_one(&mut *conn)
            .await?;
            if confirmed > 0 {
                return Err(DomainError::conflict("totp", ALREADY_ENABLED).into());
            }
            sqlx::query("DELETE FROM user_totp WHERE user_id = $1")
                .bind(user.as_uuid())
                .execute(&mut *conn)
                .await?;
            sqlx::query(
                "INSERT INTO user_totp (user_id, secret_ciphertext, nonce, created_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(user.as_uuid())
            .bind(secret_ciphertext)
            .bind(nonce)
            .bind(Timestamp::from(entry.at))
            .execute(&mut *conn)
            .await?;
        });
        tx.audit(
            &entry
                .event(AuditAction::MfaEnrolled, AuditOutcome::Success)
                .target("user", user),
        )
        .await?;
        tx.commit().await
    }

    /// Confirms the pending secret with the step of its first accepted code, stores the
    /// recovery codes' hashes and turns two-factor authentication on.
    pub async fn confirm_totp(
        &self,
        user: UserId,
        nonce: &[u8],
        step: i64,
        code_hashes: &[String],
        entry: &AuditEntry,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let confirmed = on_tx!(&mut tx, |conn| {
            sqlx::query(
                // The nonce names the secret the code was checked against: an enrolment
                // replaced in the meantime is not confirmed with the old secret's code.
                "UPDATE user_totp SET confirmed_at = $2, last_used_step = $3 \
                 WHERE user_id = $1 AND confirmed_at IS NULL AND nonce = $4",
            )
            .bind(user.as_uuid())
            .bind(Timestamp::from(entry.at))
            .bind(step)
            .bind(nonce)
            .execute(&mut *conn)
            .await?
            .rows_affected()
        });
        if confirmed != 1 {
            return Err(DomainError::invalid(
                "code",
                "there is no enrolment to confirm, or it was replaced: call enrollTotp and \
                 confirm the code of its secret",
            )
            .into());
        }
        tx.replace_recovery_codes(user, code_hashes).await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query("UPDATE users SET mfa_enabled = $2, updated_at = $3 WHERE id = $1")
                .bind(user.as_uuid())
                .bind(true)
                .bind(Timestamp::from(entry.at))
                .execute(conn)
                .await?;
        });
        tx.audit(
            &entry
                .event(AuditAction::MfaEnabled, AuditOutcome::Success)
                .target("user", user),
        )
        .await?;
        tx.commit().await
    }

    /// Records `step` as the last used one of a confirmed secret, if it is later than the one
    /// recorded. False when another request used this step (or a later one) first: one
    /// statement, so two requests with the same code cannot both pass.
    pub async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool> {
        let updated = on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE user_totp SET last_used_step = $2 \
                 WHERE user_id = $1 AND confirmed_at IS NOT NULL \
                 AND (last_used_step IS NULL OR last_used_step < $2)",
            )
            .bind(user.as_uuid())
            .bind(step)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(updated == 1)
    }

    /// The user's recovery codes, used ones included.
    pub async fn recovery_codes_of(&self, user: UserId) -> Result<Vec<RecoveryCodeRecord>> {
        let rows: Vec<RecoveryCodeRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, code_hash, used_at FROM recovery_codes WHERE user_id = $1 ORDER BY id",
            )
            .bind(user.as_uuid())
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|row| RecoveryCodeRecord {
                id: row.id,
                code_hash: row.code_hash,
                used_at: row.used_at.map(Into::into),
            })
            .collect())
    }

    /// Marks a recovery code used, with its audit event. False when it was used already
    /// (perhaps by a request running at the same time).
    pub async fn use_recovery_code(
        &self,
        user: UserId,
        id: Uuid,
        entry: &AuditEntry,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let updated = on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE recovery_codes SET used_at = $3 \
                 WHERE id = $1 AND user_id = $2 AND used_at IS NULL",
            )
            .bind(id)
            .bind(user.as_uuid())
            .bind(Timestamp::from(entry.at))
            .execute(&mut *conn)
            .await?
            .rows_affected()
        });
        if updated != 1 {
            return Ok(false);
        }
        let left: i64 = on_tx!(&mut tx, |conn| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
            )
            .bind(user.as_uuid())
            .fetch_one(conn)
            .await?
        });
        tx.audit(
            &entry
                .event(AuditAction::RecoveryCodeUsed, AuditOutcome::Success)
                .target("user", user)
                .detail(serde_json::json!({ "codesLeft": left })),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Replaces the recovery codes of a user who has two-factor authentication on, with its
    /// audit event. False, changing nothing, when it is not on.
    pub async fn regenerate_recovery_codes(
        &self,
        user: UserId,
        code_hashes: &[String],
        entry: &AuditEntry,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let confirmed: i64 = on_tx!(&mut tx, |conn| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM user_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL",
            )
            .bind(user.as_uuid())
            .fetch_one(conn)
            .await?
        });
        if confirmed == 0 {
            return Ok(false);
        }
        tx.replace_recovery_codes(user, code_hashes).await?;
        tx.audit(
            &entry
                .event(AuditAction::RecoveryCodesRegenerated, AuditOutcome::Success)
                .target("user", user),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Turns two-factor authentication off for `user`: the secret and recovery codes are
    /// deleted, and the user is told by e-mail (`by` names who did it). False, changing
    /// nothing, when it was not on.
    pub async fn disable_totp(&self, user: UserId, by: &str, entry: &AuditEntry) -> Result<bool> {
        let mut tx = self.begin().await?;
        let removed = on_tx!(&mut tx, |conn| {
            let removed = sqlx::query(
                "DELETE FROM user_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL",
            )
            .bind(user.as_uuid())
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if removed == 1 {
                sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                    .bind(user.as_uuid())
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("UPDATE users SET mfa_enabled = $2, updated_at = $3 WHERE id = $1")
                    .bind(user.as_uuid())
                    .bind(false)
                    .bind(Timestamp::from(entry.at))
                    .execute(&mut *conn)
                    .await?;
            }
            removed
        });
        if removed != 1 {
            return Ok(false);
        }
        tx.audit(
            &entry
                .event(AuditAction::MfaDisabled, AuditOutcome::Success)
                .target("user", user),
        )
        .await?;
        tx.notify_user(
            user,
            &Notification::MfaDisabled { by: by.to_owned() },
            entry.at,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
