//! Transferring resources, deleting users and removing members over HTTP: the preflight
//! plan, deletion with transfer, the refusals word for word, last-owner protection, and a
//! failure in the middle of a deletion that leaves nothing half-done.

use serde_json::{Value, json};

use crate::support::{ADMIN_PASSWORD, TestApp, TestOrg, error_code, on_each_backend};

const REGISTER: &str = "mutation($i: RegisterResourceInput!) { registerResource(input: $i) { \
    resource { id } errors { field code message } } }";
const PLAN: &str = "query($u: ID!, $t: ID) { deletionPlan(user: $u, transferTo: $t) { \
    revision refusals resourcesMoving resourcesDisabled sessions apiKeys { name } \
    organizations { organization { name } newOwner { username } resourcesMoving sharesPassing \
    kinds { kind transferable count disabledBeforeTransfer } resources { totalCount } } } }";
const DELETE: &str = "mutation($i: DeleteUserInput!) { deleteUser(input: $i) { \
    user { username email status } transfers { resourceCount reason to { username } } \
    errors { field code message } } }";
const TRANSFER: &str = "mutation($i: TransferResourcesInput!) { transferResources(input: $i) { \
    transfers { resourceCount reason from { username } to { username } initiatedBy { username } } \
    errors { field code message } } }";
const SUSPEND: &str = "mutation($u: ID!) { suspendUser(input: {user: $u}) { \
    user { status } errors { message } } }";

/// Registers a resource of `kind` owned by `owner` (none for application-level kinds).
async fn resource(
    app: &TestApp,
    org: &TestOrg,
    kind: &str,
    name: &str,
    owner: Option<&str>,
) -> String {
    let body = app
        .graphql(
            Some(&org.owner_token),
            REGISTER,
            json!({ "i": { "organization": org.id, "kind": kind, "name": name,
                           "externalId": format!("{kind}-{name}"), "owner": owner } }),
        )
        .await;
    let payload = &body["data"]["registerResource"];
    assert_eq!(payload["errors"], json!([]), "{:?}: {body}", app.backend);
    payload["resource"]["id"].as_str().expect("id").to_owned()
}

async fn suspend(app: &TestApp, token: &str, user: &str) -> Value {
    app.graphql(Some(token), SUSPEND, json!({ "u": user }))
        .await["data"]["suspendUser"]
        .clone()
}

async fn delete(app: &TestApp, token: &str, input: Value) -> Value {
    app.graphql(Some(token), DELETE, json!({ "i": input }))
        .await["data"]["deleteUser"]
        .clone()
}

async fn plan(app: &TestApp, token: &str, user: &str, to: Option<&str>) -> Value {
    let body = app
        .graphql(Some(token), PLAN, json!({ "u": user, "t": to }))
        .await;
    assert!(body.get("errors").is_none(), "{:?}: {body}", app.backend);
    body["data"]["deletionPlan"].clone()
}

/// The first error message of a payload.
fn message(payload: &Value) -> &str {
    payload["errors"][0]["message"].as_str().unwrap_or_default()
}

/// An organization with a leaver who owns a dashboard, a dataset and an enabled schedule
/// and holds an API key, and an heir; the leaver is suspended.
struct Story {
    org: TestOrg,
    leaver: String,
    heir: String,
}

async fn story(app: &TestApp) -> Story {
    let org = app.organization_owned_by("Leaving Ltd", "boss").await;
    let leaver = app.member_of(&org, "leaver").await;
    let heir = app.member_of(&org, "heir").await;
    resource(app, &org, "DASHBOARD", "Revenue", Some(&leaver)).await;
    resource(app, &org, "DATASET", "Orders", Some(&leaver)).await;
    resource(app, &org, "SCHEDULE", "Nightly", Some(&leaver)).await;
    resource(app, &org, "MAIL_SERVER", "Relay", None).await;
    let session = app.token("leaver", ADMIN_PASSWORD).await;
    let key = app
        .graphql(
            Some(&session),
            "mutation { createApiKey(input: {name: \"sync job\"}) { errors { message } } }",
            json!({}),
        )
        .await;
    assert_eq!(key["data"]["createApiKey"]["errors"], json!([]), "{key}");
    let suspended = suspend(app, &org.owner_token, &leaver).await;
    assert_eq!(suspended["user"]["status"], "SUSPENDED", "{suspended}");
    Story { org, leaver, heir }
}

