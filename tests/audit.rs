//! The audit trail through the API: who reads which organization's events, paging, filters,
//! and platform events for SuperAdmins only.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::support::{TestApp, error_code, on_each_backend};

const PASSWORD: &str = "correct horse battery staple 42";

const AUDIT_EVENTS: &str = "query($filter: AuditEventFilter, $first: Int, $after: String) { \
    auditEvents(filter: $filter, first: $first, after: $after) { totalCount \
    pageInfo { hasNextPage endCursor } \
    edges { cursor node { id occurredAt action outcome targetType targetId \
    organization { id } actorId actor { username } clientAddress detail } } } }";

/// Acme, owned by `owner` (Administrator), with one member per other role the tests need,
/// and a custom role; Globex, owned by `stranger`.
struct Fixture {
    acme: String,
    globex: String,
    admin: String,
    owner: String,
    viewer: String,
    operator: String,
    api_user: String,
    stranger: String,
}

async fn fixture(app: &TestApp) -> Fixture {
    let admin = app.admin_token().await;
    let owner_id = app.create_user("owner", PASSWORD).await;
    let acme = app.create_organization(&admin, "Acme", &owner_id).await;
    let stranger_id = app.create_user("stranger", PASSWORD).await;
    let globex = app
        .create_organization(&admin, "Globex", &stranger_id)
        .await;
    let owner = app.token("owner", PASSWORD).await;
    let body = app
        .graphql(
            Some(&owner),
            "query($id: ID!) { organization(id: $id) { roles { id name } } }",
            json!({ "id": acme }),
        )
        .await;
    let roles = body["data"]["organization"]["roles"].clone();
    let role_id = |name: &str| {
        roles
            .as_array()
            .and_then(|roles| roles.iter().find(|role| role["name"] == name))
            .and_then(|role| role["id"].as_str())
            .unwrap_or_else(|| panic!("no role {name} in {roles}"))
            .to_owned()
    };
    let mut tokens = Vec::new();
    for (role, username) in [
        ("Viewer", "viewer"),
        ("Operator", "operator"),
        ("API User", "apiuser"),
    ] {
        let user = app.create_user(username, PASSWORD).await;
        let added = app
            .graphql(
                Some(&app.admin_token().await),
                "mutation($input: AddMemberInput!) { addMember(input: $input) { errors { code message } } }",
                json!({ "input": { "organization": acme, "user": user, "role": role_id(role) } }),
            )
            .await;
        assert_eq!(added["data"]["addMember"]["errors"], json!([]), "{added}");
        tokens.push(app.token(username, PASSWORD).await);
    }
    let created = app
        .graphql(
            Some(&owner),
            "mutation($o: ID!) { createRole(input: {organization: $o, name: \"Auditor\", permissions: [{area: AUDIT, level: VIEW}]}) { errors { code } } }",
            json!({ "o": acme }),
        )
        .await;
    assert_eq!(
        created["data"]["createRole"]["errors"],
        json!([]),
        "{created}"
    );
    let [viewer, operator, api_user] = tokens.try_into().expect("three tokens");
    Fixture {
        acme,
        globex,
        admin,
        owner,
        viewer,
        operator,
        api_user,
        stranger: app.token("stranger", PASSWORD).await,
    }
}

/// Every event matching `filter`, read in pages of `first`; and the total of the first page.
async fn all_pages(app: &TestApp, token: &str, filter: Value, first: i64) -> (Vec<Value>, i64) {
    let mut events = Vec::new();
    let mut after = Value::Null;
    let mut total = None;
    loop {
        let body = app
            .graphql(
                Some(token),
                AUDIT_EVENTS,
                json!({ "filter": filter, "first": first, "after": after }),
            )
            .await;
        let page = &body["data"]["auditEvents"];
        assert!(body.get("errors").is_none(), "{:?}: {body}", app.backend);
        let page_total = page["totalCount"].as_i64().expect("totalCount");
        assert_eq!(*total.get_or_insert(page_total), page_total, "{body}");
        let edges = page["edges"].as_array().expect("edges");
        assert!(
            edges.len() <= usize::try_from(first).expect("first"),
            "{body}"
        );
        events.extend(edges.iter().map(|edge| edge["node"].clone()));
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    (events, total.unwrap_or(0))
}

fn actions(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|event| event["action"].as_str().expect("action"))
        .collect()
}

