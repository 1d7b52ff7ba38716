//! Two-factor authentication: the secret key that encrypts TOTP secrets at rest, enrolment,
//! confirmation, turning it off, and the second step of a login.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom as _, SystemRandom};
use steward_domain::mfa::{
    RECOVERY_CODE_RANDOM_BYTES, RecoveryCode, TOTP_SECRET_BYTES, TotpCheck, TotpSecret,
    redeem_recovery_code,
};
use steward_domain::{DomainError, UserId};
use steward_store::{AuditEntry, Backend, TotpRecord, UserRecord};

use crate::app::App;
use crate::auth::password::Verification;
use crate::auth::{LoginFailure, guess_keys};
use crate::config::ServeConfig;
use crate::error::AppError;

/// Bytes of the secret key: AES-256.
const SECRET_KEY_BYTES: usize = 32;

/// The key that encrypts TOTP secrets (AES-256-GCM). Each ciphertext is bound to its user
/// (the user id is the associated data), so a row copied to another user does not decrypt.
#[derive(Clone)]
pub struct SecretKey(std::sync::Arc<LessSafeKey>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N], AppError> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| AppError::internal("the system random source failed"))?;
    Ok(bytes)
}

impl SecretKey {
    fn from_bytes(bytes: &[u8]) -> Result<Self, AppError> {
        let key = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| AppError::Config("the secret key must be 32 bytes".to_owned()))?;
        Ok(Self(std::sync::Arc::new(LessSafeKey::new(key))))
    }

    fn parse(text: &str) -> Result<Self, AppError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| {
            AppError::Config(
                "STEWARD_SECRET_KEY must be base64 of 32 random bytes (openssl rand -base64 32)"
                    .to_owned(),
            )
        })?;
        if bytes.len() != SECRET_KEY_BYTES {
            return Err(AppError::Config(format!(
                "STEWARD_SECRET_KEY must be 32 bytes once decoded, not {}; make one with \
                 `openssl rand -base64 32`",
                bytes.len()
            )));
        }
        Self::from_bytes(&bytes)
    }

    /// The configured key; without one, the embedded default's key in a file next to the
    /// SQLite database (made on first start), or a key of the process's own for an in-memory
    /// database. PostgreSQL needs a configured key: a key kept in the database it protects
    /// would protect nothing.
    pub fn from_config(config: &ServeConfig) -> Result<Self, AppError> {
        if let Some(text) = &config.secret_key {
            return Self::parse(text);
        }
        let url = &config.database.database_url;
        let backend = Backend::of_url(url).map_err(|error| AppError::Config(error.to_string()))?;
        if backend == Backend::Postgres {
            return Err(AppError::Config(
                "STEWARD_SECRET_KEY is required with PostgreSQL: it encrypts two-factor secrets \
                 and must not live in the database; make one with `openssl rand -base64 32`"
                    .to_owned(),
            ));
        }
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Self::from_bytes(&random_bytes::<SECRET_KEY_BYTES>()?);
        }
        Self::load_or_create_file(&key_file_of(url))
    }

    fn load_or_create_file(path: &Path) -> Result<Self, AppError> {
        let text = STANDARD.encode(random_bytes::<SECRET_KEY_BYTES>()?);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(mut file) => {
                file.write_all(format!("{text}\n").as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|error| {
                        AppError::Config(format!("writing {}: {error}", path.display()))
                    })?;
                tracing::info!(path = %path.display(), "created the secret key of the embedded database");
                Self::parse(&text)
            }
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                let stored = std::fs::read_to_string(path).map_err(|error| {
                    AppError::Config(format!("reading {}: {error}", path.display()))
                })?;
                Self::parse(&stored)
            }
            Err(error) => Err(AppError::Config(format!(
                "creating {}: {error}",
                path.display()
            ))),
        }
    }

    /// Encrypts `plaintext` for `user`; returns the ciphertext (with its tag) and the nonce.
    fn seal(&self, user: UserId, plaintext: &[u8]) -> Result<(Vec<u8>, Vec<u8>), AppError> {
        let nonce = random_bytes::<NONCE_LEN>()?;
        let mut buffer = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(user.as_uuid().as_bytes()),
                &mut buffer,
            )
            .map_err(|_| AppError::internal("encrypting a TOTP secret failed"))?;
        Ok((buffer, nonce.to_vec()))
    }

    fn open(&self, user: UserId, ciphertext: &[u8], nonce: &[u8]) -> Result<Vec<u8>, AppError> {
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| AppError::internal("a stored TOTP nonce has the wrong length"))?;
        let mut buffer = ciphertext.to_vec();
        let plaintext = self
            .0
            .open_in_place(nonce, Aad::from(user.as_uuid().as_bytes()), &mut buffer)
            .map_err(|_| {
                AppError::internal(
                    "a stored TOTP secret does not decrypt: was STEWARD_SECRET_KEY changed?",
                )
            })?;
        Ok(plaintext.to_vec())
    }
}

