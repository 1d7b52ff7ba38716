//! Account lifecycle: creation by an administrator, e-mail validation, suspension and
//! reactivation, membership status, password resets and profile edits.

use steward_domain::audit::{AuditAction, AuditOutcome};
use steward_domain::link::LinkPurpose;
use steward_domain::membership::MembershipStatus;
use steward_domain::notification::Notification;
use steward_domain::organization::check_email_domain;
use steward_domain::policy::{
    AccountAuthorized, Authorized, ManageUsers, PlatformAuthorized, Standing,
};
use steward_domain::user::{Country, FullName, Language, Phone, UserStatus};
use steward_domain::{DomainError, OrganizationId, RoleId, UserId};
use uuid::Uuid;

use crate::invitations::NewLink;
use crate::organizations::standing;
use crate::users::NewUser;
use crate::{AuditEntry, Result, Store, StoreError, Timestamp, Tx, UserRecord, on_pool, on_tx};

/// Who creates a user directly, and where.
#[derive(Debug, Clone, Copy)]
pub enum Creator<'a> {
    /// A SuperAdmin, outside any organization.
    Platform(&'a PlatformAuthorized),
    /// An administrator of an organization, which the user joins with these roles (the first
    /// is the default role).
    Organization(&'a Authorized<ManageUsers>, &'a [RoleId]),
}

/// Profile fields an administrator or the user may change; `None` leaves a field as it is,
/// `Some(None)` clears an optional one. The e-mail address is not among them: it never
/// changes.
#[derive(Debug, Clone, Default)]
pub struct ProfileChanges {
    pub full_name: Option<FullName>,
    pub country: Option<Option<Country>>,
    pub phone: Option<Option<Phone>>,
    pub language: Option<Language>,
}

impl Tx {
    /// Refuses to `doing` (such as "deleted") a user who owns an organization that exists,
    /// or only `organization` when one is given: an organization is never left without an
    /// active owner.
    pub(crate) async fn refuse_organization_owner(
        &mut self,
        user: UserId,
        organization: Option<OrganizationId>,
        doing: &str,
    ) -> Result<()> {
        let owned: Option<String> = on_tx!(self, |conn| {
            sqlx::query_scalar(
                "SELECT name FROM organizations WHERE owner_user_id = $1 AND deleted_at IS NULL \
                 AND ($2 IS NULL OR id = $2) ORDER BY name LIMIT 1",
            )
            .bind(user.as_uuid())
            .bind(organization.map(|organization| organization.as_uuid()))
            .fetch_optional(conn)
            .await?
        });
        match owned {
            Some(name) => Err(DomainError::forbidden(format!(
                "the owner of the organization {name} cannot be {doing}; transfer the \
                 organization's ownership to another member first"
            ))
            .into()),
            None => Ok(()),
        }
    }

    /// The user's status, which must be `expected` for the change to `to`; otherwise the
    /// transition is refused with `reason`.
    pub(crate) async fn require_status(
        &mut self,
        user: UserId,
        expected: UserStatus,
        to: UserStatus,
        reason: &'static str,
    ) -> Result<UserStatus> {
        let from = self.user_status(user).await?;
        if from != expected {
            return Err(DomainError::InvalidTransition {
                what: "the user's status",
                from: from.code(),
                to: to.code(),
                reason,
            }
            .into());
        }
        Ok(from)
    }

