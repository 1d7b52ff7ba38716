//! Relay connections over any sort order, paged by keyset in both directions.
//!
//! A cursor carries the ordering it was made in, the item's sort key and its id (the
//! tie-breaker), so the next page is "after this key and id" — however deep, one index range
//! — and a cursor of another ordering is refused rather than misread. `last`/`before` read the
//! list backwards from `before` (or from its end) and the page is turned round before it is
//! returned. Page sizes follow [`connection`](crate::graphql::connection).

use async_graphql::connection::{
    Connection, ConnectionNameType, CursorType, Edge, EdgeNameType, EmptyFields, OpaqueCursor,
};
use async_graphql::{ObjectType, OutputType};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use steward_domain::DomainError;
use uuid::Uuid;

use crate::error::refused;
use crate::graphql::connection::{DEFAULT_PAGE, MAX_PAGE};

/// A place in a sorted list, as a cursor carries it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Position<K> {
    /// The ordering the cursor was made in, such as `USERNAME ASC`.
    #[serde(rename = "o")]
    pub ordering: String,
    #[serde(rename = "k")]
    pub key: K,
    #[serde(rename = "i")]
    pub id: Uuid,
}

pub type KeysetCursor<K> = OpaqueCursor<Position<K>>;

/// A connection whose cursors are keyset positions with keys `K`.
pub type KeysetPage<K, T, F, C, E> = Connection<KeysetCursor<K>, T, F, EmptyFields, C, E>;

/// A page asked for with Relay's `first`/`after`/`last`/`before`, in keyset terms.
#[derive(Debug, Clone)]
pub struct KeysetRequest<K> {
    /// Counted from the end of the list (`last`): read backwards.
    pub backward: bool,
    /// How many items the page shows.
    pub count: usize,
    /// Relay's `after` and `before`, in the list's own order.
    pub after: Option<Position<K>>,
    pub before: Option<Position<K>>,
}

impl<K: Serialize + DeserializeOwned + Send + Sync> KeysetRequest<K> {
    /// Reads the arguments of a list sorted by `ordering`. `first` and `last` exclude each
    /// other; with neither, the first [`DEFAULT_PAGE`] items.
    pub fn parse(
        ordering: &str,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Self> {
        let (backward, count) = match (first, last) {
            (Some(_), Some(_)) => {
                return Err(refused(DomainError::invalid(
                    "last",
                    "cannot be given with `first`: ask for the first or for the last items",
                )));
            }
            (None, Some(last)) => (true, page_size("last", last)?),
            (first, None) => (false, page_size("first", first.unwrap_or(DEFAULT_PAGE))?),
        };
        Ok(Self {
            backward,
            count,
            after: decode("after", after, ordering)?,
            before: decode("before", before, ordering)?,
        })
    }

    /// How many items to read: one more than the page shows, to know whether there are more.
    pub fn fetch(&self) -> i64 {
        i64::try_from(self.count)
            .unwrap_or(i64::MAX)
            .saturating_add(1)
    }

    /// The bound items must lie after, in reading order (backwards for `last`).
    pub fn reading_after(&self) -> Option<&Position<K>> {
        if self.backward {
            self.before.as_ref()
        } else {
            self.after.as_ref()
        }
    }

    /// The bound items must lie before, in reading order.
    pub fn reading_before(&self) -> Option<&Position<K>> {
        if self.backward {
            self.after.as_ref()
        } else {
            self.before.as_ref()
        }
    }

    /// The page from up to [`KeysetRequest::fetch`] items in reading order, each with its
    /// position.
    pub fn page<T, F, C, E>(
        &self,
        mut items: Vec<(Position<K>, T)>,
        fields: F,
    ) -> KeysetPage<K, T, F, C, E>
    where
        T: OutputType,
        F: ObjectType,
        C: ConnectionNameType,
        E: EdgeNameType,
    {
        let more = items.len() > self.count;
        items.truncate(self.count);
        let (has_previous, has_next) = if self.backward {
            items.reverse();
            (more, self.before.is_some())
        } else {
            (self.after.is_some(), more)
        };
        let mut connection = Connection::with_additional_fields(has_previous, has_next, fields);
        connection.edges.extend(
            items
                .into_iter()
                .map(|(position, node)| Edge::new(OpaqueCursor(position), node)),
        );
        connection
    }
}

fn page_size(argument: &'static str, size: i32) -> async_graphql::Result<usize> {
    if !(0..=MAX_PAGE).contains(&size) {
        return Err(refused(DomainError::invalid(
            argument,
            format!("must be between 0 and {MAX_PAGE}"),
        )));
    }
    Ok(usize::try_from(size).unwrap_or(0))
}

fn decode<K: Serialize + DeserializeOwned + Send + Sync>(
    argument: &'static str,
    cursor: Option<String>,
    ordering: &str,
) -> async_graphql::Result<Option<Position<K>>> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    let position = KeysetCursor::<K>::decode_cursor(&cursor)
        .map_err(|_| {
            refused(DomainError::invalid(
                argument,
                "is not a cursor of this list",
            ))
        })?
        .0;
    if position.ordering != ordering {
        return Err(refused(DomainError::invalid(
            argument,
            format!(
                "is a cursor of the list sorted by {}, not by {ordering}; start again from the first page",
                position.ordering
            ),
        )));
    }
    Ok(Some(position))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(ordering: &str, key: &str) -> String {
        OpaqueCursor(Position {
            ordering: ordering.to_owned(),
            key: key.to_owned(),
            id: Uuid::nil(),
        })
        .encode_cursor()
    }

