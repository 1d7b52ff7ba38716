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
    let mut builder = Schema::build(Query::default(), Mutation::default(), Subscription)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .extension(limits::DocumentChecks {
            max_aliases: limits.max_aliases,
        })
        .extension(denied::DeniedMutations);
    if !limits.introspection {
        builder = builder.disable_introspection();
    }
    if !limits.suggestions {
        builder = builder.disable_suggestions();
    }
    builder
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