#[tokio::test]
async fn members_with_audit_view_read_their_organizations_trail_page_by_page() {
    on_each_backend(&[], |app| async move {
        let fixture = fixture(&app).await;
        let acme = json!({ "organization": fixture.acme });
        for (role, token) in [
            ("Administrator", &fixture.owner),
            ("Viewer", &fixture.viewer),
        ] {
            let (events, total) = all_pages(&app, token, acme.clone(), 2).await;
            assert_eq!(
                actions(&events),
                [
                    "role.created",
                    "membership.added",
                    "membership.added",
                    "membership.added",
                    "organization.created",
                ],
                "{:?}: {role}, newest first: {events:?}",
                app.backend
            );
            assert_eq!(total, 5, "{:?}: {role}", app.backend);
            let ids: HashSet<_> = events.iter().map(|event| event["id"].clone()).collect();
            assert_eq!(ids.len(), 5, "no event twice across pages");
            assert!(
                events
                    .iter()
                    .all(|event| event["organization"]["id"] == fixture.acme.as_str()),
                "{events:?}"
            );

            let (unfiltered, _) = all_pages(&app, token, Value::Null, 100).await;
            assert_eq!(
                unfiltered, events,
                "{role}: only Acme's events, no platform events"
            );
        }

        let (added, total) = all_pages(
            &app,
            &fixture.viewer,
            json!({ "organization": fixture.acme, "action": "membership.added" }),
            100,
        )
        .await;
        assert_eq!(total, 3);
        let event = &added[0];
        assert_eq!(event["outcome"], "SUCCESS");
        assert_eq!(event["targetType"], "user");
        // Added by a SuperAdmin (anyone else's `addMember` only invites), who is no member of
        // Acme: the Viewer sees the actor's id, not the account.
        assert!(event["actor"].is_null(), "{event}");
        assert!(event["actorId"].is_string(), "{event}");
        assert!(event["detail"]["defaultRole"].is_string(), "{event}");
        let (created, _) = all_pages(
            &app,
            &fixture.viewer,
            json!({ "organization": fixture.acme, "action": "role.created" }),
            100,
        )
        .await;
        assert_eq!(
            created[0]["actor"]["username"], "owner",
            "the Viewer holds USERS/VIEW in Acme, where the owner is a member"
        );
        let adder = event["actorId"].clone();
        let target = event["targetId"].clone();
        let (about_target, _) = all_pages(
            &app,
            &fixture.viewer,
            json!({ "organization": fixture.acme, "targetType": "user", "targetId": target }),
            100,
        )
        .await;
        assert_eq!(actions(&about_target), ["membership.added"]);
        let (by_adder, total) =
            all_pages(&app, &fixture.viewer, json!({ "actor": adder }), 100).await;
        assert_eq!(
            total, 4,
            "the SuperAdmin created Acme and added three members: {by_adder:?}"
        );

        let created_at = added.last().expect("oldest")["occurredAt"].clone();
        let (since, _) = all_pages(&app, &fixture.owner, json!({ "from": created_at }), 100).await;
        assert_eq!(
            actions(&since).last(),
            Some(&"membership.added"),
            "from is inclusive"
        );
        let (until, _) = all_pages(&app, &fixture.owner, json!({ "to": created_at }), 100).await;
        assert_eq!(
            actions(&until),
            ["organization.created"],
            "to is exclusive: {until:?}"
        );
        app
    })
    .await;
}

