//! SSH keys: each accepted kind with its fingerprint, refusals that say what to paste, one
//! account per key on the whole platform, who lists and removes keys, and the lookup by
//! fingerprint for the SSH tunnel service.

use serde_json::{Value, json};

use crate::support::{TestApp, error_code, on_each_backend};

const PASSWORD: &str = "correct horse battery staple 42";

// Real keys, made once with `ssh-keygen -t TYPE [-b BITS] -N '' -C COMMENT`; the fingerprints
// are what `ssh-keygen -lf KEY.pub` printed.
const ED25519: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBdIaQxXGnf+b9/H5E0Z5xaZQwH5SykbCve24Ot/fWh+ ann@laptop";
const ED25519_FINGERPRINT: &str = "SHA256:dYoLD4Y1YYpaWinazqfjyo9InOHSek7yJXN6fMwqxoI";
const ED25519_OTHER: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFgEVOuz0p9+6RNybnGHAqQG2+Q+HEr/OPBw8+egITjI bob@desk";
const ED25519_OTHER_FINGERPRINT: &str = "SHA256:CnfS+ks5sSdqdCDaHBzUz6OM9asHSd2IsIHVuvZkBHI";
const ECDSA_256: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBPTUmLpvn3hqX4W0XdZTIS0H+RJPFQkFlGB95GRpmhi/Ga74QwrVUd3b8NHfnc0KdkPaLQ7QOoaLcxsYkK8kmz8= ecdsa-256";
const ECDSA_384: &str = "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBEEdKc8PqI18PMXzjx8/F4xw4siaN+RGtevlKQ3fU9IYWftxe2BfCKp++vLhWVVkY/BfR9zxj0oQWr2SML1GklZtm9INs1vw6VUin2t7V+zvn4Q0SggmT6Az2fRuoQF3tQ== ecdsa-384";
const ECDSA_521: &str = "ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBAC7TqRBtnWocng2d/O77q/ftqEu0lB/6sqqn/1kKqUjzolXCvejX1poi3HQiRvZmQuc6/ua7ghoutM/IvqeJrgzuwHZdKbS7Ak/zJLweK1hmAoSxlF3R/2Ois77HgnQne42L34qSSn9iD8j8cB3CrakslQv9CFkt/MLgPNjiIvRwzhvKg== ecdsa-521";
const RSA_2048: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDGaicHlHuutNb5UlIKhUeNL9VBkSnBbYZ3VeOrTo0ibCBTN0KjC1JDiK1Men3epcBOcarQ4h37MhaE5b+F+tgsb+lr+gCw5mNAR7JBlfCE4yusAalUkRWgTIbZ9up9zAD9fOFLP8FFMhnGBvpHAJzmfTEFsjlM0Xpol/sZpMKUL5bafd7V5fVklE7jzL3metTuRVYLeEixEFU8thtBiE0/2Kf27snnUGqJtzqh1RHb/q1TFRvi1gz4C3SWRpVpHThy3XmkMESipoWxnrOX85z1m1CCSw5un7IaUlWLeu4l463ZJXNhx/I7LVKiZC+rZfR6Veqh/IgbpoglmTWYuCdp rsa-2048";
const RSA_4096: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAACAQCVhQ+JcxUPebW/+o2YIQGwp6RBnPI/SVVFN857kAqNQH2lMfiXZL/kk9qrHnXwap84jwnX36u/+3sZau0edwEUuAzGiqO4/fXhiq13IeiQdd+ZImIm11aAUsSjpqGL5Wbzigmc+OZxY5u6BZM/egvjk3CRbhiSswF15c09tXO1D/UvXRudlQ8bNDxB2rzUslwbAoM3DuJczx61Ohk4ymHih9WwdNvFumZoGnkUTuduzV9gWRSo/Tm7kiYss33NVMwbgQPAwcsn4pa2bVRJ1hOovm9h86lEgZV3J//4f28IAiRvJ8wPElluVhPbcuV4h/qz2YBUongfrJ/27fLkLlo5RTp6ocpJbU9XtudbEetwkokc4M+DYZje8PHDnZ6nQVPPaKDQR9LQYaVOiU92xH9DMSdXSL3My3dPu1PoE/j66/En/v6awqbVzDxiih8NcGcwXWyeSocIHq2TYsMX/D0KDoA/62YZItptXvyvUKr1qZsFCk1CCPyUYRBWUq28LsXiNye36GiiOWpRjjhYXlAHfFM7s7V+7enJC8SUN3sheJ2wc6EaL02sEFvCQgjsmEuhfbT/G3u+qV8tmOETqRmoQYWK3QqBom4Mdv0qaTug60amn/Z13E1Eu/bdIsLdinIZkK3h1PYV9ZESiQNCOPDh4AJFPEU61+1bkJpVVH9RTQ== rsa-4096";
const RSA_1024: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC8GFkmfvwW9dBLV43ctw6/eYpzVzcTMMoh7gzeJ+SE3vz0/YG/CxojsUHITMbXR7kzGFWCnJTN32GYd896wbg7/Dum42Gd0hJet28oIyEMlgaADxC0Ftb6dhYMVrZTinMQhtqy8wbNe8eMGIKmASPt09rh2tbYExOA3i121lnVzw== rsa-1024";
const PRIVATE: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\n\
    b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n\
    -----END OPENSSH PRIVATE KEY-----\n";

