//! Tenant isolation, generated from the schema. The Administrator of organization B calls
//! every query and mutation twice over: first with arguments that point at organization A's
//! objects, then on B's own objects with every nested field selected, the arguments of nested
//! fields still pointing at A. Nothing of A may come back and nothing of A may change. The
//! fields come from introspection, so a field added later is tried without anyone adding it
//! here, and the test fails if any field of any object type was never answered.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use steward_domain::OrganizationId;
use steward_store::AuditFilter;

use crate::support::{TestApp, on_each_backend};

const PASSWORD: &str = "correct horse battery staple 42";

/// How deep selections go below the root field (the server allows 12 levels).
const MAX_DEPTH: usize = 8;

/// Words that appear only in organization A's data.
const MARKERS: [&str; 9] = [
    "AcmeSecretOrg",
    "acmeowner",
    "acmemember",
    "acmeinvitee",
    "AcmeSecretRole",
    "AcmeSecretGroup",
    "AcmeSecretProject",
    "acme-secret.example",
    "AcmeSecretKey",
];

const INTROSPECTION: &str = "{ __schema { queryType { name } mutationType { name } types { name kind \
    fields { name args { name type { ...Ref } } type { ...Ref } } \
    inputFields { name type { ...Ref } } enumValues { name } } } } \
    fragment Ref on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";

/// The named type at the bottom of a type reference, and whether it is a list.
fn named(type_ref: &Value) -> (String, bool) {
    let mut current = type_ref;
    let mut list = false;
    while current["name"].is_null() {
        list |= current["kind"] == "LIST";
        current = &current["ofType"];
    }
    (
        current["name"].as_str().unwrap_or_default().to_owned(),
        list,
    )
}

fn required(type_ref: &Value) -> bool {
    type_ref["kind"] == "NON_NULL"
}

struct Schema {
    types: BTreeMap<String, Value>,
}

impl Schema {
    fn kind(&self, name: &str) -> &str {
        self.types
            .get(name)
            .and_then(|t| t["kind"].as_str())
            .unwrap_or("SCALAR")
    }

    /// A value for an argument or input field called `name`, aimed at organization A.
    /// `minimal`: input objects get their required fields and the first optional `ID` only
    /// (so "a user or a group" inputs name one of them).
    fn value(
        &self,
        name: &str,
        type_ref: &Value,
        targets: &BTreeMap<&str, String>,
        depth: usize,
        minimal: bool,
    ) -> Value {
        let (type_name, list) = named(type_ref);
        let single = match (type_name.as_str(), self.kind(&type_name)) {
            ("ID", _) => json!(
                targets
                    .get(name)
                    .or_else(|| targets.get("organization"))
                    .cloned()
                    .unwrap_or_default()
            ),
            ("String", _) => json!(format!("probe{name}")),
            ("Int", _) => json!(5),
            ("Boolean", _) => json!(false),
            ("DateTime", _) => json!("2026-01-01T00:00:00Z"),
            (_, "ENUM") => self.types[&type_name]["enumValues"][0]["name"].clone(),
            (_, "INPUT_OBJECT") if depth < 3 => {
                let mut object = serde_json::Map::new();
                let mut optional_id_taken = false;
                for field in self.types[&type_name]["inputFields"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    let field_name = field["name"].as_str().unwrap_or_default();
                    if minimal && !required(&field["type"]) {
                        if optional_id_taken || named(&field["type"]).0 != "ID" {
                            continue;
                        }
                        optional_id_taken = true;
                    }
                    object.insert(
                        field_name.to_owned(),
                        self.value(field_name, &field["type"], targets, depth + 1, minimal),
                    );
                }
                Value::Object(object)
            }
            _ => Value::Null,
        };
        if list { json!([single]) } else { single }
    }

