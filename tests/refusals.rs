//! Refusals told in advance and refusals remembered: a user deletion, member removal or
//! organization deletion plan lists exactly the refusals its mutation answers, every refused
//! mutation leaves a `DENIED` audit event in the trails its actor belongs to (never in the
//! probed organization's), and the audit table refuses UPDATE and DELETE on both backends
//! outside the retention purge.

use serde_json::{Value, json};
use steward_domain::OrganizationId;
use steward_domain::policy::authorize_console;
use steward_store::{AuditEntry, AuditEventRecord, AuditFilter, Backend};

use crate::support::{ADMIN_PASSWORD, TestApp, TestOrg, error_code, on_each_backend};

const REGISTER: &str = "mutation($i: RegisterResourceInput!) { registerResource(input: $i) { \
    resource { id } errors { message } } }";
const DELETION_PLAN: &str = "query($u: ID!, $t: ID, $k: Boolean!) { \
    deletionPlan(user: $u, transferTo: $t, revokeApiKeys: $k) { refusals } }";
const DELETE: &str = "mutation($i: DeleteUserInput!) { deleteUser(input: $i) { \
    user { status } errors { code message } } }";
const REMOVAL_PLAN: &str = "query($o: ID!, $u: ID!, $t: ID) { \
    removalPlan(organization: $o, user: $u, transferTo: $t) { refusals } }";
const REMOVE: &str = "mutation($o: ID!, $u: ID!, $t: ID) { \
    removeMember(input: {organization: $o, user: $u, transferTo: $t}) { errors { code message } } }";
const SUSPEND: &str = "mutation($u: ID!) { suspendUser(input: {user: $u}) { errors { message } } }";

async fn resource(app: &TestApp, org: &TestOrg, kind: &str, name: &str, owner: &str) {
    let body = app
        .graphql(
            Some(&org.owner_token),
            REGISTER,
            json!({ "i": { "organization": org.id, "kind": kind, "name": name,
                           "externalId": format!("{kind}-{name}"), "owner": owner } }),
        )
        .await;
    assert_eq!(
        body["data"]["registerResource"]["errors"],
        json!([]),
        "{:?}: {body}",
        app.backend
    );
}

fn user_id(login: &Value) -> String {
    login["user"]["id"].as_str().expect("user id").to_owned()
}

/// The plan's refusals as strings.
fn refusals(plan: &Value) -> Vec<String> {
    plan["refusals"]
        .as_array()
        .unwrap_or_else(|| panic!("no refusals in {plan}"))
        .iter()
        .map(|refusal| refusal.as_str().expect("a refusal").to_owned())
        .collect()
}

/// Asks the plan, then the mutation with the same arguments: the mutation must answer
/// exactly what the plan listed (one refusal as it is, several joined with "; "), with
/// `code`. Returns the plan's refusals.
async fn agree(
    app: &TestApp,
    token: &str,
    plan: (&str, &str, Value),
    mutation: (&str, &str, Value),
    code: &str,
) -> Vec<String> {
    let (plan_query, plan_field, plan_variables) = plan;
    let answer = app.graphql(Some(token), plan_query, plan_variables).await;
    assert!(
        answer.get("errors").is_none(),
        "{:?}: {answer}",
        app.backend
    );
    let listed = refusals(&answer["data"][plan_field]);
    assert!(
        !listed.is_empty(),
        "{:?}: the plan lists no refusal",
        app.backend
    );
    let (mutation_query, mutation_field, mutation_variables) = mutation;
    let answered = app
        .graphql(Some(token), mutation_query, mutation_variables)
        .await;
    let errors = &answered["data"][mutation_field]["errors"];
    assert_eq!(
        errors.as_array().map(Vec::len),
        Some(1),
        "{:?}: {answered}",
        app.backend
    );
    assert_eq!(
        errors[0]["message"].as_str(),
        Some(listed.join("; ").as_str()),
        "{:?}: the mutation answers what the plan listed: {answered}",
        app.backend
    );
    assert_eq!(errors[0]["code"], code, "{:?}: {answered}", app.backend);
    listed
}

async fn deletion_agrees(
    app: &TestApp,
    token: &str,
    user: &str,
    transfer_to: Option<&str>,
    revoke_api_keys: bool,
    code: &str,
) -> Vec<String> {
    agree(
        app,
        token,
        (
            DELETION_PLAN,
            "deletionPlan",
            json!({ "u": user, "t": transfer_to, "k": revoke_api_keys }),
        ),
        (
            DELETE,
            "deleteUser",
            json!({ "i": { "user": user, "transferTo": transfer_to,
                           "revokeApiKeys": revoke_api_keys } }),
        ),
        code,
    )
    .await
}

