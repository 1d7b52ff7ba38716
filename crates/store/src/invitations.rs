//! Invitations into organizations, and the single-use links sent by e-mail.
//!
//! A link's token never reaches the database: the server hands the store the token (for the
//! outbox message that carries it) and its hash (for the `links` row). Using a link is one
//! conditional `UPDATE`, so two requests racing with the same link cannot both succeed.

use steward_domain::audit::{AuditAction, AuditOutcome};
use steward_domain::link::{LinkPurpose, LinkState, unknown};
use steward_domain::membership::{InvitationStatus, MembershipStatus};
use steward_domain::notification::Notification;
use steward_domain::organization::{EmailDomain, check_email_domain};
use steward_domain::policy::{Authorized, ManageUsers};
use steward_domain::user::{EmailAddress, FullName, Language, UserStatus, Username};
use steward_domain::{DomainError, InvitationId, OrganizationId, RoleId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::roles::{BindingScope, BindingSubject};
use crate::users::NewUser;
use crate::{
    AuditEntry, NewAuditEvent, Recipient, Result, Store, StoreError, Timestamp, Tx, UserRecord,
    on_pool, on_tx,
};

/// A link to send: the token goes into the e-mail, only the hash into the database.
#[derive(Debug, Clone)]
pub struct NewLink {
    pub token: String,
    pub token_hash: String,
    pub expires_at: OffsetDateTime,
}

/// Who is invited, and with which roles (the first becomes the default role).
#[derive(Debug, Clone)]
pub struct NewInvitation {
    pub email: EmailAddress,
    pub full_name: FullName,
    pub language: Language,
    pub roles: Vec<RoleId>,
    /// For a new user; made from the e-mail address when not given.
    pub username: Option<Username>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InvitationRecord {
    pub id: InvitationId,
    pub organization: OrganizationId,
    pub user: UserId,
    pub invited_by: Option<UserId>,
    /// As stored: `PENDING`, `ACCEPTED` or `REVOKED`; see [`InvitationRecord::status_at`].
    pub stored_status: String,
    pub language: Language,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub accepted_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

impl InvitationRecord {
    pub fn status_at(&self, now: OffsetDateTime) -> Result<InvitationStatus> {
        InvitationStatus::at(&self.stored_status, self.expires_at, now).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "unknown invitation status {:?}",
                self.stored_status
            ))
        })
    }
}

#[derive(sqlx::FromRow)]
struct InvitationRow {
    id: Uuid,
    organization_id: Uuid,
    user_id: Uuid,
    invited_by: Option<Uuid>,
    status: String,
    language: String,
    created_at: Timestamp,
    expires_at: Timestamp,
    accepted_at: Option<Timestamp>,
    revoked_at: Option<Timestamp>,
}

impl From<InvitationRow> for InvitationRecord {
    fn from(row: InvitationRow) -> Self {
        Self {
            id: InvitationId(row.id),
            organization: OrganizationId(row.organization_id),
            user: UserId(row.user_id),
            invited_by: row.invited_by.map(UserId),
            stored_status: row.status,
            language: Language::parse(&row.language).unwrap_or_default(),
            created_at: row.created_at.into(),
            expires_at: row.expires_at.into(),
            accepted_at: row.accepted_at.map(Into::into),
            revoked_at: row.revoked_at.map(Into::into),
        }
    }
}

macro_rules! select_invitations {
    () => {
        "SELECT id, organization_id, user_id, invited_by, status, language, created_at, \
         expires_at, accepted_at, revoked_at FROM invitations"
    };
}

/// The holder of a link, as found by its token's hash before it is used: enough for the
/// server to check a new password against the user's name and address.
#[derive(Debug, Clone)]
pub struct LinkHolder {
    pub state: LinkState,
    pub user: UserRecord,
    pub has_password: bool,
}

#[derive(sqlx::FromRow)]
struct LinkRow {
    user_id: Uuid,
    invitation_id: Option<Uuid>,
    purpose: String,
    expires_at: Timestamp,
    used_at: Option<Timestamp>,
    revoked_at: Option<Timestamp>,
}

