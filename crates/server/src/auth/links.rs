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
}
