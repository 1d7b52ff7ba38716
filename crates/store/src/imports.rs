//! Bulk user imports: the rows of a file staged with their job, then worked through in
//! batches. Each batch creates its users, records every row's result and moves the job's
//! checkpoint in one transaction, so a worker that dies leaves either the whole batch or none
//! of it, and whoever resumes the job starts after the last committed row.

use std::collections::HashMap;

use sqlx::QueryBuilder;
use steward_domain::audit::{AuditAction, AuditOutcome};
use steward_domain::job::{
    Collision, ImportRow, JobKind, RowProblem, RowStatus, ValidImportRow, against_earlier_row,
    against_existing_user,
};
use steward_domain::membership::MembershipStatus;
use steward_domain::organization::{Name, check_email_domain};
use steward_domain::permission::BuiltInRole;
use steward_domain::user::UserStatus;
use steward_domain::{JobId, OrganizationId, RoleId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::jobs::{ClaimedJob, JobRecord};
use crate::{
    AuditEntry, NewAuditEvent, NewInvitation, NewLink, NewUser, Result, Store, StoreError,
    Timestamp, Tx, on_pool, on_tx,
};

/// Rows per multi-row insert while staging (10 parameters a row, well under both databases'
/// limits).
const STAGING_CHUNK: usize = 500;

/// An import to start: where, by whom, and how.
#[derive(Debug, Clone)]
pub struct NewUserImport {
    pub organization: OrganizationId,
    /// `None` when a maintainer starts it from `cargo xtask`.
    pub initiator: Option<UserId>,
    /// Check every row and report what would happen, creating nothing.
    pub dry_run: bool,
    /// Invite each new user (membership `INVITED`, e-mail with a link); otherwise users are
    /// created as active members waiting for validation, and nobody is written to.
    pub send_invitations: bool,
    pub file_name: Option<String>,
}

/// An import whose rows are being written, each batch in its own short transaction (a large
/// file must not hold SQLite's one write lock for long). The job stays in `STAGING`, seen by
/// nobody and claimed by no worker, until [`finish`] queues it; [`abandon`] removes it with
/// its rows, and one left behind by a crash is purged after an hour
/// ([`Store::purge_abandoned_imports`]).
///
/// [`finish`]: ImportStaging::finish
/// [`abandon`]: ImportStaging::abandon
pub struct ImportStaging {
    store: Store,
    job: JobId,
    rows: i64,
}

impl std::fmt::Debug for ImportStaging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportStaging")
            .field("job", &self.job)
            .field("rows", &self.rows)
            .finish()
    }
}

impl ImportStaging {
    pub fn job(&self) -> JobId {
        self.job
    }

    /// Rows staged so far.
    pub fn rows(&self) -> i64 {
        self.rows
    }