#[tokio::test]
async fn deleting_a_suspended_user_moves_their_resources_to_the_new_owner() {
    on_each_backend(&[], |app| async move {
        let Story {
            org, leaver, heir, ..
        } = story(&app).await;
        let boss = &org.owner_token;

        // The preflight lists what moves, what is disabled and what is revoked; asked without
        // `revokeApiKeys`, it says that the working API key refuses the deletion.
        let preflight = plan(&app, boss, &leaver, Some(&heir)).await;
        assert_eq!(
            preflight["refusals"],
            json!(["You can't remove the user as they have active tokens."]),
            "{preflight}"
        );
        assert_eq!(preflight["resourcesMoving"], 3, "{preflight}");
        assert_eq!(preflight["resourcesDisabled"], 1, "{preflight}");
        assert_eq!(preflight["apiKeys"], json!([{ "name": "sync job" }]));
        let organization = &preflight["organizations"][0];
        assert_eq!(organization["newOwner"]["username"], "heir");
        assert_eq!(organization["resources"]["totalCount"], 3);
        assert_eq!(
            organization["kinds"],
            json!([
                { "kind": "DASHBOARD", "transferable": true, "count": 1, "disabledBeforeTransfer": 0 },
                { "kind": "DATASET", "transferable": true, "count": 1, "disabledBeforeTransfer": 0 },
                { "kind": "SCHEDULE", "transferable": true, "count": 1, "disabledBeforeTransfer": 1 },
            ])
        );
        let revision = preflight["revision"].as_str().expect("revision").to_owned();
        // The default new owner is the organization's owner.
        let default = plan(&app, boss, &leaver, None).await;
        assert_eq!(
            default["organizations"][0]["newOwner"]["username"], "boss",
            "{default}"
        );
        assert_ne!(default["revision"], preflight["revision"]);

        // Refused while the API key works, word for word.
        let refused = delete(
            &app,
            boss,
            json!({ "user": leaver, "transferTo": heir, "planRevision": revision }),
        )
        .await;
        assert_eq!(
            message(&refused),
            "You can't remove the user as they have active tokens.",
            "{refused}"
        );

        let deleted = delete(
            &app,
            boss,
            json!({ "user": leaver, "transferTo": heir, "revokeApiKeys": true,
                    "planRevision": revision }),
        )
        .await;
        assert_eq!(deleted["errors"], json!([]), "{deleted}");
        assert_eq!(
            deleted["user"],
            json!({ "username": "leaver", "email": "leaver@example.com", "status": "DELETED" })
        );
        assert_eq!(
            deleted["transfers"],
            json!([{ "resourceCount": 3, "reason": "USER_DELETED", "to": { "username": "heir" } }])
        );

        // The heir lists what they received; the schedule was disabled before it moved.
        let heir_token = app.token("heir", ADMIN_PASSWORD).await;
        let received = app
            .graphql(
                Some(&heir_token),
                "{ transferredResources { totalCount nodes { kind name enabled owner { username } \
                 transferHistory { disabledBeforeTransfer transfer { reason from { username status } \
                 initiatedBy { username } } } } } }",
                json!({}),
            )
            .await;
        let received = &received["data"]["transferredResources"];
        assert_eq!(received["totalCount"], 3, "{received}");
        let nodes = received["nodes"].as_array().expect("nodes");
        let nightly = nodes
            .iter()
            .find(|node| node["kind"] == "SCHEDULE")
            .expect("the schedule");
        assert_eq!(nightly["enabled"], false, "{nightly}");
        assert_eq!(nightly["owner"]["username"], "heir");
        assert_eq!(
            nightly["transferHistory"],
            json!([{ "disabledBeforeTransfer": true, "transfer": { "reason": "USER_DELETED",
                     "from": { "username": "leaver", "status": "DELETED" },
                     "initiatedBy": { "username": "boss" } } }])
        );
        assert!(nodes.iter().all(|node| node["enabled"] == true || node["kind"] == "SCHEDULE"));

        // Three kinds of notification: to the deleted user, the initiator, the new owner.
        app.mail_about("leaver@example.com", "account has been deleted")
            .await;
        app.mail_about("boss@example.com", "The account leaver on").await;
        app.mail_about("heir@example.com", "resources of the deleted account leaver")
            .await;

        // The tombstone shows on the user's API keys, revoked.
        let keys = app
            .graphql(
                Some(boss),
                "query($u: ID!) { apiKeys(user: $u, includeRevoked: true) { name revokedAt user { username status } } }",
                json!({ "u": leaver }),
            )
            .await;
        let key = &keys["data"]["apiKeys"][0];
        assert_eq!(key["user"], json!({ "username": "leaver", "status": "DELETED" }), "{keys}");
        assert!(key["revokedAt"].is_string(), "{keys}");
        // And the deleted user cannot log in.
        let login = app.login("leaver", ADMIN_PASSWORD).await;
        assert!(login["accessToken"].is_null(), "{login}");
        app
    })
    .await;
}

