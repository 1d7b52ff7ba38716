//! The users of an organization as a list (`users`), and one user (`user`).

use async_graphql::connection::{ConnectionNameType, EdgeNameType};
use async_graphql::{Context, Enum, ID, InputObject, Object, OutputType};
use serde::{Deserialize, Serialize};
use steward_domain::policy::{Authorized, Standing, ViewUsers, authorize, authorize_view_user};
use steward_domain::{DomainError, GroupId, OrganizationId, RoleId, UserId};
use steward_store::{
    MembershipRecord, SortDirection, UserListFilter, UserOrder, UserPageRequest, UserPosition,
    UserRecord, UserSearch, UserSortKey,
};
use time::OffsetDateTime;

use crate::error::{AppError, refused};
use crate::graphql::context::{ContextExt as _, actor, parse_id};
use crate::graphql::keyset::{KeysetPage, KeysetRequest, Position};
use crate::graphql::types::{MembershipStatus, User, UserStatus};

/// Which members `users` lists. Every field given narrows the list; a list field matches any
/// of its values, and an empty list matches nobody.
#[derive(InputObject, Default)]
pub struct UsersFilter {
    /// Account statuses.
    pub status: Option<Vec<UserStatus>>,
    /// Statuses of the membership of the organization.
    pub membership_status: Option<Vec<MembershipStatus>>,
    /// Roles of the organization the user holds: bound to the user or to a group of theirs
    /// that is not archived, for the whole organization or for a project.
    pub roles: Option<Vec<ID>>,
    /// Groups of the organization the user is in.
    pub groups: Option<Vec<ID>>,
    pub mfa_enabled: Option<bool>,
    /// The user's id, or the start of their username, e-mail address or full name,
    /// regardless of case (up to 254 characters).
    pub search: Option<String>,
}

impl UsersFilter {
    fn into_store(self) -> async_graphql::Result<UserListFilter> {
        fn ids<T: From<uuid::Uuid>>(
            field: &'static str,
            ids: Option<Vec<ID>>,
        ) -> async_graphql::Result<Option<Vec<T>>> {
            ids.map(|ids| ids.iter().map(|id| parse_id(field, id)).collect())
                .transpose()
        }
        Ok(UserListFilter {
            statuses: self
                .status
                .map(|statuses| statuses.into_iter().map(Into::into).collect()),
            membership_statuses: self
                .membership_status
                .map(|statuses| statuses.into_iter().map(Into::into).collect()),
            roles: ids::<RoleId>("roles", self.roles)?,
            groups: ids::<GroupId>("groups", self.groups)?,
            mfa_enabled: self.mfa_enabled,
            search: match self.search {
                Some(search) => UserSearch::parse(&search).map_err(refused)?,
                None => None,
            },
        })
    }
}

/// What `users` is sorted by; users with equal values come in id order.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UsersOrderField {
    /// When the account was created.
    #[default]
    CreatedAt,
    /// Regardless of case.
    Username,
    /// Regardless of case.
    Email,
    /// The full name, regardless of case.
    Name,
    /// The last login; users who never logged in come first in ascending order.
    LastLogin,
}

/// Which way a list is sorted.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderDirection {
    #[default]
    Asc,
    Desc,
}

/// How `users` is sorted: by default, oldest account first.
#[derive(InputObject, Debug, Clone, Copy, Default)]
pub struct UsersOrder {
    #[graphql(default)]
    pub field: UsersOrderField,
    #[graphql(default)]
    pub direction: OrderDirection,
}

impl UsersOrder {
    /// The name cursors carry, so that a cursor is only used with the order it came from.
    fn name(self) -> String {
        let field = match self.field {
            UsersOrderField::CreatedAt => "CREATED_AT",
            UsersOrderField::Username => "USERNAME",
            UsersOrderField::Email => "EMAIL",
            UsersOrderField::Name => "NAME",
            UsersOrderField::LastLogin => "LAST_LOGIN",
        };
        let direction = match self.direction {
            OrderDirection::Asc => "ASC",
            OrderDirection::Desc => "DESC",
        };
        format!("{field} {direction}")
    }

    fn store_order(self) -> UserOrder {
        match self.field {
            UsersOrderField::CreatedAt => UserOrder::CreatedAt,
            UsersOrderField::Username => UserOrder::Username,
            UsersOrderField::Email => UserOrder::Email,
            UsersOrderField::Name => UserOrder::Name,
            UsersOrderField::LastLogin => UserOrder::LastLogin,
        }
    }

    fn store_direction(self) -> SortDirection {
        match self.direction {
            OrderDirection::Asc => SortDirection::Ascending,
            OrderDirection::Desc => SortDirection::Descending,
        }
    }
}

/// A sort key in a cursor.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum CursorKey {
    Text(String),
    Time(#[serde(with = "time::serde::rfc3339")] OffsetDateTime),
    Never,
}

impl From<UserSortKey> for CursorKey {
    fn from(key: UserSortKey) -> Self {
        match key {
            UserSortKey::Text(text) => CursorKey::Text(text),
            UserSortKey::Time(at) => CursorKey::Time(at),
            UserSortKey::Never => CursorKey::Never,
        }
    }
}

impl From<CursorKey> for UserSortKey {
    fn from(key: CursorKey) -> Self {
        match key {
            CursorKey::Text(text) => UserSortKey::Text(text),
            CursorKey::Time(at) => UserSortKey::Time(at),
            CursorKey::Never => UserSortKey::Never,
        }
    }
}