    /// Stages the next rows of the file, numbered on from the last. A row whose number of
    /// fields differs from the header's is recorded as failed at once.
    pub async fn add(&mut self, rows: &[ImportRow]) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let mut staged = self.rows;
        for chunk in rows.chunks(STAGING_CHUNK) {
            let first = staged + 1;
            on_tx!(&mut tx, |conn| {
                let mut query = sqlx::QueryBuilder::new(
                    "INSERT INTO import_rows (job_id, row_number, username, email, name, role, \
                     language, status, field, reason) ",
                );
                query.push_values(chunk.iter().enumerate(), |mut values, (index, row)| {
                    let problem = row.width.and_then(|_| row.validate().err());
                    values
                        .push_bind(self.job.as_uuid())
                        .push_bind(first + index as i64)
                        .push_bind(row.username.as_str())
                        .push_bind(row.email.as_str())
                        .push_bind(row.name.as_str())
                        .push_bind(row.role.as_deref())
                        .push_bind(row.language.as_deref())
                        .push_bind(problem.as_ref().map(|_| RowStatus::Failed.code()))
                        .push_bind(problem.as_ref().map(|problem| problem.field))
                        .push_bind(problem.map(|problem| problem.reason));
                });
                query.build().execute(&mut *conn).await?;
            });
            staged += chunk.len() as i64;
        }
        tx.commit().await?;
        self.rows = staged;
        Ok(())
    }

    /// Queues the job with all its rows.
    pub async fn finish(self, entry: &AuditEntry) -> Result<JobRecord> {
        let mut tx = self.store.begin().await?;
        let queued = on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE jobs SET status = 'QUEUED', total_rows = $2, updated_at = $3 \
                 WHERE id = $1 AND status = 'STAGING'",
            )
            .bind(self.job.as_uuid())
            .bind(self.rows)
            .bind(Timestamp::from(entry.at))
            .execute(conn)
            .await?
            .rows_affected()
        });
        if queued != 1 {
            return Err(StoreError::Corrupt(format!(
                "import {} was removed while its file was read",
                self.job
            )));
        }
        let job = tx.job(self.job).await?;
        let mut event = entry
            .event(AuditAction::UserImportStarted, AuditOutcome::Success)
            .target("job", self.job)
            .detail(serde_json::json!({
                "rows": self.rows,
                "dryRun": job.flag("dryRun"),
                "sendInvitations": job.flag("sendInvitations"),
                "file": job.parameters.get("file"),
            }));
        if let Some(organization) = job.organization {
            event = event.organization(organization);
        }
        tx.audit(&event).await?;
        tx.commit().await?;
        // PostgreSQL plans the batches' reads from its statistics, which know nothing of the
        // rows just written until autovacuum gets to them: without this, the first batches of
        // a large import read far more than their rows.
        if let Store::Postgres(pool) = &self.store {
            sqlx::query("ANALYZE import_rows").execute(pool).await?;
        }
        Ok(job)
    }

    /// Removes the unfinished import and the rows written so far (the file turned out not to
    /// be usable).
    pub async fn abandon(self) -> Result<()> {
        on_pool!(&self.store, |pool| {
            sqlx::query("DELETE FROM jobs WHERE id = $1 AND status = 'STAGING'")
                .bind(self.job.as_uuid())
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}

/// One row of an import with its result, once it has one.
#[derive(Debug, Clone)]
pub struct ImportRowRecord {
    pub row_number: i64,
    pub username: String,
    pub email: String,
    pub name: String,
    pub role: Option<String>,
    pub language: Option<String>,
    pub status: Option<RowStatus>,
    pub field: Option<String>,
    pub reason: Option<String>,
    pub user: Option<UserId>,
}

#[derive(sqlx::FromRow)]
struct StagedRow {
    row_number: i64,
    username: String,
    email: String,
    name: String,
    role: Option<String>,
    language: Option<String>,
    status: Option<String>,
    field: Option<String>,
    reason: Option<String>,
    user_id: Option<Uuid>,
}

impl TryFrom<StagedRow> for ImportRowRecord {
    type Error = StoreError;

    fn try_from(row: StagedRow) -> Result<Self> {
        let status = row
            .status
            .map(|code| {
                RowStatus::from_code(&code)
                    .ok_or_else(|| StoreError::Corrupt(format!("import row status {code:?}")))
            })
            .transpose()?;
        Ok(ImportRowRecord {
            row_number: row.row_number,
            username: row.username,
            email: row.email,
            name: row.name,
            role: row.role,
            language: row.language,
            status,
            field: row.field,
            reason: row.reason,
            user: row.user_id.map(UserId),
        })
    }
}

const ROW_COLUMNS: &str =
    "row_number, username, email, name, role, language, status, field, reason, user_id";

/// What one step of a job did: a batch of [`Store::import_batch`] or a chunk of
/// [`Store::consistency_step`].
#[derive(Debug)]
pub enum BatchOutcome {
    /// A batch (or chunk) was committed; the job as it stands now.
    Advanced(JobRecord),
    /// Nothing is left to do: the job can end.
    Exhausted(JobRecord),
    /// Someone asked for the job to be cancelled: it should end without another batch.
    CancelRequested(JobRecord),
    /// Another worker holds the job now; this one must let it go.
    LeaseLost,
}

/// A row's result, before it is written.
struct Outcome {
    row_number: i64,
    status: RowStatus,
    problem: Option<RowProblem>,
    user: Option<UserId>,
    /// The normalized username and address of a created row, for later duplicates.
    keys: Option<(String, String)>,
    /// Written while staging already.
    recorded: bool,
}

impl Store {
    /// Starts staging an import into `import.organization`; see [`ImportStaging`].
    pub async fn begin_user_import(
        &self,
        import: &NewUserImport,
        at: OffsetDateTime,
    ) -> Result<ImportStaging> {
        let mut tx = self.begin().await?;
        tx.refuse_deleted_organization(import.organization).await?;
        let job = JobId::new();
        tx.insert_job(
            job,
            JobKind::UserImport,
            Some(import.organization),
            import.initiator,
            &serde_json::json!({
                "dryRun": import.dry_run,
                "sendInvitations": import.send_invitations,
                "file": import.file_name,
            }),
            at,
        )
        .await?;
        tx.commit().await?;
        Ok(ImportStaging {
            store: self.clone(),
            job,
            rows: 0,
        })
    }

    /// A page of an import's rows (of one status, if given) in row order after `after`,
    /// and how many there are.
    pub async fn import_rows_page(
        &self,
        job: JobId,
        status: Option<RowStatus>,
        after: Option<i64>,
        limit: i64,
    ) -> Result<(Vec<ImportRowRecord>, i64)> {
        let rows = self
            .import_rows_pages(&[job], status, after, limit)
            .await?
            .into_iter()
            .map(|(_, row)| row)
            .collect();
        let total = self
            .import_row_counts(&[job], status)
            .await?
            .into_iter()
            .map(|(_, count)| count)
            .sum();
        Ok((rows, total))
    }

    /// A page of each of `jobs`' rows (of one status, if given) in row order after `after`,
    /// in one statement (of up to [`crate::groups::PAGES_PER_STATEMENT`] jobs), for
    /// DataLoaders: each job's rows in row order.
    pub async fn import_rows_pages(
        &self,
        jobs: &[JobId],
        status: Option<RowStatus>,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Vec<(JobId, ImportRowRecord)>> {
        #[derive(sqlx::FromRow)]
        struct JobRow {
            job_id: Uuid,
            #[sqlx(flatten)]
            row: StagedRow,
        }
        let status = status.map(RowStatus::code);
        let mut rows: Vec<JobRow> = Vec::new();
        for chunk in jobs.chunks(crate::groups::PAGES_PER_STATEMENT) {
            let page = on_pool!(self, |pool| {
                let mut query = QueryBuilder::new("");
                for (arm, job) in chunk.iter().enumerate() {
                    if arm > 0 {
                        query.push(" UNION ALL ");
                    }
                    query
                        .push("SELECT * FROM (SELECT job_id, ")
                        .push(ROW_COLUMNS)
                        .push(" FROM import_rows WHERE job_id = ")
                        .push_bind(job.as_uuid());
                    if let Some(status) = status {
                        query.push(" AND status = ").push_bind(status);
                    }
                    query
                        .push(" AND row_number > ")
                        .push_bind(after.unwrap_or(0))
                        .push(" ORDER BY row_number LIMIT ")
                        .push_bind(limit)
                        .push(format!(") AS page{arm}"));
                }
                query.build_query_as::<JobRow>().fetch_all(pool).await?
            });
            rows.extend(page);
        }
        // Arms of a UNION ALL come in no promised order.
        rows.sort_unstable_by_key(|row| (row.job_id, row.row.row_number));
        rows.into_iter()
            .map(|row| Ok((JobId(row.job_id), row.row.try_into()?)))
            .collect()
    }

    /// How many rows (of one status, if given) each of `jobs` has, in one statement, for
    /// DataLoaders; a job without any is left out.
    pub async fn import_row_counts(
        &self,
        jobs: &[JobId],
        status: Option<RowStatus>,
    ) -> Result<Vec<(JobId, i64)>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let status = status.map(RowStatus::code);
        let counts = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new("SELECT job_id, COUNT(*) FROM import_rows WHERE ");
            if let Some(status) = status {
                query.push("status = ").push_bind(status).push(" AND ");
            }
            query.push("job_id IN (");
            push_in_list!(query, jobs.iter().map(|job| job.as_uuid()));
            query.push(" GROUP BY job_id");
            query
                .build_query_as::<(Uuid, i64)>()
                .fetch_all(pool)
                .await?
        });
        Ok(counts
            .into_iter()
            .map(|(job, count)| (JobId(job), count))
            .collect())
    }

    /// Works through the next `limit` rows of a claimed import in one transaction, renewing
    /// the lease until `at + lease`. `links` holds a fresh link for each user that may be
    /// invited (at least `limit` when the import sends invitations).
    pub async fn import_batch(
        &self,
        claimed: &ClaimedJob,
        limit: i64,
        links: &mut Vec<NewLink>,
        at: OffsetDateTime,
        lease: time::Duration,
    ) -> Result<BatchOutcome> {
        let mut tx = self.begin().await?;
        let Some(job) = tx.leased_job(claimed).await? else {
            return Ok(BatchOutcome::LeaseLost);
        };
        if job.cancel_requested {
            return Ok(BatchOutcome::CancelRequested(job));
        }
        let organization = job
            .organization
            .ok_or_else(|| StoreError::Corrupt(format!("import {} has no organization", job.id)))?;
        let staged: Vec<StagedRow> = on_tx!(&mut tx, |conn| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {ROW_COLUMNS} FROM import_rows WHERE job_id = $1 AND row_number > $2 \
                 ORDER BY row_number LIMIT $3"
            )))
            .bind(job.id.as_uuid())
            .bind(job.checkpoint)
            .bind(limit)
            .fetch_all(conn)
            .await?
        });
        let Some(last) = staged.last().map(|row| row.row_number) else {
            return Ok(BatchOutcome::Exhausted(job));
        };
        tx.refuse_deleted_organization(organization).await?;
        let entry = AuditEntry {
            actor: job.initiator,
            client_address: None,
            at,
        };
        let outcomes = tx
            .import_rows(&job, organization, staged, links, &entry)
            .await?;
        let count = |status: RowStatus| {
            outcomes
                .iter()
                .filter(|outcome| outcome.status == status)
                .count() as i64
        };
        let (created, skipped, failed) = (
            count(RowStatus::Created),
            count(RowStatus::Skipped),
            count(RowStatus::Failed),
        );
        let now = Timestamp::from(at);
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE jobs SET checkpoint = $2, processed_rows = processed_rows + $3, \
                 created_rows = created_rows + $4, skipped_rows = skipped_rows + $5, \
                 failed_rows = failed_rows + $6, lease_until = $7, updated_at = $8 \
                 WHERE id = $1",
            )
            .bind(job.id.as_uuid())
            .bind(last)
            .bind(outcomes.len() as i64)
            .bind(created)
            .bind(skipped)
            .bind(failed)
            .bind(Timestamp::from(at + lease))
            .bind(now)
            .execute(conn)
            .await?;
        });
        let job = tx.job(job.id).await?;
        tx.commit().await?;
        Ok(BatchOutcome::Advanced(job))
    }
}

