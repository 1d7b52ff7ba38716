//! One DataLoader per relation, created per request so no request sees another's cache.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use async_graphql::ErrorExtensions as _;
use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use futures_util::StreamExt as _;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::stream::Stream;
use steward_domain::job::RowStatus;
use steward_domain::permission::PermissionSet;
use steward_domain::resource::ResourceAccess;
use steward_domain::{GroupId, JobId, OrganizationId, ProjectId, RoleId, UserId};
use steward_store::{
    BindingSubject, GroupRecord, ImportRowRecord, MembershipRecord, OrganizationRecord,
    ProjectRecord, ResourceRecord, ResourceShareRecord, RoleBindingRecord, RoleRecord, RoleSummary,
    Store, TransferItemRecord, UserRecord,
};
use uuid::Uuid;

use crate::error::AppError;

/// A loader failure; cloneable, as DataLoader requires.
#[derive(Debug, Clone)]
pub struct LoadError(Arc<AppError>);

impl From<LoadError> for async_graphql::Error {
    fn from(error: LoadError) -> Self {
        let code = error.0.code();
        if code == "INTERNAL" {
            tracing::error!(error = %error.0.describe(), "loading failed");
        }
        async_graphql::Error::new(error.0.public_message())
            .extend_with(|_, extensions| extensions.set("code", code))
    }
}

fn load_error(error: impl Into<AppError>) -> LoadError {
    LoadError(Arc::new(error.into()))
}

pub struct UserLoader(Store);

impl Loader<UserId> for UserLoader {
    type Value = UserRecord;
    type Error = LoadError;

    async fn load(&self, keys: &[UserId]) -> Result<HashMap<UserId, UserRecord>, LoadError> {
        let users = self.0.users_by_ids(keys).await.map_err(load_error)?;
        Ok(users.into_iter().map(|user| (user.id, user)).collect())
    }
}

pub struct OrganizationLoader(Store);

impl Loader<OrganizationId> for OrganizationLoader {
    type Value = OrganizationRecord;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[OrganizationId],
    ) -> Result<HashMap<OrganizationId, OrganizationRecord>, LoadError> {
        let organizations = self
            .0
            .organizations_by_ids(keys)
            .await
            .map_err(load_error)?;
        Ok(organizations
            .into_iter()
            .map(|organization| (organization.id, organization))
            .collect())
    }
}

/// The memberships of users, keyed by user.
pub struct MembershipsOfUserLoader(Store);

impl Loader<UserId> for MembershipsOfUserLoader {
    type Value = Vec<MembershipRecord>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[UserId],
    ) -> Result<HashMap<UserId, Vec<MembershipRecord>>, LoadError> {
        let memberships = self
            .0
            .memberships_of_users(keys)
            .await
            .map_err(load_error)?;
        let mut by_user: HashMap<UserId, Vec<MembershipRecord>> =
            keys.iter().map(|key| (*key, Vec::new())).collect();
        for membership in memberships {
            by_user.entry(membership.user).or_default().push(membership);
        }
        Ok(by_user)
    }
}

/// Roles without their permissions (a page of role names needs none).
pub struct RoleLoader(Store);

impl Loader<RoleId> for RoleLoader {
    type Value = RoleSummary;
    type Error = LoadError;

    async fn load(&self, keys: &[RoleId]) -> Result<HashMap<RoleId, RoleSummary>, LoadError> {
        let roles = self
            .0
            .role_summaries_by_ids(keys)
            .await
            .map_err(load_error)?;
        Ok(roles.into_iter().map(|role| (role.id, role)).collect())
    }
}

/// The permissions of roles, for those read without them.
pub struct PermissionsOfRoleLoader(Store);

impl Loader<RoleId> for PermissionsOfRoleLoader {
    type Value = PermissionSet;
    type Error = LoadError;

    async fn load(&self, keys: &[RoleId]) -> Result<HashMap<RoleId, PermissionSet>, LoadError> {
        self.0.permissions_of_roles(keys).await.map_err(load_error)
    }
}

/// The roles of organizations, keyed by organization.
pub struct RolesOfOrganizationLoader(Store);

impl Loader<OrganizationId> for RolesOfOrganizationLoader {
    type Value = Vec<RoleRecord>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[OrganizationId],
    ) -> Result<HashMap<OrganizationId, Vec<RoleRecord>>, LoadError> {
        let roles = self
            .0
            .roles_of_organizations(keys)
            .await
            .map_err(load_error)?;
        let mut by_organization: HashMap<OrganizationId, Vec<RoleRecord>> =
            keys.iter().map(|key| (*key, Vec::new())).collect();
        for role in roles {
            by_organization
                .entry(role.organization)
                .or_default()
                .push(role);
        }
        Ok(by_organization)
    }
}

