//! The limits every GraphQL operation is checked against before any resolver runs: nesting
//! depth, complexity, aliases, introspection and field suggestions. (The body size, batching
//! and the per-request timeout are the HTTP layer's: see `http.rs`.)

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextSubscribe,
};
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, FragmentSpread, Selection, SelectionSet,
};
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

/// Checks of a document before it runs: refuses, right after parsing, a document past the
/// limits ([`check_document`]), and gives the code `BAD_REQUEST` to every error that has
/// none, in answers and in subscription streams: parse and validation errors, and arguments
/// async-graphql could not coerce (a `DateTime` that is not one). The server's own errors
/// always carry their code (`INTERNAL` included), so every error a client sees has one.
pub struct DocumentChecks {
    pub limits: Limits,
}

impl ExtensionFactory for DocumentChecks {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DocumentChecksExtension {
            limits: self.limits.clone(),
        })
    }
}

struct DocumentChecksExtension {
    limits: Limits,
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
        check_document(&document, &self.limits)?;
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
fn count_aliases(document: &ExecutableDocument) -> usize {
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

/// Refuses a document past the limits, in this order: more aliases than allowed, introspection
/// when it is off, then complexity and depth (the order and messages async-graphql's own
/// limits had), then introspection nested too deep.
///
/// Depth and complexity are measured here rather than by async-graphql's `limit_depth` and
/// `limit_complexity` so that introspection does not count: graphql-js's
/// `getIntrospectionQuery`, which GraphiQL and every GraphQL tool send, nests `ofType` nine
/// levels deep under `__schema`, past any depth a normal query needs. Everything else is
/// counted as async-graphql counts it (see [`measure`]), and every operation of the
/// document is counted, whichever one runs.
pub fn check_document(document: &ExecutableDocument, limits: &Limits) -> ServerResult<()> {
    let aliases = count_aliases(document);
    if aliases > limits.max_aliases {
        return Err(ServerError::new(
            format!(
                "the operation has {aliases} aliased fields, more than the limit of {}: \
                 split it into several requests",
                limits.max_aliases
            ),
            None,
        ));
    }
    let measure = measure(document, limits.max_complexity);
    if measure.introspection && !limits.introspection {
        return Err(ServerError::new(
            "introspection is off on this server, so `__schema` and `__type` are not \
             answered (nor GraphiQL's documentation and completion): it is on in development \
             mode (`--dev`) or with STEWARD_GRAPHQL_INTROSPECTION=true",
            None,
        ));
    }
    if measure.complexity > limits.max_complexity {
        return Err(ServerError::new("Query is too complex.", None));
    }
    if measure.depth > limits.max_depth {
        return Err(ServerError::new("Query is nested too deep.", None));
    }
    if measure.introspection_lists >= MAX_INTROSPECTION_LISTS {
        return Err(ServerError::new(
            "Maximum introspection depth exceeded: `fields`, `interfaces`, `possibleTypes` \
             and `inputFields` may be nested at most twice",
            None,
        ));
    }
    Ok(())
}

/// Introspection is not limited by depth and complexity, but a query nesting its lists
/// (`__schema { types { fields { type { fields { type { fields ... } } } } } }`) grows with
/// the schema at every level. graphql-js refuses three such levels
/// (`MaxIntrospectionDepthRule`, graphql 16.9 and later), which its own introspection query
/// never reaches (it nests one); so does Steward.
const MAX_INTROSPECTION_LISTS: usize = 3;

/// The most selections a document's check visits, fragments counted where they are spread.
/// Fields that do not count toward complexity (`__typename`, introspection) could otherwise
/// be multiplied by fragments spreading each other twice, level after level, into a walk of
/// billions of steps from a document of a few lines. The introspection queries tools send
/// take a few hundred.
const MAX_STEPS: usize = 100_000;

/// What the limits are checked against in a document.
#[derive(Debug, Default, PartialEq, Eq)]
struct Measure {
    /// The deepest nesting of fields, as async-graphql counts it: fragments are counted where
    /// they are spread, `__typename` is not counted, and neither is introspection.
    pub depth: usize,
    /// Every field 1 (none of Steward's fields declares another cost), counted as depth is.
    /// Once past the limit it was measured with, counting stops: the document is refused.
    pub complexity: usize,
    /// Whether the document selects `__schema` or `__type`.
    pub introspection: bool,
    /// The deepest nesting of the list fields of introspection types that
    /// `MAX_INTROSPECTION_LISTS` bounds, under `__schema` and `__type`.
    pub introspection_lists: usize,
}

/// Measures every operation of `document`, counting complexity no further than just past
/// `max_complexity`.
fn measure(document: &ExecutableDocument, max_complexity: usize) -> Measure {
    let mut walk = Walk {
        document,
        max_complexity,
        measure: Measure::default(),
        spread: Vec::new(),
        steps: 0,
    };
    for (_, operation) in document.operations.iter() {
        walk.operation_fields(&operation.node.selection_set.node, 0);
    }
    walk.measure
}

struct Walk<'a> {
    document: &'a ExecutableDocument,
    max_complexity: usize,
    measure: Measure,
    /// The fragments being walked, outermost first: spreading one of them again would be a
    /// cycle, which validation refuses (if parsing did not already), so it is not followed.
    spread: Vec<&'a str>,
    /// Selections visited so far (see [`MAX_STEPS`]).
    steps: usize,
}

impl<'a> Walk<'a> {
    /// The fragment a spread names, unless it is unknown or already being walked.
    fn fragment(&self, spread: &'a FragmentSpread) -> Option<&'a SelectionSet> {
        let name = spread.fragment_name.node.as_str();
        if self.spread.contains(&name) {
            return None;
        }
        let fragment = self.document.fragments.get(name)?;
        Some(&fragment.node.selection_set.node)
    }

    /// Notes a visited selection; false once there were too many, and then the document
    /// counts as past the complexity limit.
    fn step(&mut self) -> bool {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            self.measure.complexity = self
                .measure
                .complexity
                .max(self.max_complexity.saturating_add(1));
            return false;
        }
        true
    }