impl LinkRow {
    fn state(&self) -> Result<LinkState> {
        Ok(LinkState {
            purpose: LinkPurpose::from_code(&self.purpose).ok_or_else(|| {
                StoreError::Corrupt(format!("unknown link purpose {:?}", self.purpose))
            })?,
            expires_at: self.expires_at.into(),
            used_at: self.used_at.map(Into::into),
            revoked_at: self.revoked_at.map(Into::into),
        })
    }
}

impl Tx {
    /// Stores a new link of `purpose` for `user`; every older unused link of the same
    /// purpose (and invitation) stops working.
    pub(crate) async fn insert_link(
        &mut self,
        user: UserId,
        purpose: LinkPurpose,
        invitation: Option<InvitationId>,
        link: &NewLink,
        now: OffsetDateTime,
    ) -> Result<()> {
        let now = Timestamp::from(now);
        on_tx!(self, |conn| {
            sqlx::query(
                "UPDATE links SET revoked_at = $4 WHERE user_id = $1 AND purpose = $2 \
                 AND ($3 IS NULL OR invitation_id = $3) AND used_at IS NULL AND revoked_at IS NULL",
            )
            .bind(user.as_uuid())
            .bind(purpose.code())
            .bind(invitation.map(|id| id.as_uuid()))
            .bind(now)
            .execute(&mut *conn)
            .await?;
        });
        self.insert_links(&[(user, purpose, invitation, link)], now)
            .await
    }

    /// Inserts links, many to a statement (for users who have none of their purpose yet, or
    /// after [`Tx::insert_link`] revoked the old ones).
    pub(crate) async fn insert_links(
        &mut self,
        links: &[(UserId, LinkPurpose, Option<InvitationId>, &NewLink)],
        now: Timestamp,
    ) -> Result<()> {
        // 7 parameters a link.
        for chunk in links.chunks(500) {
            on_tx!(&mut *self, |conn| {
                let mut query = sqlx::QueryBuilder::new(
                    "INSERT INTO links (id, user_id, purpose, token_hash, invitation_id, \
                     created_at, expires_at) ",
                );
                query.push_values(chunk, |mut values, (user, purpose, invitation, link)| {
                    values
                        .push_bind(Uuid::now_v7())
                        .push_bind(user.as_uuid())
                        .push_bind(purpose.code())
                        .push_bind(link.token_hash.clone())
                        .push_bind(invitation.map(|id| id.as_uuid()))
                        .push_bind(now)
                        .push_bind(Timestamp::from(link.expires_at));
                });
                query.build().execute(&mut *conn).await?;
            });
        }
        Ok(())
    }

    /// Uses the link whose token hashes to `token_hash` for `purpose`: it must exist, be of
    /// that purpose, unused, not replaced and not expired at `now`. Returns its user and
    /// invitation.
    pub(crate) async fn use_link(
        &mut self,
        token_hash: &str,
        purpose: LinkPurpose,
        now: OffsetDateTime,
    ) -> Result<(UserId, Option<InvitationId>)> {
        let row = on_tx!(self, |conn| {
            sqlx::query_as::<_, LinkRow>(
                "SELECT user_id, invitation_id, purpose, expires_at, used_at, revoked_at \
                 FROM links WHERE token_hash = $1",
            )
            .bind(token_hash)
            .fetch_optional(conn)
            .await?
        });
        let row = row.ok_or_else(unknown)?;
        row.state()?.check(purpose, now)?;
        let used = on_tx!(self, |conn| {
            sqlx::query(
                "UPDATE links SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL \
                 AND revoked_at IS NULL",
            )
            .bind(token_hash)
            .bind(Timestamp::from(now))
            .execute(conn)
            .await?
            .rows_affected()
        });
        if used == 0 {
            // Another request used or replaced it since it was read.
            return Err(DomainError::invalid(
                "token",
                "this link has been used already; use the newest e-mail",
            )
            .into());
        }
        Ok((UserId(row.user_id), row.invitation_id.map(InvitationId)))
    }

    /// Revokes every unused link of an invitation.
    async fn revoke_invitation_links(
        &mut self,
        invitation: InvitationId,
        now: Timestamp,
    ) -> Result<()> {
        on_tx!(self, |conn| {
            sqlx::query(
                "UPDATE links SET revoked_at = $2 WHERE invitation_id = $1 AND used_at IS NULL \
                 AND revoked_at IS NULL",
            )
            .bind(invitation.as_uuid())
            .bind(now)
            .execute(conn)
            .await?;
        });
        Ok(())
    }

