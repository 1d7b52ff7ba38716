//! The resource registry over HTTP: kinds as data, idempotent registration by the platform's
//! services, the rules of kinds and owners, listing, a user's owned resources, deletion, and
//! who may do what.

use serde_json::{Value, json};

use crate::support::{TestApp, error_code, on_each_backend};

const PASSWORD: &str = "correct horse battery staple 42";
const REGISTER: &str = "mutation($i: RegisterResourceInput!) { registerResource(input: $i) { \
    resource { id kind name externalId enabled owner { username } organization { name } } \
    errors { field code message } } }";

async fn register(app: &TestApp, token: &str, input: Value) -> Value {
    app.graphql(Some(token), REGISTER, json!({ "i": input }))
        .await["data"]["registerResource"]
        .clone()
}

#[tokio::test]
async fn services_register_resources_idempotently_within_the_rules_of_their_kinds() {
    on_each_backend(&[], |app| async move {
        let org = app.organization_owned_by("Dataco", "dataowner").await;
        let member = app.create_user("analyst", PASSWORD).await;
        app.graphql(
            Some(&app.admin_token().await),
            "mutation($o: ID!, $u: ID!, $r: ID!) { addMember(input: {organization: $o, user: $u, role: $r}) { errors { message } } }",
            json!({ "o": org.id, "u": member, "r": org.viewer }),
        )
        .await;

        let kinds = app
            .graphql(
                Some(&org.owner_token),
                "{ resourceKinds { code transferable disableBeforeTransfer applicationLevel } }",
                json!({}),
            )
            .await;
        let kinds = kinds["data"]["resourceKinds"].as_array().expect("kinds").clone();
        assert!(kinds.len() >= 29, "seeded kinds: {kinds:?}");
        assert!(kinds.contains(&json!({ "code": "SCHEDULE", "transferable": true,
            "disableBeforeTransfer": true, "applicationLevel": false })));
        assert!(kinds.contains(&json!({ "code": "MAIL_SERVER", "transferable": false,
            "disableBeforeTransfer": false, "applicationLevel": true })));

        let dashboard = json!({ "organization": org.id, "kind": "DASHBOARD", "name": "Sales",
                                "externalId": "dash-1", "owner": member });
        let first = register(&app, &org.owner_token, dashboard.clone()).await;
        assert_eq!(first["errors"], json!([]), "{first}");
        assert_eq!(first["resource"]["owner"]["username"], "analyst");
        assert_eq!(first["resource"]["enabled"], true);
        // The same kind and external id again: an update, not a second resource.
        let mut renamed = dashboard.clone();
        renamed["name"] = json!("Sales 2027");
        let again = register(&app, &org.owner_token, renamed).await;
        assert_eq!(again["resource"]["id"], first["resource"]["id"], "{again}");
        assert_eq!(again["resource"]["name"], "Sales 2027");
        let schedule = register(
            &app,
            &org.owner_token,
            json!({ "organization": org.id, "kind": "SCHEDULE", "name": "Nightly",
                    "externalId": "sched-1", "owner": member }),
        )
        .await;
        assert_eq!(schedule["errors"], json!([]), "{schedule}");

        // An application-level resource belongs to the application: it has no owner.
        let mail_server = register(
            &app,
            &org.owner_token,
            json!({ "organization": org.id, "kind": "MAIL_SERVER", "name": "Relay",
                    "externalId": "smtp-1" }),
        )
        .await;
        assert_eq!(mail_server["errors"], json!([]), "{mail_server}");
        assert_eq!(mail_server["resource"]["owner"], json!(null), "{mail_server}");

        // Refusals, each saying why.
        for (input, field, words) in [
            (json!({ "kind": "MAIL_SERVER" }), "kind", "never owned"),
            (json!({ "kind": "NO_SUCH_KIND" }), "kind", "not a known resource kind"),
            (json!({ "owner": null }), "owner", "is required for a resource of kind DATASET"),
            (json!({ "kind": "dashboard" }), "kind", "upper-case"),
            (json!({ "owner": app.create_user("outsider", PASSWORD).await }), "owner", "active member"),
            (json!({ "externalId": " " }), "externalId", "1 to 200"),
        ] {
            let mut bad = json!({ "organization": org.id, "kind": "DATASET", "name": "X",
                                  "externalId": "x-1", "owner": member });
            for (key, value) in input.as_object().expect("object") {
                bad[key] = value.clone();
            }
            let refused = register(&app, &org.owner_token, bad).await;
            assert_eq!(refused["errors"][0]["field"], json!(["input", field]), "{refused}");
            assert!(
                refused["errors"][0]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(words)),
                "{refused}"
            );
        }

        // Listing, filtered, and the user's own list.
        let listed = app
            .graphql(
                Some(&org.owner_token),
                "query($o: ID!, $u: ID!) { all: resources(organization: $o) { totalCount } \
                 schedules: resources(organization: $o, filter: {kind: \"SCHEDULE\", owner: $u}) { \
                 totalCount nodes { name } } }",
                json!({ "o": org.id, "u": member }),
            )
            .await;
        assert_eq!(listed["data"]["all"]["totalCount"], 3, "{listed}");
        assert_eq!(
            listed["data"]["schedules"]["nodes"],
            json!([{ "name": "Nightly" }])
        );
        let analyst = app.token("analyst", PASSWORD).await;
        let own = app
            .graphql(
                Some(&analyst),
                "{ me { ownedResources { kind name } dashboards: ownedResources(kind: \"DASHBOARD\") { name } } }",
                json!({}),
            )
            .await;
        assert_eq!(
            own["data"]["me"]["ownedResources"],
            json!([{ "kind": "DASHBOARD", "name": "Sales 2027" }, { "kind": "SCHEDULE", "name": "Nightly" }]),
            "{own}"
        );
        assert_eq!(own["data"]["me"]["dashboards"], json!([{ "name": "Sales 2027" }]));

        // A Viewer sees but does not register; another organization's administrator does
        // not even see.
        let viewer_list = app
            .graphql(
                Some(&analyst),
                "query($o: ID!) { resources(organization: $o) { totalCount } }",
                json!({ "o": org.id }),
            )
            .await;
        assert_eq!(viewer_list["data"]["resources"]["totalCount"], 3, "{viewer_list}");
        let viewer_register = app
            .graphql(Some(&analyst), REGISTER, json!({ "i": dashboard }))
            .await;
        assert_eq!(error_code(&viewer_register), "FORBIDDEN", "{viewer_register}");
        let other = app.organization_owned_by("Otherco", "otherowner").await;
        let hidden = app
            .graphql(
                Some(&other.owner_token),
                "query($o: ID!) { resources(organization: $o) { totalCount } }",
                json!({ "o": org.id }),
            )
            .await;
        assert_eq!(error_code(&hidden), "NOT_FOUND", "{hidden}");
        let their_view = app
            .graphql(
                Some(&other.owner_token),
                "query($u: ID!) { user(id: $u) { ownedResources { name } } }",
                json!({ "u": member }),
            )
            .await;
        assert!(their_view["data"]["user"].is_null(), "{their_view}");

        let deleted = app
            .graphql(
                Some(&org.owner_token),
                "mutation($id: ID!) { deleteResource(id: $id) { resource { name } errors { message } } }",
                json!({ "id": schedule["resource"]["id"] }),
            )
            .await;
        assert_eq!(deleted["data"]["deleteResource"]["resource"]["name"], "Nightly");
        app
    })
    .await;
}

