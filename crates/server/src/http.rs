//! HTTP routes: `/graphql` (POST and GET), `/graphql/ws`, `/graphiql`, `/healthz`, `/readyz`,
//! `/.well-known/jwks.json`, and `POST /imports/users` for scripts that upload a CSV file.
//!
//! An upload (a multipart form, a CSV file) is read only for a caller its headers
//! authenticate and authorize: anyone else is refused before a byte of the body is read.

mod body;
mod persisted;
mod request;
pub mod websocket;

use std::net::SocketAddr;
use std::time::Duration;

use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql_axum::GraphQLResponse;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Json, Redirect, Response};
use axum::routing::{get, post};
use futures_util::TryStreamExt as _;
use tokio::io::AsyncWriteExt as _;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tracing::Instrument as _;

use steward_domain::policy::{ManageUsers, authorize};
use steward_domain::{DomainError, OrganizationId};

use crate::app::App;
use crate::auth::{Authentication, ClientInfo};
use crate::config::ServeConfig;
use crate::error::{AppError, UNAVAILABLE, domain_code};
use crate::graphql::loaders::{Batches, Loaders};
use crate::graphql::{RequestContext, Schemas};

/// Largest request body accepted (GraphQL documents and variables); larger ones get 413.
/// Uploads (multipart and `text/csv` bodies) have their own limit, `--max-upload-bytes`.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What the HTTP layer takes from the configuration.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Longest a GraphQL request without uploads may run.
    pub request_timeout: Duration,
    /// Origins whose browser pages may call the API; none: no CORS headers at all.
    pub cors: Option<AllowOrigin>,
    /// The public URL is `https`: browsers are told to use nothing else (HSTS).
    pub https: bool,
    /// A request body from which nothing arrives for this long is given up (408).
    pub body_idle_timeout: Duration,
    /// Bytes of query texts kept for automatic persisted queries; 0: they are off.
    pub persisted_query_cache_bytes: usize,
}

impl HttpSettings {
    /// Checks the CORS origins: each must be `*` alone or a `scheme://host[:port]` origin.
    pub fn from_config(config: &ServeConfig) -> Result<Self, AppError> {
        let origins: Vec<&str> = config
            .cors_allowed_origins
            .iter()
            .map(|origin| origin.trim())
            .filter(|origin| !origin.is_empty())
            .collect();
        let cors = if origins.is_empty() {
            None
        } else if origins == ["*"] {
            Some(AllowOrigin::any())
        } else {
            let mut values = Vec::with_capacity(origins.len());
            for origin in &origins {
                let origin = origin.trim_end_matches('/');
                let value = HeaderValue::from_str(origin)
                    .ok()
                    .filter(|_| is_origin(origin));
                let Some(value) = value else {
                    return Err(AppError::Config(format!(
                        "--cors-allowed-origins: {origin:?} is not an origin: give \
                         scheme://host[:port] (such as https://console.example.com), or * alone"
                    )));
                };
                values.push(value);
            }
            Some(AllowOrigin::list(values))
        };
        Ok(Self {
            request_timeout: config.graphql_timeout(),
            cors,
            https: config.public_url.starts_with("https://"),
            body_idle_timeout: config.body_idle_timeout(),
            persisted_query_cache_bytes: config.graphql_persisted_query_cache_bytes,
        })
    }
}

/// `http(s)://host[:port]`, with no path, query or wildcard.
fn is_origin(origin: &str) -> bool {
    origin.split_once("://").is_some_and(|(scheme, host)| {
        matches!(scheme, "http" | "https")
            && !host.is_empty()
            && !host.contains(['/', '?', '#', '*', ' ', '@'])
    })
}

#[derive(Clone)]
struct HttpState {
    app: App,
    schemas: Schemas,
    request_timeout: Duration,
    persisted_queries: persisted::PersistedQueries,
}

