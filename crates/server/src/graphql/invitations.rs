//! Invitations: an administrator invites by e-mail address; the invited person accepts with
//! the link from the e-mail.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use steward_domain::policy::{ManageUsers, ViewUsers, authorize};
use steward_domain::user::{EmailAddress, FullName, Username};
use steward_domain::{DomainError, InvitationId, OrganizationId};
use steward_store::{InvitationRecord, NewInvitation, UserRecord};
use time::OffsetDateTime;

use crate::auth::links::new_link;
use crate::error::{AppError, refused};
use crate::graphql::connection::{Page, PageRequest};
use crate::graphql::context::{ContextExt as _, actor, parse_id, parse_role_ids};
use crate::graphql::organizations::expected;
use crate::graphql::types::{Language, Organization, User, UserError};
use crate::graphql::users::may_view_user;

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "steward_domain::membership::InvitationStatus")]
pub enum InvitationStatus {
    /// Sent; the link still works.
    Pending,
    Accepted,
    Revoked,
    /// Not accepted within 24 hours of the newest link; resend it.
    Expired,
}

/// An invitation into an organization.
pub struct Invitation {
    record: InvitationRecord,
    status: InvitationStatus,
    /// Answered to the invited user, who proved who they are with the link's token.
    to_invitee: bool,
}

impl Invitation {
    pub(crate) fn at(record: InvitationRecord, now: OffsetDateTime) -> async_graphql::Result<Self> {
        let status = record.status_at(now).map_err(AppError::from)?.into();
        Ok(Self {
            record,
            status,
            to_invitee: false,
        })
    }
}

impl Invitation {
    async fn invitee(&self, ctx: &Context<'_>) -> async_graphql::Result<UserRecord> {
        ctx.loaders()?
            .users
            .load_one(self.record.user)
            .await?
            .ok_or_else(|| refused(DomainError::NotFound { what: "the user" }))
    }
}

#[Object]
impl Invitation {
    async fn id(&self) -> ID {
        ID(self.record.id.to_string())
    }

    async fn status(&self) -> InvitationStatus {
        self.status
    }

    /// The address the invitation was sent to.
    async fn email(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(self.invitee(ctx).await?.email)
    }

    /// The invited user, for whoever may see them (`user(id)`): the account the invitation
    /// created, waiting for validation, or a member who accepted it. Null while an invitation
    /// of an existing account waits: until they accept, the inviting organization sees only
    /// the address it typed (`email`).
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let invitee = self.invitee(ctx).await?;
        let shown = self.to_invitee || may_view_user(ctx, &invitee).await?;
        Ok(shown.then_some(User(invitee)))
    }

    async fn organization(&self, ctx: &Context<'_>) -> async_graphql::Result<Organization> {
        ctx.loaders()?
            .organizations
            .load_one(self.record.organization)
            .await?
            .map(Organization)
            .ok_or_else(|| {
                refused(DomainError::NotFound {
                    what: "the organization",
                })
            })
    }

    /// Who invited; null when that account is gone.
    async fn invited_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(inviter) = self.record.invited_by else {
            return Ok(None);
        };
        Ok(ctx.loaders()?.users.load_one(inviter).await?.map(User))
    }

    /// The language of the invitation e-mail.
    async fn language(&self) -> Language {
        self.record.language.into()
    }

    async fn created_at(&self) -> OffsetDateTime {
        self.record.created_at
    }

    /// When the newest link stops working.
    async fn expires_at(&self) -> OffsetDateTime {
        self.record.expires_at
    }

    async fn accepted_at(&self) -> Option<OffsetDateTime> {
        self.record.accepted_at
    }

    async fn revoked_at(&self) -> Option<OffsetDateTime> {
        self.record.revoked_at
    }
}

#[derive(Default)]
pub struct InvitationQuery;

