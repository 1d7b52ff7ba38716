//! Projects inside an organization; roles can be bound at project scope.

use sqlx::QueryBuilder;
use steward_domain::audit::{AuditAction, AuditOutcome};
use steward_domain::organization::Name;
use steward_domain::policy::{Authorized, ManageProjects};
use steward_domain::{DomainError, OrganizationId, ProjectId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::on_unique;
use crate::{AuditEntry, Result, Store, Timestamp, on_pool, on_tx};

#[derive(Debug, Clone, PartialEq)]
pub struct ProjectRecord {
    pub id: ProjectId,
    pub organization: OrganizationId,
    pub name: String,
    pub created_at: OffsetDateTime,
    pub archived_at: Option<OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
struct ProjectRow {
    id: Uuid,
    organization_id: Uuid,
    name: String,
    created_at: Timestamp,
    archived_at: Option<Timestamp>,
}

impl From<ProjectRow> for ProjectRecord {
    fn from(row: ProjectRow) -> Self {
        Self {
            id: ProjectId(row.id),
            organization: OrganizationId(row.organization_id),
            name: row.name,
            created_at: row.created_at.into(),
            archived_at: row.archived_at.map(Into::into),
        }
    }
}

const TAKEN: &[(&str, &str, &str)] = &[(
    "name_normalized",
    "name",
    "a project with this name exists already",
)];

/// Pushes the statement of [`Store::projects_of_organizations`].
macro_rules! push_projects_of_organizations {
    ($query:expr, $organizations:expr) => {{
        $query.push(
            "SELECT id, organization_id, name, created_at, archived_at FROM projects \
             WHERE organization_id IN (",
        );
        push_in_list!(
            $query,
            IntoIterator::into_iter($organizations).map(|id| id.as_uuid())
        );
        $query.push(" ORDER BY name_normalized, id");
    }};
}

/// Pushes the statement of [`Store::projects_by_ids`].
macro_rules! push_projects_by_ids {
    ($query:expr, $ids:expr) => {{
        $query.push(
            "SELECT id, organization_id, name, created_at, archived_at FROM projects WHERE id IN (",
        );
        push_in_list!($query, IntoIterator::into_iter($ids).map(|id| id.as_uuid()));
    }};
}

impl Store {
    /// Creates a project in the proof's organization; a proof confined to a project does not
    /// reach this far.
    pub async fn create_project(
        &self,
        proof: &Authorized<ManageProjects>,
        name: &Name,
        entry: &AuditEntry,
    ) -> Result<ProjectRecord> {
        let organization = proof.organization();
        proof.check_covers(None)?;
        let id = ProjectId::new();
        let now = Timestamp::from(entry.at);
        let mut tx = self.begin().await?;
        tx.refuse_deleted_organization(proof.organization()).await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "INSERT INTO projects (id, organization_id, name, name_normalized, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(id.as_uuid())
            .bind(organization.as_uuid())
            .bind(name.as_str())
            .bind(name.normalized())
            .bind(now)
            .execute(conn)
            .await
            .map_err(|error| on_unique(error, TAKEN))?;
        });
        tx.audit(
            &entry
                .event(AuditAction::ProjectCreated, AuditOutcome::Success)
                .target("project", id)
                .organization(organization)
                .detail(serde_json::json!({ "name": name.as_str() })),
        )
        .await?;
        tx.commit().await?;
        Ok(ProjectRecord {
            id,
            organization,
            name: name.as_str().to_owned(),
            created_at: now.into(),
            archived_at: None,
        })
    }

    /// Renames a project of the proof's organization (the proof's project, when it is
    /// confined to one).
    pub async fn rename_project(
        &self,
        proof: &Authorized<ManageProjects>,
        project: ProjectId,
        name: &Name,
        entry: &AuditEntry,
    ) -> Result<()> {
        proof.check_covers(Some(project))?;
        let organization = proof.organization();
        let mut tx = self.begin().await?;
        tx.refuse_deleted_organization(proof.organization()).await?;
        let updated = on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE projects SET name = $3, name_normalized = $4, updated_at = $5 \
                 WHERE id = $1 AND organization_id = $2",
            )
            .bind(project.as_uuid())
            .bind(organization.as_uuid())
            .bind(name.as_str())
            .bind(name.normalized())
            .bind(Timestamp::from(entry.at))
            .execute(conn)
            .await
            .map_err(|error| on_unique(error, TAKEN))?
            .rows_affected()
        });
        if updated == 0 {
            return Err(DomainError::NotFound {
                what: "the project",
            }
            .into());
        }
        tx.audit(
            &entry
                .event(AuditAction::ProjectRenamed, AuditOutcome::Success)
                .target("project", project)
                .organization(organization)
                .detail(serde_json::json!({ "name": name.as_str() })),
        )
        .await?;
        tx.commit().await
    }

    /// Archives a project: it stays listed, takes no new bindings, and its bindings stay for
    /// the record. A proof confined to a project archives that project only.
    pub async fn archive_project(
        &self,
        proof: &Authorized<ManageProjects>,
        project: ProjectId,
        entry: &AuditEntry,
    ) -> Result<()> {
        proof.check_covers(Some(project))?;
        let organization = proof.organization();
        let mut tx = self.begin().await?;
        tx.refuse_deleted_organization(proof.organization()).await?;
        let state: Option<Option<Timestamp>> = on_tx!(&mut tx, |conn| {
            sqlx::query_scalar(
                "SELECT archived_at FROM projects WHERE id = $1 AND organization_id = $2",
            )
            .bind(project.as_uuid())
            .bind(organization.as_uuid())
            .fetch_optional(conn)
            .await?
        });
        match state {
            None => {
                return Err(DomainError::NotFound {
                    what: "the project",
                }
                .into());
            }
            Some(Some(_)) => {
                return Err(DomainError::invalid("project", "is archived already").into());
            }
            Some(None) => {}
        }
        on_tx!(&mut tx, |conn| {
            sqlx::query("UPDATE projects SET archived_at = $2, updated_at = $2 WHERE id = $1")
                .bind(project.as_uuid())
                .bind(Timestamp::from(entry.at))
                .execute(conn)
                .await?;
        });
        tx.audit(
            &entry
                .event(AuditAction::ProjectArchived, AuditOutcome::Success)
                .target("project", project)
                .organization(organization),
        )
        .await?;
        tx.commit().await
    }

    /// The projects of several organizations, by name.
    pub async fn projects_of_organizations(
        &self,
        organizations: &[OrganizationId],
    ) -> Result<Vec<ProjectRecord>> {
        if organizations.is_empty() {
            return Ok(Vec::new());
        }
        let rows = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new("");
            push_projects_of_organizations!(query, organizations);
            query.build_query_as::<ProjectRow>().fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The plan of [`Store::projects_of_organizations`]'s statement (see `explain_plan!`).
    #[cfg(feature = "testing")]
    pub async fn explain_projects_of_organizations(
        &self,
        organizations: &[OrganizationId],
    ) -> Result<Vec<String>> {
        Ok(explain_plan!(self, |query| {
            push_projects_of_organizations!(query, organizations)
        }))
    }

    /// Projects by id; unknown ids are left out.
    pub async fn projects_by_ids(&self, ids: &[ProjectId]) -> Result<Vec<ProjectRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new("");
            push_projects_by_ids!(query, ids);
            query.build_query_as::<ProjectRow>().fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The plan of [`Store::projects_by_ids`]'s statement (see `explain_plan!`).
    #[cfg(feature = "testing")]
    pub async fn explain_projects_by_ids(&self, ids: &[ProjectId]) -> Result<Vec<String>> {
        Ok(explain_plan!(self, |query| push_projects_by_ids!(
            query, ids
        )))
    }
}
