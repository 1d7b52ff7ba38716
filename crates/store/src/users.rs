use sqlx::QueryBuilder;
use steward_domain::audit::{AuditAction, AuditOutcome};
use steward_domain::notification::Notification;
use steward_domain::user::{EmailAddress, FullName, Language, PlatformRole, UserStatus, Username};
use steward_domain::{DomainError, SessionId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::on_unique;
use crate::sessions::NewSession;
use crate::{AuditEntry, NewAuditEvent, Result, Store, StoreError, Timestamp, Tx, on_pool, on_tx};

/// The columns of [`UserRow`], as a literal so queries stay `&'static str`.
macro_rules! select_users {
    () => {
        "SELECT id, username, email, full_name, status, platform_role, must_change_password, \
         language, email_subscription, country, phone, mfa_enabled, created_at, updated_at, \
         last_login_at, deletion_requested_at, deleted_at FROM users"
    };
}
pub(crate) use select_users;

/// Pushes the statement of [`Store::users_by_ids`].
macro_rules! push_users_by_ids {
    ($query:expr, $ids:expr) => {{
        $query.push(concat!(select_users!(), " WHERE id IN ("));
        push_in_list!($query, IntoIterator::into_iter($ids).map(|id| id.as_uuid()));
    }};
}

/// A user as stored, without secrets.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub full_name: String,
    pub status: UserStatus,
    pub platform_role: Option<PlatformRole>,
    pub must_change_password: bool,
    pub language: Language,
    pub email_subscription: bool,
    pub country: Option<String>,
    pub phone: Option<String>,
    pub mfa_enabled: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub last_login_at: Option<OffsetDateTime>,
    /// When the user asked for their account to be deleted (status `PENDING_DELETION`).
    pub deletion_requested_at: Option<OffsetDateTime>,
    /// When the account became a `DELETED` tombstone.
    pub deleted_at: Option<OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: Uuid,
    username: String,
    email: String,
    full_name: String,
    status: String,
    platform_role: Option<String>,
    must_change_password: bool,
    language: String,
    email_subscription: bool,
    country: Option<String>,
    phone: Option<String>,
    mfa_enabled: bool,
    created_at: Timestamp,
    updated_at: Timestamp,
    last_login_at: Option<Timestamp>,
    deletion_requested_at: Option<Timestamp>,
    deleted_at: Option<Timestamp>,
}

impl TryFrom<UserRow> for UserRecord {
    type Error = StoreError;

    fn try_from(row: UserRow) -> Result<Self> {
        Ok(UserRecord {
            id: UserId(row.id),
            status: parse_status(&row.status)?,
            platform_role: match row.platform_role.as_deref() {
                None => None,
                Some(code) => Some(PlatformRole::from_code(code).ok_or_else(|| {
                    StoreError::Corrupt(format!("unknown platform role {code:?}"))
                })?),
            },
            language: Language::parse(&row.language)
                .map_err(|_| StoreError::Corrupt(format!("unknown language {:?}", row.language)))?,
            username: row.username,
            email: row.email,
            full_name: row.full_name,
            must_change_password: row.must_change_password,
            email_subscription: row.email_subscription,
            country: row.country,
            phone: row.phone,
            mfa_enabled: row.mfa_enabled,
            created_at: row.created_at.into(),
            updated_at: row.updated_at.into(),
            last_login_at: row.last_login_at.map(Into::into),
            deletion_requested_at: row.deletion_requested_at.map(Into::into),
            deleted_at: row.deleted_at.map(Into::into),
        })
    }
}

fn parse_status(code: &str) -> Result<UserStatus> {
    UserStatus::from_code(code)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown status {code:?}")))
}

/// A user to create. Values are validated by their types.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub email: EmailAddress,
    pub full_name: FullName,
    pub status: UserStatus,
    pub platform_role: Option<PlatformRole>,
    /// An argon2id PHC string, or `None` until the user sets a password.
    pub password_hash: Option<String>,
    pub must_change_password: bool,
    pub language: Language,
}

/// What a login attempt needs to know about an account.
#[derive(Debug, Clone)]
pub struct LoginCandidate {
    pub id: UserId,
    pub username: String,
    pub status: UserStatus,
    pub password_hash: Option<String>,
}

#[derive(sqlx::FromRow)]
struct LoginCandidateRow {
    id: Uuid,
    username: String,
    status: String,
    password_hash: Option<String>,
}

