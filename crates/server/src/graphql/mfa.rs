//! Two-factor authentication (TOTP): each user turns it on and off for their own account.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use steward_domain::{DomainError, UserId};
use steward_store::UserRecord;

use crate::error::AppError;
use crate::graphql::accounts::account_proof;
use crate::graphql::context::{ContextExt as _, parse_id};
use crate::graphql::types::{User, UserError};

#[derive(SimpleObject, Default)]
pub struct EnrollTotpPayload {
    /// The shared secret in base32, for typing into an authenticator app.
    pub secret: Option<String>,
    /// `otpauth://totp/...`, for a QR code that authenticator apps scan.
    pub otpauth_uri: Option<String>,
    pub errors: Vec<UserError>,
}

#[derive(SimpleObject, Default)]
pub struct ConfirmTotpPayload {
    /// Ten single-use codes for when the authenticator is lost. Shown this once only: only
    /// their hashes are kept.
    pub recovery_codes: Option<Vec<String>>,
    pub user: Option<User>,
    pub errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct DisableTotpInput {
    /// The account's password; or give `recoveryCode` instead.
    pub password: Option<String>,
    /// One of the recovery codes (it is used up); or give `password` instead.
    pub recovery_code: Option<String>,
}

#[derive(SimpleObject, Default)]
pub struct DisableTotpPayload {
    pub user: Option<User>,
    pub errors: Vec<UserError>,
}

async fn caller(ctx: &Context<'_>) -> async_graphql::Result<UserRecord> {
    let principal = ctx.principal()?;
    Ok(ctx
        .app()?
        .store
        .user_by_id(principal.user_id)
        .await
        .map_err(AppError::from)?
        .ok_or_else(|| AppError::internal("the caller's user is missing"))?)
}

#[derive(SimpleObject, Default)]
pub struct RegenerateRecoveryCodesPayload {
    /// Ten new single-use codes, shown this once; the previous ones no longer work.
    pub recovery_codes: Option<Vec<String>>,
    pub errors: Vec<UserError>,
}

#[derive(Default)]
pub struct MfaMutation;

#[Object]
impl MfaMutation {
    /// Starts turning on two-factor authentication for the caller: a new TOTP secret (RFC
    /// 6238: SHA-1, 6 digits, 30 seconds) to put in an authenticator app, then confirmed with
    /// `confirmTotp`. Calling it again before confirming replaces the secret. Refused with
    /// `CONFLICT` while two-factor authentication is on: turn it off first.
    async fn enroll_totp(&self, ctx: &Context<'_>) -> async_graphql::Result<EnrollTotpPayload> {
        let user = caller(ctx).await?;
        let entry = ctx.audit_entry()?;
        Ok(match ctx.app()?.enroll_totp(&user, &entry).await? {
            Ok(enrolment) => EnrollTotpPayload {
                secret: Some(enrolment.secret),
                otpauth_uri: Some(enrolment.otpauth_uri),
                errors: Vec::new(),
            },
            Err(error) => EnrollTotpPayload {
                errors: vec![UserError::from_domain("input", &error)],
                ..Default::default()
            },
        })
    }

    /// Turns two-factor authentication on with the authenticator's current code, and returns
    /// ten recovery codes, shown this once. From then on, login needs a code.
    async fn confirm_totp(
        &self,
        ctx: &Context<'_>,
        code: String,
    ) -> async_graphql::Result<ConfirmTotpPayload> {
        let principal = ctx.principal()?;
        let entry = ctx.audit_entry()?;
        let app = ctx.app()?;
        Ok(
            match app.confirm_totp(principal.user_id, &code, &entry).await? {
                Ok(codes) => ConfirmTotpPayload {
                    recovery_codes: Some(codes),
                    user: Some(User(caller(ctx).await?)),
                    errors: Vec::new(),
                },
                Err(error) => ConfirmTotpPayload {
                    errors: vec![error_on(&error, "code")],
                    ..Default::default()
                },
            },
        )
    }

    /// Turns two-factor authentication off for the caller, who gives their password or one
    /// of their recovery codes. The secret and the recovery codes are deleted, and the user
    /// is told by e-mail.
    async fn disable_totp(
        &self,
        ctx: &Context<'_>,
        input: DisableTotpInput,
    ) -> async_graphql::Result<DisableTotpPayload> {
        let user = caller(ctx).await?;
        let entry = ctx.audit_entry()?;
        Ok(
            match ctx
                .app()?
                .disable_totp(&user, input.password, input.recovery_code, &entry)
                .await?
            {
                Ok(user) => DisableTotpPayload {
                    user: Some(User(user)),
                    errors: Vec::new(),
                },
                Err(error) => DisableTotpPayload {
                    user: None,
                    errors: vec![UserError::from_domain("input", &error)],
                },
            },
        )
    }

    /// Ten new recovery codes for the caller, who has two-factor authentication on and gives
    /// their password; the previous codes stop working.
    async fn regenerate_recovery_codes(
        &self,
        ctx: &Context<'_>,
        password: String,
    ) -> async_graphql::Result<RegenerateRecoveryCodesPayload> {
        let principal = ctx.principal()?;
        let entry = ctx.audit_entry()?;
        Ok(
            match ctx
                .app()?
                .regenerate_recovery_codes(principal.user_id, password, &entry)
                .await?
            {
                Ok(codes) => RegenerateRecoveryCodesPayload {
                    recovery_codes: Some(codes),
                    errors: Vec::new(),
                },
                Err(error) => RegenerateRecoveryCodesPayload {
                    recovery_codes: None,
                    errors: vec![error_on(&error, "password")],
                },
            },
        )
    }

    /// Turns two-factor authentication off for a user who lost their authenticator and
    /// recovery codes; the user is told by e-mail. Same permissions as `suspendUser` (never
    /// on one's own account: use `disableTotp`).
    async fn reset_totp(
        &self,
        ctx: &Context<'_>,
        user: ID,
    ) -> async_graphql::Result<DisableTotpPayload> {
        let user: UserId = parse_id("user", &user)?;
        account_proof(ctx, user).await?;
        let admin = caller(ctx).await?;
        let entry = ctx.audit_entry()?;
        Ok(
            match ctx.app()?.reset_totp(user, &admin.username, &entry).await? {
                Ok(user) => DisableTotpPayload {
                    user: Some(User(user)),
                    errors: Vec::new(),
                },
                Err(error) => DisableTotpPayload {
                    user: None,
                    errors: vec![error_on(&error, "user")],
                },
            },
        )
    }
}

/// An error of a mutation whose arguments are plain (not an `input` object): its field is
/// the argument's name.
fn error_on(error: &DomainError, argument: &str) -> UserError {
    let mut user_error = UserError::from_domain("input", error);
    if !user_error.field.is_empty() {
        user_error.field = vec![argument.to_owned()];
    }
    user_error
}
