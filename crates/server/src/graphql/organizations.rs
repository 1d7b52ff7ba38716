//! Organizations: who can see which, creating them, adding members.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use steward_domain::organization::{EmailDomain, Name};
use steward_domain::policy::{
    Admission, ManageOrganization, ManageProjects, ManageUsers, admission, authorize,
    authorize_in_projects, authorize_organization_deletion, authorize_ownership_transfer,
    authorize_platform,
};
use steward_domain::{DomainError, OrganizationId, ProjectId, RoleId, UserId};

use crate::auth::links::new_link;
use crate::error::{AppError, refused};
use crate::graphql::connection::{Page, PageRequest};
use crate::graphql::context::{ContextExt as _, actor, parse_id};
use crate::graphql::invitations::Invitation;
use crate::graphql::types::{Organization, Project, UserError};

pub use crate::error::expected;

#[derive(Default)]
pub struct OrganizationQuery;

#[Object]
impl OrganizationQuery {
    /// What `deleteOrganization` would do to `organization`, and every refusal it would
    /// answer but for `confirmName`, which only the deletion is given. Same permissions as
    /// `deleteOrganization`.
    async fn organization_deletion_plan(
        &self,
        ctx: &Context<'_>,
        organization: ID,
    ) -> async_graphql::Result<OrganizationDeletionPreflight> {
        let organization: OrganizationId = parse_id("organization", &organization)?;
        let owner = OrganizationSettingsMutation::owner_of(ctx, organization).await?;
        let proof = authorize_organization_deletion(actor(ctx).await?, organization, owner)
            .map_err(refused)?;
        let preflight = ctx
            .app()?
            .store
            .organization_deletion_preflight(&proof)
            .await
            .map_err(AppError::from)?;
        Ok(OrganizationDeletionPreflight {
            members: preflight.members,
            api_keys: preflight.api_keys,
            invitations: preflight.invitations,
            resources: preflight.resources,
            refusals: preflight.refusals.iter().map(ToString::to_string).collect(),
        })
    }

