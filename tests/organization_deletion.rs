//! The owner deletes an organization: its members lose it and are told, its resources are
//! marked deleted, and nothing can be done in it any more; the owner's other organizations
//! are untouched.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{ADMIN_PASSWORD, TestApp, error_code, on_each_backend};

const DELETE: &str = "mutation($o: ID!, $n: String!) { deleteOrganization(input: \
    {organization: $o, confirmName: $n}) { organization { id name deletedAt } \
    errors { field code message } } }";

async fn delete(app: &TestApp, token: &str, organization: &str, name: &str) -> Value {
    app.graphql(Some(token), DELETE, json!({ "o": organization, "n": name }))
        .await
}

/// Makes `user` an active member of `organization` with `role`, as a SuperAdmin (anyone else's
/// `addMember` only invites).
async fn add_member(app: &TestApp, organization: &str, user: &str, role: &str) {
    let body = app
        .graphql(
            Some(&app.admin_token().await),
            "mutation($o: ID!, $u: ID!, $r: ID!) { addMember(input: {organization: $o, user: $u, role: $r}) { errors { message } } }",
            json!({ "o": organization, "u": user, "r": role }),
        )
        .await;
    assert_eq!(
        body["data"]["addMember"]["errors"],
        json!([]),
        "{:?}: {body}",
        app.backend
    );
}