/// `steward.db` → `steward.secret-key`, in the same folder.
fn key_file_of(url: &str) -> PathBuf {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or(path);
    Path::new(path).with_extension("secret-key")
}

/// What a user gets from `enrollTotp`.
#[derive(Debug, Clone)]
pub struct TotpEnrolment {
    pub secret: String,
    pub otpauth_uri: String,
}

/// The second factor given at login, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecondFactor {
    None,
    TotpCode(String),
    RecoveryCode(String),
}

const NOT_ON: &str = "two-factor authentication is not on for this account";

impl App {
    fn totp_secret(&self, record: &TotpRecord) -> Result<TotpSecret, AppError> {
        let bytes = self
            .secret_key
            .open(record.user, &record.secret_ciphertext, &record.nonce)?;
        TotpSecret::from_slice(&bytes)
            .ok_or_else(|| AppError::internal("a stored TOTP secret has the wrong length"))
    }

    /// A new secret for `user`, waiting for its first code (`confirm_totp`).
    pub async fn enroll_totp(
        &self,
        user: &UserRecord,
        entry: &AuditEntry,
    ) -> Result<Result<TotpEnrolment, DomainError>, AppError> {
        let secret = TotpSecret::from_bytes(random_bytes::<TOTP_SECRET_BYTES>()?);
        let (ciphertext, nonce) = self.secret_key.seal(user.id, secret.as_bytes())?;
        if let Err(error) = crate::error::expected(
            self.store
                .enroll_totp(user.id, &ciphertext, &nonce, entry)
                .await,
        )? {
            return Ok(Err(error));
        }
        let otpauth_uri = secret.otpauth_uri(&self.settings.product_name, &user.email);
        Ok(otpauth_uri.map(|otpauth_uri| TotpEnrolment {
            secret: secret.base32(),
            otpauth_uri,
        }))
    }

    /// Checks the first code of a pending enrolment and turns two-factor authentication on;
    /// returns the recovery codes, to be shown once.
    pub async fn confirm_totp(
        &self,
        user: UserId,
        code: &str,
        entry: &AuditEntry,
    ) -> Result<Result<Vec<String>, DomainError>, AppError> {
        let record = match self.store.totp_of(user).await? {
            Some(record) if record.confirmed_at.is_none() => record,
            Some(_) => {
                return Ok(Err(DomainError::conflict(
                    "code",
                    "two-factor authentication is already on",
                )));
            }
            None => {
                return Ok(Err(DomainError::invalid(
                    "code",
                    "there is no enrolment to confirm: call enrollTotp first",
                )));
            }
        };
        let TotpCheck::Accepted { step } = self.totp_secret(&record)?.check(code, entry.at, None)
        else {
            return Ok(Err(DomainError::invalid(
                "code",
                "is not the authenticator's current code; type the 6 digits it shows now, and \
                 check that the device's clock is right",
            )));
        };
        let (codes, hashes) = self.new_recovery_codes().await?;
        Ok(crate::error::expected(
            self.store
                .confirm_totp(user, &record.nonce, step, &hashes, entry)
                .await,
        )?
        .map(|()| codes))
    }

    /// A new set of recovery codes, as shown to the user and as hashed for the store.
    async fn new_recovery_codes(&self) -> Result<(Vec<String>, Vec<String>), AppError> {
        let codes = RecoveryCode::generate_set(&random_bytes::<RECOVERY_CODE_RANDOM_BYTES>()?);
        let mut hashes = Vec::with_capacity(codes.len());
        for code in &codes {
            hashes.push(self.passwords.hash(code.normalized().to_owned()).await?);
        }
        Ok((codes.iter().map(RecoveryCode::display).collect(), hashes))
    }

