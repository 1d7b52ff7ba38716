//! The people a load runs as: users written through the store (active, with a known
//! password), then an organization, memberships, logins and API keys made through the API of
//! a running server, as a deployment's would be.

use anyhow::{Context as _, ensure};
use serde_json::{Value, json};
use steward_domain::user::{EmailAddress, FullName, Language, PlatformRole, UserStatus, Username};
use steward_store::{AuditEntry, NewUser, Store};

use super::workload::post;

/// Every seeded user's password.
pub const PASSWORD: &str = "load test password, long enough 42";

/// The server's default argon2id costs (19 MiB, 2 passes): logins cost what they cost in
/// production.
const COSTS: (u32, u32) = (19 * 1024, 2);

/// One member in this many is an Administrator of the organization (invitations and role
/// changes are theirs to make).
const MANAGER_EVERY: usize = 8;

/// A client's credentials: its user's access token and API key.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub access_token: String,
    pub api_key: String,
}

/// The seeded users and what the clients act with.
#[derive(Debug, Clone)]
pub struct Population {
    pub tag: String,
    pub organization: String,
    pub viewer_role: String,
    pub editor_role: String,
    /// Every member's id and username, by number.
    users: Vec<(String, String)>,
    /// Client `n` acts as member `n`.
    clients: Vec<Credentials>,
}

/// Users written to the database before a server starts: `lt<tag>u<n>`, all active with
/// [`PASSWORD`], and the SuperAdmin `lt<tag>admin` who sets the rest up.
pub struct Seed {
    pub tag: String,
    users: Vec<(String, String)>,
    admin: String,
}

impl Seed {
    /// Writes `users` users and the SuperAdmin through the store (one hash for all of them:
    /// seeding should not take minutes of argon2id).
    pub async fn write(store: &Store, users: usize) -> anyhow::Result<Self> {
        let tag = crate::import::run_tag();
        let hash = crate::bench::hash(PASSWORD, COSTS)?;
        let entry = AuditEntry {
            actor: None,
            client_address: None,
            at: time::OffsetDateTime::now_utc(),
        };
        let admin = format!("lt{tag}admin");
        let mut seeded = Vec::with_capacity(users);
        for index in 0..=users {
            let (name, role) = if index == users {
                (admin.clone(), Some(PlatformRole::SuperAdmin))
            } else {
                (format!("lt{tag}u{index}"), None)
            };
            let user = store
                .create_user(
                    &NewUser {
                        username: Username::parse(&name)?,
                        email: EmailAddress::parse(&format!("{name}@load.example"))?,
                        full_name: FullName::parse(&format!("Load User {index}"))?,
                        status: UserStatus::Active,
                        platform_role: role,
                        password_hash: Some(hash.clone()),
                        must_change_password: false,
                        language: Language::En,
                    },
                    &entry,
                )
                .await
                .with_context(|| format!("creating the user {name}"))?;
            if role.is_none() {
                seeded.push((user.id.to_string(), name));
            }
        }
        Ok(Seed {
            tag,
            users: seeded,
            admin,
        })
    }

