//! One DataLoader per relation, created per request so no request sees another's cache.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::ErrorExtensions as _;
use async_graphql::dataloader::{DataLoader, Loader};
use steward_domain::resource::ResourceAccess;
use steward_domain::{GroupId, OrganizationId, ProjectId, RoleId, UserId};
use steward_store::{
    BindingSubject, GroupRecord, MembershipRecord, OrganizationRecord, ProjectRecord,
    ResourceRecord, ResourceShareRecord, RoleBindingRecord, RoleRecord, Store, UserRecord,
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

pub struct RoleLoader(Store);

impl Loader<RoleId> for RoleLoader {
    type Value = RoleRecord;
    type Error = LoadError;

    async fn load(&self, keys: &[RoleId]) -> Result<HashMap<RoleId, RoleRecord>, LoadError> {
        let roles = self.0.roles_by_ids(keys).await.map_err(load_error)?;
        Ok(roles.into_iter().map(|role| (role.id, role)).collect())
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

/// How long a loader waits for more keys before it runs its statement. async-graphql's
/// default (1 ms) is shorter than resolving a page of 100 nodes takes on a busy machine, and
/// a page then splits into several batches: the statement count grows with the page size.
/// 10 ms keeps it constant (tested in `crates/server/tests/statements.rs`) at the price of
/// at most that much latency per loaded level.
const BATCH_WINDOW: Duration = Duration::from_millis(10);

fn batched<T: Loader<K>, K: Send + Sync + std::hash::Hash + Eq + Clone + 'static>(
    loader: T,
) -> DataLoader<T> {
    DataLoader::new(loader, tokio::spawn)
        .delay(BATCH_WINDOW)
        .max_batch_size(1000)
}

/// The loaders of one request.
pub struct Loaders {
    pub users: DataLoader<UserLoader>,
    pub organizations: DataLoader<OrganizationLoader>,
    pub memberships_of_user: DataLoader<MembershipsOfUserLoader>,
    pub roles: DataLoader<RoleLoader>,
    pub roles_of_organization: DataLoader<RolesOfOrganizationLoader>,
    pub email_domains_of_organization: DataLoader<EmailDomainsOfOrganizationLoader>,
    pub password_rules_of_organization: DataLoader<PasswordRulesOfOrganizationLoader>,
    pub projects_of_organization: DataLoader<ProjectsOfOrganizationLoader>,
    pub projects: DataLoader<ProjectLoader>,
    pub bindings_of_user: DataLoader<BindingsOfUserLoader>,
    pub groups: DataLoader<GroupLoader>,
    pub groups_of_organization: DataLoader<GroupsOfOrganizationLoader>,
    pub groups_of_user: DataLoader<GroupsOfUserLoader>,
    pub shares_of_resource: DataLoader<SharesOfResourceLoader>,
    pub owned_resources: DataLoader<OwnedResourcesLoader>,
    pub shared_resources: DataLoader<SharedResourcesLoader>,
}

impl Loaders {
    pub fn new(store: &Store) -> Self {
        Self {
            users: batched(UserLoader(store.clone())),
            organizations: batched(OrganizationLoader(store.clone())),
            memberships_of_user: batched(MembershipsOfUserLoader(store.clone())),
            roles: batched(RoleLoader(store.clone())),
            roles_of_organization: batched(RolesOfOrganizationLoader(store.clone())),
            email_domains_of_organization: batched(EmailDomainsOfOrganizationLoader(store.clone())),
            password_rules_of_organization: batched(PasswordRulesOfOrganizationLoader(
                store.clone(),
            )),
            projects_of_organization: batched(ProjectsOfOrganizationLoader(store.clone())),
            projects: batched(ProjectLoader(store.clone())),
            bindings_of_user: batched(BindingsOfUserLoader(store.clone())),
            groups: batched(GroupLoader(store.clone())),
            groups_of_organization: batched(GroupsOfOrganizationLoader(store.clone())),
            groups_of_user: batched(GroupsOfUserLoader(store.clone())),
            shares_of_resource: batched(SharesOfResourceLoader(store.clone())),
            owned_resources: batched(OwnedResourcesLoader(store.clone())),
            shared_resources: batched(SharedResourcesLoader(store.clone())),
        }
    }
}
