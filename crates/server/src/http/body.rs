//! Request bodies: their size limit, the idle time after which a body that stopped arriving
//! is given up, and the count of body bytes read.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::BoxError;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};

use super::{MAX_BODY_BYTES, graphql_error_response, is_upload};
use crate::app::BodyBytesRead;

/// What every request body is held to.
#[derive(Debug, Clone)]
pub struct BodyRules {
    /// Largest upload (a multipart form or a CSV file); other bodies: [`MAX_BODY_BYTES`].
    pub upload_limit: usize,
    /// A body from which nothing arrives for this long is given up: 408.
    pub idle_timeout: Duration,
    /// Counts the body bytes handed to the routes.
    pub read: BodyBytesRead,
}

/// Limits a request's body: 1 MiB, or the upload limit for an upload. A body that announces
/// more is refused with 413 before it is read; one that turns out longer fails while it is
/// read, and the request is answered 413 whatever its route made of the failure. A body that
/// stops arriving for the idle time fails too, and the request is answered 408.
pub async fn limit_body(State(rules): State<BodyRules>, request: Request, next: Next) -> Response {
    let limit = if is_upload(request.headers()) {
        rules.upload_limit
    } else {
        MAX_BODY_BYTES
    };
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if announced.is_some_and(|length| length > limit as u64) {
        return unread_body(too_large(limit));
    }
    let stalled = Arc::new(AtomicBool::new(false));
    let exceeded = Arc::new(AtomicBool::new(false));
    let (parts, body) = request.into_parts();
    let body = WatchedBody {
        inner: body,
        idle_timeout: rules.idle_timeout,
        idle: None,
        read: rules.read.clone(),
        stalled: stalled.clone(),
        received: 0,
        limit,
        exceeded: exceeded.clone(),
    };
    let body = Body::new(http_body_util::Limited::new(body, limit));
    let response = next.run(Request::from_parts(parts, body)).await;
    if stalled.load(Ordering::Relaxed) {
        tracing::warn!(
            idle_seconds = rules.idle_timeout.as_secs(),
            "request body given up: nothing arrived for the idle time"
        );
        return unread_body(graphql_error_response(
            StatusCode::REQUEST_TIMEOUT,
            "BAD_REQUEST",
            &format!(
                "the request body stopped arriving: nothing came for {} seconds",
                rules.idle_timeout.as_secs()
            ),
        ));
    }
    if exceeded.load(Ordering::Relaxed) {
        return unread_body(too_large(limit));
    }
    response
}

fn too_large(limit: usize) -> Response {
    graphql_error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        "BAD_REQUEST",
        &format!("the request body is larger than the limit of {limit} bytes"),
    )
}

/// Marks an answer given while (part of) the body is unread: the connection cannot carry
/// another request, and the client learns it from the answer instead of a reset.
pub fn unread_body(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A request body that counts the bytes read from it and fails when nothing arrives for the
/// idle time. The timer runs only while the route waits for more: a route that is busy
/// between two reads (writing a file) is not hurried.
struct WatchedBody {
    inner: Body,
    idle_timeout: Duration,
    idle: Option<Pin<Box<tokio::time::Sleep>>>,
    read: BodyBytesRead,
    stalled: Arc<AtomicBool>,
    /// Bytes of this body read so far: past `limit`, the `Limited` around this body fails
    /// the read, and `exceeded` says so to [`limit_body`].
    received: usize,
    limit: usize,
    exceeded: Arc<AtomicBool>,
}

/// The error a stalled body fails with.
#[derive(Debug, thiserror::Error)]
#[error("the request body stopped arriving")]
struct BodyStalled;

impl HttpBody for WatchedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.idle = None;
                if let Some(Ok(frame)) = &frame
                    && let Some(data) = frame.data_ref()
                {
                    this.read.add(data.len());
                    this.received = this.received.saturating_add(data.len());
                    if this.received > this.limit {
                        this.exceeded.store(true, Ordering::Relaxed);
                    }
                }
                Poll::Ready(frame.map(|result| result.map_err(BoxError::from)))
            }
            Poll::Pending => {
                let timeout = this.idle_timeout;
                let idle = this
                    .idle
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match idle.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.stalled.store(true, Ordering::Relaxed);
                        Poll::Ready(Some(Err(BoxError::from(BodyStalled))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
