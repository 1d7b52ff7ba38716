//! Consistency reports and repairs: a fixture built through the API is clean; every
//! invariant's violation injected with raw SQL is reported exactly, repaired, audited, and
//! not found again.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use steward_store::Backend;
use uuid::Uuid;

use crate::support::{ADMIN_PASSWORD, TestApp, error_code, on_each_backend};

const AT: &str = "'2026-11-23T00:00:00.000000Z'";
const LATER: &str = "'2099-01-01T00:00:00.000000Z'";

const FINDING_FIELDS: &str = "invariant subjectType subjectId user { id username } \
    organization { id } detail proposedFix status applied note";

const START: &str = "mutation($s: ConsistencyScope!, $subject: ID, $r: Boolean) { \
    startConsistencyRun(scope: $s, subject: $subject, repair: $r) { \
    run { id } errors { field code message } } }";

/// An id as a SQL literal of the backend: a blob on SQLite, a uuid on PostgreSQL.
fn sql_id(app: &TestApp, id: &str) -> String {
    match app.backend {
        Backend::Sqlite => format!("X'{}'", id.replace('-', "")),
        Backend::Postgres => format!("'{id}'"),
    }
}

async fn gql(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    let body = app.graphql(Some(token), query, variables).await;
    assert!(
        body["errors"].is_null(),
        "{:?}: {query}: {body}",
        app.backend
    );
    body["data"].clone()
}

