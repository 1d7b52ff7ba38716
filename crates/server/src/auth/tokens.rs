//! Access tokens: EdDSA (Ed25519) JWTs with `kid`, `iss`, `aud`, `exp`, signed by a key kept
//! in the database and published at `/.well-known/jwks.json`.
//!
//! The algorithm is pinned: a token whose header names another algorithm (`none`, `HS256`
//! with the public key as secret, ...) is refused before any key is used.

use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use serde::{Deserialize, Serialize};
use steward_domain::{OrganizationId, RoleId, SessionId, UserId};
use steward_store::{AuditEntry, NewSigningKey, SigningKeyRecord, Store};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::AppError;

const ALGORITHM_NAME: &str = "EdDSA";

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The user.
    pub sub: Uuid,
    /// The session; revoking it revokes the token at once.
    pub sid: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
    /// The organization the token acts in, when the user has a membership.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<Uuid>,
    /// The active role in that organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Uuid>,
}

impl AccessClaims {
    pub fn user_id(&self) -> UserId {
        UserId(self.sub)
    }

    pub fn session_id(&self) -> SessionId {
        SessionId(self.sid)
    }

    pub fn active(&self) -> Option<(OrganizationId, RoleId)> {
        self.org
            .zip(self.role)
            .map(|(org, role)| (OrganizationId(org), RoleId(role)))
    }
}

/// The claims of an API key. It carries no session and, unless asked, no expiry: it is
/// checked against the database on every use.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ApiKeyClaims {
    pub iss: String,
    pub aud: String,
    pub sub: Uuid,
    /// 256 random bits from the operating system (URL-safe base64), recorded with the key.
    pub jti: String,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Always `api_key`: tells an API key from an access token without trusting either.
    pub token_use: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<Uuid>,
}

pub const API_KEY_USE: &str = "api_key";

/// Why an access token past its expiry is refused.
pub const ACCESS_TOKEN_EXPIRED: &str = "the access token has expired; log in again";

/// Whether a bearer token says it is an API key. Nothing is verified here: an API key is
/// then looked up by its hash, which no forged token matches.
pub fn claims_api_key(token: &str) -> bool {
    token
        .split('.')
        .nth(1)
        .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .is_some_and(|claims| claims["token_use"] == API_KEY_USE)
}

struct LoadedKey {
    kid: String,
    /// A retired key verifies tokens it signed before the rotation, and signs nothing.
    retired: bool,
    encoding: EncodingKey,
    decoding: DecodingKey,
    public_key: Vec<u8>,
}

