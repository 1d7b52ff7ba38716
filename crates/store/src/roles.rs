//! Roles, their permissions, role bindings, and the grant lookup authorization rests on.

use std::collections::HashMap;

use sqlx::QueryBuilder;
use steward_domain::audit::{AuditAction, AuditOutcome};
use steward_domain::organization::Name;
use steward_domain::permission::{Area, Level, Permission, PermissionSet};
use steward_domain::policy::{Authorized, ManageRoles, MemberGrant};
use steward_domain::{
    DomainError, GroupId, OrganizationId, ProjectId, RoleBindingId, RoleId, UserId,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::on_unique;
use crate::{AuditEntry, Result, Store, StoreError, Timestamp, Tx, on_pool, on_tx};

/// A role with the permissions it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleRecord {
    pub id: RoleId,
    pub organization: OrganizationId,
    pub name: String,
    pub description: String,
    pub built_in: bool,
    pub permissions: PermissionSet,
    pub created_at: OffsetDateTime,
}

/// A role without its permissions, which take a statement of their own
/// ([`Store::permissions_of_roles`]): what a page showing role names needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSummary {
    pub id: RoleId,
    pub organization: OrganizationId,
    pub name: String,
    pub description: String,
    pub built_in: bool,
    pub created_at: OffsetDateTime,
}

impl RoleRecord {
    /// The role without its permissions, and its permissions.
    pub fn split(self) -> (RoleSummary, PermissionSet) {
        let summary = RoleSummary {
            id: self.id,
            organization: self.organization,
            name: self.name,
            description: self.description,
            built_in: self.built_in,
            created_at: self.created_at,
        };
        (summary, self.permissions)
    }
}

impl From<RoleRow> for RoleSummary {
    fn from(row: RoleRow) -> Self {
        Self {
            id: RoleId(row.id),
            organization: OrganizationId(row.organization_id),
            name: row.name,
            description: row.description,
            built_in: row.built_in,
            created_at: row.created_at.into(),
        }
    }
}

#[derive(sqlx::FromRow)]
struct RoleRow {
    id: Uuid,
    organization_id: Uuid,
    name: String,
    description: String,
    built_in: bool,
    created_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct RolePermissionRow {
    role_id: Uuid,
    area: String,
    level: String,
}

/// Pushes the statement of [`Store::roles_of_organizations`] (their permissions come next).
macro_rules! push_roles_of_organizations {
    ($query:expr, $organizations:expr) => {{
        $query.push(
            "SELECT id, organization_id, name, description, built_in, created_at FROM roles \
             WHERE organization_id IN (",
        );
        push_in_list!(
            $query,
            IntoIterator::into_iter($organizations).map(|organization| organization.as_uuid())
        );
        $query.push(" ORDER BY built_in DESC, name_normalized, id");
    }};
}

/// Pushes the statement of [`Store::roles_by_ids`] (their permissions come next).
macro_rules! push_roles_by_ids {
    ($query:expr, $ids:expr) => {{
        $query.push(
            "SELECT id, organization_id, name, description, built_in, created_at FROM roles \
             WHERE id IN (",
        );
        push_in_list!($query, IntoIterator::into_iter($ids).map(|id| id.as_uuid()));
    }};
}

/// Pushes the statement that reads the permissions of the roles whose ids `$roles` yields.
macro_rules! push_permissions_of_roles {
    ($query:expr, $roles:expr) => {{
        $query.push("SELECT role_id, area, level FROM role_permissions WHERE role_id IN (");
        push_in_list!($query, $roles);
    }};
}

/// Pushes the statement of [`Store::bindings_of_users`].
macro_rules! push_bindings_of_users {
    ($query:expr, $users:expr) => {{
        $query.push(
            "SELECT id, organization_id, role_id, user_id, group_id, project_id, created_at \
             FROM role_bindings WHERE user_id IN (",
        );
        push_in_list!(
            $query,
            IntoIterator::into_iter($users).map(|user| user.as_uuid())
        );
        $query.push(" ORDER BY created_at, id");
    }};
}

/// Who a role is given to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingSubject {
    User(UserId),
    Group(GroupId),
}

impl BindingSubject {
    fn key(self) -> String {
        match self {
            BindingSubject::User(user) => format!("user:{user}"),
            BindingSubject::Group(group) => format!("group:{group}"),
        }
    }
}

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingScope {
    Organization,
    Project(ProjectId),
}

