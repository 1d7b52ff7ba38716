//! SSH public keys of users, found by owner or, for the SSH tunnel service, by fingerprint.
//!
//! A key belongs to one account on the whole platform: the fingerprint is unique, so that the
//! tunnel service always finds exactly one account for the key a client offers.

use steward_domain::audit::{AuditAction, AuditOutcome};
use steward_domain::organization::Name;
use steward_domain::policy::{AddSshKey, ManageSshKeys, SshKeyLookupAuthorized, SshKeysAuthorized};
use steward_domain::ssh::{SshFingerprint, SshKeyAlgorithm, SshPublicKey};
use steward_domain::{DomainError, SshKeyId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::on_unique;
use crate::{AuditEntry, Result, Store, StoreError, Timestamp, on_pool, on_tx};

/// The most keys one account may hold, so that a user's keys stay a short list.
pub const MAX_SSH_KEYS_PER_USER: i64 = 50;

/// An SSH key as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SshKeyRecord {
    pub id: SshKeyId,
    pub user: UserId,
    pub title: String,
    pub algorithm: SshKeyAlgorithm,
    /// `ALGORITHM BASE64`, without the comment.
    pub public_key: String,
    /// `SHA256:...`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    pub bits: u32,
    pub created_at: OffsetDateTime,
    /// When the SSH tunnel service last accepted the key; nothing records uses yet.
    pub last_used_at: Option<OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
struct SshKeyRow {
    id: Uuid,
    user_id: Uuid,
    title: String,
    algorithm: String,
    public_key: String,
    fingerprint: String,
    bits: i32,
    created_at: Timestamp,
    last_used_at: Option<Timestamp>,
}

impl TryFrom<SshKeyRow> for SshKeyRecord {
    type Error = StoreError;

    fn try_from(row: SshKeyRow) -> Result<Self> {
        Ok(SshKeyRecord {
            id: SshKeyId(row.id),
            user: UserId(row.user_id),
            algorithm: SshKeyAlgorithm::from_code(&row.algorithm).ok_or_else(|| {
                StoreError::Corrupt(format!("unknown SSH key algorithm {:?}", row.algorithm))
            })?,
            bits: u32::try_from(row.bits)
                .map_err(|_| StoreError::Corrupt(format!("SSH key of {} bits", row.bits)))?,
            title: row.title,
            public_key: row.public_key,
            fingerprint: row.fingerprint,
            created_at: row.created_at.into(),
            last_used_at: row.last_used_at.map(Into::into),
        })
    }
}

fn records(rows: Vec<SshKeyRow>) -> Result<Vec<SshKeyRecord>> {
    rows.into_iter().map(SshKeyRecord::try_from).collect()
}

macro_rules! select_ssh_keys {
    () => {
        "SELECT id, user_id, title, algorithm, public_key, fingerprint, bits, created_at, \
         last_used_at FROM ssh_keys"
    };
}

const TAKEN_ELSEWHERE: &str = "this key is already registered to another account, and a key \
    can belong to one account only; generate a new key for this account (ssh-keygen -t ed25519)";

impl Store {
    /// Adds `key` to the proof's owner, with its audit event, in one transaction. A key
    /// already on any account is a conflict on `publicKey`, and so is a 51st key.
    pub async fn add_ssh_key(
        &self,
        proof: &SshKeysAuthorized<AddSshKey>,
        key: &SshPublicKey,
        title: &Name,
        entry: &AuditEntry,
    ) -> Result<SshKeyRecord> {
        let owner = proof.owner();
        let record = SshKeyRecord {
            id: SshKeyId::new(),
            user: owner,
            title: title.as_str().to_owned(),
            algorithm: key.algorithm(),
            public_key: key.openssh().to_owned(),
            fingerprint: key.fingerprint().as_str().to_owned(),
            bits: key.bits(),
            created_at: Timestamp::from(entry.at).into_inner(),
            last_used_at: None,
        };
        let mut tx = self.begin().await?;
        let (holder, count): (Option<(Uuid, String)>, i64) = on_tx!(&mut tx, |conn| {
            let holder =
                sqlx::query_as("SELECT user_id, title FROM ssh_keys WHERE fingerprint = $1")
                    .bind(record.fingerprint.as_str())
                    .fetch_optional(&mut *conn)
                    .await?;
            let count = sqlx::query_scalar("SELECT COUNT(*) FROM ssh_keys WHERE user_id = $1")
                .bind(owner.as_uuid())
                .fetch_one(&mut *conn)
                .await?;
            (holder, count)
        });
        match holder {
            Some((holder, title)) if holder == owner.as_uuid() => {
                return Err(DomainError::conflict(
                    "publicKey",
                    format!("this key is already on this account, as \"{title}\""),
                )
                .into());
            }
            Some(_) => return Err(DomainError::conflict("publicKey", TAKEN_ELSEWHERE).into()),
            None => {}
        }
        if count >= MAX_SSH_KEYS_PER_USER {
            return Err(DomainError::conflict(
                "publicKey",
                format!(
                    "an account can hold at most {MAX_SSH_KEYS_PER_USER} SSH keys; remove one \
                     that is no longer used first"
                ),
            )
            .into());
        }
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "INSERT INTO ssh_keys (id, user_id, title, algorithm, public_key, fingerprint, \
                 bits, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(record.id.as_uuid())
            .bind(owner.as_uuid())
            .bind(record.title.as_str())
            .bind(record.algorithm.code())
            .bind(record.public_key.as_str())
            .bind(record.fingerprint.as_str())
            .bind(i32::try_from(record.bits).unwrap_or(i32::MAX))
            .bind(Timestamp::from(entry.at))
            .execute(conn)
            .await
            // Another request may have added the key since the check above.
            .map_err(|error| on_unique(error, &[("fingerprint", "publicKey", TAKEN_ELSEWHERE)]))?;
        });
        tx.audit(
            &entry
                .event(AuditAction::SshKeyAdded, AuditOutcome::Success)
                .target("ssh_key", record.id)
                .detail(serde_json::json!({
                    "user": owner.to_string(),
                    "title": record.title,
                    "algorithm": record.algorithm.code(),
                    "bits": record.bits,
                    "fingerprint": record.fingerprint,
                })),
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Removes the proof's owner's key `id`, with its audit event, and returns it as it was.
    /// A key of another user is not found.
    pub async fn remove_ssh_key(
        &self,
        proof: &SshKeysAuthorized<ManageSshKeys>,
        id: SshKeyId,
        entry: &AuditEntry,
    ) -> Result<SshKeyRecord> {
        let mut tx = self.begin().await?;
        let row: Option<SshKeyRow> = on_tx!(&mut tx, |conn| {
            let row = sqlx::query_as(concat!(
                select_ssh_keys!(),
                " WHERE id = $1 AND user_id = $2"
            ))
            .bind(id.as_uuid())
            .bind(proof.owner().as_uuid())
            .fetch_optional(&mut *conn)
            .await?;
            sqlx::query("DELETE FROM ssh_keys WHERE id = $1 AND user_id = $2")
                .bind(id.as_uuid())
                .bind(proof.owner().as_uuid())
                .execute(&mut *conn)
                .await?;
            row
        });
        let record = SshKeyRecord::try_from(row.ok_or(DomainError::NotFound {
            what: "the SSH key",
        })?)?;
        tx.audit(
            &entry
                .event(AuditAction::SshKeyRemoved, AuditOutcome::Success)
                .target("ssh_key", record.id)
                .detail(serde_json::json!({
                    "user": record.user.to_string(),
                    "title": record.title,
                    "fingerprint": record.fingerprint,
                })),
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// One key, whoever owns it: for the server to find the owner, whose keys it then
    /// authorizes.
    pub async fn ssh_key_by_id(&self, id: SshKeyId) -> Result<Option<SshKeyRecord>> {
        let row: Option<SshKeyRow> = on_pool!(self, |pool| {
            sqlx::query_as(concat!(select_ssh_keys!(), " WHERE id = $1"))
                .bind(id.as_uuid())
                .fetch_optional(pool)
                .await?
        });
        row.map(SshKeyRecord::try_from).transpose()
    }

    /// The proof's owner's keys, oldest first.
    pub async fn ssh_keys_of(
        &self,
        proof: &SshKeysAuthorized<ManageSshKeys>,
    ) -> Result<Vec<SshKeyRecord>> {
        let rows: Vec<SshKeyRow> = on_pool!(self, |pool| {
            sqlx::query_as(concat!(
                select_ssh_keys!(),
                " WHERE user_id = $1 ORDER BY created_at, id"
            ))
            .bind(proof.owner().as_uuid())
            .fetch_all(pool)
            .await?
        });
        records(rows)
    }

    /// The key with this fingerprint, on whichever account it is.
    pub async fn ssh_key_by_fingerprint(
        &self,
        _proof: &SshKeyLookupAuthorized,
        fingerprint: &SshFingerprint,
    ) -> Result<Option<SshKeyRecord>> {
        let row: Option<SshKeyRow> = on_pool!(self, |pool| {
            sqlx::query_as(concat!(select_ssh_keys!(), " WHERE fingerprint = $1"))
                .bind(fingerprint.as_str())
                .fetch_optional(pool)
                .await?
        });
        row.map(SshKeyRecord::try_from).transpose()
    }
}
