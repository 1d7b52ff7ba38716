//! The tenant boundary around accounts. An administrator acts on an account only through
//! memberships the account accepted, sees of a user only the memberships of organizations
//! where they may view users, and brings an existing account in only with its consent.
//!
//! Organization B's administrator faces four accounts: (a) one with only a pending invitation
//! to B, (b) one whose only organization was deleted and that B then invited, (c) a member of
//! both A and B, (d) A's administrator, whom B "added" with `addMember`. Every root field that
//! acts on a whole account is tried against each of them, and the schema is walked so that a
//! field taking a user that is not classified here fails the test.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::support::{ADMIN_PASSWORD, TestApp, TestOrg, error_code, on_each_backend};

/// Root fields that act on a user's whole account, with a document calling each on `$u`.
/// Only memberships the account accepted give power over it.
const ACCOUNT_FIELDS: [(&str, &str); 13] = [
    (
        "deletionPlan",
        "query($u: ID!) { deletionPlan(user: $u) { revision refusals } }",
    ),
    ("apiKeys", "query($u: ID!) { apiKeys(user: $u) { id } }"),
    ("sshKeys", "query($u: ID!) { sshKeys(user: $u) { id } }"),
    (
        "suspendUser",
        "mutation($u: ID!) { suspendUser(input: {user: $u, reason: \"probe\"}) { errors { code } } }",
    ),
    (
        "reactivateUser",
        "mutation($u: ID!) { reactivateUser(user: $u) { errors { code } } }",
    ),
    (
        "updateUser",
        "mutation($u: ID!) { updateUser(input: {user: $u, fullName: \"Hijacked\"}) { errors { code } } }",
    ),
    (
        "forcePasswordReset",
        "mutation($u: ID!) { forcePasswordReset(user: $u) { errors { code } } }",
    ),
    (
        "clearLoginLockout",
        "mutation($u: ID!) { clearLoginLockout(user: $u) { errors { code } } }",
    ),
    (
        "resetTotp",
        "mutation($u: ID!) { resetTotp(user: $u) { errors { code } } }",
    ),
    (
        "resendValidation",
        "mutation($u: ID!) { resendValidation(user: $u) { errors { code } } }",
    ),
    (
        "placeDeletionHold",
        "mutation($u: ID!) { placeDeletionHold(input: {user: $u, reason: \"probe\"}) { errors { code } } }",
    ),
    (
        "deleteUser",
        "mutation($u: ID!) { deleteUser(input: {user: $u, revokeApiKeys: true}) { errors { code } } }",
    ),
    ("user", "query($u: ID!) { user(id: $u) { id } }"),
];

/// Root fields taking a user that act on the membership in the caller's own organization
/// (or are a SuperAdmin's), not on the account: an organization may manage its own
/// invitations and memberships.
const ORGANIZATION_FIELDS: [&str; 18] = [
    "addMember",
    "addGroupMember",
    "removeGroupMember",
    "bindRole",
    "disableMembership",
    "enableMembership",
    "removeMember",
    "removalPlan",
    "shareResource",
    "unshareResource",
    "consistencyReport",
    "restoreUser",
    "transferResources",
    "createOrganization",
    "transferOrganizationOwnership",
    "registerResource",
    "resources",
    "auditEvents",
];

const MEMBER: &str = "mutation($o: ID!, $u: ID!, $r: ID!) { addMember(input: {organization: $o, \
    user: $u, role: $r}) { invitation { id status email user { id } } errors { code message } } }";

const INVITE: &str = "mutation($o: ID!, $e: String!, $r: ID!) { inviteUser(input: {organization: $o, \
    email: $e, fullName: \"Typed By B\", roles: [$r]}) { invitation { id status email user { id \
    username fullName } } errors { code message } } }";

const ACCOUNT: &str = "query($u: ID!) { user(id: $u) { status fullName deletionHolds { id } \
    memberships { status organization { id } } } }";

/// Makes `user` an active member of `org` as a SuperAdmin (the one who may add at once).
async fn add_directly(app: &TestApp, org: &TestOrg, user: &str) {
    let admin = app.admin_token().await;
    let body = app
        .graphql(
            Some(&admin),
            MEMBER,
            json!({ "o": org.id, "u": user, "r": org.viewer }),
        )
        .await;
    assert_eq!(body["data"]["addMember"]["errors"], json!([]), "{body}");
    assert!(
        body["data"]["addMember"]["invitation"].is_null(),
        "a SuperAdmin adds at once: {body}"
    );
}