impl BindingScope {
    fn key(self) -> String {
        match self {
            BindingScope::Organization => "organization".to_owned(),
            BindingScope::Project(project) => project.to_string(),
        }
    }

    fn project(self) -> Option<Uuid> {
        match self {
            BindingScope::Organization => None,
            BindingScope::Project(project) => Some(project.as_uuid()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RoleBindingRecord {
    pub id: RoleBindingId,
    pub organization: OrganizationId,
    pub role: RoleId,
    pub subject: BindingSubject,
    pub scope: BindingScope,
    pub created_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct BindingRow {
    id: Uuid,
    organization_id: Uuid,
    role_id: Uuid,
    user_id: Option<Uuid>,
    group_id: Option<Uuid>,
    project_id: Option<Uuid>,
    created_at: Timestamp,
}

impl TryFrom<BindingRow> for RoleBindingRecord {
    type Error = StoreError;

    fn try_from(row: BindingRow) -> Result<Self> {
        let subject = match (row.user_id, row.group_id) {
            (Some(user), None) => BindingSubject::User(UserId(user)),
            (None, Some(group)) => BindingSubject::Group(GroupId(group)),
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "role binding {} has no single subject",
                    row.id
                )));
            }
        };
        Ok(RoleBindingRecord {
            id: RoleBindingId(row.id),
            organization: OrganizationId(row.organization_id),
            role: RoleId(row.role_id),
            subject,
            scope: row.project_id.map_or(BindingScope::Organization, |p| {
                BindingScope::Project(ProjectId(p))
            }),
            created_at: row.created_at.into(),
        })
    }
}

/// A custom role's definition.
#[derive(Debug, Clone)]
pub struct RoleDefinition {
    pub name: Name,
    pub description: String,
    pub permissions: PermissionSet,
}

#[derive(sqlx::FromRow)]
struct GrantRow {
    organization_id: Uuid,
    role_id: Option<Uuid>,
    project_id: Option<Uuid>,
    area: Option<String>,
    level: Option<String>,
}

fn parse_permission(area: &str, level: &str) -> Result<Permission> {
    match (Area::from_code(area), Level::from_code(level)) {
        (Some(area), Some(level)) => Ok(Permission::new(area, level)),
        _ => Err(StoreError::Corrupt(format!(
            "unknown permission {area}/{level}"
        ))),
    }
}

impl Tx {
    /// Inserts a role and its permissions.
    pub(crate) async fn insert_role(
        &mut self,
        organization: OrganizationId,
        definition: &RoleDefinition,
        built_in: bool,
        now: Timestamp,
    ) -> Result<RoleId> {
        let id = RoleId::new();
        on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO roles (id, organization_id, name, name_normalized, description, built_in, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            )
            .bind(id.as_uuid())
            .bind(organization.as_uuid())
            .bind(definition.name.as_str())
            .bind(definition.name.normalized())
            .bind(&definition.description)
            .bind(built_in)
            .bind(now)
            .execute(conn)
            .await
            .map_err(|error| on_unique(error, &[("name_normalized", "name", "a role with this name exists already")]))?;
        });
        self.insert_role_permissions(id, &definition.permissions)
            .await?;
        Ok(id)
    }

    async fn insert_role_permissions(
        &mut self,
        role: RoleId,
        permissions: &PermissionSet,
    ) -> Result<()> {
        if permissions.is_empty() {
            return Ok(());
        }
        on_tx!(self, |conn| {
            let mut query =
                QueryBuilder::new("INSERT INTO role_permissions (role_id, area, level) ");
            query.push_values(permissions.iter(), |mut row, permission| {
                row.push_bind(role.as_uuid())
                    .push_bind(permission.area.code())
                    .push_bind(permission.level.code());
            });
            query.build().execute(conn).await?;
        });
        Ok(())
    }

    /// Binds a role; the caller has checked that role, subject and scope belong to the
    /// organization.
    pub(crate) async fn insert_binding(
        &mut self,
        organization: OrganizationId,
        role: RoleId,
        subject: BindingSubject,
        scope: BindingScope,
        now: Timestamp,
    ) -> Result<RoleBindingId> {
        let ids = self
            .insert_bindings(organization, &[(role, subject)], scope, now)
            .await?;
        ids.first()
            .copied()
            .ok_or_else(|| StoreError::Corrupt("a binding insert returned no id".into()))
    }

    /// Binds roles to subjects in one scope, many to a statement; their ids in order.
    pub(crate) async fn insert_bindings(
        &mut self,
        organization: OrganizationId,
        bindings: &[(RoleId, BindingSubject)],
        scope: BindingScope,
        now: Timestamp,
    ) -> Result<Vec<RoleBindingId>> {
        let ids: Vec<RoleBindingId> = bindings.iter().map(|_| RoleBindingId::new()).collect();
        // 9 parameters a binding.
        for (chunk, chunk_ids) in bindings.chunks(500).zip(ids.chunks(500)) {
            on_tx!(&mut *self, |conn| {
                let mut query = QueryBuilder::new(
                    "INSERT INTO role_bindings (id, organization_id, role_id, user_id, group_id, \
                     project_id, subject_key, scope_key, created_at) ",
                );
                query.push_values(
                    chunk.iter().zip(chunk_ids),
                    |mut values, ((role, subject), id)| {
                        let (user, group) = match subject {
                            BindingSubject::User(user) => (Some(user.as_uuid()), None),
                            BindingSubject::Group(group) => (None, Some(group.as_uuid())),
                        };
                        values
                            .push_bind(id.as_uuid())
                            .push_bind(organization.as_uuid())
                            .push_bind(role.as_uuid())
                            .push_bind(user)
                            .push_bind(group)
                            .push_bind(scope.project())
                            .push_bind(subject.key())
                            .push_bind(scope.key())
                            .push_bind(now);
                    },
                );
                query.build().execute(&mut *conn).await.map_err(|error| {
                    on_unique(
                        error,
                        &[(
                            "subject_key",
                            "role",
                            "this role is bound to them there already",
                        )],
                    )
                })?;
            });
        }
        let subjects: Vec<BindingSubject> = bindings.iter().map(|(_, subject)| *subject).collect();
        self.refresh_effective_roles_of(&subjects).await?;
        Ok(ids)
    }

    /// Rewrites the effective roles of the users `subjects` name, directly or as a group's
    /// members.
    pub(crate) async fn refresh_effective_roles_of(
        &mut self,
        subjects: &[BindingSubject],
    ) -> Result<()> {
        let mut users = Vec::new();
        for subject in subjects {
            match *subject {
                BindingSubject::User(user) => users.push(user),
                BindingSubject::Group(group) => users.extend(self.group_member_ids(group).await?),
            }
        }
        self.refresh_effective_roles(&users).await
    }

    /// The role, if it belongs to `organization`.
    async fn role_in(
        &mut self,
        organization: OrganizationId,
        role: RoleId,
    ) -> Result<Option<RoleRow>> {
        Ok(on_tx!(self, |conn| {
            sqlx::query_as::<_, RoleRow>(
                "SELECT id, organization_id, name, description, built_in, created_at FROM roles \
                 WHERE id = $1 AND organization_id = $2",
            )
            .bind(role.as_uuid())
            .bind(organization.as_uuid())
            .fetch_optional(conn)
            .await?
        }))
    }
}