impl Tx {
    /// Decides, and unless it is a dry run carries out, each staged row in file order, and
    /// records the results.
    async fn import_rows(
        &mut self,
        job: &JobRecord,
        organization: OrganizationId,
        staged: Vec<StagedRow>,
        links: &mut Vec<NewLink>,
        entry: &AuditEntry,
    ) -> Result<Vec<Outcome>> {
        let dry_run = job.flag("dryRun");
        let send_invitations = job.flag("sendInvitations");
        let checked: Vec<(
            i64,
            Option<RowStatus>,
            std::result::Result<ValidImportRow, RowProblem>,
        )> = staged
            .into_iter()
            .map(|row| {
                let done = row.status.as_deref().and_then(RowStatus::from_code);
                let parsed = ImportRow {
                    username: row.username,
                    email: row.email,
                    name: row.name,
                    role: row.role,
                    language: row.language,
                    width: None,
                }
                .validate();
                (row.row_number, done, parsed)
            })
            .collect();
        let valid = || {
            checked
                .iter()
                .filter(|(_, done, _)| done.is_none())
                .filter_map(|(_, _, parsed)| parsed.as_ref().ok())
        };
        let usernames: Vec<String> = valid().map(|row| row.username.normalized()).collect();
        let emails: Vec<String> = valid().map(|row| row.email.normalized()).collect();
        let existing = self
            .existing_users(organization, &usernames, &emails)
            .await?;
        let mut earlier = self.earlier_rows(job.id, &usernames, &emails).await?;
        let roles = self.role_names(organization).await?;
        let default_role = roles
            .get(&BuiltInRole::Viewer.name().to_lowercase())
            .copied()
            .ok_or_else(|| {
                StoreError::Corrupt(format!("organization {organization} has no Viewer role"))
            })?;
        let domains = self.email_domains(organization).await?;

        let mut outcomes = Vec::with_capacity(checked.len());
        // The rows to create: where their outcome is, the row, its role.
        let mut creates: Vec<(usize, ValidImportRow, RoleId)> = Vec::new();
        for (row_number, done, parsed) in checked {
            let outcome = |status, problem| Outcome {
                row_number,
                status,
                problem,
                user: None,
                keys: None,
                recorded: false,
            };
            if let Some(done) = done {
                // Refused while staging; its result is written already.
                outcomes.push(Outcome {
                    recorded: true,
                    ..outcome(done, None)
                });
                continue;
            }
            let row = match parsed {
                Ok(row) => row,
                Err(problem) => {
                    outcomes.push(outcome(RowStatus::Failed, Some(problem)));
                    continue;
                }
            };
            let (username, email) = (row.username.normalized(), row.email.normalized());
            if let Some((status, problem)) = earlier.collision(&username, &email) {
                outcomes.push(outcome(status, Some(problem)));
                continue;
            }
            if let Some((status, problem)) = existing.collision(&username, &email) {
                outcomes.push(outcome(status, Some(problem)));
                continue;
            }
            let role = match &row.role {
                None => default_role,
                Some(name) => match Name::parse("role", name)
                    .ok()
                    .and_then(|name| roles.get(&name.normalized()).copied())
                {
                    Some(role) => role,
                    None => {
                        let problem = RowProblem {
                            field: "role",
                            reason: format!(
                                "\"{name}\" is not a role of this organization; leave the column \
                                 empty for Viewer, or create the role first"
                            ),
                        };
                        outcomes.push(outcome(RowStatus::Failed, Some(problem)));
                        continue;
                    }
                },
            };
            if let Err(error) = check_email_domain(&domains, &row.email) {
                outcomes.push(outcome(RowStatus::Failed, Some(error.into())));
                continue;
            }
            earlier.add(row_number, &username, &email);
            creates.push((outcomes.len(), row, role));
            outcomes.push(Outcome {
                keys: Some((username, email)),
                ..outcome(RowStatus::Created, None)
            });
        }
        if !dry_run && !creates.is_empty() {
            let users = self
                .import_users(organization, &creates, send_invitations, links, entry)
                .await?;
            for ((index, _, _), user) in creates.iter().zip(users) {
                outcomes[*index].user = Some(user);
            }
        }

        // The results in one statement per chunk: a list of values joined to the rows.
        let pending: Vec<&Outcome> = outcomes
            .iter()
            .filter(|outcome| !outcome.recorded)
            .collect();
        for chunk in pending.chunks(STAGING_CHUNK) {
            on_tx!(&mut *self, |conn| {
                let mut query = sqlx::QueryBuilder::new(
                    "WITH results (row_number, status, field, reason, user_id, username_key, \
                     email_key) AS (",
                );
                query.push_values(chunk, |mut values, outcome| {
                    let (username_key, email_key) = match &outcome.keys {
                        Some((username, email)) => (Some(username.clone()), Some(email.clone())),
                        None => (None, None),
                    };
                    values
                        .push_bind(outcome.row_number)
                        .push_bind(outcome.status.code())
                        .push_bind(outcome.problem.as_ref().map(|problem| problem.field))
                        .push_bind(
                            outcome
                                .problem
                                .as_ref()
                                .map(|problem| problem.reason.clone()),
                        )
                        .push_bind(outcome.user.map(|user| user.as_uuid()))
                        .push_bind(username_key)
                        .push_bind(email_key);
                });
                query.push(
                    ") UPDATE import_rows SET status = results.status, field = results.field, \
                     reason = results.reason, user_id = results.user_id, \
                     username_key = results.username_key, email_key = results.email_key \
                     FROM results WHERE import_rows.job_id = ",
                );
                query.push_bind(job.id.as_uuid());
                // The batch's range, so that no plan walks the import's earlier rows.
                query.push(" AND import_rows.row_number BETWEEN ");
                query.push_bind(chunk.first().map_or(0, |outcome| outcome.row_number));
                query.push(" AND ");
                query.push_bind(chunk.last().map_or(0, |outcome| outcome.row_number));
                query.push(" AND import_rows.row_number = results.row_number");
                query.build().execute(&mut *conn).await?;
            });
        }
        Ok(outcomes)
    }

