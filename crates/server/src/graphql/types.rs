//! GraphQL output types. Each wraps a store record; relations go through the loaders.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use steward_domain::DomainError;
use steward_domain::permission::PermissionSet;
use steward_domain::policy::{
    ViewGroups, ViewOrganization, ViewRoles, ViewUsers, authorize, may_view_membership,
};
use steward_store::{
    BindingScope, MembershipRecord, OrganizationRecord, ProjectRecord, RoleBindingRecord,
    RoleRecord, RoleSummary, UserRecord,
};
use time::OffsetDateTime;

use crate::error::refused;
use crate::graphql::connection::{Page, PageRequest};
use crate::graphql::context::{ContextExt as _, actor};
use crate::graphql::groups::Group;

/// Account status at platform level.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "steward_domain::user::UserStatus")]
pub enum UserStatus {
    /// Created or invited; the e-mail address is not confirmed yet. Cannot log in.
    PendingValidation,
    /// Normal.
    Active,
    /// Blocked by an administrator; can be reactivated. Cannot log in.
    Suspended,
    /// Deletion requested; waits for deletion holds to clear. Cannot log in.
    PendingDeletion,
    /// Tombstone kept for audit and display ("The user has been deleted").
    Deleted,
}

/// A role above every organization.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "steward_domain::user::PlatformRole")]
pub enum PlatformRole {
    /// Unrestricted.
    SuperAdmin,
}

/// Interface and e-mail language.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "steward_domain::user::Language")]
pub enum Language {
    En,
    De,
    Zh,
    Ru,
}

/// A person's global identity.
pub struct User(pub UserRecord);

#[Object]
impl User {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// 3–20 ASCII letters or digits; unique regardless of case.
    async fn username(&self) -> &str {
        &self.0.username
    }

    /// Unique regardless of case; cannot be changed.
    async fn email(&self) -> &str {
        &self.0.email
    }

    async fn full_name(&self) -> &str {
        &self.0.full_name
    }

    async fn status(&self) -> UserStatus {
        self.0.status.into()
    }

    async fn platform_role(&self) -> Option<PlatformRole> {
        self.0.platform_role.map(Into::into)
    }

    async fn language(&self) -> Language {
        self.0.language.into()
    }

    /// Whether the user wants notification e-mails (security and account e-mails are always sent).
    async fn email_subscription(&self) -> bool {
        self.0.email_subscription
    }

