//! The notification outbox: messages written with the change that caused them, claimed by
//! delivery workers under a lease, and the local mailbox of the embedded default.

use serde_json::Value;
use sqlx::types::Json;
use steward_domain::audit::{AuditAction, AuditOutcome};
use steward_domain::notification::Notification;
use steward_domain::policy::PlatformPower;
use steward_domain::user::Language;
use steward_domain::{DomainError, NotificationId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{AuditEntry, Result, Store, StoreError, Timestamp, Tx, on_pool, on_tx};

/// Who a message goes to, as known when it is written.
#[derive(Debug, Clone)]
pub struct Recipient {
    /// The user, when the recipient has an account (an invitation to a new address has not).
    pub user: Option<UserId>,
    pub address: String,
    pub name: String,
    pub language: Language,
}

/// Where a delivered message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveredVia {
    Smtp,
    Mailbox,
}

impl DeliveredVia {
    pub fn code(self) -> &'static str {
        match self {
            DeliveredVia::Smtp => "SMTP",
            DeliveredVia::Mailbox => "MAILBOX",
        }
    }
}

/// A due message a worker holds the lease of. Only the holder of `claim_token` can mark it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedNotification {
    pub id: Uuid,
    pub kind: String,
    pub recipient_address: String,
    pub recipient_name: String,
    pub language: String,
    pub payload: Json<Value>,
    /// Failed attempts so far.
    pub attempts: i32,
    pub claim_token: Uuid,
}

impl ClaimedNotification {
    pub fn notification(&self) -> std::result::Result<Notification, serde_json::Error> {
        serde_json::from_value(self.payload.0.clone())
    }

    /// The recipient's language; an unknown code (written by a newer version) falls back to
    /// English rather than failing the message.
    pub fn language(&self) -> Language {
        Language::parse(&self.language).unwrap_or_default()
    }
}

/// A message as the operator view shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRecord {
    pub id: Uuid,
    pub kind: String,
    pub recipient_user_id: Option<Uuid>,
    pub recipient_address: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
    pub delivered_via: Option<String>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
}

/// A message in the local mailbox, as rendered.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MailboxRecord {
    pub id: Uuid,
    pub message_id: String,
    pub recipient_address: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub delivered_at: Timestamp,
}

/// The outcome of a failed delivery attempt.
#[derive(Debug, Clone)]
pub enum AttemptFailed {
    /// Try again at this instant.
    RetryAt(OffsetDateTime),
    /// No attempts left: the message is marked failed and kept with its error.
    GiveUp,
}

const OUTBOX_COLUMNS: &str = "id, kind, recipient_user_id, recipient_address, status, attempts, \
     next_attempt_at, last_error, delivered_via, created_at, sent_at";

impl Tx {
    /// Writes `notification` for `user` in this transaction, addressed with the user's current
    /// e-mail address, name and language. Returns `None`, writing nothing, when the user turned
    /// e-mail notifications off and the message is not a security or account message.
    pub async fn notify_user(
        &mut self,
        user: UserId,
        notification: &Notification,
        at: OffsetDateTime,
    ) -> Result<Option<NotificationId>> {
        let row: Option<(String, String, String, bool)> = on_tx!(self, |conn| {
            sqlx::query_as(
                "SELECT email, full_name, language, email_subscription FROM users WHERE id = $1",
            )
            .bind(user.as_uuid())
            .fetch_optional(conn)
            .await?
        });
        let Some((address, name, language, subscribed)) = row else {
            return Err(DomainError::NotFound { what: "the user" }.into());
        };
        if !notification.is_sent_to(subscribed) {
            return Ok(None);
        }
        let recipient = Recipient {
            user: Some(user),
            address,
            name,
            language: Language::parse(&language).unwrap_or_default(),
        };
        self.notify(&recipient, notification, at).await.map(Some)
    }

    /// Writes `notification` for `recipient` in this transaction. Delivery is due at once.
    pub async fn notify(
        &mut self,
        recipient: &Recipient,
        notification: &Notification,
        at: OffsetDateTime,
    ) -> Result<NotificationId> {
        let ids = self
            .notify_all(&[(recipient.clone(), notification.clone())], at)
            .await?;
        ids.first()
            .copied()
            .ok_or_else(|| StoreError::Corrupt("a notification insert returned no id".into()))
    }