/// B invites `username@example.com`; the answer holds the invitation, never the account.
async fn invite(app: &TestApp, b: &TestOrg, username: &str, account: &str) -> Value {
    let email = format!("{username}@example.com");
    let body = app
        .graphql(
            Some(&b.owner_token),
            INVITE,
            json!({ "o": b.id, "e": email, "r": b.viewer }),
        )
        .await;
    let invitation = body["data"]["inviteUser"]["invitation"].clone();
    assert_eq!(invitation["status"], "PENDING", "{body}");
    assert_eq!(invitation["email"], email.as_str(), "{body}");
    assert!(
        invitation["user"].is_null(),
        "{:?}: an existing account's profile before it accepted: {body}",
        app.backend
    );
    assert!(!body.to_string().contains(account), "{body}");
    invitation
}

/// Every root field (of `Query` and `Mutation`) with an argument, or an input field of an
/// argument, called `user`, `owner` or `to`.
async fn fields_taking_a_user(app: &TestApp) -> BTreeSet<String> {
    let schema = app
        .graphql(
            None,
            "{ __schema { types { name inputFields { name } fields { name args { name type { \
             name ofType { name ofType { name } } } } } } } }",
            json!({}),
        )
        .await;
    let types = schema["data"]["__schema"]["types"]
        .as_array()
        .expect("types")
        .clone();
    let input_fields = |name: &str| -> Vec<String> {
        types
            .iter()
            .find(|t| t["name"] == name)
            .and_then(|t| t["inputFields"].as_array())
            .into_iter()
            .flatten()
            .filter_map(|f| f["name"].as_str().map(str::to_owned))
            .collect()
    };
    let mut found = BTreeSet::new();
    for root in ["Query", "Mutation"] {
        let fields = types
            .iter()
            .find(|t| t["name"] == root)
            .and_then(|t| t["fields"].as_array())
            .expect("root fields");
        for field in fields {
            for arg in field["args"].as_array().into_iter().flatten() {
                let mut type_ref = &arg["type"];
                while type_ref["name"].is_null() && !type_ref["ofType"].is_null() {
                    type_ref = &type_ref["ofType"];
                }
                let mut names = vec![arg["name"].as_str().unwrap_or_default().to_owned()];
                names.extend(input_fields(type_ref["name"].as_str().unwrap_or_default()));
                if names
                    .iter()
                    .any(|name| ["user", "owner", "to"].contains(&name.as_str()))
                {
                    found.insert(field["name"].as_str().unwrap_or_default().to_owned());
                }
            }
        }
    }
    found
}