    #[test]
    fn a_cursor_of_another_ordering_is_refused_naming_the_argument() {
        let error = KeysetRequest::<String>::parse(
            "NAME ASC",
            None,
            None,
            Some(3),
            Some(cursor("EMAIL DESC", "ann@example.com")),
        )
        .expect_err("refused");
        assert!(error.message.starts_with("before: "), "{}", error.message);
        assert!(error.message.contains("EMAIL DESC"), "{}", error.message);
        let error =
            KeysetRequest::<String>::parse("NAME ASC", None, Some("junk".into()), None, None)
                .expect_err("refused");
        assert!(error.message.starts_with("after: "), "{}", error.message);
    }

    #[test]
    fn a_backward_page_reads_from_before_and_is_turned_round() {
        let request = KeysetRequest::<String>::parse(
            "NAME ASC",
            None,
            Some(cursor("NAME ASC", "a")),
            Some(2),
            Some(cursor("NAME ASC", "z")),
        )
        .expect("valid");
        assert!(request.backward);
        assert_eq!(request.fetch(), 3);
        assert_eq!(request.reading_after().map(|p| p.key.as_str()), Some("z"));
        assert_eq!(request.reading_before().map(|p| p.key.as_str()), Some("a"));
        let position = |key: &str| Position {
            ordering: "NAME ASC".to_owned(),
            key: key.to_owned(),
            id: Uuid::nil(),
        };
        let page: KeysetPage<String, i32, EmptyFields, DefaultNames, DefaultNames> = request.page(
            vec![(position("y"), 3), (position("x"), 2), (position("w"), 1)],
            EmptyFields,
        );
        let nodes: Vec<i32> = page.edges.iter().map(|edge| edge.node).collect();
        assert_eq!(nodes, [2, 3]);
        assert!(page.has_previous_page);
        assert!(page.has_next_page);
    }

    #[test]
    fn first_and_last_together_or_too_large_are_refused() {
        assert!(KeysetRequest::<String>::parse("X", Some(1), None, Some(1), None).is_err());
        assert!(KeysetRequest::<String>::parse("X", Some(MAX_PAGE + 1), None, None, None).is_err());
        assert!(KeysetRequest::<String>::parse("X", None, None, Some(-1), None).is_err());
        let default = KeysetRequest::<String>::parse("X", None, None, None, None).expect("valid");
        assert!(!default.backward);
        assert_eq!(default.count, usize::try_from(DEFAULT_PAGE).unwrap_or(0));
    }

    struct DefaultNames;

    impl ConnectionNameType for DefaultNames {
        fn type_name<T: OutputType>() -> String {
            "TestConnection".to_owned()
        }
    }

    impl EdgeNameType for DefaultNames {
        fn type_name<T: OutputType>() -> String {
            "TestEdge".to_owned()
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            // Any text given as a cursor is refused naming its argument, or is a position of
            // this list's ordering: never a panic, never a position of another ordering.
            #[test]
            fn any_cursor_is_refused_or_read_in_this_ordering(
                text in prop_oneof!["\\PC{0,200}", "[A-Za-z0-9_=-]{0,200}"],
            ) {
                match KeysetRequest::<String>::parse("NAME ASC", Some(5), Some(text), None, None) {
                    Ok(request) => {
                        let position = request.after.expect("a position");
                        prop_assert_eq!(position.ordering, "NAME ASC");
                    }
                    Err(error) => prop_assert!(error.message.starts_with("after: ")),
                }
            }

            // A cursor the server made reads back as the same position.
            #[test]
            fn a_cursor_reads_back_as_its_position(key in "\\PC{0,80}", id: u128) {
                let position = Position {
                    ordering: "NAME ASC".to_owned(),
                    key,
                    id: Uuid::from_u128(id),
                };
                let text = OpaqueCursor(position.clone()).encode_cursor();
                let request =
                    KeysetRequest::<String>::parse("NAME ASC", None, None, Some(3), Some(text))
                        .expect("read");
                prop_assert_eq!(request.before, Some(position));
            }

            // Page sizes outside 0 to the largest page are refused naming the argument.
            #[test]
            fn page_sizes_are_bounded(size: i32) {
                let result = KeysetRequest::<String>::parse("NAME ASC", Some(size), None, None, None);
                match result {
                    Ok(request) => {
                        prop_assert!((0..=MAX_PAGE).contains(&size));
                        prop_assert_eq!(request.count, usize::try_from(size).unwrap_or(0));
                    }
                    Err(error) => {
                        prop_assert!(!(0..=MAX_PAGE).contains(&size));
                        prop_assert!(error.message.starts_with("first: "));
                    }
                }
            }
        }
    }
}