#[Object]
impl InvitationQuery {
    /// An organization's invitations, newest first, optionally of one status. Needs
    /// `USERS/VIEW`.
    async fn invitations(
        &self,
        ctx: &Context<'_>,
        organization: ID,
        status: Option<InvitationStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<Invitation>> {
        let organization: OrganizationId = parse_id("organization", &organization)?;
        authorize::<ViewUsers>(actor(ctx).await?, organization).map_err(refused)?;
        let request = PageRequest::parse(first, after)?;
        let now = ctx.request()?.now;
        let (records, total) = ctx
            .app()?
            .store
            .invitations_page(
                organization,
                status.map(Into::into),
                now,
                request.after,
                request.fetch,
            )
            .await
            .map_err(AppError::from)?;
        let items = records
            .into_iter()
            .map(|record| Ok((record.id.as_uuid(), Invitation::at(record, now)?)))
            .collect::<async_graphql::Result<Vec<_>>>()?;
        Ok(request.page(items, total))
    }
}

#[derive(InputObject)]
pub struct InviteUserInput {
    pub organization: ID,
    /// A new address creates an account waiting for validation; a known one gets access to
    /// accept in one click. The address's domain must be one the organization accepts.
    pub email: String,
    /// The name of a new user; ignored for a known one.
    pub full_name: String,
    /// Roles of the organization, bound organization-wide; the first becomes the default role.
    pub roles: Vec<ID>,
    /// The language of the e-mail and, for a new user, of the account.
    #[graphql(default_with = "Language::En")]
    pub language: Language,
    /// The username of a new user; made from the e-mail address when left out.
    pub username: Option<String>,
}

#[derive(InputObject)]
pub struct AcceptInvitationInput {
    /// The token from the invitation link (`.../invitations/accept?token=...`).
    pub token: String,
    /// A new user chooses their password here; an existing user leaves it out.
    pub password: Option<String>,
}

#[derive(SimpleObject, Default)]
pub struct InvitationPayload {
    pub invitation: Option<Invitation>,
    pub errors: Vec<UserError>,
}

/// The payload of a change of an invitation; `to_invitee` when the invited user made it (with
/// the link's token), who sees their own account in it.
fn payload(
    result: Result<InvitationRecord, DomainError>,
    input: &str,
    now: OffsetDateTime,
    to_invitee: bool,
) -> async_graphql::Result<InvitationPayload> {
    match result {
        Ok(record) => Ok(InvitationPayload {
            invitation: Some(Invitation {
                to_invitee,
                ..Invitation::at(record, now)?
            }),
            errors: Vec::new(),
        }),
        Err(error) => Ok(InvitationPayload {
            invitation: None,
            errors: vec![UserError::from_domain(input, &error)],
        }),
    }
}

/// The organization of an invitation the caller may manage; any other does not exist.
async fn managed_invitation(
    ctx: &Context<'_>,
    invitation: InvitationId,
) -> async_graphql::Result<steward_domain::policy::Authorized<ManageUsers>> {
    let not_found = || {
        refused(DomainError::NotFound {
            what: "the invitation",
        })
    };
    let record = ctx
        .app()?
        .store
        .invitation_by_id(invitation)
        .await
        .map_err(AppError::from)?
        .ok_or_else(not_found)?;
    let actor = actor(ctx).await?;
    if !actor.can_see(record.organization) {
        return Err(not_found());
    }
    authorize::<ManageUsers>(actor, record.organization).map_err(refused)
}

fn parse_invite(input: &InviteUserInput) -> Result<NewInvitation, DomainError> {
    let roles = parse_role_ids("roles", &input.roles)?;
    Ok(NewInvitation {
        email: EmailAddress::parse(&input.email)?,
        full_name: FullName::parse(&input.full_name)
            .map_err(|error| crate::accounts::renamed(error, "fullName"))?,
        language: input.language.into(),
        roles,
        username: input.username.as_deref().map(Username::parse).transpose()?,
    })
}

#[derive(Default)]
pub struct InvitationMutation;

#[Object]
impl InvitationMutation {
    /// Invites someone into an organization by e-mail address. The e-mail carries a link
    /// good for 24 hours. Needs `USERS/MANAGE`.
    async fn invite_user(
        &self,
        ctx: &Context<'_>,
        input: InviteUserInput,
    ) -> async_graphql::Result<InvitationPayload> {
        let organization: OrganizationId = parse_id("organization", &input.organization)?;
        let proof = authorize::<ManageUsers>(actor(ctx).await?, organization).map_err(refused)?;
        let entry = ctx.audit_entry()?;
        let invite = match parse_invite(&input) {
            Ok(invite) => invite,
            Err(error) => return payload(Err(error), "input", entry.at, false),
        };
        let link = new_link(entry.at)?;
        let result = expected(
            ctx.app()?
                .store
                .invite_user(&proof, &invite, &link, &entry)
                .await,
        )?;
        payload(result, "input", entry.at, false)
    }

    /// Sends a pending or expired invitation again with a new 24-hour link; the previous
    /// link stops working. Needs `USERS/MANAGE`.
    async fn resend_invitation(
        &self,
        ctx: &Context<'_>,
        invitation: ID,
    ) -> async_graphql::Result<InvitationPayload> {
        let id: InvitationId = parse_id("invitation", &invitation)?;
        let proof = managed_invitation(ctx, id).await?;
        let entry = ctx.audit_entry()?;
        let link = new_link(entry.at)?;
        let result = expected(
            ctx.app()?
                .store
                .resend_invitation(&proof, id, &link, &entry)
                .await,
        )?;
        payload(result, "invitation", entry.at, false)
    }

    /// Withdraws an invitation that was not accepted: its link stops working and the
    /// waiting membership is removed. Needs `USERS/MANAGE`.
    async fn revoke_invitation(
        &self,
        ctx: &Context<'_>,
        invitation: ID,
    ) -> async_graphql::Result<InvitationPayload> {
        let id: InvitationId = parse_id("invitation", &invitation)?;
        let proof = managed_invitation(ctx, id).await?;
        let entry = ctx.audit_entry()?;
        let result = expected(ctx.app()?.store.revoke_invitation(&proof, id, &entry).await)?;
        payload(result, "invitation", entry.at, false)
    }

    /// Accepts an invitation with the token from its link. Needs no login: the token is the
    /// proof. A new user sets their password here and can log in right after.
    async fn accept_invitation(
        &self,
        ctx: &Context<'_>,
        input: AcceptInvitationInput,
    ) -> async_graphql::Result<InvitationPayload> {
        let entry = ctx.audit_entry()?;
        let result = ctx
            .app()?
            .accept_invitation(&input.token, input.password, &entry)
            .await?;
        payload(result, "input", entry.at, true)
    }
}