#[tokio::test]
async fn deletions_and_transfers_are_refused_with_messages_that_say_what_to_do() {
    on_each_backend(&[], |app| async move {
        let Story {
            org, leaver, heir, ..
        } = story(&app).await;
        let boss = &org.owner_token;

        // An active user is not deleted; the preflight says so first, in the same words.
        let active_plan = plan(&app, boss, &heir, None).await;
        assert_eq!(
            active_plan["refusals"][0],
            "cannot change the user's status from ACTIVE to DELETED: only a suspended user can \
             be deleted; suspend the user first",
            "{active_plan}"
        );
        let active = delete(&app, boss, json!({ "user": heir })).await;
        assert_eq!(
            message(&active),
            "cannot change the user's status from ACTIVE to DELETED: only a suspended user can \
             be deleted; suspend the user first",
            "{active}"
        );

        // An application-level resource is never transferred.
        let relay = app
            .graphql(
                Some(boss),
                "query($o: ID!) { resources(organization: $o, filter: {kind: \"MAIL_SERVER\"}) { nodes { id } } }",
                json!({ "o": org.id }),
            )
            .await["data"]["resources"]["nodes"][0]["id"]
            .clone();
        let application = app
            .graphql(Some(boss), TRANSFER, json!({ "i": { "resources": [relay], "to": heir } }))
            .await;
        assert_eq!(
            message(&application["data"]["transferResources"]),
            "resources: MAIL_SERVER is an application-level kind: its resources belong to the \
             application and are never transferred",
            "{application}"
        );

        // The organization's owner is neither suspended, deleted nor removed.
        let admin = app.admin_token().await;
        let boss_id = app.login("boss", ADMIN_PASSWORD).await["user"]["id"].clone();
        let owner = suspend(&app, &admin, boss_id.as_str().expect("id")).await;
        assert_eq!(
            owner["errors"][0]["message"],
            "the owner of the organization Leaving Ltd cannot be suspended; transfer the \
             organization's ownership to another member first",
            "{owner}"
        );
        let owner_plan = plan(&app, &admin, boss_id.as_str().expect("id"), None).await;
        assert_eq!(
            owner_plan["refusals"],
            json!([
                "cannot change the user's status from ACTIVE to DELETED: only a suspended user \
                 can be deleted; suspend the user first",
                "the owner of the organization Leaving Ltd cannot be deleted; transfer the \
                 organization's ownership to another member first"
            ])
        );

        // A plan that changed since the preflight is not carried out.
        let revision = plan(&app, boss, &leaver, None).await["revision"].clone();
        resource(&app, &org, "NOTEBOOK", "Late addition", Some(&leaver)).await;
        let stale = delete(
            &app,
            boss,
            json!({ "user": leaver, "revokeApiKeys": true, "planRevision": revision }),
        )
        .await;
        assert_eq!(stale["errors"][0]["field"], json!(["input", "planRevision"]), "{stale}");

        // A new owner outside the organization cannot receive anything.
        let outsider = app.create_user("outsider", ADMIN_PASSWORD).await;
        let elsewhere = plan(&app, boss, &leaver, Some(&outsider)).await;
        assert!(
            elsewhere["refusals"][0]
                .as_str()
                .is_some_and(|refusal| refusal.starts_with("outsider cannot receive the resources in Leaving Ltd")),
            "{elsewhere}"
        );
        let to_outsider = delete(
            &app,
            boss,
            json!({ "user": leaver, "transferTo": outsider, "revokeApiKeys": true }),
        )
        .await;
        assert_eq!(to_outsider["errors"][0]["code"], "FORBIDDEN", "{to_outsider}");

        // Someone who does not administer the user cannot even see the plan.
        let heir_token = app.token("heir", ADMIN_PASSWORD).await;
        let hidden = app
            .graphql(Some(&heir_token), PLAN, json!({ "u": leaver, "t": null }))
            .await;
        assert_eq!(error_code(&hidden), "FORBIDDEN", "{hidden}");
        app
    })
    .await;
}