    /// Through the API of the server at `server`: the SuperAdmin makes an organization owned
    /// by member 0 and adds the other members (every [`MANAGER_EVERY`]th an Administrator,
    /// the rest Viewers); then each of `clients` members logs in and makes an API key for
    /// the organization.
    pub async fn enrol(self, server: &str, clients: usize) -> anyhow::Result<Population> {
        ensure!(
            clients <= self.users.len(),
            "{clients} clients need at least as many users (there are {})",
            self.users.len()
        );
        let http = super::workload::http_client()?;
        // `field` is the mutation's name: its payload is returned, its errors are failures.
        let call = |credential: Option<String>,
                    field: &'static str,
                    query: &'static str,
                    variables: Value| {
            let http = http.clone();
            async move {
                let reply = post(&http, server, credential.as_deref(), query, variables).await;
                if let Some(failure) = reply.failure(field) {
                    anyhow::bail!("seeding ({field}): {failure}");
                }
                Ok(reply.body["data"][field].clone())
            }
        };
        let login = |login: String| {
            let call = &call;
            async move {
                let payload = call(
                    None,
                    "login",
                    "mutation($l: String!, $p: String!) { login(input: {login: $l, password: $p}) \
                     { accessToken errors { code message } } }",
                    json!({ "l": login, "p": PASSWORD }),
                )
                .await?;
                payload["accessToken"]
                    .as_str()
                    .map(str::to_owned)
                    .context("a login without an access token")
            }
        };
        let admin = Some(login(self.admin.clone()).await?);
        let organization = call(
            admin.clone(),
            "createOrganization",
            "mutation($n: String!, $o: ID!) { createOrganization(input: {name: $n, owner: $o}) \
             { organization { id roles { id name } } errors { code message } } }",
            json!({ "n": format!("Load {}", self.tag), "o": self.users[0].0 }),
        )
        .await?["organization"]
            .clone();
        let role = |name: &str| {
            organization["roles"]
                .as_array()
                .and_then(|roles| roles.iter().find(|role| role["name"] == name))
                .and_then(|role| role["id"].as_str())
                .map(str::to_owned)
                .with_context(|| format!("the organization has no {name} role: {organization}"))
        };
        let organization_id = organization["id"]
            .as_str()
            .context("the new organization's id")?
            .to_owned();
        let (administrator, viewer, editor) =
            (role("Administrator")?, role("Viewer")?, role("Editor")?);
        for (index, (user, _)) in self.users.iter().enumerate().skip(1) {
            let role = if index % MANAGER_EVERY == 0 {
                &administrator
            } else {
                &viewer
            };
            call(
                admin.clone(),
                "addMember",
                "mutation($o: ID!, $u: ID!, $r: ID!) { addMember(input: {organization: $o, \
                 user: $u, role: $r}) { errors { code message } } }",
                json!({ "o": organization_id, "u": user, "r": role }),
            )
            .await?;
        }
        let mut credentials = Vec::with_capacity(clients);
        for (_, username) in self.users.iter().take(clients) {
            let access_token = login(username.clone()).await?;
            let key = call(
                Some(access_token.clone()),
                "createApiKey",
                "mutation($o: ID!) { createApiKey(input: {name: \"load test\", organization: $o}) \
                 { token errors { code message } } }",
                json!({ "o": organization_id }),
            )
            .await?;
            credentials.push(Credentials {
                access_token,
                api_key: key["token"]
                    .as_str()
                    .context("a new API key without its token")?
                    .to_owned(),
            });
        }
        Ok(Population {
            tag: self.tag,
            organization: organization_id,
            viewer_role: viewer,
            editor_role: editor,
            users: self.users,
            clients: credentials,
        })
    }
}

impl Population {
    /// Client `index`'s own credentials.
    pub fn client(&self, index: usize) -> &Credentials {
        &self.clients[index % self.clients.len()]
    }

    /// The Administrator whose session client `index` invites and changes roles with: the
    /// member numbered the nearest multiple of [`MANAGER_EVERY`] at or below it (member 0 is
    /// the owner, an Administrator too).
    pub fn manager_of(&self, index: usize) -> &Credentials {
        self.client(index - index % MANAGER_EVERY)
    }

    /// The member whose roles client `index` changes: one of its own, counted from the
    /// end of the population, so that no two clients bind the same member's roles.
    pub fn role_change_subject(&self, index: usize) -> &str {
        let at = self.users.len() - 1 - index % self.users.len();
        &self.users[at].0
    }

    /// A member's username, picked by `random`.
    pub fn username(&self, random: u64) -> &str {
        let at = usize::try_from(random % self.users.len() as u64).unwrap_or_default();
        &self.users[at].1
    }
}
