//! GraphQL over WebSocket at `/graphql/ws` (`graphql-transport-ws`, and the older
//! `graphql-ws`). The caller authenticates in the `connection_init` payload
//! (`{"Authorization": "Bearer ..."}`), as browsers cannot set headers on a WebSocket.
//!
//! A connection lives only as long as its credentials. They are checked again for every
//! operation the connection starts, and every [`CREDENTIAL_CHECK`] while it is open: once the
//! session has ended, the access token has expired, the API key has been revoked or the
//! account may no longer log in, each operation still running gets an `error` message and the
//! socket is closed with 4401 (the token expired: log in again) or 4403 (anything else).
//! Credentials refused at `connection_init` close it the same way at once.

use std::collections::HashSet;
use std::str::FromStr as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_graphql::http::{WebSocket as GraphQLWebSocket, WebSocketProtocols, WsMessage};
use async_graphql::{Data, ErrorExtensions as _, Executor, Pos};
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::http::{HeaderMap, header};
use futures_util::stream::{self, BoxStream};
use futures_util::{FutureExt as _, SinkExt as _, StreamExt as _, future};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;
use tracing::Instrument as _;

use super::MAX_BODY_BYTES;
use crate::app::App;
use crate::auth::tokens::ACCESS_TOKEN_EXPIRED;
use crate::auth::{Authentication, ClientInfo};
use crate::graphql::loaders::{Batches, Loaders};
use crate::graphql::{RequestContext, StewardSchema};

/// How often an open connection's credentials are checked again: it is closed at most this
/// long (and one database read) after they stop being valid.
pub const CREDENTIAL_CHECK: Duration = Duration::from_secs(1);

/// graphql-transport-ws: the credentials are not (or no longer) valid: log in again.
pub const CLOSE_UNAUTHORIZED: u16 = 4401;
/// graphql-transport-ws: the caller may no longer use this connection.
pub const CLOSE_FORBIDDEN: u16 = 4403;
/// RFC 6455: a message larger than the server accepts.
pub const CLOSE_TOO_BIG: u16 = 1009;

/// The subprotocol the client asked for, from `Sec-WebSocket-Protocol`.
pub fn protocol(headers: &HeaderMap) -> Option<WebSocketProtocols> {
    headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|value| value.to_str().ok())?
        .split(',')
        .find_map(|protocol| WebSocketProtocols::from_str(protocol.trim()).ok())
}

/// Why a connection is being closed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ending {
    code: u16,
    reason: String,
}

impl Ending {
    /// The end of credentials refused for `reason`.
    fn refused(reason: &str) -> Self {
        let expired = reason == ACCESS_TOKEN_EXPIRED || reason == steward_store::API_KEY_EXPIRED;
        Ending {
            code: if expired {
                CLOSE_UNAUTHORIZED
            } else {
                CLOSE_FORBIDDEN
            },
            reason: reason.to_owned(),
        }
    }
}

/// One WebSocket connection: who it was opened for, and the operations it is running.
struct Connection {
    app: App,
    schema: StewardSchema,
    client: ClientInfo,
    protocol: WebSocketProtocols,
    /// The `Authorization` of `connection_init`, presented again for each check.
    credentials: Mutex<Option<String>>,
    /// `connection_init` authenticated someone: there are credentials to keep checking.
    signed_in: AtomicBool,
    ending: watch::Sender<Option<Ending>>,
    /// Operations the client started that have not completed.
    running: Mutex<HashSet<String>>,
}