impl Tx {
    /// Inserts a user and its `user.created` audit event.
    pub(crate) async fn insert_user(
        &mut self,
        user: &NewUser,
        entry: &AuditEntry,
    ) -> Result<UserId> {
        let ids = self.insert_users(std::slice::from_ref(user), entry).await?;
        ids.first()
            .copied()
            .ok_or_else(|| StoreError::Corrupt("a user insert returned no id".into()))
    }

    /// Inserts users, many to a statement, each with its audit event; their ids in order.
    pub(crate) async fn insert_users(
        &mut self,
        users: &[NewUser],
        entry: &AuditEntry,
    ) -> Result<Vec<UserId>> {
        let ids: Vec<UserId> = users.iter().map(|_| UserId::new()).collect();
        let now = Timestamp::from(entry.at);
        // 13 parameters a user: well under both databases' limits.
        for (chunk, chunk_ids) in users.chunks(500).zip(ids.chunks(500)) {
            on_tx!(&mut *self, |conn| {
                let mut query = sqlx::QueryBuilder::new(
                    "INSERT INTO users (id, username, username_normalized, email, \
                     email_normalized, full_name, status, platform_role, password_hash, \
                     must_change_password, language, created_at, updated_at) ",
                );
                query.push_values(chunk.iter().zip(chunk_ids), |mut values, (user, id)| {
                    values
                        .push_bind(id.as_uuid())
                        .push_bind(user.username.as_str().to_owned())
                        .push_bind(user.username.normalized())
                        .push_bind(user.email.as_str().to_owned())
                        .push_bind(user.email.normalized())
                        .push_bind(user.full_name.as_str().to_owned())
                        .push_bind(user.status.code())
                        .push_bind(user.platform_role.map(PlatformRole::code))
                        .push_bind(user.password_hash.clone())
                        .push_bind(user.must_change_password)
                        .push_bind(user.language.code())
                        .push_bind(now)
                        .push_bind(now);
                });
                query.build().execute(&mut *conn).await.map_err(|error| {
                    on_unique(
                        error,
                        &[
                            ("username_normalized", "username", "is already taken"),
                            ("email_normalized", "email", "is already registered"),
                        ],
                    )
                })?;
            });
        }
        let events: Vec<NewAuditEvent> = users
            .iter()
            .zip(&ids)
            .map(|(user, id)| {
                entry
                    .event(AuditAction::UserCreated, AuditOutcome::Success)
                    .target("user", *id)
                    .detail(serde_json::json!({
                        "username": user.username.as_str(),
                        "email": user.email.as_str(),
                        "platformRole": user.platform_role.map(PlatformRole::code),
                    }))
            })
            .collect();
        self.audit_all(&events).await?;
        Ok(ids)
    }

    /// Whether the user has a password.
    pub(crate) async fn has_password(&mut self, user: UserId) -> Result<bool> {
        let hash: Option<Option<String>> = on_tx!(self, |conn| {
            sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
                .bind(user.as_uuid())
                .fetch_optional(conn)
                .await?
        });
        Ok(hash.flatten().is_some())
    }

    /// Commits, and returns the user as the transaction left it.
    pub(crate) async fn commit_returning(mut self, user: UserId) -> Result<UserRecord> {
        let record = self.user(user).await?;
        self.commit().await?;
        Ok(record)
    }

    /// A user, read inside the transaction.
    pub(crate) async fn user(&mut self, id: UserId) -> Result<UserRecord> {
        let row = on_tx!(self, |conn| {
            sqlx::query_as::<_, UserRow>(concat!(select_users!(), " WHERE id = $1"))
                .bind(id.as_uuid())
                .fetch_optional(conn)
                .await?
        });
        row.ok_or(DomainError::NotFound { what: "the user" })?
            .try_into()
    }
}

impl Store {
    /// Creates a user and records who did it.
    pub async fn create_user(&self, user: &NewUser, entry: &AuditEntry) -> Result<UserRecord> {
        let mut tx = self.begin().await?;
        let id = tx.insert_user(user, entry).await?;
        let created = tx.user(id).await?;
        tx.commit().await?;
        Ok(created)
    }

    pub async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>> {
        let row = on_pool!(self, |pool| {
            sqlx::query_as::<_, UserRow>(concat!(select_users!(), " WHERE id = $1"))
                .bind(id.as_uuid())
                .fetch_optional(pool)
                .await?
        });
        row.map(TryInto::try_into).transpose()
    }