impl Store {
    /// What `user` holds in each organization where the membership is active: the role in
    /// force (`active` for its organization, the default role elsewhere) and the permissions
    /// it gives organization-wide, with the permissions of every role bound to the user for
    /// a project (whichever role is in force: switching the active role keeps them), through
    /// direct and group bindings. One statement over indexed tables (`effective_roles` has
    /// group memberships expanded), read on every authorized request, so a removed binding
    /// or a disabled membership takes effect on the next request.
    pub async fn member_grants(
        &self,
        user: UserId,
        active: Option<(OrganizationId, RoleId)>,
    ) -> Result<Vec<MemberGrant>> {
        self.grants(user, active, true).await
    }

    /// What `user` holds in `organization` through `role` alone, organization-wide and for
    /// the projects it is bound for: what an API key limited to that role holds. None when
    /// the membership is not active.
    pub async fn member_grant_of_role(
        &self,
        user: UserId,
        organization: OrganizationId,
        role: RoleId,
    ) -> Result<Option<MemberGrant>> {
        Ok(self
            .grants(user, Some((organization, role)), false)
            .await?
            .into_iter()
            .find(|grant| grant.organization == organization))
    }

    /// See [`Store::member_grants`]; `every_project_binding` false keeps only the project
    /// bindings of the role in force.
    async fn grants(
        &self,
        user: UserId,
        active: Option<(OrganizationId, RoleId)>,
        every_project_binding: bool,
    ) -> Result<Vec<MemberGrant>> {
        let rows = on_pool!(self, |pool| {
            sqlx::query_as::<_, GrantRow>(
                "SELECT m.organization_id AS organization_id, \
                   CASE WHEN m.organization_id = $2 THEN $3 ELSE m.default_role_id END AS role_id, \
                   er.project_id AS project_id, rp.area AS area, rp.level AS level \
                 FROM memberships m \
                 LEFT JOIN effective_roles er \
                   ON er.user_id = m.user_id AND er.organization_id = m.organization_id \
                  AND (er.role_id = CASE WHEN m.organization_id = $2 THEN $3 ELSE m.default_role_id END \
                       OR (er.project_id IS NOT NULL AND $4)) \
                 LEFT JOIN role_permissions rp ON rp.role_id = er.role_id \
                 WHERE m.user_id = $1 AND m.status = 'ACTIVE'",
            )
            .bind(user.as_uuid())
            .bind(active.map(|(organization, _)| organization.as_uuid()))
            .bind(active.map(|(_, role)| role.as_uuid()))
            .bind(every_project_binding)
            .fetch_all(pool)
            .await?
        });
        let mut grants: HashMap<OrganizationId, MemberGrant> = HashMap::new();
        for row in rows {
            let organization = OrganizationId(row.organization_id);
            let grant = grants.entry(organization).or_insert_with(|| MemberGrant {
                organization,
                role: row.role_id.map(RoleId),
                permissions: PermissionSet::default(),
                project_permissions: HashMap::new(),
            });
            if let (Some(area), Some(level)) = (row.area.as_deref(), row.level.as_deref()) {
                let permission = parse_permission(area, level)?;
                match row.project_id {
                    None => grant.permissions.insert(permission),
                    Some(project) => grant
                        .project_permissions
                        .entry(ProjectId(project))
                        .or_default()
                        .insert(permission),
                }
            }
        }
        Ok(grants.into_values().collect())
    }