    /// Every field of an object type, each object type expanded once per document (later
    /// occurrences get `__typename` only), so the document stays within the server's depth and
    /// complexity limits. Arguments a nested field requires become variables aimed at
    /// organization A, declared in `variables`.
    fn selection(
        &self,
        type_name: &str,
        depth: usize,
        expanded: &mut BTreeSet<String>,
        variables: &mut Variables,
    ) -> String {
        let Some(fields) = self
            .types
            .get(type_name)
            .and_then(|t| t["fields"].as_array())
        else {
            return String::new();
        };
        expanded.insert(type_name.to_owned());
        let mut parts = vec!["__typename".to_owned()];
        for field in fields {
            let name = field["name"].as_str().unwrap_or_default();
            let mut arguments = Vec::new();
            for arg in field["args"].as_array().into_iter().flatten() {
                if !required(&arg["type"]) {
                    continue;
                }
                let arg_name = arg["name"].as_str().unwrap_or_default();
                let variable = format!("v{}", variables.values.len());
                variables.values.insert(
                    variable.clone(),
                    self.value(arg_name, &arg["type"], &variables.targets, 0, false),
                );
                variables
                    .declarations
                    .push(format!("${variable}: {}", type_text(&arg["type"])));
                arguments.push(format!("{arg_name}: ${variable}"));
            }
            let call = if arguments.is_empty() {
                name.to_owned()
            } else {
                format!("{name}({})", arguments.join(", "))
            };
            let (inner, _) = named(&field["type"]);
            match self.kind(&inner) {
                "OBJECT" if depth < MAX_DEPTH && !expanded.contains(&inner) => {
                    let inner_selection = self.selection(&inner, depth + 1, expanded, variables);
                    parts.push(format!("{call} {{ {inner_selection} }}"));
                }
                "OBJECT" => parts.push(format!("{call} {{ __typename }}")),
                _ => parts.push(call),
            }
        }
        parts.join(" ")
    }

    /// A document calling the root `field` with arguments aimed at `root_targets`, and its
    /// variables; arguments of nested fields always aim at organization A (`targets`).
    /// `minimal` leaves optional root arguments out, except input objects (filters), filled
    /// minimally.
    fn document(
        &self,
        operation: &str,
        field: &Value,
        root_targets: &BTreeMap<&'static str, String>,
        targets: &BTreeMap<&'static str, String>,
        minimal: bool,
    ) -> (String, Value) {
        let name = field["name"].as_str().unwrap_or_default();
        let mut variables = Variables {
            targets: targets.clone(),
            values: serde_json::Map::new(),
            declarations: Vec::new(),
        };
        let mut arguments = Vec::new();
        for arg in field["args"].as_array().into_iter().flatten() {
            let arg_name = arg["name"].as_str().unwrap_or_default();
            let input_object = self.kind(&named(&arg["type"]).0) == "INPUT_OBJECT";
            if minimal && !required(&arg["type"]) && !input_object {
                continue;
            }
            // `id` means the object the field is named after (organization, group).
            let target = if arg_name == "id" { name } else { arg_name };
            variables.values.insert(
                arg_name.to_owned(),
                self.value(target, &arg["type"], root_targets, 0, minimal),
            );
            variables
                .declarations
                .push(format!("${arg_name}: {}", type_text(&arg["type"])));
            arguments.push(format!("{arg_name}: ${arg_name}"));
        }
        let (return_type, _) = named(&field["type"]);
        let selection = match self.kind(&return_type) {
            "OBJECT" => format!(
                "{{ {} }}",
                self.selection(&return_type, 1, &mut BTreeSet::new(), &mut variables)
            ),
            _ => String::new(),
        };
        let wrap = |items: &[String]| {
            if items.is_empty() {
                String::new()
            } else {
                format!("({})", items.join(", "))
            }
        };
        let document = format!(
            "{operation}{} {{ {name}{} {selection} }}",
            wrap(&variables.declarations),
            wrap(&arguments)
        );
        (document, Value::Object(variables.values))
    }

    /// The object types reachable from `roots` through object fields, the roots included.
    fn reachable(&self, roots: impl IntoIterator<Item = String>) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut queue: Vec<String> = roots.into_iter().collect();
        while let Some(type_name) = queue.pop() {
            if self.kind(&type_name) != "OBJECT" || !seen.insert(type_name.clone()) {
                continue;
            }
            for field in self.types[&type_name]["fields"]
                .as_array()
                .into_iter()
                .flatten()
            {
                queue.push(named(&field["type"]).0);
            }
        }
        seen
    }

    /// Every `Type.field` of the schema's object types, introspection's own left out.
    /// Every field of every object type but the subscription root, whose fields run over
    /// WebSocket (tests/imports.rs probes `jobProgress` across organizations).
    fn object_fields(&self) -> BTreeSet<String> {
        self.types
            .values()
            .filter(|t| t["kind"] == "OBJECT")
            .filter_map(|t| {
                let type_name = t["name"].as_str()?;
                (!type_name.starts_with("__") && type_name != "Subscription")
                    .then_some((type_name, t))
            })
            .flat_map(|(type_name, t)| {
                t["fields"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(move |f| Some(format!("{type_name}.{}", f["name"].as_str()?)))
            })
            .collect()
    }
}