#[tokio::test]
async fn members_without_audit_view_are_forbidden_and_list_nothing() {
    on_each_backend(&[], |app| async move {
        let fixture = fixture(&app).await;
        for (role, token) in [
            ("Operator", &fixture.operator),
            ("API User", &fixture.api_user),
        ] {
            let body = app
                .graphql(
                    Some(token),
                    AUDIT_EVENTS,
                    json!({ "filter": { "organization": fixture.acme } }),
                )
                .await;
            assert_eq!(
                error_code(&body),
                "FORBIDDEN",
                "{:?}: {role}: {body}",
                app.backend
            );
            let body = app.graphql(Some(token), AUDIT_EVENTS, json!({})).await;
            assert_eq!(
                body["data"]["auditEvents"]["totalCount"], 0,
                "{:?}: {role}: an empty list, not an error: {body}",
                app.backend
            );
            assert_eq!(body["data"]["auditEvents"]["edges"], json!([]));
        }
        let anonymous = app.graphql(None, AUDIT_EVENTS, json!({})).await;
        assert_eq!(error_code(&anonymous), "UNAUTHENTICATED", "{anonymous}");
        app
    })
    .await;
}

#[tokio::test]
async fn another_organizations_trail_does_not_exist_for_a_member() {
    on_each_backend(&[], |app| async move {
        let fixture = fixture(&app).await;
        let body = app
            .graphql(
                Some(&fixture.stranger),
                AUDIT_EVENTS,
                json!({ "filter": { "organization": fixture.acme } }),
            )
            .await;
        assert_eq!(error_code(&body), "NOT_FOUND", "{:?}: {body}", app.backend);

        let (events, total) = all_pages(&app, &fixture.stranger, Value::Null, 100).await;
        assert_eq!(
            actions(&events),
            ["organization.created"],
            "{:?}: {events:?}",
            app.backend
        );
        assert_eq!(total, 1);
        let event = &events[0];
        assert_eq!(event["organization"]["id"], fixture.globex.as_str());
        assert!(event["actorId"].is_string(), "{event}");
        assert_eq!(
            event["actor"],
            Value::Null,
            "the SuperAdmin who created Globex is no member the stranger may see: {event}"
        );
        app
    })
    .await;
}

#[tokio::test]
async fn a_super_admin_reads_every_event_platform_events_included() {
    on_each_backend(&[], |app| async move {
        let fixture = fixture(&app).await;
        let failed = app.login("viewer", "not the password").await;
        assert_eq!(failed["accessToken"], Value::Null, "{failed}");

        let (logins, total) = all_pages(
            &app,
            &fixture.admin,
            json!({ "action": "login.succeeded" }),
            3,
        )
        .await;
        // The fixture logs in the admin, owner, three members and the stranger.
        assert!(total >= 6, "{:?}: {total} logins: {logins:?}", app.backend);
        assert_eq!(logins.len() as i64, total);
        assert!(logins.iter().all(|event| event["organization"].is_null()));

        let (failures, _) = all_pages(&app, &fixture.admin, json!({ "action": "login.failed" }), 10).await;
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert_eq!(failures[0]["outcome"], "FAILURE");
        assert_eq!(failures[0]["actor"]["username"], "viewer");
        assert_eq!(failures[0]["detail"]["login"], "viewer");
        assert!(
            !failures[0].to_string().contains("not the password"),
            "no password in the trail: {}",
            failures[0]
        );

        let (everything, total) = all_pages(&app, &fixture.admin, Value::Null, 100).await;
        assert_eq!(everything.len() as i64, total);
        let (of_acme, _) = all_pages(&app, &fixture.admin, json!({ "organization": fixture.acme }), 100).await;
        assert_eq!(of_acme.len(), 5, "{:?}", app.backend);
        assert!(everything.len() > of_acme.len() + logins.len());

        let refused = app
            .graphql(
                Some(&fixture.admin),
                AUDIT_EVENTS,
                json!({ "filter": { "from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z" } }),
            )
            .await;
        assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
        app
    })
    .await;
}
