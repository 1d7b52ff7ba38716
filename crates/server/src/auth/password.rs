//! argon2id hashing, run on the blocking pool with bounded concurrency so a burst of logins
//! queues instead of starving every other request of CPU.

use std::sync::{Arc, Mutex};

use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use ring::rand::SecureRandom as _;
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
    memory: Arc<WorkingMemory>,
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

/// argon2's working memory (19 MiB at OWASP's parameters), at most one per hashing permit,
/// kept for the next hash. Allocated and freed for every hash, glibc kept the freed blocks
/// in the arenas of the blocking threads, and a server under load grew by a block at a time
/// long after its warm-up (docs/reliability.md).
#[derive(Default)]
struct WorkingMemory(Mutex<Vec<Vec<Block>>>);

impl WorkingMemory {
    fn take(&self) -> Vec<Block> {
        self.0
            .lock()
            .ok()
            .and_then(|mut pool| pool.pop())
            .unwrap_or_default()
    }

    /// Keeps `blocks` for the next hash, zeroed first as argon2 zeroes its own on drop.
    fn give_back(&self, mut blocks: Vec<Block>) {
        blocks.fill(Block::default());
        if let Ok(mut pool) = self.0.lock() {
            pool.push(blocks);
        }
    }
}

/// The first blocks of `memory` that `params` need, growing it when it is too small.
fn blocks_for<'a>(memory: &'a mut Vec<Block>, params: &Params) -> &'a mut [Block] {
    let count = params.block_count();
    if memory.len() < count {
        memory.resize(count, Block::default());
    }
    &mut memory[..count]
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
        let decoy_hash = hash_with(&params, decoy_password.as_bytes(), &mut Vec::new())?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            memory: Arc::default(),
            decoy_hash: decoy_hash.into(),
        })
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: String) -> Result<String, AppError> {
        let params = self.params.clone();
        self.run_blocking(move |memory| hash_with(&params, password.as_bytes(), memory))
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
        self.run_blocking(move |memory| {
            let Ok(hash) = PasswordHash::new(&stored) else {
                return Err(AppError::internal(
                    "a stored password hash is not a valid PHC string",
                ));
            };
            // The hash's own parameters verify it; the configured ones only decide a rehash.
            if !verify_with(&hash, password.as_bytes(), memory) || !known {
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
                hash_with(&params, password.as_bytes(), memory).ok()
            };
            Ok(Verification::Valid { rehashed })
        })
        .await
    }

    /// Runs `work` on the blocking pool once a permit is free, lending it a working memory.
    async fn run_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| AppError::internal("the password hashing pool is closed"))?;
        let memory = Arc::clone(&self.memory);
        tokio::task::spawn_blocking(move || {
            let mut blocks = memory.take();
            let result = work(&mut blocks);
            memory.give_back(blocks);
            result
        })
        .await
        .map_err(|error| AppError::internal(format!("password hashing task failed: {error}")))?
    }
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

/// An argon2id hash of `password` with a new random salt, as a PHC string, computed in
/// `memory`.
fn hash_with(
    params: &Params,
    password: &[u8],
    memory: &mut Vec<Block>,
) -> Result<String, AppError> {
    let failed =
        |error: &dyn std::fmt::Display| AppError::internal(format!("hashing a password: {error}"));
    let mut salt = [0u8; argon2::RECOMMENDED_SALT_LEN];
    ring::rand::SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| AppError::internal("hashing a password: no random salt"))?;
    let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2(params)
        .hash_password_into_with_memory(password, &salt, &mut output, blocks_for(memory, params))
        .map_err(|error| failed(&error))?;
    let hash = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|error| failed(&error))?,
        salt: Some(Salt::new(&salt).map_err(|error| failed(&error))?),
        hash: Some(Output::new(&output).map_err(|error| failed(&error))?),
    };
    Ok(hash.to_string())
}

/// Whether `password` gives `hash` with the hash's own algorithm, version and parameters,
/// computed in `memory` and compared in constant time (`Output`'s equality).
fn verify_with(hash: &PasswordHash, password: &[u8], memory: &mut Vec<Block>) -> bool {
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm.as_str()) else {
        return false;
    };
    let Ok(version) = hash
        .version
        .map_or(Ok(Version::default()), Version::try_from)
    else {
        return false;
    };
    let Ok(params) = Params::try_from(hash) else {
        return false;
    };
    let mut output = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params.clone())
        .hash_password_into_with_memory(
            password,
            salt.as_ref(),
            &mut output,
            blocks_for(memory, &params),
        )
        .is_ok()
        && Output::new(&output).is_ok_and(|output| output == *expected)
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

    #[tokio::test]
    async fn hashes_agree_with_the_argon2_crate_both_ways_and_memory_is_reused() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = cheap(64);
        // A hash the crate made (as stored before the working memory was pooled) verifies.
        let theirs = argon2(&hasher.params)
            .hash_password(b"shared secret words")
            .expect("hash")
            .to_string();
        let verified = hasher
            .verify("shared secret words".into(), Some(theirs))
            .await
            .expect("verify");
        assert_eq!(verified, Verification::Valid { rehashed: None });
        // And the crate verifies ours.
        let ours = hasher
            .hash("shared secret words".into())
            .await
            .expect("hash");
        let parsed = PasswordHash::new(&ours).expect("PHC");
        assert!(
            Argon2::default()
                .verify_password(b"shared secret words", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"other secret words", &parsed)
                .is_err()
        );
        // Two hashes in turn leave one working memory of the configured size in the pool.
        let pool = hasher.memory.0.lock().expect("pool");
        assert_eq!(pool.len(), 1);
        assert_eq!(pool[0].len(), hasher.params.block_count());
    }
}