/// The messages in the local mailbox for `username`, once there are `count` of them.
async fn mail_of(app: &TestApp, username: &str, count: usize) -> Vec<(String, String)> {
    let address = format!("{username}@example.com");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (messages, _) = app
            .database
            .store
            .mailbox_page(Some(&address), None, 100)
            .await
            .expect("mailbox");
        if messages.len() >= count {
            return messages
                .into_iter()
                .map(|message| (message.subject, message.text_body))
                .collect();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}: {username} has {} messages, not {count}",
            app.backend,
            messages.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_owner_deletes_the_organization_and_its_members_lose_it_and_are_told() {
    on_each_backend(&["--mail-poll-ms", "50"], |app| async move {
        let acme = app.organization_owned_by("Acme", "olga").await;
        let globex = app.organization_owned_by("Globex", "gary").await;
        let olga = app.login("olga", ADMIN_PASSWORD).await["user"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        add_member(&app, &globex.id, &olga, &globex.viewer).await;
        let mike = app.create_user("mike", ADMIN_PASSWORD).await;
        add_member(&app, &acme.id, &mike, &acme.viewer).await;
        let administrator = app.role_id(&acme.owner_token, &acme.id, "Administrator").await;
        let adam = app.create_user("adam", ADMIN_PASSWORD).await;
        add_member(&app, &acme.id, &adam, &administrator).await;
        let registered = app
            .graphql(
                Some(&acme.owner_token),
                "mutation($i: RegisterResourceInput!) { registerResource(input: $i) { resource { id } errors { message } } }",
                json!({ "i": { "organization": acme.id, "kind": "DASHBOARD", "name": "Sales",
                               "externalId": "dash-1", "owner": mike } }),
            )
            .await;
        let resource = registered["data"]["registerResource"]["resource"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{registered}"))
            .to_owned();
        let invited = app
            .graphql(
                Some(&acme.owner_token),
                "mutation($o: ID!, $r: ID!) { inviteUser(input: {organization: $o, email: \"ivy@example.com\", fullName: \"Ivy\", roles: [$r]}) { errors { message } } }",
                json!({ "o": acme.id, "r": acme.viewer }),
            )
            .await;
        assert_eq!(invited["data"]["inviteUser"]["errors"], json!([]), "{invited}");
        let mike_token = app.token("mike", ADMIN_PASSWORD).await;
        let created = app
            .graphql(
                Some(&mike_token),
                "mutation($o: ID!) { createApiKey(input: {name: \"acme key\", organization: $o}) { token apiKey { id } errors { message } } }",
                json!({ "o": acme.id }),
            )
            .await;
        let key = created["data"]["createApiKey"]["token"]
            .as_str()
            .unwrap_or_else(|| panic!("{created}"))
            .to_owned();
        let key_id = steward_domain::ApiKeyId(
            created["data"]["createApiKey"]["apiKey"]["id"]
                .as_str()
                .and_then(|id| id.parse().ok())
                .expect("key id"),
        );
        let in_acme = "query($o: ID!) { organization(id: $o) { name } }";
        assert_eq!(
            app.graphql(Some(&key), in_acme, json!({ "o": acme.id })).await["data"]["organization"]["name"],
            "Acme"
        );

        // Another administrator, a slip of the name: refused, nothing deleted.
        let adam_token = app.token("adam", ADMIN_PASSWORD).await;
        let by_admin = delete(&app, &adam_token, &acme.id, "Acme").await;
        assert_eq!(error_code(&by_admin), "FORBIDDEN", "{by_admin}");
        let slip = delete(&app, &acme.owner_token, &acme.id, "acme").await;
        let errors = &slip["data"]["deleteOrganization"]["errors"];
        assert_eq!(errors[0]["field"], json!(["input", "confirmName"]), "{slip}");
        assert!(
            errors[0]["message"].as_str().is_some_and(|m| m.contains("Acme")),
            "{slip}"
        );

        let deleted = delete(&app, &acme.owner_token, &acme.id, "Acme").await;
        let payload = &deleted["data"]["deleteOrganization"];
        assert_eq!(payload["errors"], json!([]), "{:?}: {deleted}", app.backend);
        assert!(payload["organization"]["deletedAt"].is_string(), "{deleted}");

        // The member's session and the key limited to Acme no longer act in it; the key is
        // revoked, not merely idle while the membership is disabled.
        let revoked = app.database.store.api_key_by_id(key_id).await.expect("key");
        assert!(
            revoked.is_some_and(|key| key.revoked_at.is_some()),
            "{:?}",
            app.backend
        );
        for token in [&mike_token, &key] {
            let gone = app.graphql(Some(token), in_acme, json!({ "o": acme.id })).await;
            assert!(gone["data"]["organization"].is_null(), "{gone}");
        }
        let mike_token = app.token("mike", ADMIN_PASSWORD).await;
        let seen = app
            .graphql(Some(&mike_token), in_acme, json!({ "o": acme.id }))
            .await;
        assert_eq!(error_code(&seen), "NOT_FOUND", "{seen}");
        let seen = app
            .graphql(
                Some(&mike_token),
                "{ organizations { totalCount } me { memberships { id } ownedResources { id } } }",
                json!({}),
            )
            .await;
        assert_eq!(
            seen["data"],
            json!({ "organizations": { "totalCount": 0 },
                    "me": { "memberships": [], "ownedResources": [] } }),
            "{seen}"
        );

        // The owner keeps Globex: a new login acts there.
        let olga_token = app.token("olga", ADMIN_PASSWORD).await;
        let olga_sees = app
            .graphql(
                Some(&olga_token),
                "{ organizations { nodes { name } } me { memberships { status } } }",
                json!({}),
            )
            .await;
        assert_eq!(
            olga_sees["data"],
            json!({ "organizations": { "nodes": [{ "name": "Globex" }] },
                    "me": { "memberships": [{ "status": "ACTIVE" }] } }),
            "{olga_sees}"
        );

        // A SuperAdmin still sees it, with every membership disabled and no live resource.
        let admin = app.admin_token().await;
        let audit = app
            .graphql(
                Some(&admin),
                "query($o: ID!) { organization(id: $o) { deletedAt members { nodes { status } } } \
                 resources(organization: $o) { totalCount } \
                 invitations(organization: $o) { nodes { status } } }",
                json!({ "o": acme.id }),
            )
            .await;
        assert!(
            audit["data"]["organization"]["deletedAt"].is_string(),
            "{audit}"
        );
        let statuses = audit["data"]["organization"]["members"]["nodes"]
            .as_array()
            .expect("members")
            .iter()
            .map(|member| member["status"].clone())
            .collect::<Vec<_>>();
        // The invitee's membership too, which never gave access.
        assert_eq!(statuses, vec![json!("DISABLED"); 4], "{audit}");
        assert_eq!(
            audit["data"]["invitations"]["nodes"],
            json!([{ "status": "REVOKED" }]),
            "{audit}"
        );
        assert_eq!(audit["data"]["resources"]["totalCount"], 0, "{audit}");
        let record = app
            .database
            .store
            .resource_by_id(resource.parse().expect("uuid"))
            .await
            .expect("resource")
            .expect("kept");
        assert!(record.deleted_at.is_some(), "{:?}: {record:?}", app.backend);

        // Those who had access are told; the invitee, who never had, is not.
        let (outbox, _) = app
            .database
            .store
            .outbox_page(None, None, 100)
            .await
            .expect("outbox");
        let mut told: Vec<String> = outbox
            .into_iter()
            .filter(|message| message.kind == "ORGANIZATION_DELETED")
            .map(|message| message.recipient_address)
            .collect();
        told.sort();
        assert_eq!(
            told,
            ["adam@example.com", "mike@example.com", "olga@example.com"],
            "{:?}",
            app.backend
        );
        // Every member is told, in their mail, which organization and what is untouched.
        // (The mail worker sends in the background: a member may have other mail already,
        // so this waits for the deletion's.)
        for username in ["mike", "olga", "adam"] {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            let (subject, text) = loop {
                let mail = mail_of(&app, username, 1).await;
                let deletion = mail
                    .into_iter()
                    .find(|(subject, _)| subject.contains("deleted"));
                if let Some(found) = deletion {
                    break found;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{:?}: {username} was not told",
                    app.backend
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            assert!(subject.contains("Acme"), "{subject}");
            assert!(text.contains("access to Acme has ended"), "{text}");
            assert!(
                text.contains("account and your other organizations are not affected"),
                "{text}"
            );
        }
        app
    })
    .await;
}

#[tokio::test]
async fn a_deleted_organization_cannot_be_deleted_again_nor_changed_by_anyone() {
    on_each_backend(&[], |app| async move {
        let acme = app.organization_owned_by("Acme", "olga").await;
        let mike = app.create_user("mike", ADMIN_PASSWORD).await;
        add_member(&app, &acme.id, &mike, &acme.viewer).await;
        let deleted = delete(&app, &acme.owner_token, &acme.id, "Acme").await;
        assert_eq!(deleted["data"]["deleteOrganization"]["errors"], json!([]), "{deleted}");

        // For its former owner it is gone.
        let owner_token = app.token("olga", ADMIN_PASSWORD).await;
        let again = delete(&app, &owner_token, &acme.id, "Acme").await;
        assert_eq!(error_code(&again), "NOT_FOUND", "{again}");

        // A SuperAdmin sees it, and is told why nothing can be done in it.
        let admin = app.admin_token().await;
        let again = delete(&app, &admin, &acme.id, "Acme").await;
        assert!(
            again["data"]["deleteOrganization"]["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("deleted already")),
            "{again}"
        );
        let input = json!({ "organization": acme.id, "user": mike });
        for (mutation, variables) in [
            (
                "mutation($i: MembershipInput!) { enableMembership(input: $i) { errors { message } } }",
                json!({ "i": input }),
            ),
            (
                "mutation($o: ID!, $u: ID!) { transferOrganizationOwnership(input: {organization: $o, owner: $u}) { errors { message } } }",
                json!({ "o": acme.id, "u": mike }),
            ),
            (
                "mutation($o: ID!, $r: ID!) { inviteUser(input: {organization: $o, email: \"new@example.com\", fullName: \"New\", roles: [$r]}) { errors { message } } }",
                json!({ "o": acme.id, "r": acme.viewer }),
            ),
            (
                "mutation($o: ID!, $u: ID!) { registerResource(input: {organization: $o, kind: \"DASHBOARD\", name: \"Late\", externalId: \"late\", owner: $u}) { errors { message } } }",
                json!({ "o": acme.id, "u": mike }),
            ),
            (
                "mutation($o: ID!) { renameOrganization(input: {organization: $o, name: \"Acme 2\"}) { errors { message } } }",
                json!({ "o": acme.id }),
            ),
            (
                "mutation($o: ID!) { createGroup(input: {organization: $o, name: \"Late group\"}) { errors { message } } }",
                json!({ "o": acme.id }),
            ),
            (
                "mutation($o: ID!) { createRole(input: {organization: $o, name: \"Late role\", permissions: []}) { errors { message } } }",
                json!({ "o": acme.id }),
            ),
            (
                "mutation($o: ID!, $u: ID!) { removeMember(input: {organization: $o, user: $u}) { errors { message } } }",
                json!({ "o": acme.id, "u": mike }),
            ),
        ] {
            let refused = app.graphql(Some(&admin), mutation, variables).await;
            let message = refused["data"]
                .as_object()
                .and_then(|data| data.values().next())
                .map(|payload| payload["errors"][0]["message"].clone());
            assert!(
                message
                    .as_ref()
                    .and_then(Value::as_str)
                    .is_some_and(|m| m.contains("has been deleted")),
                "{:?}: {mutation}: {refused}",
                app.backend
            );
        }
        app
    })
    .await;
}