/// The variables of one document being built.
struct Variables {
    targets: BTreeMap<&'static str, String>,
    values: serde_json::Map<String, Value>,
    declarations: Vec<String>,
}

/// Records `Type.field` for every field a server answered, from the `__typename` each
/// selection carries.
fn answered(value: &Value, into: &mut BTreeSet<String>) {
    match value {
        Value::Object(object) => {
            if let Some(type_name) = object.get("__typename").and_then(Value::as_str) {
                for key in object.keys().filter(|k| *k != "__typename") {
                    into.insert(format!("{type_name}.{key}"));
                }
            }
            object.values().for_each(|v| answered(v, into));
        }
        Value::Array(items) => items.iter().for_each(|v| answered(v, into)),
        _ => {}
    }
}

/// The GraphQL text of a type reference, for variable declarations.
fn type_text(type_ref: &Value) -> String {
    match type_ref["kind"].as_str() {
        Some("NON_NULL") => format!("{}!", type_text(&type_ref["ofType"])),
        Some("LIST") => format!("[{}]", type_text(&type_ref["ofType"])),
        _ => type_ref["name"].as_str().unwrap_or_default().to_owned(),
    }
}

/// The names an organization of the test is made with.
struct Names {
    organization: &'static str,
    owner: &'static str,
    member: &'static str,
    invitee: &'static str,
    role: &'static str,
    group: &'static str,
    project: &'static str,
    domain: &'static str,
    /// The title of the member's SSH key.
    ssh_key: &'static str,
    /// The member's SSH public key.
    public_key: &'static str,
}

/// Organization A: every word of it is a marker.
const ACME: Names = Names {
    organization: "AcmeSecretOrg",
    owner: "acmeowner",
    member: "acmemember",
    invitee: "acmeinvitee",
    role: "AcmeSecretRole",
    group: "AcmeSecretGroup",
    project: "AcmeSecretProject",
    domain: "acme-secret.example",
    ssh_key: "AcmeSecretKey",
    public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBdIaQxXGnf+b9/H5E0Z5xaZQwH5SykbCve24Ot/fWh+",
};

/// Organization B, whose Administrator (its owner) probes A.
const GLOBEX: Names = Names {
    organization: "Globex",
    owner: "globexadmin",
    member: "globexmember",
    invitee: "globexinvitee",
    role: "GlobexRole",
    group: "GlobexGroup",
    project: "GlobexProject",
    domain: "globex.example",
    ssh_key: "GlobexKey",
    public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFgEVOuz0p9+6RNybnGHAqQG2+Q+HEr/OPBw8+egITjI",
};