    /// Ten new recovery codes for a user with two-factor authentication on, who gives their
    /// password; the old codes stop working.
    pub async fn regenerate_recovery_codes(
        &self,
        user: UserId,
        password: String,
        entry: &AuditEntry,
    ) -> Result<Result<Vec<String>, DomainError>, AppError> {
        if let Err(error) = self.check_password(user, password, entry).await? {
            return Ok(Err(error));
        }
        let (codes, hashes) = self.new_recovery_codes().await?;
        if !self
            .store
            .regenerate_recovery_codes(user, &hashes, entry)
            .await?
        {
            return Ok(Err(DomainError::invalid("password", NOT_ON)));
        }
        Ok(Ok(codes))
    }

    /// An administrator turns two-factor authentication off for a user who lost their
    /// authenticator; the user is told by e-mail, with the administrator's name.
    pub async fn reset_totp(
        &self,
        user: UserId,
        by: &str,
        entry: &AuditEntry,
    ) -> Result<Result<UserRecord, DomainError>, AppError> {
        if !self.store.disable_totp(user, by, entry).await? {
            return Ok(Err(DomainError::invalid("user", NOT_ON)));
        }
        let user = self
            .store
            .user_by_id(user)
            .await?
            .ok_or_else(|| AppError::internal("a user vanished during resetTotp"))?;
        Ok(Ok(user))
    }

    /// Uses up one of `user`'s recovery codes, or says why it cannot be used.
    async fn redeem_recovery_code(
        &self,
        user: UserId,
        typed: &str,
        entry: &AuditEntry,
    ) -> Result<Result<(), DomainError>, AppError> {
        let code = match RecoveryCode::parse("recoveryCode", typed) {
            Ok(code) => code,
            Err(error) => return Ok(Err(error)),
        };
        for stored in self.store.recovery_codes_of(user).await? {
            let verification = self
                .passwords
                .verify(code.normalized().to_owned(), Some(stored.code_hash))
                .await?;
            if verification == Verification::Invalid {
                continue;
            }
            if let Err(error) = redeem_recovery_code(stored.used_at) {
                return Ok(Err(error));
            }
            // Another request may have used it since it was read.
            if !self.store.use_recovery_code(user, stored.id, entry).await? {
                return Ok(redeem_recovery_code(Some(entry.at)));
            }
            return Ok(Ok(()));
        }
        Ok(Err(DomainError::invalid(
            "recoveryCode",
            "is not one of this account's recovery codes",
        )))
    }

    /// Turns two-factor authentication off for the caller, who proves it is them with their
    /// password or a recovery code; the user is told by e-mail.
    pub async fn disable_totp(
        &self,
        user: &UserRecord,
        password: Option<String>,
        recovery_code: Option<String>,
        entry: &AuditEntry,
    ) -> Result<Result<UserRecord, DomainError>, AppError> {
        let confirmed = self
            .store
            .totp_of(user.id)
            .await?
            .is_some_and(|record| record.confirmed_at.is_some());
        if !confirmed {
            return Ok(Err(DomainError::invalid("password", NOT_ON)));
        }
        match (password, recovery_code) {
            (Some(password), None) => {
                if let Err(error) = self.check_password(user.id, password, entry).await? {
                    return Ok(Err(error));
                }
            }
            // A recovery code is a guess too (and costs a hash per stored code): it counts
            // like a wrong password.
            (None, Some(code)) => {
                let keys = guess_keys(user.id, entry);
                if let Some(until) = self.store.login_locked_until(&keys, entry.at).await? {
                    return Ok(Err(DomainError::invalid(
                        "recoveryCode",
                        steward_domain::throttle::locked_out(until, entry.at),
                    )));
                }
                if let Err(error) = self.redeem_recovery_code(user.id, &code, entry).await? {
                    self.count_login_failure(entry, Some(user.id), &keys)
                        .await?;
                    return Ok(Err(error));
                }
            }
            _ => {
                return Ok(Err(DomainError::invalid(
                    "password",
                    "give either your password or one of your recovery codes",
                )));
            }
        }
        self.store
            .disable_totp(user.id, &user.username, entry)
            .await?;
        let user = self
            .store
            .user_by_id(user.id)
            .await?
            .ok_or_else(|| AppError::internal("the caller's user is missing"))?;
        Ok(Ok(user))
    }