    /// Whether `role` is bound to `user` in `organization`, directly or through a group that
    /// is not archived, at any scope.
    pub async fn role_bound_to_user(
        &self,
        user: UserId,
        organization: OrganizationId,
        role: RoleId,
    ) -> Result<bool> {
        let count: i64 = on_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM effective_roles \
                 WHERE user_id = $1 AND organization_id = $2 AND role_id = $3",
            )
            .bind(user.as_uuid())
            .bind(organization.as_uuid())
            .bind(role.as_uuid())
            .fetch_one(pool)
            .await?
        });
        Ok(count > 0)
    }

    /// The roles of several organizations with their permissions, by name; two statements
    /// for any number of organizations.
    pub async fn roles_of_organizations(
        &self,
        organizations: &[OrganizationId],
    ) -> Result<Vec<RoleRecord>> {
        if organizations.is_empty() {
            return Ok(Vec::new());
        }
        let rows = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new("");
            push_roles_of_organizations!(query, organizations);
            query.build_query_as::<RoleRow>().fetch_all(pool).await?
        });
        self.with_permissions(rows.into_iter().map(RoleSummary::from).collect())
            .await
    }

    /// The plan of [`Store::roles_of_organizations`]'s first statement (see `explain_plan!`;
    /// [`Store::explain_permissions_of_roles`] gives the second).
    #[cfg(feature = "testing")]
    pub async fn explain_roles_of_organizations(
        &self,
        organizations: &[OrganizationId],
    ) -> Result<Vec<String>> {
        Ok(explain_plan!(self, |query| push_roles_of_organizations!(
            query,
            organizations
        )))
    }

    /// Roles by id; unknown ids are left out.
    pub async fn roles_by_ids(&self, ids: &[RoleId]) -> Result<Vec<RoleRecord>> {
        let summaries = self.role_summaries_by_ids(ids).await?;
        self.with_permissions(summaries).await
    }

    /// Roles by id without their permissions, in one statement; unknown ids are left out.
    pub async fn role_summaries_by_ids(&self, ids: &[RoleId]) -> Result<Vec<RoleSummary>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new("");
            push_roles_by_ids!(query, ids);
            query.build_query_as::<RoleRow>().fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(RoleSummary::from).collect())
    }

    /// The plan of [`Store::role_summaries_by_ids`]'s statement (see `explain_plan!`).
    #[cfg(feature = "testing")]
    pub async fn explain_roles_by_ids(&self, ids: &[RoleId]) -> Result<Vec<String>> {
        Ok(explain_plan!(self, |query| push_roles_by_ids!(query, ids)))
    }

    /// The plan of [`Store::permissions_of_roles`]'s statement.
    #[cfg(feature = "testing")]
    pub async fn explain_permissions_of_roles(&self, roles: &[RoleId]) -> Result<Vec<String>> {
        Ok(explain_plan!(self, |query| push_permissions_of_roles!(
            query,
            roles.iter().map(|role| role.as_uuid())
        )))
    }

    /// The permissions of roles, in one statement; a role without any is left out.
    pub async fn permissions_of_roles(
        &self,
        ids: &[RoleId],
    ) -> Result<HashMap<RoleId, PermissionSet>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let permission_rows = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new("");
            push_permissions_of_roles!(query, IntoIterator::into_iter(ids).map(|id| id.as_uuid()));
            query
                .build_query_as::<RolePermissionRow>()
                .fetch_all(pool)
                .await?
        });
        let mut permissions: HashMap<RoleId, PermissionSet> = HashMap::new();
        for row in permission_rows {
            permissions
                .entry(RoleId(row.role_id))
                .or_default()
                .insert(parse_permission(&row.area, &row.level)?);
        }
        Ok(permissions)
    }

    async fn with_permissions(&self, summaries: Vec<RoleSummary>) -> Result<Vec<RoleRecord>> {
        let ids: Vec<RoleId> = summaries.iter().map(|summary| summary.id).collect();
        let mut permissions = self.permissions_of_roles(&ids).await?;
        Ok(summaries
            .into_iter()
            .map(|summary| RoleRecord {
                permissions: permissions.remove(&summary.id).unwrap_or_default(),
                id: summary.id,
                organization: summary.organization,
                name: summary.name,
                description: summary.description,
                built_in: summary.built_in,
                created_at: summary.created_at,
            })
            .collect())
    }

    /// Creates a custom role in the proof's organization.
    pub async fn create_role(
        &self,
        proof: &Authorized<ManageRoles>,
        definition: &RoleDefinition,
        entry: &AuditEntry,
    ) -> Result<RoleRecord> {
        let organization = proof.organization();
        let mut tx = self.begin().await?;
        tx.refuse_deleted_organization(proof.organization()).await?;
        let id = tx
            .insert_role(organization, definition, false, entry.at.into())
            .await?;
        tx.audit(
            &entry
                .event(AuditAction::RoleCreated, AuditOutcome::Success)
                .target("role", id)
                .organization(organization)
                .detail(serde_json::json!({
                    "name": definition.name.as_str(),
                    "permissions": definition.permissions.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                })),
        )
        .await?;
        tx.commit().await?;
        self.existing_role(id).await
    }

    async fn existing_role(&self, id: RoleId) -> Result<RoleRecord> {
        self.roles_by_ids(&[id])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Domain(DomainError::NotFound { what: "the role" }))
    }

    /// Replaces a custom role's name, description and permissions. Built-in roles are
    /// read-only.
    pub async fn update_role(
        &self,
        proof: &Authorized<ManageRoles>,
        role: RoleId,
        definition: &RoleDefinition,
        entry: &AuditEntry,
    ) -> Result<RoleRecord> {
        let organization = proof.organization();
        let mut tx = self.begin().await?;
        tx.refuse_deleted_organization(proof.organization()).await?;
        let existing = tx
            .role_in(organization, role)
            .await?
            .ok_or(DomainError::NotFound { what: "the role" })?;
        if existing.built_in {
            return Err(DomainError::forbidden(
                "built-in roles are read-only; create a custom role instead",
            )
            .into());
        }
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE roles SET name = $2, name_normalized = $3, description = $4, updated_at = $5 WHERE id = $1",
            )
            .bind(role.as_uuid())
            .bind(definition.name.as_str())
            .bind(definition.name.normalized())
            .bind(&definition.description)
            .bind(Timestamp::from(entry.at))
            .execute(&mut *conn)
            .await
            .map_err(|error| on_unique(error, &[("name_normalized", "name", "a role with this name exists already")]))?;
            sqlx::query("DELETE FROM role_permissions WHERE role_id = $1")
                .bind(role.as_uuid())
                .execute(conn)
                .await?;
        });
        tx.insert_role_permissions(role, &definition.permissions)
            .await?;
        tx.audit(
            &entry
                .event(AuditAction::RoleUpdated, AuditOutcome::Success)
                .target("role", role)
                .organization(organization)
                .detail(serde_json::json!({
                    "name": definition.name.as_str(),
                    "permissions": definition.permissions.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                })),
        )
        .await?;
        tx.commit().await?;
        self.existing_role(role).await
    }

    /// Deletes a custom role that nobody holds.
    pub async fn delete_role(
        &self,
        proof: &Authorized<ManageRoles>,
        role: RoleId,
        entry: &AuditEntry,
    ) -> Result<()> {
        let organization = proof.organization();
        let mut tx = self.begin().await?;
        tx.refuse_deleted_organization(proof.organization()).await?;
        let existing = tx
            .role_in(organization, role)
            .await?
            .ok_or(DomainError::NotFound { what: "the role" })?;
        if existing.built_in {
            return Err(DomainError::forbidden("built-in roles cannot be deleted").into());
        }
        let (bindings, defaults): (i64, i64) = on_tx!(&mut tx, |conn| {
            let bindings =
                sqlx::query_scalar("SELECT COUNT(*) FROM role_bindings WHERE role_id = $1")
                    .bind(role.as_uuid())
                    .fetch_one(&mut *conn)
                    .await?;
            let defaults =
                sqlx::query_scalar("SELECT COUNT(*) FROM memberships WHERE default_role_id = $1")
                    .bind(role.as_uuid())
                    .fetch_one(&mut *conn)
                    .await?;
            (bindings, defaults)
        });
        if bindings > 0 || defaults > 0 {
            return Err(DomainError::conflict(
                "role",
                format!(
                    "the role is still bound {bindings} time(s) and is the default role of {defaults} member(s); \
                     unbind it and change those default roles first"
                ),
            )
            .into());
        }
        on_tx!(&mut tx, |conn| {
            sqlx::query("DELETE FROM roles WHERE id = $1")
                .bind(role.as_uuid())
                .execute(conn)
                .await?;
        });
        tx.audit(
            &entry
                .event(AuditAction::RoleDeleted, AuditOutcome::Success)
                .target("role", role)
                .organization(organization)
                .detail(serde_json::json!({ "name": existing.name })),
        )
        .await?;
        tx.commit().await
    }

    /// Binds a role of the proof's organization to a member or group of it, organization-wide
    /// or for one of its projects.
    pub async fn bind_role(
        &self,
        proof: &Authorized<ManageRoles>,
        role: RoleId,
        subject: BindingSubject,
        scope: BindingScope,
        entry: &AuditEntry,
    ) -> Result<RoleBindingRecord> {
        let organization = proof.organization();
        let mut tx = self.begin().await?;
        tx.refuse_deleted_organization(proof.organization()).await?;
        tx.role_in(organization, role)
            .await?
            .ok_or(DomainError::NotFound { what: "the role" })?;
        let (subject_found, scope_found): (i64, i64) = on_tx!(&mut tx, |conn| {
            let subject_found = match subject {
                BindingSubject::User(user) => sqlx::query_scalar(
                    "SELECT COUNT(*) FROM memberships WHERE organization_id = $1 AND user_id = $2 AND status <> 'DISABLED'",
                )
                .bind(organization.as_uuid())
                .bind(user.as_uuid()),
                BindingSubject::Group(group) => sqlx::query_scalar(
                    "SELECT COUNT(*) FROM groups WHERE organization_id = $1 AND id = $2 AND archived_at IS NULL",
                )
                .bind(organization.as_uuid())
                .bind(group.as_uuid()),
            }
            .fetch_one(&mut *conn)
            .await?;
            let scope_found = match scope {
                BindingScope::Organization => 1,
                BindingScope::Project(project) => {
                    sqlx::query_scalar(
                        "SELECT COUNT(*) FROM projects WHERE organization_id = $1 AND id = $2 AND archived_at IS NULL",
                    )
                    .bind(organization.as_uuid())
                    .bind(project.as_uuid())
                    .fetch_one(conn)
                    .await?
                }
            };
            (subject_found, scope_found)
        });
        if subject_found == 0 {
            return Err(DomainError::NotFound {
                what: match subject {
                    BindingSubject::User(_) => "the member",
                    BindingSubject::Group(_) => "the group",
                },
            }
            .into());
        }
        if scope_found == 0 {
            return Err(DomainError::NotFound {
                what: "the project",
            }
            .into());
        }
        let now = Timestamp::from(entry.at);
        let id = tx
            .insert_binding(organization, role, subject, scope, now)
            .await?;
        tx.audit(
            &entry
                .event(AuditAction::RoleBound, AuditOutcome::Success)
                .target("role_binding", id)
                .organization(organization)
                .detail(serde_json::json!({
                    "role": role.to_string(),
                    "subject": subject.key(),
                    "scope": scope.key(),
                })),
        )
        .await?;
        tx.commit().await?;
        Ok(RoleBindingRecord {
            id,
            organization,
            role,
            subject,
            scope,
            created_at: now.into(),
        })
    }

    /// Removes a binding of the proof's organization. A member's organization-wide binding of
    /// their default role stays until another default role is set.
    pub async fn unbind_role(
        &self,
        proof: &Authorized<ManageRoles>,
        binding: RoleBindingId,
        entry: &AuditEntry,
    ) -> Result<()> {
        let organization = proof.organization();
        let mut tx = self.begin().await?;
        tx.refuse_deleted_organization(proof.organization()).await?;
        let row = on_tx!(&mut tx, |conn| {
            sqlx::query_as::<_, BindingRow>(
                "SELECT id, organization_id, role_id, user_id, group_id, project_id, created_at \
                 FROM role_bindings WHERE id = $1 AND organization_id = $2",
            )
            .bind(binding.as_uuid())
            .bind(organization.as_uuid())
            .fetch_optional(conn)
            .await?
        });
        let existing = RoleBindingRecord::try_from(row.ok_or(DomainError::NotFound {
            what: "the role binding",
        })?)?;
        if let (BindingSubject::User(user), BindingScope::Organization) =
            (existing.subject, existing.scope)
        {
            let is_default: i64 = on_tx!(&mut tx, |conn| {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM memberships WHERE organization_id = $1 AND user_id = $2 AND default_role_id = $3",
                )
                .bind(organization.as_uuid())
                .bind(user.as_uuid())
                .bind(existing.role.as_uuid())
                .fetch_one(conn)
                .await?
            });
            if is_default > 0 {
                return Err(DomainError::conflict(
                    "binding",
                    "this is the member's default role; set another default role first",
                )
                .into());
            }
        }
        // A concurrent unbind of the same binding (PostgreSQL waits for it here) has removed
        // it already: that one reported and audited it.
        let removed = on_tx!(&mut tx, |conn| {
            sqlx::query("DELETE FROM role_bindings WHERE id = $1")
                .bind(binding.as_uuid())
                .execute(conn)
                .await?
                .rows_affected()
        });
        if removed == 0 {
            return Err(DomainError::NotFound {
                what: "the role binding",
            }
            .into());
        }
        tx.refresh_effective_roles_of(&[existing.subject]).await?;
        tx.audit(
            &entry
                .event(AuditAction::RoleUnbound, AuditOutcome::Success)
                .target("role_binding", binding)
                .organization(organization)
                .detail(serde_json::json!({
                    "role": existing.role.to_string(),
                    "subject": existing.subject.key(),
                    "scope": existing.scope.key(),
                })),
        )
        .await?;
        tx.commit().await
    }

    /// The bindings of several users' (direct only), for DataLoaders.
    pub async fn bindings_of_users(&self, users: &[UserId]) -> Result<Vec<RoleBindingRecord>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let rows = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new("");
            push_bindings_of_users!(query, users);
            query.build_query_as::<BindingRow>().fetch_all(pool).await?
        });
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// The plan of [`Store::bindings_of_users`]'s statement (see `explain_plan!`).
    #[cfg(feature = "testing")]
    pub async fn explain_bindings_of_users(&self, users: &[UserId]) -> Result<Vec<String>> {
        Ok(explain_plan!(self, |query| push_bindings_of_users!(
            query, users
        )))
    }
}