    pub(crate) async fn user_status(&mut self, user: UserId) -> Result<UserStatus> {
        let status: Option<String> = on_tx!(self, |conn| {
            sqlx::query_scalar("SELECT status FROM users WHERE id = $1")
                .bind(user.as_uuid())
                .fetch_optional(conn)
                .await?
        });
        let status = status.ok_or(DomainError::NotFound { what: "the user" })?;
        UserStatus::from_code(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("user status {status:?}")))
    }

    async fn set_user_status(
        &mut self,
        user: UserId,
        status: UserStatus,
        now: Timestamp,
    ) -> Result<()> {
        on_tx!(self, |conn| {
            sqlx::query("UPDATE users SET status = $2, updated_at = $3 WHERE id = $1")
                .bind(user.as_uuid())
                .bind(status.code())
                .bind(now)
                .execute(conn)
                .await?;
        });
        Ok(())
    }

    /// Stores a validation or reset link for `user` (older ones of its kind stop working) and
    /// writes the message that carries it.
    async fn send_link(
        &mut self,
        user: UserId,
        purpose: LinkPurpose,
        link: &NewLink,
        at: time::OffsetDateTime,
    ) -> Result<()> {
        let (token, expires_at) = (link.token.clone(), link.expires_at);
        let notification = match purpose {
            LinkPurpose::EmailValidation => Notification::EmailValidation { token, expires_at },
            LinkPurpose::PasswordReset => Notification::PasswordReset { token, expires_at },
            LinkPurpose::Invitation => {
                return Err(StoreError::Corrupt(
                    "invitation links are sent with their invitation".to_owned(),
                ));
            }
        };
        self.insert_link(user, purpose, None, link, at).await?;
        self.notify_user(user, &notification, at).await?;
        Ok(())
    }

    /// Ends every live session of `user`, or only those acting in `organization`.
    pub(crate) async fn revoke_sessions(
        &mut self,
        user: UserId,
        organization: Option<OrganizationId>,
        now: Timestamp,
    ) -> Result<()> {
        on_tx!(self, |conn| {
            sqlx::query(
                "UPDATE sessions SET revoked_at = $3 WHERE user_id = $1 AND revoked_at IS NULL \
                 AND ($2 IS NULL OR organization_id = $2)",
            )
            .bind(user.as_uuid())
            .bind(organization.map(|id| id.as_uuid()))
            .bind(now)
            .execute(conn)
            .await?;
        });
        Ok(())
    }
}