    /// One organization the caller belongs to (any, deleted ones too, for a SuperAdmin).
    async fn organization(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Organization> {
        let id: OrganizationId = parse_id("id", &id)?;
        let not_found = || {
            refused(DomainError::NotFound {
                what: "the organization",
            })
        };
        let actor = actor(ctx).await?;
        if !actor.can_see(id) {
            return Err(not_found());
        }
        ctx.loaders()?
            .organizations
            .load_one(id)
            .await?
            .filter(|record| record.deleted_at.is_none() || actor.is_super_admin())
            .map(Organization)
            .ok_or_else(not_found)
    }

    /// The organizations the caller is an active member of; every organization, deleted
    /// ones too, for a SuperAdmin. Oldest first.
    async fn organizations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<Organization>> {
        let request = PageRequest::parse(first, after)?;
        let actor = actor(ctx).await?;
        let visible: Option<Vec<OrganizationId>> =
            (!actor.is_super_admin()).then(|| actor.organizations().collect());
        let (organizations, total) = ctx
            .app()?
            .store
            .organizations_page(
                visible.as_deref(),
                actor.is_super_admin(),
                request.after,
                request.fetch,
            )
            .await
            .map_err(AppError::from)?;
        let items = organizations
            .into_iter()
            .map(|o| (o.id.as_uuid(), Organization(o)))
            .collect();
        Ok(request.page(items, total))
    }
}

/// What deleting an organization would do, and what refuses it.
#[derive(SimpleObject)]
pub struct OrganizationDeletionPreflight {
    /// Memberships that are disabled (every one not disabled yet, the owner's too).
    pub members: i64,
    /// API keys limited to the organization that are revoked.
    pub api_keys: i64,
    /// Pending invitations that are withdrawn.
    pub invitations: i64,
    /// Resources that are marked deleted.
    pub resources: i64,
    /// Why it cannot be deleted (empty when it can), in the words of `deleteOrganization`'s
    /// refusal: one refusal is answered as it is, several as one `FORBIDDEN` whose message is
    /// this list joined with "; ".
    pub refusals: Vec<String>,
}

#[derive(InputObject)]
pub struct CreateOrganizationInput {
    pub name: String,
    /// The owner, who becomes the first member, with the Administrator role.
    pub owner: ID,
}

#[derive(SimpleObject, Default)]
pub struct CreateOrganizationPayload {
    pub organization: Option<Organization>,
    pub errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct AddMemberInput {
    pub organization: ID,
    pub user: ID,
    /// The member's default role, bound to them organization-wide.
    pub role: ID,
}

#[derive(SimpleObject, Default)]
pub struct AddMemberPayload {
    pub organization: Option<Organization>,
    /// The invitation sent instead: a membership needs the user's consent, so only a
    /// SuperAdmin adds an account at once; anyone else's `addMember` invites it (a one-click
    /// link), and the membership waits as `INVITED` until the user accepts. Null when the
    /// account was added at once.
    pub invitation: Option<Invitation>,
    pub errors: Vec<UserError>,
}

#[derive(Default)]
pub struct OrganizationMutation;

#[Object]
impl OrganizationMutation {
    /// Creates an organization with the built-in roles. SuperAdmin only.
    async fn create_organization(
        &self,
        ctx: &Context<'_>,
        input: CreateOrganizationInput,
    ) -> async_graphql::Result<CreateOrganizationPayload> {
        let proof = authorize_platform(actor(ctx).await?).map_err(refused)?;
        let owner: UserId = parse_id("owner", &input.owner)?;
        let name = match Name::parse("name", &input.name) {
            Ok(name) => name,
            Err(error) => {
                return Ok(CreateOrganizationPayload {
                    errors: vec![UserError::from_domain("input", &error)],
                    ..Default::default()
                });
            }
        };
        let entry = ctx.audit_entry()?;
        Ok(
            match expected(
                ctx.app()?
                    .store
                    .create_organization(&proof, &name, owner, &entry)
                    .await,
            )? {
                Ok(organization) => CreateOrganizationPayload {
                    organization: Some(Organization(organization)),
                    errors: Vec::new(),
                },
                Err(error) => CreateOrganizationPayload {
                    errors: vec![UserError::from_domain("input", &error)],
                    ..Default::default()
                },
            },
        )
    }

