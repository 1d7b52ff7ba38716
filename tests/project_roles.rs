//! Roles bound for one project grant their permissions in that project, and only there:
//! through a direct binding and through a group, and whichever role the session has
//! switched to.

use serde_json::{Value, json};

use crate::support::{ADMIN_PASSWORD, TestApp, TestOrg, error_code, on_each_backend};

const REGISTER: &str = "mutation($i: RegisterResourceInput!) { registerResource(input: $i) { \
    resource { id project { id } } errors { code message } } }";
const UPDATE: &str = "mutation($i: UpdateResourceInput!) { updateResource(input: $i) { \
    resource { name project { id } } errors { code message } } }";
const SHARE: &str = "mutation($i: ShareResourceInput!) { shareResource(input: $i) { \
    resource { shares { user { username } } } errors { code message } } }";
const TRANSFER: &str = "mutation($i: TransferResourcesInput!) { transferResources(input: $i) { \
    transfers { resourceCount } errors { code message } } }";
const DELETE: &str = "mutation($id: ID!) { deleteResource(id: $id) { \
    resource { id } errors { code message } } }";
const RENAME_PROJECT: &str = "mutation($p: ID!, $n: String!) { renameProject(input: \
    {project: $p, name: $n}) { project { name } errors { code message } } }";

/// An organization with projects `Lake` and `Shore`, a custom role `Lake keeper`
/// (`RESOURCES/MANAGE` and `ORGANIZATION/MANAGE`) bound for `Lake` to the Viewer `dana`
/// directly and to the Viewer `eve` through the group `Lakers`, and a dashboard in `Shore`.
struct ProjectOrg {
    org: TestOrg,
    lake: String,
    shore: String,
    dana: String,
    eve: String,
    in_shore: String,
}

/// Runs `query` as `token` and returns the mutation's payload `field`, asserting that the
/// request itself raised no GraphQL error.
async fn payload(app: &TestApp, token: &str, query: &str, variables: Value, field: &str) -> Value {
    let body = app.graphql(Some(token), query, variables).await;
    assert!(
        body.get("errors").is_none(),
        "{:?}: {field}: {body}",
        app.backend
    );
    body["data"][field].clone()
}

/// Runs `query` as `token` and asserts that it was refused with FORBIDDEN.
async fn forbidden(app: &TestApp, token: &str, query: &str, variables: Value, what: &str) {
    let body = app.graphql(Some(token), query, variables).await;
    assert_eq!(
        error_code(&body),
        "FORBIDDEN",
        "{:?}: {what}: {body}",
        app.backend
    );
}

/// The id at `path` of a mutation's payload, asserting the payload has no errors.
fn id_of(app: &TestApp, payload: &Value, path: &[&str]) -> String {
    assert_eq!(payload["errors"], json!([]), "{:?}: {payload}", app.backend);
    let mut value = payload;
    for key in path {
        value = &value[*key];
    }
    value
        .as_str()
        .unwrap_or_else(|| panic!("{:?}: no {path:?} in {payload}", app.backend))
        .to_owned()
}