pub fn router(app: App, schemas: Schemas, settings: HttpSettings) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let body_rules = body::BodyRules {
        upload_limit: usize::try_from(app.settings.jobs.max_upload_bytes).unwrap_or(usize::MAX),
        idle_timeout: settings.body_idle_timeout,
        read: app.body_bytes_read.clone(),
    };
    let cors = settings.cors.map(|origins| {
        CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                request_id.clone(),
            ])
            .expose_headers([request_id.clone()])
            .max_age(Duration::from_secs(600))
    });
    let state = HttpState {
        app,
        schemas,
        request_timeout: settings.request_timeout,
        persisted_queries: persisted::PersistedQueries::new(settings.persisted_query_cache_bytes),
    };
    let router = Router::new()
        .route("/", get(|| async { Redirect::temporary("/graphiql") }))
        .route("/graphql", get(graphql).post(graphql))
        .route("/imports/users", post(import_users))
        .route("/graphql/ws", get(graphql_ws))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/.well-known/jwks.json", get(jwks))
        .merge(crate::graphiql::router())
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                        let id = request
                            .headers()
                            .get("x-request-id")
                            .and_then(|value| value.to_str().ok())
                            .unwrap_or("-");
                        // The path only: query strings may carry GraphQL variables.
                        tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
                    }),
                )
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(axum::middleware::from_fn_with_state(
                    body_rules,
                    body::limit_body,
                )),
        );
    let router = with_security_headers(router, settings.https);
    match cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// Headers every response carries unless its route set its own (GraphiQL has its content
/// security policy, JWKS and GraphiQL's assets their caching): API answers hold tokens, so
/// nothing may cache them, frame them, sniff them into another type or leak the URL.
fn with_security_headers(router: Router, https: bool) -> Router {
    let header = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    let router = router
        .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header(header::REFERRER_POLICY, "no-referrer"))
        .layer(header(header::CACHE_CONTROL, "no-store"))
        .layer(header(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
        ));
    if https {
        router.layer(header(
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        ))
    } else {
        router
    }
}

/// Whether a request carries an upload: a multipart form or a CSV file.
fn is_upload(headers: &HeaderMap) -> bool {
    let content_type = content_type(headers);
    content_type.starts_with("multipart/form-data") || is_csv(&content_type)
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase()
}

fn is_csv(content_type: &str) -> bool {
    content_type.starts_with("text/csv") || content_type.starts_with("application/csv")
}

async fn graphql(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let method = request.method().clone();
    let headers = request.headers().clone();
    // Which mutation a multipart request runs is in its body: from the headers, the caller
    // must be someone who may import users somewhere.
    if is_upload(&headers)
        && let Err(refusal) = authorize_upload(&state.app, &headers, None).await
    {
        return refusal;
    }
    let mut request = match request::read(request).await {
        Ok(request) => request,
        Err(refusal) => return refusal,
    };
    // A persisted query's hash becomes its text here, before anything looks at the text.
    if let Err(error) = state.persisted_queries.resolve(&mut request) {
        return error.into_response();
    }
    // GET must not change anything: a link or an <img> could otherwise make a logged-in
    // browser run a mutation.
    if method == Method::GET && !is_query_only(&request) {
        return graphql_error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "BAD_REQUEST",
            "mutations and subscriptions must be sent with POST",
        );
    }
    // A request with uploads is bounded by the upload limit instead: a large CSV file takes
    // its time to stage.
    let timeout = request.uploads.is_empty().then_some(state.request_timeout);
    execute(&state, peer, &headers, request, timeout).await
}

/// Authenticates the caller and runs a GraphQL request for them, cancelling it (and rolling
/// back its transaction) past `timeout`.
async fn execute(
    state: &HttpState,
    peer: SocketAddr,
    headers: &HeaderMap,
    request: async_graphql::Request,
    timeout: Option<Duration>,
) -> Response {
    let run = authenticate_and_execute(state, peer, headers, request);
    let Some(timeout) = timeout else {
        return run.await;
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(
                timeout_ms = timeout.as_millis(),
                "request cancelled: it ran too long"
            );
            graphql_error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "TIMEOUT",
                &format!(
                    "the request did not finish within {} ms and was cancelled: changes it \
                     had not committed were rolled back",
                    timeout.as_millis()
                ),
            )
        }
    }
}

async fn authenticate_and_execute(
    state: &HttpState,
    peer: SocketAddr,
    headers: &HeaderMap,
    request: async_graphql::Request,
) -> Response {
    let now = state.app.clock.now();
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let authentication = match state.app.authenticate(authorization, now).await {
        Ok(authentication) => authentication,
        Err(error) => {
            tracing::error!(error = %error.describe(), "authentication failed");
            return graphql_error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                error.code(),
                &error.public_message(),
            );
        }
    };
    let client = client_info(peer, headers);
    let batches = Batches::default();
    let query = state.schemas.query_document(&request);
    let request = request
        .data(state.app.clone())
        .data(Loaders::new(&state.app.store, &batches, query.is_some()))
        .data(RequestContext::new(authentication, client, now));
    let response = match query {
        Some(document) => {
            let mut request = request;
            request.set_parsed_query(document);
            Schemas::with_codes(batches.drive(state.schemas.queries.execute(request)).await)
        }
        None => batches.drive(state.schemas.full.execute(request)).await,
    };
    let unavailable = response.errors.iter().any(|error| {
        error
            .extensions
            .as_ref()
            .and_then(|extensions| extensions.get("code"))
            .is_some_and(|code| *code == async_graphql::Value::from(UNAVAILABLE))
    });
    let mut response = GraphQLResponse::from(response).into_response();
    if unavailable {
        // The database is down or busy: 503 tells clients and load balancers to retry.
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    response
}