/// The allowed e-mail domains of organizations.
pub struct EmailDomainsOfOrganizationLoader(Store);

impl Loader<OrganizationId> for EmailDomainsOfOrganizationLoader {
    type Value = Vec<String>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[OrganizationId],
    ) -> Result<HashMap<OrganizationId, Vec<String>>, LoadError> {
        let domains = self
            .0
            .email_domains_of_organizations(keys)
            .await
            .map_err(load_error)?;
        let mut by_organization: HashMap<OrganizationId, Vec<String>> =
            keys.iter().map(|key| (*key, Vec::new())).collect();
        for (organization, domain) in domains {
            by_organization
                .entry(organization)
                .or_default()
                .push(domain);
        }
        Ok(by_organization)
    }
}

/// The password composition rules of organizations (all off for one without rules).
pub struct PasswordRulesOfOrganizationLoader(Store);

impl Loader<OrganizationId> for PasswordRulesOfOrganizationLoader {
    type Value = steward_domain::password::CompositionRules;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[OrganizationId],
    ) -> Result<HashMap<OrganizationId, Self::Value>, LoadError> {
        let mut by_organization: HashMap<OrganizationId, Self::Value> = keys
            .iter()
            .map(|key| (*key, Self::Value::default()))
            .collect();
        by_organization.extend(
            self.0
                .password_rules_of_organizations(keys)
                .await
                .map_err(load_error)?,
        );
        Ok(by_organization)
    }
}

pub struct ProjectsOfOrganizationLoader(Store);

impl Loader<OrganizationId> for ProjectsOfOrganizationLoader {
    type Value = Vec<ProjectRecord>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[OrganizationId],
    ) -> Result<HashMap<OrganizationId, Vec<ProjectRecord>>, LoadError> {
        let projects = self
            .0
            .projects_of_organizations(keys)
            .await
            .map_err(load_error)?;
        let mut by_organization: HashMap<OrganizationId, Vec<ProjectRecord>> =
            keys.iter().map(|key| (*key, Vec::new())).collect();
        for project in projects {
            by_organization
                .entry(project.organization)
                .or_default()
                .push(project);
        }
        Ok(by_organization)
    }
}

pub struct ProjectLoader(Store);

impl Loader<ProjectId> for ProjectLoader {
    type Value = ProjectRecord;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[ProjectId],
    ) -> Result<HashMap<ProjectId, ProjectRecord>, LoadError> {
        let projects = self.0.projects_by_ids(keys).await.map_err(load_error)?;
        Ok(projects
            .into_iter()
            .map(|project| (project.id, project))
            .collect())
    }
}

/// The direct role bindings of users, keyed by user.
pub struct BindingsOfUserLoader(Store);

impl Loader<UserId> for BindingsOfUserLoader {
    type Value = Vec<RoleBindingRecord>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[UserId],
    ) -> Result<HashMap<UserId, Vec<RoleBindingRecord>>, LoadError> {
        let bindings = self.0.bindings_of_users(keys).await.map_err(load_error)?;
        let mut by_user: HashMap<UserId, Vec<RoleBindingRecord>> =
            keys.iter().map(|key| (*key, Vec::new())).collect();
        for binding in bindings {
            if let BindingSubject::User(user) = binding.subject {
                by_user.entry(user).or_default().push(binding);
            }
        }
        Ok(by_user)
    }
}

pub struct GroupLoader(Store);

impl Loader<GroupId> for GroupLoader {
    type Value = GroupRecord;
    type Error = LoadError;

    async fn load(&self, keys: &[GroupId]) -> Result<HashMap<GroupId, GroupRecord>, LoadError> {
        let groups = self.0.groups_by_ids(keys).await.map_err(load_error)?;
        Ok(groups.into_iter().map(|group| (group.id, group)).collect())
    }
}

/// The groups of organizations, archived ones included, keyed by organization.
pub struct GroupsOfOrganizationLoader(Store);

impl Loader<OrganizationId> for GroupsOfOrganizationLoader {
    type Value = Vec<GroupRecord>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[OrganizationId],
    ) -> Result<HashMap<OrganizationId, Vec<GroupRecord>>, LoadError> {
        let groups = self
            .0
            .groups_of_organizations(keys)
            .await
            .map_err(load_error)?;
        let mut by_organization: HashMap<OrganizationId, Vec<GroupRecord>> =
            keys.iter().map(|key| (*key, Vec::new())).collect();
        for group in groups {
            by_organization
                .entry(group.organization)
                .or_default()
                .push(group);
        }
        Ok(by_organization)
    }
}

