//! The GraphQL API. Conventions (see docs/api.md): output types wrap store records; queries
//! and mutations are split by area and merged; expected failures of a mutation are `errors`
//! in its payload; every relation is loaded through a DataLoader.

mod accounts;
mod api_keys;
mod audit;
pub mod connection;
mod consistency;
pub mod context;
mod denied;
mod groups;
mod invitations;
pub mod jobs;
pub mod keyset;
pub mod limits;
pub mod loaders;
mod mfa;
mod mutation;
mod notifications;
mod organizations;
mod ownership;
mod preferences;
mod prefetch;
mod query;
mod resources;
mod roles;
mod sessions;
mod ssh_keys;
mod subscription;
pub mod types;
mod users;

use async_graphql::{Schema, SchemaBuilder};

pub use context::RequestContext;
pub use limits::Limits;
pub use mutation::Mutation;
pub use query::Query;
pub use subscription::Subscription;

pub type StewardSchema = Schema<Query, Mutation, Subscription>;

/// The schema builder without any data attached, so the SDL can be exported anywhere.
pub fn schema_builder(limits: &Limits) -> SchemaBuilder<Query, Mutation, Subscription> {
    bare_builder(limits)
        .extension(limits::DocumentChecks {
            limits: limits.clone(),
        })
        .extension(denied::DeniedMutations)
}

/// The schema's types, without extensions. Depth and complexity are not async-graphql's
/// limits but [`limits::check_document`]'s, which does not count introspection: every
/// document is checked by it before it runs, on either schema.
fn bare_builder(limits: &Limits) -> SchemaBuilder<Query, Mutation, Subscription> {
    let mut builder = Schema::build(Query::default(), Mutation::default(), Subscription);
    if !limits.introspection {
        builder = builder.disable_introspection();
    }
    if !limits.suggestions {
        builder = builder.disable_suggestions();
    }
    builder
}

/// The schemas a server answers with.
#[derive(Clone)]
pub struct Schemas {
    /// With the extensions (the document checks, the audit of refused mutations): for
    /// mutations, WebSocket operations, and whatever is not known to be a query within the
    /// limits.
    pub full: StewardSchema,
    /// Without any extension, for queries over HTTP already parsed and checked
    /// ([`Schemas::query_document`]): async-graphql then resolves each field directly,
    /// without a `ResolveInfo`, a registry lookup and a boxed future per field and per list
    /// item for the extensions' `resolve` hooks, which queries do not need.
    pub queries: StewardSchema,
    limits: Limits,
}

impl Schemas {
    pub fn new(limits: &Limits) -> Self {
        Self {
            full: schema_builder(limits).finish(),
            queries: bare_builder(limits).finish(),
            limits: limits.clone(),
        }
    }

    /// The document of `request` when it is a query the extensions would let through
    /// unchanged: it parses, is within the limits ([`limits::check_document`]), and the
    /// operation it runs is a query. Anything else goes to [`Schemas::full`], which answers it
    /// as before (its document checks refuse what is past the limits).
    pub fn query_document(
        &self,
        request: &async_graphql::Request,
    ) -> Option<async_graphql::parser::types::ExecutableDocument> {
        use async_graphql::parser::types::{DocumentOperations, OperationType};
        let document = async_graphql::parser::parse_query(&request.query).ok()?;
        limits::check_document(&document, &self.limits).ok()?;
        let operation = match (&document.operations, request.operation_name.as_deref()) {
            (DocumentOperations::Single(operation), _) => operation,
            (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name)?,
            (DocumentOperations::Multiple(_), None) => return None,
        };
        (operation.node.ty == OperationType::Query).then_some(document)
    }

    /// What [`Schemas::full`]'s document checks do to an answer: an error without a code is
    /// the request's fault (`BAD_REQUEST`).
    pub fn with_codes(mut response: async_graphql::Response) -> async_graphql::Response {
        response.errors = response
            .errors
            .into_iter()
            .map(limits::bad_request)
            .collect();
        response
    }
}

/// The schema in SDL, as written to `schema.graphql`.
pub fn sdl() -> String {
    schema_builder(&Limits::default()).finish().sdl()
}

#[cfg(test)]
mod tests {
    #[test]
    fn schema_graphql_matches_the_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schema.graphql");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == super::sdl(),
            "schema.graphql is out of date with the resolvers: run `cargo xtask schema`"
        );
    }
}
