//! Automatic persisted queries (Apollo's protocol): a client sends the SHA-256 of a query in
//! `extensions.persistedQuery` instead of its text; when the server does not know the hash it
//! answers `PERSISTED_QUERY_NOT_FOUND`, and the client sends the text with the hash, which the
//! server checks and keeps for the next time.
//!
//! The texts are kept in memory, within a budget of bytes, the least recently used forgotten
//! first. A hash is replaced by its text before anything else looks at the request, so a
//! persisted query is parsed, held to the limits and run exactly as the same text sent in full
//! would be (a query over HTTP on the schema without extensions, anything else on the full
//! one). Only texts are kept, never answers: each request runs for its own caller.

use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::StatusCode;
use axum::response::Response;
use lru::LruCache;

use super::graphql_error_response;

/// What an entry costs beyond its text, counted against the budget: its hash and the
/// cache's bookkeeping.
pub const ENTRY_OVERHEAD: usize = 128;

type Sha256 = [u8; 32];

/// The texts of the queries clients may send by hash. Cloning shares them.
#[derive(Clone)]
pub struct PersistedQueries {
    /// `None`: persisted queries are off (a budget of 0).
    texts: Option<Arc<Mutex<Texts>>>,
}

/// Texts by their SHA-256, least recently used first out.
struct Texts {
    by_hash: LruCache<Sha256, Arc<str>>,
    /// The texts' lengths plus [`ENTRY_OVERHEAD`] each.
    bytes: usize,
    budget: usize,
}

/// Why a request's persisted query cannot be run.
#[derive(Debug, PartialEq, Eq)]
pub enum PersistedQueryError {
    /// The hash alone, and its text is not (or no longer) known: the client sends it.
    NotFound,
    /// The hash alone, and persisted queries are off: the client sends the text.
    NotSupported,
    /// `extensions.persistedQuery` is not `{"version": 1, "sha256Hash": "<64 hex digits>"}`.
    Malformed(&'static str),
    /// The hash sent with a text is not the text's.
    HashMismatch,
}

impl PersistedQueryError {
    /// The answer. `NotFound` and `NotSupported` are `200` with the exact messages Apollo's
    /// clients look for (older ones compare the message, not the code), as Apollo Server
    /// answers them: they are steps of the protocol, not failures.
    pub fn into_response(self) -> Response {
        match self {
            Self::NotFound => graphql_error_response(
                StatusCode::OK,
                "PERSISTED_QUERY_NOT_FOUND",
                "PersistedQueryNotFound",
            ),
            Self::NotSupported => graphql_error_response(
                StatusCode::OK,
                "PERSISTED_QUERY_NOT_SUPPORTED",
                "PersistedQueryNotSupported",
            ),
            Self::Malformed(message) => {
                graphql_error_response(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
            }
            Self::HashMismatch => graphql_error_response(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "extensions.persistedQuery.sha256Hash is not the SHA-256 of `query`: send the \
                 hash of the query's exact text (its UTF-8 bytes, in lowercase hex)",
            ),
        }
    }
}

const MALFORMED: &str = "extensions.persistedQuery must be {\"version\": 1, \"sha256Hash\": \
     \"<the SHA-256 of the query, 64 hex digits>\"}";

impl PersistedQueries {
    /// Keeps texts within `budget` bytes (each counts its length plus [`ENTRY_OVERHEAD`]);
    /// 0 turns persisted queries off.
    pub fn new(budget: usize) -> Self {
        let texts = (budget > 0).then(|| {
            Arc::new(Mutex::new(Texts {
                by_hash: LruCache::unbounded(),
                bytes: 0,
                budget,
            }))
        });
        Self { texts }
    }