    /// Adds an existing user to an organization with a default role. Needs `USERS/MANAGE`.
    /// A SuperAdmin adds the account at once; anyone else sends it an invitation with a
    /// one-click link (see `invitation` in the payload), since a membership needs the user's
    /// consent.
    async fn add_member(
        &self,
        ctx: &Context<'_>,
        input: AddMemberInput,
    ) -> async_graphql::Result<AddMemberPayload> {
        let organization: OrganizationId = parse_id("organization", &input.organization)?;
        let user: UserId = parse_id("user", &input.user)?;
        let role: RoleId = parse_id("role", &input.role)?;
        let actor = actor(ctx).await?;
        let proof = authorize::<ManageUsers>(actor, organization).map_err(refused)?;
        let entry = ctx.audit_entry()?;
        let store = &ctx.app()?.store;
        let added = match admission(actor) {
            Admission::Direct => {
                expected(store.add_member(&proof, user, role, &entry).await)?.map(|()| None)
            }
            Admission::Invitation => {
                let link = new_link(entry.at)?;
                expected(store.invite_member(&proof, user, role, &link, &entry).await)?.map(Some)
            }
        };
        Ok(match added {
            Ok(invitation) => AddMemberPayload {
                organization: ctx
                    .loaders()?
                    .organizations
                    .load_one(organization)
                    .await?
                    .map(Organization),
                invitation: invitation
                    .map(|record| Invitation::at(record, entry.at))
                    .transpose()?,
                errors: Vec::new(),
            },
            Err(error) => AddMemberPayload {
                errors: vec![UserError::from_domain("input", &error)],
                ..Default::default()
            },
        })
    }
}

#[derive(InputObject)]
pub struct RenameOrganizationInput {
    pub organization: ID,
    pub name: String,
}

#[derive(InputObject)]
pub struct TransferOrganizationOwnershipInput {
    pub organization: ID,
    /// An active member of the organization.
    pub owner: ID,
}

#[derive(InputObject)]
pub struct DeleteOrganizationInput {
    pub organization: ID,
    /// The organization's name, typed again, so that a slip cannot delete it.
    pub confirm_name: String,
}

#[derive(InputObject)]
pub struct EmailDomainInput {
    pub organization: ID,
    /// For example `example.com`.
    pub domain: String,
}

/// The organization after a change of its settings.
#[derive(SimpleObject, Default)]
pub struct OrganizationPayload {
    pub organization: Option<Organization>,
    pub errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct SetPasswordRulesInput {
    pub organization: ID,
    #[graphql(default)]
    pub require_lowercase: bool,
    #[graphql(default)]
    pub require_uppercase: bool,
    #[graphql(default)]
    pub require_digit: bool,
    #[graphql(default)]
    pub require_symbol: bool,
    /// 12 to 64; left out, the platform's 12.
    pub min_length: Option<i32>,
}

#[derive(InputObject)]
pub struct CreateProjectInput {
    pub organization: ID,
    pub name: String,
}

#[derive(InputObject)]
pub struct RenameProjectInput {
    pub project: ID,
    pub name: String,
}

#[derive(SimpleObject, Default)]
pub struct ProjectPayload {
    pub project: Option<Project>,
    pub errors: Vec<UserError>,
}

#[derive(Default)]
pub struct OrganizationSettingsMutation;

impl OrganizationSettingsMutation {
    /// The organization, reloaded after a change, or the refusal.
    async fn organization_payload(
        ctx: &Context<'_>,
        organization: OrganizationId,
        outcome: Result<(), DomainError>,
    ) -> async_graphql::Result<OrganizationPayload> {
        Ok(match outcome {
            Ok(()) => OrganizationPayload {
                organization: ctx
                    .app()?
                    .store
                    .organizations_by_ids(&[organization])
                    .await
                    .map_err(AppError::from)?
                    .into_iter()
                    .next()
                    .map(Organization),
                errors: Vec::new(),
            },
            Err(error) => OrganizationPayload {
                organization: None,
                errors: vec![UserError::from_domain("input", &error)],
            },
        })
    }

    async fn project_payload(
        ctx: &Context<'_>,
        project: ProjectId,
        outcome: Result<(), DomainError>,
    ) -> async_graphql::Result<ProjectPayload> {
        Ok(match outcome {
            Ok(()) => ProjectPayload {
                project: ctx
                    .app()?
                    .store
                    .projects_by_ids(&[project])
                    .await
                    .map_err(AppError::from)?
                    .into_iter()
                    .next()
                    .map(Project),
                errors: Vec::new(),
            },
            Err(error) => ProjectPayload {
                project: None,
                errors: vec![UserError::from_domain("input", &error)],
            },
        })
    }

    /// The owner of an organization the caller can see; others do not exist for the caller.
    async fn owner_of(
        ctx: &Context<'_>,
        organization: OrganizationId,
    ) -> async_graphql::Result<Option<UserId>> {
        match ctx.loaders()?.organizations.load_one(organization).await? {
            Some(record) if actor(ctx).await?.can_see(organization) => Ok(record.owner),
            _ => Err(refused(DomainError::NotFound {
                what: "the organization",
            })),
        }
    }

    /// The organization of a project the caller can see; others do not exist for the caller.
    async fn organization_of_project(
        ctx: &Context<'_>,
        project: ProjectId,
    ) -> async_graphql::Result<OrganizationId> {
        let not_found = || {
            refused(DomainError::NotFound {
                what: "the project",
            })
        };
        let project = ctx
            .loaders()?
            .projects
            .load_one(project)
            .await?
            .ok_or_else(not_found)?;
        if actor(ctx).await?.can_see(project.organization) {
            Ok(project.organization)
        } else {
            Err(not_found())
        }
    }
}

fn parse_name(value: &str) -> Result<Name, DomainError> {
    Name::parse("name", value)
}

#[Object]
impl OrganizationSettingsMutation {
    /// Renames an organization. Needs `ORGANIZATION/MANAGE`.
    async fn rename_organization(
        &self,
        ctx: &Context<'_>,
        input: RenameOrganizationInput,
    ) -> async_graphql::Result<OrganizationPayload> {
        let organization: OrganizationId = parse_id("organization", &input.organization)?;
        let proof =
            authorize::<ManageOrganization>(actor(ctx).await?, organization).map_err(refused)?;
        let outcome = match parse_name(&input.name) {
            Ok(name) => expected(
                ctx.app()?
                    .store
                    .rename_organization(&proof, &name, &ctx.audit_entry()?)
                    .await,
            )?,
            Err(error) => Err(error),
        };
        Self::organization_payload(ctx, organization, outcome).await
    }