    /// Creates a batch's users in `organization`, each with its role: invited, or active
    /// members waiting for validation; their ids in order.
    async fn import_users(
        &mut self,
        organization: OrganizationId,
        creates: &[(usize, ValidImportRow, RoleId)],
        send_invitations: bool,
        links: &mut Vec<NewLink>,
        entry: &AuditEntry,
    ) -> Result<Vec<UserId>> {
        let users: Vec<NewUser> = creates
            .iter()
            .map(|(_, row, _)| NewUser {
                username: row.username.clone(),
                email: row.email.clone(),
                full_name: row.full_name.clone(),
                status: UserStatus::PendingValidation,
                platform_role: None,
                password_hash: None,
                must_change_password: false,
                language: row.language.unwrap_or_default(),
            })
            .collect();
        let ids = self.insert_users(&users, entry).await?;
        if send_invitations {
            if links.len() < creates.len() {
                return Err(StoreError::Corrupt(format!(
                    "an import batch has {} invitation links for {} users",
                    links.len(),
                    creates.len()
                )));
            }
            let links: Vec<NewLink> = links.drain(..creates.len()).collect();
            let invited: Vec<(UserId, NewInvitation)> = ids
                .iter()
                .zip(creates)
                .map(|(user, (_, row, role))| {
                    (
                        *user,
                        NewInvitation {
                            email: row.email.clone(),
                            full_name: row.full_name.clone(),
                            language: row.language.unwrap_or_default(),
                            roles: vec![*role],
                            username: Some(row.username.clone()),
                        },
                    )
                })
                .collect();
            self.invite_new_users(organization, &invited, &links, entry)
                .await?;
        } else {
            let members: Vec<(UserId, RoleId)> = ids
                .iter()
                .zip(creates)
                .map(|(user, (_, _, role))| (*user, *role))
                .collect();
            let now = Timestamp::from(entry.at);
            self.insert_memberships(organization, &members, MembershipStatus::Active, now)
                .await?;
            let events: Vec<NewAuditEvent> = members
                .iter()
                .map(|(user, role)| {
                    entry
                        .event(AuditAction::MemberAdded, AuditOutcome::Success)
                        .target("user", *user)
                        .organization(organization)
                        .detail(serde_json::json!({ "defaultRole": role.to_string() }))
                })
                .collect();
            self.audit_all(&events).await?;
        }
        Ok(ids)
    }

