//! Sharing resources with users and groups over HTTP, the lists of what is shared, and
//! `updateResource`: who may do what, and each refusal saying why.

use serde_json::{Value, json};

use crate::support::{TestApp, TestOrg, error_code, on_each_backend};

const PASSWORD: &str = "correct horse battery staple 42";
const SHARE: &str = "mutation($i: ShareResourceInput!) { shareResource(input: $i) { \
    resource { name shares { user { username } group { name } access } } \
    errors { field code message } } }";
const UNSHARE: &str = "mutation($i: UnshareResourceInput!) { unshareResource(input: $i) { \
    resource { shares { user { username } group { name } access } } \
    errors { field code message } } }";
const UPDATE: &str = "mutation($i: UpdateResourceInput!) { updateResource(input: $i) { \
    resource { name enabled project { name } owner { username } } \
    errors { field code message } } }";

/// An organization with members `alice` (who owns the `Sales` dashboard), `bob` and `carol`
/// (Viewers), a group `Analysts` with carol, an archived group, a project, and the
/// application-level `Relay` mail server.
struct SharingOrg {
    org: TestOrg,
    alice: String,
    bob: String,
    carol: String,
    analysts: String,
    archived: String,
    project: String,
    dashboard: String,
    mail_server: String,
}

async fn run(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    app.graphql(Some(token), query, variables).await
}

/// Creates a group or a project (`what`) called `name` in `organization` and returns its id.
async fn create(app: &TestApp, token: &str, what: &str, organization: &str, name: &str) -> String {
    let field = what.to_lowercase();
    let body = run(
        app,
        token,
        &format!(
            "mutation($o: ID!, $n: String!) {{ create{what}(input: {{organization: $o, name: $n}}) {{ {field} {{ id }} }} }}"
        ),
        json!({ "o": organization, "n": name }),
    )
    .await;
    body["data"][format!("create{what}")][&field]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("create{what}: {body}"))
        .to_owned()
}

async fn sharing_org(app: &TestApp) -> SharingOrg {
    let org = app.organization_owned_by("Shareco", "shareowner").await;
    let admin = org.owner_token.clone();
    let mut members = Vec::new();
    for name in ["alice", "bob", "carol"] {
        let user = app.create_user(name, PASSWORD).await;
        // As a SuperAdmin: anyone else's `addMember` only invites.
        run(
            app,
            &app.admin_token().await,
            "mutation($o: ID!, $u: ID!, $r: ID!) { addMember(input: {organization: $o, user: $u, role: $r}) { errors { message } } }",
            json!({ "o": org.id, "u": user, "r": org.viewer }),
        )
        .await;
        members.push(user);
    }
    let [alice, bob, carol] = <[String; 3]>::try_from(members).expect("three members");
    let analysts = create(app, &admin, "Group", &org.id, "Analysts").await;
    let archived = create(app, &admin, "Group", &org.id, "Former").await;
    run(
        app,
        &admin,
        "mutation($g: ID!, $u: ID!) { addGroupMember(input: {group: $g, user: $u}) { errors { message } } }",
        json!({ "g": analysts, "u": carol }),
    )
    .await;
    run(
        app,
        &admin,
        "mutation($g: ID!) { archiveGroup(group: $g) { errors { message } } }",
        json!({ "g": archived }),
    )
    .await;
    let project = create(app, &admin, "Project", &org.id, "Lake").await;
    let register = "mutation($i: RegisterResourceInput!) { registerResource(input: $i) { \
                    resource { id } errors { message } } }";
    let dashboard = run(
        app,
        &admin,
        register,
        json!({ "i": { "organization": org.id, "kind": "SCHEDULE", "name": "Sales",
                       "externalId": "sched-1", "owner": alice } }),
    )
    .await;
    let dashboard = dashboard["data"]["registerResource"]["resource"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("resource: {dashboard}"))
        .to_owned();
    let mail_server = run(
        app,
        &admin,
        register,
        json!({ "i": { "organization": org.id, "kind": "MAIL_SERVER", "name": "Relay",
                       "externalId": "smtp-1" } }),
    )
    .await["data"]["registerResource"]["resource"]["id"]
        .as_str()
        .expect("mail server")
        .to_owned();
    SharingOrg {
        org,
        alice,
        bob,
        carol,
        analysts,
        archived,
        project,
        dashboard,
        mail_server,
    }
}

fn payload<'a>(body: &'a Value, mutation: &str) -> &'a Value {
    &body["data"][mutation]
}

