//! The application context every request shares.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use steward_domain::ApiKeyId;

use steward_domain::throttle::ThrottlePolicy;
use steward_store::Store;
use time::OffsetDateTime;

use crate::auth::mfa::SecretKey;
use crate::auth::password::PasswordHasher;
use crate::auth::tokens::TokenKeys;
use crate::clock::Clock;
use crate::config::ServeConfig;
use crate::error::AppError;

/// Settings the request paths read.
#[derive(Debug, Clone)]
pub struct Settings {
    pub access_token_ttl: Duration,
    pub session_ttl: Duration,
    /// Development mode (`--dev`): the local mailbox is listed in GraphQL.
    pub dev: bool,
    /// Lockouts after failed logins, per account and per client address.
    pub account_throttle: ThrottlePolicy,
    pub address_throttle: ThrottlePolicy,
    /// Limits of password reset requests, per typed e-mail address and per client address.
    pub reset_email_limit: ThrottlePolicy,
    pub reset_address_limit: ThrottlePolicy,
    /// The product name, which authenticator apps show as the issuer of a TOTP secret.
    pub product_name: String,
    /// Background jobs and uploads.
    pub jobs: crate::config::JobConfig,
}

/// Cheap to clone: every part is shared.
#[derive(Clone, Debug)]
pub struct App {
    pub store: Store,
    pub tokens: TokenKeys,
    pub passwords: PasswordHasher,
    /// Encrypts TOTP secrets at rest.
    pub secret_key: SecretKey,
    pub settings: Settings,
    /// Every request reads the time here.
    pub clock: Clock,
    /// API key uses not yet written.
    pub api_key_uses: ApiKeyUses,
    /// Request body bytes read so far.
    pub body_bytes_read: BodyBytesRead,
}

/// How many bytes of request bodies the routes have read, all requests together: what an
/// upload refused before its body is read did not cost.
#[derive(Debug, Clone, Default)]
pub struct BodyBytesRead(Arc<AtomicU64>);

impl BodyBytesRead {
    pub fn add(&self, bytes: usize) {
        self.0
            .fetch_add(u64::try_from(bytes).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub fn total(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// When API keys were last used, kept in memory and written in batches, so that a request
/// made with a key costs no write.
#[derive(Debug, Clone, Default)]
pub struct ApiKeyUses(Arc<Mutex<HashMap<ApiKeyId, OffsetDateTime>>>);

impl ApiKeyUses {
    pub fn note(&self, key: ApiKeyId, at: OffsetDateTime) {
        let mut uses = match self.0.lock() {
            Ok(uses) => uses,
            Err(poisoned) => poisoned.into_inner(),
        };
        uses.insert(key, at);
    }

    /// The noted uses, forgotten here.
    pub fn take(&self) -> Vec<(ApiKeyId, OffsetDateTime)> {
        let mut uses = match self.0.lock() {
            Ok(uses) => uses,
            Err(poisoned) => poisoned.into_inner(),
        };
        uses.drain().collect()
    }
}

impl App {
    /// Connects to the database, applies migrations, and loads (or creates) the signing key.
    pub async fn start(config: &ServeConfig, now: OffsetDateTime) -> Result<App, AppError> {
        // Checked before connecting, so a PostgreSQL set-up without a key fails at once.
        let secret_key = SecretKey::from_config(config)?;
        let store = Store::connect(
            &config.database.database_url,
            &config.database.store_options(),
        )
        .await?;
        store.migrate().await?;
        let tokens = TokenKeys::load_or_create(
            &store,
            config.issuer(),
            config.token_audience.clone(),
            now,
            config.access_token_ttl(),
        )
        .await?;
        let passwords = PasswordHasher::new(&config.password_hash)?;
        Ok(App {
            store,
            tokens,
            passwords,
            secret_key,
            settings: Settings {
                access_token_ttl: config.access_token_ttl(),
                session_ttl: config.session_ttl(),
                dev: config.dev,
                account_throttle: config.throttle_policies().0,
                address_throttle: config.throttle_policies().1,
                reset_email_limit: config.password_reset_policies().0,
                reset_address_limit: config.password_reset_policies().1,
                product_name: config.mail.product_name.clone(),
                jobs: config.jobs.clone(),
            },
            clock: Clock::default(),
            api_key_uses: ApiKeyUses::default(),
            body_bytes_read: BodyBytesRead::default(),
        })
    }

    /// Follows a signing key rotation made elsewhere (see [`TokenKeys::reload`]).
    pub async fn reload_signing_keys(&self) -> Result<(), AppError> {
        self.tokens
            .reload(
                &self.store,
                self.clock.now(),
                self.settings.access_token_ttl,
            )
            .await
    }
}