    /// Sets the password composition rules the organization's members must meet from their
    /// next password on (a member of several organizations meets the strictest of them).
    /// Rules left out are off; `minLength` is 12 to 64. Needs `ORGANIZATION/MANAGE`.
    async fn set_password_rules(
        &self,
        ctx: &Context<'_>,
        input: SetPasswordRulesInput,
    ) -> async_graphql::Result<OrganizationPayload> {
        let organization: OrganizationId = parse_id("organization", &input.organization)?;
        let proof =
            authorize::<ManageOrganization>(actor(ctx).await?, organization).map_err(refused)?;
        let rules = steward_domain::password::CompositionRules {
            lowercase: input.require_lowercase,
            uppercase: input.require_uppercase,
            digit: input.require_digit,
            symbol: input.require_symbol,
            min_len: input
                .min_length
                .map(|length| usize::try_from(length).unwrap_or(0)),
        };
        let outcome = expected(
            ctx.app()?
                .store
                .set_password_rules(&proof, rules, &ctx.audit_entry()?)
                .await,
        )?;
        Self::organization_payload(ctx, organization, outcome).await
    }

    /// Hands the organization to another active member. Its owner or a SuperAdmin only.
    async fn transfer_organization_ownership(
        &self,
        ctx: &Context<'_>,
        input: TransferOrganizationOwnershipInput,
    ) -> async_graphql::Result<OrganizationPayload> {
        let organization: OrganizationId = parse_id("organization", &input.organization)?;
        let new_owner: UserId = parse_id("owner", &input.owner)?;
        let current_owner = Self::owner_of(ctx, organization).await?;
        let proof = authorize_ownership_transfer(actor(ctx).await?, organization, current_owner)
            .map_err(refused)?;
        let outcome = expected(
            ctx.app()?
                .store
                .transfer_ownership(&proof, new_owner, &ctx.audit_entry()?)
                .await,
        )?;
        Self::organization_payload(ctx, organization, outcome).await
    }

    /// Deletes an organization: every membership is disabled, sessions acting in it end, API
    /// keys limited to it are revoked, pending invitations are withdrawn, its resources are
    /// marked deleted and its members are told by e-mail. Their accounts and other
    /// organizations are untouched. `confirmName` must be the organization's name. Its owner
    /// or a SuperAdmin only; afterwards only SuperAdmins see it.
    async fn delete_organization(
        &self,
        ctx: &Context<'_>,
        input: DeleteOrganizationInput,
    ) -> async_graphql::Result<OrganizationPayload> {
        let organization: OrganizationId = parse_id("organization", &input.organization)?;
        let owner = Self::owner_of(ctx, organization).await?;
        let proof = authorize_organization_deletion(actor(ctx).await?, organization, owner)
            .map_err(refused)?;
        let outcome = expected(
            ctx.app()?
                .store
                .delete_organization(&proof, &input.confirm_name, &ctx.audit_entry()?)
                .await,
        )?;
        // Reloaded as every settings mutation does: deleted, it comes back with `deletedAt`.
        Self::organization_payload(ctx, organization, outcome).await
    }

