//! The job worker: claims queued jobs (or jobs whose worker died) and works through them in
//! batches. Each instance runs one; several instances share the queue through the
//! database's row locks and leases.

use std::time::Duration;

use steward_domain::DomainError;
use steward_domain::consistency::check_run_initiator;
use steward_domain::job::{JobKind, JobStatus, check_initiator};
use steward_domain::policy::Actor;
use steward_domain::user::UserStatus;
use steward_store::{AuditEntry, BatchOutcome, ClaimedJob, JobRecord, StoreError, run_parameters};
use tokio::sync::watch;

use crate::app::App;
use crate::auth::links::new_link;
use crate::error::AppError;

/// A job claimed this many times without ending is given up: something in it fails every
/// time, and the log has the errors.
pub const MAX_ATTEMPTS: i64 = 5;

/// Database errors in a row, within one claim, before the worker lets the job go for a later
/// attempt.
const MAX_CONSECUTIVE_ERRORS: u32 = 3;

#[derive(Clone)]
pub struct JobWorker {
    pub app: App,
}

/// How a worker's time with one job ended.
#[derive(Debug)]
pub enum Worked {
    /// The job ended; as it stands.
    Ended(Box<JobRecord>),
    /// The worker let the job go (told to stop, lease lost, or the database failing); it
    /// stays running until its lease runs out and a worker resumes it.
    LetGo,
}