/// The groups users are in, archived ones included, keyed by user.
pub struct GroupsOfUserLoader(Store);

impl Loader<UserId> for GroupsOfUserLoader {
    type Value = Vec<GroupRecord>;
    type Error = LoadError;

    async fn load(&self, keys: &[UserId]) -> Result<HashMap<UserId, Vec<GroupRecord>>, LoadError> {
        let groups = self.0.groups_of_users(keys).await.map_err(load_error)?;
        let mut by_user: HashMap<UserId, Vec<GroupRecord>> =
            keys.iter().map(|key| (*key, Vec::new())).collect();
        for (user, group) in groups {
            by_user.entry(user).or_default().push(group);
        }
        Ok(by_user)
    }
}

/// The shares of resources, keyed by resource id.
pub struct SharesOfResourceLoader(Store);

impl Loader<Uuid> for SharesOfResourceLoader {
    type Value = Vec<ResourceShareRecord>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[Uuid],
    ) -> Result<HashMap<Uuid, Vec<ResourceShareRecord>>, LoadError> {
        let shares = self.0.shares_of_resources(keys).await.map_err(load_error)?;
        let mut by_resource: HashMap<Uuid, Vec<ResourceShareRecord>> =
            keys.iter().map(|key| (*key, Vec::new())).collect();
        for share in shares {
            by_resource.entry(share.resource).or_default().push(share);
        }
        Ok(by_resource)
    }
}

/// The resources users own, keyed by user and optional kind: one statement per kind asked
/// for in the batch (a page of users asking the same thing costs one).
pub struct OwnedResourcesLoader(Store);

impl Loader<(UserId, Option<String>)> for OwnedResourcesLoader {
    type Value = Vec<ResourceRecord>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[(UserId, Option<String>)],
    ) -> Result<HashMap<(UserId, Option<String>), Vec<ResourceRecord>>, LoadError> {
        let mut by_kind: HashMap<Option<String>, Vec<UserId>> = HashMap::new();
        for (user, kind) in keys {
            by_kind.entry(kind.clone()).or_default().push(*user);
        }
        let mut owned: HashMap<(UserId, Option<String>), Vec<ResourceRecord>> =
            keys.iter().map(|key| (key.clone(), Vec::new())).collect();
        for (kind, users) in by_kind {
            let records = self
                .0
                .owned_resources(&users, kind.as_deref())
                .await
                .map_err(load_error)?;
            for record in records {
                if let Some(owner) = record.owner {
                    owned.entry((owner, kind.clone())).or_default().push(record);
                }
            }
        }
        Ok(owned)
    }
}

/// The resources shared with users and the access each holds, keyed by user and optional
/// kind: one statement per kind asked for in the batch.
pub struct SharedResourcesLoader(Store);

impl Loader<(UserId, Option<String>)> for SharedResourcesLoader {
    type Value = Vec<(ResourceRecord, ResourceAccess)>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[(UserId, Option<String>)],
    ) -> Result<HashMap<(UserId, Option<String>), Self::Value>, LoadError> {
        let mut by_kind: HashMap<Option<String>, Vec<UserId>> = HashMap::new();
        for (user, kind) in keys {
            by_kind.entry(kind.clone()).or_default().push(*user);
        }
        let mut shared: HashMap<(UserId, Option<String>), Self::Value> =
            keys.iter().map(|key| (key.clone(), Vec::new())).collect();
        for (kind, users) in by_kind {
            let rows = self
                .0
                .shared_resources(&users, kind.as_deref())
                .await
                .map_err(load_error)?;
            for (user, record, access) in rows {
                shared
                    .entry((user, kind.clone()))
                    .or_default()
                    .push((record, access));
            }
        }
        Ok(shared)
    }
}

/// A page of each parent's children (a group's members, an import's rows): which parent,
/// after which key, how many, and whether the total is asked for. A list of parents asking
/// for the same page costs one statement for the pages and, if asked, one for the totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageKey<P, K, F = ()> {
    pub parent: P,
    /// Only children of this kind (an import's rows of one status).
    pub filter: F,
    pub after: Option<K>,
    pub limit: i64,
    /// Whether the total is selected; it costs a statement.
    pub counted: bool,
}

