//! Reading a GraphQL request out of an HTTP request: from the query string (`GET`), a JSON
//! body, or a multipart form carrying files (the GraphQL multipart request spec).
//!
//! Whatever keeps a request from being read is answered the GraphQL way, as JSON with a code
//! and a message saying what is wrong and what to send instead, never as a library's debug
//! text: `{"errors": [{"message": "...", "extensions": {"code": "BAD_REQUEST"}}]}` with `400`,
//! or `415` for a body that is neither JSON nor multipart. A body over its limit (`413`) or one
//! that stopped arriving (`408`) fails while it is read here, and [`super::body::limit_body`]
//! answers it, whatever this module made of the failure.

use async_graphql::ParseRequestError;
use async_graphql_axum::GraphQLRequest;
use axum::body::Body;
use axum::extract::FromRequest as _;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{content_type, graphql_error_response};

/// The GraphQL request of an HTTP request to `/graphql`, or the answer refusing it.
pub async fn read(request: Request<Body>) -> Result<async_graphql::Request, Response> {
    let read = if matches!(*request.method(), Method::GET | Method::HEAD) {
        from_query_string(request.uri().query().unwrap_or_default())
    } else {
        match body_kind(request.headers()) {
            Some(BodyKind::Json) => from_json(request.into_body()).await,
            Some(BodyKind::Multipart) => from_multipart(request).await,
            None => Err(Refusal::UnsupportedContentType),
        }
    };
    let request = read.map_err(Refusal::into_response)?;
    if request.query.is_empty() && !request.extensions.contains_key("persistedQuery") {
        return Err(Refusal::NoQuery.into_response());
    }
    Ok(request)
}

/// How a request body is encoded.
#[derive(Debug, PartialEq, Eq)]
enum BodyKind {
    /// `application/json`: the request itself.
    Json,
    /// `multipart/form-data`: the request as JSON in `operations`, then its files.
    Multipart,
}

fn body_kind(headers: &HeaderMap) -> Option<BodyKind> {
    let content_type = content_type(headers);
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    match essence {
        "application/json" => Some(BodyKind::Json),
        "multipart/form-data" => Some(BodyKind::Multipart),
        _ => None,
    }
}

/// Why a request could not be read.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    /// The body is neither JSON nor multipart (or says nothing of its type): 415.
    UnsupportedContentType,
    /// The body is not valid JSON; the parser's description of where it broke.
    NotJson(String),
    /// A JSON array of requests (or a multipart request whose `operations` is one).
    Batch,
    /// Valid JSON that is not a request: the fields that do not fit.
    NotARequest(String),
    /// The multipart form is not a GraphQL multipart request.
    NotGraphqlMultipart(String),
    /// The query string is not a GraphQL request.
    BadQueryString(String),
    /// Nothing to run: no `query`, and no persisted query's hash either.
    NoQuery,
    /// The body could not be read (and the connection failed: nobody reads this answer, or
    /// [`super::body::limit_body`] replaces it with its own).
    Unreadable(String),
    /// Larger than multipart's own limits: 413.
    TooLarge,
}

impl Refusal {
    fn message(&self) -> String {
        match self {
            Self::UnsupportedContentType => "send the request as JSON with `Content-Type: \
                 application/json` (a JSON object with `query`), or as `multipart/form-data` \
                 when it carries files"
                .to_owned(),
            Self::NotJson(error) => format!(
                "the request body is not valid JSON ({error}): send a JSON object such as \
                 {{\"query\": \"{{ version }}\"}}"
            ),
            Self::Batch => "batches (several requests in a JSON array) are not accepted: send \
                 each request, a JSON object, on its own"
                .to_owned(),
            Self::NotARequest(error) => format!(
                "the request body is not a GraphQL request ({error}): send a JSON object with \
                 `query` (a string) and, if needed, `operationName` (a string), `variables` \
                 (an object) and `extensions` (an object)"
            ),
            Self::NotGraphqlMultipart(error) => format!(
                "the multipart request is not a GraphQL multipart request ({error}): send the \
                 parts `operations` (the request as JSON), `map` (which variable each file \
                 goes to) and then the files"
            ),
            Self::BadQueryString(error) => format!(
                "the query string is not a GraphQL request ({error}): send `query` (the \
                 document) and, if needed, `operationName`, and `variables` and `extensions` \
                 as JSON objects, each URL-encoded"
            ),
            Self::NoQuery => "the request has no `query`: send the GraphQL document as \
                 `query`, or the SHA-256 of a query sent before in \
                 `extensions.persistedQuery` (an automatic persisted query)"
                .to_owned(),
            Self::Unreadable(error) => format!("the request body could not be read: {error}"),
            Self::TooLarge => "the request body is larger than the limit".to_owned(),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::UnsupportedContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        graphql_error_response(self.status(), "BAD_REQUEST", &self.message())
    }
}

/// What async-graphql's multipart reader could not make sense of.
impl From<ParseRequestError> for Refusal {
    fn from(error: ParseRequestError) -> Self {
        match error {
            ParseRequestError::UnsupportedBatch => Self::Batch,
            ParseRequestError::PayloadTooLarge => Self::TooLarge,
            // Its own message says only "Invalid multipart data": the cause says what.
            ParseRequestError::InvalidMultipart(error) => {
                Self::NotGraphqlMultipart(error.to_string())
            }
            error => Self::NotGraphqlMultipart(error.to_string()),
        }
    }
}

fn from_query_string(query: &str) -> Result<async_graphql::Request, Refusal> {
    async_graphql::http::parse_query_string(query).map_err(|error| match error {
        // What failed to parse, without the `Io(Custom { .. })` wrapping.
        ParseRequestError::Io(error) => Refusal::BadQueryString(error.to_string()),
        error => Refusal::BadQueryString(error.to_string()),
    })
}

async fn from_json(body: Body) -> Result<async_graphql::Request, Refusal> {
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|error| Refusal::Unreadable(error.to_string()))?;
    parse_json(&bytes)
}

