//! Background jobs and bulk user imports: start an import from an uploaded CSV file, follow
//! it (`job`, `jobs`, the `jobProgress` subscription), read its per-row results, cancel it.

use async_graphql::connection::{Connection, OpaqueCursor};
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject, Upload};
use steward_domain::job::authorize_job;
use steward_domain::policy::{ManageUsers, authorize};
use steward_domain::{DomainError, JobId, OrganizationId};
use steward_store::{ImportRowRecord, JobFilter, JobRecord, NewUserImport};
use time::OffsetDateTime;

use crate::error::{AppError, refused};
use crate::graphql::connection::{ConnectionFields, Page, PageRequest};
use crate::graphql::context::{ContextExt as _, actor, parse_id};
use crate::graphql::loaders::PageKey;
use crate::graphql::organizations::expected;
use crate::graphql::types::{Organization, User, UserError};

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "steward_domain::job::JobKind")]
pub enum JobKind {
    /// Creates the users of a CSV file in an organization.
    UserImport,
    /// Checks the data against the consistency invariants, and repairs what it finds
    /// (`consistencyRun` has its findings).
    ConsistencyRun,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "steward_domain::job::JobStatus")]
pub enum JobStatus {
    /// Waiting for a worker.
    Queued,
    Running,
    Succeeded,
    /// Ended by an error that is in `error`; rows done before it stay done.
    Failed,
    /// Ended on request; rows done before it stay done.
    Cancelled,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "steward_domain::job::RowStatus")]
pub enum ImportRowStatus {
    /// The user was created (in a dry run: would have been).
    Created,
    /// The user exists already, or the row repeats an earlier one: nothing was done.
    Skipped,
    /// The row is invalid or conflicts with another user; `field` and `reason` say why.
    Failed,
}

/// A background job.
pub struct Job(pub JobRecord);

#[Object]
impl Job {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn kind(&self) -> JobKind {
        self.0.kind.into()
    }

    async fn status(&self) -> JobStatus {
        self.0.status.into()
    }

