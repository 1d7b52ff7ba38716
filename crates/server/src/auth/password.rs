//! argon2id hashing, run on the blocking pool with bounded concurrency so a burst of logins
//! queues instead of starving every other request of CPU.

use std::sync::Arc;

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _, Version,
};
use tokio::sync::Semaphore;

use crate::config::PasswordHashConfig;
use crate::error::AppError;

/// What checking a password found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verification {
    /// The password is right. `rehashed` holds a new hash when the stored one was made with
    /// other parameters than the configured ones.
    Valid {
        rehashed: Option<String>,
    },
    Invalid,
}

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// A hash of a random password with the configured parameters. Logins for unknown accounts
    /// are checked against it, so they take as long as a wrong password for a known one.
    decoy_hash: Arc<str>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    pub fn new(config: &PasswordHashConfig) -> Result<Self, AppError> {
        let params = Params::new(
            config.password_hash_memory_kib,
            config.password_hash_iterations,
            config.password_hash_parallelism,
            None,
        )
        .map_err(|error| AppError::Config(format!("invalid argon2id parameters: {error}")))?;
        let concurrency = config.password_hash_concurrency.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        let decoy_password = crate::auth::random_token(16)?;
        let decoy_hash = argon2(&params)
            .hash_password(decoy_password.as_bytes())
            .map_err(|error| AppError::internal(format!("hashing the decoy password: {error}")))?
            .to_string();
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            decoy_hash: decoy_hash.into(),
        })
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: String) -> Result<String, AppError> {
        let params = self.params.clone();
        self.run_blocking(move || {
            argon2(&params)
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|error| AppError::internal(format!("hashing a password: {error}")))
        })
        .await
    }

    /// Checks a password against a stored hash, or against the decoy when there is none, so
    /// the time taken does not tell whether the account exists.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<Verification, AppError> {
        let params = self.params.clone();
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.decoy_hash.to_string());
        self.run_blocking(move || {
            let Ok(hash) = PasswordHash::new(&stored) else {
                return Err(AppError::internal(
                    "a stored password hash is not a valid PHC string",
                ));
            };
            // The hash's own parameters verify it; the configured ones only decide a rehash.
            if Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_err()
                || !known
            {
                return Ok(Verification::Invalid);
            }
            // Compare the costs only: parameters read from a hash also carry its output length.
            let same_costs = Params::try_from(&hash).is_ok_and(|stored| {
                (stored.m_cost(), stored.t_cost(), stored.p_cost())
                    == (params.m_cost(), params.t_cost(), params.p_cost())
            });
            let rehashed = if same_costs && hash.algorithm == argon2::ARGON2ID_IDENT {
                None
            } else {
                argon2(&params)
                    .hash_password(password.as_bytes())
                    .ok()
                    .map(|hash| hash.to_string())
            };
            Ok(Verification::Valid { rehashed })
        })
        .await
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| AppError::internal("the password hashing pool is closed"))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|error| AppError::internal(format!("password hashing task failed: {error}")))?
    }
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap(memory_kib: u32) -> PasswordHasher {
        PasswordHasher::new(&PasswordHashConfig {
            password_hash_memory_kib: memory_kib,
            password_hash_iterations: 1,
            password_hash_parallelism: 1,
            password_hash_concurrency: Some(2),
        })
        .expect("valid parameters")
    }

    #[tokio::test]
    async fn a_hashed_password_verifies_and_a_wrong_one_does_not() {
        let hasher = cheap(64);
        let hash = hasher
            .hash("correct horse battery".into())
            .await
            .expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert_eq!(
            hasher
                .verify("correct horse battery".into(), Some(hash.clone()))
                .await
                .expect("verify"),
            Verification::Valid { rehashed: None }
        );
        assert_eq!(
            hasher
                .verify("wrong horse battery".into(), Some(hash))
                .await
                .expect("verify"),
            Verification::Invalid
        );
    }

    #[tokio::test]
    async fn an_unknown_account_is_checked_against_the_decoy_and_never_valid() {
        let hasher = cheap(64);
        assert_eq!(
            hasher
                .verify("anything".into(), None)
                .await
                .expect("verify"),
            Verification::Invalid
        );
    }

    #[tokio::test]
    async fn a_hash_with_old_parameters_is_upgraded_at_login() {
        let old = cheap(64)
            .hash("correct horse battery".into())
            .await
            .expect("hash");
        let Verification::Valid {
            rehashed: Some(new),
        } = cheap(128)
            .verify("correct horse battery".into(), Some(old))
            .await
            .expect("verify")
        else {
            panic!("expected a rehash");
        };
        assert!(new.contains("m=128,t=1,p=1"));
    }
}
