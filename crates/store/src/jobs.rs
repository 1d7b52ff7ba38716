//! Background jobs: created with their input in one transaction, claimed by a worker under a
//! lease that another instance takes over when the worker dies, advanced in batches that each
//! commit their results together with the job's checkpoint, and ended with a message to the
//! person who started them.

use serde_json::Value;
use sqlx::types::Json;
use steward_domain::audit::{AuditAction, AuditOutcome};
use steward_domain::job::{JobKind, JobStatus};
use steward_domain::notification::Notification;
use steward_domain::{DomainError, JobId, OrganizationId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{AuditEntry, Result, Store, StoreError, Timestamp, Tx, on_pool, on_tx};

/// A job as stored.
#[derive(Debug, Clone)]
pub struct JobRecord {
    pub id: JobId,
    pub kind: JobKind,
    pub organization: Option<OrganizationId>,
    pub initiator: Option<UserId>,
    pub status: JobStatus,
    pub parameters: Value,
    pub total_rows: i64,
    pub processed_rows: i64,
    pub created_rows: i64,
    pub skipped_rows: i64,
    pub failed_rows: i64,
    /// The last input row whose result is committed.
    pub checkpoint: i64,
    pub cancel_requested: bool,
    pub attempts: i64,
    pub error: Option<String>,
    /// Where a consistency run stands (see `RunCursor`); `None` for other kinds.
    pub cursor: Option<String>,
    /// A consistency run's findings so far, and how many of them it repaired.
    pub findings: i64,
    pub repaired: i64,
    pub created_at: OffsetDateTime,
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
    pub updated_at: OffsetDateTime,
}

impl JobRecord {
    /// A boolean setting of the job's parameters; absent means `false`.
    pub fn flag(&self, name: &str) -> bool {
        self.parameters
            .get(name)
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

#[derive(sqlx::FromRow)]
struct JobRow {
    id: Uuid,
    kind: String,
    organization_id: Option<Uuid>,
    initiator_id: Option<Uuid>,
    status: String,
    parameters: Json<Value>,
    total_rows: i64,
    processed_rows: i64,
    created_rows: i64,
    skipped_rows: i64,
    failed_rows: i64,
    checkpoint: i64,
    cancel_requested: bool,
    attempts: i64,
    error: Option<String>,
    cursor: Option<String>,
    findings: i64,
    repaired: i64,
    created_at: Timestamp,
    started_at: Option<Timestamp>,
    finished_at: Option<Timestamp>,
    updated_at: Timestamp,
}

impl TryFrom<JobRow> for JobRecord {
    type Error = StoreError;

    fn try_from(row: JobRow) -> Result<Self> {
        Ok(JobRecord {
            id: JobId(row.id),
            kind: JobKind::from_code(&row.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("job kind {:?}", row.kind)))?,
            organization: row.organization_id.map(OrganizationId),
            initiator: row.initiator_id.map(UserId),
            status: JobStatus::from_code(&row.status)
                .ok_or_else(|| StoreError::Corrupt(format!("job status {:?}", row.status)))?,
            parameters: row.parameters.0,
            total_rows: row.total_rows,
            processed_rows: row.processed_rows,
            created_rows: row.created_rows,
            skipped_rows: row.skipped_rows,
            failed_rows: row.failed_rows,
            checkpoint: row.checkpoint,
            cancel_requested: row.cancel_requested,
            attempts: row.attempts,
            error: row.error,
            cursor: row.cursor,
            findings: row.findings,
            repaired: row.repaired,
            created_at: row.created_at.into(),
            started_at: row.started_at.map(Into::into),
            finished_at: row.finished_at.map(Into::into),
            updated_at: row.updated_at.into(),
        })
    }
}

pub(crate) const JOB_COLUMNS: &str = "id, kind, organization_id, initiator_id, status, parameters, \
     total_rows, processed_rows, created_rows, skipped_rows, failed_rows, checkpoint, \
     cancel_requested, attempts, error, cursor, findings, repaired, created_at, started_at, \
     finished_at, updated_at";

/// Which jobs a list shows. `organizations: None` means every organization (a SuperAdmin).
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub organizations: Option<Vec<OrganizationId>>,
    pub initiator: Option<UserId>,
    pub status: Option<JobStatus>,
    pub kind: Option<JobKind>,
}

/// A job a worker may work on: the claim's lease owner is the worker.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub job: JobRecord,
    pub worker: Uuid,
}