    async fn invitation(&mut self, id: InvitationId) -> Result<InvitationRecord> {
        let row = on_tx!(self, |conn| {
            sqlx::query_as::<_, InvitationRow>(concat!(select_invitations!(), " WHERE id = $1"))
                .bind(id.as_uuid())
                .fetch_optional(conn)
                .await?
        });
        Ok(row
            .ok_or(DomainError::NotFound {
                what: "the invitation",
            })?
            .into())
    }

    /// The invitation, if it belongs to `organization`; otherwise it does not exist.
    async fn invitation_in(
        &mut self,
        organization: OrganizationId,
        id: InvitationId,
    ) -> Result<InvitationRecord> {
        let invitation = self.invitation(id).await?;
        if invitation.organization != organization {
            return Err(DomainError::NotFound {
                what: "the invitation",
            }
            .into());
        }
        Ok(invitation)
    }

    /// The message carrying an invitation's link: a set-password invitation for a user who
    /// has no password yet, a one-click access notice for one who has.
    async fn send_invitation(
        &mut self,
        invitation: &InvitationRecord,
        link: &NewLink,
        at: OffsetDateTime,
    ) -> Result<()> {
        let (organization, inviter, has_password): (String, Option<String>, bool) =
            on_tx!(self, |conn| {
                sqlx::query_as(
                    "SELECT o.name, (SELECT full_name FROM users WHERE id = $3), \
                     u.password_hash IS NOT NULL \
                     FROM organizations o, users u WHERE o.id = $1 AND u.id = $2",
                )
                .bind(invitation.organization.as_uuid())
                .bind(invitation.user.as_uuid())
                .bind(invitation.invited_by.map(|id| id.as_uuid()))
                .fetch_one(conn)
                .await?
            });
        let inviter = inviter.unwrap_or_else(|| organization.clone());
        let notification = if has_password {
            Notification::AccessGranted {
                organization,
                granted_by: inviter,
                token: link.token.clone(),
                expires_at: link.expires_at,
            }
        } else {
            Notification::Invitation {
                organization,
                inviter,
                token: link.token.clone(),
                expires_at: link.expires_at,
            }
        };
        self.notify_user(invitation.user, &notification, at).await?;
        Ok(())
    }

    /// A free username for a new user known by `email`.
    async fn free_username(&mut self, email: &EmailAddress) -> Result<Username> {
        for n in 1..=1000 {
            let candidate = Username::from_email(email, n);
            let taken: i64 = on_tx!(self, |conn| {
                sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE username_normalized = $1")
                    .bind(candidate.normalized())
                    .fetch_one(conn)
                    .await?
            });
            if taken == 0 {
                return Ok(candidate);
            }
        }
        Err(DomainError::invalid(
            "username",
            "no free username could be made from the e-mail address; give one",
        )
        .into())
    }

    /// The e-mail domains `organization` accepts.
    pub(crate) async fn email_domains(
        &mut self,
        organization: OrganizationId,
    ) -> Result<Vec<EmailDomain>> {
        let domains: Vec<String> = on_tx!(self, |conn| {
            sqlx::query_scalar(
                "SELECT domain FROM organization_email_domains WHERE organization_id = $1",
            )
            .bind(organization.as_uuid())
            .fetch_all(conn)
            .await?
        });
        domains
            .iter()
            .map(|domain| {
                EmailDomain::parse(domain)
                    .map_err(|_| StoreError::Corrupt(format!("stored e-mail domain {domain:?}")))
            })
            .collect()
    }

    /// Checks that every role is one of `organization`'s.
    pub(crate) async fn check_roles_of(
        &mut self,
        organization: OrganizationId,
        roles: &[RoleId],
    ) -> Result<()> {
        if roles.is_empty() {
            return Err(DomainError::invalid("roles", "must name at least one role").into());
        }
        for role in roles {
            let found: i64 = on_tx!(self, |conn| {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM roles WHERE id = $1 AND organization_id = $2",
                )
                .bind(role.as_uuid())
                .bind(organization.as_uuid())
                .fetch_one(conn)
                .await?
            });
            if found == 0 {
                return Err(DomainError::NotFound { what: "the role" }.into());
            }
        }
        Ok(())
    }

    /// Binds `roles` organization-wide to `user`, the first being already bound as the
    /// membership's default role.
    pub(crate) async fn bind_more_roles(
        &mut self,
        organization: OrganizationId,
        user: UserId,
        roles: &[RoleId],
        now: Timestamp,
    ) -> Result<()> {
        for (index, role) in roles.iter().enumerate().skip(1) {
            if roles[..index].contains(role) {
                continue;
            }
            self.insert_binding(
                organization,
                *role,
                BindingSubject::User(user),
                BindingScope::Organization,
                now,
            )
            .await?;
        }
        Ok(())
    }
}