    /// The confirmed TOTP secret of a user logging in, if two-factor authentication is on.
    pub(crate) async fn login_totp(&self, user: UserId) -> Result<Option<TotpRecord>, AppError> {
        Ok(self
            .store
            .totp_of(user)
            .await?
            .filter(|record| record.confirmed_at.is_some()))
    }

    /// The second step of a login whose password was right.
    pub(crate) async fn check_second_factor(
        &self,
        record: &TotpRecord,
        second: &SecondFactor,
        entry: &AuditEntry,
    ) -> Result<Result<(), LoginFailure>, AppError> {
        match second {
            SecondFactor::None => Ok(Err(LoginFailure::MfaRequired)),
            SecondFactor::TotpCode(code) => {
                let check = self
                    .totp_secret(record)?
                    .check(code, entry.at, record.last_used_step);
                let replayed = || {
                    LoginFailure::InvalidMfaCode(
                        "this code has been used already; wait for the authenticator's next \
                         code"
                            .to_owned(),
                    )
                };
                match check {
                    TotpCheck::Accepted { step } => {
                        if self.store.use_totp_step(record.user, step).await? {
                            Ok(Ok(()))
                        } else {
                            Ok(Err(replayed()))
                        }
                    }
                    TotpCheck::Replayed => Ok(Err(replayed())),
                    TotpCheck::Wrong => Ok(Err(LoginFailure::InvalidMfaCode(
                        "the two-factor code is wrong".to_owned(),
                    ))),
                }
            }
            SecondFactor::RecoveryCode(code) => Ok(self
                .redeem_recovery_code(record.user, code, entry)
                .await?
                .map_err(|error| {
                    LoginFailure::InvalidMfaCode(match error {
                        DomainError::Invalid { reason, .. } => format!("recovery code: {reason}"),
                        other => other.to_string(),
                    })
                })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_sits_next_to_the_database() {
        assert_eq!(
            key_file_of("sqlite://data/steward.db?mode=rwc"),
            PathBuf::from("data/steward.secret-key")
        );
        assert_eq!(
            key_file_of("sqlite:steward.db"),
            PathBuf::from("steward.secret-key")
        );
    }

    #[test]
    fn a_secret_sealed_for_one_user_opens_only_for_that_user() -> Result<(), AppError> {
        let key = SecretKey::from_bytes(&[7u8; 32])?;
        let (ann, bob) = (UserId::new(), UserId::new());
        let (ciphertext, nonce) = key.seal(ann, b"12345678901234567890")?;
        assert!(!ciphertext.windows(20).any(|w| w == b"12345678901234567890"));
        assert_eq!(key.open(ann, &ciphertext, &nonce)?, b"12345678901234567890");
        assert!(key.open(bob, &ciphertext, &nonce).is_err());
        Ok(())
    }

    #[test]
    fn a_configured_key_must_be_32_bytes_of_base64() {
        assert!(SecretKey::parse(&STANDARD.encode([1u8; 32])).is_ok());
        assert!(SecretKey::parse(&STANDARD.encode([1u8; 16])).is_err());
        assert!(SecretKey::parse("not base64!").is_err());
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            // A configured key is accepted exactly when, trimmed, it is base64 of 32 bytes.
            #[test]
            fn a_configured_key_is_base64_of_32_bytes(
                text in prop_oneof![
                    "\\PC{0,60}",
                    "[ \n]?[A-Za-z0-9+/]{40,46}={0,2}[ \n]?",
                    proptest::collection::vec(any::<u8>(), 30..34)
                        .prop_map(|bytes| format!(" {}\n", STANDARD.encode(bytes))),
                ],
            ) {
                let decoded = STANDARD.decode(text.trim()).map(|bytes| bytes.len());
                match SecretKey::parse(&text) {
                    Ok(key) => {
                        prop_assert_eq!(decoded, Ok(SECRET_KEY_BYTES));
                        let user = UserId::new();
                        let sealed = key.seal(user, b"secret");
                        let opened = sealed.and_then(|(text, nonce)| key.open(user, &text, &nonce));
                        prop_assert_eq!(opened.ok(), Some(b"secret".to_vec()));
                    }
                    Err(error) => {
                        prop_assert_ne!(decoded, Ok(SECRET_KEY_BYTES));
                        let said = matches!(
                            &error,
                            AppError::Config(message) if message.contains("STEWARD_SECRET_KEY")
                        );
                        prop_assert!(said, "{error:?}");
                    }
                }
            }
        }
    }
}