    /// Users by id, in no particular order; unknown ids are left out. One statement for any
    /// number of ids, for DataLoaders.
    pub async fn users_by_ids(&self, ids: &[UserId]) -> Result<Vec<UserRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new("");
            push_users_by_ids!(query, ids);
            query.build_query_as::<UserRow>().fetch_all(pool).await?
        });
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// The plan of [`Store::users_by_ids`]'s statement (see `explain_plan!`).
    #[cfg(feature = "testing")]
    pub async fn explain_users_by_ids(&self, ids: &[UserId]) -> Result<Vec<String>> {
        Ok(explain_plan!(self, |query| push_users_by_ids!(query, ids)))
    }

    /// The account a login names, by lower-cased username or e-mail address. The two never
    /// collide: usernames cannot contain `@` and e-mail addresses always do.
    pub async fn login_candidate(&self, normalized_login: &str) -> Result<Option<LoginCandidate>> {
        let row = on_pool!(self, |pool| {
            sqlx::query_as::<_, LoginCandidateRow>(
                "SELECT id, username, status, password_hash FROM users \
                 WHERE username_normalized = $1 OR email_normalized = $1",
            )
            .bind(normalized_login)
            .fetch_optional(pool)
            .await?
        });
        row.map(|row| {
            Ok(LoginCandidate {
                id: UserId(row.id),
                username: row.username,
                status: parse_status(&row.status)?,
                password_hash: row.password_hash,
            })
        })
        .transpose()
    }

    /// Whether any SuperAdmin exists, for the first-start bootstrap.
    pub async fn has_super_admin(&self) -> Result<bool> {
        let count: i64 = on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE platform_role = 'SUPER_ADMIN'")
                .fetch_one(pool)
                .await?
        });
        Ok(count > 0)
    }

    /// Records a successful login: opens the session, stamps the last login, stores a rehashed
    /// password when the hashing parameters changed, and writes the audit event, all at once.
    pub async fn record_login(
        &self,
        session: &NewSession,
        rehashed_password: Option<&str>,
        entry: &AuditEntry,
    ) -> Result<()> {
        self.record_login_with_refresh(session, rehashed_password, None, entry)
            .await
    }

    /// [`Store::record_login`], with the session's first refresh token in the same
    /// transaction.
    pub async fn record_login_with_refresh(
        &self,
        session: &NewSession,
        rehashed_password: Option<&str>,
        refresh: Option<&crate::NewRefreshToken>,
        entry: &AuditEntry,
    ) -> Result<()> {
        let now = Timestamp::from(entry.at);
        let mut tx = self.begin().await?;
        tx.insert_session(session).await?;
        if let Some(refresh) = refresh {
            tx.insert_refresh_token(session.id, refresh, entry.at)
                .await?;
        }
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE users SET last_login_at = $2, \
                 password_hash = COALESCE($3, password_hash) WHERE id = $1",
            )
            .bind(session.user_id.as_uuid())
            .bind(now)
            .bind(rehashed_password)
            .execute(conn)
            .await?;
        });
        tx.audit(
            &entry
                .event(AuditAction::LoginSucceeded, AuditOutcome::Success)
                .target("user", session.user_id)
                .detail(serde_json::json!({ "session": session.id.to_string() })),
        )
        .await?;
        tx.commit().await
    }

    /// The stored password hash of a user, for a password change.
    pub async fn password_hash(&self, user: UserId) -> Result<Option<String>> {
        let hash: Option<Option<String>> = on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
                .bind(user.as_uuid())
                .fetch_optional(pool)
                .await?
        });
        Ok(hash.flatten())
    }

    /// Replaces a user's password, clears the must-change flag, and revokes every other session
    /// of the user (a changed password must lock out whoever knew the old one).
    pub async fn change_password(
        &self,
        user: UserId,
        new_hash: &str,
        keep_session: Option<SessionId>,
        entry: &AuditEntry,
    ) -> Result<()> {
        let now = Timestamp::from(entry.at);
        let mut tx = self.begin().await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE users SET password_hash = $2, must_change_password = $3, updated_at = $4 \
                 WHERE id = $1",
            )
            .bind(user.as_uuid())
            .bind(new_hash)
            .bind(false)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "UPDATE sessions SET revoked_at = $2 \
                 WHERE user_id = $1 AND revoked_at IS NULL AND ($3 IS NULL OR id <> $3)",
            )
            .bind(user.as_uuid())
            .bind(now)
            .bind(keep_session.map(|id| id.as_uuid()))
            .execute(conn)
            .await?;
        });
        tx.audit(
            &entry
                .event(AuditAction::PasswordChanged, AuditOutcome::Success)
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
        tx.commit().await
    }
}