/// The keys of a batch of [`PageKey`]s by the page they ask for: one statement each.
fn by_page<P: Copy, K: Copy + std::hash::Hash + Eq, F: Copy + std::hash::Hash + Eq>(
    keys: &[PageKey<P, K, F>],
) -> HashMap<(F, Option<K>, i64), Vec<P>> {
    let mut pages: HashMap<(F, Option<K>, i64), Vec<P>> = HashMap::new();
    for key in keys {
        pages
            .entry((key.filter, key.after, key.limit))
            .or_default()
            .push(key.parent);
    }
    pages
}

/// The parents whose total is asked for, each once, by filter: one statement each.
fn counted<P: Copy + std::hash::Hash + Eq, K, F: Copy + std::hash::Hash + Eq>(
    keys: &[PageKey<P, K, F>],
) -> HashMap<F, Vec<P>> {
    let mut counted: HashMap<F, Vec<P>> = HashMap::new();
    for key in keys.iter().filter(|key| key.counted) {
        let parents = counted.entry(key.filter).or_default();
        if !parents.contains(&key.parent) {
            parents.push(key.parent);
        }
    }
    counted
}

/// A page of groups' members (user ids), and how many each shows (0 when not asked for).
pub struct GroupMembersLoader(Store);

impl Loader<PageKey<GroupId, Uuid>> for GroupMembersLoader {
    type Value = (Vec<UserId>, i64);
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[PageKey<GroupId, Uuid>],
    ) -> Result<HashMap<PageKey<GroupId, Uuid>, Self::Value>, LoadError> {
        let mut pages: HashMap<(GroupId, Option<Uuid>, i64), Vec<UserId>> = HashMap::new();
        for (((), after, limit), groups) in by_page(keys) {
            for (group, user) in self
                .0
                .group_members_pages(&groups, after, limit)
                .await
                .map_err(load_error)?
            {
                pages.entry((group, after, limit)).or_default().push(user);
            }
        }
        let mut totals: HashMap<GroupId, i64> = HashMap::new();
        if let Some(groups) = counted(keys).remove(&()) {
            totals.extend(
                self.0
                    .group_member_counts(&groups)
                    .await
                    .map_err(load_error)?,
            );
        }
        Ok(keys
            .iter()
            .map(|key| {
                let page = pages
                    .get(&(key.parent, key.after, key.limit))
                    .cloned()
                    .unwrap_or_default();
                let total = totals.get(&key.parent).copied().unwrap_or(0);
                (*key, (page, total))
            })
            .collect())
    }
}

/// A page of imports' rows (of one status, if given), and how many each has (0 when not
/// asked for).
pub struct ImportRowsLoader(Store);

type ImportRowsKey = PageKey<JobId, i64, Option<RowStatus>>;

impl Loader<ImportRowsKey> for ImportRowsLoader {
    type Value = (Vec<ImportRowRecord>, i64);
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[ImportRowsKey],
    ) -> Result<HashMap<ImportRowsKey, Self::Value>, LoadError> {
        type Page = (JobId, Option<RowStatus>, Option<i64>, i64);
        let mut pages: HashMap<Page, Vec<ImportRowRecord>> = HashMap::new();
        for ((status, after, limit), jobs) in by_page(keys) {
            for (job, row) in self
                .0
                .import_rows_pages(&jobs, status, after, limit)
                .await
                .map_err(load_error)?
            {
                pages
                    .entry((job, status, after, limit))
                    .or_default()
                    .push(row);
            }
        }
        let mut totals: HashMap<(JobId, Option<RowStatus>), i64> = HashMap::new();
        for (status, jobs) in counted(keys) {
            for (job, count) in self
                .0
                .import_row_counts(&jobs, status)
                .await
                .map_err(load_error)?
            {
                totals.insert((job, status), count);
            }
        }
        Ok(keys
            .iter()
            .map(|key| {
                let page = pages
                    .get(&(key.parent, key.filter, key.after, key.limit))
                    .cloned()
                    .unwrap_or_default();
                let total = totals.get(&(key.parent, key.filter)).copied().unwrap_or(0);
                (*key, (page, total))
            })
            .collect())
    }
}

/// The transfers that moved resources, oldest first, keyed by resource id.
pub struct TransferHistoryLoader(Store);