async fn project_org(app: &TestApp) -> ProjectOrg {
    let org = app.organization_owned_by("Projco", "projowner").await;
    let admin = org.owner_token.clone();
    let mut projects = Vec::new();
    for name in ["Lake", "Shore"] {
        let created = payload(
            app,
            &admin,
            "mutation($o: ID!, $n: String!) { createProject(input: {organization: $o, name: $n}) \
             { project { id } errors { code message } } }",
            json!({ "o": org.id, "n": name }),
            "createProject",
        )
        .await;
        projects.push(id_of(app, &created, &["project", "id"]));
    }
    let [lake, shore] = <[String; 2]>::try_from(projects).expect("two projects");
    let keeper = payload(
        app,
        &admin,
        "mutation($o: ID!) { createRole(input: {organization: $o, name: \"Lake keeper\", \
         permissions: [{area: RESOURCES, level: MANAGE}, {area: ORGANIZATION, level: MANAGE}]}) \
         { role { id } errors { code message } } }",
        json!({ "o": org.id }),
        "createRole",
    )
    .await;
    let keeper = id_of(app, &keeper, &["role", "id"]);
    let dana = app.member_of(&org, "dana").await;
    let eve = app.member_of(&org, "eve").await;
    let lakers = payload(
        app,
        &admin,
        "mutation($o: ID!) { createGroup(input: {organization: $o, name: \"Lakers\"}) \
         { group { id } errors { code message } } }",
        json!({ "o": org.id }),
        "createGroup",
    )
    .await;
    let lakers = id_of(app, &lakers, &["group", "id"]);
    let added = payload(
        app,
        &admin,
        "mutation($g: ID!, $u: ID!) { addGroupMember(input: {group: $g, user: $u}) \
         { errors { code message } } }",
        json!({ "g": lakers, "u": eve }),
        "addGroupMember",
    )
    .await;
    assert_eq!(added["errors"], json!([]), "{:?}: {added}", app.backend);
    for subject in [json!({ "user": dana }), json!({ "group": lakers })] {
        let mut input = json!({ "role": keeper, "project": lake });
        input
            .as_object_mut()
            .expect("object")
            .extend(subject.as_object().expect("object").clone());
        let bound = payload(
            app,
            &admin,
            "mutation($i: BindRoleInput!) { bindRole(input: $i) { bindingId errors { code message } } }",
            json!({ "i": input }),
            "bindRole",
        )
        .await;
        id_of(app, &bound, &["bindingId"]);
    }
    let in_shore = payload(
        app,
        &admin,
        REGISTER,
        json!({ "i": { "organization": org.id, "kind": "DASHBOARD", "name": "Tides",
                       "externalId": "shore-1", "project": shore, "owner": dana } }),
        "registerResource",
    )
    .await;
    let in_shore = id_of(app, &in_shore, &["resource", "id"]);
    ProjectOrg {
        org,
        lake,
        shore,
        dana,
        eve,
        in_shore,
    }
}