/// The `type` and `id` of a protocol message.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Connection {
    /// `connection_init`: authenticates the payload's credentials; refused ones end the
    /// connection.
    async fn sign_in(&self, payload: serde_json::Value) -> async_graphql::Result<Data> {
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
        let now = self.app.clock.now();
        let authentication = self
            .app
            .authenticate(authorization.as_deref(), now)
            .await
            .map_err(|error| {
                tracing::error!(error = %error.describe(), "authentication failed");
                async_graphql::Error::new(error.public_message())
            })?;
        match authentication {
            Authentication::Rejected(reason) => {
                self.end(Ending::refused(reason));
                return Err(async_graphql::Error::new(reason));
            }
            Authentication::Session(_) => self.signed_in.store(true, Ordering::Relaxed),
            Authentication::Anonymous => {}
        }
        *locked(&self.credentials) = authorization;
        Ok(Data::default())
    }

    /// The data an operation runs with, its credentials checked now; or, when they are no
    /// longer valid, the answer refusing it (and the connection ends).
    async fn operation(
        &self,
        request: async_graphql::Request,
    ) -> Result<(async_graphql::Request, Batches), async_graphql::Response> {
        let now = self.app.clock.now();
        let credentials = locked(&self.credentials).clone();
        let authentication = match self.app.authenticate(credentials.as_deref(), now).await {
            Ok(Authentication::Rejected(reason)) => {
                self.end(Ending::refused(reason));
                return Err(error_response("UNAUTHENTICATED", reason));
            }
            Ok(authentication) => authentication,
            Err(error) => {
                tracing::error!(error = %error.describe(), "authentication failed");
                return Err(error_response(error.code(), &error.public_message()));
            }
        };
        let batches = Batches::default();
        let request = request
            .data(self.app.clone())
            .data(Loaders::new(&self.app.store, &batches, false))
            .data(RequestContext::new(
                authentication,
                self.client.clone(),
                now,
            ));
        Ok((request, batches))
    }

    /// Checks the credentials of a signed-in connection again; refused ones end it.
    async fn check_credentials(&self) {
        if !self.signed_in.load(Ordering::Relaxed) || self.ending.borrow().is_some() {
            return;
        }
        let credentials = locked(&self.credentials).clone();
        let now = self.app.clock.now();
        match self.app.authenticate(credentials.as_deref(), now).await {
            Ok(Authentication::Rejected(reason)) => self.end(Ending::refused(reason)),
            Ok(_) => {}
            // The database is down or busy: the next check, or the next operation, decides.
            Err(error) => tracing::warn!(
                error = %error.describe(),
                "the credentials of a WebSocket connection could not be checked"
            ),
        }
    }

    fn end(&self, ending: Ending) {
        self.ending.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            tracing::info!(code = ending.code, reason = %ending.reason, "WebSocket connection ended: its credentials are no longer valid");
            *current = Some(ending);
            true
        });
    }

    /// Follows the operations a client message starts and stops.
    fn client_sent(&self, message: &[u8]) {
        let Ok(Envelope { kind, id: Some(id) }) = serde_json::from_slice(message) else {
            return;
        };
        let mut running = locked(&self.running);
        match kind.as_str() {
            "subscribe" | "start" => {
                running.insert(id);
            }
            "complete" | "stop" => {
                running.remove(&id);
            }
            _ => {}
        }
    }

    /// Follows the operations the server completes. Only `complete` messages are read (they
    /// are small; answers are not parsed again).
    fn server_sent(&self, message: &str) {
        if !message.starts_with(r#"{"type":"complete""#) {
            return;
        }
        if let Ok(Envelope { id: Some(id), .. }) = serde_json::from_str(message) {
            locked(&self.running).remove(&id);
        }
    }

    /// The `error` message that ends operation `id`, in the connection's protocol.
    fn error_message(&self, id: &str, reason: &str) -> String {
        let error = json!({ "message": reason, "extensions": { "code": "UNAUTHENTICATED" } });
        let payload = match self.protocol {
            WebSocketProtocols::GraphQLWS => json!([error]),
            WebSocketProtocols::SubscriptionsTransportWS => error,
        };
        json!({ "type": "error", "id": id, "payload": payload }).to_string()
    }
}

fn error_response(code: &str, message: &str) -> async_graphql::Response {
    let code = code.to_owned();
    let error = async_graphql::Error::new(message)
        .extend_with(|_, extensions| extensions.set("code", code.as_str()));
    async_graphql::Response::from_errors(vec![error.into_server_error(Pos::default())])
}

/// Runs each operation of a connection with the credentials checked at its start.
#[derive(Clone)]
struct ConnectionExecutor(Arc<Connection>);

impl Executor for ConnectionExecutor {
    fn execute(
        &self,
        request: async_graphql::Request,
    ) -> impl Future<Output = async_graphql::Response> + Send {
        let connection = self.0.clone();
        async move {
            match connection.operation(request).await {
                Ok((request, batches)) => batches.drive(connection.schema.execute(request)).await,
                Err(refusal) => refusal,
            }
        }
    }

