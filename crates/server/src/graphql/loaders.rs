//! One DataLoader per relation, created per request so no request sees another's cache.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::ErrorExtensions as _;
use async_graphql::dataloader::{DataLoader, Loader};
use steward_domain::{OrganizationId, UserId};
use steward_store::{MembershipRecord, OrganizationRecord, Store, UserRecord};

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

/// The loaders of one request.
pub struct Loaders {
    pub users: DataLoader<UserLoader>,
    pub organizations: DataLoader<OrganizationLoader>,
    pub memberships_of_user: DataLoader<MembershipsOfUserLoader>,
}

impl Loaders {
    pub fn new(store: &Store) -> Self {
        Self {
            users: DataLoader::new(UserLoader(store.clone()), tokio::spawn),
            organizations: DataLoader::new(OrganizationLoader(store.clone()), tokio::spawn),
            memberships_of_user: DataLoader::new(
                MembershipsOfUserLoader(store.clone()),
                tokio::spawn,
            ),
        }
    }
}