impl JobWorker {
    /// Works until told to stop, looking for jobs every `--job-poll-ms` when idle.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let poll = Duration::from_millis(self.app.settings.jobs.job_poll_ms.max(10));
        loop {
            if *stop.borrow() {
                return;
            }
            let idle = match self.run_once(&stop).await {
                Ok(Some(_)) => false,
                Ok(None) => true,
                Err(error) => {
                    tracing::error!(error = %error.describe(), "the job worker failed");
                    true
                }
            };
            if idle {
                tokio::select! {
                    _ = stop.changed() => {}
                    () = tokio::time::sleep(poll) => {}
                }
            }
        }
    }

    /// Claims one job and works on it; `None` when no job was waiting.
    pub async fn run_once(&self, stop: &watch::Receiver<bool>) -> Result<Option<Worked>, AppError> {
        let now = self.app.clock.now();
        let Some(claimed) = self
            .app
            .store
            .claim_job(now, self.app.settings.jobs.lease())
            .await?
        else {
            return Ok(None);
        };
        tracing::info!(job = %claimed.job.id, kind = claimed.job.kind.code(), attempt = claimed.job.attempts, resume_after = claimed.job.checkpoint, "job claimed");
        Ok(Some(self.work_on(&claimed, stop).await?))
    }

    /// Works on a claimed job until it ends or the worker lets it go.
    pub async fn work_on(
        &self,
        claimed: &ClaimedJob,
        stop: &watch::Receiver<bool>,
    ) -> Result<Worked, AppError> {
        if claimed.job.attempts > MAX_ATTEMPTS {
            let error = format!(
                "gave up after {MAX_ATTEMPTS} attempts; the server log has each attempt's error"
            );
            return self.end(claimed, JobStatus::Failed, Some(&error)).await;
        }
        match claimed.job.kind {
            JobKind::UserImport => self.import(claimed, stop).await,
            JobKind::ConsistencyRun => self.consistency_run(claimed, stop).await,
        }
    }

    /// Works through a consistency run: a repairing run first fixes the findings it stored
    /// and has not fixed yet (each in a transaction of its own), then checks the next chunk.
    async fn consistency_run(
        &self,
        claimed: &ClaimedJob,
        stop: &watch::Receiver<bool>,
    ) -> Result<Worked, AppError> {
        let store = &self.app.store;
        let settings = &self.app.settings.jobs;
        let chunk = i64::from(settings.consistency_chunk.max(1));
        let (_, repair) = run_parameters(&claimed.job)?;
        let mut errors = 0;
        'work: loop {
            if *stop.borrow() {
                store.release_job(claimed, self.app.clock.now()).await?;
                return Ok(Worked::LetGo);
            }
            if let Some(refusal) = self.run_initiator_refusal(&claimed.job).await? {
                return self
                    .end(claimed, JobStatus::Failed, Some(&refusal.to_string()))
                    .await;
            }
            if repair {
                let open = store.open_findings(claimed.job.id, 100).await?;
                if !open.is_empty() {
                    for finding in &open {
                        let entry = AuditEntry {
                            actor: claimed.job.initiator,
                            client_address: None,
                            at: self.app.clock.now(),
                        };
                        match store.repair_finding(claimed, finding, &entry).await {
                            Ok(_) => {}
                            // A fix the data refuses (say, a purge an ownership blocks)
                            // leaves its finding unresolved with the reason.
                            Err(StoreError::Domain(error)) => {
                                store
                                    .mark_finding_unresolved(finding, &error.to_string())
                                    .await?;
                            }
                            Err(error) => {
                                match self.retry_or_let_go(claimed, error, &mut errors).await {
                                    Some(worked) => return Ok(worked),
                                    None => continue 'work,
                                }
                            }
                        }
                    }
                    let now = self.app.clock.now();
                    if !store
                        .renew_job_lease(claimed, now, settings.lease())
                        .await?
                    {
                        tracing::warn!(job = %claimed.job.id, "lost the lease of a job: another worker has it");
                        return Ok(Worked::LetGo);
                    }
                    continue;
                }
            }
            let now = self.app.clock.now();
            match store
                .consistency_step(claimed, chunk, now, settings.lease())
                .await
            {
                Ok(outcome) => {
                    errors = 0;
                    if let Some(worked) = self.settle(claimed, outcome).await? {
                        return Ok(worked);
                    }
                }
                Err(StoreError::Domain(error)) => {
                    return self
                        .end(claimed, JobStatus::Failed, Some(&error.to_string()))
                        .await;
                }
                Err(error) => {
                    if let Some(worked) = self.retry_or_let_go(claimed, error, &mut errors).await {
                        return Ok(worked);
                    }
                }
            }
        }
    }

    /// What a committed step means for the worker: `None` to go on with the next one.
    async fn settle(
        &self,
        claimed: &ClaimedJob,
        outcome: BatchOutcome,
    ) -> Result<Option<Worked>, AppError> {
        Ok(match outcome {
            BatchOutcome::Advanced(job) => {
                tracing::debug!(job = %job.id, processed = job.processed_rows, total = job.total_rows, findings = job.findings, "job step committed");
                None
            }
            BatchOutcome::Exhausted(_) => {
                Some(self.end(claimed, JobStatus::Succeeded, None).await?)
            }
            BatchOutcome::CancelRequested(_) => {
                Some(self.end(claimed, JobStatus::Cancelled, None).await?)
            }
            BatchOutcome::LeaseLost => {
                tracing::warn!(job = %claimed.job.id, "lost the lease of a job: another worker has it");
                Some(Worked::LetGo)
            }
        })
    }

    /// A step that failed on the database: retried after a pause, or, after
    /// [`MAX_CONSECUTIVE_ERRORS`] in a row, the job is let go for a later claim.
    async fn retry_or_let_go(
        &self,
        claimed: &ClaimedJob,
        error: StoreError,
        errors: &mut u32,
    ) -> Option<Worked> {
        *errors += 1;
        let error = AppError::from(error);
        tracing::error!(job = %claimed.job.id, error = %error.describe(), attempt = *errors, "a job step failed");
        if *errors >= MAX_CONSECUTIVE_ERRORS {
            return Some(Worked::LetGo);
        }
        tokio::time::sleep(Duration::from_millis(200 * u64::from(*errors))).await;
        None
    }

    /// Why a consistency run's initiator may no longer have it go on (see
    /// [`check_run_initiator`]); runs started from `cargo xtask` have no initiator.
    async fn run_initiator_refusal(
        &self,
        job: &JobRecord,
    ) -> Result<Option<DomainError>, AppError> {
        let Some(initiator) = job.initiator else {
            return Ok(None);
        };
        let Some(user) = self.app.store.user_by_id(initiator).await? else {
            return Ok(Some(DomainError::NotFound {
                what: "the account that started the run",
            }));
        };
        let actor = Actor::new(initiator, user.platform_role, Vec::new());
        Ok(check_run_initiator(&actor, user.status == UserStatus::Active).err())
    }

    async fn import(
        &self,
        claimed: &ClaimedJob,
        stop: &watch::Receiver<bool>,
    ) -> Result<Worked, AppError> {
        let settings = &self.app.settings.jobs;
        let limit = i64::from(settings.import_batch_rows.max(1));
        let invites = claimed.job.flag("sendInvitations") && !claimed.job.flag("dryRun");
        let mut errors = 0;
        loop {
            if *stop.borrow() {
                self.app
                    .store
                    .release_job(claimed, self.app.clock.now())
                    .await?;
                return Ok(Worked::LetGo);
            }
            if let Some(refusal) = self.initiator_refusal(&claimed.job).await? {
                return self
                    .end(claimed, JobStatus::Failed, Some(&refusal.to_string()))
                    .await;
            }
            let now = self.app.clock.now();
            let mut links = Vec::new();
            if invites {
                for _ in 0..limit {
                    links.push(new_link(now)?);
                }
            }
            let outcome = self
                .app
                .store
                .import_batch(claimed, limit, &mut links, now, settings.lease())
                .await;
            match outcome {
                Ok(outcome) => {
                    errors = 0;
                    if let Some(worked) = self.settle(claimed, outcome).await? {
                        return Ok(worked);
                    }
                }
                // A user created elsewhere between the batch's checks and its inserts: the
                // batch is rolled back, and done again it finds the user and skips the row.
                Err(StoreError::Domain(DomainError::Conflict { .. }))
                    if errors < MAX_CONSECUTIVE_ERRORS =>
                {
                    errors += 1;
                    tracing::info!(job = %claimed.job.id, "an import batch met a user created meanwhile; doing it again");
                }
                Err(StoreError::Domain(error)) => {
                    return self
                        .end(claimed, JobStatus::Failed, Some(&error.to_string()))
                        .await;
                }
                Err(error) => {
                    if let Some(worked) = self.retry_or_let_go(claimed, error, &mut errors).await {
                        return Ok(worked);
                    }
                }
            }
        }
    }

    /// Why the job's initiator may no longer have it go on, if so (see
    /// [`check_initiator`]). A job started by a maintainer (`cargo xtask import`) has no
    /// initiator and is not checked.
    async fn initiator_refusal(&self, job: &JobRecord) -> Result<Option<DomainError>, AppError> {
        let (Some(initiator), Some(organization)) = (job.initiator, job.organization) else {
            return Ok(None);
        };
        let store = &self.app.store;
        let Some(user) = store.user_by_id(initiator).await? else {
            return Ok(Some(DomainError::NotFound {
                what: "the account that started the import",
            }));
        };
        let grants = store.member_grants(initiator, None).await?;
        let actor = Actor::new(initiator, user.platform_role, grants);
        Ok(check_initiator(&actor, user.status == UserStatus::Active, organization).err())
    }

    async fn end(
        &self,
        claimed: &ClaimedJob,
        status: JobStatus,
        error: Option<&str>,
    ) -> Result<Worked, AppError> {
        let ended = self
            .app
            .store
            .finish_job(claimed, status, error, self.app.clock.now())
            .await?;
        Ok(match ended {
            Some(job) => {
                tracing::info!(job = %job.id, status = job.status.code(), created = job.created_rows, skipped = job.skipped_rows, failed = job.failed_rows, "job ended");
                Worked::Ended(Box::new(job))
            }
            None => Worked::LetGo,
        })
    }
}
