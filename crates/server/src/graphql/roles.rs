//! Roles: custom roles, bindings, and switching the active role.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use steward_domain::organization::Name;
use steward_domain::permission::PermissionSet;
use steward_domain::policy::{ManageRoles, authorize};
use steward_domain::{
    DomainError, GroupId, OrganizationId, ProjectId, RoleBindingId, RoleId, UserId,
};
use steward_store::{BindingScope, BindingSubject, RoleDefinition, RoleRecord};
use time::OffsetDateTime;

use crate::error::refused;
use crate::graphql::context::{ContextExt as _, actor, parse_id};
use crate::graphql::organizations::expected;
use crate::graphql::types::{Permission, Role, UserError};

#[derive(InputObject)]
pub struct CreateRoleInput {
    pub organization: ID,
    pub name: String,
    #[graphql(default)]
    pub description: String,
    pub permissions: Vec<Permission>,
}

#[derive(InputObject)]
pub struct UpdateRoleInput {
    pub role: ID,
    pub name: String,
    #[graphql(default)]
    pub description: String,
    /// The complete new set of permissions.
    pub permissions: Vec<Permission>,
}

#[derive(SimpleObject, Default)]
pub struct RolePayload {
    pub role: Option<Role>,
    pub errors: Vec<UserError>,
}

#[derive(SimpleObject, Default)]
pub struct DeleteRolePayload {
    /// The id of the deleted role.
    pub deleted_role_id: Option<ID>,
    pub errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct BindRoleInput {
    pub role: ID,
    /// A member of the role's organization; give this or `group`.
    pub user: Option<ID>,
    /// A group of the role's organization; give this or `user`.
    pub group: Option<ID>,
    /// A project of the organization; without it the binding is organization-wide.
    pub project: Option<ID>,
}

#[derive(SimpleObject, Default)]
pub struct BindRolePayload {
    /// The new binding's id, for `unbindRole`.
    pub binding_id: Option<ID>,
    pub errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct UnbindRoleInput {
    pub organization: ID,
    pub binding: ID,
}

#[derive(SimpleObject, Default)]
pub struct UnbindRolePayload {
    pub unbound: bool,
    pub errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct SwitchRoleInput {
    pub organization: ID,
    pub role: ID,
}

#[derive(SimpleObject, Default)]
pub struct SwitchRolePayload {
    /// A new access token acting with the chosen role; send it from now on.
    pub access_token: Option<String>,
    pub expires_at: Option<OffsetDateTime>,
    pub errors: Vec<UserError>,
}

#[derive(SimpleObject, Default)]
pub struct SetDefaultRolePayload {
    pub default_role: Option<Role>,
    pub errors: Vec<UserError>,
}

fn definition(
    name: &str,
    description: String,
    permissions: Vec<Permission>,
) -> Result<RoleDefinition, DomainError> {
    Ok(RoleDefinition {
        name: Name::parse("name", name)?,
        description: description.trim().chars().take(500).collect(),
        permissions: permissions
            .into_iter()
            .map(Into::into)
            .collect::<PermissionSet>(),
    })
}

fn role_payload(result: Result<RoleRecord, DomainError>) -> RolePayload {
    match result {
        Ok(role) => RolePayload {
            role: Some(Role::from(role)),
            errors: Vec::new(),
        },
        Err(error) => RolePayload {
            role: None,
            errors: vec![UserError::from_domain("input", &error)],
        },
    }
}

/// The organization of a role the caller can see; others do not exist for the caller.
async fn organization_of_role(
    ctx: &Context<'_>,
    role: RoleId,
) -> async_graphql::Result<OrganizationId> {
    let not_found = || refused(DomainError::NotFound { what: "the role" });
    let role = ctx
        .loaders()?
        .roles
        .load_one(role)
        .await?
        .ok_or_else(not_found)?;
    if actor(ctx).await?.can_see(role.organization) {
        Ok(role.organization)
    } else {
        Err(not_found())
    }
}

#[derive(Default)]
pub struct RoleMutation;

#[Object]
impl RoleMutation {
    /// Creates a custom role. Needs `ROLES/MANAGE`.
    async fn create_role(
        &self,
        ctx: &Context<'_>,
        input: CreateRoleInput,
    ) -> async_graphql::Result<RolePayload> {
        let organization: OrganizationId = parse_id("organization", &input.organization)?;
        let proof = authorize::<ManageRoles>(actor(ctx).await?, organization).map_err(refused)?;
        let definition = match definition(&input.name, input.description, input.permissions) {
            Ok(definition) => definition,
            Err(error) => return Ok(role_payload(Err(error))),
        };
        let entry = ctx.audit_entry()?;
        Ok(role_payload(expected(
            ctx.app()?
                .store
                .create_role(&proof, &definition, &entry)
                .await,
        )?))
    }

    /// Replaces a custom role's name, description and permissions. Needs `ROLES/MANAGE`.
    async fn update_role(
        &self,
        ctx: &Context<'_>,
        input: UpdateRoleInput,
    ) -> async_graphql::Result<RolePayload> {
        let role: RoleId = parse_id("role", &input.role)?;
        let organization = organization_of_role(ctx, role).await?;
        let proof = authorize::<ManageRoles>(actor(ctx).await?, organization).map_err(refused)?;
        let definition = match definition(&input.name, input.description, input.permissions) {
            Ok(definition) => definition,
            Err(error) => return Ok(role_payload(Err(error))),
        };
        let entry = ctx.audit_entry()?;
        Ok(role_payload(expected(
            ctx.app()?
                .store
                .update_role(&proof, role, &definition, &entry)
                .await,
        )?))
    }