    /// Counts the fields of `selection_set`, at `depth` fields below the operation.
    fn operation_fields(&mut self, selection_set: &'a SelectionSet, depth: usize) {
        for selection in &selection_set.items {
            if self.measure.complexity > self.max_complexity || !self.step() {
                return;
            }
            match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    match field.name.node.as_str() {
                        "__typename" => {}
                        "__schema" | "__type" => {
                            self.measure.introspection = true;
                            let lists = self.introspection_lists(&field.selection_set.node, 0);
                            self.measure.introspection_lists =
                                self.measure.introspection_lists.max(lists);
                        }
                        _ => {
                            self.measure.complexity += 1;
                            self.measure.depth = self.measure.depth.max(depth + 1);
                            self.operation_fields(&field.selection_set.node, depth + 1);
                        }
                    }
                }
                Selection::InlineFragment(fragment) => {
                    self.operation_fields(&fragment.node.selection_set.node, depth);
                }
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) = self.fragment(&spread.node) {
                        self.spread.push(spread.node.fragment_name.node.as_str());
                        self.operation_fields(fragment, depth);
                        self.spread.pop();
                    }
                }
            }
        }
    }

    /// The deepest nesting of introspection's list fields in `selection_set`, under `lists`
    /// of them; stops at `MAX_INTROSPECTION_LISTS`.
    fn introspection_lists(&mut self, selection_set: &'a SelectionSet, lists: usize) -> usize {
        let mut deepest = lists;
        for selection in &selection_set.items {
            if deepest >= MAX_INTROSPECTION_LISTS || !self.step() {
                break;
            }
            let nested = match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let list = matches!(
                        field.name.node.as_str(),
                        "fields" | "interfaces" | "possibleTypes" | "inputFields"
                    );
                    self.introspection_lists(&field.selection_set.node, lists + usize::from(list))
                }
                Selection::InlineFragment(fragment) => {
                    self.introspection_lists(&fragment.node.selection_set.node, lists)
                }
                Selection::FragmentSpread(spread) => match self.fragment(&spread.node) {
                    Some(fragment) => {
                        self.spread.push(spread.node.fragment_name.node.as_str());
                        let nested = self.introspection_lists(fragment, lists);
                        self.spread.pop();
                        nested
                    }
                    None => lists,
                },
            };
            deepest = deepest.max(nested);
        }
        deepest
    }
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

    fn parse(query: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(query).expect("parses")
    }

    /// The exact query of a fixture: the text after its leading comment lines.
    fn fixture(text: &str) -> &str {
        let mut rest = text;
        while rest.starts_with('#') {
            rest = rest.split_once('\n').map_or("", |(_, after)| after);
        }
        rest
    }

    const GRAPHQL_JS: &str =
        include_str!("../../../../tests/fixtures/introspection-graphql-js-16.graphql");
    const GRAPHQL_JS_ALL_OPTIONS: &str =
        include_str!("../../../../tests/fixtures/introspection-graphql-js-16-all-options.graphql");
    const GRAPHIQL: &str =
        include_str!("../../../../tests/fixtures/introspection-graphiql-4.graphql");

    /// Depth 12: past the default limit of 10.
    const TWELVE_DEEP: &str = "me { memberships { organization { members(first: 1) { nodes { \
        user { memberships { organization { members(first: 1) { nodes { user { id } } } } } } \
        } } } } }";

    /// async-graphql's own depth and complexity of `request` on Steward's schema (its
    /// `Analyzer` extension reports what its removed limits were checked against).
    async fn async_graphql_measure(request: async_graphql::Request) -> (u64, u64) {
        use crate::graphql::{Mutation, Query, Subscription};
        let schema =
            async_graphql::Schema::build(Query::default(), Mutation::default(), Subscription)
                .extension(async_graphql::extensions::Analyzer)
                .finish();
        let response = schema.execute(request).await;
        let analyzer =
            serde_json::to_value(&response.extensions).expect("extensions as JSON")["analyzer"]
                .clone();
        let number = |name: &str| {
            analyzer[name]
                .as_u64()
                .unwrap_or_else(|| panic!("no {name} in {analyzer} ({:?})", response.errors))
        };
        (number("depth"), number("complexity"))
    }

    #[tokio::test]
    async fn depth_and_complexity_are_what_async_graphql_counted_for_queries_without_introspection()
    {
        let cases = [
            ("{ version }", None),
            ("{ __typename version }", None),
            (
                "{ me { id username memberships { status organization { id name \
                 members(first: 20) { totalCount nodes { status user { id username } \
                 roles { id role { name } } } } } } } }",
                None,
            ),
            (
                "{ me { ...U memberships { organization { ...O } } } } \
                 fragment U on User { id username ...N } fragment N on User { fullName } \
                 fragment O on Organization { id name }",
                None,
            ),
            (
                "{ me { ... on User { id memberships { status } } __typename } }",
                None,
            ),
            (
                "query A { me { id } } query B { version me { id } }",
                Some("A"),
            ),
            (
                "mutation($input: ProfileInput!) { updateProfile(input: $input) { user { fullName } } }",
                None,
            ),
        ];
        for (query, operation) in cases {
            let mut request = async_graphql::Request::new(query).variables(
                async_graphql::Variables::from_json(serde_json::json!({
                    "input": { "fullName": "Ada" }
                })),
            );
            if let Some(operation) = operation {
                request = request.operation_name(operation);
            }
            let ours = measure(&parse(query), usize::MAX);
            let depth = u64::try_from(ours.depth).expect("small");
            let complexity = u64::try_from(ours.complexity).expect("small");
            assert_eq!(
                (depth, complexity),
                async_graphql_measure(request).await,
                "{query}"
            );
            assert!(!ours.introspection, "{query}");
        }
    }

    #[test]
    fn introspection_counts_for_neither_depth_nor_complexity() {
        let ours = measure(
            &parse(
                "{ version __schema { types { name fields { name } } } __type(name: \"User\") { name } }",
            ),
            usize::MAX,
        );
        assert_eq!(
            ours,
            Measure {
                depth: 1,
                complexity: 1,
                introspection: true,
                introspection_lists: 1,
            }
        );
    }

    #[test]
    fn the_introspection_queries_of_graphql_js_and_graphiql_pass_when_introspection_is_on() {
        let on = Limits {
            introspection: true,
            ..Limits::default()
        };
        for text in [GRAPHQL_JS, GRAPHQL_JS_ALL_OPTIONS, GRAPHIQL] {
            let query = fixture(text);
            assert!(query.contains("query IntrospectionQuery"), "{query}");
            let document = parse(query);
            assert_eq!(
                check_document(&document, &on).map_err(|e| e.message),
                Ok(())
            );
            let off = check_document(&document, &Limits::default()).expect_err("refused");
            assert!(
                off.message.contains("introspection is off"),
                "{}",
                off.message
            );
        }
    }

    #[test]
    fn a_deep_query_is_refused_with_or_without_introspection_beside_it() {
        let on = Limits {
            introspection: true,
            ..Limits::default()
        };
        for query in [
            format!("{{ {TWELVE_DEEP} }}"),
            format!("{{ __schema {{ queryType {{ name }} }} {TWELVE_DEEP} }}"),
            format!("{{ ...F }} fragment F on Query {{ __typename {TWELVE_DEEP} }}"),
            format!("query Shallow {{ version }} query Deep {{ {TWELVE_DEEP} }}"),
        ] {
            let refused = check_document(&parse(&query), &on).expect_err("refused");
            assert_eq!(refused.message, "Query is nested too deep.", "{query}");
        }
        let wide = format!("{{ {} }}", "version ".repeat(1001));
        let refused = check_document(&parse(&wide), &on).expect_err("refused");
        assert_eq!(refused.message, "Query is too complex.");
    }

    #[test]
    fn introspection_nesting_its_lists_three_times_is_refused() {
        let on = Limits {
            introspection: true,
            ..Limits::default()
        };
        let two = "{ __schema { types { fields { type { fields { name } } } } } }";
        let three =
            "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }";
        let through_fragments = "{ __type(name: \"User\") { ...A } } \
            fragment A on __Type { interfaces { ...B } } fragment B on __Type { possibleTypes { ...C } } \
            fragment C on __Type { inputFields { name } }";
        assert!(check_document(&parse(two), &on).is_ok());
        for query in [three, through_fragments] {
            let refused = check_document(&parse(query), &on).expect_err("refused");
            assert!(refused.message.contains("introspection depth"), "{query}");
        }
    }

    #[test]
    fn fragment_cycles_are_not_followed() {
        let ours = measure(
            &parse(
                "{ ...A } fragment A on Query { version ...B } fragment B on Query { me { id } ...A }",
            ),
            usize::MAX,
        );
        assert_eq!((ours.depth, ours.complexity), (2, 3));
    }

    #[test]
    fn fragments_multiplying_uncounted_fields_are_refused_without_walking_them_all() {
        // Each fragment spreads the next one twice: 2^40 `__typename`s from 40 lines.
        let mut query = String::from("{ ...F0 }");
        for level in 0..40 {
            query.push_str(&format!(
                " fragment F{level} on Query {{ __typename ...F{next} ...F{next} }}",
                next = level + 1
            ));
        }
        query.push_str(" fragment F40 on Query { __typename }");
        let document = parse(&query);
        let refused = check_document(&document, &Limits::default())
            .expect_err("a walk of 2^40 selections is refused");
        assert_eq!(refused.message, "Query is too complex.");
    }
}
