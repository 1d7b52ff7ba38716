//! Accounts: direct creation, e-mail validation, suspension, memberships, password resets
//! and profiles.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use steward_domain::membership::MembershipStatus;
use steward_domain::password::PasswordPolicy;
use steward_domain::policy::{
    AccountAuthorized, ManageUsers, authorize, authorize_account, authorize_platform,
};
use steward_domain::user::{
    Country, EmailAddress, FullName, Phone, PlatformRole, UserStatus, Username, suspension_reason,
};
use steward_domain::{DomainError, OrganizationId, UserId};
use steward_store::{Creator, NewUser, ProfileChanges, UserRecord};

use crate::accounts::renamed;
use crate::auth::links::new_link;
use crate::error::{AppError, refused};
use crate::graphql::context::{ContextExt as _, actor, parse_id, parse_role_ids};
use crate::graphql::organizations::expected;
use crate::graphql::types::{Language, Membership, User, UserError};

#[derive(SimpleObject, Default)]
pub struct UserPayload {
    pub user: Option<User>,
    pub errors: Vec<UserError>,
}

pub(crate) fn user_payload(result: Result<UserRecord, DomainError>, input: &str) -> UserPayload {
    match result {
        Ok(user) => UserPayload {
            user: Some(User(user)),
            errors: Vec::new(),
        },
        Err(error) => UserPayload {
            user: None,
            errors: vec![UserError::from_domain(input, &error)],
        },
    }
}