/// An organization with one of everything, made by its owner: a member with a custom role
/// binding and an SSH key, a group with that member, a project and an e-mail domain.
async fn populate(
    app: &TestApp,
    names: &Names,
) -> (OrganizationId, BTreeMap<&'static str, String>) {
    let admin = app.admin_token().await;
    let owner = app.create_user(names.owner, PASSWORD).await;
    let organization = app
        .create_organization(&admin, names.organization, &owner)
        .await;
    let token = app.token(names.owner, PASSWORD).await;
    let run = |query: &'static str, variables: Value| {
        let token = token.clone();
        async move { app.graphql(Some(&token), query, variables).await }
    };
    let roles = run(
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
    let member = app.create_user(names.member, PASSWORD).await;
    // As a SuperAdmin: anyone else's `addMember` only invites.
    app.graphql(
        Some(&admin),
        "mutation($o: ID!, $u: ID!, $r: ID!) { addMember(input: {organization: $o, user: $u, role: $r}) { errors { code } } }",
        json!({ "o": organization, "u": member, "r": viewer }),
    )
    .await;
    let role = run(
        "mutation($o: ID!, $n: String!) { createRole(input: {organization: $o, name: $n, permissions: [{area: AUDIT, level: VIEW}]}) { role { id } } }",
        json!({ "o": organization, "n": names.role }),
    )
    .await["data"]["createRole"]["role"]["id"]
        .as_str()
        .expect("role")
        .to_owned();
    let binding = run(
        "mutation($r: ID!, $u: ID!) { bindRole(input: {role: $r, user: $u}) { bindingId } }",
        json!({ "r": role, "u": member }),
    )
    .await["data"]["bindRole"]["bindingId"]
        .as_str()
        .expect("binding")
        .to_owned();
    let group = run(
        "mutation($o: ID!, $n: String!) { createGroup(input: {organization: $o, name: $n}) { group { id } } }",
        json!({ "o": organization, "n": names.group }),
    )
    .await["data"]["createGroup"]["group"]["id"]
        .as_str()
        .expect("group")
        .to_owned();
    run(
        "mutation($g: ID!, $u: ID!) { addGroupMember(input: {group: $g, user: $u}) { errors { code } } }",
        json!({ "g": group, "u": member }),
    )
    .await;
    let project = run(
        "mutation($o: ID!, $n: String!) { createProject(input: {organization: $o, name: $n}) { project { id } } }",
        json!({ "o": organization, "n": names.project }),
    )
    .await["data"]["createProject"]["project"]["id"]
        .as_str()
        .expect("project")
        .to_owned();
    run(
        "mutation($o: ID!, $d: String!) { addEmailDomain(input: {organization: $o, domain: $d}) { errors { code } } }",
        json!({ "o": organization, "d": names.domain }),
    )
    .await;
    let invitation = run(
        "mutation($o: ID!, $e: String!, $r: ID!) { inviteUser(input: {organization: $o, email: $e, fullName: \"Invitee\", roles: [$r]}) { invitation { id } errors { message } } }",
        json!({ "o": organization, "e": format!("{}@{}", names.invitee, names.domain), "r": viewer }),
    )
    .await;
    let invitation = invitation["data"]["inviteUser"]["invitation"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("invitation: {invitation}"))
        .to_owned();

    let member_token = app.token(names.member, PASSWORD).await;
    let ssh_key = app
        .graphql(
            Some(&member_token),
            "mutation($k: String!, $t: String!) { addSshKey(input: {publicKey: $k, title: $t}) { sshKey { id } errors { message } } }",
            json!({ "k": names.public_key, "t": names.ssh_key }),
        )
        .await;
    let ssh_key = ssh_key["data"]["addSshKey"]["sshKey"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("SSH key: {ssh_key}"))
        .to_owned();
    // A resource the owner owns (so that a filter on the owner finds it); its name carries
    // the group's marker.
    let resource = run(
        "mutation($o: ID!, $u: ID!, $n: String!) { registerResource(input: {organization: $o, kind: \"DASHBOARD\", name: $n, externalId: $n, owner: $u}) { resource { id } errors { message } } }",
        json!({ "o": organization, "u": owner, "n": format!("{}Board", names.group) }),
    )
    .await;
    let resource = resource["data"]["registerResource"]["resource"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("resource: {resource}"))
        .to_owned();
    // Shared with the member and with the group, so that `Resource.shares` and
    // `User.sharedResources` have something to answer.
    for (grantee, id) in [("user", &member), ("group", &group)] {
        let shared = run(
            "mutation($r: ID!, $u: ID, $g: ID) { shareResource(input: {resource: $r, user: $u, group: $g, access: READ}) { errors { message } } }",
            json!({ "r": resource, "u": (grantee == "user").then_some(id), "g": (grantee == "group").then_some(id) }),
        )
        .await;
        assert_eq!(
            shared["data"]["shareResource"]["errors"],
            json!([]),
            "share: {shared}"
        );
    }
    // A dataset the member owns (their deletion plan lists it), and a schedule that was the
    // member's and was transferred to the owner (it has a transfer history).
    for (kind, suffix) in [("DATASET", "Set"), ("SCHEDULE", "Plan")] {
        let registered = run(
            "mutation($o: ID!, $k: String!, $u: ID!, $n: String!) { registerResource(input: {organization: $o, kind: $k, name: $n, externalId: $n, owner: $u}) { resource { id } errors { message } } }",
            json!({ "o": organization, "k": kind, "u": member, "n": format!("{}{suffix}", names.group) }),
        )
        .await;
        let id = registered["data"]["registerResource"]["resource"]["id"].clone();
        assert!(id.is_string(), "resource: {registered}");
        if kind == "SCHEDULE" {
            let moved = run(
                "mutation($r: ID!, $u: ID!) { transferResources(input: {resources: [$r], to: $u}) { errors { message } } }",
                json!({ "r": id, "u": owner }),
            )
            .await;
            assert_eq!(
                moved["data"]["transferResources"]["errors"],
                json!([]),
                "{moved}"
            );
        }
    }
    // A hold on the member's deletion (placed by a SuperAdmin, as billing would).
    let hold = app
        .graphql(
            Some(&admin),
            "mutation($u: ID!) { placeDeletionHold(input: {user: $u, reason: \"unpaid invoice\"}) { errors { message } } }",
            json!({ "u": member }),
        )
        .await;
    assert_eq!(
        hold["data"]["placeDeletionHold"]["errors"],
        json!([]),
        "{hold}"
    );
    // An API key of the member, limited to the organization; its name carries the role's
    // marker.
    let api_key = app
        .graphql(
            Some(&member_token),
            "mutation($o: ID!, $n: String!) { createApiKey(input: {organization: $o, name: $n}) { token errors { message } } }",
            json!({ "o": organization, "n": format!("{}Key", names.role) }),
        )
        .await;
    assert!(
        api_key["data"]["createApiKey"]["token"].is_string(),
        "API key: {api_key}"
    );

    // A bulk import by the owner, with its rows.
    let import = app
        .graphql_upload(
            Some(&token),
            "mutation($o: ID!, $f: Upload!) { startBulkUserImport(organization: $o, file: $f) { job { id } errors { message } } }",
            json!({ "o": organization }),
            "f",
            format!("username,email,name\n{}Imp,imp@{},Imported\n", names.group, names.domain).as_bytes(),
        )
        .await;
    let job = import["data"]["startBulkUserImport"]["job"]["id"].clone();
    assert!(job.is_string(), "import: {import}");
    // Ended before the probes count A's audit events.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let found = run(
            "query($j: ID!) { job(id: $j) { finishedAt } }",
            json!({ "j": job }),
        )
        .await;
        if found["data"]["job"]["finishedAt"].is_string() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "import: {found}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let id = OrganizationId(uuid::Uuid::parse_str(&organization).expect("uuid"));
    let targets = BTreeMap::from([
        ("organization", organization.clone()),
        ("user", member.clone()),
        ("owner", owner),
        ("role", role.clone()),
        ("binding", binding),
        ("group", group.clone()),
        // Filters of lists (`users`): on B's own objects they find B's member.
        ("roles", role),
        ("groups", group),
        ("project", project),
        ("actor", member),
        ("invitation", invitation),
        // `removeSshKey(id)`: the member's key.
        ("removeSshKey", ssh_key),
        // `shareResource(input: {resource})` and `updateResource(input: {id})`: the
        // dashboard.
        ("resource", resource.clone()),
        ("id", resource),
    ]);
    (id, targets)
}