    /// Writes messages in this transaction, many to a statement; their ids in order.
    pub async fn notify_all(
        &mut self,
        messages: &[(Recipient, Notification)],
        at: OffsetDateTime,
    ) -> Result<Vec<NotificationId>> {
        let ids: Vec<NotificationId> = messages.iter().map(|_| NotificationId::new()).collect();
        let payloads = messages
            .iter()
            .map(|(_, notification)| {
                serde_json::to_value(notification)
                    .map_err(|error| StoreError::Corrupt(format!("notification payload: {error}")))
            })
            .collect::<Result<Vec<Value>>>()?;
        let now = Timestamp::from(at);
        // 8 parameters a message.
        for ((chunk, chunk_ids), chunk_payloads) in messages
            .chunks(500)
            .zip(ids.chunks(500))
            .zip(payloads.chunks(500))
        {
            on_tx!(&mut *self, |conn| {
                let mut query = sqlx::QueryBuilder::new(
                    "INSERT INTO notifications (id, kind, recipient_user_id, recipient_address, \
                     recipient_name, language, payload, status, attempts, next_attempt_at, \
                     created_at) ",
                );
                query.push_values(
                    chunk.iter().zip(chunk_ids).zip(chunk_payloads),
                    |mut values, (((recipient, notification), id), payload)| {
                        values
                            .push_bind(id.as_uuid())
                            .push_bind(notification.kind())
                            .push_bind(recipient.user.map(|user| user.as_uuid()))
                            .push_bind(recipient.address.clone())
                            .push_bind(recipient.name.clone())
                            .push_bind(recipient.language.code())
                            .push_bind(Json(payload.clone()))
                            .push_unseparated(", 'PENDING', 0, ")
                            .push_bind_unseparated(now)
                            .push_bind(now);
                    },
                );
                query.build().execute(&mut *conn).await?;
            });
        }
        Ok(ids)
    }
}

impl Store {
    /// Claims up to `limit` messages that are due at `now` and not leased by another worker,
    /// leasing them until `now + lease`. On PostgreSQL the candidate rows are locked with
    /// `FOR UPDATE SKIP LOCKED`, so workers of several instances never claim the same row;
    /// SQLite has a single writer, so the same statement without the lock clause is enough.
    pub async fn claim_notifications(
        &self,
        now: OffsetDateTime,
        lease: time::Duration,
        limit: i64,
    ) -> Result<Vec<ClaimedNotification>> {
        const CLAIM: &str = "UPDATE notifications SET claimed_until = $2, claim_token = $3 \
             WHERE id IN (SELECT id FROM notifications WHERE status = 'PENDING' \
             AND next_attempt_at <= $1 AND (claimed_until IS NULL OR claimed_until <= $1) \
             ORDER BY next_attempt_at, id LIMIT $4";
        const RETURNING: &str = ") RETURNING id, kind, recipient_address, recipient_name, \
             language, payload, attempts, claim_token";
        let token = Uuid::new_v4();
        let claimed = match self {
            Store::Sqlite(pool) => {
                sqlx::query_as::<_, ClaimedNotification>(sqlx::AssertSqlSafe(format!(
                    "{CLAIM}{RETURNING}"
                )))
                .bind(Timestamp::from(now))
                .bind(Timestamp::from(now + lease))
                .bind(token)
                .bind(limit)
                .fetch_all(pool)
                .await?
            }
            Store::Postgres(pool) => {
                sqlx::query_as::<_, ClaimedNotification>(sqlx::AssertSqlSafe(format!(
                    "{CLAIM} FOR UPDATE SKIP LOCKED{RETURNING}"
                )))
                .bind(Timestamp::from(now))
                .bind(Timestamp::from(now + lease))
                .bind(token)
                .bind(limit)
                .fetch_all(pool)
                .await?
            }
        };
        Ok(claimed)
    }

    /// Marks a claimed message sent. `false` when the lease was lost (it expired and another
    /// worker took the message over), in which case nothing is changed.
    pub async fn mark_notification_sent(
        &self,
        claimed: &ClaimedNotification,
        via: DeliveredVia,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let marked = tx.mark_sent(claimed, via, now).await?;
        tx.commit().await?;
        Ok(marked)
    }

