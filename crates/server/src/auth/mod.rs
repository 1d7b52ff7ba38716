//! Authentication: who is calling, and the login and password-change flows.

pub mod links;
pub mod mfa;
pub mod password;
pub mod tokens;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SecureRandom as _;
use steward_domain::audit::{AuditAction, AuditOutcome};
use steward_domain::login::LoginName;
use steward_domain::policy::{Actor, MemberGrant};
use steward_domain::throttle;
use steward_domain::user::{PlatformRole, UserStatus};
use steward_domain::{ApiKeyId, DomainError, OrganizationId, RoleId, SessionId, UserId};
use steward_store::{
    AuditEntry, NewRefreshToken, NewSession, Refreshed, SessionPrincipal, UserRecord,
};
use time::OffsetDateTime;

use crate::app::App;
use crate::error::AppError;
use links::hash_token;
use mfa::SecondFactor;
use password::Verification;

/// `bytes` random bytes from the operating system, URL-safe base64 encoded.
pub fn random_token(bytes: usize) -> Result<String, AppError> {
    let mut buffer = vec![0u8; bytes];
    ring::rand::SystemRandom::new()
        .fill(&mut buffer)
        .map_err(|_| AppError::internal("the system random source failed"))?;
    Ok(URL_SAFE_NO_PAD.encode(buffer))
}

/// The caller of a request, as its credentials say.
#[derive(Debug, Clone)]
pub enum Authentication {
    /// No credentials were sent.
    Anonymous,
    /// A valid access token of a live session of an active user.
    Session(Principal),
    /// Credentials were sent but are not valid; the reason is safe to show.
    Rejected(&'static str),
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub user_id: UserId,
    /// What the caller presented.
    pub credential: Credential,
    pub platform_role: Option<PlatformRole>,
    pub must_change_password: bool,
    /// The organization and role the token acts in; checked against the bindings on every
    /// request, never trusted on its own.
    pub active: Option<(OrganizationId, RoleId)>,
    /// The caller's account, when it was read with the credentials (a login session's is:
    /// `me` reads nothing more).
    pub account: Option<Arc<UserRecord>>,
}

/// The credential behind a principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// An access token of a login session.
    Session(SessionId),
    /// An API key; with an organization, it acts only there, with `roles` of its owner (none:
    /// the owner's default role).
    ApiKey {
        key: ApiKeyId,
        organization: Option<OrganizationId>,
        roles: Vec<RoleId>,
    },
}

impl Principal {
    pub fn is_super_admin(&self) -> bool {
        self.platform_role == Some(PlatformRole::SuperAdmin)
    }

    /// The login session, for what only a session may do (log out, switch role, manage
    /// sessions and keys); an API key is refused.
    pub fn session(&self) -> Result<SessionId, DomainError> {
        match &self.credential {
            Credential::Session(session) => Ok(*session),
            Credential::ApiKey { .. } => Err(DomainError::forbidden(
                "this needs a login session; an API key cannot do it",
            )),
        }
    }
}

/// Where a request comes from, for audit events and sessions.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub address: Option<String>,
    pub user_agent: Option<String>,
}

/// A successful login.
#[derive(Debug, Clone)]
pub struct LoginSuccess {
    pub access_token: String,
    pub expires_at: OffsetDateTime,
    /// Opaque; exchanged for a new pair by `refreshSession`, once.
    pub refresh_token: String,
    pub refresh_expires_at: OffsetDateTime,
    pub user: UserRecord,
}

/// A session renewed with a refresh token.
#[derive(Debug, Clone)]
pub struct RefreshSuccess {
    pub access_token: String,
    pub expires_at: OffsetDateTime,
    pub refresh_token: String,
    pub refresh_expires_at: OffsetDateTime,
}

/// An expected reason a login fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginFailure {
    /// The form is not filled in correctly.
    Invalid(DomainError),
    /// Unknown account or wrong password; the two are not told apart.
    WrongCredentials,
    /// The password is right but the account may not log in now.
    NotActive(UserStatus),
    /// Too many failures for the account or the client address; the password was not
    /// checked.
    LockedOut {
        until: OffsetDateTime,
        now: OffsetDateTime,
    },
    /// The password is right and two-factor authentication is on: the code is needed.
    MfaRequired,
    /// The two-factor code or recovery code is wrong or used; the message says which.
    InvalidMfaCode(String),
}