/// Parses a JSON body as one request; when that fails, says why in the client's words.
fn parse_json(body: &[u8]) -> Result<async_graphql::Request, Refusal> {
    serde_json::from_slice::<async_graphql::Request>(body).map_err(|error| {
        use serde_json::error::Category;
        match error.classify() {
            Category::Syntax | Category::Eof | Category::Io => Refusal::NotJson(error.to_string()),
            Category::Data if body.trim_ascii_start().starts_with(b"[") => Refusal::Batch,
            Category::Data => Refusal::NotARequest(error.to_string()),
        }
    })
}

/// A multipart request, read by async-graphql (files are spooled to temporary files).
async fn from_multipart(request: Request<Body>) -> Result<async_graphql::Request, Refusal> {
    GraphQLRequest::<Refusal>::from_request(request, &())
        .await
        .map(GraphQLRequest::into_inner)
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderValue, header};

    use super::*;

    fn kind(content_type: Option<&'static str>) -> Option<BodyKind> {
        let mut headers = HeaderMap::new();
        if let Some(value) = content_type {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
        }
        body_kind(&headers)
    }

    #[test]
    fn json_and_multipart_bodies_are_read_and_nothing_else() {
        assert_eq!(kind(Some("application/json")), Some(BodyKind::Json));
        assert_eq!(
            kind(Some("Application/JSON; charset=utf-8")),
            Some(BodyKind::Json)
        );
        assert_eq!(
            kind(Some("multipart/form-data; boundary=x")),
            Some(BodyKind::Multipart)
        );
        for other in [None, Some("text/plain"), Some("application/xml"), Some("")] {
            assert_eq!(kind(other), None, "{other:?}");
        }
    }

    #[test]
    fn a_json_body_that_is_no_request_says_why_without_debug_text() {
        let refusal = |body: &[u8]| parse_json(body).err().map(|refusal| refusal.message());
        let cases: [(&[u8], &str); 6] = [
            (b"{\"query\": ", "is not valid JSON"),
            (b"", "is not valid JSON"),
            (b" [{\"query\": \"{ version }\"}]", "batches"),
            (b"42", "is not a GraphQL request"),
            (b"{\"query\": 7}", "is not a GraphQL request"),
            (
                b"{\"query\": \"{ version }\", \"variables\": [1]}",
                "is not a GraphQL request",
            ),
        ];
        for (body, expected) in cases {
            let message = refusal(body).unwrap_or_default();
            assert!(message.contains(expected), "{body:?}: {message}");
            assert!(!message.contains("Error("), "{body:?}: {message}");
        }
        let request = parse_json(b"{\"query\": \"{ version }\"}").ok();
        assert_eq!(
            request.map(|request| request.query),
            Some("{ version }".to_owned())
        );
    }

    #[test]
    fn a_broken_query_string_says_what_broke() {
        let message = from_query_string("query=%7B&variables=%5B")
            .err()
            .map(|refusal| refusal.message())
            .unwrap_or_default();
        assert!(message.contains("invalid variables"), "{message}");
        assert!(!message.contains("Custom {"), "{message}");
    }
}
