//! Mail delivery: the worker that empties the notification outbox through SMTP, or into the
//! local mailbox when no SMTP server is configured.
//!
//! Nothing is sent from inside a request. Requests write outbox rows in their transaction;
//! this worker claims due rows under a lease, renders them in the recipient's language, sends
//! them and marks them sent. A failed attempt is retried with exponential backoff and jitter
//! until the attempts run out; then the row is marked failed and keeps its error. Every
//! message carries a Message-ID made from its row id, so a message sent twice after a crash
//! between sending and marking is recognisable as the same message.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use ring::rand::{SecureRandom, SystemRandom};
use steward_domain::notification::{self, RenderedMessage, Site};
use steward_store::{AttemptFailed, ClaimedNotification, DeliveredVia, MailboxMessage, Store};
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::{MailConfig, SmtpSecurity};
use crate::error::AppError;

/// Where rendered messages go.
#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// The embedded default: the `mailbox` table.
    LocalMailbox,
}

/// Renders and sends one message at a time.
#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    /// The part after `@` of every Message-ID.
    message_id_domain: String,
    site: Site,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let transport = match self.transport {
            Transport::Smtp(_) => "smtp",
            Transport::LocalMailbox => "local mailbox",
        };
        f.debug_struct("Mailer")
            .field("transport", &transport)
            .field("from", &self.from.to_string())
            .finish()
    }
}

/// Why one attempt failed, and whether another could succeed.
struct SendError {
    message: String,
    permanent: bool,
}

impl Mailer {
    pub fn from_config(config: &MailConfig, public_url: &str) -> Result<Mailer, AppError> {
        let from: Mailbox = config.mail_from.parse().map_err(|error| {
            AppError::Config(format!(
                "--mail-from {:?} is not a valid address ({error}); write it as \
                 \"Name <user@example.com>\" or \"user@example.com\"",
                config.mail_from
            ))
        })?;
        let transport = match &config.smtp_host {
            None => Transport::LocalMailbox,
            Some(host) => Transport::Smtp(smtp_transport(config, host)?),
        };
        Ok(Mailer {
            transport,
            message_id_domain: from.email.domain().to_owned(),
            from,
            site: Site {
                product_name: config.product_name.clone(),
                public_url: public_url.trim_end_matches('/').to_owned(),
            },
        })
    }

    pub fn is_local(&self) -> bool {
        matches!(self.transport, Transport::LocalMailbox)
    }

    /// The Message-ID of an outbox row: the same for every attempt.
    fn message_id(&self, claimed: &ClaimedNotification) -> String {
        format!("<{}@{}>", claimed.id, self.message_id_domain)
    }

    /// Delivers one claimed message. `Ok(false)`: the lease was lost to another worker.
    async fn deliver(&self, store: &Store, claimed: &ClaimedNotification) -> Result<bool, Failure> {
        let notification = claimed.notification().map_err(|error| {
            Failure::Send(SendError {
                message: format!("the stored message cannot be read: {error}"),
                permanent: true,
            })
        })?;
        let rendered = notification::render(&notification, claimed.language(), &self.site);
        let message_id = self.message_id(claimed);
        match &self.transport {
            Transport::LocalMailbox => {
                let message = MailboxMessage {
                    message_id: &message_id,
                    subject: &rendered.subject,
                    text: &rendered.text,
                    html: &rendered.html,
                };
                store
                    .deliver_to_mailbox(claimed, &message, OffsetDateTime::now_utc())
                    .await
                    .map_err(Failure::Store)
            }
            Transport::Smtp(smtp) => {
                let email = self
                    .email(claimed, &rendered, message_id)
                    .map_err(Failure::Send)?;
                smtp.send(email).await.map_err(|error| {
                    Failure::Send(SendError {
                        permanent: error.is_permanent(),
                        message: error_chain(&error),
                    })
                })?;
                store
                    .mark_notification_sent(claimed, DeliveredVia::Smtp, OffsetDateTime::now_utc())
                    .await
                    .map_err(Failure::Store)
            }
        }
    }

    fn email(
        &self,
        claimed: &ClaimedNotification,
        rendered: &RenderedMessage,
        message_id: String,
    ) -> Result<Message, SendError> {
        let invalid = |message: String| SendError {
            message,
            permanent: true,
        };
        let to = Mailbox::new(
            Some(claimed.recipient_name.clone()),
            claimed.recipient_address.parse().map_err(|error| {
                invalid(format!(
                    "the recipient address {:?} is not valid: {error}",
                    claimed.recipient_address
                ))
            })?,
        );
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(rendered.subject.as_str())
            .message_id(Some(message_id))
            .multipart(MultiPart::alternative_plain_html(
                rendered.text.clone(),
                rendered.html.clone(),
            ))
            .map_err(|error| invalid(format!("the message cannot be built: {error}")))
    }
}

enum Failure {
    Send(SendError),
    /// The database failed: the lease runs out and the message is claimed again later.
    Store(steward_store::StoreError),
}