impl LoginFailure {
    pub fn message(&self) -> String {
        match self {
            LoginFailure::Invalid(error) => error.to_string(),
            LoginFailure::WrongCredentials => "the login or the password is wrong".to_owned(),
            LoginFailure::NotActive(UserStatus::PendingValidation) => {
                "the account is not validated yet; use the link in the activation e-mail".to_owned()
            }
            LoginFailure::NotActive(UserStatus::Suspended) => {
                "the account is suspended; ask an administrator to reactivate it".to_owned()
            }
            LoginFailure::NotActive(_) => "the account has been deleted".to_owned(),
            LoginFailure::LockedOut { until, now } => {
                steward_domain::throttle::locked_out(*until, *now)
            }
            LoginFailure::MfaRequired => {
                "two-factor authentication is on for this account: send the authenticator's \
                 code as totpCode, or a recovery code as recoveryCode"
                    .to_owned()
            }
            LoginFailure::InvalidMfaCode(message) => message.clone(),
        }
    }

    fn audit_reason(&self) -> &'static str {
        match self {
            LoginFailure::Invalid(_) => "invalid_input",
            LoginFailure::WrongCredentials => "wrong_credentials",
            LoginFailure::NotActive(_) => "account_not_active",
            LoginFailure::LockedOut { .. } => "locked_out",
            LoginFailure::MfaRequired => "mfa_required",
            LoginFailure::InvalidMfaCode(_) => "invalid_mfa_code",
        }
    }
}

impl App {
    /// What the principal holds in each of its organizations, for the policy. One statement.
    pub async fn actor(&self, principal: &Principal) -> Result<Actor, AppError> {
        let grants: Vec<MemberGrant> = match &principal.credential {
            Credential::ApiKey {
                organization: Some(organization),
                roles,
                ..
            } => {
                self.api_key_grants(principal.user_id, *organization, roles)
                    .await?
            }
            _ => {
                self.store
                    .member_grants(principal.user_id, principal.active)
                    .await?
            }
        };
        Ok(Actor::new(
            principal.user_id,
            principal.platform_role,
            grants,
        ))
    }

    /// What a key limited to `organization` holds there: the union of `roles`, each with the
    /// projects it is bound for, as far as they are still bound to its owner; without roles,
    /// what a session with the default role holds (with every project binding). Nothing
    /// elsewhere.
    async fn api_key_grants(
        &self,
        user: UserId,
        organization: OrganizationId,
        roles: &[RoleId],
    ) -> Result<Vec<MemberGrant>, AppError> {
        if roles.is_empty() {
            let grants = self.store.member_grants(user, None).await?;
            return Ok(grants
                .into_iter()
                .filter(|grant| grant.organization == organization)
                .collect());
        }
        let mut merged: Option<MemberGrant> = None;
        for role in roles {
            let grant = self
                .store
                .member_grant_of_role(user, organization, *role)
                .await?;
            let Some(grant) = grant else { continue };
            match &mut merged {
                None => merged = Some(grant),
                Some(merged) => {
                    for permission in grant.permissions.iter() {
                        merged.permissions.insert(permission);
                    }
                    for (project, permissions) in grant.project_permissions {
                        let entry = merged.project_permissions.entry(project).or_default();
                        for permission in permissions.iter() {
                            entry.insert(permission);
                        }
                    }
                }
            }
        }
        Ok(merged.into_iter().collect())
    }

    /// Makes another of the caller's roles (in any of the caller's organizations) the active
    /// one, and returns an access token that carries it.
    pub async fn switch_role(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        role: RoleId,
        entry: &AuditEntry,
    ) -> Result<Result<(String, OffsetDateTime), DomainError>, AppError> {
        let session = match principal.session() {
            Ok(session) => session,
            Err(error) => return Ok(Err(error)),
        };
        if let Err(error) = crate::error::expected(
            self.store
                .switch_session_role(session, principal.user_id, organization, role, entry)
                .await,
        )? {
            return Ok(Err(error));
        }
        let token = self.tokens.issue(
            principal.user_id,
            session,
            Some((organization, role)),
            entry.at,
            self.settings.access_token_ttl,
        )?;
        Ok(Ok(token))
    }