/// The query string of `POST /imports/users`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImportParameters {
    organization: String,
    #[serde(default)]
    dry_run: bool,
    #[serde(default = "yes")]
    send_invitations: bool,
    file_name: Option<String>,
}

fn yes() -> bool {
    true
}

const START_IMPORT: &str = "mutation StartImport($organization: ID!, $file: Upload!, \
     $dryRun: Boolean!, $sendInvitations: Boolean!) { startBulkUserImport(organization: \
     $organization, file: $file, dryRun: $dryRun, sendInvitations: $sendInvitations) { \
     job { id status totalRows dryRun sendInvitations createdAt } \
     errors { field code message } } }";

/// `POST /imports/users?organization=ID[&dryRun=true][&sendInvitations=false]` with a
/// `text/csv` body: the `startBulkUserImport` mutation for scripts. The caller is
/// authenticated and authorized from the headers first; then the body is spooled to a
/// temporary file as it arrives (memory stays flat), then handed to the mutation as its
/// upload; the answer is the mutation's GraphQL response.
async fn import_users(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    parameters: Result<Query<ImportParameters>, axum::extract::rejection::QueryRejection>,
    body: Body,
) -> Response {
    let Ok(Query(parameters)) = parameters else {
        return body::unread_body(graphql_error_response(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "the query string needs organization=<id>, and may have dryRun=true|false, \
             sendInvitations=true|false and fileName=<name>",
        ));
    };
    if !is_csv(&content_type(&headers)) {
        return body::unread_body(graphql_error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "BAD_REQUEST",
            "send the CSV file as the body with Content-Type: text/csv",
        ));
    }
    let Ok(organization) = uuid::Uuid::parse_str(&parameters.organization) else {
        return body::unread_body(graphql_error_response(
            StatusCode::BAD_REQUEST,
            "BAD_USER_INPUT",
            "organization is not a valid id",
        ));
    };
    if let Err(refusal) = authorize_upload(
        &state.app,
        &headers,
        Some(OrganizationId::from(organization)),
    )
    .await
    {
        return refusal;
    }
    let file = match spool(body).await {
        Ok(file) => file,
        Err(error) => {
            return graphql_error_response(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                &format!("the CSV file could not be received: {error}"),
            );
        }
    };
    let mut request = async_graphql::Request::new(START_IMPORT).variables(
        async_graphql::Variables::from_json(serde_json::json!({
            "organization": parameters.organization,
            "file": null,
            "dryRun": parameters.dry_run,
            "sendInvitations": parameters.send_invitations,
        })),
    );
    request.set_upload(
        "variables.file",
        async_graphql::UploadValue {
            filename: parameters.file_name.unwrap_or_default(),
            content_type: Some("text/csv".to_owned()),
            content: file,
        },
    );
    execute(&state, peer, &headers, request, None).await
}