impl Tx {
    /// Refuses, naming `field`, a user who is invited to `organization` or a member of it
    /// already.
    async fn refuse_membership_of(
        &mut self,
        organization: OrganizationId,
        user: UserId,
        field: &'static str,
    ) -> Result<()> {
        let membership: Option<String> = on_tx!(self, |conn| {
            sqlx::query_scalar(
                "SELECT status FROM memberships WHERE organization_id = $1 AND user_id = $2",
            )
            .bind(organization.as_uuid())
            .bind(user.as_uuid())
            .fetch_optional(conn)
            .await?
        });
        match membership.as_deref() {
            None => Ok(()),
            Some("INVITED") => Err(DomainError::conflict(
                field,
                "has a pending invitation to this organization already; resend it instead",
            )
            .into()),
            Some(_) => {
                Err(DomainError::conflict(field, "is a member of this organization already").into())
            }
        }
    }

    /// Makes `user` an `INVITED` member of `organization` with `invite.roles`, records the
    /// invitation with its link and sends it: the part of an invitation that follows finding
    /// or creating the user, shared with bulk imports.
    pub(crate) async fn open_invitation(
        &mut self,
        organization: OrganizationId,
        user: UserId,
        invite: &NewInvitation,
        link: &NewLink,
        entry: &AuditEntry,
    ) -> Result<InvitationRecord> {
        let now = Timestamp::from(entry.at);
        let tx = self;
        tx.insert_membership(
            organization,
            user,
            MembershipStatus::Invited,
            invite.roles[0],
            now,
        )
        .await?;
        tx.bind_more_roles(organization, user, &invite.roles, now)
            .await?;
        let id = InvitationId::new();
        tx.insert_invitations(
            organization,
            &[(id, user, invite.language, link)],
            entry.actor,
            now,
        )
        .await?;
        tx.audit(
            &entry
                .event(AuditAction::UserInvited, AuditOutcome::Success)
                .target("user", user)
                .organization(organization)
                .detail(serde_json::json!({
                    "invitation": id.to_string(),
                    "email": invite.email.as_str(),
                    "roles": invite.roles.iter().map(ToString::to_string).collect::<Vec<_>>(),
                })),
        )
        .await?;
        let invitation = tx.invitation(id).await?;
        tx.send_invitation(&invitation, link, entry.at).await?;
        Ok(invitation)
    }
}

impl Tx {
    /// Records pending invitations into `organization`, each with its link, many to a
    /// statement.
    async fn insert_invitations(
        &mut self,
        organization: OrganizationId,
        invitations: &[(InvitationId, UserId, Language, &NewLink)],
        invited_by: Option<UserId>,
        now: Timestamp,
    ) -> Result<()> {
        // 7 parameters an invitation.
        for chunk in invitations.chunks(500) {
            on_tx!(&mut *self, |conn| {
                let mut query = sqlx::QueryBuilder::new(
                    "INSERT INTO invitations (id, organization_id, user_id, invited_by, status, \
                     language, created_at, updated_at, expires_at) ",
                );
                query.push_values(chunk, |mut values, (id, user, language, link)| {
                    values
                        .push_bind(id.as_uuid())
                        .push_bind(organization.as_uuid())
                        .push_bind(user.as_uuid())
                        .push_bind(invited_by.map(|actor| actor.as_uuid()))
                        .push_unseparated(", 'PENDING'")
                        .push_bind(language.code())
                        .push_bind(now)
                        .push_bind(now)
                        .push_bind(Timestamp::from(link.expires_at));
                });
                query.build().execute(&mut *conn).await?;
            });
        }
        let links: Vec<(UserId, LinkPurpose, Option<InvitationId>, &NewLink)> = invitations
            .iter()
            .map(|(id, user, _, link)| (*user, LinkPurpose::Invitation, Some(*id), *link))
            .collect();
        self.insert_links(&links, now).await
    }