    /// Takes `extensions.persistedQuery` out of `request`: a hash alone is replaced by the
    /// text it was sent with before; a hash with a text is checked against it, and the text
    /// kept. A request without it is left as it is.
    pub fn resolve(&self, request: &mut async_graphql::Request) -> Result<(), PersistedQueryError> {
        let Some(extension) = request.extensions.remove("persistedQuery") else {
            return Ok(());
        };
        let hash = requested_hash(extension)?;
        if request.query.is_empty() {
            let texts = self
                .texts
                .as_ref()
                .ok_or(PersistedQueryError::NotSupported)?;
            let text = locked(texts)
                .get(&hash)
                .ok_or(PersistedQueryError::NotFound)?;
            request.query = text.to_string();
            return Ok(());
        }
        if sha256(&request.query) != hash {
            return Err(PersistedQueryError::HashMismatch);
        }
        if let Some(texts) = &self.texts {
            locked(texts).insert(hash, &request.query);
        }
        Ok(())
    }
}

impl Texts {
    /// The text of `hash`, now the most recently used.
    fn get(&mut self, hash: &Sha256) -> Option<Arc<str>> {
        self.by_hash.get(hash).cloned()
    }

    /// Keeps `text`, forgetting the least recently used texts until the budget holds. A text
    /// larger than the whole budget is not kept.
    fn insert(&mut self, hash: Sha256, text: &str) {
        let weight = text.len().saturating_add(ENTRY_OVERHEAD);
        if weight > self.budget || self.get(&hash).is_some() {
            return;
        }
        self.by_hash.push(hash, Arc::from(text));
        self.bytes += weight;
        while self.bytes > self.budget {
            let Some((_, forgotten)) = self.by_hash.pop_lru() else {
                break;
            };
            self.bytes -= forgotten.len() + ENTRY_OVERHEAD;
        }
    }
}

fn locked(texts: &Mutex<Texts>) -> MutexGuard<'_, Texts> {
    match texts.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The hash of `extensions.persistedQuery`, checked for its shape.
fn requested_hash(extension: async_graphql::Value) -> Result<Sha256, PersistedQueryError> {
    #[derive(serde::Deserialize)]
    struct PersistedQuery {
        version: i64,
        #[serde(rename = "sha256Hash")]
        sha256_hash: String,
    }
    let persisted: PersistedQuery = async_graphql::from_value(extension)
        .map_err(|_| PersistedQueryError::Malformed(MALFORMED))?;
    if persisted.version != 1 {
        return Err(PersistedQueryError::Malformed(
            "only version 1 of extensions.persistedQuery is known: send \"version\": 1",
        ));
    }
    from_hex(&persisted.sha256_hash).ok_or(PersistedQueryError::Malformed(MALFORMED))
}

fn sha256(text: &str) -> Sha256 {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let mut hash = [0; 32];
    hash.copy_from_slice(digest.as_ref());
    hash
}

/// 64 hex digits, in either case.
fn from_hex(hex: &str) -> Option<Sha256> {
    if hex.len() != 64 {
        return None;
    }
    let digit = |byte: u8| char::from(byte).to_digit(16);
    let mut hash = [0; 32];
    for (byte, pair) in hash.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
        *byte = u8::try_from((digit(pair[0])? << 4) | digit(pair[1])?).ok()?;
    }
    Some(hash)
}

#[cfg(test)]
mod tests {
    use async_graphql::Value;
    use serde_json::json;

    use super::*;

    const VERSION: &str = "{ version }";