/// The signing keys in use: the newest signs, all of them verify.
#[derive(Clone)]
pub struct TokenKeys {
    keys: Arc<RwLock<Arc<Vec<LoadedKey>>>>,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// Why a token was refused. The reason is for logs and the client; it names no secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TokenRejected(pub &'static str);

impl TokenKeys {
    /// Loads the keys from the database, creating the first one on a new database.
    pub async fn load_or_create(
        store: &Store,
        issuer: String,
        audience: String,
        now: OffsetDateTime,
        token_ttl: std::time::Duration,
    ) -> Result<Self, AppError> {
        let published_since = now - token_ttl;
        let mut records = store.signing_keys(published_since).await?;
        if records.iter().all(|record| record.retired_at.is_some()) {
            let key = generate_signing_key()?;
            let entry = AuditEntry {
                actor: None,
                client_address: None,
                at: now,
            };
            store.insert_signing_key(&key, &entry).await?;
            tracing::info!(kid = %key.kid, "created a signing key for access tokens");
            records = store.signing_keys(published_since).await?;
        }
        let keys = records
            .iter()
            .map(load_key)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            keys: Arc::new(RwLock::new(Arc::new(keys))),
            issuer,
            audience,
        })
    }

    /// Reads the keys again, so that a rotation made elsewhere (`cargo xtask
    /// rotate-signing-key`, another instance) is followed: its new key signs from now on, and
    /// a retired key is dropped once every token it signed has expired. Keeps the keys it has
    /// when none of those read is usable.
    pub async fn reload(
        &self,
        store: &Store,
        now: OffsetDateTime,
        token_ttl: std::time::Duration,
    ) -> Result<(), AppError> {
        let records = store.signing_keys(now - token_ttl).await?;
        let keys = records
            .iter()
            .map(load_key)
            .collect::<Result<Vec<_>, _>>()?;
        if !keys.iter().any(|key| !key.retired) {
            return Err(AppError::internal(
                "no signing key in use was found; keeping the loaded keys",
            ));
        }
        let changed = {
            let current = self.snapshot();
            current
                .iter()
                .map(|key| &key.kid)
                .ne(keys.iter().map(|key| &key.kid))
        };
        if changed {
            tracing::info!(
                keys = ?keys.iter().map(|key| (&key.kid, key.retired)).collect::<Vec<_>>(),
                "signing keys reloaded"
            );
        }
        match self.keys.write() {
            Ok(mut slot) => *slot = Arc::new(keys),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(keys),
        }
        Ok(())
    }

    fn snapshot(&self) -> Arc<Vec<LoadedKey>> {
        match self.keys.read() {
            Ok(keys) => keys.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Signs an access token for a session.
    pub fn issue(
        &self,
        user: UserId,
        session: SessionId,
        active: Option<(OrganizationId, RoleId)>,
        now: OffsetDateTime,
        ttl: std::time::Duration,
    ) -> Result<(String, OffsetDateTime), AppError> {
        let keys = self.snapshot();
        let key = keys
            .iter()
            .find(|key| !key.retired)
            .ok_or_else(|| AppError::internal("no signing key in use is loaded"))?;
        let expires_at = now + ttl;
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user.as_uuid(),
            sid: session.as_uuid(),
            iat: now.unix_timestamp(),
            exp: expires_at.unix_timestamp(),
            jti: Uuid::new_v4(),
            org: active.map(|(organization, _)| organization.as_uuid()),
            role: active.map(|(_, role)| role.as_uuid()),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &key.encoding)
            .map_err(|error| AppError::internal(format!("signing an access token: {error}")))?;
        Ok((token, expires_at))
    }

    /// Signs an API key.
    pub fn issue_api_key(
        &self,
        user: UserId,
        jti: String,
        organization: Option<OrganizationId>,
        now: OffsetDateTime,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<String, AppError> {
        let keys = self.snapshot();
        let key = keys
            .iter()
            .find(|key| !key.retired)
            .ok_or_else(|| AppError::internal("no signing key in use is loaded"))?;
        let claims = ApiKeyClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user.as_uuid(),
            jti,
            iat: now.unix_timestamp(),
            exp: expires_at.map(OffsetDateTime::unix_timestamp),
            token_use: API_KEY_USE.to_owned(),
            org: organization.map(|organization| organization.as_uuid()),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, &claims, &key.encoding)
            .map_err(|error| AppError::internal(format!("signing an API key: {error}")))
    }

    /// Checks signature, algorithm, issuer, audience and expiry at `now`.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<AccessClaims, TokenRejected> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| TokenRejected("the access token is malformed"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenRejected(
                "the access token is not signed with the expected algorithm",
            ));
        }
        let kid = header
            .kid
            .ok_or(TokenRejected("the access token names no signing key"))?;
        let keys = self.snapshot();
        let key = keys.iter().find(|key| key.kid == kid).ok_or(TokenRejected(
            "the access token was signed by an unknown key",
        ))?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Expiry is checked below against `now`, so tests control the clock.
        validation.validate_exp = false;
        let data = jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation)
            .map_err(|error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidIssuer => {
                    TokenRejected("the access token was issued by someone else")
                }
                jsonwebtoken::errors::ErrorKind::InvalidAudience => {
                    TokenRejected("the access token is meant for another audience")
                }
                jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                    TokenRejected("the access token's signature is not valid")
                }
                _ => TokenRejected("the access token is not valid"),
            })?;
        if data.claims.exp <= now.unix_timestamp() {
            return Err(TokenRejected(ACCESS_TOKEN_EXPIRED));
        }
        Ok(data.claims)
    }

    /// The public keys as a JSON Web Key Set (RFC 7517, OKP keys of RFC 8037).
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = self
            .snapshot()
            .iter()
            .map(|key| {
                serde_json::json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "alg": ALGORITHM_NAME,
                    "use": "sig",
                    "kid": key.kid,
                    "x": URL_SAFE_NO_PAD.encode(&key.public_key),
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

fn load_key(record: &SigningKeyRecord) -> Result<LoadedKey, AppError> {
    if record.algorithm != ALGORITHM_NAME {
        return Err(AppError::internal(format!(
            "signing key {} uses the unsupported algorithm {}",
            record.kid, record.algorithm
        )));
    }
    // Checks that the stored private key is a usable Ed25519 PKCS#8 document.
    Ed25519KeyPair::from_pkcs8(&record.private_key)
        .map_err(|_| AppError::internal(format!("signing key {} is damaged", record.kid)))?;
    Ok(LoadedKey {
        kid: record.kid.clone(),
        retired: record.retired_at.is_some(),
        encoding: EncodingKey::from_ed_der(&record.private_key),
        decoding: DecodingKey::from_ed_der(&record.public_key),
        public_key: record.public_key.clone(),
    })
}

/// A new Ed25519 key pair from the operating system's random source.
pub fn generate_signing_key() -> Result<NewSigningKey, AppError> {
    let random = ring::rand::SystemRandom::new();
    let document = Ed25519KeyPair::generate_pkcs8(&random)
        .map_err(|_| AppError::internal("generating a signing key failed"))?;
    let pair = Ed25519KeyPair::from_pkcs8(document.as_ref())
        .map_err(|_| AppError::internal("reading a generated signing key failed"))?;
    let public_key = pair.public_key().as_ref().to_vec();
    Ok(NewSigningKey {
        kid: super::random_token(12)?,
        algorithm: ALGORITHM_NAME.to_owned(),
        private_key: document.as_ref().to_vec(),
        public_key,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use proptest::prelude::*;
    use steward_store::Timestamp;

    use super::*;

    const ISSUER: &str = "https://steward.example";
    const AUDIENCE: &str = "steward";

    /// Keys as `load_or_create` makes them, without a database.
    static KEYS: LazyLock<TokenKeys> = LazyLock::new(|| {
        let key = generate_signing_key().expect("a key");
        let record = SigningKeyRecord {
            id: Uuid::new_v4(),
            kid: key.kid,
            algorithm: key.algorithm,
            private_key: key.private_key,
            public_key: key.public_key,
            created_at: Timestamp::from(OffsetDateTime::UNIX_EPOCH),
            retired_at: None,
        };
        TokenKeys {
            keys: Arc::new(RwLock::new(Arc::new(vec![
                load_key(&record).expect("loads"),
            ]))),
            issuer: ISSUER.to_owned(),
            audience: AUDIENCE.to_owned(),
        }
    });

    fn id() -> impl Strategy<Value = Uuid> {
        any::<u128>().prop_map(Uuid::from_u128)
    }

    fn instant() -> impl Strategy<Value = OffsetDateTime> {
        (1_000_000_000i64..4_000_000_000)
            .prop_map(|seconds| OffsetDateTime::from_unix_timestamp(seconds).expect("in range"))
    }

    /// Text shaped like a JWT (three base64url segments), and anything else.
    fn token_like() -> impl Strategy<Value = String> {
        prop_oneof![
            "[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_-]{0,90}",
            "eyJ[A-Za-z0-9_=+/.-]{0,200}",
            "\\PC{0,80}",
            ".{0,80}",
        ]
    }

    /// A base64url character other than `c`.
    fn other_than(c: char, pick: u8) -> char {
        const ALPHABET: &[u8] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
        let mut choice = char::from(ALPHABET[usize::from(pick) % ALPHABET.len()]);
        if choice == c {
            choice = char::from(ALPHABET[(usize::from(pick) + 1) % ALPHABET.len()]);
        }
        choice
    }

    proptest! {
        // Arbitrary text is refused as an access token, and is not taken for an API key.
        #[test]
        fn arbitrary_text_is_no_token(token in token_like(), now in instant()) {
            prop_assert!(KEYS.verify(&token, now).is_err());
            prop_assert!(!claims_api_key(&token));
        }

        // An issued access token verifies, until it expires, to the claims it was issued with.
        #[test]
        fn an_issued_token_verifies_to_its_claims(
            user in id(),
            session in id(),
            active in proptest::option::of((id(), id())),
            now in instant(),
            ttl in 1u64..100_000,
        ) {
            let active =
                active.map(|(organization, role)| (OrganizationId(organization), RoleId(role)));
            let ttl = std::time::Duration::from_secs(ttl);
            let (token, expires_at) = KEYS
                .issue(UserId(user), SessionId(session), active, now, ttl)
                .map_err(|error| TestCaseError::fail(error.describe()))?;
            prop_assert!(!claims_api_key(&token));
            let claims = KEYS.verify(&token, now)?;
            prop_assert_eq!(claims.user_id(), UserId(user));
            prop_assert_eq!(claims.session_id(), SessionId(session));
            prop_assert_eq!(claims.active(), active);
            prop_assert_eq!(claims.exp, expires_at.unix_timestamp());
            prop_assert_eq!(
                KEYS.verify(&token, expires_at),
                Err(TokenRejected("the access token has expired; log in again"))
            );
        }

        // An issued token with any one character changed, or cut short, is refused.
        #[test]
        fn a_changed_or_cut_token_is_refused(
            user in id(),
            now in instant(),
            position in any::<proptest::sample::Index>(),
            pick in any::<u8>(),
        ) {
            let ttl = std::time::Duration::from_secs(3600);
            let (token, _) = KEYS
                .issue(UserId(user), SessionId(user), None, now, ttl)
                .map_err(|error| TestCaseError::fail(error.describe()))?;
            let at = position.index(token.len());
            let original = char::from(token.as_bytes()[at]);
            let mut changed = token.clone();
            changed.replace_range(at..=at, &other_than(original, pick).to_string());
            prop_assert!(KEYS.verify(&changed, now).is_err(), "{token} → {changed}");
            prop_assert!(KEYS.verify(&token[..at], now).is_err(), "{token} cut at {at}");
        }

        // An issued API key says it is one, and is no access token.
        #[test]
        fn an_api_key_says_it_is_one(
            user in id(),
            jti in "[A-Za-z0-9_-]{43}",
            organization in proptest::option::of(id()),
            now in instant(),
        ) {
            let key = KEYS
                .issue_api_key(UserId(user), jti, organization.map(OrganizationId), now, None)
                .map_err(|error| TestCaseError::fail(error.describe()))?;
            prop_assert!(claims_api_key(&key));
            prop_assert!(KEYS.verify(&key, now).is_err());
        }
    }
}