#[tokio::test]
async fn only_a_super_admin_adds_kinds() {
    on_each_backend(&[], |app| async move {
        let org = app.organization_owned_by("Kindco", "kindowner").await;
        let create = "mutation($i: CreateResourceKindInput!) { createResourceKind(input: $i) { \
                      resourceKind { code transferable } errors { field message } } }";
        let input = json!({ "i": { "code": "REPORT_TEMPLATE", "name": "Report template", "transferable": true } });
        let refused = app.graphql(Some(&org.owner_token), create, input.clone()).await;
        assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
        let admin = app.admin_token().await;
        let created = app.graphql(Some(&admin), create, input.clone()).await;
        assert_eq!(
            created["data"]["createResourceKind"]["resourceKind"],
            json!({ "code": "REPORT_TEMPLATE", "transferable": true }),
            "{created}"
        );
        let twice = app.graphql(Some(&admin), create, input).await;
        assert_eq!(
            twice["data"]["createResourceKind"]["errors"][0]["field"],
            json!(["input", "kind"]),
            "{twice}"
        );
        let inconsistent = app
            .graphql(
                Some(&admin),
                create,
                json!({ "i": { "code": "ODD", "name": "Odd", "transferable": false, "disableBeforeTransfer": true } }),
            )
            .await;
        assert_eq!(
            inconsistent["data"]["createResourceKind"]["errors"][0]["field"],
            json!(["input", "disableBeforeTransfer"]),
            "{inconsistent}"
        );
        app
    })
    .await;
}