fn smtp_transport(
    config: &MailConfig,
    host: &str,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, AppError> {
    let bad = |error: lettre::transport::smtp::Error| {
        AppError::Config(format!(
            "SMTP settings for {host:?} are not usable: {error}"
        ))
    };
    let tls = |required: bool| {
        TlsParameters::new(host.to_owned())
            .map(|parameters| {
                if required {
                    Tls::Required(parameters)
                } else {
                    Tls::Wrapper(parameters)
                }
            })
            .map_err(bad)
    };
    let (tls, default_port) = match config.smtp_security {
        SmtpSecurity::Starttls => (tls(true)?, 587),
        SmtpSecurity::Tls => (tls(false)?, 465),
        SmtpSecurity::None => (Tls::None, 25),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(config.smtp_port.unwrap_or(default_port))
        .tls(tls)
        .timeout(Some(Duration::from_secs(config.smtp_timeout_seconds)));
    match (&config.smtp_username, &config.smtp_password) {
        (Some(username), Some(password)) => {
            builder = builder.credentials(Credentials::new(username.clone(), password.clone()));
        }
        (None, None) => {}
        _ => {
            return Err(AppError::Config(
                "set both --smtp-username and --smtp-password, or neither".into(),
            ));
        }
    }
    Ok(builder.build())
}

/// The cause chain of an error on one line, for the outbox's `last_error`.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// How the worker paces itself.
#[derive(Debug, Clone)]
pub struct DeliveryPolicy {
    pub max_attempts: u32,
    pub retry_base: time::Duration,
    pub retry_max: time::Duration,
    pub poll: Duration,
    /// How long a claim holds. A worker starts no attempt that could outlast its lease, so
    /// two workers never try the same message at once.
    pub lease: time::Duration,
    /// The longest one attempt can take (the SMTP timeout and some slack).
    pub attempt_timeout: time::Duration,
    pub batch: i64,
}

impl DeliveryPolicy {
    pub fn from_config(config: &MailConfig) -> DeliveryPolicy {
        let millis =
            |value: u64| time::Duration::milliseconds(i64::try_from(value).unwrap_or(i64::MAX));
        DeliveryPolicy {
            max_attempts: config.mail_max_attempts.max(1),
            retry_base: millis(config.mail_retry_base_ms),
            retry_max: millis(config.mail_retry_max_ms),
            poll: Duration::from_millis(config.mail_poll_ms.max(10)),
            lease: time::Duration::seconds(
                i64::try_from(config.smtp_timeout_seconds).unwrap_or(60) * 4 + 60,
            ),
            attempt_timeout: time::Duration::seconds(
                i64::try_from(config.smtp_timeout_seconds).unwrap_or(60) + 10,
            ),
            batch: 20,
        }
    }
}

/// Empties the outbox until told to stop.
#[derive(Debug, Clone)]
pub struct DeliveryWorker {
    pub store: Store,
    pub mailer: Mailer,
    pub policy: DeliveryPolicy,
    /// The server's clock, so that messages written "later" by a moved test clock are due.
    pub clock: Clock,
}

impl DeliveryWorker {
    /// Runs until `stop` turns true; a message being sent is finished first.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            let delivered = match self.deliver_due().await {
                Ok(count) => count,
                Err(error) => {
                    tracing::error!(error = %error, "mail delivery: the outbox cannot be read");
                    0
                }
            };
            // A full batch means more may be due: go on at once.
            if delivered < self.policy.batch as usize {
                tokio::select! {
                    _ = stop.changed() => {}
                    () = tokio::time::sleep(self.policy.poll) => {}
                }
            }
        }
    }

    /// Claims one batch of due messages and attempts each while the lease leaves room for a
    /// whole attempt. Messages left over (a slow SMTP server) are claimed again when the lease
    /// ends. Returns how many were claimed.
    pub async fn deliver_due(&self) -> Result<usize, steward_store::StoreError> {
        let claimed_at = self.clock.now();
        let claimed = self
            .store
            .claim_notifications(claimed_at, self.policy.lease, self.policy.batch)
            .await?;
        let lease_end = claimed_at + self.policy.lease;
        for (done, message) in claimed.iter().enumerate() {
            if self.clock.now() + self.policy.attempt_timeout >= lease_end {
                tracing::warn!(
                    left = claimed.len() - done,
                    "mail delivery is slow: leaving the rest of the batch until its lease ends"
                );
                break;
            }
            self.attempt(message).await;
        }
        Ok(claimed.len())
    }

    async fn attempt(&self, claimed: &ClaimedNotification) {
        match self.mailer.deliver(&self.store, claimed).await {
            Ok(true) => {
                tracing::info!(notification = %claimed.id, kind = %claimed.kind, "mail delivered");
            }
            Ok(false) => tracing::warn!(
                notification = %claimed.id,
                "mail delivered, but the lease had passed to another worker"
            ),
            Err(Failure::Store(error)) => tracing::error!(
                notification = %claimed.id,
                error = %error,
                "mail delivery: recording the outcome failed; the message will be claimed again"
            ),
            Err(Failure::Send(error)) => self.record_failure(claimed, error).await,
        }
    }

    async fn record_failure(&self, claimed: &ClaimedNotification, error: SendError) {
        let now = self.clock.now();
        let attempts = u32::try_from(claimed.attempts).unwrap_or(0) + 1;
        let outcome = if error.permanent || attempts >= self.policy.max_attempts {
            AttemptFailed::GiveUp
        } else {
            let delay = notification::retry_delay(
                attempts,
                self.policy.retry_base,
                self.policy.retry_max,
                jitter(),
            );
            AttemptFailed::RetryAt(now + delay)
        };
        tracing::warn!(
            notification = %claimed.id,
            attempts,
            error = %error.message,
            outcome = ?outcome,
            "mail delivery failed"
        );
        if let Err(store_error) = self
            .store
            .mark_notification_failed(claimed, &error.message, outcome, now)
            .await
        {
            tracing::error!(notification = %claimed.id, error = %store_error, "recording a failed attempt failed");
        }
    }
}

/// A number in `[0, 1]` from the system's random source, to spread retries.
fn jitter() -> f64 {
    let mut bytes = [0_u8; 4];
    if SystemRandom::new().fill(&mut bytes).is_err() {
        return 1.0;
    }
    f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX)
}
