//! The flows that end in a link from an e-mail: accepting an invitation, validating an
//! address, resetting a password. They need the password hasher, so they live here rather
//! than in the resolvers.

use steward_domain::audit::{AuditAction, AuditOutcome};
use steward_domain::link::{LinkPurpose, unknown};
use steward_domain::password::PasswordPolicy;
use steward_domain::throttle;
use steward_domain::user::EmailAddress;
use steward_domain::{DomainError, UserId};
use steward_store::{AuditEntry, InvitationRecord, UserRecord};
use time::format_description::well_known::Rfc3339;

use crate::app::App;
use crate::auth::links::{hash_token, new_link};
use crate::error::{AppError, expected};

type Outcome<T> = Result<Result<T, DomainError>, AppError>;

impl App {
    /// The policy a new password of `user` must meet: the platform's, with the strictest
    /// composition rules of the user's organizations.
    pub async fn password_policy_for(&self, user: UserId) -> Result<PasswordPolicy, AppError> {
        Ok(PasswordPolicy::with(
            self.store.password_rules_for_user(user).await?,
        ))
    }

    /// Checks the link of `token` for `purpose` and, when a password is given, the password
    /// against the policy and the link holder's names, and hashes it. Nothing is hashed for a
    /// dead link, so made-up tokens cost no hashing.
    async fn password_for_link(
        &self,
        token_hash: &str,
        purpose: LinkPurpose,
        password: Option<String>,
        field: &'static str,
        entry: &AuditEntry,
    ) -> Outcome<Option<String>> {
        let Some(holder) = self.store.link_holder(token_hash).await? else {
            return Ok(Err(unknown()));
        };
        if let Err(error) = holder.state.check(purpose, entry.at) {
            return Ok(Err(error));
        }
        let Some(password) = password else {
            return Ok(Ok(None));
        };
        if let Err(error) = self.password_policy_for(holder.user.id).await?.check(
            &password,
            &holder.user.username,
            &holder.user.email,
        ) {
            return Ok(Err(renamed(error, field)));
        }
        Ok(Ok(Some(self.passwords.hash(password).await?)))
    }

    /// Accepts an invitation; `password` is for a new user, who sets it here.
    pub async fn accept_invitation(
        &self,
        token: &str,
        password: Option<String>,
        entry: &AuditEntry,
    ) -> Outcome<InvitationRecord> {
        let token_hash = hash_token(token);
        let hash = match self
            .password_for_link(
                &token_hash,
                LinkPurpose::Invitation,
                password,
                "password",
                entry,
            )
            .await?
        {
            Ok(hash) => hash,
            Err(error) => return Ok(Err(error)),
        };
        expected(
            self.store
                .accept_invitation(&token_hash, hash.as_deref(), entry)
                .await,
        )
    }

    /// Validates an address; `password` is for a user created without one.
    pub async fn validate_email(
        &self,
        token: &str,
        password: Option<String>,
        entry: &AuditEntry,
    ) -> Outcome<UserRecord> {
        let token_hash = hash_token(token);
        let hash = match self
            .password_for_link(
                &token_hash,
                LinkPurpose::EmailValidation,
                password,
                "password",
                entry,
            )
            .await?
        {
            Ok(hash) => hash,
            Err(error) => return Ok(Err(error)),
        };
        expected(
            self.store
                .validate_email(&token_hash, hash.as_deref(), entry)
                .await,
        )
    }

    /// Sets a new password through a reset link.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: String,
        entry: &AuditEntry,
    ) -> Outcome<UserRecord> {
        let token_hash = hash_token(token);
        let hash = match self
            .password_for_link(
                &token_hash,
                LinkPurpose::PasswordReset,
                Some(new_password),
                "newPassword",
                entry,
            )
            .await?
        {
            Ok(Some(hash)) => hash,
            Ok(None) => return Err(AppError::internal("a given password was not hashed")),
            Err(error) => return Ok(Err(error)),
        };
        expected(self.store.reset_password(&token_hash, &hash, entry).await)
    }

    /// Sends a reset link if an active account has this address. The answer is the same
    /// whether or not one has, and whether or not the request is over a limit (per typed
    /// address and per client address: a mailbox is not flooded, nor the mail server). It
    /// takes the same time too: what the answer waits for (the limits) is keyed by what was
    /// typed, never by the account, and the link is made and mailed after the answer.
    pub async fn request_password_reset(&self, email: &str, entry: &AuditEntry) -> Outcome<()> {
        let email = match EmailAddress::parse(email) {
            Ok(email) => email,
            Err(error) => return Ok(Err(error)),
        };
        let normalized = email.normalized();
        let mut limits = vec![(
            throttle::reset_email_key(&normalized),
            &self.settings.reset_email_limit,
            "email",
        )];
        if let Some(address) = &entry.client_address {
            limits.push((
                throttle::reset_address_key(address),
                &self.settings.reset_address_limit,
                "address",
            ));
        }
        for (key, _, limit) in &limits {
            if let Some(until) = self
                .store
                .login_locked_until(std::slice::from_ref(key), entry.at)
                .await?
            {
                let event = entry
                    .event(AuditAction::PasswordResetRequested, AuditOutcome::Failure)
                    .detail(serde_json::json!({
                        "reason": "rate_limited",
                        "limit": limit,
                        "until": until.format(&Rfc3339).ok(),
                    }));
                self.store.record_audit_event(&event).await?;
                return Ok(Ok(()));
            }
        }
        for (key, policy, _) in &limits {
            self.store
                .record_login_failure(key, policy, entry.at)
                .await?;
        }
        let link = new_link(entry.at)?;
        let app = self.clone();
        let entry = entry.clone();
        tokio::spawn(async move {
            match app
                .store
                .request_password_reset(&normalized, &link, &entry)
                .await
            {
                Ok(sent) => tracing::debug!(sent, "password reset requested"),
                Err(error) => tracing::error!(
                    error = %AppError::from(error).describe(),
                    "a password reset request could not be recorded"
                ),
            }
        });
        Ok(Ok(()))
    }
}

/// The same refusal, about the input field `field`.
pub fn renamed(error: DomainError, field: &'static str) -> DomainError {
    match error {
        DomainError::Invalid { reason, .. } => DomainError::Invalid { field, reason },
        other => other,
    }
}