impl Loader<Uuid> for TransferHistoryLoader {
    type Value = Vec<TransferItemRecord>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[Uuid],
    ) -> Result<HashMap<Uuid, Vec<TransferItemRecord>>, LoadError> {
        let items = self.0.transfer_histories(keys).await.map_err(load_error)?;
        let mut by_resource: HashMap<Uuid, Vec<TransferItemRecord>> =
            keys.iter().map(|key| (*key, Vec::new())).collect();
        for item in items {
            by_resource.entry(item.resource).or_default().push(item);
        }
        Ok(by_resource)
    }
}

/// The batches of one request's loaders, started and run in the request's own task by
/// [`Batches::drive`] (or, for a WebSocket operation's stream of answers,
/// [`Batches::drive_stream`]) instead of on the runtime after a time window.
///
/// A resolver's `load_one` registers its key and queues the loader's task; the task takes
/// every key registered so far when it first runs. The driver polls the request until it
/// waits, so that every resolver that could run has registered its keys, and only then runs
/// the queued tasks; after a batch delivers its rows it polls the request again before any
/// other task, so that the resolvers it woke register their keys before another batch of
/// theirs is taken. A page's batches therefore depend on the query, not on the clock or on
/// how busy the machine is, and no resolver waits for a window.
#[derive(Clone, Default)]
pub struct Batches(Arc<Mutex<Vec<BoxFuture<'static, ()>>>>);

impl std::fmt::Debug for Batches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batches").finish_non_exhaustive()
    }
}

impl Batches {
    fn queue(&self, task: BoxFuture<'static, ()>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(task);
    }

    fn take(&self) -> Vec<BoxFuture<'static, ()>> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Runs `request`, whose loaders were made with [`Loaders::new`] by these batches, to its
    /// end, with their batches.
    pub async fn drive<F: Future>(self, request: F) -> F::Output {
        let mut request = std::pin::pin!(request);
        let mut driver = Driver::new(self);
        std::future::poll_fn(move |cx| driver.poll(cx, |cx| request.as_mut().poll(cx))).await
    }

    /// Runs `answers` (a WebSocket operation's: one for a query or a mutation, one per event
    /// for a subscription), whose loaders were made with [`Loaders::new`] by these batches,
    /// with their batches.
    pub fn drive_stream<S>(self, answers: S) -> impl Stream<Item = S::Item> + Send + 'static
    where
        S: Stream + Send + 'static,
    {
        let mut answers = Box::pin(answers);
        let mut driver = Driver::new(self);
        futures_util::stream::poll_fn(move |cx| {
            driver.poll(cx, |cx| answers.as_mut().poll_next(cx))
        })
    }
}

/// Polls a request and the batches of its loaders, the request first.
struct Driver {
    batches: Batches,
    running: FuturesUnordered<BoxFuture<'static, ()>>,
}

impl Driver {
    fn new(batches: Batches) -> Self {
        Self {
            batches,
            running: FuturesUnordered::new(),
        }
    }