    fn hex(text: &str) -> String {
        sha256(text)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    fn request(query: &str, extension: serde_json::Value) -> async_graphql::Request {
        let mut request = async_graphql::Request::new(query);
        request.extensions.insert(
            "persistedQuery".to_owned(),
            Value::from_json(extension).unwrap_or_default(),
        );
        request
    }

    fn by_hash(query: &str, hash: &str) -> async_graphql::Request {
        request(query, json!({ "version": 1, "sha256Hash": hash }))
    }

    /// Sends the hash of `text` alone: the text it stands for, or the error.
    fn hash_only(cache: &PersistedQueries, text: &str) -> Result<String, PersistedQueryError> {
        let mut request = by_hash("", &hex(text));
        cache.resolve(&mut request).map(|()| request.query)
    }

    fn register(cache: &PersistedQueries, text: &str) {
        let mut request = by_hash(text, &hex(text));
        assert_eq!(cache.resolve(&mut request), Ok(()));
        assert_eq!(request.query, text);
        assert!(request.extensions.is_empty());
    }

    #[test]
    fn hashes_are_sha256_in_hex_of_either_case() {
        assert_eq!(
            hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(from_hex(&hex("abc")), Some(sha256("abc")));
        assert_eq!(from_hex(&hex("abc").to_uppercase()), Some(sha256("abc")));
        assert_eq!(from_hex(&hex("abc")[1..]), None);
        assert_eq!(from_hex(&format!("{}g", &hex("abc")[1..])), None);
        assert_eq!(from_hex(&"é".repeat(32)), None);
    }

    #[test]
    fn a_hash_runs_the_text_it_was_sent_with_once() {
        let cache = PersistedQueries::new(1024 * 1024);
        assert_eq!(
            hash_only(&cache, VERSION),
            Err(PersistedQueryError::NotFound)
        );
        register(&cache, VERSION);
        assert_eq!(hash_only(&cache, VERSION), Ok(VERSION.to_owned()));
        // A request without the extension is left alone.
        let mut plain = async_graphql::Request::new("{ me { id } }");
        assert_eq!(cache.resolve(&mut plain), Ok(()));
        assert_eq!(plain.query, "{ me { id } }");
    }

    #[test]
    fn a_hash_that_is_not_the_texts_is_refused_and_nothing_is_kept() {
        let cache = PersistedQueries::new(1024 * 1024);
        let mut lying = by_hash("{ me { id } }", &hex(VERSION));
        assert_eq!(
            cache.resolve(&mut lying),
            Err(PersistedQueryError::HashMismatch)
        );
        assert_eq!(
            hash_only(&cache, VERSION),
            Err(PersistedQueryError::NotFound)
        );
    }

    #[test]
    fn a_malformed_extension_is_refused() {
        let cache = PersistedQueries::new(1024 * 1024);
        for extension in [
            json!("abc"),
            json!({ "version": 1 }),
            json!({ "version": 1, "sha256Hash": "abc" }),
            json!({ "version": 2, "sha256Hash": hex(VERSION) }),
            json!({ "sha256Hash": hex(VERSION) }),
        ] {
            let mut request = request(VERSION, extension.clone());
            assert!(
                matches!(
                    cache.resolve(&mut request),
                    Err(PersistedQueryError::Malformed(_))
                ),
                "{extension}"
            );
        }
    }

    #[test]
    fn off_a_hash_alone_is_not_supported_and_a_text_runs() {
        let cache = PersistedQueries::new(0);
        assert_eq!(
            hash_only(&cache, VERSION),
            Err(PersistedQueryError::NotSupported)
        );
        register(&cache, VERSION);
        assert_eq!(
            hash_only(&cache, VERSION),
            Err(PersistedQueryError::NotSupported)
        );
    }

    #[test]
    fn past_its_budget_the_cache_forgets_the_least_recently_used() {
        let text = |name: char| format!("{VERSION} #{}", name.to_string().repeat(100));
        let (a, b, c) = (text('a'), text('b'), text('c'));
        // Room for two texts, not three.
        let cache = PersistedQueries::new(2 * (a.len() + ENTRY_OVERHEAD) + 10);
        register(&cache, &a);
        register(&cache, &b);
        assert_eq!(hash_only(&cache, &a), Ok(a.clone()));
        register(&cache, &c);
        assert_eq!(hash_only(&cache, &b), Err(PersistedQueryError::NotFound));
        assert_eq!(hash_only(&cache, &a), Ok(a.clone()));
        assert_eq!(hash_only(&cache, &c), Ok(c.clone()));
        // A text larger than the whole budget is run but not kept, and forgets nothing.
        let huge = format!("{VERSION} #{}", "h".repeat(1000));
        register(&cache, &huge);
        assert_eq!(hash_only(&cache, &huge), Err(PersistedQueryError::NotFound));
        assert_eq!(hash_only(&cache, &a), Ok(a));
        assert_eq!(hash_only(&cache, &c), Ok(c));
    }
}
