use async_graphql::{Context, InputObject, MergedObject, Object, SimpleObject};
use time::OffsetDateTime;

use steward_domain::DomainError;

use crate::auth::LoginFailure;
use crate::auth::mfa::SecondFactor;
use crate::graphql::accounts::AccountMutation;
use crate::graphql::api_keys::ApiKeyMutation;
use crate::graphql::consistency::ConsistencyMutation;
use crate::graphql::context::ContextExt as _;
use crate::graphql::groups::GroupMutation;
use crate::graphql::invitations::InvitationMutation;
use crate::graphql::jobs::JobMutation;
use crate::graphql::mfa::MfaMutation;
use crate::graphql::notifications::NotificationMutation;
use crate::graphql::organizations::{OrganizationMutation, OrganizationSettingsMutation};
use crate::graphql::ownership::OwnershipMutation;
use crate::graphql::preferences::PreferencesMutation;
use crate::graphql::resources::ResourceMutation;
use crate::graphql::roles::RoleMutation;
use crate::graphql::sessions::SessionMutation;
use crate::graphql::ssh_keys::SshKeyMutation;
use crate::graphql::types::{User, UserError, UserErrorCode};

/// Every mutation, merged from one object per area.
#[derive(MergedObject, Default)]
pub struct Mutation(
    AuthMutation,
    OrganizationMutation,
    OrganizationSettingsMutation,
    GroupMutation,
    RoleMutation,
    NotificationMutation,
    PreferencesMutation,
    InvitationMutation,
    AccountMutation,
    SessionMutation,
    SshKeyMutation,
    ApiKeyMutation,
    MfaMutation,
    ResourceMutation,
    OwnershipMutation,
    JobMutation,
    ConsistencyMutation,
);

#[derive(Default)]
pub struct AuthMutation;

#[derive(InputObject)]
pub struct LoginInput {
    /// Username or e-mail address.
    pub login: String,
    pub password: String,
    /// The authenticator's current 6-digit code, when two-factor authentication is on.
    pub totp_code: Option<String>,
    /// One of the recovery codes (`xxxxx-xxxxx`) instead of `totpCode`: each works once.
    pub recovery_code: Option<String>,
}

#[derive(SimpleObject, Default)]
pub struct LoginPayload {
    /// Send as `Authorization: Bearer <accessToken>`.
    pub access_token: Option<String>,
    /// When the access token stops working.
    pub expires_at: Option<OffsetDateTime>,
    /// Keep it safe: `refreshSession` exchanges it, once, for a new access token and a new
    /// refresh token. It is good for 30 days from its last use.
    pub refresh_token: Option<String>,
    pub refresh_expires_at: Option<OffsetDateTime>,
    pub user: Option<User>,
    pub errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct ChangePasswordInput {
    pub current_password: String,
    /// 12 to 128 characters, not containing the username or e-mail address.
    pub new_password: String,
}

#[derive(SimpleObject, Default)]
pub struct ChangePasswordPayload {
    pub user: Option<User>,
    pub errors: Vec<UserError>,
}

#[derive(SimpleObject, Default)]
pub struct LogoutPayload {
    /// Whether a session was ended.
    pub logged_out: bool,
    pub errors: Vec<UserError>,
}

#[Object]
impl AuthMutation {
    /// Logs in with a username or e-mail address and a password, and returns an access
    /// token. With two-factor authentication on, `totpCode` or `recoveryCode` is needed too:
    /// without it the answer is `MFA_REQUIRED`; a wrong one is `INVALID_MFA_CODE` and counts
    /// as a failed login. Every attempt is audited, and counts toward the lockouts when it
    /// fails, a malformed login name too (against the client address). A request may hold one
    /// `login`: the others are refused with `INVALID`, unchecked.
    async fn login(
        &self,
        ctx: &Context<'_>,
        input: LoginInput,
    ) -> async_graphql::Result<LoginPayload> {
        let request = ctx.request()?;
        if !request.first_login() {
            return Ok(LoginPayload {
                errors: vec![UserError::from_domain(
                    "input",
                    &DomainError::invalid(
                        "login",
                        "one login per request: send each login in a request of its own",
                    ),
                )],
                ..Default::default()
            });
        }
        let second = match (input.totp_code, input.recovery_code) {
            (None, None) => SecondFactor::None,
            (Some(code), None) => SecondFactor::TotpCode(code),
            (None, Some(code)) => SecondFactor::RecoveryCode(code),
            (Some(_), Some(_)) => {
                return Ok(LoginPayload {
                    errors: vec![UserError::from_domain(
                        "input",
                        &DomainError::invalid(
                            "recoveryCode",
                            "give either totpCode or recoveryCode, not both",
                        ),
                    )],
                    ..Default::default()
                });
            }
        };
        let outcome = ctx
            .app()?
            .login(
                &input.login,
                input.password,
                second,
                &request.client,
                request.now,
            )
            .await?;
        Ok(match outcome {
            Ok(success) => LoginPayload {
                access_token: Some(success.access_token),
                expires_at: Some(success.expires_at),
                refresh_token: Some(success.refresh_token),
                refresh_expires_at: Some(success.refresh_expires_at),
                user: Some(User(success.user)),
                errors: Vec::new(),
            },
            Err(failure) => LoginPayload {
                errors: vec![login_error(&failure)],
                ..Default::default()
            },
        })
    }

    /// Changes the caller's password. Ends every other session of the caller.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        input: ChangePasswordInput,
    ) -> async_graphql::Result<ChangePasswordPayload> {
        let principal = ctx.principal_before_password_change()?;
        let request = ctx.request()?;
        let outcome = ctx
            .app()?
            .change_password(
                principal,
                input.current_password,
                input.new_password,
                &request.client,
                request.now,
            )
            .await?;
        Ok(match outcome {
            Ok(user) => ChangePasswordPayload {
                user: Some(User(user)),
                errors: Vec::new(),
            },
            Err(error) => ChangePasswordPayload {
                user: None,
                errors: vec![UserError::from_domain("input", &error)],
            },
        })
    }

    /// Ends the caller's session; its access tokens stop working at once.
    async fn logout(&self, ctx: &Context<'_>) -> async_graphql::Result<LogoutPayload> {
        let principal = ctx.principal_before_password_change()?;
        let entry = ctx.audit_entry()?;
        let logged_out = ctx
            .app()?
            .store
            .revoke_session(principal.session().map_err(crate::error::refused)?, &entry)
            .await
            .map_err(crate::error::AppError::from)?;
        Ok(LogoutPayload {
            logged_out,
            errors: Vec::new(),
        })
    }
}

fn login_error(failure: &LoginFailure) -> UserError {
    match failure {
        LoginFailure::Invalid(error) => UserError::from_domain("input", error),
        LoginFailure::WrongCredentials => UserError {
            field: Vec::new(),
            code: UserErrorCode::WrongCredentials,
            message: failure.message(),
        },
        LoginFailure::NotActive(_) => UserError {
            field: Vec::new(),
            code: UserErrorCode::AccountNotActive,
            message: failure.message(),
        },
        LoginFailure::LockedOut { .. } => UserError {
            field: Vec::new(),
            code: UserErrorCode::LockedOut,
            message: failure.message(),
        },
        LoginFailure::MfaRequired => UserError {
            field: vec!["input".to_owned(), "totpCode".to_owned()],
            code: UserErrorCode::MfaRequired,
            message: failure.message(),
        },
        LoginFailure::InvalidMfaCode(_) => UserError {
            field: Vec::new(),
            code: UserErrorCode::InvalidMfaCode,
            message: failure.message(),
        },
    }
}
