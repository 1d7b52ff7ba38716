//! Groups through the API: their life, their members, the roles bound to them, and who may
//! see and change them.

use serde_json::{Value, json};

use crate::support::{TestApp, error_code, on_each_backend};

const PASSWORD: &str = "correct horse battery staple 42";

/// A member of the fixture's organization.
struct Member {
    id: String,
    token: String,
}

/// An organization with its owner (Administrator) and one Editor, Viewer and Operator.
struct Fixture {
    organization: String,
    roles: Value,
    owner: Member,
    editor: Member,
    viewer: Member,
    operator: Member,
}

fn role_id(roles: &Value, name: &str) -> String {
    roles
        .as_array()
        .and_then(|roles| roles.iter().find(|role| role["name"] == name))
        .and_then(|role| role["id"].as_str())
        .unwrap_or_else(|| panic!("no role {name} in {roles}"))
        .to_owned()
}

async fn fixture(app: &TestApp) -> Fixture {
    let admin = app.admin_token().await;
    let owner_id = app.create_user("owner", PASSWORD).await;
    let organization = app.create_organization(&admin, "Acme", &owner_id).await;
    let owner = Member {
        id: owner_id,
        token: app.token("owner", PASSWORD).await,
    };
    let body = app
        .graphql(
            Some(&owner.token),
            "query($id: ID!) { organization(id: $id) { roles { id name } } }",
            json!({ "id": organization }),
        )
        .await;
    let roles = body["data"]["organization"]["roles"].clone();
    let mut members = Vec::new();
    for (role, username) in [
        ("Editor", "editor"),
        ("Viewer", "viewer"),
        ("Operator", "operator"),
    ] {
        let id = app.create_user(username, PASSWORD).await;
        let added = app
            .graphql(
                Some(&app.admin_token().await),
                "mutation($o: ID!, $u: ID!, $r: ID!) { addMember(input: {organization: $o, user: $u, role: $r}) { errors { code message } } }",
                json!({ "o": organization, "u": id, "r": role_id(&roles, role) }),
            )
            .await;
        assert_eq!(added["data"]["addMember"]["errors"], json!([]), "{added}");
        members.push(Member {
            id,
            token: app.token(username, PASSWORD).await,
        });
    }
    let [editor, viewer, operator] = <[Member; 3]>::try_from(members).ok().expect("three");
    Fixture {
        organization,
        roles,
        owner,
        editor,
        viewer,
        operator,
    }
}

const CREATE: &str = "mutation($o: ID!, $n: String!) { createGroup(input: {organization: $o, name: $n}) { group { id name archived } errors { field code message } } }";
const RENAME: &str = "mutation($g: ID!, $n: String!) { renameGroup(input: {group: $g, name: $n}) { group { id name } errors { field code message } } }";
const ARCHIVE: &str = "mutation($g: ID!) { archiveGroup(group: $g) { group { id archived } errors { code message } } }";
const ADD: &str = "mutation($g: ID!, $u: ID!) { addGroupMember(input: {group: $g, user: $u}) { group { id } errors { field code message } } }";
const REMOVE: &str = "mutation($g: ID!, $u: ID!) { removeGroupMember(input: {group: $g, user: $u}) { group { id } errors { code message } } }";
const GROUP: &str = "query($g: ID!) { group(id: $g) { id name archived organization { id } members { totalCount edges { node { id } } } } }";
const LIST: &str = "query($o: ID!) { organization(id: $o) { groups { id name archived } } }";