/// The variable a document declares as an `Upload`, which goes as a multipart request.
fn upload_variable(document: &str) -> Option<String> {
    document.split('$').skip(1).find_map(|part| {
        let (name, _) = part.split_once(": Upload")?;
        name.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
            .then(|| name.to_owned())
    })
}

/// `value` with every audit event of a refused call (outcome `DENIED`) blanked out.
fn without_denied_events(value: &Value) -> Value {
    match value {
        Value::Object(fields) if fields.get("outcome") == Some(&json!("DENIED")) => Value::Null,
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(name, value)| (name.clone(), without_denied_events(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_denied_events).collect()),
        other => other.clone(),
    }
}

async fn events_of(app: &TestApp, organization: OrganizationId) -> i64 {
    let filter = AuditFilter {
        organizations: Some(vec![organization]),
        actor: None,
        action: None,
        target_type: None,
        target_id: None,
        from: None,
        to: None,
    };
    app.database
        .store
        .audit_events_page(&filter, None, 1)
        .await
        .expect("audit")
        .1
}

#[tokio::test]
async fn a_member_of_another_organization_can_neither_see_nor_change_anything_of_it() {
    on_each_backend(&["--dev"], |app| async move {
        let (acme, targets) = populate(&app, &ACME).await;
        let (_, own) = populate(&app, &GLOBEX).await;

        let introspection = app.graphql(None, INTROSPECTION, json!({})).await;
        let schema = Schema {
            types: introspection["data"]["__schema"]["types"]
                .as_array()
                .expect("types")
                .iter()
                .map(|t| (t["name"].as_str().unwrap_or_default().to_owned(), t.clone()))
                .collect(),
        };
        let events_before = events_of(&app, acme).await;
        let mut tried = Vec::new();
        let mut covered = BTreeSet::new();
        // The return types of root fields that refused B (with the codes they refused with),
        // and of those that answered.
        let mut refused: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut returned = BTreeSet::new();
        // First every root field aimed at A's objects; then every root field on B's own
        // objects, so that the nested fields run too, their arguments still aimed at A.
        for (pass, root_targets) in [("A's ids", &targets), ("B's own objects", &own)] {
            for (operation, root) in [("query", "Query"), ("mutation", "Mutation")] {
                for field in schema.types[root]["fields"].as_array().expect("fields") {
                    let name = field["name"].as_str().expect("name");
                    for minimal in [false, true] {
                        let (document, variables) =
                            schema.document(operation, field, root_targets, &targets, minimal);
                        // A fresh login for each call: `logout` and `changePassword` end
                        // sessions.
                        let token = app.token(GLOBEX.owner, PASSWORD).await;
                        let body = match upload_variable(&document) {
                            Some(variable) => {
                                app.graphql_upload(
                                    Some(&token),
                                    &document,
                                    variables,
                                    &variable,
                                    b"username,email,name\nprobe1,probe1@example.com,Probe\n",
                                )
                                .await
                            }
                            None => app.graphql(Some(&token), &document, variables).await,
                        };
                        let text = body.to_string();
                        let context = format!("{:?}, {pass}: {name}", app.backend);
                        for marker in MARKERS {
                            assert!(
                                !text.contains(marker),
                                "{context} leaked {marker}: {text}\n{document}"
                            );
                        }
                        // B's own trail holds the events of B's refused calls, which name
                        // the ids B gave, as given: an echo of B's input, not A's data.
                        let echoed = without_denied_events(&body).to_string();
                        for (what, id) in &targets {
                            assert!(
                                !echoed.contains(id.as_str()),
                                "{context} returned A's {what} id: {text}\n{document}"
                            );
                        }
                        // The call reached a resolver: it answered, or a resolver refused
                        // with a code. A document the server could not even validate
                        // proves nothing.
                        let reached = !body["data"].is_null()
                            || body["errors"][0]["extensions"]["code"].is_string();
                        assert!(
                            reached,
                            "{context} never reached a resolver: {text}\n{document}"
                        );
                        answered(&body["data"], &mut covered);
                        covered.insert(format!("{root}.{name}"));
                        let return_type = named(&field["type"]).0;
                        if body["data"].is_null() {
                            let code = body["errors"][0]["extensions"]["code"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned();
                            refused.entry(return_type).or_default().insert(code);
                        } else {
                            returned.insert(return_type);
                        }
                    }
                    tried.push(format!("{root}.{name}"));
                }
            }
        }
        assert_eq!(
            events_of(&app, acme).await,
            events_before,
            "{:?}: nothing of A changed",
            app.backend
        );
        // SSH keys belong to users, not organizations: their events have no organization.
        let acme_key = uuid::Uuid::parse_str(&targets["removeSshKey"]).expect("uuid");
        assert!(
            app.database
                .store
                .ssh_key_by_id(steward_domain::SshKeyId(acme_key))
                .await
                .expect("key")
                .is_some(),
            "{:?}: A's member's SSH key is still there",
            app.backend
        );
        for expected in [
            "Query.organization",
            "Query.group",
            "Query.auditEvents",
            "Mutation.deleteRole",
            "Mutation.bindRole",
            "Mutation.archiveGroup",
        ] {
            assert!(
                tried.iter().any(|t| t == expected),
                "{expected} was not tried: {tried:?}"
            );
        }
        // Every field of every object type ran at least once with A's ids in reach, except
        // the fields of types that B cannot reach at all: those only returned by root fields
        // that refused B every time. Those roots must refuse as FORBIDDEN, whatever the ids:
        // they are platform operations (SuperAdmins only), so what they return cannot carry
        // A's data to B. A field added later that these probes do not reach fails here
        // rather than passing unseen.
        let never_returned: Vec<&String> = refused
            .keys()
            .filter(|return_type| !returned.contains(*return_type))
            .collect();
        for return_type in &never_returned {
            assert_eq!(
                refused[*return_type],
                BTreeSet::from(["FORBIDDEN".to_owned()]),
                "{:?}: a root field returning {return_type} refused B otherwise than as a \
                 platform operation",
                app.backend
            );
        }
        let unreachable: BTreeSet<String> = schema
            .reachable(never_returned.into_iter().cloned())
            .difference(&schema.reachable(returned))
            .cloned()
            .collect();
        let missing: Vec<_> = schema
            .object_fields()
            .difference(&covered)
            .filter(|field| {
                !unreachable
                    .iter()
                    .any(|t| field.starts_with(&format!("{t}.")))
            })
            .cloned()
            .collect();
        assert!(
            missing.is_empty(),
            "{:?}: fields never answered by the isolation probes: {missing:?} \
             (unreachable for B: {unreachable:?})",
            app.backend
        );
        app
    })
    .await;
}
