//! API keys: JWTs a user makes to call the platform from programs, shown once.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use steward_domain::organization::Name;
use steward_domain::{ApiKeyId, DomainError, OrganizationId, UserId};
use steward_store::{ApiKeyRecord, ApiKeySecret, NewApiKey};
use time::OffsetDateTime;

use crate::auth::links::hash_token;
use crate::error::{AppError, refused};
use crate::graphql::accounts::account_proof;
use crate::graphql::context::{ContextExt as _, parse_id, parse_role_ids};
use crate::graphql::organizations::expected;
use crate::graphql::types::{Organization, Role, User, UserError};
use crate::graphql::users::visible_user;

/// An API key, without its secret (shown only when made or regenerated).
pub struct ApiKey(pub ApiKeyRecord);

#[Object]
impl ApiKey {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The user the key acts as.
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        Ok(ctx.loaders()?.users.load_one(self.0.user).await?.map(User))
    }

    /// Who made the key; a deleted account shows with status `DELETED` ("The user has been
    /// deleted"), null when it is gone entirely.
    async fn created_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(creator) = self.0.created_by else {
            return Ok(None);
        };
        Ok(ctx.loaders()?.users.load_one(creator).await?.map(User))
    }

    /// The organization the key is limited to; null: it acts as its owner everywhere.
    async fn organization(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Organization>> {
        let Some(organization) = self.0.organization else {
            return Ok(None);
        };
        Ok(ctx
            .loaders()?
            .organizations
            .load_one(organization)
            .await?
            .map(Organization))
    }

    /// The roles the key is limited to there; empty: the owner's default role.
    async fn roles(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Role>> {
        let mut roles = ctx
            .loaders()?
            .roles
            .load_many(self.0.roles.iter().copied())
            .await?;
        Ok(self
            .0
            .roles
            .iter()
            .filter_map(|id| roles.remove(id).map(Role::from))
            .collect())
    }

    async fn created_at(&self) -> OffsetDateTime {
        self.0.created_at
    }

    /// Null: the key does not expire.
    async fn expires_at(&self) -> Option<OffsetDateTime> {
        self.0.expires_at
    }

    /// Recorded in batches: up to a minute behind.
    async fn last_used_at(&self) -> Option<OffsetDateTime> {
        self.0.last_used_at
    }

    async fn revoked_at(&self) -> Option<OffsetDateTime> {
        self.0.revoked_at
    }
}

#[derive(InputObject)]
pub struct CreateApiKeyInput {
    /// 1 to 100 characters, to recognise the key by.
    pub name: String,
    /// Left out, the key does not expire.
    pub expires_at: Option<OffsetDateTime>,
    /// Limits the key to one organization you are an active member of.
    pub organization: Option<ID>,
    /// Limits the key to some of your roles there (requires `organization`); left out, your
    /// default role there.
    #[graphql(default)]
    pub roles: Vec<ID>,
}

#[derive(SimpleObject, Default)]
pub struct ApiKeyPayload {
    pub api_key: Option<ApiKey>,
    /// The key itself, shown this once: send it as `Authorization: Bearer <token>`.
    pub token: Option<String>,
    pub errors: Vec<UserError>,
}

/// The payload of a store result; `token` is shown only when the key was made or renewed.
fn payload(result: Result<ApiKeyRecord, DomainError>, token: Option<String>) -> ApiKeyPayload {
    match result {
        Ok(record) => ApiKeyPayload {
            api_key: Some(ApiKey(record)),
            token,
            errors: Vec::new(),
        },
        Err(error) => failed(&error),
    }
}

fn failed(error: &DomainError) -> ApiKeyPayload {
    ApiKeyPayload {
        errors: vec![UserError::from_domain("input", error)],
        ..Default::default()
    }
}

/// A new secret for a key of `user`: the signed token and what the store keeps of it.
fn new_secret(
    ctx: &Context<'_>,
    user: UserId,
    organization: Option<OrganizationId>,
    expires_at: Option<OffsetDateTime>,
) -> async_graphql::Result<(String, ApiKeySecret)> {
    let app = ctx.app()?;
    let jti = crate::auth::random_token(32)?;
    let token = app.tokens.issue_api_key(
        user,
        jti.clone(),
        organization,
        ctx.request()?.now,
        expires_at,
    )?;
    let secret = ApiKeySecret {
        jti,
        token_hash: hash_token(&token),
    };
    Ok((token, secret))
}

/// A key the caller may act on: their own, or one of a user whose account they administer.
async fn visible_key(
    ctx: &Context<'_>,
    id: ApiKeyId,
    own_only: bool,
) -> async_graphql::Result<ApiKeyRecord> {
    let not_found = || {
        refused(DomainError::NotFound {
            what: "the API key",
        })
    };
    let key = ctx
        .app()?
        .store
        .api_key_by_id(id)
        .await
        .map_err(AppError::from)?
        .ok_or_else(not_found)?;
    let principal = ctx.principal()?;
    if key.user == principal.user_id {
        return Ok(key);
    }
    if own_only {
        return Err(not_found());
    }
    administer(ctx, key.user).await.map_err(|_| not_found())?;
    Ok(key)
}

/// Checks that the caller administers `user`'s account (see `authorize_account`).
async fn administer(ctx: &Context<'_>, user: UserId) -> async_graphql::Result<()> {
    account_proof(ctx, user).await.map(|_| ())
}

#[derive(Default)]
pub struct ApiKeyQuery;

#[Object]
impl ApiKeyQuery {
    /// A user's keys that are not revoked, newest first: the caller's own by default; another
    /// user's for whoever administers their account.
    async fn api_keys(
        &self,
        ctx: &Context<'_>,
        user: Option<ID>,
        #[graphql(
            default,
            desc = "Also the revoked keys (those of a deleted user were revoked with it)."
        )]
        include_revoked: bool,
    ) -> async_graphql::Result<Vec<ApiKey>> {
        let principal = ctx.principal()?;
        let user: UserId = match user {
            Some(user) => parse_id("user", &user)?,
            None => principal.user_id,
        };
        if user != principal.user_id {
            visible_user(ctx, user).await?;
            administer(ctx, user).await?;
        }
        let keys = ctx
            .app()?
            .store
            .api_keys_of_user(user, include_revoked)
            .await
            .map_err(AppError::from)?;
        Ok(keys.into_iter().map(ApiKey).collect())
    }
}