#[tokio::test]
async fn an_owner_shares_with_users_and_groups_and_the_widest_access_wins() {
    on_each_backend(&[], |app| async move {
        let s = sharing_org(&app).await;
        let alice = app.token("alice", PASSWORD).await;
        let admin = s.org.owner_token.clone();

        // The owner, a mere Viewer, shares their own resource; sharing again changes the
        // access instead of adding a second share.
        let read = run(&app, &alice, SHARE, json!({ "i": { "resource": s.dashboard, "user": s.bob, "access": "READ" } })).await;
        assert_eq!(payload(&read, "shareResource")["errors"], json!([]), "{read}");
        let write = run(&app, &alice, SHARE, json!({ "i": { "resource": s.dashboard, "user": s.bob, "access": "WRITE" } })).await;
        assert_eq!(
            payload(&write, "shareResource")["resource"]["shares"],
            json!([{ "user": { "username": "bob" }, "group": null, "access": "WRITE" }]),
            "{write}"
        );

        // An administrator (RESOURCES/MANAGE) shares it with a group: carol holds READ through
        // it, then WRITE once it is also shared with her directly.
        let group = run(&app, &admin, SHARE, json!({ "i": { "resource": s.dashboard, "group": s.analysts, "access": "READ" } })).await;
        assert_eq!(payload(&group, "shareResource")["errors"], json!([]), "{group}");
        let carol = app.token("carol", PASSWORD).await;
        let shared = "{ me { sharedResources { access resource { name } } \
                      schedules: sharedResources(kind: \"SCHEDULE\") { access } \
                      dashboards: sharedResources(kind: \"DASHBOARD\") { access } } }";
        let via_group = run(&app, &carol, shared, json!({})).await;
        assert_eq!(
            via_group["data"]["me"]["sharedResources"],
            json!([{ "access": "READ", "resource": { "name": "Sales" } }]),
            "{via_group}"
        );
        assert_eq!(via_group["data"]["me"]["schedules"], json!([{ "access": "READ" }]));
        assert_eq!(via_group["data"]["me"]["dashboards"], json!([]));
        run(&app, &admin, SHARE, json!({ "i": { "resource": s.dashboard, "user": s.carol, "access": "WRITE" } })).await;
        let both = run(&app, &carol, shared, json!({})).await;
        assert_eq!(
            both["data"]["me"]["sharedResources"],
            json!([{ "access": "WRITE", "resource": { "name": "Sales" } }]),
            "{both}"
        );

        // The organization's list filtered on whom it is shared with, directly or not.
        let filtered = "query($o: ID!, $u: ID!) { resources(organization: $o, filter: {sharedWith: $u}) { \
                        totalCount nodes { name shares { access } } } }";
        for (user, expected) in [(&s.carol, 1), (&s.bob, 1), (&s.alice, 0)] {
            let listed = run(&app, &admin, filtered, json!({ "o": s.org.id, "u": user })).await;
            assert_eq!(listed["data"]["resources"]["totalCount"], expected, "{listed}");
        }
        // A Viewer of the organization sees what is shared with carol; an administrator of
        // another organization does not.
        let bob = app.token("bob", PASSWORD).await;
        let of_carol = "query($u: ID!) { user(id: $u) { sharedResources { access } } }";
        let seen = run(&app, &bob, of_carol, json!({ "u": s.carol })).await;
        assert_eq!(seen["data"]["user"]["sharedResources"], json!([{ "access": "WRITE" }]), "{seen}");
        let other = app.organization_owned_by("Otherco", "otherowner").await;
        let hidden = run(&app, &other.owner_token, of_carol, json!({ "u": s.carol })).await;
        assert!(hidden["data"]["user"].is_null(), "{hidden}");

        // Taking a share back, and a share that is not there.
        let unshared = run(&app, &alice, UNSHARE, json!({ "i": { "resource": s.dashboard, "user": s.bob } })).await;
        let shares = &payload(&unshared, "unshareResource")["resource"]["shares"];
        assert_eq!(shares.as_array().map(Vec::len), Some(2), "{unshared}");
        assert!(!shares.to_string().contains("bob"), "{unshared}");
        let again = run(&app, &alice, UNSHARE, json!({ "i": { "resource": s.dashboard, "user": s.bob } })).await;
        assert_eq!(payload(&again, "unshareResource")["errors"][0]["code"], "NOT_FOUND", "{again}");
        let group_gone = run(&app, &admin, UNSHARE, json!({ "i": { "resource": s.dashboard, "group": s.analysts } })).await;
        assert_eq!(payload(&group_gone, "unshareResource")["errors"], json!([]), "{group_gone}");

        // Each change is in the audit trail.
        let audit = run(
            &app,
            &admin,
            "query($o: ID!) { shared: auditEvents(filter: {organization: $o, action: \"resource.shared\"}) { totalCount } \
             unshared: auditEvents(filter: {organization: $o, action: \"resource.unshared\"}) { totalCount } }",
            json!({ "o": s.org.id }),
        )
        .await;
        assert_eq!(audit["data"]["shared"]["totalCount"], 4, "{audit}");
        assert_eq!(audit["data"]["unshared"]["totalCount"], 2, "{audit}");
        app
    })
    .await;
}

