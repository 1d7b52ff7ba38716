//! Organization settings through the API: name, ownership, e-mail domains, projects and the
//! members connection.

use serde_json::{Value, json};

use crate::support::{TestApp, on_each_backend};

const PASSWORD: &str = "correct horse battery staple 42";

struct Acme {
    id: String,
    owner_token: String,
    roles: Value,
}

async fn acme(app: &TestApp) -> Acme {
    let admin = app.admin_token().await;
    let owner = app.create_user("owner", PASSWORD).await;
    let id = app.create_organization(&admin, "Acme", &owner).await;
    let owner_token = app.token("owner", PASSWORD).await;
    let body = app
        .graphql(
            Some(&owner_token),
            "query($o: ID!) { organization(id: $o) { roles { id name } } }",
            json!({ "o": id }),
        )
        .await;
    Acme {
        id,
        owner_token,
        roles: body["data"]["organization"]["roles"].clone(),
    }
}

fn role_id(roles: &Value, name: &str) -> String {
    roles
        .as_array()
        .and_then(|r| r.iter().find(|role| role["name"] == name))
        .and_then(|r| r["id"].as_str())
        .expect(name)
        .to_owned()
}

async fn member(app: &TestApp, acme: &Acme, username: &str, role: &str) -> (String, String) {
    let user = app.create_user(username, PASSWORD).await;
    let body = app
        .graphql(
            Some(&app.admin_token().await),
            "mutation($o: ID!, $u: ID!, $r: ID!) { addMember(input: {organization: $o, user: $u, role: $r}) { errors { code message } } }",
            json!({ "o": acme.id, "u": user, "r": role_id(&acme.roles, role) }),
        )
        .await;
    assert_eq!(body["data"]["addMember"]["errors"], json!([]), "{body}");
    (user, app.token(username, PASSWORD).await)
}

#[tokio::test]
async fn an_organization_is_renamed_by_those_who_manage_it() {
    on_each_backend(&[], |app| async move {
        let acme = acme(&app).await;
        let (_, viewer) = member(&app, &acme, "viewer", "Viewer").await;
        let rename = "mutation($o: ID!, $n: String!) { renameOrganization(input: {organization: $o, name: $n}) { organization { name } errors { field code } } }";
        let body = app.graphql(Some(&acme.owner_token), rename, json!({ "o": acme.id, "n": "Acme Corp" })).await;
        assert_eq!(body["data"]["renameOrganization"]["organization"]["name"], "Acme Corp", "{:?}: {body}", app.backend);
        let body = app.graphql(Some(&acme.owner_token), rename, json!({ "o": acme.id, "n": "  " })).await;
        assert_eq!(body["data"]["renameOrganization"]["errors"][0]["field"], json!(["input", "name"]), "{body}");
        let body = app.graphql(Some(&viewer), rename, json!({ "o": acme.id, "n": "Mine" })).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
        app
    })
    .await;
}

#[tokio::test]
async fn ownership_goes_only_to_an_active_member_and_only_from_the_owner() {
    on_each_backend(&[], |app| async move {
        let acme = acme(&app).await;
        let (editor_id, editor) = member(&app, &acme, "editor", "Editor").await;
        let outsider = app.create_user("outsider", PASSWORD).await;
        let transfer = "mutation($o: ID!, $u: ID!) { transferOrganizationOwnership(input: {organization: $o, owner: $u}) { organization { owner { username } } errors { field code message } } }";

        let body = app.graphql(Some(&editor), transfer, json!({ "o": acme.id, "u": editor_id })).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{:?}: not the owner: {body}", app.backend);
        let body = app.graphql(Some(&acme.owner_token), transfer, json!({ "o": acme.id, "u": outsider })).await;
        assert_eq!(body["data"]["transferOrganizationOwnership"]["errors"][0]["field"], json!(["input", "owner"]), "{body}");
        let body = app.graphql(Some(&acme.owner_token), transfer, json!({ "o": acme.id, "u": editor_id })).await;
        assert_eq!(body["data"]["transferOrganizationOwnership"]["organization"]["owner"]["username"], "editor", "{body}");
        app
    })
    .await;
}

#[tokio::test]
async fn allowed_email_domains_are_added_listed_and_removed() {
    on_each_backend(&[], |app| async move {
        let acme = acme(&app).await;
        let add = "mutation($o: ID!, $d: String!) { addEmailDomain(input: {organization: $o, domain: $d}) { organization { emailDomains } errors { field code } } }";
        let remove = "mutation($o: ID!, $d: String!) { removeEmailDomain(input: {organization: $o, domain: $d}) { organization { emailDomains } errors { field code } } }";
        app.graphql(Some(&acme.owner_token), add, json!({ "o": acme.id, "d": "Example.com" })).await;
        let body = app.graphql(Some(&acme.owner_token), add, json!({ "o": acme.id, "d": "acme.org" })).await;
        assert_eq!(body["data"]["addEmailDomain"]["organization"]["emailDomains"], json!(["acme.org", "example.com"]), "{:?}: {body}", app.backend);
        let body = app.graphql(Some(&acme.owner_token), add, json!({ "o": acme.id, "d": "example.COM" })).await;
        assert_eq!(body["data"]["addEmailDomain"]["errors"][0]["code"], "CONFLICT", "{body}");
        let body = app.graphql(Some(&acme.owner_token), add, json!({ "o": acme.id, "d": "not a domain" })).await;
        assert_eq!(body["data"]["addEmailDomain"]["errors"][0]["field"], json!(["input", "domain"]), "{body}");
        let body = app.graphql(Some(&acme.owner_token), remove, json!({ "o": acme.id, "d": "example.com" })).await;
        assert_eq!(body["data"]["removeEmailDomain"]["organization"]["emailDomains"], json!(["acme.org"]), "{body}");
        let body = app.graphql(Some(&acme.owner_token), remove, json!({ "o": acme.id, "d": "example.com" })).await;
        assert_eq!(body["data"]["removeEmailDomain"]["errors"][0]["code"], "NOT_FOUND", "{body}");
        app
    })
    .await;
}

