//! Consistency reports and repairs (SPEC.md §11): a direct report for one user, and runs
//! over a user, an organization or everyone as jobs whose findings are kept. SuperAdmins
//! only.

use async_graphql::connection::{Connection, OpaqueCursor};
use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use steward_domain::consistency::{RunScope, authorize_consistency};
use steward_domain::job::JobKind;
use steward_domain::{DomainError, JobId, UserId};
use steward_store::{FindingFilter, JobRecord, run_parameters};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{AppError, expected, refused};
use crate::graphql::connection::{ConnectionFields, PageRequest};
use crate::graphql::context::{ContextExt as _, actor, parse_id};
use crate::graphql::jobs::Job;
use crate::graphql::types::{Organization, User, UserError};

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "steward_domain::consistency::Invariant")]
pub enum Invariant {
    /// A deleted user keeps only disabled memberships.
    MembershipOfDeletedUser,
    /// A group's members are members of its organization and not deleted.
    GroupMemberNotMember,
    /// An archived group has no members.
    ArchivedGroupMember,
    /// No role is bound to a deleted user.
    BindingOfDeletedUser,
    /// No resource is shared with a deleted user, and no deleted resource is shared.
    DanglingShare,
    /// No transferable resource is owned by a deleted user.
    ResourceOwnedByDeletedUser,
    /// A transferable resource's owner is a member of its organization.
    ResourceOwnedByNonMember,
    /// The effective roles authorization reads equal their recomputation from role
    /// bindings and group memberships.
    PermissionParity,
    /// A live session belongs to an active user, acting where their membership is active.
    LiveSessionOfInactiveUser,
    /// An API key that works belongs to a user who is not deleted, a member of the key's
    /// organization.
    LiveApiKeyOfInactiveUser,
    /// A deleted user has no password, SSH key or second factor left.
    CredentialsOfDeletedUser,
    /// A deleted user has no pending invitation.
    PendingInvitationOfDeletedUser,
    /// An account pending deletion with no hold left is purged.
    UnheldPendingDeletion,
    /// Every organization has an active owner who is an active member (reported, never
    /// repaired: a person chooses the owner).
    OrganizationWithoutActiveOwner,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "steward_domain::consistency::FindingStatus")]
pub enum FindingStatus {
    /// Reported, not repaired (every finding of a report).
    Open,
    Repaired,
    /// No automatic fix, or the fix was refused; `note` says why.
    Unresolved,
    /// No longer there when the repair came to it.
    Gone,
}

/// What a run covers.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsistencyScope {
    /// One user (`subject`) and the organizations they own.
    User,
    /// An organization's members and the organization (`subject`).
    Organization,
    /// Every user and organization.
    All,
}

/// An invariant as documented: its code, what it requires and how it is repaired.
#[derive(SimpleObject)]
pub struct InvariantInfo {
    pub code: Invariant,
    pub description: &'static str,
    /// What a repair does; null when a person must fix it (`manualFix`).
    pub fix: Option<&'static str>,
    pub manual_fix: Option<&'static str>,
}

/// One violation of an invariant.
pub struct Finding(steward_store::Finding);

#[Object]
impl Finding {
    async fn invariant(&self) -> Invariant {
        self.0.invariant.into()
    }

    /// `MEMBERSHIP`, `GROUP_MEMBER` (the group; the member is `user`), `ROLE_BINDING`,
    /// `RESOURCE_SHARE` (the resource; shared with `user`), `RESOURCE`, `USER`, `SESSION`,
    /// `API_KEY`, `INVITATION` or `ORGANIZATION`.
    async fn subject_type(&self) -> &str {
        self.0.subject_type
    }

    async fn subject_id(&self) -> ID {
        ID(self.0.subject_id.to_string())
    }

    /// The user the finding concerns, if any (deleted users included).
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(user) = self.0.user else {
            return Ok(None);
        };
        Ok(ctx.loaders()?.users.load_one(user).await?.map(User))
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

    async fn detail(&self) -> &str {
        &self.0.detail
    }

    /// The fix a repair applies, or what a person must do.
    async fn proposed_fix(&self) -> &str {
        &self.0.fix
    }

    async fn status(&self) -> FindingStatus {
        self.0.status.into()
    }

    /// Whether the run applied the fix.
    async fn applied(&self) -> bool {
        self.0.status.is_applied()
    }

    /// Why an unresolved finding stays.
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }

    async fn found_at(&self) -> OffsetDateTime {
        self.0.found_at
    }

    async fn repaired_at(&self) -> Option<OffsetDateTime> {
        self.0.repaired_at
    }
}

/// Findings and repairs of one invariant in a run.
#[derive(SimpleObject)]
pub struct InvariantCount {
    pub invariant: Invariant,
    pub found: i32,
    pub repaired: i32,
}

/// A consistency run: a job, and what it found.
pub struct ConsistencyRun(JobRecord);

#[Object]
impl ConsistencyRun {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The job: status, progress (`processedRows` of `totalRows` subjects), `findings`,
    /// `repaired`; followed live with the `jobProgress` subscription.
    async fn job(&self) -> Job {
        Job(self.0.clone())
    }

    async fn scope(&self) -> async_graphql::Result<ConsistencyScope> {
        let (scope, _) = run_parameters(&self.0).map_err(AppError::from)?;
        Ok(match scope {
            RunScope::User(_) => ConsistencyScope::User,
            RunScope::Organization(_) => ConsistencyScope::Organization,
            RunScope::All => ConsistencyScope::All,
        })
    }