/// Walks what a holder of `Lake keeper` for `Lake` may do there and not elsewhere, as
/// `token`; `holder` is the holder's id, `label` names the case in failures and external ids.
async fn acts_in_its_project_only(
    app: &TestApp,
    setup: &ProjectOrg,
    token: &str,
    holder: &str,
    label: &str,
) {
    let org = &setup.org.id;
    // Registering: in its project, not in the other one, not outside every project.
    let registered = payload(
        app,
        token,
        REGISTER,
        json!({ "i": { "organization": org, "kind": "DASHBOARD", "name": "Levels",
                       "externalId": format!("lake-{label}"), "project": setup.lake,
                       "owner": holder } }),
        "registerResource",
    )
    .await;
    let in_lake = id_of(app, &registered, &["resource", "id"]);
    assert_eq!(
        registered["resource"]["project"]["id"], setup.lake,
        "{:?}: {label}",
        app.backend
    );
    for (project, what) in [
        (json!(setup.shore), "another project"),
        (json!(null), "none"),
    ] {
        forbidden(
            app,
            token,
            REGISTER,
            json!({ "i": { "organization": org, "kind": "DASHBOARD", "name": "Stray",
                           "externalId": format!("stray-{label}"), "project": project,
                           "owner": holder } }),
            &format!("{label}: register in {what}"),
        )
        .await;
    }

    // Changing: a resource in its project, but not moving it out, nor one elsewhere.
    let renamed = payload(
        app,
        token,
        UPDATE,
        json!({ "i": { "id": in_lake, "name": "Water levels" } }),
        "updateResource",
    )
    .await;
    assert_eq!(
        renamed["resource"]["name"], "Water levels",
        "{:?}: {label}: {renamed}",
        app.backend
    );
    for (project, what) in [
        (json!(setup.shore), "another project"),
        (json!(null), "none"),
    ] {
        forbidden(
            app,
            token,
            UPDATE,
            json!({ "i": { "id": in_lake, "project": project } }),
            &format!("{label}: move to {what}"),
        )
        .await;
    }
    forbidden(
        app,
        token,
        UPDATE,
        json!({ "i": { "id": setup.in_shore, "name": "Mine now" } }),
        &format!("{label}: change elsewhere"),
    )
    .await;

    // Sharing, transferring and deleting follow the resource's project too.
    let shared = payload(
        app,
        token,
        SHARE,
        json!({ "i": { "resource": in_lake, "user": setup.peer_of(holder), "access": "READ" } }),
        "shareResource",
    )
    .await;
    assert_eq!(
        shared["errors"],
        json!([]),
        "{:?}: {label}: {shared}",
        app.backend
    );
    // dana owns the dashboard in Shore, so she may share it as its owner, not as a keeper;
    // eve may not share it at all.
    if holder == setup.eve {
        forbidden(
            app,
            token,
            SHARE,
            json!({ "i": { "resource": setup.in_shore, "user": setup.dana, "access": "READ" } }),
            &format!("{label}: share elsewhere"),
        )
        .await;
    }
    let moved = payload(
        app,
        token,
        TRANSFER,
        json!({ "i": { "resources": [in_lake], "to": setup.peer_of(holder) } }),
        "transferResources",
    )
    .await;
    assert_eq!(
        moved["transfers"],
        json!([{ "resourceCount": 1 }]),
        "{:?}: {label}: {moved}",
        app.backend
    );
    forbidden(
        app,
        token,
        TRANSFER,
        json!({ "i": { "resources": [setup.in_shore], "to": setup.eve } }),
        &format!("{label}: transfer elsewhere"),
    )
    .await;
    forbidden(
        app,
        token,
        TRANSFER,
        json!({ "i": { "allOf": setup.dana, "organization": org, "to": setup.eve } }),
        &format!("{label}: transfer all of a user's"),
    )
    .await;
    forbidden(
        app,
        token,
        DELETE,
        json!({ "id": setup.in_shore }),
        &format!("{label}: delete elsewhere"),
    )
    .await;
    let deleted = payload(
        app,
        token,
        DELETE,
        json!({ "id": in_lake }),
        "deleteResource",
    )
    .await;
    assert_eq!(
        deleted["resource"]["id"], in_lake,
        "{:?}: {label}: {deleted}",
        app.backend
    );

    // The project itself, with the role's ORGANIZATION/MANAGE: this one, not the other,
    // and nothing organization-wide.
    let project = payload(
        app,
        token,
        RENAME_PROJECT,
        json!({ "p": setup.lake, "n": format!("Lake {label}") }),
        "renameProject",
    )
    .await;
    assert_eq!(
        project["project"]["name"],
        format!("Lake {label}"),
        "{:?}: {label}: {project}",
        app.backend
    );
    forbidden(
        app,
        token,
        RENAME_PROJECT,
        json!({ "p": setup.shore, "n": "Dry" }),
        &format!("{label}: rename another project"),
    )
    .await;
    forbidden(
        app,
        token,
        "mutation($o: ID!) { createProject(input: {organization: $o, name: \"Pond\"}) \
         { project { id } } }",
        json!({ "o": org }),
        &format!("{label}: create a project"),
    )
    .await;
    forbidden(
        app,
        token,
        "mutation($o: ID!) { renameOrganization(input: {organization: $o, name: \"Mine\"}) \
         { organization { name } } }",
        json!({ "o": org }),
        &format!("{label}: rename the organization"),
    )
    .await;
}

impl ProjectOrg {
    /// Another member for `holder` to share with and hand resources to.
    fn peer_of(&self, holder: &str) -> &str {
        if holder == self.dana {
            &self.eve
        } else {
            &self.dana
        }
    }
}