    fn poll<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut request: impl FnMut(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        loop {
            let waker = Arc::new(Flagged {
                woken: AtomicBool::new(false),
                waker: cx.waker().clone(),
            });
            let flagged = Waker::from(Arc::clone(&waker));
            if let Poll::Ready(output) = request(&mut Context::from_waker(&flagged)) {
                return Poll::Ready(output);
            }
            if waker.woken.load(Ordering::Acquire) {
                // The request yielded with resolvers still to run (a list polls its items a
                // round at a time; tokio's budget ran out): it goes on after the runtime's
                // other tasks, and the batches wait for it.
                return Poll::Pending;
            }
            // The request waits: every resolver that could run has registered its keys.
            self.running.extend(self.batches.take());
            match self.running.poll_next_unpin(cx) {
                // A batch delivered: the resolvers it woke go first.
                Poll::Ready(Some(())) => {}
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl Drop for Driver {
    /// A request dropped before its end (cancelled at its time limit, its WebSocket closed)
    /// leaves no queued batch behind: a queued task holds its loader, which holds the queue.
    fn drop(&mut self) {
        drop(self.batches.take());
    }
}

/// The waker a request is polled with by a [`Driver`]: it notes whether the request was
/// woken while it was polled, that is, whether it yielded rather than waits.
struct Flagged {
    woken: AtomicBool,
    waker: Waker,
}

impl Wake for Flagged {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.waker.wake_by_ref();
    }
}

/// A loader of one request.
pub type RequestLoader<T> = DataLoader<T, HashMapCache>;

/// A loader whose batches run as `batches` drive them, keeping what it read for the rest of
/// the request when `cached`.
fn batched<T: Send + Sync + 'static>(
    loader: T,
    batches: &Batches,
    cached: bool,
) -> RequestLoader<T> {
    let batches = batches.clone();
    let loader = DataLoader::with_cache(
        loader,
        move |task| batches.queue(task),
        HashMapCache::default(),
    )
    .delay(Duration::ZERO)
    .max_batch_size(1000);
    loader.enable_all_cache(cached);
    loader
}

/// The loaders of one request.
pub struct Loaders {
    pub users: RequestLoader<UserLoader>,
    pub organizations: RequestLoader<OrganizationLoader>,
    pub memberships_of_user: RequestLoader<MembershipsOfUserLoader>,
    pub roles: RequestLoader<RoleLoader>,
    pub permissions_of_role: RequestLoader<PermissionsOfRoleLoader>,
    pub roles_of_organization: RequestLoader<RolesOfOrganizationLoader>,
    pub email_domains_of_organization: RequestLoader<EmailDomainsOfOrganizationLoader>,
    pub password_rules_of_organization: RequestLoader<PasswordRulesOfOrganizationLoader>,
    pub projects_of_organization: RequestLoader<ProjectsOfOrganizationLoader>,
    pub projects: RequestLoader<ProjectLoader>,
    pub bindings_of_user: RequestLoader<BindingsOfUserLoader>,
    pub groups: RequestLoader<GroupLoader>,
    pub groups_of_organization: RequestLoader<GroupsOfOrganizationLoader>,
    pub groups_of_user: RequestLoader<GroupsOfUserLoader>,
    pub shares_of_resource: RequestLoader<SharesOfResourceLoader>,
    pub owned_resources: RequestLoader<OwnedResourcesLoader>,
    pub shared_resources: RequestLoader<SharedResourcesLoader>,
    pub group_members: RequestLoader<GroupMembersLoader>,
    pub import_rows: RequestLoader<ImportRowsLoader>,
    pub transfer_history: RequestLoader<TransferHistoryLoader>,
    cached: bool,
}

impl Loaders {
    /// Loaders whose batches run in the request's own task, as `batches` drive them.
    ///
    /// `cached` (for a query: nothing changes while it runs) keeps every row read for the
    /// rest of the request, so that what [`crate::graphql::prefetch`] reads ahead is found
    /// there. Mutations and WebSocket operations (a subscription's events are answered over
    /// minutes) read each relation when it is resolved.
    pub fn new(store: &Store, batches: &Batches, cached: bool) -> Self {
        Self {
            users: batched(UserLoader(store.clone()), batches, cached),
            organizations: batched(OrganizationLoader(store.clone()), batches, cached),
            memberships_of_user: batched(MembershipsOfUserLoader(store.clone()), batches, cached),
            roles: batched(RoleLoader(store.clone()), batches, cached),
            permissions_of_role: batched(PermissionsOfRoleLoader(store.clone()), batches, cached),
            roles_of_organization: batched(
                RolesOfOrganizationLoader(store.clone()),
                batches,
                cached,
            ),
            email_domains_of_organization: batched(
                EmailDomainsOfOrganizationLoader(store.clone()),
                batches,
                cached,
            ),
            password_rules_of_organization: batched(
                PasswordRulesOfOrganizationLoader(store.clone()),
                batches,
                cached,
            ),
            projects_of_organization: batched(
                ProjectsOfOrganizationLoader(store.clone()),
                batches,
                cached,
            ),
            projects: batched(ProjectLoader(store.clone()), batches, cached),
            bindings_of_user: batched(BindingsOfUserLoader(store.clone()), batches, cached),
            groups: batched(GroupLoader(store.clone()), batches, cached),
            groups_of_organization: batched(
                GroupsOfOrganizationLoader(store.clone()),
                batches,
                cached,
            ),
            groups_of_user: batched(GroupsOfUserLoader(store.clone()), batches, cached),
            shares_of_resource: batched(SharesOfResourceLoader(store.clone()), batches, cached),
            owned_resources: batched(OwnedResourcesLoader(store.clone()), batches, cached),
            shared_resources: batched(SharedResourcesLoader(store.clone()), batches, cached),
            group_members: batched(GroupMembersLoader(store.clone()), batches, cached),
            import_rows: batched(ImportRowsLoader(store.clone()), batches, cached),
            transfer_history: batched(TransferHistoryLoader(store.clone()), batches, cached),
            cached,
        }
    }

    /// Whether rows read stay for the rest of the request (see [`Loaders::new`]).
    pub fn cached(&self) -> bool {
        self.cached
    }
}
