//! Refused mutations are audited (SPEC 12: every mutation leaves an event with its outcome).
//!
//! One extension around every root mutation field, so that no resolver has to remember it:
//! when the mutation answers a refusal, as a GraphQL error (`FORBIDDEN`, `NOT_FOUND`) or in
//! its payload's `errors` (`FORBIDDEN`, `NOT_FOUND`, `INVALID_TRANSITION`), an event
//! `mutation.denied` with the outcome `DENIED` is written in a transaction of its own (the
//! mutation's own transaction, if it began one, was rolled back). It names the actor, the
//! operation and the ids the caller gave, as given.
//!
//! The event goes to trails the actor belongs to, never to the trail of an organization the
//! actor may not see: to the organization named in the arguments when the actor may see it,
//! otherwise to each organization the actor is an active member of (the platform trail,
//! which SuperAdmins read, holds every event). So a member of B probing A's ids leaves an
//! event in B's trail and the platform's, none in A's.
//!
//! Invalid input and conflicts are not refusals, and callers who are not logged in are not
//! audited here: anyone could fill the trail with them (failed logins have their own events).

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextResolve, ResolveInfo,
};
use async_graphql::parser::types::{ExecutableDocument, Field};
use async_graphql::registry::{MetaType, MetaTypeName, Registry};
use async_graphql::{ServerError, ServerResult, Value, Variables};
use serde_json::{Map, Value as JsonValue, json};
use steward_domain::audit::{AuditAction, AuditOutcome};
use steward_domain::policy::Actor;
use steward_domain::{DomainError, OrganizationId};
use steward_store::{AuditEntry, NewAuditEvent};

use crate::app::App;
use crate::auth::Authentication;
use crate::graphql::context::RequestContext;

tokio::task_local! {
    /// The refusals the running mutation's resolver put in its payload's `errors`.
    static PAYLOAD_REFUSALS: Arc<Mutex<Vec<Refusal>>>;
}

/// Why a mutation was refused, as the audit event records it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refusal {
    code: &'static str,
    message: String,
}

impl Refusal {
    /// A domain error that refuses the mutation: not allowed, not found, or a state change
    /// its object does not allow. Invalid input and conflicts are not refusals.
    fn of(error: &DomainError) -> Option<Self> {
        let code = match error {
            DomainError::Forbidden { .. } => "FORBIDDEN",
            DomainError::NotFound { .. } => "NOT_FOUND",
            DomainError::InvalidTransition { .. } => "INVALID_TRANSITION",
            _ => return None,
        };
        Some(Self {
            code,
            message: error.to_string(),
        })
    }

    /// A GraphQL error the mutation's field answered, when it is a refusal. Only errors of
    /// the field itself count, not of a field of its payload.
    fn of_error(error: &ServerError) -> Option<Self> {
        if error.path.len() > 1 {
            return None;
        }
        let code = match error.extensions.as_ref()?.get("code")? {
            Value::String(code) if code == "FORBIDDEN" => "FORBIDDEN",
            Value::String(code) if code == "NOT_FOUND" => "NOT_FOUND",
            _ => return None,
        };
        Some(Self {
            code,
            message: error.message.clone(),
        })
    }
}

/// Notes an error a mutation puts in its payload, to be audited when it is a refusal; does
/// nothing outside a mutation. Called where every payload error is made
/// (`UserError::from_domain`).
pub fn note_payload_error(error: &DomainError) {
    let Some(refusal) = Refusal::of(error) else {
        return;
    };
    // Outside a mutation (a query's validation), there is nothing to note it in.
    let _outside = PAYLOAD_REFUSALS.try_with(|refusals| {
        if let Ok(mut refusals) = refusals.lock() {
            refusals.push(refusal);
        }
    });
}

/// The extension that audits refused mutations (see the module's documentation).
pub struct DeniedMutations;

impl ExtensionFactory for DeniedMutations {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DeniedMutationsExtension::default())
    }
}

/// One per request: it keeps the request's variables, to read the ids given through them.
#[derive(Default)]
struct DeniedMutationsExtension {
    variables: Mutex<Variables>,
}

#[async_graphql::async_trait::async_trait]
impl Extension for DeniedMutationsExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if let Ok(mut kept) = self.variables.lock() {
            kept.clone_from(variables);
        }
        next.run(ctx, query, variables).await
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let registry = &ctx.schema_env.registry;
        let root_mutation = info.path_node.parent.is_none()
            && registry.mutation_type.as_deref() == Some(info.parent_type);
        if !root_mutation {
            return next.run(ctx, info).await;
        }
        // Boxed apart: this hook runs around every field of every query, and async_trait
        // boxes its future each time, sized for the longest path. With the mutation's path
        // inline, every field of a users page allocated (over-aligned) and copied that large
        // future: about a sixth of the server's CPU for the page (docs/benchmarks.md).
        Box::pin(self.resolve_root_mutation(ctx, info, next)).await
    }
}

