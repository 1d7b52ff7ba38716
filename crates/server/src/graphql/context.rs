//! What each request hands the resolvers, and the accessors that enforce authentication.

use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::Context;
use steward_domain::DomainError;
use steward_domain::policy::Actor;
use steward_store::AuditEntry;
use time::OffsetDateTime;
use tokio::sync::OnceCell;

use crate::app::App;
use crate::auth::{Authentication, ClientInfo, Principal};
use crate::error::refused;
use crate::graphql::loaders::Loaders;

/// Per-request data.
#[derive(Debug)]
pub struct RequestContext {
    pub authentication: Authentication,
    pub client: ClientInfo,
    /// The request's clock: one instant for the whole request.
    pub now: OffsetDateTime,
    /// The caller's grants, read once per request on first use.
    pub actor: OnceCell<Actor>,
    /// Whether a `login` has run in this request: one may (see [`RequestContext::first_login`]).
    login_tried: AtomicBool,
}

impl RequestContext {
    pub fn new(authentication: Authentication, client: ClientInfo, now: OffsetDateTime) -> Self {
        Self {
            authentication,
            client,
            now,
            actor: OnceCell::new(),
            login_tried: AtomicBool::new(false),
        }
    }

    /// True for the first `login` of the request only. Aliases would otherwise put 30
    /// password checks in one request; nobody needs two logins at once, so the others are
    /// refused before any hash.
    pub fn first_login(&self) -> bool {
        !self.login_tried.swap(true, Ordering::Relaxed)
    }
}

/// The caller as the policy sees it: logged in, no password change owed, with the grants of
/// each organization. Loaded with one statement on first use in a request.
pub async fn actor<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a Actor> {
    let principal = ctx.principal()?;
    let request = ctx.request()?;
    let app = ctx.app()?;
    request
        .actor
        .get_or_try_init(|| async {
            app.actor(principal)
                .await
                .map_err(async_graphql::Error::from)
        })
        .await
}

/// Parses a GraphQL `ID` into a typed id; a malformed one is `BAD_USER_INPUT` naming `field`.
pub fn parse_id<T: From<uuid::Uuid>>(
    field: &'static str,
    id: &async_graphql::ID,
) -> async_graphql::Result<T> {
    uuid::Uuid::parse_str(id.as_str())
        .map(T::from)
        .map_err(|_| refused(DomainError::invalid(field, "is not a valid id")))
}

/// Parses a list of role ids given in the input field `field`; the first bad one refuses the
/// whole list.
pub fn parse_role_ids(
    field: &'static str,
    ids: &[async_graphql::ID],
) -> Result<Vec<steward_domain::RoleId>, DomainError> {
    ids.iter()
        .map(|id| {
            uuid::Uuid::parse_str(id.as_str())
                .map(steward_domain::RoleId)
                .map_err(|_| DomainError::invalid(field, "contains an id that is not valid"))
        })
        .collect()
}

pub trait ContextExt {
    fn app(&self) -> async_graphql::Result<&App>;
    fn request(&self) -> async_graphql::Result<&RequestContext>;
    fn loaders(&self) -> async_graphql::Result<&Loaders>;

    /// The caller, who must be logged in and must not owe a password change.
    fn principal(&self) -> async_graphql::Result<&Principal>;

    /// The caller, who must be logged in but may still have to change the password; only for
    /// what such a caller needs (`me`, `changePassword`, `logout`).
    fn principal_before_password_change(&self) -> async_graphql::Result<&Principal>;

    /// An audit entry for this request, acting as the caller if there is one.
    fn audit_entry(&self) -> async_graphql::Result<AuditEntry>;
}

impl ContextExt for Context<'_> {
    fn app(&self) -> async_graphql::Result<&App> {
        self.data::<App>()
    }

    fn request(&self) -> async_graphql::Result<&RequestContext> {
        self.data::<RequestContext>()
    }

    fn loaders(&self) -> async_graphql::Result<&Loaders> {
        self.data::<Loaders>()
    }

    fn principal(&self) -> async_graphql::Result<&Principal> {
        let principal = self.principal_before_password_change()?;
        if principal.must_change_password {
            return Err(refused(DomainError::forbidden(
                "you must change your password first: use the changePassword mutation",
            )));
        }
        Ok(principal)
    }

    fn principal_before_password_change(&self) -> async_graphql::Result<&Principal> {
        match &self.request()?.authentication {
            Authentication::Session(principal) => Ok(principal),
            Authentication::Anonymous => Err(refused(DomainError::unauthenticated(
                "log in first and send the access token as `Authorization: Bearer <token>`",
            ))),
            Authentication::Rejected(reason) => Err(refused(DomainError::unauthenticated(*reason))),
        }
    }

    fn audit_entry(&self) -> async_graphql::Result<AuditEntry> {
        let request = self.request()?;
        let actor = match &request.authentication {
            Authentication::Session(principal) => Some(principal.user_id),
            _ => None,
        };
        Ok(AuditEntry {
            actor,
            client_address: request.client.address.clone(),
            at: request.now,
        })
    }
}