    async fn organization(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Organization>> {
        let Some(organization) = self.0.organization else {
            return Ok(None);
        };
        Ok(ctx
            .loaders()?
            .organizations
            .load_one(organization)
            .await?
            .map(Organization))
    }

    /// Who started it; null when a maintainer did from `cargo xtask`, or the account is gone.
    async fn initiator(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(user) = self.0.initiator else {
            return Ok(None);
        };
        Ok(ctx.loaders()?.users.load_one(user).await?.map(User))
    }

    /// An import that only checks its rows: `CREATED` then means "would be created".
    async fn dry_run(&self) -> bool {
        self.0.flag("dryRun")
    }

    /// Whether an import invites each new user by e-mail.
    async fn send_invitations(&self) -> bool {
        self.0.flag("sendInvitations")
    }

    /// The uploaded file's name, when it had one.
    async fn file_name(&self) -> Option<String> {
        self.0
            .parameters
            .get("file")
            .and_then(|name| name.as_str())
            .map(str::to_owned)
    }

    /// Rows in the file (not counting the header line); for a consistency run, the users
    /// and organizations it checks.
    async fn total_rows(&self) -> i32 {
        count(self.0.total_rows)
    }

    async fn processed_rows(&self) -> i32 {
        count(self.0.processed_rows)
    }

    async fn created_rows(&self) -> i32 {
        count(self.0.created_rows)
    }

    async fn skipped_rows(&self) -> i32 {
        count(self.0.skipped_rows)
    }

    async fn failed_rows(&self) -> i32 {
        count(self.0.failed_rows)
    }

    /// Processed rows in percent of all rows, 0 to 100.
    async fn percent_done(&self) -> f64 {
        if self.0.total_rows == 0 {
            return if self.0.status.is_finished() {
                100.0
            } else {
                0.0
            };
        }
        (self.0.processed_rows as f64 * 100.0 / self.0.total_rows as f64).min(100.0)
    }

    /// A consistency run's findings so far (0 for other kinds).
    async fn findings(&self) -> i32 {
        count(self.0.findings)
    }

    /// How many of a consistency run's findings it repaired.
    async fn repaired(&self) -> i32 {
        count(self.0.repaired)
    }

    /// Cancellation was asked for; a running job stops after the batch in hand.
    async fn cancel_requested(&self) -> bool {
        self.0.cancel_requested
    }

    /// How many times a worker took the job up; more than one means it was resumed after a
    /// restart or taken over from an instance that stopped.
    async fn attempts(&self) -> i32 {
        count(self.0.attempts)
    }

    /// Why a failed job failed.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }

    async fn created_at(&self) -> OffsetDateTime {
        self.0.created_at
    }

    async fn started_at(&self) -> Option<OffsetDateTime> {
        self.0.started_at
    }

    async fn finished_at(&self) -> Option<OffsetDateTime> {
        self.0.finished_at
    }

    async fn updated_at(&self) -> OffsetDateTime {
        self.0.updated_at
    }

    /// The rows of an import in file order (row 1 is the first line after the header),
    /// optionally only those with one result. Rows not processed yet have no status.
    async fn rows(
        &self,
        ctx: &Context<'_>,
        status: Option<ImportRowStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<OpaqueCursor<i64>, ImportRow, ConnectionFields>> {
        let request: PageRequest<i64> = PageRequest::parse(first, after)?;
        let (rows, total) = ctx
            .loaders()?
            .import_rows
            .load_one(PageKey {
                parent: self.0.id,
                filter: status.map(Into::into),
                after: request.after,
                limit: request.fetch,
                counted: ctx.look_ahead().field("totalCount").exists(),
            })
            .await?
            .unwrap_or_default();
        let items = rows
            .into_iter()
            .map(|row| (row.row_number, ImportRow(row)))
            .collect();
        Ok(request.page(items, total))
    }
}

fn count(value: i64) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// One row of an import file and its result.
pub struct ImportRow(ImportRowRecord);

#[Object]
impl ImportRow {
    /// 1 for the first line after the header.
    async fn row_number(&self) -> i32 {
        count(self.0.row_number)
    }

    /// As written in the file.
    async fn username(&self) -> &str {
        &self.0.username
    }

    /// As written in the file.
    async fn email(&self) -> &str {
        &self.0.email
    }

    /// As written in the file.
    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn role(&self) -> Option<&str> {
        self.0.role.as_deref()
    }

    async fn language(&self) -> Option<&str> {
        self.0.language.as_deref()
    }

    /// Null until the row is processed.
    async fn status(&self) -> Option<ImportRowStatus> {
        self.0.status.map(Into::into)
    }

    /// The column at fault (`username`, `email`, `name`, `role`, `language`), or `row` for
    /// the row as a whole; null for a created row.
    async fn field(&self) -> Option<&str> {
        self.0.field.as_deref()
    }

    /// Why the row was skipped or failed.
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }

    /// The created user; null in a dry run and for rows not created.
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(user) = self.0.user else {
            return Ok(None);
        };
        Ok(ctx.loaders()?.users.load_one(user).await?.map(User))
    }
}

/// The result of starting or cancelling a job.
#[derive(SimpleObject)]
pub struct JobPayload {
    pub job: Option<Job>,
    pub errors: Vec<UserError>,
}

/// The payload of a mutation whose arguments are plain values: an error's field is the
/// argument itself.
fn payload(result: Result<JobRecord, DomainError>) -> JobPayload {
    let (job, errors) = match result {
        Ok(record) => (Some(Job(record)), Vec::new()),
        Err(error) => (None, vec![UserError::from_domain("", &error)]),
    };
    JobPayload { job, errors }
}

/// Which jobs to list.
#[derive(InputObject, Default)]
pub struct JobFilterInput {
    /// The jobs of one organization (needs `USERS/MANAGE` there). Without it: every job for
    /// a SuperAdmin, the caller's own jobs for anyone else.
    pub organization: Option<ID>,
    pub status: Option<JobStatus>,
    pub kind: Option<JobKind>,
    /// Only jobs the caller started.
    #[graphql(default)]
    pub mine: bool,
}

/// A job the caller may see.
pub(crate) async fn visible_job(ctx: &Context<'_>, id: JobId) -> async_graphql::Result<JobRecord> {
    let record = ctx
        .app()?
        .store
        .job_by_id(id)
        .await
        .map_err(AppError::from)?
        .ok_or_else(|| refused(DomainError::NotFound { what: "the job" }))?;
    authorize_job(actor(ctx).await?, record.organization, record.initiator).map_err(refused)?;
    Ok(record)
}