/// Makes the deletion's last step (the tombstone) fail, after the resources have moved.
const FAIL_TOMBSTONE: [(&str, &str); 2] = [
    (
        "CREATE TRIGGER fail_tombstone BEFORE UPDATE OF status ON users \
         WHEN NEW.status = 'DELETED' BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
        "DROP TRIGGER fail_tombstone;",
    ),
    (
        "CREATE FUNCTION fail_tombstone() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN RAISE EXCEPTION 'injected failure'; END $$; \
         CREATE TRIGGER fail_tombstone BEFORE UPDATE OF status ON users FOR EACH ROW \
         WHEN (NEW.status = 'DELETED') EXECUTE FUNCTION fail_tombstone();",
        "DROP TRIGGER fail_tombstone ON users; DROP FUNCTION fail_tombstone();",
    ),
];

#[tokio::test]
async fn a_failure_in_the_middle_of_a_deletion_leaves_nothing_half_done() {
    on_each_backend(&[], |app| async move {
        let Story {
            org, leaver, heir, ..
        } = story(&app).await;
        let boss = &org.owner_token;
        let before = plan(&app, boss, &leaver, Some(&heir)).await;
        let (fail, repair) = match app.backend {
            steward_store::Backend::Sqlite => FAIL_TOMBSTONE[0],
            steward_store::Backend::Postgres => FAIL_TOMBSTONE[1],
        };
        app.database
            .execute_raw(fail)
            .await
            .expect("install the fault");

        let failed = app
            .graphql(
                Some(boss),
                DELETE,
                json!({ "i": { "user": leaver, "transferTo": heir, "revokeApiKeys": true } }),
            )
            .await;
        assert_eq!(error_code(&failed), "INTERNAL", "{failed}");

        // Everything is as it was: the same plan (same resources, owners, enabled schedule
        // and working API key), no transfer, the user still suspended, no mail queued.
        let after = plan(&app, boss, &leaver, Some(&heir)).await;
        assert_eq!(after, before);
        let heir_token = app.token("heir", ADMIN_PASSWORD).await;
        let received = app
            .graphql(
                Some(&heir_token),
                "{ transferredResources { totalCount } }",
                json!({}),
            )
            .await;
        assert_eq!(
            received["data"]["transferredResources"]["totalCount"], 0,
            "{received}"
        );
        let status = app
            .graphql(
                Some(boss),
                "query($u: ID!) { user(id: $u) { status } }",
                json!({ "u": leaver }),
            )
            .await;
        assert_eq!(status["data"]["user"]["status"], "SUSPENDED", "{status}");
        let (queued, _) = app
            .database
            .store
            .outbox_page(None, None, 100)
            .await
            .expect("outbox");
        assert!(
            queued
                .iter()
                .all(|notification| notification.kind != "ACCOUNT_DELETED"),
            "{queued:?}"
        );

        // Once the fault is gone, the same deletion goes through.
        app.database
            .execute_raw(repair)
            .await
            .expect("remove the fault");
        let deleted = delete(
            &app,
            boss,
            json!({ "user": leaver, "transferTo": heir, "revokeApiKeys": true,
                    "planRevision": before["revision"] }),
        )
        .await;
        assert_eq!(deleted["errors"], json!([]), "{deleted}");
        app
    })
    .await;
}