    /// The users that have one of the usernames or addresses, and whether each is in
    /// `organization`.
    async fn existing_users(
        &mut self,
        organization: OrganizationId,
        usernames: &[String],
        emails: &[String],
    ) -> Result<Existing> {
        let mut existing = Existing::default();
        if usernames.is_empty() {
            return Ok(existing);
        }
        // Two lookups joined, each on its own unique index (an OR of the two lists may scan).
        let rows: Vec<(Uuid, String, String, bool)> = on_tx!(self, |conn| {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT u.id, u.username_normalized, u.email_normalized, EXISTS (SELECT 1 FROM \
                 memberships m WHERE m.user_id = u.id AND m.organization_id = ",
            );
            query.push_bind(organization.as_uuid());
            query.push(
                ") FROM users u WHERE u.id IN (SELECT id FROM users WHERE username_normalized IN (",
            );
            push_in_list!(query, usernames);
            query.push(" UNION SELECT id FROM users WHERE email_normalized IN (");
            push_in_list!(query, emails);
            query.push(")");
            query.build_query_as().fetch_all(conn).await?
        });
        for (id, username, email, member) in rows {
            existing.by_username.insert(username, (id, member));
            existing.by_email.insert(email, (id, member));
        }
        Ok(existing)
    }

    /// The rows of this import created (or in a dry run, to be created) before, that have one
    /// of the usernames or addresses.
    async fn earlier_rows(
        &mut self,
        job: JobId,
        usernames: &[String],
        emails: &[String],
    ) -> Result<Earlier> {
        let mut earlier = Earlier::default();
        if usernames.is_empty() {
            return Ok(earlier);
        }
        // Only created rows have keys. Two lookups, each on its own index: an OR of the two
        // lists, or a condition on the status, may make the database scan every row of the
        // import so far, for every batch.
        let rows: Vec<(i64, String, String)> = on_tx!(self, |conn| {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT row_number, username_key, email_key FROM import_rows WHERE job_id = ",
            );
            query.push_bind(job.as_uuid());
            query.push(" AND username_key IN (");
            push_in_list!(query, usernames);
            query.push(
                " UNION SELECT row_number, username_key, email_key FROM import_rows WHERE job_id = ",
            );
            query.push_bind(job.as_uuid());
            query.push(" AND email_key IN (");
            push_in_list!(query, emails);
            query.build_query_as().fetch_all(conn).await?
        });
        for (row_number, username, email) in rows {
            earlier.add(row_number, &username, &email);
        }
        Ok(earlier)
    }

    /// The organization's roles by normalized name.
    async fn role_names(
        &mut self,
        organization: OrganizationId,
    ) -> Result<HashMap<String, RoleId>> {
        let rows: Vec<(Uuid, String)> = on_tx!(self, |conn| {
            sqlx::query_as("SELECT id, name_normalized FROM roles WHERE organization_id = $1")
                .bind(organization.as_uuid())
                .fetch_all(conn)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, name)| (name, RoleId(id)))
            .collect())
    }
}