const KEY_FIELDS: &str = "id title algorithm fingerprint publicKey bits createdAt lastUsedAt";

async fn add(app: &TestApp, token: &str, public_key: &str, title: Option<&str>) -> Value {
    let body = app
        .graphql(
            Some(token),
            &format!(
                "mutation($input: AddSshKeyInput!) {{ addSshKey(input: $input) {{ \
                 sshKey {{ {KEY_FIELDS} user {{ username }} }} errors {{ field code message }} }} }}"
            ),
            json!({ "input": { "publicKey": public_key, "title": title } }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{:?}: {body}", app.backend);
    body["data"]["addSshKey"].clone()
}

async fn list(app: &TestApp, token: &str, user: Option<&str>) -> Value {
    app.graphql(
        Some(token),
        "query($u: ID) { sshKeys(user: $u) { id title fingerprint user { id } } }",
        json!({ "u": user }),
    )
    .await
}

async fn remove(app: &TestApp, token: &str, id: &str) -> Value {
    app.graphql(
        Some(token),
        "mutation($id: ID!) { removeSshKey(id: $id) { sshKey { id fingerprint } \
         errors { field code message } } }",
        json!({ "id": id }),
    )
    .await
}

async fn lookup(app: &TestApp, token: &str, fingerprint: &str) -> Value {
    app.graphql(
        Some(token),
        "query($f: String!) { sshKeyByFingerprint(fingerprint: $f) { id title fingerprint \
         publicKey user { id username status } } }",
        json!({ "f": fingerprint }),
    )
    .await
}

/// The first payload error, asserting there is exactly one.
fn only_error(payload: &Value) -> &Value {
    assert_eq!(payload["sshKey"], Value::Null, "{payload}");
    assert_eq!(
        payload["errors"].as_array().map(Vec::len),
        Some(1),
        "{payload}"
    );
    &payload["errors"][0]
}

fn message(error: &Value) -> &str {
    error["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn each_accepted_kind_of_key_is_added_with_the_fingerprint_ssh_keygen_prints() {
    on_each_backend(&[], |app| async move {
        app.create_user("sshann", PASSWORD).await;
        let token = app.token("sshann", PASSWORD).await;
        let cases = [
            (ED25519, "ED25519", 256, ED25519_FINGERPRINT),
            (
                ECDSA_256,
                "ECDSA_P256",
                256,
                "SHA256:m52UetRfdRX7u2kvUZMTMyqJn0q7sjwI6OWBy+I2Nsg",
            ),
            (
                ECDSA_384,
                "ECDSA_P384",
                384,
                "SHA256:ZHblUPi5UpTLHwrUMsyVn/EKO3NDZQKZ8H7a99ryZk4",
            ),
            (
                ECDSA_521,
                "ECDSA_P521",
                521,
                "SHA256:mah+ZwqGNDvs2dMKUgx2sHfiz4qvtQO37GiY+FlXomU",
            ),
            (
                RSA_2048,
                "RSA",
                2048,
                "SHA256:e0K0AYHuaevU9/Jw1iDIFctailL9KC4CxNNSyhRSLsA",
            ),
            (
                RSA_4096,
                "RSA",
                4096,
                "SHA256:OD1CaZGm7MYukg93txWMl+fOVm7nlRsOAwRw7QLn/8A",
            ),
        ];
        for (line, algorithm, bits, fingerprint) in cases {
            let payload = add(&app, &token, line, None).await;
            assert_eq!(payload["errors"], json!([]), "{:?}: {payload}", app.backend);
            let key = &payload["sshKey"];
            assert_eq!(key["algorithm"], algorithm, "{key}");
            assert_eq!(key["bits"], bits, "{key}");
            assert_eq!(key["fingerprint"], fingerprint, "{key}");
            // Without a title, the key's comment is its title; the stored key has no comment.
            let (stored, comment) = line.rsplit_once(' ').expect("comment");
            assert_eq!(key["title"], comment);
            assert_eq!(key["publicKey"], stored);
            assert_eq!(key["lastUsedAt"], Value::Null);
            assert_eq!(key["user"]["username"], "sshann");
        }
        let titled = add(&app, &token, ED25519_OTHER, Some("  Build server ")).await;
        assert_eq!(titled["sshKey"]["title"], "Build server", "{titled}");

        let listed = list(&app, &token, None).await;
        let fingerprints: Vec<&str> = listed["data"]["sshKeys"]
            .as_array()
            .expect("keys")
            .iter()
            .filter_map(|key| key["fingerprint"].as_str())
            .collect();
        assert_eq!(fingerprints.len(), 7, "{listed}");
        assert_eq!(fingerprints[0], ED25519_FINGERPRINT, "oldest first");
        app
    })
    .await;
}

#[tokio::test]
async fn weak_broken_and_private_keys_are_refused_saying_what_to_paste() {
    on_each_backend(&[], |app| async move {
        app.create_user("sshben", PASSWORD).await;
        let token = app.token("sshben", PASSWORD).await;

        let small = add(&app, &token, RSA_1024, None).await;
        let error = only_error(&small);
        assert_eq!(error["code"], "INVALID");
        assert_eq!(error["field"], json!(["input", "publicKey"]));
        assert!(
            message(error).contains("RSA keys must have at least 2048 bits; this one has 1024"),
            "{small}"
        );

        for garbage in [
            "not a key at all",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBdI",
        ] {
            let payload = add(&app, &token, garbage, Some("junk")).await;
            let error = only_error(&payload);
            assert_eq!(error["code"], "INVALID");
            assert!(
                message(error).contains("is not an OpenSSH public key"),
                "{payload}"
            );
        }

        let private = add(&app, &token, PRIVATE, Some("oops")).await;
        assert!(
            message(only_error(&private))
                .contains("this is a private key; paste the .pub file instead"),
            "{private}"
        );

        let untitled = add(&app, &token, ED25519.trim_end_matches(" ann@laptop"), None).await;
        assert_eq!(only_error(&untitled)["field"], json!(["input", "title"]));

        let listed = list(&app, &token, None).await;
        assert_eq!(listed["data"]["sshKeys"], json!([]), "nothing was added");
        app
    })
    .await;
}

#[tokio::test]
async fn a_key_belongs_to_one_account_on_the_whole_platform() {
    on_each_backend(&[], |app| async move {
        app.create_user("sshcat", PASSWORD).await;
        app.create_user("sshdan", PASSWORD).await;
        let cat = app.token("sshcat", PASSWORD).await;
        let dan = app.token("sshdan", PASSWORD).await;
        let added = add(&app, &cat, ED25519, None).await;
        assert_eq!(added["errors"], json!([]), "{added}");

        // The same key with another comment is the same key.
        let same_key = ED25519.replace("ann@laptop", "dan@desk");
        let taken = add(&app, &dan, &same_key, Some("mine")).await;
        let error = only_error(&taken);
        assert_eq!(error["code"], "CONFLICT", "{taken}");
        assert_eq!(error["field"], json!(["input", "publicKey"]));
        assert!(
            message(error).contains("already registered to another account"),
            "{taken}"
        );
        assert!(
            !message(error).contains("sshcat"),
            "the owner is not named: {taken}"
        );

        let again = add(&app, &cat, ED25519, Some("twice")).await;
        let error = only_error(&again);
        assert_eq!(error["code"], "CONFLICT");
        assert!(
            message(error).contains("already on this account"),
            "{again}"
        );

        // Once removed, the key is free for another account.
        let id = added["sshKey"]["id"].as_str().expect("id");
        let removed = remove(&app, &cat, id).await;
        assert_eq!(
            removed["data"]["removeSshKey"]["sshKey"]["fingerprint"], ED25519_FINGERPRINT,
            "{removed}"
        );
        let moved = add(&app, &dan, &same_key, Some("mine")).await;
        assert_eq!(moved["errors"], json!([]), "{moved}");
        app
    })
    .await;
}

/// An organization owned by `owner` with `members` as Viewers; returns its id and the id of
/// its Viewer role.
async fn organization_with_viewers(
    app: &TestApp,
    name: &str,
    owner: &str,
    members: &[&str],
) -> (String, String) {
    let admin = app.admin_token().await;
    let organization = app.create_organization(&admin, name, owner).await;
    let roles = app
        .graphql(
            Some(&admin),
            "query($o: ID!) { organization(id: $o) { roles { id name } } }",
            json!({ "o": organization }),
        )
        .await;
    let viewer = roles["data"]["organization"]["roles"]
        .as_array()
        .and_then(|roles| roles.iter().find(|r| r["name"] == "Viewer"))
        .and_then(|r| r["id"].as_str())
        .expect("Viewer role")
        .to_owned();
    for member in members {
        let added = app
            .graphql(
                Some(&app.admin_token().await),
                "mutation($o: ID!, $u: ID!, $r: ID!) { addMember(input: {organization: $o, \
                 user: $u, role: $r}) { errors { code message } } }",
                json!({ "o": organization, "u": member, "r": viewer }),
            )
            .await;
        assert_eq!(added["data"]["addMember"]["errors"], json!([]), "{added}");
    }
    (organization, viewer)
}

#[tokio::test]
async fn keys_are_listed_and_removed_by_their_owner_and_the_owners_administrators_only() {
    on_each_backend(&[], |app| async move {
        let boss = app.create_user("sshboss", PASSWORD).await;
        let eve = app.create_user("ssheve", PASSWORD).await;
        let vic = app.create_user("sshvic", PASSWORD).await;
        app.create_user("sshstranger", PASSWORD).await;
        let invitee = app.create_user("sshinvitee", PASSWORD).await;
        let (organization, viewer) =
            organization_with_viewers(&app, "Keyholders", &boss, &[&eve, &vic]).await;
        let eve_token = app.token("ssheve", PASSWORD).await;
        let boss_token = app.token("sshboss", PASSWORD).await;
        let vic_token = app.token("sshvic", PASSWORD).await;
        let stranger = app.token("sshstranger", PASSWORD).await;
        let key = add(&app, &eve_token, ED25519, None).await["sshKey"]["id"]
            .as_str()
            .expect("key")
            .to_owned();

        let by_admin = list(&app, &boss_token, Some(&eve)).await;
        assert_eq!(
            by_admin["data"]["sshKeys"][0]["id"],
            key.as_str(),
            "{by_admin}"
        );
        assert_eq!(by_admin["data"]["sshKeys"][0]["user"]["id"], eve.as_str());

        // A viewer of eve's organization knows eve exists but may not touch her keys; to
        // anyone else neither eve nor her key exists.
        for (token, code) in [(&vic_token, "FORBIDDEN"), (&stranger, "NOT_FOUND")] {
            let listed = list(&app, token, Some(&eve)).await;
            assert_eq!(error_code(&listed), code, "{listed}");
            let removed = remove(&app, token, &key).await;
            assert_eq!(error_code(&removed), code, "{removed}");
        }
        assert_eq!(
            list(&app, &eve_token, None).await["data"]["sshKeys"][0]["id"],
            key.as_str(),
            "the refused removals changed nothing"
        );

        // Inviting a user gives the organization no power over their keys until they accept.
        let invited = app
            .graphql(
                Some(&boss_token),
                "mutation($o: ID!, $r: ID!) { inviteUser(input: {organization: $o, \
                 email: \"sshinvitee@example.com\", fullName: \"Invitee\", roles: [$r]}) { \
                 errors { message } } }",
                json!({ "o": organization, "r": viewer }),
            )
            .await;
        assert_eq!(
            invited["data"]["inviteUser"]["errors"],
            json!([]),
            "{invited}"
        );
        let invitee_token = app.token("sshinvitee", PASSWORD).await;
        assert_eq!(
            add(&app, &invitee_token, ED25519_OTHER, None).await["errors"],
            json!([])
        );
        let listed = list(&app, &boss_token, Some(&invitee)).await;
        assert_eq!(error_code(&listed), "NOT_FOUND", "{listed}");

        let removed = remove(&app, &boss_token, &key).await;
        assert_eq!(
            removed["data"]["removeSshKey"]["sshKey"]["id"],
            key.as_str(),
            "{removed}"
        );
        assert_eq!(
            list(&app, &eve_token, None).await["data"]["sshKeys"],
            json!([])
        );
        let again = remove(&app, &eve_token, &key).await;
        assert_eq!(error_code(&again), "NOT_FOUND", "{again}");

        let audit = app
            .database
            .store
            .recent_audit_events(Some(steward_domain::audit::AuditAction::SshKeyRemoved), 5)
            .await
            .expect("audit");
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].target_id.as_deref(), Some(key.as_str()));
        assert_eq!(audit[0].actor_user_id.map(|id| id.to_string()), Some(boss));
        app
    })
    .await;
}

#[tokio::test]
async fn the_tunnel_service_finds_a_keys_account_by_fingerprint_as_a_super_admin_only() {
    on_each_backend(&[], |app| async move {
        let fay = app.create_user("sshfay", PASSWORD).await;
        let fay_token = app.token("sshfay", PASSWORD).await;
        let admin = app.admin_token().await;
        add(&app, &fay_token, ED25519, Some("Laptop")).await;

        let found = lookup(&app, &admin, ED25519_FINGERPRINT).await;
        let key = &found["data"]["sshKeyByFingerprint"];
        assert_eq!(key["title"], "Laptop", "{found}");
        assert_eq!(
            key["user"],
            json!({ "id": fay, "username": "sshfay", "status": "ACTIVE" })
        );
        let unknown = lookup(&app, &admin, ED25519_OTHER_FINGERPRINT).await;
        assert_eq!(
            unknown["data"]["sshKeyByFingerprint"],
            Value::Null,
            "{unknown}"
        );
        let malformed = lookup(&app, &admin, "dYoLD4Y1YYpaWinazqfjyo9InOHSek7yJXN6fMwqxoI").await;
        assert_eq!(error_code(&malformed), "BAD_USER_INPUT", "{malformed}");

        let refused = lookup(&app, &fay_token, ED25519_FINGERPRINT).await;
        assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
        assert_eq!(refused["data"], Value::Null);

        // A suspended user's key is still found, with the status the service must refuse.
        let suspended = app
            .graphql(
                Some(&admin),
                "mutation($u: ID!) { suspendUser(input: {user: $u}) { errors { message } } }",
                json!({ "u": fay }),
            )
            .await;
        assert_eq!(
            suspended["data"]["suspendUser"]["errors"],
            json!([]),
            "{suspended}"
        );
        let found = lookup(&app, &admin, ED25519_FINGERPRINT).await;
        assert_eq!(
            found["data"]["sshKeyByFingerprint"]["user"]["status"], "SUSPENDED",
            "{found}"
        );
        app
    })
    .await;
}