#[tokio::test]
async fn projects_are_created_renamed_archived_and_scope_role_bindings() {
    on_each_backend(&[], |app| async move {
        let acme = acme(&app).await;
        let (viewer_id, viewer) = member(&app, &acme, "viewer", "Viewer").await;
        let body = app
            .graphql(Some(&acme.owner_token), "mutation($o: ID!) { createProject(input: {organization: $o, name: \"Lake\"}) { project { id name archived } errors { code } } }", json!({ "o": acme.id }))
            .await;
        let project = body["data"]["createProject"]["project"]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
        let body = app
            .graphql(Some(&acme.owner_token), "mutation($p: ID!) { renameProject(input: {project: $p, name: \"Data lake\"}) { project { name } errors { code } } }", json!({ "p": project }))
            .await;
        assert_eq!(body["data"]["renameProject"]["project"]["name"], "Data lake", "{:?}: {body}", app.backend);

        // A project-scoped Administrator binding shows with its project and grants nothing
        // organization-wide.
        let body = app
            .graphql(
                Some(&acme.owner_token),
                "mutation($r: ID!, $u: ID!, $p: ID!) { bindRole(input: {role: $r, user: $u, project: $p}) { bindingId errors { code message } } }",
                json!({ "r": role_id(&acme.roles, "Administrator"), "u": viewer_id, "p": project }),
            )
            .await;
        assert!(body["data"]["bindRole"]["bindingId"].is_string(), "{body}");
        let body = app
            .graphql(Some(&viewer), "{ me { memberships { roles { role { name } project { name } } } } }", json!({}))
            .await;
        let roles = &body["data"]["me"]["memberships"][0]["roles"];
        assert!(roles.as_array().is_some_and(|r| r.iter().any(|b| b["role"]["name"] == "Administrator" && b["project"]["name"] == "Data lake")), "{body}");
        let body = app
            .graphql(Some(&viewer), "mutation($o: ID!) { createProject(input: {organization: $o, name: \"Mine\"}) { errors { code } } }", json!({ "o": acme.id }))
            .await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");

        let body = app.graphql(Some(&acme.owner_token), "mutation($p: ID!) { archiveProject(project: $p) { project { archived } errors { code } } }", json!({ "p": project })).await;
        assert_eq!(body["data"]["archiveProject"]["project"]["archived"], true, "{body}");
        let body = app.graphql(Some(&acme.owner_token), "mutation($p: ID!) { archiveProject(project: $p) { project { archived } errors { code message } } }", json!({ "p": project })).await;
        assert_eq!(body["data"]["archiveProject"]["errors"][0]["code"], "INVALID", "{body}");
        let body = app.graphql(Some(&acme.owner_token), "query($o: ID!) { organization(id: $o) { projects { name archived } } }", json!({ "o": acme.id })).await;
        assert_eq!(body["data"]["organization"]["projects"], json!([{ "name": "Data lake", "archived": true }]), "{body}");
        app
    })
    .await;
}

#[tokio::test]
async fn members_are_a_relay_connection_with_their_roles() {
    on_each_backend(&[], |app| async move {
        let acme = acme(&app).await;
        for index in 0..4 {
            member(&app, &acme, &format!("member{index}"), "Viewer").await;
        }
        let page = "query($o: ID!, $after: String) { organization(id: $o) { members(first: 2, after: $after) { totalCount \
                    pageInfo { hasNextPage endCursor } edges { node { user { username } roles { role { name } } } } } } }";
        let mut seen = Vec::new();
        let mut after = Value::Null;
        loop {
            let body = app.graphql(Some(&acme.owner_token), page, json!({ "o": acme.id, "after": after })).await;
            let members = &body["data"]["organization"]["members"];
            assert_eq!(members["totalCount"], 5, "{:?}: {body}", app.backend);
            for edge in members["edges"].as_array().expect("edges") {
                seen.push(edge["node"]["user"]["username"].as_str().expect("username").to_owned());
                assert!(edge["node"]["roles"][0]["role"]["name"].is_string(), "{body}");
            }
            if members["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = members["pageInfo"]["endCursor"].clone();
        }
        seen.sort();
        assert_eq!(seen, vec!["member0", "member1", "member2", "member3", "owner"]);
        let body = app.graphql(Some(&acme.owner_token), "query($o: ID!) { organization(id: $o) { members(first: 1000) { totalCount } } }", json!({ "o": acme.id })).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "page size is bounded: {body}");
        app
    })
    .await;
}