#[tokio::test]
async fn sharing_is_refused_with_a_reason_and_only_the_owner_or_a_manager_shares() {
    on_each_backend(&[], |app| async move {
        let s = sharing_org(&app).await;
        let admin = s.org.owner_token.clone();
        let other = app.organization_owned_by("Otherco", "otherowner").await;
        let their_group = create(&app, &other.owner_token, "Group", &other.id, "Theirs").await;
        let outsider = app.create_user("outsider", PASSWORD).await;

        for (input, code, words) in [
            (
                json!({ "user": s.bob, "group": s.analysts }),
                "INVALID",
                "exactly one",
            ),
            (json!({}), "INVALID", "exactly one"),
            (json!({ "user": outsider }), "INVALID", "active member"),
            (json!({ "user": s.alice }), "INVALID", "owns the resource"),
            (
                json!({ "group": their_group }),
                "NOT_FOUND",
                "group was not found",
            ),
            (json!({ "group": s.archived }), "INVALID", "archived"),
            (
                json!({ "resource": s.mail_server, "user": s.bob }),
                "INVALID",
                "application-level",
            ),
        ] {
            let mut share = json!({ "resource": s.dashboard, "access": "READ" });
            for (key, value) in input.as_object().expect("object") {
                share[key] = value.clone();
            }
            let refused = run(&app, &admin, SHARE, json!({ "i": share })).await;
            let error = &payload(&refused, "shareResource")["errors"][0];
            assert_eq!(error["code"], code, "{refused}");
            assert!(
                error["message"].as_str().is_some_and(|m| m.contains(words)),
                "{words}: {refused}"
            );
        }

        // A Viewer who does not own it, and another organization's administrator, may not.
        let bob = app.token("bob", PASSWORD).await;
        let input = json!({ "i": { "resource": s.dashboard, "user": s.carol, "access": "READ" } });
        let viewer = run(&app, &bob, SHARE, input.clone()).await;
        assert_eq!(error_code(&viewer), "FORBIDDEN", "{viewer}");
        let elsewhere = run(&app, &other.owner_token, SHARE, input).await;
        assert_eq!(error_code(&elsewhere), "NOT_FOUND", "{elsewhere}");
        let take_back = run(
            &app,
            &other.owner_token,
            UNSHARE,
            json!({ "i": { "resource": s.dashboard, "user": s.carol } }),
        )
        .await;
        assert_eq!(error_code(&take_back), "NOT_FOUND", "{take_back}");
        app
    })
    .await;
}

#[tokio::test]
async fn a_resource_manager_renames_moves_and_re_enables_a_resource_but_not_across_organizations() {
    on_each_backend(&[], |app| async move {
        let s = sharing_org(&app).await;
        let admin = s.org.owner_token.clone();

        let moved = run(
            &app,
            &admin,
            UPDATE,
            json!({ "i": { "id": s.dashboard, "name": "Sales nightly", "project": s.project, "enabled": false } }),
        )
        .await;
        assert_eq!(
            payload(&moved, "updateResource")["resource"],
            json!({ "name": "Sales nightly", "enabled": false, "project": { "name": "Lake" },
                    "owner": { "username": "alice" } }),
            "{moved}"
        );
        // Only what is given changes: enabling keeps the name and the project; a null
        // project takes it out of its project.
        let enabled = run(&app, &admin, UPDATE, json!({ "i": { "id": s.dashboard, "enabled": true } })).await;
        assert_eq!(
            payload(&enabled, "updateResource")["resource"],
            json!({ "name": "Sales nightly", "enabled": true, "project": { "name": "Lake" },
                    "owner": { "username": "alice" } }),
            "{enabled}"
        );
        let out = run(&app, &admin, UPDATE, json!({ "i": { "id": s.dashboard, "project": null } })).await;
        assert_eq!(payload(&out, "updateResource")["resource"]["project"], json!(null), "{out}");

        let other = app.organization_owned_by("Otherco", "otherowner").await;
        let their_project =
            create(&app, &other.owner_token, "Project", &other.id, "Theirs").await;
        let across = run(&app, &admin, UPDATE, json!({ "i": { "id": s.dashboard, "project": their_project } })).await;
        assert_eq!(payload(&across, "updateResource")["errors"][0]["code"], "NOT_FOUND", "{across}");
        let blank = run(&app, &admin, UPDATE, json!({ "i": { "id": s.dashboard, "name": " " } })).await;
        assert_eq!(
            payload(&blank, "updateResource")["errors"][0]["field"],
            json!(["input", "name"]),
            "{blank}"
        );

        // The owner, a Viewer, does not manage resources; another organization does not see
        // it.
        let alice = app.token("alice", PASSWORD).await;
        let owner = run(&app, &alice, UPDATE, json!({ "i": { "id": s.dashboard, "enabled": false } })).await;
        assert_eq!(error_code(&owner), "FORBIDDEN", "{owner}");
        let elsewhere = run(&app, &other.owner_token, UPDATE, json!({ "i": { "id": s.dashboard, "enabled": false } })).await;
        assert_eq!(error_code(&elsewhere), "NOT_FOUND", "{elsewhere}");

        let audit = run(
            &app,
            &admin,
            "query($o: ID!) { auditEvents(filter: {organization: $o, action: \"resource.updated\"}) { totalCount } }",
            json!({ "o": s.org.id }),
        )
        .await;
        assert_eq!(audit["data"]["auditEvents"]["totalCount"], 3, "{audit}");
        app
    })
    .await;
}
