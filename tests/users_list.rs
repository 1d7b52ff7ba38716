//! The users listing of an organization (`users`) and one user (`user`) through the API:
//! every order both ways, paged forwards and backwards, the filters and the search, the
//! count, the cursors' errors, and who may see whom.

use serde_json::{Value, json};
use steward_store::Store;

use crate::support::{TestApp, error_code, on_each_backend};

const PASSWORD: &str = "correct horse battery staple 42";

const USERS: &str = "query($o: ID!, $f: UsersFilter, $ob: UsersOrder, $first: Int, $after: String, \
    $last: Int, $before: String) { users(organization: $o, filter: $f, orderBy: $ob, first: $first, \
    after: $after, last: $last, before: $before) { totalCount \
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } \
    edges { cursor node { id username } } nodes { username } } }";

/// The same without `totalCount`, as a client turning pages asks.
const PAGE: &str = "query($o: ID!, $ob: UsersOrder, $first: Int, $after: String, $last: Int, \
    $before: String) { users(organization: $o, orderBy: $ob, first: $first, after: $after, \
    last: $last, before: $before) { pageInfo { hasNextPage hasPreviousPage startCursor endCursor } \
    edges { node { username } } } }";

/// Members besides the owner, in order of creation: username, full name, e-mail address.
/// Each order (creation, username, e-mail, name, last login) puts them differently, and
/// upper case never decides.
const MEMBERS: [(&str, &str, &str); 6] = [
    ("delta", "Quinn Delta", "mike@example.com"),
    ("Alpha", "piper Alpha", "Kilo@example.com"),
    ("charlie", "Rowan charlie", "lima@example.com"),
    ("Bravo", "sam Bravo", "Juliet@example.com"),
    ("echo", "Olive Echo", "november@example.com"),
    ("foxtrot", "Nora foxtrot", "india@example.com"),
];

struct Fixture {
    organization: String,
    admin: String,
    owner: String,
    /// Alpha, a member with the Viewer role.
    viewer: String,
    roles: Value,
    /// Usernames to ids, the owner's included.
    ids: Vec<(String, String)>,
}

impl Fixture {
    fn id(&self, username: &str) -> &str {
        self.ids
            .iter()
            .find(|(name, _)| name == username)
            .map(|(_, id)| id.as_str())
            .unwrap_or_else(|| panic!("no user {username}"))
    }

    fn role(&self, name: &str) -> String {
        self.roles
            .as_array()
            .and_then(|roles| roles.iter().find(|role| role["name"] == name))
            .and_then(|role| role["id"].as_str())
            .unwrap_or_else(|| panic!("no role {name} in {}", self.roles))
            .to_owned()
    }
}

/// An active user with the given names, straight in the store as `TestApp::create_user` does.
async fn create_member(app: &TestApp, username: &str, full_name: &str, email: &str) -> String {
    use steward_domain::user::{EmailAddress, FullName, Language, UserStatus, Username};
    let hash = app
        .server
        .app
        .passwords
        .hash(PASSWORD.to_owned())
        .await
        .expect("hash");
    let user = steward_store::NewUser {
        username: Username::parse(username).expect("username"),
        email: EmailAddress::parse(email).expect("email"),
        full_name: FullName::parse(full_name).expect("name"),
        status: UserStatus::Active,
        platform_role: None,
        password_hash: Some(hash),
        must_change_password: false,
        language: Language::En,
    };
    let entry = steward_store::AuditEntry {
        actor: None,
        client_address: None,
        at: time::OffsetDateTime::now_utc(),
    };
    app.database
        .store
        .create_user(&user, &entry)
        .await
        .expect("create user")
        .id
        .to_string()
}