#[tokio::test]
async fn resources_are_transferred_one_by_one_or_all_at_once_and_members_are_removed() {
    on_each_backend(&[], |app| async move {
        let org = app.organization_owned_by("Movers", "mover").await;
        let alice = app.member_of(&org, "alice").await;
        let bob = app.member_of(&org, "bob").await;
        let board = resource(&app, &org, "DASHBOARD", "Board", Some(&alice)).await;
        resource(&app, &org, "SCHEDULE", "Hourly", Some(&alice)).await;
        resource(&app, &org, "VIEW", "Orders view", Some(&alice)).await;
        let boss = &org.owner_token;

        // Naming a resource twice moves it once.
        let one = app
            .graphql(Some(boss), TRANSFER, json!({ "i": { "resources": [board, board], "to": bob } }))
            .await;
        assert_eq!(
            one["data"]["transferResources"]["transfers"],
            json!([{ "resourceCount": 1, "reason": "TRANSFER", "from": { "username": "alice" },
                     "to": { "username": "bob" }, "initiatedBy": { "username": "mover" } }]),
            "{one}"
        );
        let again = app
            .graphql(Some(boss), TRANSFER, json!({ "i": { "resources": [board], "to": bob } }))
            .await;
        assert_eq!(
            again["data"]["transferResources"]["errors"][0]["field"],
            json!(["input", "to"]),
            "{again}"
        );
        let outsider = app.create_user("stranger", ADMIN_PASSWORD).await;
        let stranger = app
            .graphql(
                Some(boss),
                TRANSFER,
                json!({ "i": { "allOf": alice, "organization": org.id, "to": outsider } }),
            )
            .await;
        assert!(
            message(&stranger["data"]["transferResources"]).contains("active member"),
            "{stranger}"
        );
        let all = app
            .graphql(
                Some(boss),
                TRANSFER,
                json!({ "i": { "allOf": alice, "organization": org.id, "to": bob } }),
            )
            .await;
        assert_eq!(
            all["data"]["transferResources"]["transfers"][0]["resourceCount"], 2,
            "{all}"
        );
        app.mail_about("bob@example.com", "Resources of alice have been transferred")
            .await;

        // A viewer transfers nothing.
        let viewer = app.token("alice", ADMIN_PASSWORD).await;
        let forbidden = app
            .graphql(Some(&viewer), TRANSFER, json!({ "i": { "resources": [board], "to": alice } }))
            .await;
        assert_eq!(error_code(&forbidden), "FORBIDDEN", "{forbidden}");

        // Removing bob: his resources go to the owner, his membership ends, he stays.
        let removed = app
            .graphql(
                Some(boss),
                "mutation($o: ID!, $u: ID!) { removeMember(input: {organization: $o, user: $u}) { \
                 transfers { resourceCount reason to { username } } errors { message } } }",
                json!({ "o": org.id, "u": bob }),
            )
            .await;
        assert_eq!(
            removed["data"]["removeMember"]["transfers"],
            json!([{ "resourceCount": 3, "reason": "MEMBERSHIP_REMOVED", "to": { "username": "mover" } }]),
            "{removed}"
        );
        app.mail_about("bob@example.com", "You have been removed from Movers")
            .await;
        let bob_token = app.token("bob", ADMIN_PASSWORD).await;
        let gone = app
            .graphql(Some(&bob_token), "{ me { status memberships { organization { name } } } }", json!({}))
            .await;
        assert_eq!(gone["data"]["me"]["status"], "ACTIVE", "{gone}");
        assert_eq!(gone["data"]["me"]["memberships"], json!([]), "{gone}");
        let owner_removal = app
            .graphql(
                Some(&app.admin_token().await),
                "query($o: ID!, $u: ID!) { removalPlan(organization: $o, user: $u) { refusals } }",
                json!({ "o": org.id, "u": app.login("mover", ADMIN_PASSWORD).await["user"]["id"] }),
            )
            .await;
        assert_eq!(
            owner_removal["data"]["removalPlan"]["refusals"],
            json!(["the owner of the organization Movers cannot be removed; transfer the \
                    organization's ownership to another member first"]),
            "{owner_removal}"
        );
        app
    })
    .await;
}

const DELETE_MINE: &str = "mutation($p: String!, $j: String!) { deleteMyAccount(input: \
    {password: $p, justification: $j}) { user { status deletionRequestedAt deletedAt } \
    errors { field message } } }";
const WHY: &str = "I am leaving the company at the end of the month";