impl Tx {
    /// Inserts a job in `STAGING`: invisible, and not claimed, until its input is written
    /// and it is queued.
    pub(crate) async fn insert_job(
        &mut self,
        id: JobId,
        kind: JobKind,
        organization: Option<OrganizationId>,
        initiator: Option<UserId>,
        parameters: &Value,
        at: OffsetDateTime,
    ) -> Result<()> {
        let now = Timestamp::from(at);
        on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO jobs (id, kind, organization_id, initiator_id, status, parameters, \
                 total_rows, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, 'STAGING', $5, 0, $6, $6)",
            )
            .bind(id.as_uuid())
            .bind(kind.code())
            .bind(organization.map(|id| id.as_uuid()))
            .bind(initiator.map(|id| id.as_uuid()))
            .bind(Json(parameters))
            .bind(now)
            .execute(conn)
            .await?;
        });
        Ok(())
    }

    pub(crate) async fn job(&mut self, id: JobId) -> Result<JobRecord> {
        let row: Option<JobRow> = on_tx!(self, |conn| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 AND status <> 'STAGING'"
            )))
            .bind(id.as_uuid())
            .fetch_optional(conn)
            .await?
        });
        row.ok_or(StoreError::Domain(DomainError::NotFound {
            what: "the job",
        }))?
        .try_into()
    }

    /// The job, locked against other workers and cancellation until the transaction ends
    /// (PostgreSQL; SQLite's single writer serializes the same way), when `worker` still
    /// holds its lease and it is running; `None` when the lease was lost.
    pub(crate) async fn leased_job(&mut self, claimed: &ClaimedJob) -> Result<Option<JobRecord>> {
        let row: Option<JobRow> = match self {
            Tx::Sqlite(tx) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 AND lease_owner = $2 \
                     AND status = 'RUNNING'"
                )))
                .bind(claimed.job.id.as_uuid())
                .bind(claimed.worker)
                .fetch_optional(&mut **tx)
                .await?
            }
            Tx::Postgres(tx) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 AND lease_owner = $2 \
                     AND status = 'RUNNING' FOR UPDATE"
                )))
                .bind(claimed.job.id.as_uuid())
                .bind(claimed.worker)
                .fetch_optional(&mut **tx)
                .await?
            }
        };
        row.map(TryInto::try_into).transpose()
    }

    /// Ends a job: its final status, the lease released, an audit event, and the message to
    /// its initiator.
    pub(crate) async fn end_job(
        &mut self,
        job: &JobRecord,
        status: JobStatus,
        error: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<JobRecord> {
        let now = Timestamp::from(at);
        on_tx!(self, |conn| {
            sqlx::query(
                "UPDATE jobs SET status = $2, error = $3, finished_at = $4, updated_at = $4, \
                 lease_owner = NULL, lease_until = NULL WHERE id = $1",
            )
            .bind(job.id.as_uuid())
            .bind(status.code())
            .bind(error)
            .bind(now)
            .execute(conn)
            .await?;
        });
        let ended = self.job(job.id).await?;
        let entry = AuditEntry {
            actor: None,
            client_address: None,
            at,
        };
        let mut event = entry
            .event(AuditAction::JobFinished, AuditOutcome::Success)
            .target("job", job.id)
            .detail(serde_json::json!({
                "kind": job.kind.code(),
                "status": status.code(),
                "created": ended.created_rows,
                "skipped": ended.skipped_rows,
                "failed": ended.failed_rows,
                "findings": ended.findings,
                "repaired": ended.repaired,
                "error": error,
            }));
        if let Some(organization) = job.organization {
            event = event.organization(organization);
        }
        self.audit(&event).await?;
        if let (Some(initiator), JobKind::ConsistencyRun) = (job.initiator, job.kind) {
            let counts = self.finding_counts(job.id).await?;
            let (scope, repair) = crate::run_parameters(job)?;
            let mode = if repair { "repair" } else { "report" };
            self.notify_user(
                initiator,
                &Notification::ReportReady {
                    report: format!("consistency {mode} ({})", scope.code()),
                    job: job.id.to_string(),
                    summary: counts.summary(),
                },
                at,
            )
            .await?;
        }
        if let (Some(initiator), JobKind::UserImport) = (job.initiator, job.kind) {
            let count = |value: i64| u32::try_from(value).unwrap_or(u32::MAX);
            self.notify_user(
                initiator,
                &Notification::BulkImportFinished {
                    job: job.id.to_string(),
                    created: count(ended.created_rows),
                    skipped: count(ended.skipped_rows),
                    failed: count(ended.failed_rows),
                },
                at,
            )
            .await?;
        }
        Ok(ended)
    }
}