    /// Reads the bearer token of a request (`Authorization: Bearer ...`) and finds its session.
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Authentication, AppError> {
        let Some(value) = authorization else {
            return Ok(Authentication::Anonymous);
        };
        let token = match bearer_token(value) {
            Ok(token) => token,
            Err(rejected) => return Ok(Authentication::Rejected(rejected)),
        };
        if tokens::claims_api_key(token) {
            return self.authenticate_api_key(token, now).await;
        }
        let claims = match self.tokens.verify(token, now) {
            Ok(claims) => claims,
            Err(rejected) => return Ok(Authentication::Rejected(rejected.0)),
        };
        let Some(session) = self.store.live_session(claims.session_id(), now).await? else {
            return Ok(Authentication::Rejected(
                "the session has ended; log in again",
            ));
        };
        Ok(principal_of(session, claims.user_id(), claims.active()))
    }

    /// An API key is found by its hash: revoked keys, suspended owners and disabled
    /// memberships stop it on its next request, whichever instance answers. Its use is noted
    /// in memory and written in batches ([`App::flush_api_key_uses`]).
    async fn authenticate_api_key(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Authentication, AppError> {
        let key = match self
            .store
            .api_key_principal(&hash_token(token), now)
            .await?
        {
            Ok(key) => key,
            Err(reason) => return Ok(Authentication::Rejected(reason)),
        };
        self.api_key_uses.note(key.key, now);
        Ok(Authentication::Session(Principal {
            user_id: key.user,
            // A key limited to an organization carries no platform power.
            platform_role: key
                .organization
                .is_none()
                .then_some(key.platform_role)
                .flatten(),
            must_change_password: false,
            active: None,
            account: None,
            credential: Credential::ApiKey {
                key: key.key,
                organization: key.organization,
                roles: key.roles,
            },
        }))
    }

    /// Writes the noted API key uses.
    pub async fn flush_api_key_uses(&self) -> Result<(), AppError> {
        let uses = self.api_key_uses.take();
        self.store.record_api_key_uses(&uses).await?;
        Ok(())
    }

    /// Checks a login (and its second factor when two-factor authentication is on) and opens
    /// a session. Every attempt leaves an audit event.
    pub async fn login(
        &self,
        login: &str,
        password: String,
        second: SecondFactor,
        client: &ClientInfo,
        now: OffsetDateTime,
    ) -> Result<Result<LoginSuccess, LoginFailure>, AppError> {
        let entry = AuditEntry {
            actor: None,
            client_address: client.address.clone(),
            at: now,
        };
        let address_key = client.address.as_deref().map(throttle::address_key);
        let name = match LoginName::parse(login) {
            Ok(name) => name,
            Err(error) => {
                // A malformed login still costs a hash, so input shape reveals nothing; and
                // it is a guess like any other, counted against the client address (it
                // names no account), so that odd spellings of a name are no way around the
                // lockout.
                let keys: Vec<String> = address_key.into_iter().collect();
                if let Some(until) = self.store.login_locked_until(&keys, now).await? {
                    return self
                        .login_failed(&entry, None, login, LoginFailure::LockedOut { until, now })
                        .await;
                }
                self.passwords.verify(password, None).await?;
                self.count_login_failure(&entry, None, &keys).await?;
                return self
                    .login_failed(&entry, None, login, LoginFailure::Invalid(error))
                    .await;
            }
        };
        let candidate = self.store.login_candidate(&name.normalized()).await?;
        // An unknown name is throttled under its own key, exactly like an account, so a
        // lockout does not tell whether the account exists.
        let mut keys = vec![match &candidate {
            Some(candidate) => throttle::account_key(candidate.id),
            None => throttle::unknown_login_key(&name.normalized()),
        }];
        keys.extend(address_key);
        if let Some(until) = self.store.login_locked_until(&keys, now).await? {
            let actor = candidate.as_ref().map(|candidate| candidate.id);
            return self
                .login_failed(&entry, actor, login, LoginFailure::LockedOut { until, now })
                .await;
        }
        let stored_hash = candidate
            .as_ref()
            .and_then(|candidate| candidate.password_hash.clone());
        let verification = self.passwords.verify(password, stored_hash).await?;
        let (candidate, rehashed) = match (candidate, verification) {
            (Some(candidate), Verification::Valid { rehashed }) => (candidate, rehashed),
            (candidate, _) => {
                let actor = candidate.map(|candidate| candidate.id);
                self.count_login_failure(&entry, actor, &keys).await?;
                return self
                    .login_failed(&entry, actor, login, LoginFailure::WrongCredentials)
                    .await;
            }
        };
        let totp = self.login_totp(candidate.id).await?;
        // With two-factor authentication on, a right password alone does not end the count:
        // only the right code does, so that the codes cannot be guessed without limit.
        if totp.is_none() {
            self.store.clear_login_throttle(&keys[0]).await?;
        }
        if !candidate.status.can_log_in() {
            let failure = LoginFailure::NotActive(candidate.status);
            return self
                .login_failed(&entry, Some(candidate.id), login, failure)
                .await;
        }
        if let Some(totp) = totp {
            let user_entry = AuditEntry {
                actor: Some(candidate.id),
                ..entry.clone()
            };
            if let Err(failure) = self
                .check_second_factor(&totp, &second, &user_entry)
                .await?
            {
                if failure != LoginFailure::MfaRequired {
                    self.count_login_failure(&entry, Some(candidate.id), &keys)
                        .await?;
                }
                return self
                    .login_failed(&entry, Some(candidate.id), login, failure)
                    .await;
            }
            self.store.clear_login_throttle(&keys[0]).await?;
        }
        let active = self.store.login_context(candidate.id).await?;
        let session = NewSession {
            id: SessionId::new(),
            user_id: candidate.id,
            active,
            created_at: now,
            expires_at: now + self.settings.session_ttl,
            client_address: client.address.clone(),
            user_agent: client.user_agent.clone(),
        };
        let entry = AuditEntry {
            actor: Some(candidate.id),
            ..entry
        };
        let refresh = self.new_refresh_token(now)?;
        self.store
            .record_login_with_refresh(&session, rehashed.as_deref(), Some(&refresh.1), &entry)
            .await?;
        let (access_token, expires_at) = self.tokens.issue(
            candidate.id,
            session.id,
            active,
            now,
            self.settings.access_token_ttl,
        )?;
        let user = self
            .store
            .user_by_id(candidate.id)
            .await?
            .ok_or_else(|| AppError::internal("a user vanished during login"))?;
        Ok(Ok(LoginSuccess {
            access_token,
            expires_at,
            refresh_token: refresh.0,
            refresh_expires_at: refresh.1.expires_at,
            user,
        }))
    }

    /// A new refresh token (for the client) and what the store keeps of it.
    fn new_refresh_token(
        &self,
        now: OffsetDateTime,
    ) -> Result<(String, NewRefreshToken), AppError> {
        let token = random_token(32)?;
        let stored = NewRefreshToken {
            token_hash: hash_token(&token),
            expires_at: now + self.settings.session_ttl,
        };
        Ok((token, stored))
    }

    /// Exchanges a refresh token for a new access token and a new refresh token; the one
    /// given is used up. A token presented a second time ends its session.
    pub async fn refresh_session(
        &self,
        refresh_token: &str,
        client: &ClientInfo,
        now: OffsetDateTime,
    ) -> Result<Result<RefreshSuccess, DomainError>, AppError> {
        let entry = AuditEntry {
            actor: None,
            client_address: client.address.clone(),
            at: now,
        };
        let next = self.new_refresh_token(now)?;
        let refreshed = match crate::error::expected(
            self.store
                .refresh_session(&hash_token(refresh_token), &next.1, &entry)
                .await,
        )? {
            Ok(refreshed) => refreshed,
            Err(error) => return Ok(Err(error)),
        };
        let Refreshed::Rotated {
            session,
            user,
            active,
        } = refreshed
        else {
            return Ok(Err(DomainError::invalid(
                "refreshToken",
                "this refresh token was used before, so a copy of it may be in other hands: \
                 the session has been ended for safety; log in again",
            )));
        };
        let (access_token, expires_at) =
            self.tokens
                .issue(user, session, active, now, self.settings.access_token_ttl)?;
        Ok(Ok(RefreshSuccess {
            access_token,
            expires_at,
            refresh_token: next.0,
            refresh_expires_at: next.1.expires_at,
        }))
    }

    /// Counts a wrong password against each key; a key this failure locks gets an audit
    /// event of its own.
    async fn count_login_failure(
        &self,
        entry: &AuditEntry,
        user: Option<UserId>,
        keys: &[String],
    ) -> Result<(), AppError> {
        for key in keys {
            let policy = if key.starts_with(&throttle::address_key("")) {
                &self.settings.address_throttle
            } else {
                &self.settings.account_throttle
            };
            if let Some(until) = self
                .store
                .record_login_failure(key, policy, entry.at)
                .await?
            {
                let mut event = AuditEntry {
                    actor: user,
                    ..entry.clone()
                }
                .event(AuditAction::LoginLockedOut, AuditOutcome::Failure)
                .detail(serde_json::json!({
                    "key": key.split(':').next().unwrap_or_default(),
                    "until": until.format(&time::format_description::well_known::Rfc3339).ok(),
                }));
                if let Some(user) = user {
                    event = event.target("user", user);
                }
                self.store.record_audit_event(&event).await?;
            }
        }
        Ok(())
    }

    /// Checks the password a logged-in caller gives to confirm a sensitive change
    /// (`changePassword`, `disableTotp`, `regenerateRecoveryCodes`, `deleteMyAccount`). It is
    /// a guess like a login's: refused unchecked while the account or the client address is
    /// locked out, and a wrong one counts toward both lockouts, so a stolen session cannot
    /// try passwords without limit. A right one does not clear the count: only a login does.
    pub(crate) async fn check_password(
        &self,
        user: UserId,
        password: String,
        entry: &AuditEntry,
    ) -> Result<Result<(), DomainError>, AppError> {
        let keys = guess_keys(user, entry);
        if let Some(until) = self.store.login_locked_until(&keys, entry.at).await? {
            return Ok(Err(DomainError::invalid(
                "password",
                throttle::locked_out(until, entry.at),
            )));
        }
        // A user without a password is checked against the decoy: the same cost, never right.
        let stored = self.store.password_hash(user).await?;
        if self.passwords.verify(password, stored).await? == Verification::Invalid {
            self.count_login_failure(entry, Some(user), &keys).await?;
            return Ok(Err(DomainError::invalid("password", "is wrong")));
        }
        Ok(Ok(()))
    }

    /// Clears the lockout of an account the caller may administer.
    pub async fn clear_login_lockout(
        &self,
        user: UserId,
        entry: &AuditEntry,
    ) -> Result<bool, AppError> {
        let cleared = self
            .store
            .clear_login_throttle(&throttle::account_key(user))
            .await?;
        self.store
            .record_audit_event(
                &entry
                    .event(AuditAction::LoginLockoutCleared, AuditOutcome::Success)
                    .target("user", user)
                    .detail(serde_json::json!({ "hadFailures": cleared })),
            )
            .await?;
        Ok(cleared)
    }

    async fn login_failed(
        &self,
        entry: &AuditEntry,
        user: Option<UserId>,
        login: &str,
        failure: LoginFailure,
    ) -> Result<Result<LoginSuccess, LoginFailure>, AppError> {
        let mut event = AuditEntry {
            actor: user,
            ..entry.clone()
        }
        .event(AuditAction::LoginFailed, AuditOutcome::Failure)
        .detail(serde_json::json!({
            // What was typed into the login field, cut short; never the password.
            "login": login.chars().take(64).collect::<String>(),
            "reason": failure.audit_reason(),
        }));
        if let Some(user) = user {
            event = event.target("user", user);
        }
        self.store.record_audit_event(&event).await?;
        Ok(Err(failure))
    }

    /// Changes the caller's password after checking the current one, and ends every other
    /// session of the caller.
    pub async fn change_password(
        &self,
        principal: &Principal,
        current_password: String,
        new_password: String,
        client: &ClientInfo,
        now: OffsetDateTime,
    ) -> Result<Result<UserRecord, DomainError>, AppError> {
        let user = self
            .store
            .user_by_id(principal.user_id)
            .await?
            .ok_or_else(|| AppError::internal("the caller's user is missing"))?;
        let entry = AuditEntry {
            actor: Some(principal.user_id),
            client_address: client.address.clone(),
            at: now,
        };
        // Without a password yet, there is nothing to guess.
        let had_password = self.store.password_hash(principal.user_id).await?.is_some();
        if had_password
            && let Err(error) = self
                .check_password(principal.user_id, current_password.clone(), &entry)
                .await?
        {
            return Ok(Err(crate::accounts::renamed(error, "currentPassword")));
        }
        if let Err(error) = self.password_policy_for(principal.user_id).await?.check(
            &new_password,
            &user.username,
            &user.email,
        ) {
            return Ok(Err(DomainError::invalid(
                "newPassword",
                error_reason(&error),
            )));
        }
        if same_secret(&new_password, &current_password) {
            return Ok(Err(DomainError::invalid(
                "newPassword",
                "must differ from the current password",
            )));
        }
        let hash = self.passwords.hash(new_password).await?;
        self.store
            .change_password(principal.user_id, &hash, principal.session().ok(), &entry)
            .await?;
        let user = self
            .store
            .user_by_id(principal.user_id)
            .await?
            .ok_or_else(|| AppError::internal("the caller's user is missing"))?;
        Ok(Ok(user))
    }
}

/// The throttle keys a logged-in user's guess counts against: the account's, and the client
/// address's.
fn guess_keys(user: UserId, entry: &AuditEntry) -> Vec<String> {
    let mut keys = vec![throttle::account_key(user)];
    keys.extend(entry.client_address.as_deref().map(throttle::address_key));
    keys
}

/// The token of an `Authorization: Bearer <token>` header value, without surrounding spaces.
fn bearer_token(value: &str) -> Result<&str, &'static str> {
    // The scheme is case-insensitive (RFC 9110, 11.1).
    match value.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("bearer ") => Ok(value[7..].trim()),
        _ => Err("the Authorization header must be `Bearer <access token>`"),
    }
}