async fn removal_agrees(
    app: &TestApp,
    token: &str,
    organization: &str,
    user: &str,
    transfer_to: Option<&str>,
    code: &str,
) -> Vec<String> {
    let variables = json!({ "o": organization, "u": user, "t": transfer_to });
    agree(
        app,
        token,
        (REMOVAL_PLAN, "removalPlan", variables.clone()),
        (REMOVE, "removeMember", variables),
        code,
    )
    .await
}

/// An id in SQL, as the backend stores it.
fn sql_id(app: &TestApp, id: &str) -> String {
    match app.backend {
        Backend::Sqlite => format!("X'{}'", id.replace('-', "")),
        Backend::Postgres => format!("'{id}'"),
    }
}

#[tokio::test]
async fn a_deletion_plan_lists_exactly_the_refusals_delete_user_answers() {
    on_each_backend(&[], |app| async move {
        let org = app.organization_owned_by("Plans Ltd", "chief").await;
        let leaver = app.member_of(&org, "leaver").await;
        let heir = app.member_of(&org, "heir").await;
        resource(&app, &org, "DASHBOARD", "Board", &leaver).await;
        let boss = &org.owner_token;
        let admin = app.admin_token().await;

        // Not suspended: the state change is refused, in the plan's words.
        let listed = deletion_agrees(&app, boss, &leaver, None, false, "INVALID_TRANSITION").await;
        assert_eq!(
            listed,
            [
                "cannot change the user's status from ACTIVE to DELETED: only a suspended user \
              can be deleted; suspend the user first"
            ]
        );

        // The organization's owner, who is active too: both refusals, in one answer.
        let chief = user_id(&app.login("chief", ADMIN_PASSWORD).await);
        let listed = deletion_agrees(&app, &admin, &chief, None, false, "FORBIDDEN").await;
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert_eq!(
            listed[1],
            "the owner of the organization Plans Ltd cannot be deleted; transfer the \
             organization's ownership to another member first"
        );

        // An API key that still works: the plan said nothing of it before.
        let session = app.token("leaver", ADMIN_PASSWORD).await;
        let key = app
            .graphql(
                Some(&session),
                "mutation { createApiKey(input: {name: \"sync\"}) { errors { message } } }",
                json!({}),
            )
            .await;
        assert_eq!(key["data"]["createApiKey"]["errors"], json!([]), "{key}");
        let suspended = app
            .graphql(Some(boss), SUSPEND, json!({ "u": leaver }))
            .await;
        assert_eq!(
            suspended["data"]["suspendUser"]["errors"],
            json!([]),
            "{suspended}"
        );
        let listed = deletion_agrees(&app, boss, &leaver, None, false, "FORBIDDEN").await;
        assert_eq!(
            listed,
            ["You can't remove the user as they have active tokens."]
        );

        // The new owner is the user who leaves.
        let listed = deletion_agrees(&app, boss, &leaver, Some(&leaver), true, "FORBIDDEN").await;
        assert_eq!(
            listed,
            [
                "the resources in Plans Ltd cannot go to the user who is deleted; name another \
              new owner"
            ]
        );

        // A new owner outside the organization, and one who does not exist at all (the
        // plan used to fail with INTERNAL for the latter).
        let outsider = app.create_user("outsider", ADMIN_PASSWORD).await;
        let listed = deletion_agrees(&app, boss, &leaver, Some(&outsider), true, "FORBIDDEN").await;
        assert!(
            listed[0].starts_with("outsider cannot receive the resources in Plans Ltd"),
            "{listed:?}"
        );
        let nobody = uuid::Uuid::now_v7().to_string();
        let listed = deletion_agrees(&app, boss, &leaver, Some(&nobody), true, "FORBIDDEN").await;
        assert!(
            listed[0].starts_with("the new owner named cannot receive the resources in Plans Ltd"),
            "{listed:?}"
        );

        // An organization without an owner to receive the resources.
        app.database
            .execute_sql(format!(
                "UPDATE organizations SET owner_user_id = NULL WHERE id = {}",
                sql_id(&app, &org.id)
            ))
            .await
            .expect("no owner");
        let listed = deletion_agrees(&app, boss, &leaver, None, true, "FORBIDDEN").await;
        assert_eq!(
            listed,
            ["the organization Plans Ltd has no owner to receive the resources; name a new owner"]
        );

        // With nothing listed, the deletion goes through.
        let plan = app
            .graphql(
                Some(boss),
                DELETION_PLAN,
                json!({ "u": leaver, "t": heir, "k": true }),
            )
            .await;
        assert_eq!(
            plan["data"]["deletionPlan"]["refusals"],
            json!([]),
            "{plan}"
        );
        let deleted = app
            .graphql(
                Some(boss),
                DELETE,
                json!({ "i": { "user": leaver, "transferTo": heir, "revokeApiKeys": true } }),
            )
            .await;
        assert_eq!(
            deleted["data"]["deleteUser"],
            json!({ "user": { "status": "DELETED" }, "errors": [] }),
            "{deleted}"
        );
        app
    })
    .await;
}

