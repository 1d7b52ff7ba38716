use sqlx::QueryBuilder;
use steward_domain::audit::{AuditAction, AuditOutcome};
use steward_domain::deletion::{organization_deleted_already, refusal};
use steward_domain::membership::MembershipStatus;
use steward_domain::notification::Notification;
use steward_domain::organization::{EmailDomain, Name, confirm_deletion};
use steward_domain::permission::BuiltInRole;
use steward_domain::policy::{
    Authorized, DeleteOrganization, ManageOrganization, ManageUsers, PlatformAuthorized, Standing,
};
use steward_domain::{DomainError, MembershipId, OrganizationId, RoleId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::roles::{BindingScope, BindingSubject, RoleDefinition};
use crate::{AuditEntry, Result, Store, StoreError, Timestamp, Tx, on_pool, on_tx};

#[derive(Debug, Clone, PartialEq)]
pub struct OrganizationRecord {
    pub id: OrganizationId,
    pub name: String,
    pub owner: Option<UserId>,
    pub created_at: OffsetDateTime,
    /// When its owner deleted it; a deleted organization is seen by SuperAdmins only.
    pub deleted_at: Option<OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
struct OrganizationRow {
    id: Uuid,
    name: String,
    owner_user_id: Option<Uuid>,
    created_at: Timestamp,
    deleted_at: Option<Timestamp>,
}

impl From<OrganizationRow> for OrganizationRecord {
    fn from(row: OrganizationRow) -> Self {
        Self {
            id: OrganizationId(row.id),
            name: row.name,
            owner: row.owner_user_id.map(UserId),
            created_at: row.created_at.into(),
            deleted_at: row.deleted_at.map(Into::into),
        }
    }
}

macro_rules! select_organizations {
    () => {
        "SELECT id, name, owner_user_id, created_at, deleted_at FROM organizations"
    };
}

/// A user's membership of an organization.
#[derive(Debug, Clone, PartialEq)]
pub struct MembershipRecord {
    pub id: MembershipId,
    pub organization: OrganizationId,
    pub user: UserId,
    pub status: String,
    pub default_role: Option<RoleId>,
    pub created_at: OffsetDateTime,
}

impl MembershipRecord {
    /// The membership as the policy weighs it.
    pub fn standing(&self) -> Result<Standing> {
        standing(self.organization, &self.status)
    }
}

/// The memberships `m` (of users `u`) that show their user to the organization's viewers, as
/// [`steward_domain::policy::authorize_view_user`] decides: accepted ones, and invitations of
/// accounts not validated yet (which hold only what their inviters typed). An invitation of an
/// existing account shows the organization only the invitation (its address) until accepted.
pub(crate) const SHOWN_MEMBERSHIP: &str =
    "(m.status <> 'INVITED' OR u.status = 'PENDING_VALIDATION')";

/// Pushes the statement of [`Store::organizations_by_ids`].
macro_rules! push_organizations_by_ids {
    ($query:expr, $ids:expr) => {{
        $query.push(concat!(select_organizations!(), " WHERE id IN ("));
        push_in_list!($query, IntoIterator::into_iter($ids).map(|id| id.as_uuid()));
    }};
}

/// Pushes the statement of [`Store::memberships_of_users`].
macro_rules! push_memberships_of_users {
    ($query:expr, $users:expr) => {{
        $query.push(
            "SELECT m.id AS id, m.organization_id AS organization_id, m.user_id AS user_id, \
             m.status AS status, m.default_role_id AS default_role_id, \
             m.created_at AS created_at FROM memberships m \
             JOIN organizations o ON o.id = m.organization_id AND o.deleted_at IS NULL \
             WHERE m.user_id IN (",
        );
        push_in_list!(
            $query,
            IntoIterator::into_iter($users).map(|id| id.as_uuid())
        );
        $query.push(" ORDER BY m.created_at, m.id");
    }};
}

/// Pushes the statement of [`Store::email_domains_of_organizations`].
macro_rules! push_email_domains_of_organizations {
    ($query:expr, $organizations:expr) => {{
        $query.push(
            "SELECT organization_id, domain FROM organization_email_domains \
             WHERE organization_id IN (",
        );
        push_in_list!(
            $query,
            IntoIterator::into_iter($organizations).map(|id| id.as_uuid())
        );
        $query.push(" ORDER BY domain");
    }};
}

/// Pushes what follows the selected columns in [`Store::members_page`]'s statements: the
/// organization's memberships that show their user.
macro_rules! push_members_of {
    ($query:expr, $organization:expr) => {{
        $query
            .push(" FROM memberships m JOIN users u ON u.id = m.user_id WHERE ")
            .push(SHOWN_MEMBERSHIP)
            .push(" AND m.organization_id = ")
            .push_bind($organization.as_uuid());
    }};
}

/// Pushes the page statement of [`Store::members_page`]: by user id, after `$after` if some.
macro_rules! push_members_page {
    ($query:expr, $organization:expr, $after:expr, $limit:expr) => {{
        $query.push(
            "SELECT m.id, m.organization_id, m.user_id, m.status, m.default_role_id, m.created_at",
        );
        push_members_of!($query, $organization);
        if let Some(after) = $after {
            $query.push(" AND m.user_id > ").push_bind(after);
        }
        $query.push(" ORDER BY m.user_id LIMIT ").push_bind($limit);
    }};
}

/// Pushes the count statement of [`Store::members_page`].
macro_rules! push_members_count {
    ($query:expr, $organization:expr) => {{
        $query.push("SELECT COUNT(*)");
        push_members_of!($query, $organization);
    }};
}

/// A membership of `organization` with the stored `status`, as the policy weighs it.
pub(crate) fn standing(organization: OrganizationId, status: &str) -> Result<Standing> {
    let status = MembershipStatus::from_code(status)
        .ok_or_else(|| StoreError::Corrupt(format!("membership status {status:?}")))?;
    Ok(Standing {
        organization,
        status,
    })
}

#[derive(sqlx::FromRow)]
struct MembershipRow {
    id: Uuid,
    organization_id: Uuid,
    user_id: Uuid,
    status: String,
    default_role_id: Option<Uuid>,
    created_at: Timestamp,
}

impl From<MembershipRow> for MembershipRecord {
    fn from(row: MembershipRow) -> Self {
        Self {
            id: MembershipId(row.id),
            organization: OrganizationId(row.organization_id),
            user: UserId(row.user_id),
            status: row.status,
            default_role: row.default_role_id.map(RoleId),
            created_at: row.created_at.into(),
        }
    }
}

impl Tx {
    /// Refuses any change to a deleted organization (only a SuperAdmin still reaches one):
    /// nobody can be added to it, enabled in it or given it, and nothing registered in it.
    pub(crate) async fn refuse_deleted_organization(
        &mut self,
        organization: OrganizationId,
    ) -> Result<()> {
        let deleted: Option<Option<Timestamp>> = on_tx!(self, |conn| {
            sqlx::query_scalar("SELECT deleted_at FROM organizations WHERE id = $1")
                .bind(organization.as_uuid())
                .fetch_optional(conn)
                .await?
        });
        match deleted {
            None => Err(DomainError::NotFound {
                what: "the organization",
            }
            .into()),
            Some(Some(_)) => Err(DomainError::invalid(
                "organization",
                "has been deleted; nothing in it can change any more",
            )
            .into()),
            Some(None) => Ok(()),
        }
    }

    /// Makes `user` an active member with `default_role` bound organization-wide.
    pub(crate) async fn insert_member(
        &mut self,
        organization: OrganizationId,
        user: UserId,
        default_role: RoleId,
        now: Timestamp,
    ) -> Result<()> {
        self.insert_membership(
            organization,
            user,
            MembershipStatus::Active,
            default_role,
            now,
        )
        .await
    }

    /// Makes `user` a member in `status` with `default_role` bound organization-wide.
    pub(crate) async fn insert_membership(
        &mut self,
        organization: OrganizationId,
        user: UserId,
        status: MembershipStatus,
        default_role: RoleId,
        now: Timestamp,
    ) -> Result<()> {
        self.insert_memberships(organization, &[(user, default_role)], status, now)
            .await
    }

    /// Adds users to `organization`, each with its default role bound organization-wide,
    /// many to a statement.
    pub(crate) async fn insert_memberships(
        &mut self,
        organization: OrganizationId,
        members: &[(UserId, RoleId)],
        status: MembershipStatus,
        now: Timestamp,
    ) -> Result<()> {
        // 7 parameters a membership.
        for chunk in members.chunks(500) {
            on_tx!(&mut *self, |conn| {
                let mut query = sqlx::QueryBuilder::new(
                    "INSERT INTO memberships (id, organization_id, user_id, status, \
                     default_role_id, created_at, updated_at) ",
                );
                query.push_values(chunk, |mut values, (user, role)| {
                    values
                        .push_bind(MembershipId::new().as_uuid())
                        .push_bind(organization.as_uuid())
                        .push_bind(user.as_uuid())
                        .push_bind(status.code())
                        .push_bind(role.as_uuid())
                        .push_bind(now)
                        .push_bind(now);
                });
                query.build().execute(&mut *conn).await.map_err(|error| {
                    crate::error::on_unique(
                        error,
                        &[("organization_id", "user", "is a member already")],
                    )
                })?;
            });
        }
        let bindings: Vec<(RoleId, BindingSubject)> = members
            .iter()
            .map(|(user, role)| (*role, BindingSubject::User(*user)))
            .collect();
        self.insert_bindings(organization, &bindings, BindingScope::Organization, now)
            .await?;
        Ok(())
    }
}

impl Store {
    /// Creates an organization with its built-in roles, owned by `owner`, who becomes its
    /// first member with the Administrator role. One transaction.
    pub async fn create_organization(
        &self,
        proof: &PlatformAuthorized,
        name: &Name,
        owner: UserId,
        entry: &AuditEntry,
    ) -> Result<OrganizationRecord> {
        let id = OrganizationId::new();
        let now = Timestamp::from(entry.at);
        let mut tx = self.begin().await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "INSERT INTO organizations (id, name, owner_user_id, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $4)",
            )
            .bind(id.as_uuid())
            .bind(name.as_str())
            .bind(owner.as_uuid())
            .bind(now)
            .execute(conn)
            .await
            .map_err(|error| match crate::StoreError::Database(error) {
                error if error.is_foreign_key_violation() => {
                    DomainError::NotFound { what: "the owner" }.into()
                }
                error => error,
            })?;
        });
        let mut administrator = None;
        for role in BuiltInRole::ALL {
            let definition = RoleDefinition {
                name: Name::parse("name", role.name())?,
                description: role.description().to_owned(),
                permissions: role.permissions(),
            };
            let role_id = tx.insert_role(id, &definition, true, now).await?;
            if role == BuiltInRole::Administrator {
                administrator = Some(role_id);
            }
        }
        let administrator = administrator.ok_or(DomainError::NotFound {
            what: "the Administrator role",
        })?;
        tx.insert_member(id, owner, administrator, now).await?;
        tx.audit(
            &entry
                .event(AuditAction::OrganizationCreated, AuditOutcome::Success)
                .target("organization", id)
                .organization(id)
                .detail(serde_json::json!({
                    "name": name.as_str(),
                    "owner": owner.to_string(),
                    "by": proof.actor().to_string(),
                })),
        )
        .await?;
        tx.commit().await?;
        Ok(OrganizationRecord {
            id,
            name: name.as_str().to_owned(),
            owner: Some(owner),
            created_at: now.into(),
            deleted_at: None,
        })
    }

    /// Adds an existing user to the proof's organization as an active member holding
    /// `default_role`, which must be a role of that organization.
    pub async fn add_member(
        &self,
        proof: &Authorized<ManageUsers>,
        user: UserId,
        default_role: RoleId,
        entry: &AuditEntry,
    ) -> Result<()> {
        let organization = proof.organization();
        let now = Timestamp::from(entry.at);
        let mut tx = self.begin().await?;
        tx.refuse_deleted_organization(organization).await?;
        tx.check_roles_of(organization, &[default_role]).await?;
        tx.insert_member(organization, user, default_role, now)
            .await
            .map_err(|error| match error {
                crate::StoreError::Database(ref database)
                    if crate::StoreError::is_foreign_key(database) =>
                {
                    DomainError::NotFound { what: "the user" }.into()
                }
                error => error,
            })?;
        tx.audit(
            &entry
                .event(AuditAction::MemberAdded, AuditOutcome::Success)
                .target("user", user)
                .organization(organization)
                .detail(serde_json::json!({ "defaultRole": default_role.to_string() })),
        )
        .await?;
        tx.commit().await
    }

    /// Makes `role`, which must be bound to the member, the role used at their next login.
    pub async fn set_default_role(
        &self,
        user: UserId,
        organization: OrganizationId,
        role: RoleId,
        entry: &AuditEntry,
    ) -> Result<()> {
        if !self.role_bound_to_user(user, organization, role).await? {
            return Err(DomainError::invalid(
                "role",
                "is not one of your roles in this organization",
            )
            .into());
        }
        let mut tx = self.begin().await?;
        let updated = on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE memberships SET default_role_id = $3, updated_at = $4 \
                 WHERE organization_id = $1 AND user_id = $2 AND status = 'ACTIVE'",
            )
            .bind(organization.as_uuid())
            .bind(user.as_uuid())
            .bind(role.as_uuid())
            .bind(Timestamp::from(entry.at))
            .execute(conn)
            .await?
            .rows_affected()
        });
        if updated == 0 {
            return Err(DomainError::NotFound {
                what: "the organization",
            }
            .into());
        }
        tx.audit(
            &entry
                .event(AuditAction::DefaultRoleChanged, AuditOutcome::Success)
                .target("user", user)
                .organization(organization)
                .detail(serde_json::json!({ "role": role.to_string() })),
        )
        .await?;
        tx.commit().await
    }

    /// Organizations by id, deleted ones too (the caller decides who sees those); unknown ids
    /// are left out.
    pub async fn organizations_by_ids(
        &self,
        ids: &[OrganizationId],
    ) -> Result<Vec<OrganizationRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new("");
            push_organizations_by_ids!(query, ids);
            query
                .build_query_as::<OrganizationRow>()
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The plan of [`Store::organizations_by_ids`]'s statement (see `explain_plan!`).
    #[cfg(feature = "testing")]
    pub async fn explain_organizations_by_ids(
        &self,
        ids: &[OrganizationId],
    ) -> Result<Vec<String>> {
        Ok(explain_plan!(self, |query| push_organizations_by_ids!(
            query, ids
        )))
    }

    /// The memberships of several users, oldest first, in one statement. Memberships of
    /// deleted organizations are left out: those organizations are gone for their members.
    pub async fn memberships_of_users(&self, users: &[UserId]) -> Result<Vec<MembershipRecord>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let rows = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new("");
            push_memberships_of_users!(query, users);
            query
                .build_query_as::<MembershipRow>()
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The plan of [`Store::memberships_of_users`]'s statement (see `explain_plan!`).
    #[cfg(feature = "testing")]
    pub async fn explain_memberships_of_users(&self, users: &[UserId]) -> Result<Vec<String>> {
        Ok(explain_plan!(self, |query| push_memberships_of_users!(
            query, users
        )))
    }

    /// A page of organizations in id (creation) order after `after`, and how many there are
    /// in all: every organization, or only those in `only`; deleted ones only when
    /// `include_deleted` (for a SuperAdmin).
    pub async fn organizations_page(
        &self,
        only: Option<&[OrganizationId]>,
        include_deleted: bool,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<(Vec<OrganizationRecord>, i64)> {
        if only.is_some_and(<[OrganizationId]>::is_empty) {
            return Ok((Vec::new(), 0));
        }
        // A macro, not a closure: it is expanded once per backend's query builder.
        macro_rules! push_filter {
            ($query:expr) => {
                $query.push(" WHERE 1 = 1");
                if !include_deleted {
                    $query.push(" AND deleted_at IS NULL");
                }
                if let Some(only) = only {
                    $query.push(" AND id IN (");
                    push_in_list!($query, only.iter().map(|id| id.as_uuid()));
                }
            };
        }
        let (rows, total) = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new(select_organizations!());
            push_filter!(query);
            if let Some(after) = after {
                query.push(" AND id > ").push_bind(after);
            }
            query.push(" ORDER BY id LIMIT ").push_bind(limit);
            let rows = query
                .build_query_as::<OrganizationRow>()
                .fetch_all(pool)
                .await?;
            let mut count = QueryBuilder::new("SELECT COUNT(*) FROM organizations");
            push_filter!(count);
            let total: i64 = count.build_query_scalar().fetch_one(pool).await?;
            (rows, total)
        });
        Ok((rows.into_iter().map(Into::into).collect(), total))
    }

    /// Renames the proof's organization.
    pub async fn rename_organization(
        &self,
        proof: &Authorized<ManageOrganization>,
        name: &Name,
        entry: &AuditEntry,
    ) -> Result<()> {
        let organization = proof.organization();
        let mut tx = self.begin().await?;
        tx.refuse_deleted_organization(proof.organization()).await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query("UPDATE organizations SET name = $2, updated_at = $3 WHERE id = $1")
                .bind(organization.as_uuid())
                .bind(name.as_str())
                .bind(Timestamp::from(entry.at))
                .execute(conn)
                .await?;
        });
        tx.audit(
            &entry
                .event(AuditAction::OrganizationRenamed, AuditOutcome::Success)
                .target("organization", organization)
                .organization(organization)
                .detail(serde_json::json!({ "name": name.as_str() })),
        )
        .await?;
        tx.commit().await
    }

    /// Hands the organization to another of its active members.
    pub async fn transfer_ownership(
        &self,
        proof: &Authorized<ManageOrganization>,
        new_owner: UserId,
        entry: &AuditEntry,
    ) -> Result<()> {
        let organization = proof.organization();
        let mut tx = self.begin().await?;
        tx.refuse_deleted_organization(organization).await?;
        let (active_member, previous): (i64, Option<Uuid>) = on_tx!(&mut tx, |conn| {
            let active_member = sqlx::query_scalar(
                "SELECT COUNT(*) FROM memberships m JOIN users u ON u.id = m.user_id \
                 WHERE m.organization_id = $1 AND m.user_id = $2 AND m.status = 'ACTIVE' AND u.status = 'ACTIVE'",
            )
            .bind(organization.as_uuid())
            .bind(new_owner.as_uuid())
            .fetch_one(&mut *conn)
            .await?;
            let previous =
                sqlx::query_scalar("SELECT owner_user_id FROM organizations WHERE id = $1")
                    .bind(organization.as_uuid())
                    .fetch_one(conn)
                    .await?;
            (active_member, previous)
        });
        if active_member == 0 {
            return Err(DomainError::invalid(
                "owner",
                "must be an active member of the organization; add them as a member first",
            )
            .into());
        }
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE organizations SET owner_user_id = $2, updated_at = $3 WHERE id = $1",
            )
            .bind(organization.as_uuid())
            .bind(new_owner.as_uuid())
            .bind(Timestamp::from(entry.at))
            .execute(conn)
            .await?;
        });
        tx.audit(
            &entry
                .event(AuditAction::OwnershipTransferred, AuditOutcome::Success)
                .target("organization", organization)
                .organization(organization)
                .detail(serde_json::json!({
                    "from": previous.map(|id| id.to_string()),
                    "to": new_owner.to_string(),
                })),
        )
        .await?;
        tx.commit().await
    }

    /// Deletes the proof's organization, once `confirm_name` matches its name, in one
    /// transaction: every membership is disabled (the owner's too; their other
    /// organizations are untouched), sessions acting in it end, API keys limited to it are
    /// revoked, pending invitations are withdrawn, its resources are marked deleted, and
    /// every member who had accepted is told by e-mail.
    pub async fn delete_organization(
        &self,
        proof: &Authorized<DeleteOrganization>,
        confirm_name: &str,
        entry: &AuditEntry,
    ) -> Result<()> {
        let organization = proof.organization();
        let now = Timestamp::from(entry.at);
        let mut tx = self.begin().await?;
        // The refusals `organizationDeletionPlan` lists, from the same code.
        let preflight = tx.organization_deletion_preflight(organization).await?;
        if let Some(refused) = refusal(&preflight.refusals) {
            return Err(refused.into());
        }
        let name = preflight.name;
        confirm_deletion(&name, confirm_name)?;
        let (deleted, members): (u64, Vec<(Uuid, String)>) = on_tx!(&mut tx, |conn| {
            // Conditional, so that of two deletions racing only one goes on.
            let deleted = sqlx::query(
                "UPDATE organizations SET deleted_at = $2, updated_at = $2 \
                 WHERE id = $1 AND deleted_at IS NULL",
            )
            .bind(organization.as_uuid())
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            let members = sqlx::query_as(
                "SELECT user_id, status FROM memberships WHERE organization_id = $1 \
                 ORDER BY created_at, id",
            )
            .bind(organization.as_uuid())
            .fetch_all(conn)
            .await?;
            (deleted, members)
        });
        if deleted == 0 {
            return Err(organization_deleted_already().into());
        }
        let (api_keys, invitations, resources) = on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE memberships SET status = $2, updated_at = $3 \
                 WHERE organization_id = $1 AND status <> $2",
            )
            .bind(organization.as_uuid())
            .bind(MembershipStatus::Disabled.code())
            .bind(now)
            .execute(&mut *conn)
            .await?;
            let api_keys = sqlx::query(
                "UPDATE api_keys SET revoked_at = $2 WHERE organization_id = $1 AND revoked_at IS NULL",
            )
            .bind(organization.as_uuid())
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            sqlx::query(
                "UPDATE links SET revoked_at = $2 WHERE used_at IS NULL AND revoked_at IS NULL \
                 AND invitation_id IN (SELECT id FROM invitations WHERE organization_id = $1)",
            )
            .bind(organization.as_uuid())
            .bind(now)
            .execute(&mut *conn)
            .await?;
            let invitations = sqlx::query(
                "UPDATE invitations SET status = 'REVOKED', revoked_at = $2, updated_at = $2 \
                 WHERE organization_id = $1 AND status = 'PENDING'",
            )
            .bind(organization.as_uuid())
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            let resources = sqlx::query(
                "UPDATE resources SET deleted_at = $2, updated_at = $2 \
                 WHERE organization_id = $1 AND deleted_at IS NULL",
            )
            .bind(organization.as_uuid())
            .bind(now)
            .execute(conn)
            .await?
            .rows_affected();
            (api_keys, invitations, resources)
        });
        for (user, _) in &members {
            tx.revoke_sessions(UserId(*user), Some(organization), now)
                .await?;
        }
        tx.audit(
            &entry
                .event(AuditAction::OrganizationDeleted, AuditOutcome::Success)
                .target("organization", organization)
                .organization(organization)
                .detail(serde_json::json!({
                    "name": name,
                    "members": members.len(),
                    "apiKeysRevoked": api_keys,
                    "invitationsRevoked": invitations,
                    "resourcesDeleted": resources,
                })),
        )
        .await?;
        // Someone merely invited never had access to lose.
        let notification = Notification::OrganizationDeleted { organization: name };
        for (user, status) in &members {
            if MembershipStatus::from_code(status) != Some(MembershipStatus::Invited) {
                tx.notify_user(UserId(*user), &notification, entry.at)
                    .await?;
            }
        }
        tx.commit().await
    }

    /// Adds an allowed e-mail domain; an organization with none accepts any domain.
    pub async fn add_email_domain(
        &self,
        proof: &Authorized<ManageOrganization>,
        domain: &EmailDomain,
        entry: &AuditEntry,
    ) -> Result<()> {
        let organization = proof.organization();
        let mut tx = self.begin().await?;
        tx.refuse_deleted_organization(proof.organization()).await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query("INSERT INTO organization_email_domains (organization_id, domain, created_at) VALUES ($1, $2, $3)")
                .bind(organization.as_uuid())
                .bind(domain.as_str())
                .bind(Timestamp::from(entry.at))
                .execute(conn)
                .await
                .map_err(|error| crate::error::on_unique(error, &[("domain", "domain", "is on the list already")]))?;
        });
        tx.audit(
            &entry
                .event(AuditAction::EmailDomainAdded, AuditOutcome::Success)
                .target("organization", organization)
                .organization(organization)
                .detail(serde_json::json!({ "domain": domain.as_str() })),
        )
        .await?;
        tx.commit().await
    }

    pub async fn remove_email_domain(
        &self,
        proof: &Authorized<ManageOrganization>,
        domain: &EmailDomain,
        entry: &AuditEntry,
    ) -> Result<()> {
        let organization = proof.organization();
        let mut tx = self.begin().await?;
        tx.refuse_deleted_organization(proof.organization()).await?;
        let removed = on_tx!(&mut tx, |conn| {
            sqlx::query(
                "DELETE FROM organization_email_domains WHERE organization_id = $1 AND domain = $2",
            )
            .bind(organization.as_uuid())
            .bind(domain.as_str())
            .execute(conn)
            .await?
            .rows_affected()
        });
        if removed == 0 {
            return Err(DomainError::NotFound { what: "the domain" }.into());
        }
        tx.audit(
            &entry
                .event(AuditAction::EmailDomainRemoved, AuditOutcome::Success)
                .target("organization", organization)
                .organization(organization)
                .detail(serde_json::json!({ "domain": domain.as_str() })),
        )
        .await?;
        tx.commit().await
    }

    /// The allowed e-mail domains of several organizations, sorted.
    pub async fn email_domains_of_organizations(
        &self,
        organizations: &[OrganizationId],
    ) -> Result<Vec<(OrganizationId, String)>> {
        if organizations.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(Uuid, String)> = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new("");
            push_email_domains_of_organizations!(query, organizations);
            query.build_query_as().fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(|(organization, domain)| (OrganizationId(organization), domain))
            .collect())
    }

    /// The plan of [`Store::email_domains_of_organizations`]'s statement (see
    /// `explain_plan!`).
    #[cfg(feature = "testing")]
    pub async fn explain_email_domains_of_organizations(
        &self,
        organizations: &[OrganizationId],
    ) -> Result<Vec<String>> {
        Ok(explain_plan!(self, |query| {
            push_email_domains_of_organizations!(query, organizations)
        }))
    }

    /// A page of an organization's memberships in user-id order, and how many there are;
    /// invitations of existing accounts left out ([`SHOWN_MEMBERSHIP`]).
    pub async fn members_page(
        &self,
        organization: OrganizationId,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<(Vec<MembershipRecord>, i64)> {
        let (rows, total) = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new("");
            push_members_page!(query, organization, after, limit);
            let rows = query
                .build_query_as::<MembershipRow>()
                .fetch_all(pool)
                .await?;
            let mut count = QueryBuilder::new("");
            push_members_count!(count, organization);
            let total: i64 = count.build_query_scalar().fetch_one(pool).await?;
            (rows, total)
        });
        Ok((rows.into_iter().map(Into::into).collect(), total))
    }

    /// The plans of [`Store::members_page`]'s page and count statements (see
    /// `explain_plan!`).
    #[cfg(feature = "testing")]
    pub async fn explain_members_page(
        &self,
        organization: OrganizationId,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let page = explain_plan!(self, |query| push_members_page!(
            query,
            organization,
            after,
            limit
        ));
        let count = explain_plan!(self, |query| push_members_count!(query, organization));
        Ok((page, count))
    }
}