#[tokio::test]
async fn deleting_my_account_waits_for_holds_and_can_be_restored_until_purged() {
    on_each_backend(&[], |app| async move {
        let org = app.organization_owned_by("Holdco", "holder").await;
        let quitter = app.member_of(&org, "quitter").await;
        resource(&app, &org, "NOTEBOOK", "Scratch", Some(&quitter)).await;
        let admin = app.admin_token().await;
        let session = app.token("quitter", ADMIN_PASSWORD).await;

        // Wrong password, or too short a reason: nothing happens.
        let wrong = app
            .graphql(Some(&session), DELETE_MINE, json!({ "p": "not my password", "j": WHY }))
            .await;
        assert_eq!(
            wrong["data"]["deleteMyAccount"]["errors"][0]["field"],
            json!(["input", "password"]),
            "{wrong}"
        );
        let curt = app
            .graphql(Some(&session), DELETE_MINE, json!({ "p": ADMIN_PASSWORD, "j": "bye" }))
            .await;
        assert_eq!(
            curt["data"]["deleteMyAccount"]["errors"][0]["field"],
            json!(["input", "justification"]),
            "{curt}"
        );

        // Billing holds the deletion; the account is pending at once and cannot log in.
        let hold = app
            .graphql(
                Some(&admin),
                "mutation($u: ID!) { placeDeletionHold(input: {user: $u, reason: \"unpaid invoice 2027-114\"}) { \
                 deletionHold { id reason releasedAt placedBy { username } } errors { message } } }",
                json!({ "u": quitter }),
            )
            .await;
        let hold = hold["data"]["placeDeletionHold"]["deletionHold"].clone();
        assert_eq!(hold["placedBy"]["username"], "admin", "{hold}");
        let pending = app
            .graphql(Some(&session), DELETE_MINE, json!({ "p": ADMIN_PASSWORD, "j": WHY }))
            .await;
        let pending = &pending["data"]["deleteMyAccount"];
        assert_eq!(pending["errors"], json!([]), "{pending}");
        assert_eq!(pending["user"]["status"], "PENDING_DELETION", "{pending}");
        assert!(pending["user"]["deletionRequestedAt"].is_string());
        assert!(app.login("quitter", ADMIN_PASSWORD).await["accessToken"].is_null());
        let me = app.graphql(Some(&session), "{ me { username } }", json!({})).await;
        assert!(me["data"]["me"].is_null(), "the session ended: {me}");

        // A SuperAdmin may restore the account while it is pending.
        let restored = app
            .graphql(
                Some(&admin),
                "mutation($u: ID!) { restoreUser(user: $u) { user { status deletionHolds { reason } } errors { message } } }",
                json!({ "u": quitter }),
            )
            .await;
        assert_eq!(
            restored["data"]["restoreUser"]["user"],
            json!({ "status": "ACTIVE", "deletionHolds": [{ "reason": "unpaid invoice 2027-114" }] }),
            "{restored}"
        );
        let session = app.token("quitter", ADMIN_PASSWORD).await;
        app.graphql(Some(&session), DELETE_MINE, json!({ "p": ADMIN_PASSWORD, "j": WHY }))
            .await;

        // Releasing the last hold purges the account: its notebook goes to the owner.
        let released = app
            .graphql(
                Some(&admin),
                "mutation($h: ID!) { releaseDeletionHold(id: $h) { deletionHold { releasedAt user { status deletedAt } } errors { message } } }",
                json!({ "h": hold["id"] }),
            )
            .await;
        let released = &released["data"]["releaseDeletionHold"]["deletionHold"];
        assert!(released["releasedAt"].is_string(), "{released}");
        assert_eq!(released["user"]["status"], "DELETED", "{released}");
        assert!(released["user"]["deletedAt"].is_string(), "{released}");
        let received = app
            .graphql(
                Some(&org.owner_token),
                "{ transferredResources { nodes { name transferHistory { transfer { reason initiatedBy { username } } } } } }",
                json!({}),
            )
            .await;
        assert_eq!(
            received["data"]["transferredResources"]["nodes"],
            json!([{ "name": "Scratch", "transferHistory": [{ "transfer": {
                "reason": "USER_DELETED", "initiatedBy": null } }] }]),
            "{received}"
        );
        app.mail_about("quitter@example.com", "account has been deleted")
            .await;

        // Without a hold the purge is immediate; an organization's owner is refused.
        app.member_of(&org, "sprinter").await;
        let sprinter = app.token("sprinter", ADMIN_PASSWORD).await;
        let gone = app
            .graphql(Some(&sprinter), DELETE_MINE, json!({ "p": ADMIN_PASSWORD, "j": WHY }))
            .await;
        assert_eq!(gone["data"]["deleteMyAccount"]["user"]["status"], "DELETED", "{gone}");
        let owner = app
            .graphql(Some(&org.owner_token), DELETE_MINE, json!({ "p": ADMIN_PASSWORD, "j": WHY }))
            .await;
        assert_eq!(
            owner["data"]["deleteMyAccount"]["errors"][0]["message"],
            "the owner of the organization Holdco cannot be deleted; transfer the \
             organization's ownership to another member first",
            "{owner}"
        );
        // Holds are for SuperAdmins (and their services) only.
        let refused = app
            .graphql(
                Some(&org.owner_token),
                "mutation($u: ID!) { placeDeletionHold(input: {user: $u, reason: \"mine\"}) { errors { message } } }",
                json!({ "u": quitter }),
            )
            .await;
        assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
        app
    })
    .await;
}