/// Creates a group and returns its id.
async fn create_group(app: &TestApp, token: &str, organization: &str, name: &str) -> String {
    let body = app
        .graphql(Some(token), CREATE, json!({ "o": organization, "n": name }))
        .await;
    body["data"]["createGroup"]["group"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{:?}: createGroup: {body}", app.backend))
        .to_owned()
}

/// The payload's errors of a mutation that answered, or the GraphQL error code.
fn payload_errors(body: &Value, field: &str) -> Value {
    match body["errors"][0]["extensions"]["code"].as_str() {
        Some(code) => json!(code),
        None => body["data"][field]["errors"].clone(),
    }
}

#[tokio::test]
async fn groups_are_created_renamed_and_archived() {
    on_each_backend(&[], |app| async move {
        let fixture = fixture(&app).await;
        let editor = &fixture.editor.token;
        let created = app
            .graphql(
                Some(editor),
                CREATE,
                json!({ "o": fixture.organization, "n": " Team " }),
            )
            .await;
        assert_eq!(
            created["data"]["createGroup"]["group"]["name"], "Team",
            "{:?}: {created}",
            app.backend
        );
        assert_eq!(created["data"]["createGroup"]["group"]["archived"], false);
        let team = created["data"]["createGroup"]["group"]["id"]
            .as_str()
            .expect("id")
            .to_owned();

        let taken = app
            .graphql(
                Some(editor),
                CREATE,
                json!({ "o": fixture.organization, "n": "TEAM" }),
            )
            .await;
        assert_eq!(
            taken["data"]["createGroup"]["errors"][0]["code"], "CONFLICT",
            "{taken}"
        );
        assert_eq!(
            taken["data"]["createGroup"]["errors"][0]["field"],
            json!(["input", "name"])
        );
        assert!(taken["data"]["createGroup"]["group"].is_null());
        let empty = app
            .graphql(
                Some(editor),
                CREATE,
                json!({ "o": fixture.organization, "n": "  " }),
            )
            .await;
        assert_eq!(
            empty["data"]["createGroup"]["errors"][0]["code"], "INVALID",
            "{empty}"
        );

        let renamed = app
            .graphql(Some(editor), RENAME, json!({ "g": team, "n": "Core team" }))
            .await;
        assert_eq!(
            renamed["data"]["renameGroup"]["group"]["name"], "Core team",
            "{renamed}"
        );
        let other = create_group(&app, editor, &fixture.organization, "Other").await;
        let clash = app
            .graphql(
                Some(editor),
                RENAME,
                json!({ "g": other, "n": "core TEAM" }),
            )
            .await;
        assert_eq!(
            clash["data"]["renameGroup"]["errors"][0]["code"], "CONFLICT",
            "{clash}"
        );

        let archived = app
            .graphql(Some(editor), ARCHIVE, json!({ "g": team }))
            .await;
        assert_eq!(
            archived["data"]["archiveGroup"]["group"]["archived"], true,
            "{:?}: {archived}",
            app.backend
        );
        let again = app
            .graphql(Some(editor), ARCHIVE, json!({ "g": team }))
            .await;
        let refusal = &again["data"]["archiveGroup"]["errors"][0];
        assert_eq!(refusal["code"], "INVALID_TRANSITION", "{again}");
        assert!(
            refusal["message"]
                .as_str()
                .is_some_and(|m| m.contains("archived already")),
            "{again}"
        );

        let listed = app
            .graphql(
                Some(&fixture.viewer.token),
                LIST,
                json!({ "o": fixture.organization }),
            )
            .await;
        let groups: Vec<(&str, bool)> = listed["data"]["organization"]["groups"]
            .as_array()
            .unwrap_or_else(|| panic!("{listed}"))
            .iter()
            .map(|group| {
                (
                    group["name"].as_str().expect("name"),
                    group["archived"].as_bool().expect("flag"),
                )
            })
            .collect();
        assert_eq!(
            groups,
            vec![("Other", false), ("Core team", true)],
            "{:?}: groups in use first",
            app.backend
        );
        let one = app
            .graphql(Some(&fixture.viewer.token), GROUP, json!({ "g": team }))
            .await;
        assert_eq!(one["data"]["group"]["name"], "Core team", "{one}");
        assert_eq!(
            one["data"]["group"]["organization"]["id"],
            fixture.organization.as_str()
        );
        app
    })
    .await;
}

#[tokio::test]
async fn members_are_added_removed_and_paged() {
    on_each_backend(&[], |app| async move {
        let fixture = fixture(&app).await;
        let editor = &fixture.editor.token;
        let team = create_group(&app, editor, &fixture.organization, "Team").await;
        let everyone = [&fixture.owner, &fixture.editor, &fixture.viewer, &fixture.operator];
        for member in everyone {
            let added = app.graphql(Some(editor), ADD, json!({ "g": team, "u": member.id })).await;
            assert_eq!(added["data"]["addGroupMember"]["errors"], json!([]), "{:?}: {added}", app.backend);
        }
        let twice = app.graphql(Some(editor), ADD, json!({ "g": team, "u": fixture.viewer.id })).await;
        assert_eq!(twice["data"]["addGroupMember"]["errors"][0]["code"], "CONFLICT", "{twice}");
        let stranger = app.create_user("stranger", PASSWORD).await;
        let outsider = app.graphql(Some(editor), ADD, json!({ "g": team, "u": stranger })).await;
        assert_eq!(outsider["data"]["addGroupMember"]["errors"][0]["code"], "NOT_FOUND", "{outsider}");

        let page = "query($g: ID!, $after: String) { group(id: $g) { members(first: 3, after: $after) { \
                    totalCount pageInfo { hasNextPage endCursor } edges { node { id username } } } } }";
        let first = app.graphql(Some(&fixture.viewer.token), page, json!({ "g": team })).await;
        let members = &first["data"]["group"]["members"];
        assert_eq!(members["totalCount"], 4, "{:?}: {first}", app.backend);
        assert_eq!(members["pageInfo"]["hasNextPage"], true);
        assert_eq!(members["edges"].as_array().map(Vec::len), Some(3));
        let cursor = members["pageInfo"]["endCursor"].clone();
        let second = app.graphql(Some(&fixture.viewer.token), page, json!({ "g": team, "after": cursor })).await;
        let rest = &second["data"]["group"]["members"];
        assert_eq!(rest["totalCount"], 4, "{second}");
        assert_eq!(rest["pageInfo"]["hasNextPage"], false);
        let mut seen: Vec<String> = members["edges"]
            .as_array()
            .into_iter()
            .chain(rest["edges"].as_array())
            .flatten()
            .map(|edge| edge["node"]["id"].as_str().expect("id").to_owned())
            .collect();
        assert_eq!(seen.len(), 4, "{first} {second}");
        seen.sort();
        let mut expected: Vec<String> = everyone.iter().map(|member| member.id.clone()).collect();
        expected.sort();
        assert_eq!(seen, expected, "every member exactly once");

        let mine = app.graphql(Some(&fixture.operator.token), "{ me { groups { name } } }", json!({})).await;
        assert_eq!(mine["data"]["me"]["groups"], json!([{ "name": "Team" }]), "{:?}: {mine}", app.backend);

        let removed = app.graphql(Some(editor), REMOVE, json!({ "g": team, "u": fixture.operator.id })).await;
        assert_eq!(removed["data"]["removeGroupMember"]["errors"], json!([]), "{removed}");
        let again = app.graphql(Some(editor), REMOVE, json!({ "g": team, "u": fixture.operator.id })).await;
        assert_eq!(again["data"]["removeGroupMember"]["errors"][0]["code"], "NOT_FOUND", "{again}");
        let after = app.graphql(Some(&fixture.viewer.token), page, json!({ "g": team })).await;
        assert_eq!(after["data"]["group"]["members"]["totalCount"], 3, "{after}");
        let mine = app.graphql(Some(&fixture.operator.token), "{ me { groups { name } } }", json!({})).await;
        assert_eq!(mine["data"]["me"]["groups"], json!([]), "{mine}");

        app.graphql(Some(editor), ARCHIVE, json!({ "g": team })).await;
        let into_archived = app.graphql(Some(editor), ADD, json!({ "g": team, "u": fixture.operator.id })).await;
        assert_eq!(into_archived["data"]["addGroupMember"]["errors"][0]["code"], "NOT_FOUND", "{into_archived}");
        let kept = app.graphql(Some(&fixture.viewer.token), page, json!({ "g": team })).await;
        assert_eq!(kept["data"]["group"]["members"]["totalCount"], 0, "an archived group's members leave it: {kept}");
        app
    })
    .await;
}

#[tokio::test]
async fn a_role_bound_to_a_group_works_for_its_members_until_the_group_is_archived() {
    on_each_backend(&[], |app| async move {
        let fixture = fixture(&app).await;
        let owner = &fixture.owner.token;
        let operator = &fixture.operator;
        let editors = create_group(&app, owner, &fixture.organization, "Editors").await;
        app.graphql(Some(owner), ADD, json!({ "g": editors, "u": operator.id })).await;
        let editor_role = role_id(&fixture.roles, "Editor");
        let bound = app
            .graphql(
                Some(owner),
                "mutation($r: ID!, $g: ID!) { bindRole(input: {role: $r, group: $g}) { bindingId errors { code message } } }",
                json!({ "r": editor_role, "g": editors }),
            )
            .await;
        assert_eq!(bound["data"]["bindRole"]["errors"], json!([]), "{bound}");

        let as_operator = app.graphql(Some(&operator.token), LIST, json!({ "o": fixture.organization })).await;
        assert_eq!(error_code(&as_operator), "FORBIDDEN", "{:?}: the default role has no GROUPS/VIEW: {as_operator}", app.backend);
        let switched = app
            .graphql(
                Some(&operator.token),
                "mutation($o: ID!, $r: ID!) { switchRole(input: {organization: $o, role: $r}) { accessToken errors { code message } } }",
                json!({ "o": fixture.organization, "r": editor_role }),
            )
            .await;
        let as_editor = switched["data"]["switchRole"]["accessToken"]
            .as_str()
            .unwrap_or_else(|| panic!("{:?}: the group's role can be switched to: {switched}", app.backend))
            .to_owned();
        let created = app.graphql(Some(&as_editor), CREATE, json!({ "o": fixture.organization, "n": "Made by a group member" })).await;
        assert_eq!(created["data"]["createGroup"]["errors"], json!([]), "{:?}: {created}", app.backend);

        let archived = app.graphql(Some(owner), ARCHIVE, json!({ "g": editors })).await;
        assert_eq!(archived["data"]["archiveGroup"]["errors"], json!([]), "{archived}");
        let refused = app.graphql(Some(&as_editor), CREATE, json!({ "o": fixture.organization, "n": "Too late" })).await;
        assert_eq!(error_code(&refused), "FORBIDDEN", "{:?}: the next request: {refused}", app.backend);
        let listed = app.graphql(Some(&as_editor), LIST, json!({ "o": fixture.organization })).await;
        assert_eq!(error_code(&listed), "FORBIDDEN", "{listed}");
        app
    })
    .await;
}

#[tokio::test]
async fn a_member_of_another_organization_finds_no_group_there() {
    on_each_backend(&[], |app| async move {
        let fixture = fixture(&app).await;
        let team = create_group(&app, &fixture.owner.token, &fixture.organization, "Team").await;
        app.graphql(
            Some(&fixture.owner.token),
            ADD,
            json!({ "g": team, "u": fixture.viewer.id }),
        )
        .await;
        let admin = app.admin_token().await;
        let stranger_id = app.create_user("stranger", PASSWORD).await;
        let globex = app
            .create_organization(&admin, "Globex", &stranger_id)
            .await;
        let stranger = app.token("stranger", PASSWORD).await;
        let theirs = create_group(&app, &stranger, &globex, "Theirs").await;

        let attempts: Vec<(&str, &str, Value)> = vec![
            (GROUP, "group", json!({ "g": team })),
            (LIST, "organization", json!({ "o": fixture.organization })),
            (
                CREATE,
                "createGroup",
                json!({ "o": fixture.organization, "n": "Mine" }),
            ),
            (RENAME, "renameGroup", json!({ "g": team, "n": "Mine" })),
            (ARCHIVE, "archiveGroup", json!({ "g": team })),
            (
                ADD,
                "addGroupMember",
                json!({ "g": team, "u": stranger_id }),
            ),
            (
                REMOVE,
                "removeGroupMember",
                json!({ "g": team, "u": fixture.viewer.id }),
            ),
        ];
        for (query, field, variables) in attempts {
            let body = app.graphql(Some(&stranger), query, variables).await;
            assert_eq!(
                error_code(&body),
                "NOT_FOUND",
                "{:?}: {field}: {body}",
                app.backend
            );
            assert!(
                body["data"].is_null() || body["data"][field].is_null(),
                "{body}"
            );
        }
        // Nor do Acme's administrators see Globex's group, or add its people to theirs.
        let body = app
            .graphql(Some(&fixture.owner.token), GROUP, json!({ "g": theirs }))
            .await;
        assert_eq!(error_code(&body), "NOT_FOUND", "{body}");
        let body = app
            .graphql(
                Some(&fixture.owner.token),
                ADD,
                json!({ "g": team, "u": stranger_id }),
            )
            .await;
        assert_eq!(
            payload_errors(&body, "addGroupMember")[0]["code"],
            "NOT_FOUND",
            "{body}"
        );
        // The stranger's own groups stay theirs; Acme's group is untouched.
        let mine = app
            .graphql(Some(&stranger), "{ me { groups { name } } }", json!({}))
            .await;
        assert_eq!(mine["data"]["me"]["groups"], json!([]), "{mine}");
        let unchanged = app
            .graphql(Some(&fixture.owner.token), GROUP, json!({ "g": team }))
            .await;
        assert_eq!(unchanged["data"]["group"]["name"], "Team", "{unchanged}");
        assert_eq!(unchanged["data"]["group"]["archived"], false);
        assert_eq!(unchanged["data"]["group"]["members"]["totalCount"], 1);
        app
    })
    .await;
}

#[tokio::test]
async fn viewers_list_groups_and_editors_and_administrators_manage_them() {
    on_each_backend(&[], |app| async move {
        let fixture = fixture(&app).await;
        let team = create_group(&app, &fixture.owner.token, &fixture.organization, "Team").await;
        let extra = &fixture.viewer.id;
        let cases = [
            ("Administrator", &fixture.owner, true, true),
            ("Editor", &fixture.editor, true, true),
            ("Viewer", &fixture.viewer, true, false),
            ("Operator", &fixture.operator, false, false),
        ];
        for (role, member, may_view, may_manage) in cases {
            let token = Some(member.token.as_str());
            let listed = app
                .graphql(token, LIST, json!({ "o": fixture.organization }))
                .await;
            let one = app.graphql(token, GROUP, json!({ "g": team })).await;
            if may_view {
                assert!(
                    listed.get("errors").is_none(),
                    "{:?}: {role}: {listed}",
                    app.backend
                );
                assert_eq!(one["data"]["group"]["id"], team.as_str(), "{role}: {one}");
            } else {
                assert_eq!(error_code(&listed), "FORBIDDEN", "{role}: {listed}");
                assert_eq!(
                    error_code(&one),
                    "NOT_FOUND",
                    "{role}: the group is hidden: {one}"
                );
            }

            let name = format!("By {role}");
            let mutations = [
                (
                    CREATE,
                    "createGroup",
                    json!({ "o": fixture.organization, "n": name }),
                ),
                (
                    RENAME,
                    "renameGroup",
                    json!({ "g": team, "n": format!("Renamed by {role}") }),
                ),
                (ADD, "addGroupMember", json!({ "g": team, "u": extra })),
                (
                    REMOVE,
                    "removeGroupMember",
                    json!({ "g": team, "u": extra }),
                ),
            ];
            for (query, field, variables) in mutations {
                let body = app.graphql(token, query, variables).await;
                let expected = if may_manage {
                    json!([])
                } else {
                    json!("FORBIDDEN")
                };
                assert_eq!(
                    payload_errors(&body, field),
                    expected,
                    "{:?}: {role} {field}: {body}",
                    app.backend
                );
            }
        }
        for (role, member) in [("Viewer", &fixture.viewer), ("Operator", &fixture.operator)] {
            let body = app
                .graphql(Some(&member.token), ARCHIVE, json!({ "g": team }))
                .await;
            assert_eq!(error_code(&body), "FORBIDDEN", "{role}: {body}");
        }
        let body = app
            .graphql(Some(&fixture.editor.token), ARCHIVE, json!({ "g": team }))
            .await;
        assert_eq!(payload_errors(&body, "archiveGroup"), json!([]), "{body}");
        app
    })
    .await;
}