impl DeniedMutationsExtension {
    /// [`Extension::resolve`] for a root mutation field: runs it with the task-local list of
    /// payload refusals, and audits a refusal.
    async fn resolve_root_mutation(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let registry = &ctx.schema_env.registry;
        let operation = info.name;
        let field = info.field;
        let noted = Arc::new(Mutex::new(Vec::new()));
        let result = PAYLOAD_REFUSALS
            .scope(Arc::clone(&noted), next.run(ctx, info))
            .await;
        let refusal = match &result {
            Err(error) => Refusal::of_error(error),
            Ok(_) => noted
                .lock()
                .ok()
                .and_then(|refusals| refusals.first().cloned()),
        };
        if let Some(refusal) = refusal {
            let ids = self.given_ids(registry, operation, field);
            record(ctx, operation, &refusal, &ids).await;
        }
        result
    }

    /// Every value the caller gave for an argument of type `ID` (in input objects and lists
    /// too), with the argument's path, such as `input.user`.
    fn given_ids(
        &self,
        registry: &Registry,
        operation: &str,
        field: &Field,
    ) -> Vec<(String, String)> {
        let variables = self
            .variables
            .lock()
            .map(|variables| variables.clone())
            .unwrap_or_default();
        let Some(definition) = registry
            .mutation_type
            .as_deref()
            .and_then(|mutation| registry.types.get(mutation))
            .and_then(|mutation| mutation.field_by_name(operation))
        else {
            return Vec::new();
        };
        let mut ids = Vec::new();
        for (name, value) in &field.arguments {
            let Some(argument) = definition.args.get(name.node.as_str()) else {
                continue;
            };
            let value = value
                .node
                .clone()
                .into_const_with(|variable| {
                    Ok::<_, ()>(variables.get(&variable).cloned().unwrap_or(Value::Null))
                })
                .unwrap_or(Value::Null);
            collect_ids(
                registry,
                &argument.ty,
                name.node.to_string(),
                &value,
                &mut ids,
            );
        }
        ids
    }
}

/// Adds the ids in `value`, of GraphQL type `ty`, to `ids`.
fn collect_ids(
    registry: &Registry,
    ty: &str,
    path: String,
    value: &Value,
    ids: &mut Vec<(String, String)>,
) {
    let base = MetaTypeName::concrete_typename(ty);
    match value {
        Value::List(items) => {
            for item in items {
                collect_ids(registry, ty, path.clone(), item, ids);
            }
        }
        Value::String(id) if base == "ID" => ids.push((path, id.clone())),
        Value::Number(id) if base == "ID" => ids.push((path, id.to_string())),
        Value::Object(fields) => {
            if let Some(MetaType::InputObject { input_fields, .. }) = registry.types.get(base) {
                for (name, value) in fields {
                    if let Some(input) = input_fields.get(name.as_str()) {
                        collect_ids(registry, &input.ty, format!("{path}.{name}"), value, ids);
                    }
                }
            }
        }
        _ => {}
    }
}

