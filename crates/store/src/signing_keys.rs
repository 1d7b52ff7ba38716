use steward_domain::SigningKeyId;
use steward_domain::audit::{AuditAction, AuditOutcome};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{AuditEntry, Result, Store, Timestamp, Tx, on_pool, on_tx};

/// A key pair that signs access tokens. The private key is a PKCS#8 document.
#[derive(Debug, Clone)]
pub struct NewSigningKey {
    pub kid: String,
    pub algorithm: String,
    pub private_key: Vec<u8>,
    pub public_key: Vec<u8>,
}

#[derive(Clone, sqlx::FromRow)]
pub struct SigningKeyRecord {
    pub id: Uuid,
    pub kid: String,
    pub algorithm: String,
    pub private_key: Vec<u8>,
    pub public_key: Vec<u8>,
    pub created_at: Timestamp,
    pub retired_at: Option<Timestamp>,
}

// Written by hand so that the private key never reaches a log line.
impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

impl Tx {
    async fn insert_signing_key_row(&mut self, key: &NewSigningKey, now: Timestamp) -> Result<()> {
        on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO signing_keys (id, kid, algorithm, private_key, public_key, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(SigningKeyId::new().as_uuid())
            .bind(&key.kid)
            .bind(&key.algorithm)
            .bind(&key.private_key)
            .bind(&key.public_key)
            .bind(now)
            .execute(conn)
            .await?;
        });
        Ok(())
    }
}

impl Store {
    /// Keys that are in use or were retired after `published_since`: the newest signs, and
    /// all of them verify, so tokens signed before a rotation stay valid until they expire.
    pub async fn signing_keys(
        &self,
        published_since: OffsetDateTime,
    ) -> Result<Vec<SigningKeyRecord>> {
        let keys = on_pool!(self, |pool| {
            sqlx::query_as::<_, SigningKeyRecord>(
                "SELECT id, kid, algorithm, private_key, public_key, created_at, retired_at \
                 FROM signing_keys WHERE retired_at IS NULL OR retired_at > $1 \
                 ORDER BY created_at DESC, id DESC",
            )
            .bind(Timestamp::from(published_since))
            .fetch_all(pool)
            .await?
        });
        Ok(keys)
    }

    pub async fn insert_signing_key(&self, key: &NewSigningKey, entry: &AuditEntry) -> Result<()> {
        let mut tx = self.begin().await?;
        tx.insert_signing_key_row(key, Timestamp::from(entry.at))
            .await?;
        tx.audit(
            &entry
                .event(AuditAction::SigningKeyCreated, AuditOutcome::Success)
                .target("signing_key", &key.kid)
                .detail(serde_json::json!({ "algorithm": key.algorithm })),
        )
        .await?;
        tx.commit().await
    }

    /// Adds `key` and retires every key in use, in one transaction: new tokens are signed
    /// with `key`, and the retired keys still verify (and stay published) until tokens they
    /// signed have expired.
    pub async fn rotate_signing_key(&self, key: &NewSigningKey, entry: &AuditEntry) -> Result<()> {
        let now = Timestamp::from(entry.at);
        let mut tx = self.begin().await?;
        let retired: Vec<String> = on_tx!(&mut tx, |conn| {
            sqlx::query_scalar(
                "UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL RETURNING kid",
            )
            .bind(now)
            .fetch_all(conn)
            .await?
        });
        tx.insert_signing_key_row(key, now).await?;
        tx.audit(
            &entry
                .event(AuditAction::SigningKeyRotated, AuditOutcome::Success)
                .target("signing_key", &key.kid)
                .detail(serde_json::json!({ "algorithm": key.algorithm, "retired": retired })),
        )
        .await?;
        tx.commit().await
    }
}