    /// Invites users just created (so without a password or any other invitation) into
    /// `organization`, each with the first of its invitation's roles, as [`Tx::open_invitation`]
    /// does one at a time: `INVITED` memberships, invitations with their links, audit events
    /// and the invitation e-mails, many to a statement. `links` pairs with `invited`.
    pub(crate) async fn invite_new_users(
        &mut self,
        organization: OrganizationId,
        invited: &[(UserId, NewInvitation)],
        links: &[NewLink],
        entry: &AuditEntry,
    ) -> Result<()> {
        if invited.len() != links.len() {
            return Err(StoreError::Corrupt(format!(
                "{} invitations with {} links",
                invited.len(),
                links.len()
            )));
        }
        let now = Timestamp::from(entry.at);
        let mut members = Vec::with_capacity(invited.len());
        for (user, invite) in invited {
            let role = invite.roles.first().copied().ok_or_else(|| {
                StoreError::Domain(DomainError::invalid("roles", "must name at least one role"))
            })?;
            members.push((*user, role));
        }
        self.insert_memberships(organization, &members, MembershipStatus::Invited, now)
            .await?;
        let rows: Vec<(InvitationId, UserId, Language, &NewLink)> = invited
            .iter()
            .zip(links)
            .map(|((user, invite), link)| (InvitationId::new(), *user, invite.language, link))
            .collect();
        self.insert_invitations(organization, &rows, entry.actor, now)
            .await?;
        let events: Vec<NewAuditEvent> = rows
            .iter()
            .zip(invited)
            .zip(&members)
            .map(|(((id, user, _, _), (_, invite)), (_, role))| {
                entry
                    .event(AuditAction::UserInvited, AuditOutcome::Success)
                    .target("user", *user)
                    .organization(organization)
                    .detail(serde_json::json!({
                        "invitation": id.to_string(),
                        "email": invite.email.as_str(),
                        "roles": [role.to_string()],
                    }))
            })
            .collect();
        self.audit_all(&events).await?;
        let (organization_name, inviter): (String, Option<String>) = on_tx!(&mut *self, |conn| {
            sqlx::query_as(
                "SELECT o.name, (SELECT full_name FROM users WHERE id = $2) \
                 FROM organizations o WHERE o.id = $1",
            )
            .bind(organization.as_uuid())
            .bind(entry.actor.map(|actor| actor.as_uuid()))
            .fetch_one(conn)
            .await?
        });
        let inviter = inviter.unwrap_or_else(|| organization_name.clone());
        let messages: Vec<(Recipient, Notification)> = invited
            .iter()
            .zip(links)
            .map(|((user, invite), link)| {
                (
                    Recipient {
                        user: Some(*user),
                        address: invite.email.as_str().to_owned(),
                        name: invite.full_name.as_str().to_owned(),
                        language: invite.language,
                    },
                    Notification::Invitation {
                        organization: organization_name.clone(),
                        inviter: inviter.clone(),
                        token: link.token.clone(),
                        expires_at: link.expires_at,
                    },
                )
            })
            .collect();
        self.notify_all(&messages, entry.at).await?;
        Ok(())
    }
}

