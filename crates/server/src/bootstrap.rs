//! The first administrator: with an empty database there is no one to log in as, so the
//! first start creates a SuperAdmin and says once, on the console, how to get in.

use steward_domain::DomainError;
use steward_domain::password::PasswordPolicy;
use steward_domain::user::{EmailAddress, FullName, Language, PlatformRole, UserStatus, Username};
use steward_store::{AuditEntry, NewUser, Store, UserRecord};
use time::OffsetDateTime;

use crate::auth::password::PasswordHasher;
use crate::config::AdminConfig;
use crate::error::AppError;

/// A SuperAdmin created by [`ensure_first_admin`] or [`create_admin`].
#[derive(Debug, Clone)]
pub struct CreatedAdmin {
    pub user: UserRecord,
    /// The password generated for the administrator, who must change it at first login;
    /// `None` when the operator supplied one.
    pub generated_password: Option<String>,
}

impl CreatedAdmin {
    /// What the console says, once, about how to log in.
    pub fn console_message(&self, public_url: &str) -> String {
        let password_line = match &self.generated_password {
            Some(password) => format!(
                "  password: {password}\n  (generated; it must be changed at the first login and is not shown again)"
            ),
            None => "  password: the one given in STEWARD_ADMIN_PASSWORD".to_owned(),
        };
        format!(
            "\nA first administrator (SuperAdmin) was created.\n  username: {}\n  e-mail:   {}\n{password_line}\nLog in at {}/graphiql with the `login` mutation.\n",
            self.user.username,
            self.user.email,
            public_url.trim_end_matches('/'),
        )
    }
}

/// Creates the first SuperAdmin when none exists. Several instances starting at once on one
/// database create one administrator: the others find the username taken and stand down.
pub async fn ensure_first_admin(
    store: &Store,
    passwords: &PasswordHasher,
    config: &AdminConfig,
    now: OffsetDateTime,
) -> Result<Option<CreatedAdmin>, AppError> {
    if store.has_super_admin().await? {
        return Ok(None);
    }
    match create_admin(store, passwords, config, now).await {
        Ok(created) => Ok(Some(created)),
        Err(AppError::Store(error)) if error.is_unique_violation_on("username_normalized") => {
            Ok(None)
        }
        Err(AppError::Store(steward_store::StoreError::Domain(DomainError::Conflict {
            ..
        }))) if store.has_super_admin().await? => Ok(None),
        Err(error) => Err(error),
    }
}

/// Creates a SuperAdmin from the configuration, generating a password when none is given.
pub async fn create_admin(
    store: &Store,
    passwords: &PasswordHasher,
    config: &AdminConfig,
    now: OffsetDateTime,
) -> Result<CreatedAdmin, AppError> {
    let setting = |name: &'static str| {
        move |error: DomainError| AppError::Config(format!("{name} is not acceptable: {error}"))
    };
    let username =
        Username::parse(&config.admin_username).map_err(setting("STEWARD_ADMIN_USERNAME"))?;
    let email = EmailAddress::parse(&config.admin_email).map_err(setting("STEWARD_ADMIN_EMAIL"))?;
    let policy = PasswordPolicy::default();
    let (password, generated) = match &config.admin_password {
        Some(password) => {
            policy
                .check(password, username.as_str(), email.as_str())
                .map_err(setting("STEWARD_ADMIN_PASSWORD"))?;
            (password.clone(), false)
        }
        None => (generate_password(&policy, &username, &email)?, true),
    };
    let hash = passwords.hash(password.clone()).await?;
    let user = NewUser {
        username,
        email,
        full_name: FullName::parse("Administrator")?,
        status: UserStatus::Active,
        platform_role: Some(PlatformRole::SuperAdmin),
        password_hash: Some(hash),
        must_change_password: generated,
        language: Language::En,
    };
    let entry = AuditEntry {
        actor: None,
        client_address: None,
        at: now,
    };
    let user = store.create_user(&user, &entry).await?;
    Ok(CreatedAdmin {
        user,
        generated_password: generated.then_some(password),
    })
}

/// 24 characters from 144 random bits, checked against the policy like any other password.
fn generate_password(
    policy: &PasswordPolicy,
    username: &Username,
    email: &EmailAddress,
) -> Result<String, AppError> {
    loop {
        let candidate = crate::auth::random_token(18)?;
        if policy
            .check(&candidate, username.as_str(), email.as_str())
            .is_ok()
        {
            return Ok(candidate);
        }
    }
}
