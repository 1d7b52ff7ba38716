//! Races: two changes of the same user, or the same change twice, sent at the same moment on
//! a multi-threaded runtime. Each ends in one consistent outcome on both backends (the
//! consistency report of the users involved is empty), and SQLite's single writer never shows
//! as an error.

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::support::{ADMIN_PASSWORD, TestApp, on_each_backend};

const TRANSFER: &str = "mutation($i: TransferResourcesInput!) { transferResources(input: $i) { \
    transfers { resourceCount } errors { code message } } }";
const DELETE: &str = "mutation($i: DeleteUserInput!) { deleteUser(input: $i) { \
    user { status } errors { code message } } }";
const BIND: &str = "mutation($r: ID!, $u: ID!) { bindRole(input: {role: $r, user: $u}) { \
    bindingId errors { code message } } }";
const UNBIND: &str = "mutation($o: ID!, $b: ID!) { unbindRole(input: {organization: $o, \
    binding: $b}) { unbound errors { code message } } }";

/// The invariants the consistency report finds broken for `user`.
async fn findings(app: &TestApp, admin: &str, user: &str) -> Value {
    let body = app
        .graphql(
            Some(admin),
            "query($u: ID!) { consistencyReport(user: $u) { invariant detail } }",
            json!({ "u": user }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["consistencyReport"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_a_user_while_their_resources_are_transferred_ends_consistently() {
    on_each_backend(&[], |app| async move {
        let admin = app.admin_token().await;
        for round in 0..3 {
            let org = app
                .organization_owned_by(&format!("Race{round}"), &format!("racer{round}"))
                .await;
            let alice = app.member_of(&org, &format!("alice{round}")).await;
            let bob = app.member_of(&org, &format!("bob{round}")).await;
            for (kind, name) in [("DASHBOARD", "Board"), ("SCHEDULE", "Hourly"), ("VIEW", "View")] {
                let body = app
                    .graphql(
                        Some(&org.owner_token),
                        "mutation($i: RegisterResourceInput!) { registerResource(input: $i) { errors { message } } }",
                        json!({ "i": { "organization": org.id, "kind": kind, "name": name,
                                       "externalId": format!("{name}-{round}"), "owner": alice } }),
                    )
                    .await;
                assert_eq!(body["data"]["registerResource"]["errors"], json!([]), "{body}");
            }
            let suspended = app
                .graphql(
                    Some(&admin),
                    "mutation($u: ID!) { suspendUser(input: {user: $u}) { errors { message } } }",
                    json!({ "u": alice }),
                )
                .await;
            assert_eq!(suspended["data"]["suspendUser"]["errors"], json!([]), "{suspended}");
            let delete = app.graphql(
                Some(&admin),
                DELETE,
                json!({ "i": { "user": alice, "transferTo": bob } }),
            );
            let transfer = app.graphql(
                Some(&org.owner_token),
                TRANSFER,
                json!({ "i": { "allOf": alice, "organization": org.id, "to": bob } }),
            );
            let (deleted, transferred) = tokio::join!(delete, transfer);
            // The deletion always goes through; the transfer either moved the three resources
            // first or found nothing left to move (or a deleted owner) and said so.
            assert_eq!(deleted["data"]["deleteUser"]["errors"], json!([]), "{deleted}");
            assert_eq!(deleted["data"]["deleteUser"]["user"]["status"], "DELETED");
            let payload = &transferred["data"]["transferResources"];
            let moved = payload["transfers"].as_array().map_or(0, |transfers| {
                transfers.iter().filter_map(|t| t["resourceCount"].as_i64()).sum::<i64>()
            });
            let refused = !payload["errors"].as_array().is_none_or(Vec::is_empty);
            assert!(
                moved == 0 || (moved == 3 && !refused),
                "{:?}: {transferred}",
                app.backend
            );
            // Either way bob owns all three, once each, and nothing is left inconsistent.
            let owned = app
                .graphql(
                    Some(&admin),
                    "query($u: ID!) { user(id: $u) { ownedResources { name } } }",
                    json!({ "u": bob }),
                )
                .await;
            let mut names: Vec<_> = owned["data"]["user"]["ownedResources"]
                .as_array()
                .expect("resources")
                .iter()
                .map(|resource| resource["name"].as_str().unwrap_or_default().to_owned())
                .collect();
            names.sort();
            assert_eq!(names, ["Board", "Hourly", "View"], "{:?}: {owned}", app.backend);
            assert_eq!(findings(&app, &admin, &alice).await, json!([]));
            assert_eq!(findings(&app, &admin, &bob).await, json!([]));
        }
        app
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_role_changes_leave_bindings_and_permissions_in_step() {
    on_each_backend(&[], |app| async move {
        let admin = app.admin_token().await;
        let org = app.organization_owned_by("Roles race", "roleracer").await;
        let carol = app.member_of(&org, "carol").await;
        let owner = &org.owner_token;
        let editor = app.role_id(owner, &org.id, "Editor").await;
        let administrator = app.role_id(owner, &org.id, "Administrator").await;
        // The same two roles bound four times each, at once.
        let binds = (0..8).map(|index| {
            let role = if index % 2 == 0 {
                &editor
            } else {
                &administrator
            };
            app.graphql(Some(owner), BIND, json!({ "r": role, "u": carol }))
        });
        let answers = join_all(binds).await;
        let bindings: Vec<String> = answers
            .iter()
            .filter_map(|answer| answer["data"]["bindRole"]["bindingId"].as_str())
            .map(str::to_owned)
            .collect();
        for answer in &answers {
            assert!(answer.get("errors").is_none(), "{answer}");
        }
        // Each role is bound once, whatever the order: the others were told it already was.
        let mut unique = bindings.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 2, "{:?}: {answers:?}", app.backend);
        assert_eq!(findings(&app, &admin, &carol).await, json!([]));
        // Unbinding one binding twice and the other once, at once: the second unbind of the
        // same binding finds it gone (and audits nothing).
        let unbinds = [&unique[0], &unique[0], &unique[1]]
            .map(|binding| app.graphql(Some(owner), UNBIND, json!({ "o": org.id, "b": binding })));
        let answers = join_all(unbinds).await;
        let unbound = answers
            .iter()
            .filter(|answer| answer["data"]["unbindRole"]["unbound"] == true)
            .count();
        assert_eq!(unbound, 2, "{:?}: {answers:?}", app.backend);
        assert_eq!(findings(&app, &admin, &carol).await, json!([]));
        app
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invitation_accepted_twice_at_once_is_accepted_once() {
    on_each_backend(&["--dev", "--mail-poll-ms", "50"], |app| async move {
        let org = app.organization_owned_by("Invites race", "inviter").await;
        let invited = app
            .graphql(
                Some(&org.owner_token),
                "mutation($i: InviteUserInput!) { inviteUser(input: $i) { errors { message } } }",
                json!({ "i": { "organization": org.id, "email": "twice@example.com",
                               "fullName": "Twice Accepted", "roles": [org.viewer] } }),
            )
            .await;
        assert_eq!(invited["data"]["inviteUser"]["errors"], json!([]), "{invited}");
        let mail = app.mails("twice@example.com", 1).await.swap_remove(0);
        let text = mail["text"].as_str().expect("text");
        let start = text.find("token=").expect("a link") + "token=".len();
        let token: String = text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        let accept = "mutation($i: AcceptInvitationInput!) { acceptInvitation(input: $i) { \
                      invitation { status user { id } } errors { code message } } }";
        let answers = join_all((0..2).map(|_| {
            app.graphql(
                None,
                accept,
                json!({ "i": { "token": token, "password": ADMIN_PASSWORD } }),
            )
        }))
        .await;
        let accepted: Vec<&Value> = answers
            .iter()
            .filter(|answer| answer["data"]["acceptInvitation"]["errors"] == json!([]))
            .collect();
        assert_eq!(accepted.len(), 1, "{:?}: {answers:?}", app.backend);
        for answer in &answers {
            assert!(answer.get("errors").is_none(), "{answer}");
        }
        let user = accepted[0]["data"]["acceptInvitation"]["invitation"]["user"]["id"]
            .as_str()
            .expect("user")
            .to_owned();
        let members = app
            .graphql(
                Some(&org.owner_token),
                "query($o: ID!) { organization(id: $o) { members(first: 50) { nodes { status user { id } } } } }",
                json!({ "o": org.id }),
            )
            .await;
        let memberships = members["data"]["organization"]["members"]["nodes"]
            .as_array()
            .expect("members")
            .iter()
            .filter(|member| member["user"]["id"] == user.as_str())
            .count();
        assert_eq!(memberships, 1, "{members}");
        let admin = app.admin_token().await;
        assert_eq!(findings(&app, &admin, &user).await, json!([]));
        app
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_writers_at_once_never_see_a_busy_database() {
    on_each_backend(&[], |app| async move {
        let mut tokens = Vec::new();
        for index in 0..16 {
            let name = format!("writer{index}");
            app.create_user(&name, ADMIN_PASSWORD).await;
            tokens.push(app.token(&name, ADMIN_PASSWORD).await);
        }
        let update = "mutation($i: ProfileInput!) { updateProfile(input: $i) { \
                      user { fullName } errors { message } } }";
        for round in 0..4 {
            let writes = tokens.iter().enumerate().map(|(index, token)| {
                let name = format!("Writer {index} round {round}");
                app.graphql(Some(token), update, json!({ "i": { "fullName": name } }))
            });
            for (index, answer) in join_all(writes).await.iter().enumerate() {
                assert!(
                    answer.get("errors").is_none(),
                    "{:?}: {answer}",
                    app.backend
                );
                assert_eq!(
                    answer["data"]["updateProfile"]["user"]["fullName"],
                    format!("Writer {index} round {round}")
                );
            }
        }
        app
    })
    .await;
}