impl Store {
    /// Invites someone into the proof's organization with `roles`, in one transaction: a new
    /// address becomes a user waiting for validation, whose link sets a password; a known
    /// user gets a one-click link. Either way the membership waits as `INVITED` until the
    /// link is used.
    pub async fn invite_user(
        &self,
        proof: &Authorized<ManageUsers>,
        invite: &NewInvitation,
        link: &NewLink,
        entry: &AuditEntry,
    ) -> Result<InvitationRecord> {
        let organization = proof.organization();
        let mut tx = self.begin().await?;
        tx.refuse_deleted_organization(organization).await?;
        tx.check_roles_of(organization, &invite.roles).await?;
        let domains = tx.email_domains(organization).await?;
        check_email_domain(&domains, &invite.email)?;
        let existing: Option<(Uuid, String)> = on_tx!(&mut tx, |conn| {
            sqlx::query_as("SELECT id, status FROM users WHERE email_normalized = $1")
                .bind(invite.email.normalized())
                .fetch_optional(conn)
                .await?
        });
        let user = match existing {
            Some((id, status)) => {
                let status = UserStatus::from_code(&status)
                    .ok_or_else(|| StoreError::Corrupt(format!("user status {status:?}")))?;
                status.check_invitable("email")?;
                UserId(id)
            }
            None => {
                let username = match &invite.username {
                    Some(username) => username.clone(),
                    None => tx.free_username(&invite.email).await?,
                };
                tx.insert_user(
                    &NewUser {
                        username,
                        email: invite.email.clone(),
                        full_name: invite.full_name.clone(),
                        status: UserStatus::PendingValidation,
                        platform_role: None,
                        password_hash: None,
                        must_change_password: false,
                        language: invite.language,
                    },
                    entry,
                )
                .await?
            }
        };
        tx.refuse_membership_of(organization, user, "email").await?;
        let invitation = tx
            .open_invitation(organization, user, invite, link, entry)
            .await?;
        tx.commit().await?;
        Ok(invitation)
    }

    /// Invites the existing account `user` into the proof's organization with
    /// `default_role`, with a one-click link: `addMember` by anyone but a SuperAdmin
    /// ([`steward_domain::policy::admission`]), since a membership needs the user's consent.
    pub async fn invite_member(
        &self,
        proof: &Authorized<ManageUsers>,
        user: UserId,
        default_role: RoleId,
        link: &NewLink,
        entry: &AuditEntry,
    ) -> Result<InvitationRecord> {
        let organization = proof.organization();
        let mut tx = self.begin().await?;
        tx.refuse_deleted_organization(organization).await?;
        tx.check_roles_of(organization, &[default_role]).await?;
        let account = tx.user(user).await?;
        account.status.check_invitable("user")?;
        tx.refuse_membership_of(organization, user, "user").await?;
        let invite = NewInvitation {
            email: EmailAddress::parse(&account.email)?,
            full_name: FullName::parse(&account.full_name)?,
            language: account.language,
            roles: vec![default_role],
            username: None,
        };
        let invitation = tx
            .open_invitation(organization, user, &invite, link, entry)
            .await?;
        tx.commit().await?;
        Ok(invitation)
    }

    /// Sends a pending or expired invitation again with a new link; the old link stops
    /// working.
    pub async fn resend_invitation(
        &self,
        proof: &Authorized<ManageUsers>,
        id: InvitationId,
        link: &NewLink,
        entry: &AuditEntry,
    ) -> Result<InvitationRecord> {
        let mut tx = self.begin().await?;
        tx.refuse_deleted_organization(proof.organization()).await?;
        let invitation = tx.invitation_in(proof.organization(), id).await?;
        invitation.status_at(entry.at)?.check_resend()?;
        let now = Timestamp::from(entry.at);
        on_tx!(&mut tx, |conn| {
            sqlx::query("UPDATE invitations SET expires_at = $2, updated_at = $3 WHERE id = $1")
                .bind(id.as_uuid())
                .bind(Timestamp::from(link.expires_at))
                .bind(now)
                .execute(conn)
                .await?;
        });
        tx.insert_link(
            invitation.user,
            LinkPurpose::Invitation,
            Some(id),
            link,
            entry.at,
        )
        .await?;
        tx.audit(
            &entry
                .event(AuditAction::InvitationResent, AuditOutcome::Success)
                .target("user", invitation.user)
                .organization(invitation.organization)
                .detail(serde_json::json!({ "invitation": id.to_string() })),
        )
        .await?;
        let invitation = tx.invitation(id).await?;
        tx.send_invitation(&invitation, link, entry.at).await?;
        tx.commit().await?;
        Ok(invitation)
    }