#[tokio::test]
async fn an_administrator_gains_no_power_over_accounts_that_did_not_accept_the_organization() {
    on_each_backend(&["--dev"], |app| async move {
        let admin = app.admin_token().await;
        let a = app.organization_owned_by("AcmeCorp", "acmeowner").await;
        let b = app.organization_owned_by("Globex", "globexadmin").await;

        // Every root field that takes a user is either an account's or an organization's.
        let unclassified: Vec<String> = fields_taking_a_user(&app)
            .await
            .into_iter()
            .filter(|field| {
                !ACCOUNT_FIELDS.iter().any(|(name, _)| name == field)
                    && !ORGANIZATION_FIELDS.contains(&field.as_str())
            })
            .collect();
        assert!(
            unclassified.is_empty(),
            "root fields taking a user that this test does not classify: {unclassified:?}"
        );

        // (a) An account with only a pending invitation to B.
        let loner = app.create_user("loner", ADMIN_PASSWORD).await;
        invite(&app, &b, "loner", &loner).await;

        // (b) An account whose only organization was deleted, then invited by B.
        let gone = app.organization_owned_by("Goneco", "goneowner").await;
        let former = app.create_user("former", ADMIN_PASSWORD).await;
        add_directly(&app, &gone, &former).await;
        let deleted = app
            .graphql(
                Some(&gone.owner_token),
                "mutation($o: ID!) { deleteOrganization(input: {organization: $o, \
                 confirmName: \"Goneco\"}) { errors { code message } } }",
                json!({ "o": gone.id }),
            )
            .await;
        assert_eq!(
            deleted["data"]["deleteOrganization"]["errors"],
            json!([]),
            "{deleted}"
        );
        invite(&app, &b, "former", &former).await;

        // (c) A member of both A and B.
        let both = app.create_user("both", ADMIN_PASSWORD).await;
        add_directly(&app, &a, &both).await;
        add_directly(&app, &b, &both).await;

        // (d) A's administrator, "added" to B by B's administrator: an invitation is sent.
        let acme_owner = app
            .graphql(Some(&a.owner_token), "{ me { id } }", json!({}))
            .await["data"]["me"]["id"]
            .as_str()
            .expect("me")
            .to_owned();
        let added = app
            .graphql(
                Some(&b.owner_token),
                MEMBER,
                json!({ "o": b.id, "u": acme_owner, "r": b.viewer }),
            )
            .await;
        let invitation = &added["data"]["addMember"]["invitation"];
        assert_eq!(added["data"]["addMember"]["errors"], json!([]), "{added}");
        assert_eq!(invitation["status"], "PENDING", "{added}");
        assert_eq!(invitation["email"], "acmeowner@example.com", "{added}");
        assert!(invitation["user"].is_null(), "{added}");

        let targets = [
            ("(a) pending invitation only", "loner", &loner, "NOT_FOUND"),
            ("(b) organization deleted", "former", &former, "NOT_FOUND"),
            ("(c) member of A and B", "both", &both, "FORBIDDEN"),
            (
                "(d) A's administrator added",
                "acmeowner",
                &acme_owner,
                "NOT_FOUND",
            ),
        ];
        let mut before = Vec::new();
        for (_, _, id, _) in &targets {
            before.push(app.graphql(Some(&admin), ACCOUNT, json!({ "u": id })).await);
        }
        for (pair, username, id, code) in &targets {
            for (field, document) in ACCOUNT_FIELDS {
                // A fresh session each time: nothing B does may depend on an earlier call.
                let token = app.token("globexadmin", ADMIN_PASSWORD).await;
                let body = app
                    .graphql(Some(&token), document, json!({ "u": id }))
                    .await;
                let context = format!("{:?}, {pair}: {field}", app.backend);
                let expected = match (field, *username) {
                    // B sees the member of both, and manages their SSH keys, as an
                    // administrator of one of their organizations may.
                    ("user" | "sshKeys", "both") => {
                        assert!(body["errors"].is_null(), "{context}: {body}");
                        continue;
                    }
                    ("user" | "sshKeys", _) => "NOT_FOUND",
                    // Deletion holds are a SuperAdmin's, whoever the user.
                    ("placeDeletionHold", _) => "FORBIDDEN",
                    _ => code,
                };
                assert!(
                    body["data"].is_null() || body["data"][field].is_null(),
                    "{context} was answered: {body}"
                );
                assert_eq!(error_code(&body), expected, "{context}: {body}");
            }
        }
        // Nothing changed: the accounts are as they were, and each still logs in.
        for ((pair, username, id, _), before) in targets.iter().zip(before) {
            let after = app.graphql(Some(&admin), ACCOUNT, json!({ "u": id })).await;
            assert_eq!(after, before, "{:?}, {pair}", app.backend);
            assert_eq!(after["data"]["user"]["status"], "ACTIVE", "{after}");
            app.token(username, ADMIN_PASSWORD).await;
        }
        // A SuperAdmin still manages an account that belongs to no organization.
        let suspended = app
            .graphql(
                Some(&admin),
                "mutation($u: ID!) { suspendUser(input: {user: $u, reason: \"probe\"}) { \
                 errors { code } } }",
                json!({ "u": loner }),
            )
            .await;
        assert_eq!(
            suspended["data"]["suspendUser"]["errors"],
            json!([]),
            "{suspended}"
        );
        app
    })
    .await;
}