#[tokio::test]
async fn a_removal_plan_lists_exactly_the_refusals_remove_member_answers() {
    on_each_backend(&[], |app| async move {
        let org = app.organization_owned_by("Removals Inc", "head").await;
        let member = app.member_of(&org, "member").await;
        resource(&app, &org, "DATASET", "Orders", &member).await;
        let head = &org.owner_token;
        let admin = app.admin_token().await;
        let head_id = user_id(&app.login("head", ADMIN_PASSWORD).await);

        // The organization's owner.
        let listed = removal_agrees(&app, &admin, &org.id, &head_id, None, "FORBIDDEN").await;
        assert_eq!(
            listed,
            [
                "the owner of the organization Removals Inc cannot be removed; transfer the \
              organization's ownership to another member first"
            ]
        );

        // Removing oneself (the owner here, so both refusals).
        let listed = removal_agrees(&app, head, &org.id, &head_id, None, "FORBIDDEN").await;
        assert_eq!(
            listed[0],
            "you cannot remove yourself from the organization; ask another administrator"
        );
        assert_eq!(listed.len(), 2, "{listed:?}");

        // Someone who is not a member.
        let outsider = app.create_user("outsider", ADMIN_PASSWORD).await;
        let listed = removal_agrees(&app, head, &org.id, &outsider, None, "NOT_FOUND").await;
        assert_eq!(listed, ["the member was not found"]);

        // A new owner who may not receive the resources there.
        let listed =
            removal_agrees(&app, head, &org.id, &member, Some(&outsider), "FORBIDDEN").await;
        assert!(
            listed[0].starts_with("outsider cannot receive the resources in Removals Inc"),
            "{listed:?}"
        );

        // A deleted organization.
        let deleted = app
            .graphql(
                Some(head),
                "mutation($o: ID!) { deleteOrganization(input: {organization: $o, \
                 confirmName: \"Removals Inc\"}) { errors { message } } }",
                json!({ "o": org.id }),
            )
            .await;
        assert_eq!(
            deleted["data"]["deleteOrganization"]["errors"],
            json!([]),
            "{deleted}"
        );
        let listed = removal_agrees(&app, &admin, &org.id, &member, None, "INVALID").await;
        assert_eq!(
            listed,
            ["organization: has been deleted; nothing in it can change any more"]
        );
        app
    })
    .await;
}

/// The `mutation.denied` events of `organization`'s trail (`None`: every trail), oldest first.
async fn denied(app: &TestApp, organization: Option<&str>) -> Vec<AuditEventRecord> {
    let filter = AuditFilter {
        organizations: organization.map(|organization| {
            vec![OrganizationId(
                uuid::Uuid::parse_str(organization).expect("organization id"),
            )]
        }),
        action: Some("mutation.denied".to_owned()),
        ..AuditFilter::default()
    };
    let (mut events, _) = app
        .database
        .store
        .audit_events_page(&filter, None, 100)
        .await
        .expect("audit events");
    events.reverse();
    events
}