#[derive(SimpleObject, Default)]
pub struct MembershipPayload {
    pub membership: Option<Membership>,
    pub errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct ClearLoginLockoutPayload {
    /// Whether the account had failed logins counted against it.
    pub cleared: bool,
    pub errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct RequestPasswordResetPayload {
    /// The same whether or not the address belongs to an account.
    pub message: String,
    pub errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct CreateUserInput {
    /// The organization the user joins; left out, only a SuperAdmin may create a user, who
    /// then belongs to no organization yet.
    pub organization: Option<ID>,
    /// Roles of that organization; the first becomes the default role.
    #[graphql(default)]
    pub roles: Vec<ID>,
    pub username: String,
    pub email: String,
    pub full_name: String,
    #[graphql(default_with = "Language::En")]
    pub language: Language,
    /// A temporary password to hand over in person: the user must change it at the first
    /// login. It is never sent by e-mail. Left out, the e-mail link sets the password.
    pub temporary_password: Option<String>,
}

#[derive(InputObject)]
pub struct ValidateEmailInput {
    /// The token from the validation link (`.../validate-email?token=...`).
    pub token: String,
    /// Required for an account created without a temporary password: it is set here.
    pub password: Option<String>,
}

#[derive(InputObject)]
pub struct ResetPasswordInput {
    /// The token from the reset link (`.../reset-password?token=...`).
    pub token: String,
    pub new_password: String,
}

#[derive(InputObject)]
pub struct SuspendUserInput {
    pub user: ID,
    /// Shown to the user in the suspension e-mail and kept in the audit trail.
    pub reason: Option<String>,
}

#[derive(InputObject)]
pub struct MembershipInput {
    pub organization: ID,
    pub user: ID,
}

/// Profile fields: a field left out stays as it is; `null` clears `country` or `phone`.
#[derive(InputObject, Default)]
pub struct ProfileInput {
    pub full_name: Option<String>,
    /// ISO 3166-1 alpha-2, such as `DE`.
    pub country: MaybeUndefined<String>,
    /// E.164, such as `+4930123456`.
    pub phone: MaybeUndefined<String>,
    pub language: Option<Language>,
}

#[derive(InputObject)]
pub struct UpdateUserInput {
    pub user: ID,
    #[graphql(flatten)]
    pub profile: ProfileInput,
}

fn parse_profile(input: &ProfileInput) -> Result<ProfileChanges, DomainError> {
    Ok(ProfileChanges {
        full_name: input
            .full_name
            .as_deref()
            .map(|name| FullName::parse(name).map_err(|error| renamed(error, "fullName")))
            .transpose()?,
        country: optional(&input.country, Country::parse)?,
        phone: optional(&input.phone, Phone::parse)?,
        language: input.language.map(Into::into),
    })
}

/// An optional field's change: left out, cleared (`null` or blank), or set.
fn optional<T>(
    value: &MaybeUndefined<String>,
    parse: fn(&str) -> Result<T, DomainError>,
) -> Result<Option<Option<T>>, DomainError> {
    match value {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Ok(Some(None)),
        MaybeUndefined::Value(text) if text.trim().is_empty() => Ok(Some(None)),
        MaybeUndefined::Value(text) => parse(text).map(|parsed| Some(Some(parsed))),
    }
}

/// The proof that the caller may change `user`'s account; a user the caller administers
/// nowhere does not exist for them.
pub(crate) async fn account_proof(
    ctx: &Context<'_>,
    user: UserId,
) -> async_graphql::Result<AccountAuthorized> {
    let actor = actor(ctx).await?;
    let target = ctx.loaders()?.users.load_one(user).await?;
    let memberships = ctx
        .app()?
        .store
        .standings_of_user(user)
        .await
        .map_err(AppError::from)?;
    let Some(target) = target else {
        return Err(refused(DomainError::NotFound { what: "the user" }));
    };
    authorize_account(
        actor,
        user,
        target.platform_role == Some(PlatformRole::SuperAdmin),
        &memberships,
    )
    .map_err(refused)
}

/// A user record read afresh (the request's loader may hold it as it was).
async fn fresh_user(ctx: &Context<'_>, user: UserId) -> async_graphql::Result<User> {
    ctx.app()?
        .store
        .user_by_id(user)
        .await
        .map_err(AppError::from)?
        .map(User)
        .ok_or_else(|| refused(DomainError::NotFound { what: "the user" }))
}

#[derive(Default)]
pub struct AccountMutation;

#[Object]
impl AccountMutation {
    /// Creates a user directly. The user waits for validation: the e-mail link validates the
    /// address and sets the password, unless a temporary password was given, which must be
    /// changed at the first login. With `organization`, needs `USERS/MANAGE` there; without,
    /// a SuperAdmin.
    async fn create_user(
        &self,
        ctx: &Context<'_>,
        input: CreateUserInput,
    ) -> async_graphql::Result<UserPayload> {
        let actor = actor(ctx).await?;
        let organization: Option<OrganizationId> = input
            .organization
            .as_ref()
            .map(|id| parse_id("organization", id))
            .transpose()?;
        let organization_proof = match organization {
            Some(organization) => {
                Some(authorize::<ManageUsers>(actor, organization).map_err(refused)?)
            }
            None => None,
        };
        let platform_proof = match organization_proof {
            Some(_) => None,
            None => Some(authorize_platform(actor).map_err(refused)?),
        };
        let app = ctx.app()?;
        let policy = match organization {
            Some(organization) => PasswordPolicy::with(
                app.store
                    .password_rules_of_organizations(&[organization])
                    .await
                    .map_err(AppError::from)?
                    .into_iter()
                    .map(|(_, rules)| rules)
                    .next()
                    .unwrap_or_default(),
            ),
            None => PasswordPolicy::default(),
        };
        let parsed = (|| {
            let roles = parse_role_ids("roles", &input.roles)?;
            let user = NewUser {
                username: Username::parse(&input.username)?,
                email: EmailAddress::parse(&input.email)?,
                full_name: FullName::parse(&input.full_name)
                    .map_err(|error| renamed(error, "fullName"))?,
                status: UserStatus::PendingValidation,
                platform_role: None,
                password_hash: None,
                must_change_password: input.temporary_password.is_some(),
                language: input.language.into(),
            };
            if let Some(password) = &input.temporary_password {
                policy
                    .check(password, user.username.as_str(), user.email.as_str())
                    .map_err(|error| renamed(error, "temporaryPassword"))?;
            }
            Ok::<_, DomainError>((roles, user))
        })();
        let (roles, mut user) = match parsed {
            Ok(parsed) => parsed,
            Err(error) => return Ok(user_payload(Err(error), "input")),
        };
        if let Some(password) = input.temporary_password {
            user.password_hash = Some(app.passwords.hash(password).await?);
        }
        let entry = ctx.audit_entry()?;
        let link = new_link(entry.at)?;
        let creator = match (&organization_proof, &platform_proof) {
            (Some(proof), _) => Creator::Organization(proof, &roles),
            (None, Some(proof)) => Creator::Platform(proof),
            (None, None) => return Err(AppError::internal("no proof for createUser").into()),
        };
        let result = expected(
            app.store
                .create_user_by_admin(creator, &user, &link, &entry)
                .await,
        )?;
        Ok(user_payload(result, "input"))
    }

    /// Validates an e-mail address with the token from the validation link; the account
    /// becomes active. Needs no login.
    async fn validate_email(
        &self,
        ctx: &Context<'_>,
        input: ValidateEmailInput,
    ) -> async_graphql::Result<UserPayload> {
        let entry = ctx.audit_entry()?;
        let result = ctx
            .app()?
            .validate_email(&input.token, input.password, &entry)
            .await?;
        Ok(user_payload(result, "input"))
    }

    /// Sends a user who has not validated their address a new link; the old one stops
    /// working. Needs `USERS/MANAGE` in every organization of the user, or a SuperAdmin.
    async fn resend_validation(
        &self,
        ctx: &Context<'_>,
        user: ID,
    ) -> async_graphql::Result<UserPayload> {
        let user: UserId = parse_id("user", &user)?;
        let proof = account_proof(ctx, user).await?;
        let entry = ctx.audit_entry()?;
        let link = new_link(entry.at)?;
        if let Err(error) = expected(
            ctx.app()?
                .store
                .resend_validation(&proof, &link, &entry)
                .await,
        )? {
            return Ok(user_payload(Err(error), "user"));
        }
        Ok(UserPayload {
            user: Some(fresh_user(ctx, user).await?),
            errors: Vec::new(),
        })
    }

    /// Suspends an account: it cannot log in, its sessions and tokens stop working on the
    /// next request, and the user is told. Needs `USERS/MANAGE` in every organization of the
    /// user, or a SuperAdmin.
    async fn suspend_user(
        &self,
        ctx: &Context<'_>,
        input: SuspendUserInput,
    ) -> async_graphql::Result<UserPayload> {
        let user: UserId = parse_id("user", &input.user)?;
        let proof = account_proof(ctx, user).await?;
        let entry = ctx.audit_entry()?;
        let reason = match suspension_reason(input.reason.as_deref()) {
            Ok(reason) => reason,
            Err(error) => return Ok(user_payload(Err(error), "input")),
        };
        let result = expected(
            ctx.app()?
                .store
                .suspend_user(&proof, reason.as_deref(), &entry)
                .await,
        )?;
        Ok(user_payload(result, "input"))
    }

    /// Reactivates a suspended account and tells the user. Same permissions as
    /// `suspendUser`.
    async fn reactivate_user(
        &self,
        ctx: &Context<'_>,
        user: ID,
    ) -> async_graphql::Result<UserPayload> {
        let user: UserId = parse_id("user", &user)?;
        let proof = account_proof(ctx, user).await?;
        let entry = ctx.audit_entry()?;
        let result = expected(ctx.app()?.store.reactivate_user(&proof, &entry).await)?;
        Ok(user_payload(result, "user"))
    }

    /// Blocks a member from one organization: their sessions acting there end at once, and
    /// they keep their other organizations. Needs `USERS/MANAGE`.
    async fn disable_membership(
        &self,
        ctx: &Context<'_>,
        input: MembershipInput,
    ) -> async_graphql::Result<MembershipPayload> {
        set_membership(ctx, input, MembershipStatus::Disabled).await
    }

    /// Lets a disabled member back in. Refused while the user has not validated their
    /// address. Needs `USERS/MANAGE`.
    async fn enable_membership(
        &self,
        ctx: &Context<'_>,
        input: MembershipInput,
    ) -> async_graphql::Result<MembershipPayload> {
        set_membership(ctx, input, MembershipStatus::Active).await
    }

    /// Sends a password reset link (good for 24 hours) if an active account has this
    /// address. The answer never tells whether it has. Needs no login.
    async fn request_password_reset(
        &self,
        ctx: &Context<'_>,
        email: String,
    ) -> async_graphql::Result<RequestPasswordResetPayload> {
        let entry = ctx.audit_entry()?;
        let errors = match ctx.app()?.request_password_reset(&email, &entry).await? {
            Ok(()) => Vec::new(),
            Err(error) => vec![UserError::from_domain("input", &renamed(error, "email"))],
        };
        Ok(RequestPasswordResetPayload {
            message: "if an active account has this address, a link to choose a new password \
                      is on its way"
                .to_owned(),
            errors,
        })
    }

    /// Sets a new password with the token from a reset link. Every session of the user ends.
    /// Needs no login.
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        input: ResetPasswordInput,
    ) -> async_graphql::Result<UserPayload> {
        let entry = ctx.audit_entry()?;
        let result = ctx
            .app()?
            .reset_password(&input.token, input.new_password, &entry)
            .await?;
        Ok(user_payload(result, "input"))
    }

    /// An administrator's password reset: the user's sessions end, a reset link is sent, and
    /// the next login must change the password. Same permissions as `suspendUser`.
    async fn force_password_reset(
        &self,
        ctx: &Context<'_>,
        user: ID,
    ) -> async_graphql::Result<UserPayload> {
        let user: UserId = parse_id("user", &user)?;
        let proof = account_proof(ctx, user).await?;
        let entry = ctx.audit_entry()?;
        let link = new_link(entry.at)?;
        let result = expected(
            ctx.app()?
                .store
                .force_password_reset(&proof, &link, &entry)
                .await,
        )?;
        Ok(user_payload(result, "user"))
    }

    /// Lets a user who was locked out after failed logins try again at once (the lockout of
    /// their client address, if any, stays). Same permissions as `suspendUser`.
    async fn clear_login_lockout(
        &self,
        ctx: &Context<'_>,
        user: ID,
    ) -> async_graphql::Result<ClearLoginLockoutPayload> {
        let user: UserId = parse_id("user", &user)?;
        account_proof(ctx, user).await?;
        let entry = ctx.audit_entry()?;
        let cleared = ctx.app()?.clear_login_lockout(user, &entry).await?;
        Ok(ClearLoginLockoutPayload {
            cleared,
            errors: Vec::new(),
        })
    }

    /// An administrator edits a user's profile (never the e-mail address). Same permissions
    /// as `suspendUser`.
    async fn update_user(
        &self,
        ctx: &Context<'_>,
        input: UpdateUserInput,
    ) -> async_graphql::Result<UserPayload> {
        let user: UserId = parse_id("user", &input.user)?;
        account_proof(ctx, user).await?;
        update_profile(ctx, user, &input.profile).await
    }

    /// The caller edits their own profile (never the e-mail address).
    async fn update_profile(
        &self,
        ctx: &Context<'_>,
        input: ProfileInput,
    ) -> async_graphql::Result<UserPayload> {
        let user = ctx.principal()?.user_id;
        update_profile(ctx, user, &input).await
    }
}

async fn update_profile(
    ctx: &Context<'_>,
    user: UserId,
    input: &ProfileInput,
) -> async_graphql::Result<UserPayload> {
    let changes = match parse_profile(input) {
        Ok(changes) => changes,
        Err(error) => return Ok(user_payload(Err(error), "input")),
    };
    let entry = ctx.audit_entry()?;
    let result = expected(
        ctx.app()?
            .store
            .update_profile(user, &changes, &entry)
            .await,
    )?;
    Ok(user_payload(result, "input"))
}

async fn set_membership(
    ctx: &Context<'_>,
    input: MembershipInput,
    to: MembershipStatus,
) -> async_graphql::Result<MembershipPayload> {
    let organization: OrganizationId = parse_id("organization", &input.organization)?;
    let user: UserId = parse_id("user", &input.user)?;
    let proof = authorize::<ManageUsers>(actor(ctx).await?, organization).map_err(refused)?;
    let entry = ctx.audit_entry()?;
    let app = ctx.app()?;
    if let Err(error) = expected(
        app.store
            .set_membership_status(&proof, user, to, &entry)
            .await,
    )? {
        return Ok(MembershipPayload {
            membership: None,
            errors: vec![UserError::from_domain("input", &error)],
        });
    }
    let membership = app
        .store
        .memberships_of_users(&[user])
        .await
        .map_err(AppError::from)?
        .into_iter()
        .find(|membership| membership.organization == organization)
        .map(Membership);
    Ok(MembershipPayload {
        membership,
        errors: Vec::new(),
    })
}
