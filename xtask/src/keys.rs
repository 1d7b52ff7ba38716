//! `cargo xtask rotate-signing-key`: a new key for access tokens.

use steward_server::auth::tokens::generate_signing_key;
use steward_server::config::DatabaseConfig;
use steward_server::error::AppError;
use steward_store::{AuditEntry, Store};

#[derive(clap::Args, Debug)]
pub struct RotateSigningKey {
    #[command(flatten)]
    database: DatabaseConfig,
}

impl RotateSigningKey {
    /// Adds a new signing key and retires the one in use. Running servers sign with the new
    /// key once they reload their keys (every `--signing-key-reload-seconds`, 60 by default);
    /// tokens signed with the old key stay valid, and the old key stays in the JWKS, until
    /// they expire.
    pub fn run(self) -> anyhow::Result<()> {
        crate::runtime()?.block_on(async {
            let store =
                Store::connect(&self.database.database_url, &self.database.store_options()).await?;
            store.migrate().await?;
            let key = generate_signing_key().map_err(AppError::into_anyhow)?;
            let entry = AuditEntry {
                actor: None,
                client_address: None,
                at: time::OffsetDateTime::now_utc(),
            };
            let rotated = store.rotate_signing_key(&key, &entry).await;
            store.close().await;
            rotated?;
            eprintln!(
                "new signing key {}: running servers sign with it within their reload interval; \
                 tokens signed before stay valid until they expire",
                key.kid
            );
            Ok(())
        })
    }
}