#[tokio::test]
async fn refused_mutations_leave_a_denied_event_in_the_actors_trails_only() {
    on_each_backend(&[], |app| async move {
        let acme = app.organization_owned_by("Acme", "acmeboss").await;
        let globex = app.organization_owned_by("Globex", "globexboss").await;
        let worker = app.member_of(&acme, "worker").await;
        let peer = app.member_of(&acme, "peer").await;
        let worker_token = app.token("worker", ADMIN_PASSWORD).await;

        // FORBIDDEN: a Viewer of Acme removes a member there.
        let forbidden = app
            .graphql(
                Some(&worker_token),
                REMOVE,
                json!({ "o": acme.id, "u": peer }),
            )
            .await;
        assert_eq!(error_code(&forbidden), "FORBIDDEN", "{forbidden}");
        let events = denied(&app, Some(&acme.id)).await;
        assert_eq!(events.len(), 1, "{:?}: {events:?}", app.backend);
        let event = &events[0];
        assert_eq!(event.outcome, "DENIED");
        assert_eq!(
            event.actor_user_id.map(|id| id.to_string()),
            Some(worker.clone())
        );
        assert_eq!(event.target_type.as_deref(), Some("user"));
        assert_eq!(event.target_id.as_deref(), Some(peer.as_str()));
        assert_eq!(event.detail.0["operation"], "removeMember");
        assert_eq!(event.detail.0["code"], "FORBIDDEN");
        assert_eq!(
            event.detail.0["arguments"]["input.organization"],
            acme.id.as_str()
        );

        // NOT_FOUND: Globex's owner probes Acme's ids. The event is Globex's (and the
        // platform's), never Acme's.
        let probe = app
            .graphql(
                Some(&globex.owner_token),
                REMOVE,
                json!({ "o": acme.id, "u": peer }),
            )
            .await;
        assert_eq!(error_code(&probe), "NOT_FOUND", "{probe}");
        assert_eq!(
            denied(&app, Some(&acme.id)).await.len(),
            1,
            "{:?}",
            app.backend
        );
        let probes = denied(&app, Some(&globex.id)).await;
        assert_eq!(probes.len(), 1, "{:?}: {probes:?}", app.backend);
        assert_eq!(probes[0].outcome, "DENIED");
        assert_eq!(probes[0].target_id.as_deref(), Some(peer.as_str()));
        assert_eq!(probes[0].detail.0["code"], "NOT_FOUND");
        let globex_trail = app
            .graphql(
                Some(&globex.owner_token),
                "query($o: ID!) { auditEvents(filter: {organization: $o, action: \
                 \"mutation.denied\"}) { totalCount nodes { outcome targetId } } }",
                json!({ "o": globex.id }),
            )
            .await;
        assert_eq!(
            globex_trail["data"]["auditEvents"],
            json!({ "totalCount": 1, "nodes": [{ "outcome": "DENIED", "targetId": peer }] }),
            "{globex_trail}"
        );
        let acme_trail = app
            .graphql(
                Some(&acme.owner_token),
                "query($o: ID!) { auditEvents(filter: {organization: $o, action: \
                 \"mutation.denied\"}) { totalCount } }",
                json!({ "o": acme.id }),
            )
            .await;
        assert_eq!(
            acme_trail["data"]["auditEvents"]["totalCount"], 1,
            "{acme_trail}"
        );

        // A refused state change, answered in the payload: deleting an active user.
        let refused = app
            .graphql(
                Some(&acme.owner_token),
                DELETE,
                json!({ "i": { "user": peer } }),
            )
            .await;
        assert_eq!(
            refused["data"]["deleteUser"]["errors"][0]["code"], "INVALID_TRANSITION",
            "{refused}"
        );
        let events = denied(&app, Some(&acme.id)).await;
        assert_eq!(events.len(), 2, "{:?}: {events:?}", app.backend);
        assert_eq!(events[1].detail.0["operation"], "deleteUser");
        assert_eq!(events[1].detail.0["code"], "INVALID_TRANSITION");
        assert_eq!(events[1].target_id.as_deref(), Some(peer.as_str()));

        // Not refusals: invalid input, and callers who are not logged in.
        let malformed = app
            .graphql(
                Some(&acme.owner_token),
                DELETE,
                json!({ "i": { "user": "not an id" } }),
            )
            .await;
        assert_eq!(error_code(&malformed), "BAD_USER_INPUT", "{malformed}");
        let anonymous = app
            .graphql(None, REMOVE, json!({ "o": acme.id, "u": peer }))
            .await;
        assert_eq!(error_code(&anonymous), "UNAUTHENTICATED", "{anonymous}");
        assert_eq!(denied(&app, None).await.len(), 3, "{:?}", app.backend);
        app
    })
    .await;
}

