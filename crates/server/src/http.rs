//! HTTP routes: `/graphql` (POST and GET), `/graphql/ws`, `/graphiql`, `/healthz`, `/readyz`
//! and `/.well-known/jwks.json`.

use std::net::SocketAddr;
use std::time::Duration;

use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse, GraphQLSubscription};
use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Json, Redirect, Response};
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::app::App;
use crate::auth::ClientInfo;
use crate::graphql::loaders::Loaders;
use crate::graphql::{RequestContext, StewardSchema};

/// Largest request body accepted (GraphQL documents and variables); larger ones get 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
struct HttpState {
    app: App,
    schema: StewardSchema,
}

pub fn router(app: App, schema: StewardSchema) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let state = HttpState {
        app,
        schema: schema.clone(),
    };
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/graphiql") }))
        .route("/graphql", get(graphql).post(graphql))
        .route_service("/graphql/ws", GraphQLSubscription::new(schema))
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
                .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES)),
        )
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
                "INTERNAL",
                &error.public_message(),
            );
        }
    };
    let client = ClientInfo {
        address: Some(peer.ip().to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(|agent| agent.chars().take(256).collect()),
    };
    let request = request
        .data(state.app.clone())
        .data(Loaders::new(&state.app.store))
        .data(RequestContext::new(authentication, client, now));
    GraphQLResponse::from(state.schema.execute(request).await).into_response()
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
