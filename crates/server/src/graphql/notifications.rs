//! The outbox as operators see it, and the local mailbox for development.

use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use steward_domain::policy::authorize_platform;
use steward_domain::{DomainError, NotificationId};
use steward_store::{MailboxRecord, OutboxRecord};
use time::OffsetDateTime;

use crate::error::{AppError, refused};
use crate::graphql::connection::{Page, PageRequest};
use crate::graphql::context::{ContextExt as _, actor, parse_id};
use crate::graphql::organizations::expected;
use crate::graphql::types::UserError;

/// Where a message is in its delivery.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationStatus {
    /// Waiting for its first attempt or for a retry.
    Pending,
    Sent,
    /// Out of attempts, or refused for good by the mail server; `lastError` says why.
    Failed,
}

impl NotificationStatus {
    fn code(self) -> &'static str {
        match self {
            NotificationStatus::Pending => "PENDING",
            NotificationStatus::Sent => "SENT",
            NotificationStatus::Failed => "FAILED",
        }
    }
}

/// One message of the outbox.
pub struct Notification(pub OutboxRecord);

#[Object]
impl Notification {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The kind of message, such as `PASSWORD_CHANGED` or `INVITATION`.
    async fn kind(&self) -> &str {
        &self.0.kind
    }

    /// The address it goes to, as it was when the message was written.
    async fn recipient(&self) -> &str {
        &self.0.recipient_address
    }

    async fn status(&self) -> async_graphql::Result<NotificationStatus> {
        match self.0.status.as_str() {
            "PENDING" => Ok(NotificationStatus::Pending),
            "SENT" => Ok(NotificationStatus::Sent),
            "FAILED" => Ok(NotificationStatus::Failed),
            other => Err(AppError::internal(format!("unknown outbox status {other:?}")).into()),
        }
    }

    /// Failed delivery attempts so far.
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }

    /// The error of the last failed attempt.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }

    /// When the next attempt is due (pending messages).
    async fn next_attempt_at(&self) -> OffsetDateTime {
        self.0.next_attempt_at.into_inner()
    }

    /// `SMTP` or `MAILBOX` (the local mailbox), once sent.
    async fn delivered_via(&self) -> Option<&str> {
        self.0.delivered_via.as_deref()
    }

    async fn created_at(&self) -> OffsetDateTime {
        self.0.created_at.into_inner()
    }

    async fn sent_at(&self) -> Option<OffsetDateTime> {
        self.0.sent_at.map(|at| at.into_inner())
    }
}

/// A message delivered to the local mailbox, as rendered.
pub struct MailboxMessage(pub MailboxRecord);

#[Object]
impl MailboxMessage {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn message_id(&self) -> &str {
        &self.0.message_id
    }

    async fn recipient(&self) -> &str {
        &self.0.recipient_address
    }

    async fn subject(&self) -> &str {
        &self.0.subject
    }

    /// The plain-text body, with its links written out.
    async fn text(&self) -> &str {
        &self.0.text_body
    }

    async fn html(&self) -> &str {
        &self.0.html_body
    }

    async fn delivered_at(&self) -> OffsetDateTime {
        self.0.delivered_at.into_inner()
    }
}

#[derive(Default)]
pub struct NotificationQuery;

#[Object]
impl NotificationQuery {
    /// The notification outbox, newest first, optionally only one status. SuperAdmins only.
    async fn outbox(
        &self,
        ctx: &Context<'_>,
        status: Option<NotificationStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<Notification>> {
        authorize_platform(actor(ctx).await?).map_err(refused)?;
        let request = PageRequest::parse(first, after)?;
        let (records, total) = ctx
            .app()?
            .store
            .outbox_page(
                status.map(NotificationStatus::code),
                request.after,
                request.fetch,
            )
            .await
            .map_err(AppError::from)?;
        let items = records
            .into_iter()
            .map(|record| (record.id, Notification(record)))
            .collect();
        Ok(request.page(items, total))
    }

    /// Development mode only (`steward serve --dev`): the mail the embedded default kept
    /// instead of sending, newest first, optionally only one recipient's. SuperAdmins only.
    async fn dev_mailbox(
        &self,
        ctx: &Context<'_>,
        recipient: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<MailboxMessage>> {
        authorize_platform(actor(ctx).await?).map_err(refused)?;
        let request = PageRequest::parse(first, after)?;
        let app = ctx.app()?;
        if !app.settings.dev {
            return Err(refused(DomainError::forbidden(
                "the mailbox is listed only in development mode; start the server with --dev",
            )));
        }
        let (records, total) = app
            .store
            .mailbox_page(recipient.as_deref(), request.after, request.fetch)
            .await
            .map_err(AppError::from)?;
        let items = records
            .into_iter()
            .map(|record| (record.id, MailboxMessage(record)))
            .collect();
        Ok(request.page(items, total))
    }
}

#[derive(SimpleObject)]
pub struct RetryNotificationPayload {
    pub notification: Option<Notification>,
    pub errors: Vec<UserError>,
}

#[derive(Default)]
pub struct NotificationMutation;

#[Object]
impl NotificationMutation {
    /// Puts a failed or pending message back in the queue, due at once, with a fresh count of
    /// attempts. A sent message is refused. SuperAdmins only.
    async fn retry_notification(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<RetryNotificationPayload> {
        let proof = authorize_platform(actor(ctx).await?).map_err(refused)?;
        let id: NotificationId = parse_id("id", &id)?;
        let entry = ctx.audit_entry()?;
        let result = expected(
            ctx.app()?
                .store
                .retry_notification(&proof, id, &entry)
                .await,
        )?;
        Ok(match result {
            Ok(record) => RetryNotificationPayload {
                notification: Some(Notification(record)),
                errors: Vec::new(),
            },
            Err(error) => RetryNotificationPayload {
                notification: None,
                errors: vec![UserError::from_domain("id", &error)],
            },
        })
    }
}
