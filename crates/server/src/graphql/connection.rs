//! Relay cursor connections with `totalCount`, paged by keyset on time-ordered ids.

use async_graphql::connection::{Connection, Edge, OpaqueCursor};
use async_graphql::{OutputType, SimpleObject};
use uuid::Uuid;

use crate::error::refused;

/// Extra fields every connection carries.
#[derive(SimpleObject, Debug, Clone, Copy)]
pub struct ConnectionFields {
    /// How many items match, on all pages.
    pub total_count: i32,
}

pub type Page<T> = Connection<OpaqueCursor<Uuid>, T, ConnectionFields>;

/// Largest page a client may ask for.
pub const MAX_PAGE: i32 = 100;
pub const DEFAULT_PAGE: i32 = 20;

/// A forward page request: how many, after which key (an id, or another key a list is in
/// order of, such as a row number).
#[derive(Debug, Clone, Copy)]
pub struct PageRequest<K = Uuid> {
    pub after: Option<K>,
    /// One more than asked, to know whether there is a next page.
    pub fetch: i64,
    pub first: usize,
}

impl<K> PageRequest<K>
where
    K: serde::Serialize + serde::de::DeserializeOwned + Send + Sync,
{
    pub fn parse(first: Option<i32>, after: Option<String>) -> async_graphql::Result<Self> {
        let first = first.unwrap_or(DEFAULT_PAGE);
        if !(0..=MAX_PAGE).contains(&first) {
            return Err(refused(steward_domain::DomainError::invalid(
                "first",
                format!("must be between 0 and {MAX_PAGE}"),
            )));
        }
        let after = match after {
            None => None,
            Some(cursor) => Some(
                async_graphql::connection::CursorType::decode_cursor(&cursor)
                    .map(|cursor: OpaqueCursor<K>| cursor.0)
                    .map_err(|_| {
                        refused(steward_domain::DomainError::invalid(
                            "after",
                            "is not a cursor of this list",
                        ))
                    })?,
            ),
        };
        let first = usize::try_from(first).unwrap_or(0);
        Ok(Self {
            after,
            fetch: i64::try_from(first).unwrap_or(0) + 1,
            first,
        })
    }

    /// Builds the page from up to `fetch` items in key order.
    pub fn page<T: OutputType>(
        &self,
        mut items: Vec<(K, T)>,
        total: i64,
    ) -> Connection<OpaqueCursor<K>, T, ConnectionFields> {
        let has_next = items.len() > self.first;
        items.truncate(self.first);
        let mut connection = Connection::with_additional_fields(
            self.after.is_some(),
            has_next,
            ConnectionFields {
                total_count: i32::try_from(total).unwrap_or(i32::MAX),
            },
        );
        connection.edges.extend(
            items
                .into_iter()
                .map(|(id, node)| Edge::new(OpaqueCursor(id), node)),
        );
        connection
    }
}