impl Store {
    pub async fn job_by_id(&self, id: JobId) -> Result<Option<JobRecord>> {
        let row: Option<JobRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 AND status <> 'STAGING'"
            )))
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await?
        });
        row.map(TryInto::try_into).transpose()
    }

    /// A page of jobs, newest first, and how many match.
    pub async fn jobs_page(
        &self,
        filter: &JobFilter,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<(Vec<JobRecord>, i64)> {
        // A macro rather than a closure: each backend's arm builds its own query type.
        macro_rules! filtered {
            ($select:expr) => {{
                let mut query = sqlx::QueryBuilder::new($select);
                query.push(" WHERE status <> 'STAGING'");
                if let Some(organizations) = &filter.organizations {
                    if organizations.is_empty() {
                        query.push(" AND 1 = 0");
                    } else {
                        query.push(" AND organization_id IN (");
                        push_in_list!(query, organizations.iter().map(|id| id.as_uuid()));
                    }
                }
                if let Some(initiator) = filter.initiator {
                    query.push(" AND initiator_id = ");
                    query.push_bind(initiator.as_uuid());
                }
                if let Some(status) = filter.status {
                    query.push(" AND status = ");
                    query.push_bind(status.code());
                }
                if let Some(kind) = filter.kind {
                    query.push(" AND kind = ");
                    query.push_bind(kind.code());
                }
                query
            }};
        }
        let (rows, total) = on_pool!(self, |pool| {
            let mut page = filtered!(format!("SELECT {JOB_COLUMNS} FROM jobs"));
            if let Some(after) = after {
                page.push(" AND id < ");
                page.push_bind(after);
            }
            page.push(" ORDER BY id DESC LIMIT ");
            page.push_bind(limit);
            let rows: Vec<JobRow> = page.build_query_as().fetch_all(pool).await?;
            let mut count = filtered!("SELECT COUNT(*) FROM jobs");
            let total: i64 = count.build_query_scalar().fetch_one(pool).await?;
            (rows, total)
        });
        let jobs = rows
            .into_iter()
            .map(TryInto::try_into)
            .collect::<Result<Vec<_>>>()?;
        Ok((jobs, total))
    }

    /// Claims the oldest job that is queued, or running under a lease that has run out (its
    /// worker died or lost the database), leasing it to a new worker until `now + lease`. On
    /// PostgreSQL the candidate is locked with `FOR UPDATE SKIP LOCKED`, so two instances
    /// never claim the same job; SQLite's single writer makes the statement atomic alone.
    pub async fn claim_job(
        &self,
        now: OffsetDateTime,
        lease: time::Duration,
    ) -> Result<Option<ClaimedJob>> {
        const CLAIM: &str = "UPDATE jobs SET status = 'RUNNING', lease_owner = $3, \
             lease_until = $2, attempts = attempts + 1, started_at = COALESCE(started_at, $1), \
             updated_at = $1 WHERE id IN (SELECT id FROM jobs WHERE status = 'QUEUED' \
             OR (status = 'RUNNING' AND lease_until <= $1) ORDER BY created_at, id LIMIT 1";
        let worker = Uuid::new_v4();
        let row: Option<JobRow> = match self {
            Store::Sqlite(pool) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{CLAIM}) RETURNING {JOB_COLUMNS}"
                )))
                .bind(Timestamp::from(now))
                .bind(Timestamp::from(now + lease))
                .bind(worker)
                .fetch_optional(pool)
                .await?
            }
            Store::Postgres(pool) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{CLAIM} FOR UPDATE SKIP LOCKED) RETURNING {JOB_COLUMNS}"
                )))
                .bind(Timestamp::from(now))
                .bind(Timestamp::from(now + lease))
                .bind(worker)
                .fetch_optional(pool)
                .await?
            }
        };
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(ClaimedJob {
            job: row.try_into()?,
            worker,
        }))
    }

    /// Extends the worker's lease; `false` when it was lost to another worker.
    pub async fn renew_job_lease(
        &self,
        claimed: &ClaimedJob,
        now: OffsetDateTime,
        lease: time::Duration,
    ) -> Result<bool> {
        let renewed = on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE jobs SET lease_until = $3 WHERE id = $1 AND lease_owner = $2 \
                 AND status = 'RUNNING'",
            )
            .bind(claimed.job.id.as_uuid())
            .bind(claimed.worker)
            .bind(Timestamp::from(now + lease))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(renewed == 1)
    }

    /// Removes imports whose staging began before `before` and never finished (the
    /// instance staging them stopped halfway), with their rows.
    pub async fn purge_abandoned_imports(&self, before: OffsetDateTime) -> Result<u64> {
        let purged = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM jobs WHERE status = 'STAGING' AND created_at < $1")
                .bind(Timestamp::from(before))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(purged)
    }

    /// Removes jobs that ended before `before`, with their rows (an import's rows hold the
    /// people of its file).
    pub async fn purge_finished_jobs(&self, before: OffsetDateTime) -> Result<u64> {
        let purged = on_pool!(self, |pool| {
            sqlx::query(
                "DELETE FROM jobs WHERE status IN ('SUCCEEDED', 'FAILED', 'CANCELLED') \
                 AND finished_at < $1",
            )
            .bind(Timestamp::from(before))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(purged)
    }

    /// Gives a claimed job back without ending it (the worker is stopping): its lease ends
    /// now, so the next worker resumes it at once instead of waiting the lease out.
    pub async fn release_job(&self, claimed: &ClaimedJob, now: OffsetDateTime) -> Result<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE jobs SET lease_until = $3 WHERE id = $1 AND lease_owner = $2 \
                 AND status = 'RUNNING'",
            )
            .bind(claimed.job.id.as_uuid())
            .bind(claimed.worker)
            .bind(Timestamp::from(now))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Ends a claimed job, unless its lease was lost (`None`).
    pub async fn finish_job(
        &self,
        claimed: &ClaimedJob,
        status: JobStatus,
        error: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<Option<JobRecord>> {
        let mut tx = self.begin().await?;
        let Some(job) = tx.leased_job(claimed).await? else {
            return Ok(None);
        };
        let status = match (status, job.cancel_requested) {
            (JobStatus::Succeeded, true) => JobStatus::Cancelled,
            (status, _) => status,
        };
        let ended = tx.end_job(&job, status, error, at).await?;
        tx.commit().await?;
        Ok(Some(ended))
    }

    /// Cancels a job: a queued one ends at once; a running one is asked to stop, which its
    /// worker does after the batch in hand (what that batch created stays created). `job`
    /// must be one the caller may manage.
    pub async fn cancel_job(&self, id: JobId, entry: &AuditEntry) -> Result<JobRecord> {
        let mut tx = self.begin().await?;
        let job = tx.job(id).await?;
        job.status.check_cancellable()?;
        let now = Timestamp::from(entry.at);
        // The status in the WHERE clause makes this a no-op when a worker ended or claimed
        // the job meanwhile; the row is read again below either way.
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE jobs SET cancel_requested = $2, updated_at = $3 \
                 WHERE id = $1 AND status IN ('QUEUED', 'RUNNING')",
            )
            .bind(id.as_uuid())
            .bind(true)
            .bind(now)
            .execute(conn)
            .await?;
        });
        let mut event = entry
            .event(AuditAction::JobCancelled, AuditOutcome::Success)
            .target("job", id)
            .detail(serde_json::json!({ "kind": job.kind.code(), "status": job.status.code() }));
        if let Some(organization) = job.organization {
            event = event.organization(organization);
        }
        tx.audit(&event).await?;
        let job = tx.job(id).await?;
        let job = if job.status == JobStatus::Queued {
            tx.end_job(&job, JobStatus::Cancelled, None, entry.at)
                .await?
        } else {
            job
        };
        tx.commit().await?;
        Ok(job)
    }
}