#[tokio::test]
async fn the_audit_table_refuses_updates_and_deletes_outside_the_retention_purge() {
    on_each_backend(&[], |app| async move {
        app.admin_token().await;
        let store = &app.database.store;
        let before = store.recent_audit_events(None, 1000).await.expect("events");
        assert!(!before.is_empty(), "the admin's login was audited");

        let update = app
            .database
            .execute_raw("UPDATE audit_events SET action = 'forged'")
            .await;
        assert!(update.is_err(), "{:?}: an event was changed", app.backend);
        let delete = app.database.execute_raw("DELETE FROM audit_events").await;
        assert!(delete.is_err(), "{:?}: events were deleted", app.backend);
        if app.backend == Backend::Postgres {
            let truncate = app.database.execute_raw("TRUNCATE audit_events").await;
            assert!(truncate.is_err(), "events were truncated");
        }
        let after = store.recent_audit_events(None, 1000).await.expect("events");
        assert_eq!(after.len(), before.len(), "{:?}", app.backend);
        assert!(after.iter().all(|event| event.action != "forged"));

        // The retention purge deletes the events older than its limit, and only those, and
        // leaves an event that says so.
        let now = time::OffsetDateTime::now_utc();
        let entry = AuditEntry {
            actor: None,
            client_address: Some("console".into()),
            at: now,
        };
        let none = store
            .purge_audit_events(
                &authorize_console(),
                time::OffsetDateTime::UNIX_EPOCH,
                &entry,
            )
            .await
            .expect("purge nothing");
        assert_eq!(none, 0);
        let limit = now + time::Duration::minutes(1);
        let purged = store
            .purge_audit_events(&authorize_console(), limit, &entry)
            .await
            .expect("purge");
        assert!(
            purged > u64::try_from(before.len()).expect("count"),
            "{:?}: {purged}",
            app.backend
        );
        let left = store.recent_audit_events(None, 1000).await.expect("events");
        assert!(
            left.iter()
                .all(|event| event.occurred_at.into_inner() >= limit
                    || event.action == "audit.purged"),
            "{:?}: {left:?}",
            app.backend
        );
        let record = left
            .iter()
            .find(|event| event.action == "audit.purged" && event.detail.0["events"] == purged)
            .unwrap_or_else(|| panic!("{:?}: no audit.purged event: {left:?}", app.backend));
        assert_eq!(record.outcome, "SUCCESS");

        // Once the purge is over, deleting is refused again.
        let delete = app.database.execute_raw("DELETE FROM audit_events").await;
        assert!(delete.is_err(), "{:?}: events were deleted", app.backend);
        app
    })
    .await;
}

const ORGANIZATION_PLAN: &str = "query($o: ID!) { organizationDeletionPlan(organization: $o) { \
    members apiKeys invitations resources refusals } }";
const DELETE_ORGANIZATION: &str = "mutation($o: ID!, $n: String!) { deleteOrganization(input: \
    {organization: $o, confirmName: $n}) { errors { code message } } }";

#[tokio::test]
async fn an_organization_deletion_plan_lists_exactly_the_refusals_delete_organization_answers() {
    on_each_backend(&[], |app| async move {
        let org = app.organization_owned_by("Closing Co", "closer").await;
        let staff = app.member_of(&org, "staff").await;
        resource(&app, &org, "DASHBOARD", "Board", &staff).await;
        let admin = app.admin_token().await;

        // What the deletion would do, and nothing refuses it.
        let plan = app
            .graphql(
                Some(&org.owner_token),
                ORGANIZATION_PLAN,
                json!({ "o": org.id }),
            )
            .await;
        assert_eq!(
            plan["data"]["organizationDeletionPlan"],
            json!({ "members": 2, "apiKeys": 0, "invitations": 0, "resources": 1,
                    "refusals": [] }),
            "{:?}: {plan}",
            app.backend
        );
        let deleted = app
            .graphql(
                Some(&org.owner_token),
                DELETE_ORGANIZATION,
                json!({ "o": org.id, "n": "Closing Co" }),
            )
            .await;
        assert_eq!(
            deleted["data"]["deleteOrganization"]["errors"],
            json!([]),
            "{deleted}"
        );

        // Deleted already: the plan lists what the deletion answers.
        let listed = agree(
            &app,
            &admin,
            (
                ORGANIZATION_PLAN,
                "organizationDeletionPlan",
                json!({ "o": org.id }),
            ),
            (
                DELETE_ORGANIZATION,
                "deleteOrganization",
                json!({ "o": org.id, "n": "Closing Co" }),
            ),
            "INVALID",
        )
        .await;
        assert_eq!(listed, ["organization: has been deleted already"]);
        app
    })
    .await;
}