#[tokio::test]
async fn a_role_bound_for_a_project_grants_there_directly_and_through_a_group() {
    on_each_backend(&[], |app| async move {
        let setup = project_org(&app).await;
        let dana = app.token("dana", ADMIN_PASSWORD).await;
        acts_in_its_project_only(&app, &setup, &dana, &setup.dana, "direct").await;
        let eve = app.token("eve", ADMIN_PASSWORD).await;
        acts_in_its_project_only(&app, &setup, &eve, &setup.eve, "group").await;
        app
    })
    .await;
}

#[tokio::test]
async fn switching_the_active_role_keeps_the_project_bindings() {
    on_each_backend(&[], |app| async move {
        let setup = project_org(&app).await;
        let admin = &setup.org.owner_token;
        let operator = app.role_id(admin, &setup.org.id, "Operator").await;
        let bound = payload(
            &app,
            admin,
            "mutation($r: ID!, $u: ID!) { bindRole(input: {role: $r, user: $u}) \
             { bindingId errors { code message } } }",
            json!({ "r": operator, "u": setup.dana }),
            "bindRole",
        )
        .await;
        id_of(&app, &bound, &["bindingId"]);
        let token = app.token("dana", ADMIN_PASSWORD).await;
        let switched = payload(
            &app,
            &token,
            "mutation($o: ID!, $r: ID!) { switchRole(input: {organization: $o, role: $r}) \
             { accessToken errors { code message } } }",
            json!({ "o": setup.org.id, "r": operator }),
            "switchRole",
        )
        .await;
        let as_operator = id_of(&app, &switched, &["accessToken"]);
        acts_in_its_project_only(&app, &setup, &as_operator, &setup.dana, "switched").await;
        app
    })
    .await;
}

#[tokio::test]
async fn an_api_key_holds_the_project_bindings_of_its_roles_only() {
    on_each_backend(&[], |app| async move {
        let setup = project_org(&app).await;
        let admin = &setup.org.owner_token;
        let org = &setup.org.id;
        let operator = app.role_id(admin, org, "Operator").await;
        let keeper = app.role_id(admin, org, "Lake keeper").await;
        let bound = payload(
            &app,
            admin,
            "mutation($r: ID!, $u: ID!) { bindRole(input: {role: $r, user: $u}) \
             { bindingId errors { code message } } }",
            json!({ "r": operator, "u": setup.dana }),
            "bindRole",
        )
        .await;
        id_of(&app, &bound, &["bindingId"]);
        let session = app.token("dana", ADMIN_PASSWORD).await;
        let register_in_lake = |external_id: &str| {
            json!({ "i": { "organization": org, "kind": "DASHBOARD", "name": "Levels",
                           "externalId": external_id, "project": setup.lake,
                           "owner": setup.dana } })
        };
        for (name, roles, allowed) in [
            ("default role", json!([]), true),
            ("keeper", json!([keeper]), true),
            ("operator", json!([operator]), false),
        ] {
            let created = payload(
                &app,
                &session,
                "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { token \
                 errors { code message } } }",
                json!({ "i": { "name": name, "organization": org, "roles": roles } }),
                "createApiKey",
            )
            .await;
            let key = id_of(&app, &created, &["token"]);
            let external_id = format!("key-{}", name.replace(' ', "-"));
            if allowed {
                let registered = payload(
                    &app,
                    &key,
                    REGISTER,
                    register_in_lake(&external_id),
                    "registerResource",
                )
                .await;
                id_of(&app, &registered, &["resource", "id"]);
            } else {
                forbidden(&app, &key, REGISTER, register_in_lake(&external_id), name).await;
            }
            forbidden(
                &app,
                &key,
                REGISTER,
                json!({ "i": { "organization": org, "kind": "DASHBOARD", "name": "Stray",
                               "externalId": format!("{external_id}-shore"),
                               "project": setup.shore, "owner": setup.dana } }),
                &format!("{name}: in another project"),
            )
            .await;
        }
        app
    })
    .await;
}