    /// The settings front-ends keep for this user, by key. Only the user sees them: null for
    /// anyone else (so that lists of users stay whole).
    async fn settings(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Vec<crate::graphql::preferences::Setting>>> {
        let principal = ctx.principal_before_password_change()?;
        if principal.user_id != self.0.id {
            return Ok(None);
        }
        let settings = ctx
            .app()?
            .store
            .settings_of(self.0.id)
            .await
            .map_err(crate::error::AppError::from)?;
        Ok(Some(
            settings
                .into_iter()
                .map(|(key, value)| crate::graphql::preferences::Setting { key, value })
                .collect(),
        ))
    }

    /// The resources the user owns, in every organization the caller may see them in
    /// (`RESOURCES/VIEW`; all of them for the user and SuperAdmins), optionally of one kind.
    async fn owned_resources(
        &self,
        ctx: &Context<'_>,
        kind: Option<String>,
    ) -> async_graphql::Result<Vec<crate::graphql::resources::Resource>> {
        crate::graphql::resources::owned_resources(ctx, self.0.id, kind).await
    }

    /// When the user asked for their account to be deleted (status `PENDING_DELETION`).
    async fn deletion_requested_at(&self) -> Option<OffsetDateTime> {
        self.0.deletion_requested_at
    }

    /// When the account was deleted: it is a tombstone that keeps id, name and e-mail.
    async fn deleted_at(&self) -> Option<OffsetDateTime> {
        self.0.deleted_at
    }

    /// The holds on the user's deletion, released ones too; for the user and whoever may
    /// delete them (`deleteUser`), null for anyone else.
    async fn deletion_holds(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Vec<crate::graphql::ownership::DeletionHold>>> {
        crate::graphql::ownership::deletion_holds(ctx, self.0.id).await
    }

    /// The resources shared with the user, directly or through their groups, with the access
    /// they hold on each; in the organizations where the caller may see them (as for
    /// `ownedResources`), optionally of one kind.
    async fn shared_resources(
        &self,
        ctx: &Context<'_>,
        kind: Option<String>,
    ) -> async_graphql::Result<Vec<crate::graphql::resources::SharedResource>> {
        crate::graphql::resources::shared_resources(ctx, self.0.id, kind).await
    }

    /// ISO 3166-1 alpha-2 country code.
    async fn country(&self) -> Option<&str> {
        self.0.country.as_deref()
    }

    /// E.164 phone number.
    async fn phone(&self) -> Option<&str> {
        self.0.phone.as_deref()
    }

    async fn mfa_enabled(&self) -> bool {
        self.0.mfa_enabled
    }

    /// The user must choose a new password (`changePassword`) before doing anything else.
    async fn must_change_password(&self) -> bool {
        self.0.must_change_password
    }

    async fn created_at(&self) -> OffsetDateTime {
        self.0.created_at
    }

    async fn updated_at(&self) -> OffsetDateTime {
        self.0.updated_at
    }

    async fn last_login_at(&self) -> Option<OffsetDateTime> {
        self.0.last_login_at
    }

    /// The organizations the user belongs to, oldest membership first: all of them for the
    /// user themselves and SuperAdmins, else those of organizations where the caller has
    /// `USERS/VIEW`.
    async fn memberships(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Membership>> {
        let actor = actor(ctx).await?;
        let memberships = ctx
            .loaders()?
            .memberships_of_user
            .load_one(self.0.id)
            .await?;
        Ok(memberships
            .unwrap_or_default()
            .into_iter()
            .filter(|membership| may_view_membership(actor, self.0.id, membership.organization))
            .map(Membership)
            .collect())
    }

    /// The groups the user is in, those in use first: all of them for the user themselves,
    /// else those of organizations where the caller has `GROUPS/VIEW`.
    async fn groups(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Group>> {
        let actor = actor(ctx).await?;
        let groups = ctx.loaders()?.groups_of_user.load_one(self.0.id).await?;
        Ok(groups
            .unwrap_or_default()
            .into_iter()
            .filter(|group| {
                actor.user == self.0.id
                    || authorize::<ViewGroups>(actor, group.organization).is_ok()
            })
            .map(Group)
            .collect())
    }
}

/// Password composition rules of an organization.
#[derive(SimpleObject, Debug, Clone, Copy)]
pub struct PasswordRules {
    pub require_lowercase: bool,
    pub require_uppercase: bool,
    pub require_digit: bool,
    /// A character that is neither a letter nor a digit (a space counts).
    pub require_symbol: bool,
    /// The shortest password allowed: the platform's 12 unless the organization asks more.
    pub min_length: i32,
}

impl From<steward_domain::password::CompositionRules> for PasswordRules {
    fn from(rules: steward_domain::password::CompositionRules) -> Self {
        let platform = steward_domain::password::PasswordPolicy::default().min_len;
        PasswordRules {
            require_lowercase: rules.lowercase,
            require_uppercase: rules.uppercase,
            require_digit: rules.digit,
            require_symbol: rules.symbol,
            min_length: i32::try_from(rules.min_len.unwrap_or(platform).max(platform))
                .unwrap_or(i32::MAX),
        }
    }
}

/// A user's standing in one organization.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "steward_domain::membership::MembershipStatus")]
pub enum MembershipStatus {
    /// Invited; the invitation is not accepted yet.
    Invited,
    Active,
    /// Blocked from this organization only.
    Disabled,
}

/// A user's membership of one organization.
pub struct Membership(pub MembershipRecord);

#[Object]
impl Membership {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn status(&self) -> async_graphql::Result<MembershipStatus> {
        steward_domain::membership::MembershipStatus::from_code(&self.0.status)
            .map(Into::into)
            .ok_or_else(|| {
                crate::error::AppError::internal(format!(
                    "stored membership status {:?}",
                    self.0.status
                ))
                .into()
            })
    }

    async fn created_at(&self) -> OffsetDateTime {
        self.0.created_at
    }

    /// The roles given to the member directly in this organization (group roles come with
    /// the groups). The member themselves, or `USERS/VIEW` in the organization.
    async fn roles(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<RoleBinding>> {
        let actor = actor(ctx).await?;
        if actor.user != self.0.user {
            authorize::<ViewUsers>(actor, self.0.organization).map_err(refused)?;
        }
        let bindings = ctx
            .loaders()?
            .bindings_of_user
            .load_one(self.0.user)
            .await?
            .unwrap_or_default();
        Ok(bindings
            .into_iter()
            .filter(|binding| binding.organization == self.0.organization)
            .map(RoleBinding)
            .collect())
    }

    /// The role in force at login in this organization.
    async fn default_role(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Role>> {
        let Some(role) = self.0.default_role else {
            return Ok(None);
        };
        Ok(ctx.loaders()?.roles.load_one(role).await?.map(Role::from))
    }

    async fn organization(&self, ctx: &Context<'_>) -> async_graphql::Result<Organization> {
        ctx.loaders()?
            .organizations
            .load_one(self.0.organization)
            .await?
            .map(Organization)
            .ok_or_else(|| {
                refused(DomainError::NotFound {
                    what: "the organization",
                })
            })
    }

    /// The member themselves, or `USERS/VIEW` in the organization.
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        let actor = actor(ctx).await?;
        if actor.user != self.0.user {
            authorize::<ViewUsers>(actor, self.0.organization).map_err(refused)?;
        }
        ctx.loaders()?
            .users
            .load_one(self.0.user)
            .await?
            .map(User)
            .ok_or_else(|| refused(DomainError::NotFound { what: "the user" }))
    }
}

/// A tenant.
pub struct Organization(pub OrganizationRecord);

#[Object]
impl Organization {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn created_at(&self) -> OffsetDateTime {
        self.0.created_at
    }

    /// When its owner deleted it; null while it exists. Only SuperAdmins see a deleted
    /// organization.
    async fn deleted_at(&self) -> Option<OffsetDateTime> {
        self.0.deleted_at
    }

    /// The organization's owner. Needs `USERS/VIEW` here, unless the owner is the caller.
    async fn owner(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(owner) = self.0.owner else {
            return Ok(None);
        };
        let actor = actor(ctx).await?;
        if actor.user != owner {
            authorize::<ViewUsers>(actor, self.0.id).map_err(refused)?;
        }
        Ok(ctx.loaders()?.users.load_one(owner).await?.map(User))
    }

    /// Domains the organization's users' e-mail addresses must have; empty means any domain.
    /// Needs `ORGANIZATION/VIEW`.
    async fn email_domains(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<String>> {
        authorize::<ViewOrganization>(actor(ctx).await?, self.0.id).map_err(refused)?;
        Ok(ctx
            .loaders()?
            .email_domains_of_organization
            .load_one(self.0.id)
            .await?
            .unwrap_or_default())
    }

    /// What the organization demands of its members' passwords beyond the platform's policy
    /// (12–128 characters, not the username or e-mail, not weak or common). All off by
    /// default. Needs `ORGANIZATION/VIEW`.
    async fn password_rules(&self, ctx: &Context<'_>) -> async_graphql::Result<PasswordRules> {
        authorize::<ViewOrganization>(actor(ctx).await?, self.0.id).map_err(refused)?;
        let rules = ctx
            .loaders()?
            .password_rules_of_organization
            .load_one(self.0.id)
            .await?
            .unwrap_or_default();
        Ok(PasswordRules::from(rules))
    }

    /// The organization's projects by name, archived ones included. Needs `ORGANIZATION/VIEW`.
    async fn projects(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Project>> {
        authorize::<ViewOrganization>(actor(ctx).await?, self.0.id).map_err(refused)?;
        let projects = ctx
            .loaders()?
            .projects_of_organization
            .load_one(self.0.id)
            .await?;
        Ok(projects
            .unwrap_or_default()
            .into_iter()
            .map(Project)
            .collect())
    }

    /// The organization's memberships, by user id. Needs `USERS/VIEW`.
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<Membership>> {
        authorize::<ViewUsers>(actor(ctx).await?, self.0.id).map_err(refused)?;
        let request = PageRequest::parse(first, after)?;
        let (members, total) = ctx
            .app()?
            .store
            .members_page(self.0.id, request.after, request.fetch)
            .await
            .map_err(crate::error::AppError::from)?;
        let items = members
            .into_iter()
            .map(|m| (m.user.as_uuid(), Membership(m)))
            .collect();
        Ok(request.page(items, total))
    }

    /// The built-in roles first, then custom roles by name. Needs `ROLES/VIEW`.
    async fn roles(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Role>> {
        authorize::<ViewRoles>(actor(ctx).await?, self.0.id).map_err(refused)?;
        let roles = ctx
            .loaders()?
            .roles_of_organization
            .load_one(self.0.id)
            .await?;
        Ok(roles
            .unwrap_or_default()
            .into_iter()
            .map(Role::from)
            .collect())
    }

    /// The groups in use first, then the archived ones, each by name. Needs `GROUPS/VIEW`.
    async fn groups(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Group>> {
        authorize::<ViewGroups>(actor(ctx).await?, self.0.id).map_err(refused)?;
        let groups = ctx
            .loaders()?
            .groups_of_organization
            .load_one(self.0.id)
            .await?;
        Ok(groups.unwrap_or_default().into_iter().map(Group).collect())
    }
}

/// A project inside an organization.
pub struct Project(pub ProjectRecord);

#[Object]
impl Project {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn archived(&self) -> bool {
        self.0.archived_at.is_some()
    }

    async fn created_at(&self) -> OffsetDateTime {
        self.0.created_at
    }
}

/// A role given to a member, organization-wide or for one project.
pub struct RoleBinding(pub RoleBindingRecord);

#[Object]
impl RoleBinding {
    /// For `unbindRole`.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn role(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Role>> {
        Ok(ctx
            .loaders()?
            .roles
            .load_one(self.0.role)
            .await?
            .map(Role::from))
    }

    /// The project the binding is limited to; null for the whole organization.
    async fn project(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Project>> {
        match self.0.scope {
            BindingScope::Organization => Ok(None),
            BindingScope::Project(project) => Ok(ctx
                .loaders()?
                .projects
                .load_one(project)
                .await?
                .map(Project)),
        }
    }
}

/// What a permission is about.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "steward_domain::permission::Area")]
pub enum Area {
    Users,
    Roles,
    Groups,
    Resources,
    ApiKeys,
    Audit,
    Organization,
    /// Flows and schedules.
    Flows,
    Statistics,
    /// The platform's user-defined APIs.
    Apis,
}

/// How much of an area a permission allows. `MANAGE` implies `VIEW`.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "steward_domain::permission::Level")]
pub enum Level {
    View,
    /// Execute flows and schedules, call APIs.
    Run,
    Manage,
}

/// One permission: an area and a level.
#[derive(SimpleObject, InputObject, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(input_name = "PermissionInput")]
pub struct Permission {
    pub area: Area,
    pub level: Level,
}

impl From<Permission> for steward_domain::permission::Permission {
    fn from(permission: Permission) -> Self {
        Self::new(permission.area.into(), permission.level.into())
    }
}

/// A named set of permissions in an organization.
pub struct Role {
    role: RoleSummary,
    /// Known when the role was read with them; otherwise read when asked for.
    permissions: Option<PermissionSet>,
}

impl From<RoleRecord> for Role {
    fn from(record: RoleRecord) -> Self {
        let (role, permissions) = record.split();
        Self {
            role,
            permissions: Some(permissions),
        }
    }
}

impl From<RoleSummary> for Role {
    fn from(role: RoleSummary) -> Self {
        Self {
            role,
            permissions: None,
        }
    }
}

#[Object]
impl Role {
    async fn id(&self) -> ID {
        ID(self.role.id.to_string())
    }

    async fn name(&self) -> &str {
        &self.role.name
    }

    async fn description(&self) -> &str {
        &self.role.description
    }

    /// Built-in roles are present in every organization and read-only.
    async fn built_in(&self) -> bool {
        self.role.built_in
    }

    async fn permissions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Permission>> {
        let loaded;
        let permissions = match &self.permissions {
            Some(permissions) => permissions,
            None => {
                loaded = ctx
                    .loaders()?
                    .permissions_of_role
                    .load_one(self.role.id)
                    .await?
                    .unwrap_or_default();
                &loaded
            }
        };
        Ok(permissions
            .iter()
            .map(|permission| Permission {
                area: permission.area.into(),
                level: permission.level.into(),
            })
            .collect())
    }

    async fn created_at(&self) -> OffsetDateTime {
        self.role.created_at
    }
}

/// Why a mutation did not do what was asked. Expected failures come here, in the payload;
/// `extensions.code` on a GraphQL error is for the unexpected ones.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct UserError {
    /// The path to the input field at fault, from the mutation's arguments
    /// (for example `["input", "password"]`); empty when no one field is at fault.
    pub field: Vec<String>,
    pub code: UserErrorCode,
    /// What is wrong and what to do, for the person at the keyboard.
    pub message: String,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserErrorCode {
    /// A value is not acceptable.
    Invalid,
    /// A unique value is already taken.
    Conflict,
    NotFound,
    Forbidden,
    /// The object's state does not allow this change.
    InvalidTransition,
    /// Unknown account or wrong password.
    WrongCredentials,
    /// The account may not log in in its current status.
    AccountNotActive,
    /// Too many failed logins for the account or the client address: wait, or ask an
    /// administrator to clear the lockout.
    LockedOut,
    /// The password is right and the account has two-factor authentication: log in again with
    /// `totpCode` (or `recoveryCode`).
    MfaRequired,
    /// The two-factor code or recovery code is wrong, or was used already.
    InvalidMfaCode,
}

/// A mutation's result as its payload's parts: the value as its output type, or the error
/// (fields under `input`).
pub fn payload_parts<T, U>(
    result: Result<T, DomainError>,
    output: impl FnOnce(T) -> U,
) -> (Option<U>, Vec<UserError>) {
    match result {
        Ok(value) => (Some(output(value)), Vec::new()),
        Err(error) => (None, vec![UserError::from_domain("input", &error)]),
    }
}

impl UserError {
    /// A domain error as a payload error; `input` is the argument the fields sit under, or
    /// empty when the mutation's arguments are plain values and the field is the argument
    /// itself (`["file"]`).
    pub fn from_domain(input: &str, error: &DomainError) -> Self {
        // Every payload error is made here: a refusal among them is audited.
        crate::graphql::denied::note_payload_error(error);
        let code = match error {
            DomainError::Invalid { .. } => UserErrorCode::Invalid,
            DomainError::Conflict { .. } => UserErrorCode::Conflict,
            DomainError::NotFound { .. } => UserErrorCode::NotFound,
            DomainError::Forbidden { .. } | DomainError::Unauthenticated { .. } => {
                UserErrorCode::Forbidden
            }
            DomainError::InvalidTransition { .. } => UserErrorCode::InvalidTransition,
        };
        let field = match (input, error.field()) {
            (_, None) => Vec::new(),
            ("", Some(field)) => vec![field.to_owned()],
            (input, Some(field)) => vec![input.to_owned(), field.to_owned()],
        };
        UserError {
            field,
            code,
            message: error.to_string(),
        }
    }
}