/// The last part of an argument's path: `user` of `input.user`.
fn argument_name(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

/// Writes the events of a refused mutation, in a transaction of their own. A failure to
/// write is logged; the caller's answer (a refusal already) does not change.
async fn record(
    ctx: &ExtensionContext<'_>,
    operation: &str,
    refusal: &Refusal,
    ids: &[(String, String)],
) {
    let (Some(app), Some(request)) = (ctx.data_opt::<App>(), ctx.data_opt::<RequestContext>())
    else {
        return;
    };
    let Authentication::Session(principal) = &request.authentication else {
        return;
    };
    let actor = match request.actor.get_or_try_init(|| app.actor(principal)).await {
        Ok(actor) => actor,
        Err(error) => {
            tracing::error!(
                error = %error.describe(),
                operation,
                "a refused mutation is not audited: its actor could not be read"
            );
            return;
        }
    };
    let entry = AuditEntry {
        actor: Some(principal.user_id),
        client_address: request.client.address.clone(),
        at: request.now,
    };
    let events = denied_events(&entry, actor, operation, refusal, ids);
    if let Err(error) = app.store.record_audit_events(&events).await {
        tracing::error!(
            error = %error,
            operation,
            "a refused mutation is not audited: its event could not be written"
        );
    }
}

/// The events of a refused mutation: one per trail it belongs to (see the module's
/// documentation), each naming the operation, the refusal and the ids as given; the target
/// is the first id that does not name an organization (else the organization).
fn denied_events(
    entry: &AuditEntry,
    actor: &Actor,
    operation: &str,
    refusal: &Refusal,
    ids: &[(String, String)],
) -> Vec<NewAuditEvent> {
    let named = ids
        .iter()
        .filter(|(path, _)| argument_name(path) == "organization")
        .filter_map(|(_, id)| uuid::Uuid::parse_str(id).ok().map(OrganizationId))
        .find(|organization| actor.can_see(*organization));
    let trails: Vec<Option<OrganizationId>> = match named {
        Some(organization) => vec![Some(organization)],
        None => {
            let mut own: Vec<OrganizationId> = actor.organizations().collect();
            own.sort();
            if own.is_empty() {
                vec![None]
            } else {
                own.into_iter().map(Some).collect()
            }
        }
    };
    let mut arguments = Map::new();
    for (path, id) in ids {
        let id = JsonValue::String(id.clone());
        match arguments.get_mut(path) {
            Some(JsonValue::Array(given)) => given.push(id),
            Some(first) => *first = JsonValue::Array(vec![first.take(), id]),
            None => {
                arguments.insert(path.clone(), id);
            }
        }
    }
    let target = ids
        .iter()
        .find(|(path, _)| argument_name(path) != "organization")
        .or(ids.first());
    trails
        .into_iter()
        .map(|trail| {
            let mut event = entry
                .event(AuditAction::MutationDenied, AuditOutcome::Denied)
                .detail(json!({
                    "operation": operation,
                    "code": refusal.code,
                    "message": refusal.message,
                    "arguments": arguments,
                }));
            if let Some((path, id)) = target {
                event = event.target(Cow::Owned(argument_name(path).to_owned()), id);
            }
            if let Some(organization) = trail {
                event = event.organization(organization);
            }
            event
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use steward_domain::UserId;
    use steward_domain::permission::PermissionSet;
    use steward_domain::policy::MemberGrant;

    use super::*;

    fn member_of(organizations: &[OrganizationId]) -> Actor {
        Actor::new(
            UserId::new(),
            None,
            organizations.iter().map(|organization| MemberGrant {
                organization: *organization,
                role: None,
                permissions: PermissionSet::default(),
                project_permissions: HashMap::new(),
            }),
        )
    }

    fn entry(actor: &Actor) -> AuditEntry {
        AuditEntry {
            actor: Some(actor.user),
            client_address: None,
            at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn refusal() -> Refusal {
        Refusal::of(&DomainError::NotFound { what: "the member" }).expect("a refusal")
    }

    #[test]
    fn a_probe_of_another_organization_goes_to_the_actors_trails_only() {
        let (a, b, c) = (
            OrganizationId::new(),
            OrganizationId::new(),
            OrganizationId::new(),
        );
        let actor = member_of(&[c, b]);
        let user = uuid::Uuid::now_v7().to_string();
        let ids = [
            ("input.organization".to_owned(), a.to_string()),
            ("input.user".to_owned(), user.clone()),
        ];
        let events = denied_events(&entry(&actor), &actor, "removeMember", &refusal(), &ids);
        let trails: Vec<_> = events.iter().map(|event| event.organization).collect();
        let mut own = vec![Some(b), Some(c)];
        own.sort();
        assert_eq!(trails, own, "never A's trail");
        for event in &events {
            assert_eq!(event.outcome, AuditOutcome::Denied);
            assert_eq!(event.target_type.as_deref(), Some("user"));
            assert_eq!(event.target_id.as_deref(), Some(user.as_str()));
            assert_eq!(event.detail["operation"], "removeMember");
            assert_eq!(event.detail["code"], "NOT_FOUND");
            assert_eq!(
                event.detail["arguments"]["input.organization"],
                a.to_string()
            );
        }
    }

    #[test]
    fn a_refusal_in_the_actors_own_organization_goes_to_its_trail() {
        let (a, b) = (OrganizationId::new(), OrganizationId::new());
        let actor = member_of(&[a, b]);
        let ids = [("organization".to_owned(), a.to_string())];
        let events = denied_events(&entry(&actor), &actor, "createRole", &refusal(), &ids);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].organization, Some(a));
        assert_eq!(events[0].target_type.as_deref(), Some("organization"));
    }

    #[test]
    fn an_actor_without_organizations_leaves_a_platform_event_and_lists_repeat() {
        let actor = member_of(&[]);
        let ids = [
            ("input.resources".to_owned(), "r1".to_owned()),
            ("input.resources".to_owned(), "r2".to_owned()),
        ];
        let events = denied_events(
            &entry(&actor),
            &actor,
            "transferResources",
            &refusal(),
            &ids,
        );
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].organization, None);
        assert_eq!(
            events[0].detail["arguments"]["input.resources"],
            json!(["r1", "r2"])
        );
    }

    #[test]
    fn invalid_input_and_conflicts_are_not_refusals() {
        assert_eq!(Refusal::of(&DomainError::invalid("name", "too long")), None);
        assert_eq!(Refusal::of(&DomainError::conflict("name", "taken")), None);
        assert_eq!(
            Refusal::of(&DomainError::forbidden("no")).map(|refusal| refusal.code),
            Some("FORBIDDEN")
        );
    }
}