    /// Accepts e-mail addresses of one more domain. Needs `ORGANIZATION/MANAGE`.
    async fn add_email_domain(
        &self,
        ctx: &Context<'_>,
        input: EmailDomainInput,
    ) -> async_graphql::Result<OrganizationPayload> {
        let organization: OrganizationId = parse_id("organization", &input.organization)?;
        let proof =
            authorize::<ManageOrganization>(actor(ctx).await?, organization).map_err(refused)?;
        let outcome = match EmailDomain::parse(&input.domain) {
            Ok(domain) => expected(
                ctx.app()?
                    .store
                    .add_email_domain(&proof, &domain, &ctx.audit_entry()?)
                    .await,
            )?,
            Err(error) => Err(error),
        };
        Self::organization_payload(ctx, organization, outcome).await
    }

    /// Stops accepting a domain; with none left, any domain is accepted. Needs
    /// `ORGANIZATION/MANAGE`.
    async fn remove_email_domain(
        &self,
        ctx: &Context<'_>,
        input: EmailDomainInput,
    ) -> async_graphql::Result<OrganizationPayload> {
        let organization: OrganizationId = parse_id("organization", &input.organization)?;
        let proof =
            authorize::<ManageOrganization>(actor(ctx).await?, organization).map_err(refused)?;
        let outcome = match EmailDomain::parse(&input.domain) {
            Ok(domain) => expected(
                ctx.app()?
                    .store
                    .remove_email_domain(&proof, &domain, &ctx.audit_entry()?)
                    .await,
            )?,
            Err(error) => Err(error),
        };
        Self::organization_payload(ctx, organization, outcome).await
    }

    /// Creates a project. Needs `ORGANIZATION/MANAGE`.
    async fn create_project(
        &self,
        ctx: &Context<'_>,
        input: CreateProjectInput,
    ) -> async_graphql::Result<ProjectPayload> {
        let organization: OrganizationId = parse_id("organization", &input.organization)?;
        let proof =
            authorize::<ManageProjects>(actor(ctx).await?, organization).map_err(refused)?;
        let name = match parse_name(&input.name) {
            Ok(name) => name,
            Err(error) => {
                return Ok(ProjectPayload {
                    project: None,
                    errors: vec![UserError::from_domain("input", &error)],
                });
            }
        };
        Ok(
            match expected(
                ctx.app()?
                    .store
                    .create_project(&proof, &name, &ctx.audit_entry()?)
                    .await,
            )? {
                Ok(project) => ProjectPayload {
                    project: Some(Project(project)),
                    errors: Vec::new(),
                },
                Err(error) => ProjectPayload {
                    project: None,
                    errors: vec![UserError::from_domain("input", &error)],
                },
            },
        )
    }

    /// Renames a project. Needs `ORGANIZATION/MANAGE` in the organization, or in the project
    /// through a role bound for it.
    async fn rename_project(
        &self,
        ctx: &Context<'_>,
        input: RenameProjectInput,
    ) -> async_graphql::Result<ProjectPayload> {
        let project: ProjectId = parse_id("project", &input.project)?;
        let organization = Self::organization_of_project(ctx, project).await?;
        let proof = authorize_in_projects::<ManageProjects>(
            actor(ctx).await?,
            organization,
            &[Some(project)],
        )
        .map_err(refused)?;
        let outcome = match parse_name(&input.name) {
            Ok(name) => expected(
                ctx.app()?
                    .store
                    .rename_project(&proof, project, &name, &ctx.audit_entry()?)
                    .await,
            )?,
            Err(error) => Err(error),
        };
        Self::project_payload(ctx, project, outcome).await
    }

    /// Archives a project. Needs `ORGANIZATION/MANAGE` in the organization, or in the
    /// project through a role bound for it.
    async fn archive_project(
        &self,
        ctx: &Context<'_>,
        project: ID,
    ) -> async_graphql::Result<ProjectPayload> {
        let project: ProjectId = parse_id("project", &project)?;
        let organization = Self::organization_of_project(ctx, project).await?;
        let proof = authorize_in_projects::<ManageProjects>(
            actor(ctx).await?,
            organization,
            &[Some(project)],
        )
        .map_err(refused)?;
        let outcome = expected(
            ctx.app()?
                .store
                .archive_project(&proof, project, &ctx.audit_entry()?)
                .await,
        )?;
        Self::project_payload(ctx, project, outcome).await
    }
}