#[tokio::test]
async fn a_viewer_sees_only_the_memberships_and_invitations_of_their_own_organization() {
    on_each_backend(&["--dev"], |app| async move {
        let a = app.organization_owned_by("AcmeCorp", "acmeowner").await;
        let b = app.organization_owned_by("Globex", "globexadmin").await;
        // A custom role of A, made the default role of the member of both.
        let role = app
            .graphql(
                Some(&a.owner_token),
                "mutation($o: ID!) { createRole(input: {organization: $o, name: \"AcmeSecretRole\", \
                 permissions: [{area: AUDIT, level: VIEW}]}) { role { id } } }",
                json!({ "o": a.id }),
            )
            .await["data"]["createRole"]["role"]["id"]
            .as_str()
            .expect("role")
            .to_owned();
        let both = app.create_user("both", ADMIN_PASSWORD).await;
        let admin = app.admin_token().await;
        let added = app
            .graphql(
                Some(&admin),
                MEMBER,
                json!({ "o": a.id, "u": both, "r": role }),
            )
            .await;
        assert_eq!(added["data"]["addMember"]["errors"], json!([]), "{added}");
        add_directly(&app, &b, &both).await;

        let seen = app
            .graphql(
                Some(&b.owner_token),
                "query($u: ID!) { user(id: $u) { memberships { status organization { id name \
                 createdAt } defaultRole { name description permissions { area level } } } } }",
                json!({ "u": both }),
            )
            .await;
        let memberships = seen["data"]["user"]["memberships"]
            .as_array()
            .unwrap_or_else(|| panic!("{seen}"));
        assert_eq!(memberships.len(), 1, "{:?}: {seen}", app.backend);
        assert_eq!(memberships[0]["organization"]["id"], b.id.as_str(), "{seen}");
        for marker in ["AcmeCorp", "AcmeSecretRole", a.id.as_str()] {
            assert!(!seen.to_string().contains(marker), "{marker} leaked: {seen}");
        }
        // The member themselves and a SuperAdmin see both.
        for token in [app.token("both", ADMIN_PASSWORD).await, admin.clone()] {
            let all = app
                .graphql(
                    Some(&token),
                    "query($u: ID!) { user(id: $u) { memberships { organization { id } } } }",
                    json!({ "u": both }),
                )
                .await;
            assert_eq!(
                all["data"]["user"]["memberships"].as_array().map(Vec::len),
                Some(2),
                "{all}"
            );
        }

        // An existing account invited to B: B sees the invitation (the address it typed),
        // not the account, anywhere, until it is accepted.
        let loner = app.create_user("loner", ADMIN_PASSWORD).await;
        invite(&app, &b, "loner", &loner).await;
        let user = app
            .graphql(Some(&b.owner_token), ACCOUNT, json!({ "u": loner }))
            .await;
        assert_eq!(error_code(&user), "NOT_FOUND", "{user}");
        let lists = app
            .graphql(
                Some(&b.owner_token),
                "query($o: ID!) { users(organization: $o, first: 50) { totalCount nodes { id } } \
                 organization(id: $o) { members(first: 50) { totalCount nodes { user { id } } } } \
                 invitations(organization: $o) { nodes { email user { id username } } } }",
                json!({ "o": b.id }),
            )
            .await;
        assert!(lists["errors"].is_null(), "{lists}");
        assert!(
            !lists.to_string().contains(&loner),
            "{:?}: the invited account is listed: {lists}",
            app.backend
        );
        assert_eq!(
            lists["data"]["invitations"]["nodes"],
            json!([{ "email": "loner@example.com", "user": null }]),
            "{lists}"
        );
        // Nor through a group of B that B put the invited account in.
        let group = app
            .graphql(
                Some(&b.owner_token),
                "mutation($o: ID!) { createGroup(input: {organization: $o, name: \"Team\"}) { \
                 group { id } } }",
                json!({ "o": b.id }),
            )
            .await["data"]["createGroup"]["group"]["id"]
            .as_str()
            .expect("group")
            .to_owned();
        let added = app
            .graphql(
                Some(&b.owner_token),
                "mutation($g: ID!, $u: ID!) { addGroupMember(input: {group: $g, user: $u}) { \
                 errors { code } } }",
                json!({ "g": group, "u": loner }),
            )
            .await;
        assert_eq!(added["data"]["addGroupMember"]["errors"], json!([]), "{added}");
        let members = app
            .graphql(
                Some(&b.owner_token),
                "query($g: ID!) { group(id: $g) { members(first: 10) { totalCount nodes { id } } } }",
                json!({ "g": group }),
            )
            .await;
        assert_eq!(
            members["data"]["group"]["members"],
            json!({ "totalCount": 0, "nodes": [] }),
            "{:?}: {members}",
            app.backend
        );

        // A new address becomes an account of the invitation's own making, which B sees.
        let created = app
            .graphql(
                Some(&b.owner_token),
                INVITE,
                json!({ "o": b.id, "e": "newcomer@example.com", "r": b.viewer }),
            )
            .await;
        let invited = &created["data"]["inviteUser"]["invitation"];
        assert_eq!(invited["user"]["fullName"], "Typed By B", "{created}");
        let id = invited["user"]["id"].as_str().expect("new account").to_owned();
        let shown = app
            .graphql(Some(&b.owner_token), ACCOUNT, json!({ "u": id }))
            .await;
        assert_eq!(
            shown["data"]["user"]["memberships"][0]["status"],
            "INVITED",
            "{shown}"
        );
        app
    })
    .await;
}