/// Starts a run, waits for it to end, and returns it with all its findings.
async fn run(
    app: &TestApp,
    admin: &str,
    scope: &str,
    subject: Option<&str>,
    repair: bool,
) -> Value {
    let started = gql(
        app,
        admin,
        START,
        json!({ "s": scope, "subject": subject, "r": repair }),
    )
    .await;
    let run = &started["startConsistencyRun"];
    assert_eq!(run["errors"], json!([]), "{:?}: {started}", app.backend);
    let id = run["run"]["id"].as_str().expect("run id").to_owned();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let body = gql(
            app,
            admin,
            &format!(
                "query($j: ID!) {{ consistencyRun(id: $j) {{ id scope repair \
                 job {{ status totalRows processedRows findings repaired error }} \
                 counts {{ invariant found repaired }} \
                 findings(first: 100) {{ totalCount nodes {{ {FINDING_FIELDS} }} }} }} }}"
            ),
            json!({ "j": id }),
        )
        .await;
        let found = body["consistencyRun"].clone();
        let status = found["job"]["status"].as_str().unwrap_or_default();
        if ["SUCCEEDED", "FAILED", "CANCELLED"].contains(&status) {
            assert_eq!(status, "SUCCEEDED", "{:?}: {found}", app.backend);
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}: the run did not end: {found}",
            app.backend
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// `(invariant, subjectType, username)` of each finding, sorted, with the subject's id
/// where the test knows it.
fn keys(findings: &Value) -> Vec<(String, String, String)> {
    let mut keys: Vec<_> = findings
        .as_array()
        .expect("findings")
        .iter()
        .map(|finding| {
            (
                finding["invariant"].as_str().unwrap_or_default().to_owned(),
                finding["subjectType"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                finding["user"]["username"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    keys.sort();
    keys
}

fn subject_of<'a>(findings: &'a Value, invariant: &str, username: &str) -> &'a str {
    findings
        .as_array()
        .expect("findings")
        .iter()
        .find(|finding| {
            finding["invariant"] == invariant && finding["user"]["username"] == username
        })
        .and_then(|finding| finding["subjectId"].as_str())
        .unwrap_or_else(|| panic!("no {invariant} finding of {username}: {findings}"))
}

struct Fixture {
    admin: String,
    owner: String,
    ids: BTreeMap<&'static str, String>,
}

impl Fixture {
    fn id(&self, name: &str) -> &str {
        self.ids
            .get(name)
            .unwrap_or_else(|| panic!("no fixture id {name}"))
    }
}

async fn create_group(app: &TestApp, token: &str, organization: &str, name: &str) -> String {
    let body = gql(
        app,
        token,
        "mutation($o: ID!, $n: String!) { createGroup(input: {organization: $o, name: $n}) { group { id } } }",
        json!({ "o": organization, "n": name }),
    )
    .await;
    body["createGroup"]["group"]["id"]
        .as_str()
        .expect("group")
        .to_owned()
}

/// Acme (owner `acmeowner`) with members alice, bob, carol (logged in) and erin; group Team
/// (alice, bound to Editor) and an archived group Old; three resources of the owner; users
/// ghost and stranger with no membership; Globex owned by frank.
async fn fixture(app: &TestApp) -> Fixture {
    let admin = app.admin_token().await;
    let acme = app.organization_owned_by("Acme", "acmeowner").await;
    let mut ids = BTreeMap::new();
    for name in ["alice", "bob", "carol", "erin"] {
        ids.insert(name, app.member_of(&acme, name).await);
    }
    app.token("carol", ADMIN_PASSWORD).await;
    let editor = app.role_id(&acme.owner_token, &acme.id, "Editor").await;
    let team = create_group(app, &acme.owner_token, &acme.id, "Team").await;
    let old = create_group(app, &acme.owner_token, &acme.id, "Old").await;
    for (group, user) in [(&team, &ids["alice"]), (&old, &ids["bob"])] {
        gql(
            app,
            &acme.owner_token,
            "mutation($g: ID!, $u: ID!) { addGroupMember(input: {group: $g, user: $u}) { errors { message } } }",
            json!({ "g": group, "u": user }),
        )
        .await;
    }
    gql(
        app,
        &acme.owner_token,
        "mutation($r: ID!, $g: ID!) { bindRole(input: {role: $r, group: $g}) { bindingId } }",
        json!({ "r": editor, "g": team }),
    )
    .await;
    gql(
        app,
        &acme.owner_token,
        "mutation($g: ID!) { archiveGroup(group: $g) { errors { message } } }",
        json!({ "g": old }),
    )
    .await;
    let owner_id = gql(app, &acme.owner_token, "{ me { id } }", json!({})).await["me"]["id"]
        .as_str()
        .expect("owner id")
        .to_owned();
    for (name, external) in [("r1", "dash-1"), ("r2", "dash-2"), ("r3", "dash-3")] {
        let body = gql(
            app,
            &admin,
            "mutation($i: RegisterResourceInput!) { registerResource(input: $i) { resource { id } errors { message } } }",
            json!({ "i": { "organization": acme.id, "kind": "DASHBOARD", "name": external,
                           "externalId": external, "owner": owner_id } }),
        )
        .await;
        let id = body["registerResource"]["resource"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}"))
            .to_owned();
        ids.insert(name, id);
    }
    ids.insert("ghost", app.create_user("ghost", ADMIN_PASSWORD).await);
    ids.insert(
        "stranger",
        app.create_user("stranger", ADMIN_PASSWORD).await,
    );
    let frank = app.create_user("frank", ADMIN_PASSWORD).await;
    ids.insert(
        "globex",
        app.create_organization(&admin, "Globex", &frank).await,
    );
    ids.insert("frank", frank);
    ids.insert("acme", acme.id.clone());
    ids.insert("viewer", acme.viewer.clone());
    ids.insert("editor", editor);
    ids.insert("team", team);
    ids.insert("old", old);
    ids.insert("owner", owner_id);
    Fixture {
        admin,
        owner: acme.owner_token,
        ids,
    }
}

/// Breaks every invariant with raw SQL, as a bug or a hand-made fix would.
async fn inject(app: &TestApp, fixture: &Fixture) -> BTreeMap<&'static str, String> {
    let id = |name: &str| sql_id(app, fixture.id(name));
    let new = |app: &TestApp| {
        let raw = Uuid::now_v7().to_string();
        (sql_id(app, &raw), raw)
    };
    let (membership, membership_raw) = new(app);
    let (binding, binding_raw) = new(app);
    let (session, session_raw) = new(app);
    let (key, key_raw) = new(app);
    let (invitation, invitation_raw) = new(app);
    let (ghost, acme, viewer, editor) = (id("ghost"), id("acme"), id("viewer"), id("editor"));
    let (team, stranger) = (id("team"), id("stranger"));
    let ghost_raw = fixture.id("ghost");
    let statements = vec![
        // ghost: deleted, with everything a purge removes still there.
        format!("UPDATE users SET status = 'DELETED', deleted_at = {AT} WHERE id = {ghost}"),
        format!(
            "INSERT INTO memberships (id, organization_id, user_id, status, default_role_id, created_at, updated_at) \
             VALUES ({membership}, {acme}, {ghost}, 'ACTIVE', {viewer}, {AT}, {AT})"
        ),
        format!(
            "INSERT INTO role_bindings (id, organization_id, role_id, user_id, group_id, project_id, subject_key, scope_key, created_at) \
             VALUES ({binding}, {acme}, {viewer}, {ghost}, NULL, NULL, 'user:{ghost_raw}', 'organization', {AT})"
        ),
        format!(
            "INSERT INTO group_members (group_id, user_id, created_at) VALUES ({team}, {ghost}, {AT})"
        ),
        // Their effective roles match the injected bindings: parity is checked on its own.
        format!(
            "INSERT INTO effective_roles (user_id, organization_id, role_id, project_id, scope_key) VALUES \
             ({ghost}, {acme}, {viewer}, NULL, 'organization'), ({ghost}, {acme}, {editor}, NULL, 'organization')"
        ),
        format!(
            "INSERT INTO resource_shares (resource_id, user_id, group_id, access, created_at, updated_at) \
             VALUES ({}, {ghost}, NULL, 'READ', {AT}, {AT})",
            id("r1")
        ),
        format!(
            "UPDATE resources SET owner_user_id = {ghost} WHERE id = {}",
            id("r2")
        ),
        format!(
            "INSERT INTO sessions (id, user_id, organization_id, active_role_id, created_at, expires_at) \
             VALUES ({session}, {ghost}, NULL, NULL, {AT}, {LATER})"
        ),
        format!(
            "INSERT INTO api_keys (id, user_id, created_by, name, organization_id, jti, token_hash, created_at) \
             VALUES ({key}, {ghost}, NULL, 'left behind', NULL, 'jti-ghost', 'hash-ghost', {AT})"
        ),
        format!(
            "INSERT INTO invitations (id, organization_id, user_id, invited_by, status, language, created_at, updated_at, expires_at) \
             VALUES ({invitation}, {acme}, {ghost}, NULL, 'PENDING', 'en', {AT}, {AT}, {LATER})"
        ),
        // alice back in the archived group; stranger in Team with no membership.
        format!(
            "INSERT INTO group_members (group_id, user_id, created_at) VALUES ({}, {}, {AT})",
            id("old"),
            id("alice")
        ),
        format!(
            "INSERT INTO group_members (group_id, user_id, created_at) VALUES ({team}, {stranger}, {AT})"
        ),
        format!(
            "INSERT INTO effective_roles (user_id, organization_id, role_id, project_id, scope_key) \
             VALUES ({stranger}, {acme}, {editor}, NULL, 'organization')"
        ),
        format!(
            "UPDATE resources SET owner_user_id = {stranger} WHERE id = {}",
            id("r3")
        ),
        // Parity: alice's effective roles lost, bob given one no binding grants.
        format!(
            "DELETE FROM effective_roles WHERE user_id = {}",
            id("alice")
        ),
        format!(
            "INSERT INTO effective_roles (user_id, organization_id, role_id, project_id, scope_key) \
             VALUES ({}, {acme}, {editor}, NULL, 'organization')",
            id("bob")
        ),
        // carol's membership disabled behind her live session's back.
        format!(
            "UPDATE memberships SET status = 'DISABLED' WHERE user_id = {}",
            id("carol")
        ),
        // erin pending deletion, with no hold.
        format!(
            "UPDATE users SET status = 'PENDING_DELETION', deletion_requested_at = {AT} WHERE id = {}",
            id("erin")
        ),
        // Globex's owner suspended.
        format!(
            "UPDATE users SET status = 'SUSPENDED' WHERE id = {}",
            id("frank")
        ),
    ];
    for statement in statements {
        app.database
            .execute_sql(statement.clone())
            .await
            .unwrap_or_else(|error| panic!("{:?}: {statement}: {error}", app.backend));
    }
    BTreeMap::from([
        ("membership", membership_raw),
        ("binding", binding_raw),
        ("session", session_raw),
        ("key", key_raw),
        ("invitation", invitation_raw),
    ])
}

fn expected() -> Vec<(String, String, String)> {
    let mut expected: Vec<(String, String, String)> = [
        ("MEMBERSHIP_OF_DELETED_USER", "MEMBERSHIP", "ghost"),
        ("GROUP_MEMBER_NOT_MEMBER", "GROUP_MEMBER", "ghost"),
        ("BINDING_OF_DELETED_USER", "ROLE_BINDING", "ghost"),
        ("DANGLING_SHARE", "RESOURCE_SHARE", "ghost"),
        ("RESOURCE_OWNED_BY_DELETED_USER", "RESOURCE", "ghost"),
        ("LIVE_SESSION_OF_INACTIVE_USER", "SESSION", "ghost"),
        ("LIVE_API_KEY_OF_INACTIVE_USER", "API_KEY", "ghost"),
        ("CREDENTIALS_OF_DELETED_USER", "USER", "ghost"),
        ("PENDING_INVITATION_OF_DELETED_USER", "INVITATION", "ghost"),
        ("ARCHIVED_GROUP_MEMBER", "GROUP_MEMBER", "alice"),
        ("GROUP_MEMBER_NOT_MEMBER", "GROUP_MEMBER", "stranger"),
        ("RESOURCE_OWNED_BY_NON_MEMBER", "RESOURCE", "stranger"),
        ("PERMISSION_PARITY", "USER", "alice"),
        ("PERMISSION_PARITY", "USER", "bob"),
        ("LIVE_SESSION_OF_INACTIVE_USER", "SESSION", "carol"),
        ("UNHELD_PENDING_DELETION", "USER", "erin"),
        ("ORGANIZATION_WITHOUT_ACTIVE_OWNER", "ORGANIZATION", "frank"),
    ]
    .into_iter()
    .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()))
    .collect();
    expected.sort();
    expected
}

#[tokio::test]
async fn every_injected_violation_is_reported_repaired_audited_and_gone_the_next_time() {
    on_each_backend(&["--job-poll-ms", "20", "--consistency-chunk", "3"], |app| async move {
        let fixture = fixture(&app).await;
        let admin = fixture.admin.clone();

        // Data made through the API keeps every invariant, effective roles included.
        let clean = run(&app, &admin, "ALL", None, false).await;
        assert_eq!(clean["findings"]["totalCount"], 0, "{:?}: {clean}", app.backend);
        assert!(clean["job"]["totalRows"].as_i64().unwrap_or_default() >= 10, "{clean}");
        assert_eq!(clean["job"]["processedRows"], clean["job"]["totalRows"], "{clean}");

        let injected = inject(&app, &fixture).await;

        let direct = gql(
            &app,
            &admin,
            &format!("query($u: ID!) {{ consistencyReport(user: $u) {{ {FINDING_FIELDS} }} }}"),
            json!({ "u": fixture.id("ghost") }),
        )
        .await;
        let ghost_only: Vec<_> = expected().into_iter().filter(|(_, _, user)| user == "ghost").collect();
        assert_eq!(keys(&direct["consistencyReport"]), ghost_only, "{:?}: {direct}", app.backend);

        // A report changes nothing and finds exactly what was injected.
        let report = run(&app, &admin, "ALL", None, false).await;
        let findings = &report["findings"]["nodes"];
        assert_eq!(keys(findings), expected(), "{:?}: {report}", app.backend);
        assert!(findings.as_array().expect("findings").iter().all(|f| f["status"] == "OPEN" && f["applied"] == false), "{report}");
        for (invariant, name) in [
            ("MEMBERSHIP_OF_DELETED_USER", "membership"),
            ("ROLE_BINDING", "binding"),
            ("LIVE_API_KEY_OF_INACTIVE_USER", "key"),
            ("PENDING_INVITATION_OF_DELETED_USER", "invitation"),
        ] {
            let invariant = if invariant == "ROLE_BINDING" { "BINDING_OF_DELETED_USER" } else { invariant };
            assert_eq!(subject_of(findings, invariant, "ghost"), injected[name], "{invariant}");
        }
        assert_eq!(subject_of(findings, "LIVE_SESSION_OF_INACTIVE_USER", "ghost"), injected["session"]);
        assert_eq!(subject_of(findings, "RESOURCE_OWNED_BY_DELETED_USER", "ghost"), fixture.id("r2"));
        assert_eq!(subject_of(findings, "RESOURCE_OWNED_BY_NON_MEMBER", "stranger"), fixture.id("r3"));
        assert_eq!(subject_of(findings, "ARCHIVED_GROUP_MEMBER", "alice"), fixture.id("old"));
        assert_eq!(subject_of(findings, "ORGANIZATION_WITHOUT_ACTIVE_OWNER", "frank"), fixture.id("globex"));
        let again = gql(
            &app,
            &admin,
            &format!("query($u: ID!) {{ consistencyReport(user: $u) {{ {FINDING_FIELDS} }} }}"),
            json!({ "u": fixture.id("ghost") }),
        )
        .await;
        assert_eq!(keys(&again["consistencyReport"]), ghost_only, "a report repairs nothing");
        // Filters and paging of findings.
        let paged = gql(
            &app,
            &admin,
            "query($j: ID!, $u: ID!) { consistencyRun(id: $j) { \
             parity: findings(invariant: PERMISSION_PARITY) { totalCount } \
             ghost: findings(user: $u, first: 4) { totalCount pageInfo { hasNextPage endCursor } } } }",
            json!({ "j": report["id"], "u": fixture.id("ghost") }),
        )
        .await;
        assert_eq!(paged["consistencyRun"]["parity"]["totalCount"], 2, "{paged}");
        assert_eq!(paged["consistencyRun"]["ghost"]["totalCount"], 9, "{paged}");
        assert_eq!(paged["consistencyRun"]["ghost"]["pageInfo"]["hasNextPage"], true, "{paged}");

        // The repair fixes everything it can, each fix audited as the admin's.
        let repaired = run(&app, &admin, "ALL", None, true).await;
        let findings = &repaired["findings"]["nodes"];
        assert_eq!(keys(findings), expected(), "{:?}: {repaired}", app.backend);
        for finding in findings.as_array().expect("findings") {
            let manual = finding["invariant"] == "ORGANIZATION_WITHOUT_ACTIVE_OWNER";
            // alice's archived-group fix recomputed her effective roles before her parity
            // finding's turn came (fixes run in the order found): it was gone by then.
            let mended_before = finding["invariant"] == "PERMISSION_PARITY" && finding["user"]["username"] == "alice";
            let status = match (manual, mended_before) {
                (true, _) => "UNRESOLVED",
                (_, true) => "GONE",
                _ => "REPAIRED",
            };
            assert_eq!(finding["status"], status, "{:?}: {finding}", app.backend);
            assert_eq!(finding["applied"], status == "REPAIRED", "{finding}");
            if manual {
                assert!(finding["note"].as_str().unwrap_or_default().contains("transferOrganizationOwnership"), "{finding}");
            }
        }
        assert_eq!(repaired["job"]["findings"], 17, "{repaired}");
        assert_eq!(repaired["job"]["repaired"], 15, "{repaired}");
        let parity = repaired["counts"]
            .as_array()
            .expect("counts")
            .iter()
            .find(|count| count["invariant"] == "PERMISSION_PARITY")
            .cloned();
        assert_eq!(parity, Some(json!({ "invariant": "PERMISSION_PARITY", "found": 2, "repaired": 1 })));

        let audit = gql(
            &app,
            &admin,
            "{ auditEvents(filter: {action: \"consistency.repaired\"}, first: 100) { totalCount nodes { actor { username } detail } } }",
            json!({}),
        )
        .await;
        let events = &audit["auditEvents"];
        assert_eq!(events["totalCount"], 15, "{:?}: {audit}", app.backend);
        let mut audited: Vec<String> = events["nodes"]
            .as_array()
            .expect("events")
            .iter()
            .map(|event| {
                assert_eq!(event["actor"]["username"], "admin", "{event}");
                let detail: Value = match &event["detail"] {
                    Value::String(text) => serde_json::from_str(text).expect("detail JSON"),
                    other => other.clone(),
                };
                detail["invariant"].as_str().unwrap_or_default().to_owned()
            })
            .collect();
        audited.sort();
        let mut fixable: Vec<String> = expected()
            .into_iter()
            .filter(|(invariant, _, user)| {
                invariant != "ORGANIZATION_WITHOUT_ACTIVE_OWNER"
                    && !(invariant == "PERMISSION_PARITY" && user == "alice")
            })
            .map(|(invariant, _, _)| invariant)
            .collect();
        fixable.sort();
        assert_eq!(audited, fixable);

        // What the fixes did.
        let store = &app.database.store;
        let r2 = store.resource_by_id(Uuid::parse_str(fixture.id("r2")).expect("id")).await.expect("r2").expect("r2");
        assert_eq!(r2.owner.map(|owner| owner.to_string()).as_deref(), Some(fixture.id("owner")));
        let history = store.transfer_history(r2.id).await.expect("history");
        assert_eq!(history.len(), 1, "the move is in the resource's transfer history");
        let erin = store
            .user_by_id(steward_domain::UserId(Uuid::parse_str(fixture.id("erin")).expect("id")))
            .await
            .expect("erin")
            .expect("erin");
        assert_eq!(erin.status, steward_domain::user::UserStatus::Deleted);
        let mail = app.mail_about("admin@steward.local", "consistency repair").await;
        let text = mail["text"].as_str().unwrap_or_default();
        assert!(text.contains("PERMISSION_PARITY: 2 / 1"), "{text}");
        assert!(text.contains("ORGANIZATION_WITHOUT_ACTIVE_OWNER: 1 / 0"), "{text}");

        // Run again: only what a person must fix is left; once fixed, nothing is.
        let second = run(&app, &admin, "ALL", None, true).await;
        assert_eq!(
            keys(&second["findings"]["nodes"]),
            vec![("ORGANIZATION_WITHOUT_ACTIVE_OWNER".to_owned(), "ORGANIZATION".to_owned(), "frank".to_owned())],
            "{:?}: {second}",
            app.backend
        );
        assert_eq!(second["job"]["repaired"], 0, "{second}");
        app.database
            .execute_sql(format!("UPDATE users SET status = 'ACTIVE' WHERE id = {}", sql_id(&app, fixture.id("frank"))))
            .await
            .expect("reactivate");
        let last = run(&app, &admin, "ALL", None, false).await;
        assert_eq!(last["findings"]["totalCount"], 0, "{:?}: {last}", app.backend);
        app
    })
    .await;
}

#[tokio::test]
async fn runs_are_scoped_and_only_super_admins_run_them() {
    on_each_backend(&["--job-poll-ms", "20"], |app| async move {
        let fixture = fixture(&app).await;
        inject(&app, &fixture).await;
        let admin = fixture.admin.clone();

        let by_user = run(&app, &admin, "USER", Some(fixture.id("frank")), false).await;
        assert_eq!(by_user["scope"], "USER");
        assert_eq!(
            keys(&by_user["findings"]["nodes"]),
            vec![(
                "ORGANIZATION_WITHOUT_ACTIVE_OWNER".to_owned(),
                "ORGANIZATION".to_owned(),
                "frank".to_owned()
            )],
            "a user's run covers the organizations they own: {by_user}"
        );
        let by_organization =
            run(&app, &admin, "ORGANIZATION", Some(fixture.id("acme")), true).await;
        let found = keys(&by_organization["findings"]["nodes"]);
        assert!(
            found
                .iter()
                .all(|(_, _, user)| ["ghost", "alice", "bob", "carol", "erin"]
                    .contains(&user.as_str())),
            "members only: {found:?}"
        );
        assert!(
            found.iter().any(|(_, _, user)| user == "ghost"),
            "ghost's injected membership makes them a member: {found:?}"
        );
        assert!(
            !found.iter().any(|(_, _, user)| user == "stranger"),
            "{found:?}"
        );

        // Wrong arguments are named; unknown subjects are not found.
        let missing = gql(&app, &admin, START, json!({ "s": "USER", "r": false })).await;
        assert_eq!(
            missing["startConsistencyRun"]["errors"][0]["field"],
            json!(["subject"]),
            "{missing}"
        );
        let extra = gql(
            &app,
            &admin,
            START,
            json!({ "s": "ALL", "subject": fixture.id("acme"), "r": false }),
        )
        .await;
        assert_eq!(
            extra["startConsistencyRun"]["errors"][0]["field"],
            json!(["subject"]),
            "{extra}"
        );
        let unknown = gql(
            &app,
            &admin,
            START,
            json!({ "s": "ORGANIZATION", "subject": Uuid::now_v7().to_string(), "r": false }),
        )
        .await;
        assert_eq!(
            unknown["startConsistencyRun"]["errors"][0]["code"], "NOT_FOUND",
            "{unknown}"
        );

        // Nobody else runs or reads them.
        for (query, variables) in [
            (
                "query($u: ID!) { consistencyReport(user: $u) { invariant } }",
                json!({ "u": fixture.id("ghost") }),
            ),
            (
                "query($u: ID!) { consistencyRun(id: $u) { id } }",
                json!({ "u": by_user["id"] }),
            ),
            (START, json!({ "s": "ALL", "r": false })),
        ] {
            let body = app.graphql(Some(&fixture.owner), query, variables).await;
            assert_eq!(error_code(&body), "FORBIDDEN", "{:?}: {body}", app.backend);
        }
        let invariants = gql(
            &app,
            &admin,
            "{ consistencyInvariants { code description fix manualFix } }",
            json!({}),
        )
        .await;
        assert_eq!(
            invariants["consistencyInvariants"].as_array().map(Vec::len),
            Some(14)
        );
        app
    })
    .await;
}

/// A consistency run over the injected fixture, started in the store for tests that play
/// its worker, with the time, lease and audit entry they work it with.
struct StoreRun {
    fixture: Fixture,
    now: time::OffsetDateTime,
    lease: time::Duration,
    entry: steward_store::AuditEntry,
    job: steward_store::JobRecord,
}

async fn store_run(app: &TestApp, repair: bool) -> StoreRun {
    let fixture = fixture(app).await;
    inject(app, &fixture).await;
    let now = time::OffsetDateTime::now_utc();
    let entry = steward_store::AuditEntry {
        actor: None,
        client_address: None,
        at: now,
    };
    let job = app
        .database
        .store
        .start_consistency_run(steward_domain::consistency::RunScope::All, repair, &entry)
        .await
        .expect("start");
    StoreRun {
        fixture,
        now,
        lease: time::Duration::seconds(60),
        entry,
        job,
    }
}

#[tokio::test]
async fn a_run_whose_worker_died_is_taken_over_after_its_last_stored_chunk() {
    use steward_store::BatchOutcome;
    // No worker of the server's own: the test plays two workers against the store.
    on_each_backend(&["--job-poll-ms", "3600000"], |app| async move {
        let StoreRun {
            now, lease, job, ..
        } = store_run(&app, false).await;
        let store = &app.database.store;
        let first = store
            .claim_job(now, lease)
            .await
            .expect("claim")
            .expect("a job");
        assert_eq!(first.job.id, job.id);
        let BatchOutcome::Advanced(after_one) = store
            .consistency_step(&first, 4, now, lease)
            .await
            .expect("step")
        else {
            panic!("{:?}: the first chunk was not checked", app.backend);
        };
        assert_eq!(after_one.processed_rows, 4);
        // The first worker dies here. Its lease holds for a minute, then the job is taken over.
        assert!(
            store.claim_job(now, lease).await.expect("claim").is_none(),
            "the lease holds"
        );
        let later = now + time::Duration::seconds(61);
        let second = store
            .claim_job(later, lease)
            .await
            .expect("claim")
            .expect("taken over");
        assert_eq!(second.job.attempts, 2);
        assert_eq!(
            second.job.cursor, after_one.cursor,
            "resumed where it stood"
        );
        assert!(matches!(
            store
                .consistency_step(&first, 4, later, lease)
                .await
                .expect("stale step"),
            BatchOutcome::LeaseLost
        ));
        loop {
            match store
                .consistency_step(&second, 4, later, lease)
                .await
                .expect("step")
            {
                BatchOutcome::Advanced(_) => {}
                BatchOutcome::Exhausted(_) => break,
                other => panic!("{:?}: {other:?}", app.backend),
            }
        }
        let ended = store
            .finish_job(
                &second,
                steward_domain::job::JobStatus::Succeeded,
                None,
                later,
            )
            .await
            .expect("finish")
            .expect("still leased");
        assert_eq!(
            ended.processed_rows, ended.total_rows,
            "every subject checked once"
        );
        assert_eq!(
            ended.findings, 17,
            "{:?}: no chunk checked twice",
            app.backend
        );
        let (findings, total) = store
            .findings_page(job.id, &steward_store::FindingFilter::default(), None, 100)
            .await
            .expect("findings");
        assert_eq!(total, 17);
        let mut subjects: Vec<_> = findings
            .iter()
            .map(|finding| (finding.invariant, finding.subject_id, finding.user))
            .collect();
        subjects.sort_by_key(|(invariant, subject, user)| {
            (invariant.code(), *subject, user.map(|u| u.as_uuid()))
        });
        subjects.dedup();
        assert_eq!(subjects.len(), 17, "no finding stored twice");
        app
    })
    .await;
}

#[tokio::test]
async fn a_fix_whose_violation_went_away_changes_nothing() {
    use steward_domain::consistency::{FindingStatus, Invariant};
    use steward_store::BatchOutcome;
    // No worker of the server's own: the test works the run against the store.
    on_each_backend(&["--job-poll-ms", "3600000"], |app| async move {
        let StoreRun {
            fixture,
            now,
            lease,
            entry,
            job,
        } = store_run(&app, true).await;
        let store = &app.database.store;
        let claimed = store.claim_job(now, lease).await.expect("claim").expect("a job");
        while let BatchOutcome::Advanced(_) =
            store.consistency_step(&claimed, 100, now, lease).await.expect("step")
        {}
        // Between the check and the fix, carol's membership is enabled again and stranger
        // joins Acme: their session, group membership and resource are no violations now.
        for statement in [
            format!("UPDATE memberships SET status = 'ACTIVE' WHERE user_id = {}", sql_id(&app, fixture.id("carol"))),
            format!(
                "INSERT INTO memberships (id, organization_id, user_id, status, created_at, updated_at) \
                 VALUES ({}, {}, {}, 'ACTIVE', {AT}, {AT})",
                sql_id(&app, &Uuid::now_v7().to_string()),
                sql_id(&app, fixture.id("acme")),
                sql_id(&app, fixture.id("stranger"))
            ),
        ] {
            app.database.execute_sql(statement).await.expect("heal");
        }
        let open = store.open_findings(job.id, 100).await.expect("open findings");
        assert_eq!(open.len(), 16, "{:?}: all but the ownerless organization", app.backend);
        let mut gone = Vec::new();
        for finding in &open {
            let status = store
                .repair_finding(&claimed, finding, &entry)
                .await
                .expect("repair")
                .expect("still leased");
            if status == FindingStatus::Gone {
                let user = finding.user.map(|user| user.to_string()).unwrap_or_default();
                gone.push((finding.invariant, user));
            }
        }
        gone.sort_by_key(|(invariant, user)| (invariant.code(), user.clone()));
        let carol = fixture.id("carol").to_owned();
        let stranger = fixture.id("stranger").to_owned();
        let alice = fixture.id("alice").to_owned();
        let mut expected = vec![
            (Invariant::LiveSessionOfInactiveUser, carol),
            (Invariant::GroupMemberNotMember, stranger.clone()),
            (Invariant::ResourceOwnedByNonMember, stranger),
            // Mended by alice's archived-group fix before its turn, as in the repair above.
            (Invariant::PermissionParity, alice),
        ];
        expected.sort_by_key(|(invariant, user)| (invariant.code(), user.clone()));
        assert_eq!(gone, expected, "{:?}", app.backend);
        let r3 = store
            .resource_by_id(Uuid::parse_str(fixture.id("r3")).expect("id"))
            .await
            .expect("r3")
            .expect("r3");
        assert_eq!(
            r3.owner.map(|owner| owner.to_string()).as_deref(),
            Some(fixture.id("stranger")),
            "a stale finding moves nothing"
        );
        app
    })
    .await;
}