    /// Deletes a custom role nobody holds. Needs `ROLES/MANAGE`.
    async fn delete_role(
        &self,
        ctx: &Context<'_>,
        role: ID,
    ) -> async_graphql::Result<DeleteRolePayload> {
        let role_id: RoleId = parse_id("role", &role)?;
        let organization = organization_of_role(ctx, role_id).await?;
        let proof = authorize::<ManageRoles>(actor(ctx).await?, organization).map_err(refused)?;
        let entry = ctx.audit_entry()?;
        Ok(
            match expected(ctx.app()?.store.delete_role(&proof, role_id, &entry).await)? {
                Ok(()) => DeleteRolePayload {
                    deleted_role_id: Some(role),
                    errors: Vec::new(),
                },
                Err(error) => DeleteRolePayload {
                    deleted_role_id: None,
                    errors: vec![UserError::from_domain("role", &error)],
                },
            },
        )
    }

    /// Gives a role to a member or a group, organization-wide or for one project. Needs
    /// `ROLES/MANAGE`.
    async fn bind_role(
        &self,
        ctx: &Context<'_>,
        input: BindRoleInput,
    ) -> async_graphql::Result<BindRolePayload> {
        let role: RoleId = parse_id("role", &input.role)?;
        let subject = match (&input.user, &input.group) {
            (Some(user), None) => BindingSubject::User(parse_id::<UserId>("user", user)?),
            (None, Some(group)) => BindingSubject::Group(parse_id::<GroupId>("group", group)?),
            _ => {
                let error = DomainError::invalid("user", "give either a user or a group");
                return Ok(BindRolePayload {
                    errors: vec![UserError::from_domain("input", &error)],
                    ..Default::default()
                });
            }
        };
        let scope = match &input.project {
            None => BindingScope::Organization,
            Some(project) => BindingScope::Project(parse_id::<ProjectId>("project", project)?),
        };
        let organization = organization_of_role(ctx, role).await?;
        let proof = authorize::<ManageRoles>(actor(ctx).await?, organization).map_err(refused)?;
        let entry = ctx.audit_entry()?;
        Ok(
            match expected(
                ctx.app()?
                    .store
                    .bind_role(&proof, role, subject, scope, &entry)
                    .await,
            )? {
                Ok(binding) => BindRolePayload {
                    binding_id: Some(ID(binding.id.to_string())),
                    errors: Vec::new(),
                },
                Err(error) => BindRolePayload {
                    errors: vec![UserError::from_domain("input", &error)],
                    ..Default::default()
                },
            },
        )
    }

    /// Takes a role binding away; effective on the next request. Needs `ROLES/MANAGE`.
    async fn unbind_role(
        &self,
        ctx: &Context<'_>,
        input: UnbindRoleInput,
    ) -> async_graphql::Result<UnbindRolePayload> {
        let organization: OrganizationId = parse_id("organization", &input.organization)?;
        let binding: RoleBindingId = parse_id("binding", &input.binding)?;
        let proof = authorize::<ManageRoles>(actor(ctx).await?, organization).map_err(refused)?;
        let entry = ctx.audit_entry()?;
        Ok(
            match expected(ctx.app()?.store.unbind_role(&proof, binding, &entry).await)? {
                Ok(()) => UnbindRolePayload {
                    unbound: true,
                    errors: Vec::new(),
                },
                Err(error) => UnbindRolePayload {
                    unbound: false,
                    errors: vec![UserError::from_domain("input", &error)],
                },
            },
        )
    }

    /// Acts with another of the caller's roles, in this or another of the caller's
    /// organizations. Returns a new access token carrying it.
    async fn switch_role(
        &self,
        ctx: &Context<'_>,
        input: SwitchRoleInput,
    ) -> async_graphql::Result<SwitchRolePayload> {
        let organization: OrganizationId = parse_id("organization", &input.organization)?;
        let role: RoleId = parse_id("role", &input.role)?;
        let principal = ctx.principal()?;
        let entry = ctx.audit_entry()?;
        Ok(
            match ctx
                .app()?
                .switch_role(principal, organization, role, &entry)
                .await?
            {
                Ok((token, expires_at)) => SwitchRolePayload {
                    access_token: Some(token),
                    expires_at: Some(expires_at),
                    errors: Vec::new(),
                },
                Err(DomainError::NotFound { what }) => {
                    return Err(refused(DomainError::NotFound { what }));
                }
                Err(error) => SwitchRolePayload {
                    errors: vec![UserError::from_domain("input", &error)],
                    ..Default::default()
                },
            },
        )
    }

    /// Chooses the role the caller acts with after logging in, in one organization.
    async fn set_default_role(
        &self,
        ctx: &Context<'_>,
        input: SwitchRoleInput,
    ) -> async_graphql::Result<SetDefaultRolePayload> {
        let organization: OrganizationId = parse_id("organization", &input.organization)?;
        let role: RoleId = parse_id("role", &input.role)?;
        let actor = actor(ctx).await?;
        if !actor.is_member_of(organization) {
            return Err(refused(DomainError::NotFound {
                what: "the organization",
            }));
        }
        let entry = ctx.audit_entry()?;
        Ok(
            match expected(
                ctx.app()?
                    .store
                    .set_default_role(actor.user, organization, role, &entry)
                    .await,
            )? {
                Ok(()) => SetDefaultRolePayload {
                    default_role: ctx.loaders()?.roles.load_one(role).await?.map(Role::from),
                    errors: Vec::new(),
                },
                Err(error) => SetDefaultRolePayload {
                    errors: vec![UserError::from_domain("input", &error)],
                    ..Default::default()
                },
            },
        )
    }
}
