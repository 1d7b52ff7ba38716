//! Sessions: renewing one with its refresh token, and listing and ending one's own.

use async_graphql::{Context, ID, Object, SimpleObject};
use steward_domain::SessionId;
use steward_store::SessionRecord;
use time::OffsetDateTime;

use crate::error::{AppError, refused};
use crate::graphql::context::{ContextExt as _, parse_id};
use crate::graphql::organizations::expected;
use crate::graphql::types::UserError;

/// A login of the caller, on some device or client.
pub struct Session {
    record: SessionRecord,
    current: bool,
}

#[Object]
impl Session {
    async fn id(&self) -> ID {
        ID(self.record.id.to_string())
    }

    /// Whether this is the session of the request's own access token.
    async fn current(&self) -> bool {
        self.current
    }

    async fn created_at(&self) -> OffsetDateTime {
        self.record.created_at.into()
    }

    /// When it ends unless renewed; each refresh moves it 30 days on.
    async fn expires_at(&self) -> OffsetDateTime {
        self.record.expires_at.into()
    }

    /// The last refresh; null if it was never refreshed.
    async fn last_used_at(&self) -> Option<OffsetDateTime> {
        self.record.last_used_at.map(Into::into)
    }

    /// The address the login came from.
    async fn client_address(&self) -> Option<&str> {
        self.record.client_address.as_deref()
    }

    /// The client's `User-Agent` at login.
    async fn user_agent(&self) -> Option<&str> {
        self.record.user_agent.as_deref()
    }
}

#[derive(Default)]
pub struct SessionQuery;

#[Object]
impl SessionQuery {
    /// The caller's live sessions, newest first.
    async fn sessions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Session>> {
        let principal = ctx.principal()?;
        principal.session().map_err(refused)?;
        let now = ctx.request()?.now;
        let records = ctx
            .app()?
            .store
            .live_sessions_of_user(principal.user_id, now)
            .await
            .map_err(AppError::from)?;
        Ok(records
            .into_iter()
            .map(|record| Session {
                current: principal
                    .session()
                    .is_ok_and(|session| session.as_uuid() == record.id),
                record,
            })
            .collect())
    }
}

#[derive(SimpleObject, Default)]
pub struct RefreshSessionPayload {
    pub access_token: Option<String>,
    pub expires_at: Option<OffsetDateTime>,
    /// The next refresh token; the one sent is used up.
    pub refresh_token: Option<String>,
    pub refresh_expires_at: Option<OffsetDateTime>,
    pub errors: Vec<UserError>,
}

#[derive(SimpleObject, Default)]
pub struct RevokeSessionsPayload {
    /// How many sessions ended.
    pub revoked: i32,
    pub errors: Vec<UserError>,
}

#[derive(Default)]
pub struct SessionMutation;

#[Object]
impl SessionMutation {
    /// Exchanges a refresh token for a new access token and a new refresh token. Needs no
    /// access token. Each refresh token works once: one presented again was copied, and the
    /// whole session ends.
    async fn refresh_session(
        &self,
        ctx: &Context<'_>,
        refresh_token: String,
    ) -> async_graphql::Result<RefreshSessionPayload> {
        let request = ctx.request()?;
        let outcome = ctx
            .app()?
            .refresh_session(&refresh_token, &request.client, request.now)
            .await?;
        Ok(match outcome {
            Ok(success) => RefreshSessionPayload {
                access_token: Some(success.access_token),
                expires_at: Some(success.expires_at),
                refresh_token: Some(success.refresh_token),
                refresh_expires_at: Some(success.refresh_expires_at),
                errors: Vec::new(),
            },
            Err(error) => RefreshSessionPayload {
                errors: vec![UserError::from_domain("input", &error)],
                ..Default::default()
            },
        })
    }

    /// Ends one of the caller's sessions (another device, say); its tokens stop working at
    /// once.
    async fn revoke_session(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<RevokeSessionsPayload> {
        let principal = ctx.principal()?;
        principal.session().map_err(refused)?;
        let session: SessionId = parse_id("id", &id)?;
        let entry = ctx.audit_entry()?;
        Ok(
            match expected(
                ctx.app()?
                    .store
                    .revoke_session_of_user(principal.user_id, session, &entry)
                    .await,
            )? {
                Ok(()) => RevokeSessionsPayload {
                    revoked: 1,
                    errors: Vec::new(),
                },
                Err(error) => RevokeSessionsPayload {
                    revoked: 0,
                    errors: vec![UserError::from_domain("id", &error)],
                },
            },
        )
    }

    /// Ends all of the caller's sessions, except the current one unless `keepCurrent` is
    /// false.
    async fn revoke_all_sessions(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = true)] keep_current: bool,
    ) -> async_graphql::Result<RevokeSessionsPayload> {
        let principal = ctx.principal()?;
        let session = principal.session().map_err(refused)?;
        let entry = ctx.audit_entry()?;
        let revoked = ctx
            .app()?
            .store
            .revoke_all_sessions_of_user(principal.user_id, keep_current.then_some(session), &entry)
            .await
            .map_err(AppError::from)?;
        Ok(RevokeSessionsPayload {
            revoked: i32::try_from(revoked).unwrap_or(i32::MAX),
            errors: Vec::new(),
        })
    }
}