    /// The user or organization of a USER or ORGANIZATION run.
    async fn subject(&self) -> async_graphql::Result<Option<ID>> {
        let (scope, _) = run_parameters(&self.0).map_err(AppError::from)?;
        Ok(scope.subject().map(|id| ID(id.to_string())))
    }

    /// Whether the run repairs; a run that does not is a report (a dry run).
    async fn repair(&self) -> bool {
        self.0.flag("repair")
    }

    /// Counts per invariant with findings.
    async fn counts(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<InvariantCount>> {
        let counts = ctx
            .app()?
            .store
            .finding_counts(self.0.id)
            .await
            .map_err(AppError::from)?;
        let number = |value: u64| i32::try_from(value).unwrap_or(i32::MAX);
        Ok(counts
            .0
            .into_iter()
            .map(|(invariant, (found, repaired))| InvariantCount {
                invariant: invariant.into(),
                found: number(found),
                repaired: number(repaired),
            })
            .collect())
    }

    /// The findings in the order found.
    async fn findings(
        &self,
        ctx: &Context<'_>,
        invariant: Option<Invariant>,
        status: Option<FindingStatus>,
        user: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<OpaqueCursor<Uuid>, Finding, ConnectionFields>> {
        let request: PageRequest = PageRequest::parse(first, after)?;
        let filter = FindingFilter {
            invariant: invariant.map(Into::into),
            status: status.map(Into::into),
            user: user.as_ref().map(|id| parse_id("user", id)).transpose()?,
        };
        let (findings, total) = ctx
            .app()?
            .store
            .findings_page(self.0.id, &filter, request.after, request.fetch)
            .await
            .map_err(AppError::from)?;
        let items = findings
            .into_iter()
            .map(|finding| (finding.id.unwrap_or_default(), Finding(finding)))
            .collect();
        Ok(request.page(items, total))
    }
}

/// The result of starting a run.
#[derive(SimpleObject)]
pub struct ConsistencyRunPayload {
    pub run: Option<ConsistencyRun>,
    pub errors: Vec<UserError>,
}

#[derive(Default)]
pub struct ConsistencyQuery;

#[Object]
impl ConsistencyQuery {
    /// Checks one user now, storing nothing: every invariant over the user's data and the
    /// organizations they own. SuperAdmins only.
    async fn consistency_report(
        &self,
        ctx: &Context<'_>,
        user: ID,
    ) -> async_graphql::Result<Vec<Finding>> {
        authorize_consistency(actor(ctx).await?).map_err(refused)?;
        let user: UserId = parse_id("user", &user)?;
        let app = ctx.app()?;
        let findings = app
            .store
            .consistency_report(user, app.clock.now())
            .await
            .map_err(AppError::from)?;
        Ok(findings.into_iter().map(Finding).collect())
    }

    /// A consistency run; null when the id is no consistency run. SuperAdmins only.
    async fn consistency_run(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<ConsistencyRun>> {
        authorize_consistency(actor(ctx).await?).map_err(refused)?;
        let id: JobId = parse_id("id", &id)?;
        let job = ctx
            .app()?
            .store
            .job_by_id(id)
            .await
            .map_err(AppError::from)?;
        Ok(job
            .filter(|job| job.kind == JobKind::ConsistencyRun)
            .map(ConsistencyRun))
    }

    /// The invariants the checks enforce, with their fixes.
    async fn consistency_invariants(&self) -> Vec<InvariantInfo> {
        steward_domain::consistency::Invariant::ALL
            .into_iter()
            .map(|invariant| InvariantInfo {
                code: invariant.into(),
                description: invariant.description(),
                fix: invariant.fix(),
                manual_fix: Some(invariant.manual_fix()).filter(|fix| !fix.is_empty()),
            })
            .collect()
    }
}

#[derive(Default)]
pub struct ConsistencyMutation;

#[Object]
impl ConsistencyMutation {
    /// Starts a consistency run as a job: `USER` and `ORGANIZATION` need `subject`, `ALL`
    /// takes none. With `repair`, each finding is fixed in a transaction of its own,
    /// audited as a repair by the caller; without, the run is a report. The caller gets an
    /// e-mail with the counts per invariant when it ends. SuperAdmins only.
    async fn start_consistency_run(
        &self,
        ctx: &Context<'_>,
        scope: ConsistencyScope,
        subject: Option<ID>,
        #[graphql(default = false)] repair: bool,
    ) -> async_graphql::Result<ConsistencyRunPayload> {
        authorize_consistency(actor(ctx).await?).map_err(refused)?;
        let subject: Option<Uuid> = subject
            .as_ref()
            .map(|id| parse_id("subject", id))
            .transpose()?;
        let code = match scope {
            ConsistencyScope::User => "USER",
            ConsistencyScope::Organization => "ORGANIZATION",
            ConsistencyScope::All => "ALL",
        };
        let scope = match RunScope::parse(code, subject) {
            Ok(scope) => scope,
            Err(error) => return Ok(payload(Err(error))),
        };
        let entry = ctx.audit_entry()?;
        let result = expected(
            ctx.app()?
                .store
                .start_consistency_run(scope, repair, &entry)
                .await,
        )?;
        Ok(payload(result))
    }
}

fn payload(result: Result<JobRecord, DomainError>) -> ConsistencyRunPayload {
    match result {
        Ok(job) => ConsistencyRunPayload {
            run: Some(ConsistencyRun(job)),
            errors: Vec::new(),
        },
        Err(error) => ConsistencyRunPayload {
            run: None,
            errors: vec![UserError::from_domain("", &error)],
        },
    }
}