/// Acme: its owner (Administrator) and the six [`MEMBERS`] as Viewers. Logged in last, in
/// this order: the owner, charlie, Alpha; the others never logged in.
async fn fixture(app: &TestApp) -> Fixture {
    let admin = app.admin_token().await;
    let owner_id = app.create_user("owner", PASSWORD).await;
    let organization = app.create_organization(&admin, "Acme", &owner_id).await;
    let owner = app.token("owner", PASSWORD).await;
    let roles = app
        .graphql(
            Some(&owner),
            "query($o: ID!) { organization(id: $o) { roles { id name } } }",
            json!({ "o": organization }),
        )
        .await["data"]["organization"]["roles"]
        .clone();
    let mut fixture = Fixture {
        organization,
        admin,
        owner,
        viewer: String::new(),
        roles,
        ids: vec![("owner".to_owned(), owner_id)],
    };
    for (username, full_name, email) in MEMBERS {
        let id = create_member(app, username, full_name, email).await;
        let added = app
            .graphql(
                Some(&app.admin_token().await),
                "mutation($o: ID!, $u: ID!, $r: ID!) { addMember(input: {organization: $o, user: $u, role: $r}) { errors { message } } }",
                json!({ "o": fixture.organization, "u": id, "r": fixture.role("Viewer") }),
            )
            .await;
        assert_eq!(added["data"]["addMember"]["errors"], json!([]), "{added}");
        fixture.ids.push((username.to_owned(), id));
    }
    app.token("charlie", PASSWORD).await;
    fixture.viewer = app.token("Alpha", PASSWORD).await;
    fixture
}

async fn users(app: &TestApp, token: &str, variables: Value) -> Value {
    app.graphql(Some(token), USERS, variables).await
}

