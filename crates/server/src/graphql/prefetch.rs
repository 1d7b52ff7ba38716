//! Look-ahead for pages of users: the relations a page's rows select are read before the
//! rows are resolved, one statement a relation, into the request's loader caches. Each row's
//! resolvers then find their relations there and answer on their first poll, instead of
//! registering a key, waiting for the batch and being polled again, row by row and level by
//! level. Relations that do not depend on each other are read at the same time.
//!
//! Only the loading moves: every resolver still filters what it answers by the caller's
//! grants, so reading a relation the caller may not see shows nothing. Requests whose
//! loaders do not cache (mutations, WebSocket operations) are left as they are: there a
//! read ahead would be read again.

use std::collections::HashSet;

use async_graphql::{Context, Lookahead};
use steward_domain::UserId;

use crate::graphql::context::ContextExt as _;
use crate::graphql::loaders::LoadError;

/// Reads ahead what the rows of the page of `users` this field answers select: the users
/// are its connection's `nodes` and `edges.node`.
pub async fn user_rows(ctx: &Context<'_>, users: &[UserId]) -> async_graphql::Result<()> {
    let loaders = ctx.loaders()?;
    if !loaders.cached() || users.is_empty() {
        return Ok(());
    }
    let page = ctx.look_ahead();
    let rows = [page.field("nodes"), page.field("edges").field("node")];
    let selects = |path: &[&str]| rows.iter().any(|row| selected(row, path));

    let memberships = async {
        if selects(&["memberships"]) {
            loaders
                .memberships_of_user
                .load_many(users.iter().copied())
                .await
                .map(Some)
        } else {
            Ok(None)
        }
    };
    let bindings = async {
        if selects(&["memberships", "roles"]) {
            loaders
                .bindings_of_user
                .load_many(users.iter().copied())
                .await
                .map(Some)
        } else {
            Ok(None)
        }
    };
    let groups = async {
        if selects(&["groups"]) {
            loaders
                .groups_of_user
                .load_many(users.iter().copied())
                .await?;
        }
        Ok::<(), LoadError>(())
    };
    let (memberships, bindings, ()) = futures_util::try_join!(memberships, bindings, groups)?;

    let organizations: HashSet<_> = if selects(&["memberships", "organization"]) {
        memberships
            .iter()
            .flat_map(|of_user| of_user.values().flatten())
            .map(|membership| membership.organization)
            .collect()
    } else {
        HashSet::new()
    };
    let mut roles = HashSet::new();
    if selects(&["memberships", "roles", "role"]) {
        roles.extend(
            bindings
                .iter()
                .flat_map(|of_user| of_user.values().flatten())
                .map(|binding| binding.role),
        );
    }
    if selects(&["memberships", "defaultRole"]) {
        roles.extend(
            memberships
                .iter()
                .flat_map(|of_user| of_user.values().flatten())
                .filter_map(|membership| membership.default_role),
        );
    }
    let organizations = async {
        if !organizations.is_empty() {
            loaders.organizations.load_many(organizations).await?;
        }
        Ok::<(), LoadError>(())
    };
    let roles = async {
        if !roles.is_empty() {
            loaders.roles.load_many(roles).await?;
        }
        Ok(())
    };
    futures_util::try_join!(organizations, roles)?;
    Ok(())
}

/// Whether `path`, field after field, is selected under `from`.
fn selected(from: &Lookahead<'_>, path: &[&str]) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return from.exists();
    };
    let mut at = from.field(first);
    for name in rest {
        at = at.field(name);
    }
    at.exists()
}