#[derive(Default)]
pub struct ApiKeyMutation;

#[Object]
impl ApiKeyMutation {
    /// Makes an API key for the caller and returns it, this once. The owner is told by
    /// e-mail. Needs a login session (a key cannot make keys).
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        input: CreateApiKeyInput,
    ) -> async_graphql::Result<ApiKeyPayload> {
        let principal = ctx.principal()?;
        principal.session().map_err(refused)?;
        let organization: Option<OrganizationId> = input
            .organization
            .as_ref()
            .map(|id| parse_id("organization", id))
            .transpose()?;
        let now = ctx.request()?.now;
        let parsed = (|| {
            let name = Name::parse("name", &input.name)?;
            let roles = parse_role_ids("roles", &input.roles)?;
            if input.expires_at.is_some_and(|at| at <= now) {
                return Err(DomainError::invalid("expiresAt", "must be in the future"));
            }
            Ok((name, roles))
        })();
        let (name, roles) = match parsed {
            Ok(parsed) => parsed,
            Err(error) => return Ok(failed(&error)),
        };
        let (token, secret) = new_secret(ctx, principal.user_id, organization, input.expires_at)?;
        let key = NewApiKey {
            name: name.as_str().to_owned(),
            organization,
            roles,
            expires_at: input.expires_at,
            secret,
        };
        let entry = ctx.audit_entry()?;
        Ok(payload(
            expected(
                ctx.app()?
                    .store
                    .create_api_key(principal.user_id, &key, &entry)
                    .await,
            )?,
            Some(token),
        ))
    }

    /// Gives one of the caller's keys a new secret, returned this once; the old one stops at
    /// once.
    async fn regenerate_api_key(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<ApiKeyPayload> {
        let principal = ctx.principal()?;
        principal.session().map_err(refused)?;
        let id: ApiKeyId = parse_id("id", &id)?;
        let key = visible_key(ctx, id, true).await?;
        let (token, secret) = new_secret(ctx, key.user, key.organization, key.expires_at)?;
        let entry = ctx.audit_entry()?;
        Ok(payload(
            expected(
                ctx.app()?
                    .store
                    .regenerate_api_key(id, &secret, &entry)
                    .await,
            )?,
            Some(token),
        ))
    }

    /// Revokes a key: it stops at once, on every server. The owner's own keys, or those of a
    /// user whose account the caller administers.
    async fn revoke_api_key(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<ApiKeyPayload> {
        let id: ApiKeyId = parse_id("id", &id)?;
        visible_key(ctx, id, false).await?;
        let entry = ctx.audit_entry()?;
        Ok(payload(
            expected(ctx.app()?.store.revoke_api_key(id, &entry).await)?,
            None,
        ))
    }
}