fn error_reason(error: &DomainError) -> String {
    match error {
        DomainError::Invalid { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

fn principal_of(
    session: SessionPrincipal,
    token_user: UserId,
    active: Option<(OrganizationId, RoleId)>,
) -> Authentication {
    let account = session.user;
    if account.id != token_user {
        return Authentication::Rejected("the access token does not match its session");
    }
    if !account.status.can_log_in() {
        return Authentication::Rejected("the account may not log in; ask an administrator");
    }
    Authentication::Session(Principal {
        user_id: account.id,
        credential: Credential::Session(session.session_id),
        platform_role: account.platform_role,
        must_change_password: account.must_change_password,
        active,
        account: Some(Arc::new(account)),
    })
}

/// Whether two secrets are equal, compared in constant time. (Stored secrets are never
/// compared here: passwords and recovery codes go through argon2's verification, TOTP codes
/// through totp-rs's constant-time check, and tokens are found by their SHA-256 hash.)
fn same_secret(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        // A header value gives a token exactly when it starts with the scheme `Bearer` in any
        // case and a space, and the token is the rest without surrounding spaces.
        #[test]
        fn a_bearer_token_is_what_follows_the_scheme(
            value in prop_oneof![
                "(Bearer|bearer|BEARER|Basic|Bearer:)? ?\\PC{0,40}",
                "\\PC{0,40}",
                ".{0,40}",
            ],
        ) {
            match bearer_token(&value) {
                Ok(token) => {
                    let scheme = value.get(..7).unwrap_or_default();
                    prop_assert!(scheme.eq_ignore_ascii_case("bearer "));
                    prop_assert_eq!(value[7..].trim(), token);
                }
                Err(reason) => {
                    let scheme = value.get(..7).unwrap_or_default();
                    prop_assert!(!scheme.eq_ignore_ascii_case("bearer "));
                    prop_assert!(reason.contains("Bearer <access token>"));
                }
            }
        }
    }
}