/// A cursor's position for the store, refused naming `argument` when its key cannot be one
/// of `order` (a cursor is opaque, not tamper-proof).
fn store_position(
    argument: &'static str,
    order: UserOrder,
    position: Option<&Position<CursorKey>>,
) -> async_graphql::Result<Option<UserPosition>> {
    let Some(position) = position else {
        return Ok(None);
    };
    let key = UserSortKey::from(position.key.clone());
    if !order.accepts(&key) {
        return Err(refused(DomainError::invalid(
            argument,
            "is not a cursor of this list",
        )));
    }
    Ok(Some(UserPosition {
        key,
        id: UserId(position.id),
    }))
}

pub struct UsersConnectionName;

impl ConnectionNameType for UsersConnectionName {
    fn type_name<T: OutputType>() -> String {
        "UsersConnection".to_owned()
    }
}

pub struct UsersEdgeName;

impl EdgeNameType for UsersEdgeName {
    fn type_name<T: OutputType>() -> String {
        "UsersEdge".to_owned()
    }
}

/// The count of a users listing, made only when asked for.
pub struct UsersCount {
    proof: Authorized<ViewUsers>,
    filter: UserListFilter,
}

#[Object]
impl UsersCount {
    /// How many members match the filter, on all pages. Counted only when selected: it reads
    /// every matching member, where a page reads only its own, so leave it out of requests
    /// that only turn pages.
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        let total = ctx
            .app()?
            .store
            .count_users(&self.proof, &self.filter)
            .await
            .map_err(AppError::from)?;
        Ok(i32::try_from(total).unwrap_or(i32::MAX))
    }
}

pub type UsersConnection =
    KeysetPage<CursorKey, User, UsersCount, UsersConnectionName, UsersEdgeName>;

#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
    /// The members of an organization, whatever their membership status, oldest account
    /// first unless `orderBy` says otherwise. Needs `USERS/VIEW` there. Pages by
    /// `first`/`after` or `last`/`before` (at most 100 users); a cursor only works with the
    /// `orderBy` it came from.
    #[allow(clippy::too_many_arguments)]
    async fn users(
        &self,
        ctx: &Context<'_>,
        organization: ID,
        filter: Option<UsersFilter>,
        order_by: Option<UsersOrder>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<UsersConnection> {
        let organization: OrganizationId = parse_id("organization", &organization)?;
        let proof = authorize::<ViewUsers>(actor(ctx).await?, organization).map_err(refused)?;
        let filter = filter.unwrap_or_default().into_store()?;
        let order_by = order_by.unwrap_or_default();
        let request =
            KeysetRequest::<CursorKey>::parse(&order_by.name(), first, after, last, before)?;
        let order = order_by.store_order();
        let (after_argument, before_argument) = if request.backward {
            ("before", "after")
        } else {
            ("after", "before")
        };
        let page = UserPageRequest {
            order,
            direction: if request.backward {
                order_by.store_direction().reversed()
            } else {
                order_by.store_direction()
            },
            after: store_position(after_argument, order, request.reading_after())?,
            before: store_position(before_argument, order, request.reading_before())?,
            limit: request.fetch(),
        };
        let listed = ctx
            .app()?
            .store
            .users_page(&proof, &filter, &page)
            .await
            .map_err(AppError::from)?;
        let ids: Vec<UserId> = listed.iter().map(|listed| listed.user.id).collect();
        crate::graphql::prefetch::user_rows(ctx, &ids).await?;
        let ordering = order_by.name();
        let items = listed
            .into_iter()
            .map(|listed| {
                let position = Position {
                    ordering: ordering.clone(),
                    key: CursorKey::from(listed.position.key),
                    id: listed.position.id.as_uuid(),
                };
                (position, User(listed.user))
            })
            .collect();
        Ok(request.page(items, UsersCount { proof, filter }))
    }

    /// One user: the caller themselves, anyone for a SuperAdmin, else a member (in any
    /// status) of an organization where the caller has `USERS/VIEW`.
    async fn user(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<User> {
        let id: UserId = parse_id("id", &id)?;
        visible_user(ctx, id).await.map(User)
    }
}

/// `memberships` as the policy weighs them.
pub(crate) fn standings(
    memberships: Option<Vec<MembershipRecord>>,
) -> async_graphql::Result<Vec<Standing>> {
    memberships
        .unwrap_or_default()
        .iter()
        .map(|membership| membership.standing().map_err(|e| AppError::from(e).into()))
        .collect()
}

/// Whether the caller may see `user` ([`authorize_view_user`]).
pub(crate) async fn may_view_user(
    ctx: &Context<'_>,
    user: &UserRecord,
) -> async_graphql::Result<bool> {
    let memberships = standings(ctx.loaders()?.memberships_of_user.load_one(user.id).await?)?;
    let validated = user.status != steward_domain::user::UserStatus::PendingValidation;
    Ok(authorize_view_user(actor(ctx).await?, user.id, validated, &memberships).is_ok())
}

/// The user `id`, if the caller may see them ([`authorize_view_user`]); to anyone else they
/// do not exist.
pub(crate) async fn visible_user(
    ctx: &Context<'_>,
    id: UserId,
) -> async_graphql::Result<UserRecord> {
    let not_found = || refused(DomainError::NotFound { what: "the user" });
    let user = ctx
        .loaders()?
        .users
        .load_one(id)
        .await?
        .ok_or_else(not_found)?;
    if may_view_user(ctx, &user).await? {
        Ok(user)
    } else {
        Err(not_found())
    }
}