#[derive(Default)]
pub struct JobQuery;

#[Object]
impl JobQuery {
    /// A job the caller started, or one of an organization where the caller may manage
    /// users; SuperAdmins see every job.
    async fn job(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Job>> {
        let id: JobId = parse_id("id", &id)?;
        let Some(record) = ctx
            .app()?
            .store
            .job_by_id(id)
            .await
            .map_err(AppError::from)?
        else {
            return Ok(None);
        };
        let visible =
            authorize_job(actor(ctx).await?, record.organization, record.initiator).is_ok();
        Ok(visible.then_some(Job(record)))
    }

    /// Jobs, newest first.
    async fn jobs(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] filter: JobFilterInput,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<Job>> {
        let actor = actor(ctx).await?;
        let organization: Option<OrganizationId> = filter
            .organization
            .as_ref()
            .map(|id| parse_id("filter.organization", id))
            .transpose()?;
        let mut store_filter = JobFilter {
            organizations: None,
            initiator: None,
            status: filter.status.map(Into::into),
            kind: filter.kind.map(Into::into),
        };
        match organization {
            Some(organization) => {
                authorize::<ManageUsers>(actor, organization).map_err(refused)?;
                store_filter.organizations = Some(vec![organization]);
            }
            None if actor.is_super_admin() => {}
            None => store_filter.initiator = Some(actor.user),
        }
        if filter.mine {
            store_filter.initiator = Some(actor.user);
        }
        let request = PageRequest::parse(first, after)?;
        let (records, total) = ctx
            .app()?
            .store
            .jobs_page(&store_filter, request.after, request.fetch)
            .await
            .map_err(AppError::from)?;
        let items = records
            .into_iter()
            .map(|record| (record.id.as_uuid(), Job(record)))
            .collect();
        Ok(request.page(items, total))
    }
}

#[derive(Default)]
pub struct JobMutation;

#[Object]
impl JobMutation {
    /// Starts creating users in an organization from a CSV file, sent as a GraphQL multipart
    /// upload (or `POST /imports/users` with `Content-Type: text/csv`). Columns
    /// `username,email,name` are required, `role` (a role's name; Viewer when empty) and
    /// `language` (en, de, zh, ru) optional; header names in any case; UTF-8 with or without
    /// a byte order mark. The file is checked as it is read: one that is not CSV or lacks a
    /// column is refused here with nothing started. Each row is then checked like
    /// `createUser`; the job's rows tell what became of each, and the caller gets an e-mail
    /// when it ends. Users that exist already are skipped, so uploading the same file again
    /// creates nothing twice. With `sendInvitations` (the default) each new user is invited
    /// by e-mail; without, users are added as active members waiting for validation and
    /// nobody is written to (`resendValidation` sends them a link later). Needs
    /// `USERS/MANAGE`.
    async fn start_bulk_user_import(
        &self,
        ctx: &Context<'_>,
        organization: ID,
        file: Upload,
        #[graphql(default = false)] dry_run: bool,
        #[graphql(default = true)] send_invitations: bool,
    ) -> async_graphql::Result<JobPayload> {
        let organization: OrganizationId = parse_id("organization", &organization)?;
        let proof = authorize::<ManageUsers>(actor(ctx).await?, organization).map_err(refused)?;
        let upload = file.value(ctx).map_err(|error| {
            refused(DomainError::invalid(
                "file",
                format!("could not be read: {error}"),
            ))
        })?;
        let entry = ctx.audit_entry()?;
        let import = NewUserImport {
            organization: proof.organization(),
            initiator: Some(proof.actor()),
            dry_run,
            send_invitations,
            file_name: Some(upload.filename.chars().take(200).collect())
                .filter(|name: &String| !name.is_empty()),
        };
        let app = ctx.app()?;
        let result =
            crate::import::stage_csv(&app.store, &import, upload.into_read(), &entry).await?;
        Ok(payload(result))
    }

    /// Cancels a job: a queued one ends at once, a running one after the batch in hand
    /// (users it created stay). Needs to be able to see the job.
    async fn cancel_job(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<JobPayload> {
        let id: JobId = parse_id("id", &id)?;
        visible_job(ctx, id).await?;
        let entry = ctx.audit_entry()?;
        let result = expected(ctx.app()?.store.cancel_job(id, &entry).await)?;
        Ok(payload(result))
    }
}