    /// Delivers a claimed message to the local mailbox: the mailbox row and the sent mark are
    /// written in one transaction, so the message is there exactly once.
    pub async fn deliver_to_mailbox(
        &self,
        claimed: &ClaimedNotification,
        message: &MailboxMessage<'_>,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        if !tx.mark_sent(claimed, DeliveredVia::Mailbox, now).await? {
            return Ok(false);
        }
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "INSERT INTO mailbox (id, message_id, recipient_address, subject, text_body, \
                 html_body, delivered_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(claimed.id)
            .bind(message.message_id)
            .bind(claimed.recipient_address.as_str())
            .bind(message.subject)
            .bind(message.text)
            .bind(message.html)
            .bind(Timestamp::from(now))
            .execute(conn)
            .await?;
        });
        tx.commit().await?;
        Ok(true)
    }

    /// Records a failed attempt of a claimed message and releases its lease. `false` when the
    /// lease was lost.
    pub async fn mark_notification_failed(
        &self,
        claimed: &ClaimedNotification,
        error: &str,
        outcome: AttemptFailed,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let (status, next_attempt_at) = match outcome {
            AttemptFailed::RetryAt(at) => ("PENDING", at),
            AttemptFailed::GiveUp => ("FAILED", now),
        };
        let updated = on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE notifications SET status = $3, attempts = attempts + 1, last_error = $4, \
                 next_attempt_at = $5, claimed_until = NULL, claim_token = NULL \
                 WHERE id = $1 AND claim_token = $2",
            )
            .bind(claimed.id)
            .bind(claimed.claim_token)
            .bind(status)
            .bind(error)
            .bind(Timestamp::from(next_attempt_at))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(updated == 1)
    }

    /// Puts a failed (or pending) message back in the queue, due at once, with a fresh count of
    /// attempts. Sent messages are not sent again.
    pub async fn retry_notification(
        &self,
        _proof: &impl PlatformPower,
        id: NotificationId,
        entry: &AuditEntry,
    ) -> Result<OutboxRecord> {
        let mut tx = self.begin().await?;
        let status: Option<String> = on_tx!(&mut tx, |conn| {
            sqlx::query_scalar("SELECT status FROM notifications WHERE id = $1")
                .bind(id.as_uuid())
                .fetch_optional(conn)
                .await?
        });
        match status.as_deref() {
            None => {
                return Err(DomainError::NotFound {
                    what: "the notification",
                }
                .into());
            }
            Some("SENT") => {
                return Err(DomainError::invalid(
                    "notification",
                    "was already sent; a sent message is not sent again",
                )
                .into());
            }
            Some(_) => {}
        }
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE notifications SET status = 'PENDING', attempts = 0, next_attempt_at = $2, \
                 claimed_until = NULL, claim_token = NULL WHERE id = $1",
            )
            .bind(id.as_uuid())
            .bind(Timestamp::from(entry.at))
            .execute(conn)
            .await?;
        });
        tx.audit(
            &entry
                .event(AuditAction::NotificationRetried, AuditOutcome::Success)
                .target("notification", id),
        )
        .await?;
        let record = on_tx!(&mut tx, |conn| {
            sqlx::query_as::<_, OutboxRecord>(sqlx::AssertSqlSafe(format!(
                "SELECT {OUTBOX_COLUMNS} FROM notifications WHERE id = $1"
            )))
            .bind(id.as_uuid())
            .fetch_one(conn)
            .await?
        });
        tx.commit().await?;
        Ok(record)
    }

    /// A page of the outbox, newest first, optionally only messages of one status, continuing
    /// after the message `after` (ids are time-ordered), and how many match in all.
    pub async fn outbox_page(
        &self,
        status: Option<&str>,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<(Vec<OutboxRecord>, i64)> {
        let page = on_pool!(self, |pool| {
            let records = sqlx::query_as::<_, OutboxRecord>(sqlx::AssertSqlSafe(format!(
                "SELECT {OUTBOX_COLUMNS} FROM notifications \
                 WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR id < $2) \
                 ORDER BY id DESC LIMIT $3"
            )))
            .bind(status)
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            let total: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM notifications WHERE ($1 IS NULL OR status = $1)",
            )
            .bind(status)
            .fetch_one(pool)
            .await?;
            (records, total)
        });
        Ok(page)
    }

    /// A page of the local mailbox, newest first, optionally only one address's messages.
    pub async fn mailbox_page(
        &self,
        recipient: Option<&str>,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<(Vec<MailboxRecord>, i64)> {
        let recipient = recipient.map(str::to_lowercase);
        let page = on_pool!(self, |pool| {
            let records = sqlx::query_as::<_, MailboxRecord>(
                "SELECT id, message_id, recipient_address, subject, text_body, html_body, \
                 delivered_at FROM mailbox \
                 WHERE ($1 IS NULL OR lower(recipient_address) = $1) AND ($2 IS NULL OR id < $2) \
                 ORDER BY id DESC LIMIT $3",
            )
            .bind(recipient.as_deref())
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            let total: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM mailbox WHERE ($1 IS NULL OR lower(recipient_address) = $1)",
            )
            .bind(recipient.as_deref())
            .fetch_one(pool)
            .await?;
            (records, total)
        });
        Ok(page)
    }
}

/// A rendered message for the local mailbox.
#[derive(Debug, Clone, Copy)]
pub struct MailboxMessage<'a> {
    pub message_id: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
}

impl Tx {
    async fn mark_sent(
        &mut self,
        claimed: &ClaimedNotification,
        via: DeliveredVia,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let updated = on_tx!(self, |conn| {
            sqlx::query(
                "UPDATE notifications SET status = 'SENT', sent_at = $3, delivered_via = $4, \
                 last_error = NULL, claimed_until = NULL, claim_token = NULL \
                 WHERE id = $1 AND claim_token = $2",
            )
            .bind(claimed.id)
            .bind(claimed.claim_token)
            .bind(Timestamp::from(now))
            .bind(via.code())
            .execute(conn)
            .await?
            .rows_affected()
        });
        Ok(updated == 1)
    }
}