/// Existing users by normalized username and address: (id, member of the organization).
#[derive(Default)]
struct Existing {
    by_username: HashMap<String, (Uuid, bool)>,
    by_email: HashMap<String, (Uuid, bool)>,
}

impl Existing {
    fn collision(&self, username: &str, email: &str) -> Option<(RowStatus, RowProblem)> {
        let by_username = self.by_username.get(username);
        let by_email = self.by_email.get(email);
        let collision = match (by_username, by_email) {
            (Some((a, member)), Some((b, _))) if a == b => (Collision::Both, *member),
            (Some(_), _) => (Collision::Username, false),
            (None, Some(_)) => (Collision::Email, false),
            (None, None) => return None,
        };
        Some(against_existing_user(collision.0, collision.1))
    }
}

/// Earlier created rows of the file by normalized username and address: the row number.
#[derive(Default)]
struct Earlier {
    by_username: HashMap<String, i64>,
    by_email: HashMap<String, i64>,
}

impl Earlier {
    fn add(&mut self, row_number: i64, username: &str, email: &str) {
        self.by_username
            .entry(username.to_owned())
            .or_insert(row_number);
        self.by_email.entry(email.to_owned()).or_insert(row_number);
    }

    fn collision(&self, username: &str, email: &str) -> Option<(RowStatus, RowProblem)> {
        let by_username = self.by_username.get(username);
        let by_email = self.by_email.get(email);
        let (collision, row) = match (by_username, by_email) {
            (Some(a), Some(b)) if a == b => (Collision::Both, *a),
            (Some(a), _) => (Collision::Username, *a),
            (None, Some(b)) => (Collision::Email, *b),
            (None, None) => return None,
        };
        Some(against_earlier_row(collision, row))
    }
}
