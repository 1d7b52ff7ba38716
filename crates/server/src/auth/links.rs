//! Single-use links: a random token for the e-mail, its SHA-256 for the database.
//!
//! The token carries 256 random bits, so a fast unsalted hash is enough: nobody can guess a
//! token from its hash, and looking one up stays a single indexed equality.

use std::fmt::Write as _;

use steward_domain::link::LINK_LIFETIME;
use steward_store::NewLink;
use time::OffsetDateTime;

use crate::auth::random_token;
use crate::error::AppError;

/// A new link made at `now`, good for [`LINK_LIFETIME`].
pub fn new_link(now: OffsetDateTime) -> Result<NewLink, AppError> {
    let token = random_token(32)?;
    Ok(NewLink {
        token_hash: hash_token(&token),
        token,
        expires_at: now + LINK_LIFETIME,
    })
}

/// The hash a token is stored and looked up by. Surrounding spaces (from copying a link)
/// are ignored.
pub fn hash_token(token: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.trim().as_bytes());
    digest
        .as_ref()
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_stores_the_hash_of_its_token_never_the_token() {
        let link = new_link(OffsetDateTime::UNIX_EPOCH).expect("link");
        assert_ne!(link.token, link.token_hash);
        assert_eq!(link.token_hash, hash_token(&link.token));
        assert_eq!(link.token_hash, hash_token(&format!(" {} ", link.token)));
        assert_eq!(link.token_hash.len(), 64);
        assert_eq!(link.expires_at, OffsetDateTime::UNIX_EPOCH + LINK_LIFETIME);
        let other = new_link(OffsetDateTime::UNIX_EPOCH).expect("link");
        assert_ne!(link.token, other.token);
    }

    mod properties {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use proptest::prelude::*;

        use super::*;

        proptest! {
            // A token's hash is 64 lower-case hex digits, the same with spaces around the
            // token, and another for another token.
            #[test]
            fn a_token_hash_ignores_surrounding_spaces_only(
                token in "[A-Za-z0-9_-]{1,60}",
                other in "[A-Za-z0-9_-]{1,60}",
                before in "[ \t\r\n]{0,3}",
                after in "[ \t\r\n]{0,3}",
            ) {
                let hash = hash_token(&token);
                prop_assert_eq!(hash.len(), 64);
                let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
                prop_assert!(hash.bytes().all(hex), "{hash}");
                prop_assert_eq!(hash_token(&format!("{before}{token}{after}")), hash.clone());
                prop_assert_eq!(hash_token(&other) == hash, other == token);
            }

            // A random token is URL-safe base64 of as many bytes as asked for.
            #[test]
            fn a_random_token_is_url_safe_base64_of_its_bytes(bytes in 0..80usize) {
                let token =
                    random_token(bytes).map_err(|error| TestCaseError::fail(error.describe()))?;
                let url_safe = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
                prop_assert!(token.bytes().all(url_safe), "{token}");
                let decoded = URL_SAFE_NO_PAD.decode(&token).map(|decoded| decoded.len());
                prop_assert_eq!(decoded, Ok(bytes));
            }
        }
    }
}