    /// Withdraws an invitation: its links stop working and the waiting membership, with the
    /// roles it was given, is removed. The user, if the invitation created it, stays waiting
    /// for validation and can be invited again.
    pub async fn revoke_invitation(
        &self,
        proof: &Authorized<ManageUsers>,
        id: InvitationId,
        entry: &AuditEntry,
    ) -> Result<InvitationRecord> {
        let mut tx = self.begin().await?;
        tx.refuse_deleted_organization(proof.organization()).await?;
        let invitation = tx.invitation_in(proof.organization(), id).await?;
        invitation.status_at(entry.at)?.check_revoke()?;
        let now = Timestamp::from(entry.at);
        tx.revoke_invitation_links(id, now).await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE invitations SET status = 'REVOKED', revoked_at = $2, updated_at = $2 \
                 WHERE id = $1",
            )
            .bind(id.as_uuid())
            .bind(now)
            .execute(&mut *conn)
            .await?;
            sqlx::query("DELETE FROM role_bindings WHERE organization_id = $1 AND user_id = $2")
                .bind(invitation.organization.as_uuid())
                .bind(invitation.user.as_uuid())
                .execute(&mut *conn)
                .await?;
            sqlx::query(
                "DELETE FROM group_members WHERE user_id = $2 AND group_id IN \
                 (SELECT id FROM groups WHERE organization_id = $1)",
            )
            .bind(invitation.organization.as_uuid())
            .bind(invitation.user.as_uuid())
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "DELETE FROM memberships WHERE organization_id = $1 AND user_id = $2 \
                 AND status = 'INVITED'",
            )
            .bind(invitation.organization.as_uuid())
            .bind(invitation.user.as_uuid())
            .execute(conn)
            .await?;
        });
        tx.refresh_effective_roles(&[invitation.user]).await?;
        tx.audit(
            &entry
                .event(AuditAction::InvitationRevoked, AuditOutcome::Success)
                .target("user", invitation.user)
                .organization(invitation.organization)
                .detail(serde_json::json!({ "invitation": id.to_string() })),
        )
        .await?;
        let invitation = tx.invitation(id).await?;
        tx.commit().await?;
        Ok(invitation)
    }

    /// Who holds the link whose token hashes to `token_hash`, without using it.
    pub async fn link_holder(&self, token_hash: &str) -> Result<Option<LinkHolder>> {
        let row = on_pool!(self, |pool| {
            sqlx::query_as::<_, LinkRow>(
                "SELECT user_id, invitation_id, purpose, expires_at, used_at, revoked_at \
                 FROM links WHERE token_hash = $1",
            )
            .bind(token_hash)
            .fetch_optional(pool)
            .await?
        });
        let Some(row) = row else {
            return Ok(None);
        };
        let user = UserId(row.user_id);
        let Some(record) = self.user_by_id(user).await? else {
            return Ok(None);
        };
        let has_password = self.password_hash(user).await?.is_some();
        Ok(Some(LinkHolder {
            state: row.state()?,
            user: record,
            has_password,
        }))
    }

    /// Accepts the invitation of the link whose token hashes to `token_hash`: the membership
    /// becomes active; a user who had no password gets `password_hash` and is validated. One
    /// transaction.
    pub async fn accept_invitation(
        &self,
        token_hash: &str,
        password_hash: Option<&str>,
        entry: &AuditEntry,
    ) -> Result<InvitationRecord> {
        let mut tx = self.begin().await?;
        let (user, invitation) = tx
            .use_link(token_hash, LinkPurpose::Invitation, entry.at)
            .await?;
        let invitation = tx.invitation(invitation.ok_or_else(unknown)?).await?;
        if invitation.stored_status != "PENDING" {
            return Err(unknown().into());
        }
        let record = tx.user(user).await?;
        let now = Timestamp::from(entry.at);
        let membership: Option<String> = on_tx!(&mut tx, |conn| {
            sqlx::query_scalar(
                "SELECT status FROM memberships WHERE organization_id = $1 AND user_id = $2",
            )
            .bind(invitation.organization.as_uuid())
            .bind(user.as_uuid())
            .fetch_optional(conn)
            .await?
        });
        let membership = membership
            .as_deref()
            .and_then(MembershipStatus::from_code)
            .ok_or_else(unknown)?;
        membership.transition(MembershipStatus::Active, record.status)?;
        match (record.status, password_hash) {
            (UserStatus::PendingValidation, Some(hash)) => {
                UserStatus::PendingValidation.transition(UserStatus::Active)?;
                on_tx!(&mut tx, |conn| {
                    sqlx::query(
                        "UPDATE users SET status = 'ACTIVE', password_hash = $2, \
                         must_change_password = $3, updated_at = $4 WHERE id = $1",
                    )
                    .bind(user.as_uuid())
                    .bind(hash)
                    .bind(false)
                    .bind(now)
                    .execute(conn)
                    .await?;
                });
            }
            (UserStatus::PendingValidation, None) => {
                // A user who has a password but was never validated (created with a
                // temporary one) is validated by accepting.
                let has_password = tx.has_password(user).await?;
                if !has_password {
                    return Err(DomainError::invalid(
                        "password",
                        "is required: choose a password for your new account",
                    )
                    .into());
                }
                on_tx!(&mut tx, |conn| {
                    sqlx::query(
                        "UPDATE users SET status = 'ACTIVE', updated_at = $2 WHERE id = $1",
                    )
                    .bind(user.as_uuid())
                    .bind(now)
                    .execute(conn)
                    .await?;
                });
            }
            (_, Some(_)) => {
                return Err(DomainError::invalid(
                    "password",
                    "must be left out: your account has a password already; change it after \
                     logging in",
                )
                .into());
            }
            (status, None) if !status.can_log_in() => {
                return Err(DomainError::forbidden(
                    "your account is not active; ask an administrator to reactivate it",
                )
                .into());
            }
            (_, None) => {}
        }
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE memberships SET status = 'ACTIVE', updated_at = $3 \
                 WHERE organization_id = $1 AND user_id = $2",
            )
            .bind(invitation.organization.as_uuid())
            .bind(user.as_uuid())
            .bind(now)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "UPDATE invitations SET status = 'ACCEPTED', accepted_at = $2, updated_at = $2 \
                 WHERE id = $1",
            )
            .bind(invitation.id.as_uuid())
            .bind(now)
            .execute(conn)
            .await?;
        });
        tx.audit(
            &AuditEntry {
                actor: Some(user),
                ..entry.clone()
            }
            .event(AuditAction::InvitationAccepted, AuditOutcome::Success)
            .target("user", user)
            .organization(invitation.organization)
            .detail(serde_json::json!({ "invitation": invitation.id.to_string() })),
        )
        .await?;
        let invitation = tx.invitation(invitation.id).await?;
        tx.commit().await?;
        Ok(invitation)
    }

    /// A page of an organization's invitations, newest first, optionally of one status at
    /// `now`, and how many match.
    pub async fn invitations_page(
        &self,
        organization: OrganizationId,
        status: Option<InvitationStatus>,
        now: OffsetDateTime,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<(Vec<InvitationRecord>, i64)> {
        // (stored status, expired?) for the wanted status; NULL means "any".
        let (stored, expired): (Option<&str>, Option<bool>) = match status {
            None => (None, None),
            Some(InvitationStatus::Pending) => (Some("PENDING"), Some(false)),
            Some(InvitationStatus::Expired) => (Some("PENDING"), Some(true)),
            Some(InvitationStatus::Accepted) => (Some("ACCEPTED"), None),
            Some(InvitationStatus::Revoked) => (Some("REVOKED"), None),
        };
        let now = Timestamp::from(now);
        let (rows, total) = on_pool!(self, |pool| {
            let rows = sqlx::query_as::<_, InvitationRow>(concat!(
                select_invitations!(),
                " WHERE organization_id = $1 AND ($2 IS NULL OR status = $2) \
                 AND ($3 IS NULL OR (expires_at <= $4) = $3) AND ($5 IS NULL OR id < $5) \
                 ORDER BY id DESC LIMIT $6"
            ))
            .bind(organization.as_uuid())
            .bind(stored)
            .bind(expired)
            .bind(now)
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            let total: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM invitations WHERE organization_id = $1 \
                 AND ($2 IS NULL OR status = $2) AND ($3 IS NULL OR (expires_at <= $4) = $3)",
            )
            .bind(organization.as_uuid())
            .bind(stored)
            .bind(expired)
            .bind(now)
            .fetch_one(pool)
            .await?;
            (rows, total)
        });
        Ok((rows.into_iter().map(Into::into).collect(), total))
    }

    /// An invitation by id, for a caller who may see its organization.
    pub async fn invitation_by_id(&self, id: InvitationId) -> Result<Option<InvitationRecord>> {
        let row = on_pool!(self, |pool| {
            sqlx::query_as::<_, InvitationRow>(concat!(select_invitations!(), " WHERE id = $1"))
                .bind(id.as_uuid())
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(Into::into))
    }
}
