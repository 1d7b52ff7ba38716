//! The built-in roles through the API: what each can and cannot do, switching roles, and
//! revocation on the next request.

use serde_json::{Value, json};

use crate::support::{TestApp, on_each_backend};

const PASSWORD: &str = "correct horse battery staple 42";

/// An organization with its owner and one member per built-in role.
struct Fixture {
    organization: String,
    roles: Value,
    tokens: Vec<(&'static str, String)>,
}

fn role_id(roles: &Value, name: &str) -> String {
    roles
        .as_array()
        .and_then(|roles| roles.iter().find(|role| role["name"] == name))
        .and_then(|role| role["id"].as_str())
        .unwrap_or_else(|| panic!("no role {name} in {roles}"))
        .to_owned()
}

/// Makes `user` an active member of `organization` with `role`, as a SuperAdmin (anyone else's
/// `addMember` only invites).
async fn add_member(app: &TestApp, organization: &str, user: &str, role: &str) -> Value {
    app.graphql(
        Some(&app.admin_token().await),
        "mutation($input: AddMemberInput!) { addMember(input: $input) { organization { id } errors { code message } } }",
        json!({ "input": { "organization": organization, "user": user, "role": role } }),
    )
    .await
}

async fn fixture(app: &TestApp) -> Fixture {
    let admin = app.admin_token().await;
    let owner = app.create_user("owner", PASSWORD).await;
    let organization = app.create_organization(&admin, "Acme", &owner).await;
    let owner_token = app.token("owner", PASSWORD).await;
    let body = app
        .graphql(
            Some(&owner_token),
            "query($id: ID!) { organization(id: $id) { roles { id name builtIn } } }",
            json!({ "id": organization }),
        )
        .await;
    let roles = body["data"]["organization"]["roles"].clone();
    let mut tokens = vec![
        ("SuperAdmin", admin),
        ("Administrator", owner_token.clone()),
    ];
    for (role, username) in [
        ("Editor", "editor"),
        ("Operator", "operator"),
        ("Viewer", "viewer"),
        ("API User", "apiuser"),
    ] {
        let user = app.create_user(username, PASSWORD).await;
        let added = add_member(app, &organization, &user, &role_id(&roles, role)).await;
        assert_eq!(added["data"]["addMember"]["errors"], json!([]), "{added}");
        tokens.push((role, app.token(username, PASSWORD).await));
    }
    Fixture {
        organization,
        roles,
        tokens,
    }
}

/// `OK` when the field answered, else the error's code.
fn outcome(body: &Value, field: &str) -> String {
    match body["errors"][0]["extensions"]["code"].as_str() {
        Some(code) => code.to_owned(),
        None if body["data"][field].is_null() => format!("null: {body}"),
        None => "OK".to_owned(),
    }
}

#[tokio::test]
async fn each_built_in_role_can_do_exactly_what_the_spec_gives_it() {
    on_each_backend(&[], |app| async move {
        let fixture = fixture(&app).await;
        let organization = fixture.organization.clone();
        let viewer_role = role_id(&fixture.roles, "Viewer");
        let extra = app.create_user("extra", PASSWORD).await;

        // (operation, field, variables) with the expected outcome for SuperAdmin,
        // Administrator, Editor, Operator, Viewer, API User.
        let cases: Vec<(&str, &str, Value, [&str; 6])> = vec![
            ("query($o: ID!) { organization(id: $o) { name } }", "organization", json!({ "o": organization }),
             ["OK", "OK", "OK", "OK", "OK", "OK"]),
            ("query($o: ID!) { organization(id: $o) { roles { name } } }", "organization", json!({ "o": organization }),
             ["OK", "OK", "OK", "FORBIDDEN", "OK", "FORBIDDEN"]),
            ("query($o: ID!) { organization(id: $o) { owner { username } } }", "organization", json!({ "o": organization }),
             ["OK", "OK", "OK", "FORBIDDEN", "OK", "FORBIDDEN"]),
            ("mutation($o: ID!) { createRole(input: {organization: $o, name: \"Probe\", permissions: []}) { role { id } errors { code } } }",
             "createRole", json!({ "o": organization }),
             ["OK", "OK", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN"]),
            ("mutation($o: ID!, $u: ID!, $r: ID!) { addMember(input: {organization: $o, user: $u, role: $r}) { errors { code } } }",
             "addMember", json!({ "o": organization, "u": extra, "r": viewer_role }),
             ["OK", "OK", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN"]),
            ("mutation($u: ID!) { createOrganization(input: {name: \"Probe\", owner: $u}) { errors { code } } }",
             "createOrganization", json!({ "u": extra }),
             ["OK", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN"]),
        ];
        for (query, field, variables, expected) in cases {
            for ((role, token), expected) in fixture.tokens.iter().zip(expected) {
                let body = app.graphql(Some(token), query, variables.clone()).await;
                let got = outcome(&body, field);
                // Repeated successful mutations may meet a conflict ("Probe" exists); that is
                // still an allowed call, answered in the payload.
                let allowed = got == "OK";
                assert_eq!(
                    if allowed { "OK" } else { got.as_str() },
                    expected,
                    "{:?}: {role} running {query}: {body}",
                    app.backend
                );
            }
        }
        app
    })
    .await;
}

#[tokio::test]
async fn another_organizations_objects_do_not_exist_for_a_member() {
    on_each_backend(&[], |app| async move {
        let fixture = fixture(&app).await;
        let admin = app.admin_token().await;
        let stranger = app.create_user("stranger", PASSWORD).await;
        app.create_organization(&admin, "Globex", &stranger).await;
        let token = app.token("stranger", PASSWORD).await;

        let body = app.graphql(Some(&token), "query($o: ID!) { organization(id: $o) { name } }", json!({ "o": fixture.organization })).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND", "{:?}: {body}", app.backend);
        let body = app
            .graphql(
                Some(&token),
                "mutation($o: ID!) { createRole(input: {organization: $o, name: \"X\", permissions: []}) { errors { code } } }",
                json!({ "o": fixture.organization }),
            )
            .await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND", "{body}");
        let role = role_id(&fixture.roles, "Viewer");
        let body = app
            .graphql(
                Some(&token),
                "mutation($r: ID!) { deleteRole(role: $r) { errors { code } } }",
                json!({ "r": role }),
            )
            .await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND", "{body}");

        let listed = app.graphql(Some(&token), "{ organizations { totalCount edges { node { name } } } }", json!({})).await;
        assert_eq!(listed["data"]["organizations"]["totalCount"], 1, "{listed}");
        assert_eq!(listed["data"]["organizations"]["edges"][0]["node"]["name"], "Globex");
        let all = app.graphql(Some(&admin), "{ organizations { totalCount } }", json!({})).await;
        assert_eq!(all["data"]["organizations"]["totalCount"], 2, "a SuperAdmin sees every organization: {all}");
        app
    })
    .await;
}

#[tokio::test]
async fn switching_role_changes_what_the_same_user_can_do_and_unbinding_revokes_it_at_once() {
    on_each_backend(&[], |app| async move {
        let fixture = fixture(&app).await;
        let owner_token = &fixture.tokens[1].1;
        let viewer_token = fixture.tokens[4].1.clone();
        let me = app.graphql(Some(&viewer_token), "{ me { id } }", json!({})).await;
        let viewer_id = me["data"]["me"]["id"].as_str().expect("id").to_owned();
        let administrator = role_id(&fixture.roles, "Administrator");
        let create_role = "mutation($o: ID!, $n: String!) { createRole(input: {organization: $o, name: $n, permissions: []}) { role { id } errors { code } } }";

        let bound = app
            .graphql(
                Some(owner_token),
                "mutation($r: ID!, $u: ID!) { bindRole(input: {role: $r, user: $u}) { bindingId errors { code message } } }",
                json!({ "r": administrator, "u": viewer_id }),
            )
            .await;
        let binding = bound["data"]["bindRole"]["bindingId"].as_str().unwrap_or_else(|| panic!("{bound}")).to_owned();

        let before = app.graphql(Some(&viewer_token), create_role, json!({ "o": fixture.organization, "n": "One" })).await;
        assert_eq!(before["errors"][0]["extensions"]["code"], "FORBIDDEN", "{:?}: still acting as Viewer: {before}", app.backend);

        let switched = app
            .graphql(
                Some(&viewer_token),
                "mutation($o: ID!, $r: ID!) { switchRole(input: {organization: $o, role: $r}) { accessToken errors { code message } } }",
                json!({ "o": fixture.organization, "r": administrator }),
            )
            .await;
        let admin_token = switched["data"]["switchRole"]["accessToken"].as_str().unwrap_or_else(|| panic!("{switched}")).to_owned();
        let after = app.graphql(Some(&admin_token), create_role, json!({ "o": fixture.organization, "n": "Two" })).await;
        assert_eq!(after["data"]["createRole"]["errors"], json!([]), "{:?}: acting as Administrator: {after}", app.backend);

        let unbound = app
            .graphql(
                Some(owner_token),
                "mutation($o: ID!, $b: ID!) { unbindRole(input: {organization: $o, binding: $b}) { unbound errors { code message } } }",
                json!({ "o": fixture.organization, "b": binding }),
            )
            .await;
        assert_eq!(unbound["data"]["unbindRole"]["unbound"], true, "{unbound}");
        let revoked = app.graphql(Some(&admin_token), create_role, json!({ "o": fixture.organization, "n": "Three" })).await;
        assert_eq!(revoked["errors"][0]["extensions"]["code"], "FORBIDDEN", "{:?}: the next request: {revoked}", app.backend);

        let refused = app
            .graphql(
                Some(&viewer_token),
                "mutation($o: ID!, $r: ID!) { switchRole(input: {organization: $o, role: $r}) { accessToken errors { code } } }",
                json!({ "o": fixture.organization, "r": administrator }),
            )
            .await;
        assert_eq!(refused["data"]["switchRole"]["errors"][0]["code"], "INVALID", "no longer one of their roles: {refused}");
        app
    })
    .await;
}

#[tokio::test]
async fn a_default_role_is_used_at_the_next_login() {
    on_each_backend(&[], |app| async move {
        let fixture = fixture(&app).await;
        let owner_token = &fixture.tokens[1].1;
        let viewer_token = &fixture.tokens[4].1;
        let me = app.graphql(Some(viewer_token), "{ me { id } }", json!({})).await;
        let viewer_id = me["data"]["me"]["id"].as_str().expect("id").to_owned();
        let editor = role_id(&fixture.roles, "Editor");
        app.graphql(
            Some(owner_token),
            "mutation($r: ID!, $u: ID!) { bindRole(input: {role: $r, user: $u}) { errors { code } } }",
            json!({ "r": editor, "u": viewer_id }),
        )
        .await;
        let set = app
            .graphql(
                Some(viewer_token),
                "mutation($o: ID!, $r: ID!) { setDefaultRole(input: {organization: $o, role: $r}) { defaultRole { name } errors { code } } }",
                json!({ "o": fixture.organization, "r": editor }),
            )
            .await;
        assert_eq!(set["data"]["setDefaultRole"]["defaultRole"]["name"], "Editor", "{:?}: {set}", app.backend);
        let fresh = app.token("viewer", PASSWORD).await;
        let group_manage = app
            .graphql(Some(&fresh), "query($o: ID!) { organization(id: $o) { roles { name } } }", json!({ "o": fixture.organization }))
            .await;
        assert!(group_manage.get("errors").is_none(), "{group_manage}");
        let claims = fresh.split('.').nth(1).expect("payload");
        let claims: Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, claims).expect("base64"),
        )
        .expect("json");
        assert_eq!(claims["role"], editor, "the token carries the active role");
        assert_eq!(claims["org"], fixture.organization.as_str());
        app
    })
    .await;
}
