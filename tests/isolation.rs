//! Tenant isolation, generated from the schema: every query and mutation is called by the
//! Administrator of organization B with arguments that point at organization A's objects.
//! Nothing of A may come back and nothing of A may change. The fields come from
//! introspection, so a field added later is tried without anyone adding it here.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use steward_domain::OrganizationId;
use steward_store::AuditFilter;

use crate::support::{TestApp, on_each_backend};

const PASSWORD: &str = "correct horse battery staple 42";

/// Words that appear only in organization A's data.
const MARKERS: [&str; 7] = [
    "AcmeSecretOrg",
    "acmeowner",
    "acmemember",
    "AcmeSecretRole",
    "AcmeSecretGroup",
    "AcmeSecretProject",
    "acme-secret.example",
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

    /// Every field of an object type that needs no argument, a few levels deep.
    fn selection(&self, type_name: &str, depth: usize) -> String {
        let Some(fields) = self
            .types
            .get(type_name)
            .and_then(|t| t["fields"].as_array())
        else {
            return String::new();
        };
        let mut parts = vec!["__typename".to_owned()];
        for field in fields {
            if field["args"]
                .as_array()
                .is_some_and(|args| args.iter().any(|a| required(&a["type"])))
            {
                continue;
            }
            let name = field["name"].as_str().unwrap_or_default();
            let (inner, _) = named(&field["type"]);
            match self.kind(&inner) {
                "OBJECT" if depth < 3 => parts.push(format!(
                    "{name} {{ {} }}",
                    self.selection(&inner, depth + 1)
                )),
                "OBJECT" => {}
                _ => parts.push(name.to_owned()),
            }
        }
        parts.join(" ")
    }

    /// A document calling `field` with arguments aimed at organization A, and its variables.
    /// `minimal` leaves optional arguments out, except input objects (filters), filled
    /// minimally.
    fn document(
        &self,
        operation: &str,
        field: &Value,
        targets: &BTreeMap<&str, String>,
        minimal: bool,
    ) -> (String, Value) {
        let name = field["name"].as_str().unwrap_or_default();
        let mut variables = serde_json::Map::new();
        let mut declarations = Vec::new();
        let mut arguments = Vec::new();
        for arg in field["args"].as_array().into_iter().flatten() {
            let arg_name = arg["name"].as_str().unwrap_or_default();
            let input_object = self.kind(&named(&arg["type"]).0) == "INPUT_OBJECT";
            if minimal && !required(&arg["type"]) && !input_object {
                continue;
            }
            // `id` means the object the field is named after (organization, group).
            let target = if arg_name == "id" { name } else { arg_name };
            variables.insert(
                arg_name.to_owned(),
                self.value(target, &arg["type"], targets, 0, minimal),
            );
            declarations.push(format!("${arg_name}: {}", type_text(&arg["type"])));
            arguments.push(format!("{arg_name}: ${arg_name}"));
        }
        let (return_type, _) = named(&field["type"]);
        let selection = match self.kind(&return_type) {
            "OBJECT" => format!("{{ {} }}", self.selection(&return_type, 1)),
            _ => String::new(),
        };
        let wrap = |items: Vec<String>| {
            if items.is_empty() {
                String::new()
            } else {
                format!("({})", items.join(", "))
            }
        };
        let document = format!(
            "{operation}{} {{ {name}{} {selection} }}",
            wrap(declarations),
            wrap(arguments)
        );
        (document, Value::Object(variables))
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

/// Organization A with one of everything, made by its owner.
async fn organization_a(app: &TestApp) -> (OrganizationId, BTreeMap<&'static str, String>) {
    let admin = app.admin_token().await;
    let owner = app.create_user("acmeowner", PASSWORD).await;
    let organization = app
        .create_organization(&admin, "AcmeSecretOrg", &owner)
        .await;
    let token = app.token("acmeowner", PASSWORD).await;
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
    let member = app.create_user("acmemember", PASSWORD).await;
    run(
        "mutation($o: ID!, $u: ID!, $r: ID!) { addMember(input: {organization: $o, user: $u, role: $r}) { errors { code } } }",
        json!({ "o": organization, "u": member, "r": viewer }),
    )
    .await;
    let role = run(
        "mutation($o: ID!) { createRole(input: {organization: $o, name: \"AcmeSecretRole\", permissions: [{area: AUDIT, level: VIEW}]}) { role { id } } }",
        json!({ "o": organization }),
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
        "mutation($o: ID!) { createGroup(input: {organization: $o, name: \"AcmeSecretGroup\"}) { group { id } } }",
        json!({ "o": organization }),
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
        "mutation($o: ID!) { createProject(input: {organization: $o, name: \"AcmeSecretProject\"}) { project { id } } }",
        json!({ "o": organization }),
    )
    .await["data"]["createProject"]["project"]["id"]
        .as_str()
        .expect("project")
        .to_owned();
    run(
        "mutation($o: ID!) { addEmailDomain(input: {organization: $o, domain: \"acme-secret.example\"}) { errors { code } } }",
        json!({ "o": organization }),
    )
    .await;

    let id = OrganizationId(uuid::Uuid::parse_str(&organization).expect("uuid"));
    let targets = BTreeMap::from([
        ("organization", organization.clone()),
        ("user", member.clone()),
        ("owner", owner),
        ("role", role),
        ("binding", binding),
        ("group", group),
        ("project", project),
        ("actor", member),
    ]);
    (id, targets)
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
    on_each_backend(&[], |app| async move {
        let (acme, targets) = organization_a(&app).await;
        let admin = app.admin_token().await;
        let stranger = app.create_user("globexadmin", PASSWORD).await;
        app.create_organization(&admin, "Globex", &stranger).await;

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
        for (operation, root) in [("query", "Query"), ("mutation", "Mutation")] {
            for field in schema.types[root]["fields"].as_array().expect("fields") {
                let name = field["name"].as_str().expect("name");
                for minimal in [false, true] {
                    let (document, variables) =
                        schema.document(operation, field, &targets, minimal);
                    // A fresh login for each call: `logout` and `changePassword` end sessions.
                    let token = app.token("globexadmin", PASSWORD).await;
                    let body = app.graphql(Some(&token), &document, variables).await;
                    let text = body.to_string();
                    for marker in MARKERS {
                        assert!(
                            !text.contains(marker),
                            "{:?}: {name} leaked {marker}: {text}\n{document}",
                            app.backend
                        );
                    }
                    for (what, id) in &targets {
                        assert!(
                            !text.contains(id.as_str()),
                            "{:?}: {name} returned A's {what} id: {text}\n{document}",
                            app.backend
                        );
                    }
                    // The call reached a resolver: it answered, or a resolver refused with a
                    // code. A document the server could not even validate proves nothing.
                    let reached = !body["data"].is_null()
                        || body["errors"][0]["extensions"]["code"].is_string();
                    assert!(
                        reached,
                        "{:?}: {name} never reached a resolver: {text}\n{document}",
                        app.backend
                    );
                }
                tried.push(format!("{root}.{name}"));
            }
        }
        assert_eq!(
            events_of(&app, acme).await,
            events_before,
            "{:?}: nothing of A changed",
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
        app
    })
    .await;
}
