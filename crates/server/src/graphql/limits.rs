//! The limits every GraphQL operation is checked against before any resolver runs: nesting
//! depth, complexity, aliases, introspection and field suggestions. (The body size, batching
//! and the per-request timeout are the HTTP layer's: see `http.rs`.)

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextSubscribe,
};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, Selection};
use async_graphql::{Response, ServerError, ServerResult, Variables};
use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;

/// Limits applied to every operation before any resolver runs.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_depth: usize,
    pub max_complexity: usize,
    /// Aliased fields one document may have: aliases let one request repeat an expensive
    /// field (a login, a search) many times past the other limits' notice.
    pub max_aliases: usize,
    pub introspection: bool,
    /// "Did you mean ...?" hints in validation errors, which tell a stranger the schema.
    pub suggestions: bool,
}

impl Default for Limits {
    /// The production defaults: no introspection and no suggestions.
    fn default() -> Self {
        Self {
            max_depth: 10,
            max_complexity: 1000,
            max_aliases: 30,
            introspection: false,
            suggestions: false,
        }
    }
}

/// The code of errors found before execution: the document does not parse, breaks a limit,
/// or does not match the schema or its variables.
pub const BAD_REQUEST: &str = "BAD_REQUEST";

/// Checks of a document before it runs: refuses more aliased fields than the limit right
/// after parsing, and gives the code `BAD_REQUEST` to every error that has none, in answers
/// and in subscription streams: parse and validation errors, and arguments async-graphql
/// could not coerce (a `DateTime` that is not one). The server's own errors always carry
/// their code (`INTERNAL` included), so every error a client sees has one.
pub struct DocumentChecks {
    pub max_aliases: usize,
}

impl ExtensionFactory for DocumentChecks {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DocumentChecksExtension {
            max_aliases: self.max_aliases,
        })
    }
}

struct DocumentChecksExtension {
    max_aliases: usize,
}

pub(crate) fn bad_request(mut error: ServerError) -> ServerError {
    let extensions = error.extensions.get_or_insert_default();
    if extensions.get("code").is_none() {
        extensions.set("code", BAD_REQUEST);
    }
    error
}

#[async_graphql::async_trait::async_trait]
impl Extension for DocumentChecksExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let aliases = count_aliases(&document);
        if aliases > self.max_aliases {
            return Err(ServerError::new(
                format!(
                    "the operation has {aliases} aliased fields, more than the limit of {}: \
                     split it into several requests",
                    self.max_aliases
                ),
                None,
            ));
        }
        Ok(document)
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        Box::pin(next.run(ctx, stream).map(|mut response| {
            response.errors = response.errors.into_iter().map(bad_request).collect();
            response
        }))
    }

    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        response.errors = response.errors.into_iter().map(bad_request).collect();
        response
    }
}

/// Aliased fields in the whole document: every operation and every fragment.
pub fn count_aliases(document: &ExecutableDocument) -> usize {
    let operations: Vec<_> = match &document.operations {
        DocumentOperations::Single(operation) => vec![&operation.node.selection_set.node],
        DocumentOperations::Multiple(operations) => operations
            .values()
            .map(|operation| &operation.node.selection_set.node)
            .collect(),
    };
    let fragments = document
        .fragments
        .values()
        .map(|fragment| &fragment.node.selection_set.node);
    let mut pending: Vec<_> = operations.into_iter().chain(fragments).collect();
    let mut aliases = 0;
    while let Some(selection_set) = pending.pop() {
        for selection in &selection_set.items {
            match &selection.node {
                Selection::Field(field) => {
                    aliases += usize::from(field.node.alias.is_some());
                    pending.push(&field.node.selection_set.node);
                }
                Selection::InlineFragment(fragment) => {
                    pending.push(&fragment.node.selection_set.node);
                }
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    aliases
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aliases(query: &str) -> usize {
        count_aliases(&async_graphql::parser::parse_query(query).expect("parses"))
    }

    #[test]
    fn aliases_are_counted_in_operations_inline_fragments_and_fragments() {
        assert_eq!(aliases("{ version }"), 0);
        assert_eq!(aliases("{ a: version b: version }"), 2);
        assert_eq!(
            aliases("{ me { ... on User { x: id } ...F } } fragment F on User { y: id z: id }"),
            3
        );
        assert_eq!(aliases("query A { a: version } query B { b: version }"), 2);
    }
}