fn usernames(connection: &Value) -> Vec<String> {
    connection["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("no edges in {connection}"))
        .iter()
        .map(|edge| {
            edge["node"]["username"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// Every page of the listing in `order`, by pages of 3: forwards from the start, then
/// backwards from the end. Both must give `expected`.
async fn assert_pages(app: &TestApp, fixture: &Fixture, order: Value, expected: &[&str]) {
    let context = format!("{:?} {order}", app.backend);
    let mut forwards = Vec::new();
    let mut after = Value::Null;
    for page in 0.. {
        let body = app
            .graphql(
                Some(&fixture.owner),
                PAGE,
                json!({ "o": fixture.organization, "ob": order, "first": 3, "after": after }),
            )
            .await;
        let connection = &body["data"]["users"];
        forwards.extend(usernames(connection));
        let info = &connection["pageInfo"];
        assert_eq!(
            info["hasPreviousPage"],
            json!(page > 0),
            "{context}: {body}"
        );
        if info["hasNextPage"] == json!(false) {
            break;
        }
        after = info["endCursor"].clone();
        assert!(page < 5, "{context}: paging does not end");
    }
    assert_eq!(forwards, expected, "{context}: forwards");

    let mut backwards = Vec::new();
    let mut before = Value::Null;
    for page in 0.. {
        let body = app
            .graphql(
                Some(&fixture.owner),
                PAGE,
                json!({ "o": fixture.organization, "ob": order, "last": 3, "before": before }),
            )
            .await;
        let connection = &body["data"]["users"];
        let mut names = usernames(connection);
        names.extend(backwards);
        backwards = names;
        let info = &connection["pageInfo"];
        assert_eq!(info["hasNextPage"], json!(page > 0), "{context}: {body}");
        if info["hasPreviousPage"] == json!(false) {
            break;
        }
        before = info["startCursor"].clone();
        assert!(page < 5, "{context}: paging does not end");
    }
    assert_eq!(backwards, expected, "{context}: backwards");
}

#[tokio::test]
async fn members_are_listed_in_each_order_both_ways_and_paged_forwards_and_backwards() {
    on_each_backend(&[], |app| async move {
        let fixture = fixture(&app).await;
        let by_creation = [
            "owner", "delta", "Alpha", "charlie", "Bravo", "echo", "foxtrot",
        ];
        let by_username = [
            "Alpha", "Bravo", "charlie", "delta", "echo", "foxtrot", "owner",
        ];
        // india, Juliet, Kilo, lima, mike, november, owner
        let by_email = [
            "foxtrot", "Bravo", "Alpha", "charlie", "delta", "echo", "owner",
        ];
        // Nora, Olive, owner, piper, Quinn, Rowan, sam
        let by_name = [
            "foxtrot", "echo", "owner", "Alpha", "delta", "charlie", "Bravo",
        ];
        // Never logged in (in id order, which is creation order), then owner, charlie, Alpha.
        let by_last_login = [
            "delta", "Bravo", "echo", "foxtrot", "owner", "charlie", "Alpha",
        ];
        for (field, expected) in [
            ("CREATED_AT", by_creation),
            ("USERNAME", by_username),
            ("EMAIL", by_email),
            ("NAME", by_name),
            ("LAST_LOGIN", by_last_login),
        ] {
            assert_pages(&app, &fixture, json!({ "field": field }), &expected).await;
            let mut reversed = expected;
            reversed.reverse();
            assert_pages(
                &app,
                &fixture,
                json!({ "field": field, "direction": "DESC" }),
                &reversed,
            )
            .await;
        }

        // The default order is the oldest account first; the count covers every page.
        let body = users(
            &app,
            &fixture.owner,
            json!({ "o": fixture.organization, "first": 2 }),
        )
        .await;
        assert_eq!(body["data"]["users"]["totalCount"], 7, "{body}");
        assert_eq!(usernames(&body["data"]["users"]), ["owner", "delta"]);
        assert_eq!(body["data"]["users"]["nodes"][1]["username"], "delta");
        app
    })
    .await;
}

/// Runs `sql` with the user or membership id bound as `$1`: statuses no mutation sets yet.
async fn execute(app: &TestApp, sql: &'static str, id: &str) {
    let id = uuid::Uuid::parse_str(id).expect("uuid");
    match &app.database.store {
        Store::Sqlite(pool) => sqlx::query(sql).bind(id).execute(pool).await.map(drop),
        Store::Postgres(pool) => sqlx::query(sql).bind(id).execute(pool).await.map(drop),
    }
    .expect("update");
}

#[tokio::test]
async fn filters_and_the_search_narrow_the_list_and_its_count() {
    on_each_backend(&[], |app| async move {
        let fixture = fixture(&app).await;
        let owner = Some(fixture.owner.as_str());
        // A custom role bound to echo directly, and through a group to delta and foxtrot;
        // through an archived group (which Bravo leaves with the archive), Bravo holds nothing.
        let run = |query: &'static str, variables: Value| {
            let app = &app;
            async move { app.graphql(owner, query, variables).await }
        };
        let auditor = run(
            "mutation($o: ID!) { createRole(input: {organization: $o, name: \"Auditor\", permissions: [{area: AUDIT, level: VIEW}]}) { role { id } } }",
            json!({ "o": fixture.organization }),
        )
        .await["data"]["createRole"]["role"]["id"]
            .as_str()
            .expect("role")
            .to_owned();
        let mut groups = Vec::new();
        for (name, members) in [("Ops", &["delta", "foxtrot"][..]), ("Old", &["Bravo"][..])] {
            let group = run(
                "mutation($o: ID!, $n: String!) { createGroup(input: {organization: $o, name: $n}) { group { id } } }",
                json!({ "o": fixture.organization, "n": name }),
            )
            .await["data"]["createGroup"]["group"]["id"]
                .as_str()
                .expect("group")
                .to_owned();
            for member in members {
                run(
                    "mutation($g: ID!, $u: ID!) { addGroupMember(input: {group: $g, user: $u}) { errors { message } } }",
                    json!({ "g": group, "u": fixture.id(member) }),
                )
                .await;
            }
            let bound = run(
                "mutation($r: ID!, $g: ID!) { bindRole(input: {role: $r, group: $g}) { bindingId } }",
                json!({ "r": auditor, "g": group }),
            )
            .await;
            assert!(bound["data"]["bindRole"]["bindingId"].is_string(), "{bound}");
            groups.push(group);
        }
        let bound = run(
            "mutation($r: ID!, $u: ID!) { bindRole(input: {role: $r, user: $u}) { bindingId } }",
            json!({ "r": auditor, "u": fixture.id("echo") }),
        )
        .await;
        assert!(bound["data"]["bindRole"]["bindingId"].is_string(), "{bound}");
        run(
            "mutation($g: ID!) { archiveGroup(group: $g) { errors { message } } }",
            json!({ "g": groups[1] }),
        )
        .await;
        // Then statuses no mutation sets yet (binding a role needs an active member).
        execute(
            &app,
            "UPDATE users SET status = 'SUSPENDED' WHERE id = $1",
            fixture.id("Bravo"),
        )
        .await;
        execute(
            &app,
            "UPDATE memberships SET status = 'DISABLED' WHERE user_id = $1",
            fixture.id("echo"),
        )
        .await;
        execute(
            &app,
            "UPDATE users SET mfa_enabled = true WHERE id = $1",
            fixture.id("charlie"),
        )
        .await;

        let cases: Vec<(Value, Vec<&str>)> = vec![
            (json!({ "status": ["SUSPENDED"] }), vec!["Bravo"]),
            (json!({ "status": ["ACTIVE", "SUSPENDED"], "membershipStatus": ["DISABLED"] }), vec!["echo"]),
            (
                json!({ "membershipStatus": ["ACTIVE"], "status": ["ACTIVE"] }),
                vec!["owner", "delta", "Alpha", "charlie", "foxtrot"],
            ),
            (json!({ "mfaEnabled": true }), vec!["charlie"]),
            (json!({ "roles": [auditor] }), vec!["delta", "echo", "foxtrot"]),
            (json!({ "roles": [fixture.role("Administrator")] }), vec!["owner"]),
            (json!({ "groups": [groups[0]] }), vec!["delta", "foxtrot"]),
            // Archiving a group ended its memberships.
            (json!({ "groups": [groups[1]] }), vec![]),
            (json!({ "groups": [groups[0]], "mfaEnabled": false, "roles": [auditor] }), vec!["delta", "foxtrot"]),
            (json!({ "status": [] }), vec![]),
            // The search: an exact id, the start of a username, e-mail address or name.
            (json!({ "search": fixture.id("delta") }), vec!["delta"]),
            (json!({ "search": fixture.id("delta").to_uppercase() }), vec!["delta"]),
            (json!({ "search": "AL" }), vec!["Alpha"]),
            (json!({ "search": "KILO@ex" }), vec!["Alpha"]),
            (json!({ "search": " rowan CH " }), vec!["charlie"]),
            (json!({ "search": "o" }), vec!["owner", "echo"]),
            (json!({ "search": "lpha" }), vec![]),
            (json!({ "search": "" }), vec!["owner", "delta", "Alpha", "charlie", "Bravo", "echo", "foxtrot"]),
        ];
        for (filter, expected) in cases {
            let body = users(
                &app,
                &fixture.owner,
                json!({ "o": fixture.organization, "f": filter }),
            )
            .await;
            let connection = &body["data"]["users"];
            assert_eq!(usernames(connection), expected, "{:?} {filter}: {body}", app.backend);
            assert_eq!(connection["totalCount"], expected.len(), "{:?} {filter}", app.backend);
        }

        // Ids in filters are checked; ids of nothing match nothing.
        let body = users(
            &app,
            &fixture.owner,
            json!({ "o": fixture.organization, "f": { "roles": ["not-an-id"] } }),
        )
        .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert!(body["errors"][0]["message"].as_str().unwrap_or_default().starts_with("roles:"), "{body}");
        let body = users(
            &app,
            &fixture.owner,
            json!({ "o": fixture.organization, "f": { "groups": [fixture.organization] } }),
        )
        .await;
        assert_eq!(usernames(&body["data"]["users"]), Vec::<String>::new(), "{body}");
        let body = users(
            &app,
            &fixture.owner,
            json!({ "o": fixture.organization, "f": { "search": "x".repeat(255) } }),
        )
        .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        app
    })
    .await;
}

#[tokio::test]
async fn a_cursor_works_only_in_its_own_order_and_page_sizes_are_bounded() {
    on_each_backend(&[], |app| async move {
        let fixture = fixture(&app).await;
        let page = |variables: Value| {
            let app = &app;
            let fixture = &fixture;
            async move {
                let mut variables = variables;
                variables["o"] = json!(fixture.organization);
                users(app, &fixture.owner, variables).await
            }
        };
        let body = page(json!({ "ob": { "field": "USERNAME" }, "first": 2 })).await;
        let cursor = body["data"]["users"]["pageInfo"]["endCursor"].clone();
        let body = page(json!({ "ob": { "field": "USERNAME" }, "first": 2, "after": cursor })).await;
        assert_eq!(usernames(&body["data"]["users"]), ["charlie", "delta"]);

        for (variables, argument) in [
            (json!({ "ob": { "field": "EMAIL" }, "after": cursor }), "after:"),
            (json!({ "ob": { "field": "USERNAME", "direction": "DESC" }, "last": 2, "before": cursor }), "before:"),
            (json!({ "after": "not a cursor" }), "after:"),
            (json!({ "first": 2, "last": 2 }), "last:"),
            (json!({ "first": 101 }), "first:"),
            (json!({ "last": -1 }), "last:"),
        ] {
            let body = page(variables.clone()).await;
            assert_eq!(error_code(&body), "BAD_USER_INPUT", "{variables}: {body}");
            let message = body["errors"][0]["message"].as_str().unwrap_or_default();
            assert!(message.starts_with(argument), "{variables}: {message}");
        }
        // A well-formed cursor whose key is not of the order is refused all the same.
        let forged = {
            use base64::Engine;
            let position = json!({ "o": "CREATED_AT ASC", "k": { "Text": "x" }, "i": fixture.id("delta") });
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(position.to_string())
        };
        let body = page(json!({ "after": forged })).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        app
    })
    .await;
}

#[tokio::test]
async fn members_with_users_view_see_the_list_and_its_users_and_no_one_else_does() {
    on_each_backend(&[], |app| async move {
        let fixture = fixture(&app).await;
        let acme = json!({ "o": fixture.organization });

        // A Viewer lists the members.
        let body = users(&app, &fixture.viewer, acme.clone()).await;
        assert_eq!(body["data"]["users"]["totalCount"], 7, "{body}");

        // A member whose role has no USERS/VIEW is refused; a stranger is told nothing exists.
        let api_user = app.create_user("apiuser", PASSWORD).await;
        app.graphql(
            Some(&app.admin_token().await),
            "mutation($o: ID!, $u: ID!, $r: ID!) { addMember(input: {organization: $o, user: $u, role: $r}) { errors { message } } }",
            json!({ "o": fixture.organization, "u": api_user, "r": fixture.role("API User") }),
        )
        .await;
        let api_token = app.token("apiuser", PASSWORD).await;
        let body = users(&app, &api_token, acme.clone()).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{body}");

        let stranger = app.create_user("stranger", PASSWORD).await;
        app.create_organization(&fixture.admin, "Globex", &stranger).await;
        let stranger_token = app.token("stranger", PASSWORD).await;
        let body = users(&app, &stranger_token, acme.clone()).await;
        assert_eq!(error_code(&body), "NOT_FOUND", "{body}");
        let body = users(&app, &fixture.admin, acme.clone()).await;
        assert_eq!(body["data"]["users"]["totalCount"], 8, "a SuperAdmin lists any organization: {body}");

        // One user.
        let user = |token: String, id: String| {
            let app = &app;
            async move {
                app.graphql(
                    Some(&token),
                    "query($id: ID!) { user(id: $id) { id username memberships { status } } }",
                    json!({ "id": id }),
                )
                .await
            }
        };
        let delta = fixture.id("delta").to_owned();
        let missing = uuid::Uuid::now_v7().to_string();
        for (who, token, id, visible) in [
            ("a viewer, a co-member", fixture.viewer.clone(), delta.clone(), true),
            ("the API user, a co-member", api_token.clone(), delta.clone(), false),
            ("the API user, themselves", api_token.clone(), api_user.clone(), true),
            ("a stranger, a member of Acme", stranger_token.clone(), delta.clone(), false),
            ("a stranger, themselves", stranger_token.clone(), stranger.clone(), true),
            ("a SuperAdmin, anyone", fixture.admin.clone(), stranger.clone(), true),
            ("a viewer, a user of no shared organization", fixture.viewer.clone(), stranger.clone(), false),
            ("a SuperAdmin, no one", fixture.admin.clone(), missing.clone(), false),
        ] {
            let body = user(token, id.clone()).await;
            if visible {
                assert_eq!(body["data"]["user"]["id"], json!(id), "{:?} {who}: {body}", app.backend);
            } else {
                assert_eq!(error_code(&body), "NOT_FOUND", "{:?} {who}: {body}", app.backend);
                assert_eq!(body["errors"][0]["message"], "the user was not found", "{who}");
            }
        }
        app
    })
    .await;
}