/// Copies a request body into an anonymous temporary file, rewound for reading.
async fn spool(body: Body) -> std::io::Result<std::fs::File> {
    let mut file = tokio::fs::File::from_std(tempfile::tempfile()?);
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.try_next().await.map_err(std::io::Error::other)? {
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    let mut file = file.into_std().await;
    std::io::Seek::rewind(&mut file)?;
    Ok(file)
}

/// GraphQL over WebSocket (see [`websocket`]). A message is limited like a request body.
async fn graphql_ws(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: axum::extract::ws::WebSocketUpgrade,
) -> Response {
    let Some(protocol) = websocket::protocol(&headers) else {
        return graphql_error_response(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "ask for the graphql-transport-ws subprotocol (Sec-WebSocket-Protocol)",
        );
    };
    let client = client_info(peer, &headers);
    // The connection's operations log, and run their statements, in the span of the request
    // that opened it (its request id).
    let span = tracing::Span::current();
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(MAX_BODY_BYTES)
        .max_frame_size(MAX_BODY_BYTES)
        .on_upgrade(move |socket| {
            websocket::serve(socket, protocol, state.app, state.schemas.full, client)
                .instrument(span)
        })
}

/// Decides, from the headers alone, whether the body of an upload may be read: the caller
/// must be authenticated and allowed to import users, in `organization` when it is known,
/// else in some organization. The answer refusing it otherwise leaves the body unread.
async fn authorize_upload(
    app: &App,
    headers: &HeaderMap,
    organization: Option<OrganizationId>,
) -> Result<(), Response> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let unavailable = |error: AppError| {
        tracing::error!(error = %error.describe(), "authorizing an upload failed");
        body::unread_body(graphql_error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            error.code(),
            &error.public_message(),
        ))
    };
    let principal = match app.authenticate(authorization, app.clock.now()).await {
        Ok(Authentication::Session(principal)) => principal,
        Ok(Authentication::Anonymous) => {
            return Err(upload_refused(DomainError::unauthenticated(
                "log in first and send the access token as `Authorization: Bearer <token>`: \
                 an upload is read only from an authenticated caller",
            )));
        }
        Ok(Authentication::Rejected(reason)) => {
            return Err(upload_refused(DomainError::unauthenticated(reason)));
        }
        Err(error) => return Err(unavailable(error)),
    };
    if principal.must_change_password {
        return Err(upload_refused(DomainError::forbidden(
            "you must change your password first: use the changePassword mutation",
        )));
    }
    let actor = app.actor(&principal).await.map_err(unavailable)?;
    let allowed = match organization {
        Some(organization) => authorize::<ManageUsers>(&actor, organization).map(drop),
        None if actor.is_super_admin()
            || actor
                .organizations()
                .any(|organization| authorize::<ManageUsers>(&actor, organization).is_ok()) =>
        {
            Ok(())
        }
        None => Err(DomainError::forbidden(
            "uploads are for importing users, which needs the USERS/MANAGE permission in an \
             organization",
        )),
    };
    allowed.map_err(upload_refused)
}

/// An upload refused before its body is read: 401, 403 or 404 with the GraphQL error.
fn upload_refused(error: DomainError) -> Response {
    let status = match &error {
        DomainError::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
        DomainError::Forbidden { .. } => StatusCode::FORBIDDEN,
        DomainError::NotFound { .. } => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut response = graphql_error_response(status, domain_code(&error), &error.to_string());
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    body::unread_body(response)
}

fn client_info(peer: SocketAddr, headers: &HeaderMap) -> ClientInfo {
    ClientInfo {
        address: Some(peer.ip().to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(|agent| agent.chars().take(256).collect()),
    }
}

/// Whether the operation the request selects is a query. Documents that do not parse are
/// let through: execution reports the syntax error the usual way.
fn is_query_only(request: &async_graphql::Request) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        return true;
    };
    let selected = match (&document.operations, request.operation_name.as_deref()) {
        (DocumentOperations::Single(operation), _) => Some(operation.node.ty),
        (DocumentOperations::Multiple(operations), Some(name)) => {
            operations.get(name).map(|operation| operation.node.ty)
        }
        (DocumentOperations::Multiple(operations), None) => {
            return operations
                .values()
                .all(|operation| operation.node.ty == OperationType::Query);
        }
    };
    selected.is_none_or(|ty| ty == OperationType::Query)
}

fn graphql_error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({
        "errors": [{ "message": message, "extensions": { "code": code } }]
    });
    (status, Json(body)).into_response()
}

async fn readyz(State(state): State<HttpState>) -> Response {
    match tokio::time::timeout(Duration::from_secs(2), state.app.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready").into_response(),
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "readiness check: the database does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the database does not answer",
            )
                .into_response()
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the database did not answer in time",
        )
            .into_response(),
    }
}

async fn jwks(State(state): State<HttpState>) -> Response {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(state.app.tokens.jwks()),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &str, operation: Option<&str>) -> async_graphql::Request {
        let request = async_graphql::Request::new(query);
        match operation {
            Some(name) => request.operation_name(name),
            None => request,
        }
    }

    #[test]
    fn only_queries_may_travel_by_get() {
        assert!(is_query_only(&request("{ version }", None)));
        assert!(is_query_only(&request("query V { version }", None)));
        assert!(!is_query_only(&request(
            "mutation { logout { loggedOut } }",
            None
        )));
        let both = "query A { version } mutation B { logout { loggedOut } }";
        assert!(is_query_only(&request(both, Some("A"))));
        assert!(!is_query_only(&request(both, Some("B"))));
        assert!(!is_query_only(&request(both, None)));
    }
}