impl Store {
    /// `user`'s memberships as the policy weighs them, read afresh, those of deleted
    /// organizations left out: what an administrator must hold to change the account
    /// ([`steward_domain::policy::authorize_account`]).
    pub async fn standings_of_user(&self, user: UserId) -> Result<Vec<Standing>> {
        let rows: Vec<(Uuid, String)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT m.organization_id, m.status FROM memberships m \
                 JOIN organizations o ON o.id = m.organization_id AND o.deleted_at IS NULL \
                 WHERE m.user_id = $1",
            )
            .bind(user.as_uuid())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(organization, status)| standing(OrganizationId(organization), &status))
            .collect()
    }

    /// Creates a user waiting for validation and sends the link that validates the address
    /// (and sets a password, when `user` has none). One transaction.
    pub async fn create_user_by_admin(
        &self,
        creator: Creator<'_>,
        user: &NewUser,
        link: &NewLink,
        entry: &AuditEntry,
    ) -> Result<UserRecord> {
        let now = Timestamp::from(entry.at);
        let mut tx = self.begin().await?;
        if let Creator::Organization(proof, roles) = creator {
            tx.refuse_deleted_organization(proof.organization()).await?;
            tx.check_roles_of(proof.organization(), roles).await?;
            let domains = tx.email_domains(proof.organization()).await?;
            check_email_domain(&domains, &user.email)?;
        }
        let id = tx
            .insert_user(
                &NewUser {
                    status: UserStatus::PendingValidation,
                    platform_role: None,
                    ..user.clone()
                },
                entry,
            )
            .await?;
        if let Creator::Organization(proof, roles) = creator {
            tx.insert_membership(
                proof.organization(),
                id,
                MembershipStatus::Active,
                roles[0],
                now,
            )
            .await?;
            tx.bind_more_roles(proof.organization(), id, roles, now)
                .await?;
            tx.audit(
                &entry
                    .event(AuditAction::MemberAdded, AuditOutcome::Success)
                    .target("user", id)
                    .organization(proof.organization())
                    .detail(serde_json::json!({ "defaultRole": roles[0].to_string() })),
            )
            .await?;
        }
        tx.send_link(id, LinkPurpose::EmailValidation, link, entry.at)
            .await?;
        tx.commit_returning(id).await
    }

    /// Validates the address of the link's user, who becomes active; a user without a
    /// password must give one (`password_hash`).
    pub async fn validate_email(
        &self,
        token_hash: &str,
        password_hash: Option<&str>,
        entry: &AuditEntry,
    ) -> Result<UserRecord> {
        let mut tx = self.begin().await?;
        let (user, _) = tx
            .use_link(token_hash, LinkPurpose::EmailValidation, entry.at)
            .await?;
        let status = tx.user_status(user).await?;
        let to = status.transition(UserStatus::Active).map_err(|_| {
            DomainError::invalid(
                "token",
                "this account is validated already; log in with your password",
            )
        })?;
        let has_password = tx.has_password(user).await?;
        let now = Timestamp::from(entry.at);
        match (has_password, password_hash) {
            (false, None) => {
                return Err(DomainError::invalid(
                    "password",
                    "is required: choose a password for your new account",
                )
                .into());
            }
            (true, Some(_)) => {
                return Err(DomainError::invalid(
                    "password",
                    "must be left out: your account has a temporary password, which you \
                     change at your first login",
                )
                .into());
            }
            (false, Some(hash)) => {
                on_tx!(&mut tx, |conn| {
                    sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                        .bind(user.as_uuid())
                        .bind(hash)
                        .execute(conn)
                        .await?;
                });
            }
            (true, None) => {}
        }
        tx.set_user_status(user, to, now).await?;
        tx.audit(
            &AuditEntry {
                actor: Some(user),
                ..entry.clone()
            }
            .event(AuditAction::EmailValidated, AuditOutcome::Success)
            .target("user", user),
        )
        .await?;
        tx.commit_returning(user).await
    }

    /// Sends a user who is still waiting for validation a new link; the old one stops
    /// working.
    pub async fn resend_validation(
        &self,
        proof: &AccountAuthorized,
        link: &NewLink,
        entry: &AuditEntry,
    ) -> Result<()> {
        let user = proof.user();
        let mut tx = self.begin().await?;
        if tx.user_status(user).await? != UserStatus::PendingValidation {
            return Err(
                DomainError::invalid("user", "is validated already; nothing to resend").into(),
            );
        }
        tx.audit(
            &entry
                .event(AuditAction::ValidationResent, AuditOutcome::Success)
                .target("user", user),
        )
        .await?;
        tx.send_link(user, LinkPurpose::EmailValidation, link, entry.at)
            .await?;
        tx.commit().await
    }

    /// Suspends the account: it can no longer log in, its sessions end at once, and the user
    /// is told (with `reason`, if given).
    pub async fn suspend_user(
        &self,
        proof: &AccountAuthorized,
        reason: Option<&str>,
        entry: &AuditEntry,
    ) -> Result<UserRecord> {
        let user = proof.user();
        let now = Timestamp::from(entry.at);
        let mut tx = self.begin().await?;
        let to = tx
            .user_status(user)
            .await?
            .transition(UserStatus::Suspended)?;
        tx.refuse_organization_owner(user, None, "suspended")
            .await?;
        tx.set_user_status(user, to, now).await?;
        tx.revoke_sessions(user, None, now).await?;
        tx.audit(
            &entry
                .event(AuditAction::UserSuspended, AuditOutcome::Success)
                .target("user", user)
                .detail(serde_json::json!({ "reason": reason })),
        )
        .await?;
        tx.notify_user(
            user,
            &Notification::Suspended {
                reason: reason.map(ToOwned::to_owned),
            },
            entry.at,
        )
        .await?;
        tx.commit_returning(user).await
    }

    /// Reactivates a suspended account and tells the user.
    pub async fn reactivate_user(
        &self,
        proof: &AccountAuthorized,
        entry: &AuditEntry,
    ) -> Result<UserRecord> {
        let user = proof.user();
        let now = Timestamp::from(entry.at);
        let mut tx = self.begin().await?;
        // Only a suspension is undone here: a pending deletion is restored elsewhere.
        let from = tx
            .require_status(
                user,
                UserStatus::Suspended,
                UserStatus::Active,
                "only a suspended user can be reactivated",
            )
            .await?;
        let to = from.transition(UserStatus::Active)?;
        tx.set_user_status(user, to, now).await?;
        tx.audit(
            &entry
                .event(AuditAction::UserReactivated, AuditOutcome::Success)
                .target("user", user),
        )
        .await?;
        tx.notify_user(user, &Notification::Reactivated, entry.at)
            .await?;
        tx.commit_returning(user).await
    }

    /// Disables or enables `user`'s membership of the proof's organization. Disabling ends
    /// the user's sessions acting in it at once; the user keeps their other organizations.
    pub async fn set_membership_status(
        &self,
        proof: &Authorized<ManageUsers>,
        user: UserId,
        to: MembershipStatus,
        entry: &AuditEntry,
    ) -> Result<()> {
        let organization = proof.organization();
        if user == proof.actor() && to == MembershipStatus::Disabled {
            return Err(DomainError::forbidden(
                "you cannot disable your own membership; ask another administrator",
            )
            .into());
        }
        let now = Timestamp::from(entry.at);
        let mut tx = self.begin().await?;
        tx.refuse_deleted_organization(organization).await?;
        let current: Option<String> = on_tx!(&mut tx, |conn| {
            sqlx::query_scalar(
                "SELECT status FROM memberships WHERE organization_id = $1 AND user_id = $2",
            )
            .bind(organization.as_uuid())
            .bind(user.as_uuid())
            .fetch_optional(conn)
            .await?
        });
        let current = current
            .as_deref()
            .and_then(MembershipStatus::from_code)
            .ok_or(DomainError::NotFound { what: "the member" })?;
        if to == MembershipStatus::Disabled {
            tx.refuse_organization_owner(user, Some(organization), "disabled")
                .await?;
        }
        let user_status = tx.user_status(user).await?;
        let to = current.transition(to, user_status)?;
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE memberships SET status = $3, updated_at = $4 \
                 WHERE organization_id = $1 AND user_id = $2",
            )
            .bind(organization.as_uuid())
            .bind(user.as_uuid())
            .bind(to.code())
            .bind(now)
            .execute(conn)
            .await?;
        });
        let name: String = on_tx!(&mut tx, |conn| {
            sqlx::query_scalar("SELECT name FROM organizations WHERE id = $1")
                .bind(organization.as_uuid())
                .fetch_one(conn)
                .await?
        });
        let (action, notification) = if to == MembershipStatus::Disabled {
            tx.revoke_sessions(user, Some(organization), now).await?;
            (
                AuditAction::MembershipDisabled,
                Notification::MembershipDisabled { organization: name },
            )
        } else {
            (
                AuditAction::MembershipEnabled,
                Notification::MembershipEnabled { organization: name },
            )
        };
        tx.audit(
            &entry
                .event(action, AuditOutcome::Success)
                .target("user", user)
                .organization(organization),
        )
        .await?;
        tx.notify_user(user, &notification, entry.at).await?;
        tx.commit().await
    }

    /// Sends a password reset link to the active user with this (normalized) address, if
    /// there is one; otherwise does nothing. Returns whether a link was sent, which the caller
    /// must not tell the requester.
    pub async fn request_password_reset(
        &self,
        email_normalized: &str,
        link: &NewLink,
        entry: &AuditEntry,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let found: Option<(Uuid, String)> = on_tx!(&mut tx, |conn| {
            sqlx::query_as("SELECT id, status FROM users WHERE email_normalized = $1")
                .bind(email_normalized)
                .fetch_optional(conn)
                .await?
        });
        let Some((id, status)) = found else {
            return Ok(false);
        };
        if status != UserStatus::Active.code() {
            return Ok(false);
        }
        let user = UserId(id);
        tx.audit(
            &entry
                .event(AuditAction::PasswordResetRequested, AuditOutcome::Success)
                .target("user", user),
        )
        .await?;
        tx.send_link(user, LinkPurpose::PasswordReset, link, entry.at)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Sets the password of the reset link's user, ends all their sessions, and tells them.
    pub async fn reset_password(
        &self,
        token_hash: &str,
        password_hash: &str,
        entry: &AuditEntry,
    ) -> Result<UserRecord> {
        let now = Timestamp::from(entry.at);
        let mut tx = self.begin().await?;
        let (user, _) = tx
            .use_link(token_hash, LinkPurpose::PasswordReset, entry.at)
            .await?;
        if !tx.user_status(user).await?.can_log_in() {
            return Err(
                DomainError::forbidden("your account is not active; ask an administrator").into(),
            );
        }
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE users SET password_hash = $2, must_change_password = $3, updated_at = $4 \
                 WHERE id = $1",
            )
            .bind(user.as_uuid())
            .bind(password_hash)
            .bind(false)
            .bind(now)
            .execute(conn)
            .await?;
        });
        tx.revoke_sessions(user, None, now).await?;
        tx.audit(
            &AuditEntry {
                actor: Some(user),
                ..entry.clone()
            }
            .event(AuditAction::PasswordReset, AuditOutcome::Success)
            .target("user", user),
        )
        .await?;
        tx.notify_user(
            user,
            &Notification::PasswordChanged {
                changed_at: entry.at,
            },
            entry.at,
        )
        .await?;
        tx.commit_returning(user).await
    }

    /// An administrator's reset: the user's sessions end, the next login must change the
    /// password, and a reset link is sent.
    pub async fn force_password_reset(
        &self,
        proof: &AccountAuthorized,
        link: &NewLink,
        entry: &AuditEntry,
    ) -> Result<UserRecord> {
        let user = proof.user();
        let now = Timestamp::from(entry.at);
        let mut tx = self.begin().await?;
        if !tx.user_status(user).await?.can_log_in() {
            return Err(DomainError::invalid(
                "user",
                "is not active; only an active user's password can be reset",
            )
            .into());
        }
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE users SET must_change_password = $2, updated_at = $3 WHERE id = $1",
            )
            .bind(user.as_uuid())
            .bind(true)
            .bind(now)
            .execute(conn)
            .await?;
        });
        tx.revoke_sessions(user, None, now).await?;
        tx.audit(
            &entry
                .event(AuditAction::PasswordResetForced, AuditOutcome::Success)
                .target("user", user),
        )
        .await?;
        tx.send_link(user, LinkPurpose::PasswordReset, link, entry.at)
            .await?;
        tx.commit_returning(user).await
    }

    /// Changes profile fields of `user`, who has been authorized by the caller (the user, or
    /// an administrator of the account).
    pub async fn update_profile(
        &self,
        user: UserId,
        changes: &ProfileChanges,
        entry: &AuditEntry,
    ) -> Result<UserRecord> {
        let now = Timestamp::from(entry.at);
        let mut tx = self.begin().await?;
        let current = tx.user(user).await?;
        if current.status == UserStatus::Deleted {
            return Err(
                DomainError::invalid("user", "has been deleted; nothing can change").into(),
            );
        }
        let country = match &changes.country {
            None => current.country.clone(),
            Some(country) => country.as_ref().map(|c| c.as_str().to_owned()),
        };
        let phone = match &changes.phone {
            None => current.phone.clone(),
            Some(phone) => phone.as_ref().map(|p| p.as_str().to_owned()),
        };
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE users SET full_name = $2, country = $3, phone = $4, language = $5, \
                 updated_at = $6 WHERE id = $1",
            )
            .bind(user.as_uuid())
            .bind(
                changes
                    .full_name
                    .as_ref()
                    .map_or(current.full_name.as_str(), FullName::as_str),
            )
            .bind(country.as_deref())
            .bind(phone.as_deref())
            .bind(changes.language.unwrap_or(current.language).code())
            .bind(now)
            .execute(conn)
            .await?;
        });
        let mut changed = Vec::new();
        for (name, given) in [
            ("fullName", changes.full_name.is_some()),
            ("country", changes.country.is_some()),
            ("phone", changes.phone.is_some()),
            ("language", changes.language.is_some()),
        ] {
            if given {
                changed.push(name);
            }
        }
        tx.audit(
            &entry
                .event(AuditAction::ProfileUpdated, AuditOutcome::Success)
                .target("user", user)
                .detail(serde_json::json!({ "fields": changed })),
        )
        .await?;
        tx.commit_returning(user).await
    }
}
