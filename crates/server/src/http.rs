//! HTTP routes: `/graphql` (POST and GET), `/graphql/ws`, `/graphiql`, `/healthz`, `/readyz`,
//! `/.well-known/jwks.json`, and `POST /imports/users` for scripts that upload a CSV file.

use std::net::SocketAddr;
use std::time::Duration;

use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Json, Redirect, Response};
use axum::routing::{get, post};
use futures_util::TryStreamExt as _;
use tokio::io::AsyncWriteExt as _;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::app::App;
use crate::auth::ClientInfo;
use crate::config::ServeConfig;
use crate::error::{AppError, UNAVAILABLE};
use crate::graphql::loaders::Loaders;
use crate::graphql::{RequestContext, StewardSchema};

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
    schema: StewardSchema,
    request_timeout: Duration,
}

pub fn router(app: App, schema: StewardSchema, settings: HttpSettings) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let upload_limit = usize::try_from(app.settings.jobs.max_upload_bytes).unwrap_or(usize::MAX);
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
        schema: schema.clone(),
        request_timeout: settings.request_timeout,
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
                    upload_limit,
                    limit_body,
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

/// Limits a request's body: 1 MiB, or `upload` bytes for an upload (a multipart form or a
/// CSV file). A body that announces more is refused with 413 before it is read; one that
/// turns out longer fails while it is read.
async fn limit_body(State(upload): State<usize>, request: Request<Body>, next: Next) -> Response {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let is_upload = content_type.starts_with("multipart/form-data") || is_csv(&content_type);
    let limit = if is_upload { upload } else { MAX_BODY_BYTES };
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if announced.is_some_and(|length| length > limit as u64) {
        return graphql_error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BAD_REQUEST",
            &format!("the request body is larger than the limit of {limit} bytes"),
        );
    }
    let (parts, body) = request.into_parts();
    let body = Body::new(http_body_util::Limited::new(body, limit));
    next.run(Request::from_parts(parts, body)).await
}

fn is_csv(content_type: &str) -> bool {
    content_type.starts_with("text/csv") || content_type.starts_with("application/csv")
}

async fn graphql(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> Response {
    let request = request.into_inner();
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
    let request = request
        .data(state.app.clone())
        .data(Loaders::new(&state.app.store))
        .data(RequestContext::new(authentication, client, now));
    let response = state.schema.execute(request).await;
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
/// `text/csv` body: the `startBulkUserImport` mutation for scripts. The body is spooled to a
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
        return graphql_error_response(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "the query string needs organization=<id>, and may have dryRun=true|false, \
             sendInvitations=true|false and fileName=<name>",
        );
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !is_csv(&content_type) {
        return graphql_error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "BAD_REQUEST",
            "send the CSV file as the body with Content-Type: text/csv",
        );
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

/// Subscriptions over WebSocket. The caller authenticates in the `connection_init` payload
/// (`{"Authorization": "Bearer ..."}`), as browsers cannot set headers on a WebSocket.
async fn graphql_ws(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    protocol: GraphQLProtocol,
    upgrade: axum::extract::ws::WebSocketUpgrade,
) -> Response {
    let client = client_info(peer, &headers);
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |stream| {
            let app = state.app.clone();
            GraphQLWebSocket::new(stream, state.schema.clone(), protocol)
                .on_connection_init(move |payload| connection_data(app, client, payload))
                .serve()
        })
}

/// The data a WebSocket connection's operations run with, from its `connection_init`.
async fn connection_data(
    app: App,
    client: ClientInfo,
    payload: serde_json::Value,
) -> async_graphql::Result<async_graphql::Data> {
    let authorization = ["Authorization", "authorization"]
        .into_iter()
        .find_map(|key| payload.get(key).and_then(serde_json::Value::as_str))
        .map(|value| {
            if value.contains(' ') {
                value.to_owned()
            } else {
                format!("Bearer {value}")
            }
        });
    let now = app.clock.now();
    let authentication = app
        .authenticate(authorization.as_deref(), now)
        .await
        .map_err(|error| {
            tracing::error!(error = %error.describe(), "authentication failed");
            async_graphql::Error::new(error.public_message())
        })?;
    let mut data = async_graphql::Data::default();
    data.insert(Loaders::new(&app.store));
    data.insert(RequestContext::new(authentication, client, now));
    data.insert(app);
    Ok(data)
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