    fn execute_stream(
        &self,
        request: async_graphql::Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, async_graphql::Response> {
        let connection = self.0.clone();
        async move {
            match connection.operation(request).await {
                Ok((request, batches)) => batches
                    .drive_stream(Executor::execute_stream(
                        &connection.schema,
                        request,
                        session_data,
                    ))
                    .boxed(),
                Err(refusal) => stream::once(future::ready(refusal)).boxed(),
            }
        }
        .into_stream()
        .flatten()
        .boxed()
    }
}

/// Serves one upgraded connection until either side closes it or its credentials end.
pub async fn serve(
    socket: WebSocket,
    protocol: WebSocketProtocols,
    app: App,
    schema: StewardSchema,
    client: ClientInfo,
) {
    let (ending, mut ended) = watch::channel(None);
    let connection = Arc::new(Connection {
        app,
        schema,
        client,
        protocol,
        credentials: Mutex::new(None),
        signed_in: AtomicBool::new(false),
        ending,
        running: Mutex::new(HashSet::new()),
    });
    let (mut sink, source) = socket.split();
    let too_big = Arc::new(AtomicBool::new(false));
    let input = {
        let connection = connection.clone();
        let too_big = too_big.clone();
        source
            .take_while(move |message| {
                if let Err(error) = message {
                    too_big.store(is_too_big(error), Ordering::Relaxed);
                }
                future::ready(message.is_ok())
            })
            .filter_map(move |message| {
                let data: Option<Bytes> = match message {
                    Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                        let data = message.into_data();
                        connection.client_sent(&data);
                        Some(data)
                    }
                    _ => None,
                };
                future::ready(data)
            })
    };
    let graphql = GraphQLWebSocket::new(ConnectionExecutor(connection.clone()), input, protocol)
        .on_connection_init({
            let connection = connection.clone();
            move |payload| async move { connection.sign_in(payload).await }
        });
    futures_util::pin_mut!(graphql);
    let mut check = tokio::time::interval(CREDENTIAL_CHECK);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let close: Option<(u16, String)> = loop {
        tokio::select! {
            outgoing = graphql.next() => match outgoing {
                Some(WsMessage::Text(text)) => {
                    connection.server_sent(&text);
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                // An ending of ours (credentials refused at connection_init) gives the code.
                Some(WsMessage::Close(code, reason)) => {
                    let ending = connection.ending.borrow().clone();
                    break Some(ending.map_or((code, reason), |ending| (ending.code, ending.reason)));
                }
                None if too_big.load(Ordering::Relaxed) => {
                    break Some((
                        CLOSE_TOO_BIG,
                        format!("a message may have at most {MAX_BODY_BYTES} bytes"),
                    ));
                }
                None => break connection.ending.borrow().clone().map(|ending| (ending.code, ending.reason)),
            },
            // In a span of its own: the connection's, not any operation's.
            _ = check.tick() => connection
                .check_credentials()
                .instrument(tracing::info_span!(parent: None, "credential_check"))
                .await,
            Ok(()) = ended.changed() => {
                let Some(ending) = ended.borrow_and_update().clone() else {
                    continue;
                };
                // Every operation still running ends with an error first.
                let running: Vec<String> = locked(&connection.running).drain().collect();
                for id in running {
                    let message = connection.error_message(&id, &ending.reason);
                    if sink.send(Message::Text(message.into())).await.is_err() {
                        return;
                    }
                }
                break Some((ending.code, ending.reason));
            }
        }
    };
    if let Some((code, reason)) = close {
        let frame = CloseFrame {
            code,
            reason: close_reason(&reason).into(),
        };
        let _ = sink.send(Message::Close(Some(frame))).await;
    }
}

/// Whether a read failed because the message (or a frame) was larger than allowed.
fn is_too_big(error: &axum::Error) -> bool {
    std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<tungstenite::Error>())
        .is_some_and(|error| matches!(error, tungstenite::Error::Capacity(_)))
}

/// A close frame's reason has at most 123 bytes.
fn close_reason(reason: &str) -> &str {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expired_token_closes_with_4401_and_anything_else_with_4403() {
        assert_eq!(
            Ending::refused(ACCESS_TOKEN_EXPIRED).code,
            CLOSE_UNAUTHORIZED
        );
        assert_eq!(
            Ending::refused(steward_store::API_KEY_EXPIRED).code,
            CLOSE_UNAUTHORIZED
        );
        assert_eq!(
            Ending::refused("the session has ended; log in again").code,
            CLOSE_FORBIDDEN
        );
    }

    #[test]
    fn a_close_reason_is_cut_at_a_character_boundary() {
        let long = "é".repeat(100);
        let cut = close_reason(&long);
        assert!(cut.len() <= 123);
        assert!(long.starts_with(cut));
        assert_eq!(close_reason("short"), "short");
    }
}
