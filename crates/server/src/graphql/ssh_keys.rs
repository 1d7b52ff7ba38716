//! SSH public keys: users add and remove their own, administrators list and remove their
//! members', and the platform's SSH tunnel service finds a key's account by fingerprint.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use steward_domain::policy::{
    AddSshKey, ManageSshKeys, SshKeyAccess, SshKeysAuthorized, authorize_ssh_key_lookup,
    authorize_ssh_keys,
};
use steward_domain::ssh::{SshFingerprint, SshPublicKey};
use steward_domain::user::PlatformRole;
use steward_domain::{DomainError, SshKeyId, UserId};
use steward_store::SshKeyRecord;
use time::OffsetDateTime;

use crate::error::{AppError, refused};
use crate::graphql::context::{ContextExt as _, actor, parse_id};
use crate::graphql::organizations::expected;
use crate::graphql::types::{User, UserError};
use crate::graphql::users::standings;

/// The kinds of SSH key the platform accepts.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "steward_domain::ssh::SshKeyAlgorithm")]
pub enum SshKeyAlgorithm {
    /// `ssh-ed25519`.
    #[graphql(name = "ED25519")]
    Ed25519,
    /// `ecdsa-sha2-nistp256`.
    EcdsaP256,
    /// `ecdsa-sha2-nistp384`.
    EcdsaP384,
    /// `ecdsa-sha2-nistp521`.
    EcdsaP521,
    /// `ssh-rsa`, at least 2048 bits.
    Rsa,
}

/// An SSH public key registered to a user's account.
pub struct SshKey(pub SshKeyRecord);

#[Object]
impl SshKey {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// What the user calls the key, such as the computer it is on.
    async fn title(&self) -> &str {
        &self.0.title
    }

    async fn algorithm(&self) -> SshKeyAlgorithm {
        self.0.algorithm.into()
    }

    /// `SHA256:` and 43 characters, as `ssh-keygen -l` prints it.
    async fn fingerprint(&self) -> &str {
        &self.0.fingerprint
    }

    /// The key as one OpenSSH line, `ALGORITHM BASE64`, without its comment.
    async fn public_key(&self) -> &str {
        &self.0.public_key
    }

    /// The key's size: 256 for ed25519, the curve's for ECDSA, the modulus's for RSA.
    async fn bits(&self) -> i32 {
        i32::try_from(self.0.bits).unwrap_or(i32::MAX)
    }

    async fn created_at(&self) -> OffsetDateTime {
        self.0.created_at
    }

    /// When the SSH tunnel service last accepted the key; null until it records a use.
    async fn last_used_at(&self) -> Option<OffsetDateTime> {
        self.0.last_used_at
    }

    /// The account the key belongs to. Check its `status` before letting the key in: keys
    /// stay registered while their user is suspended or waiting for deletion.
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        ctx.loaders()?
            .users
            .load_one(self.0.user)
            .await?
            .map(User)
            .ok_or_else(|| refused(DomainError::NotFound { what: "the user" }))
    }
}

#[derive(InputObject)]
pub struct AddSshKeyInput {
    /// 1–100 characters, such as the name of the computer the key is on. Left out, the
    /// key's comment (often `user@host`) is used.
    pub title: Option<String>,
    /// The one line of an OpenSSH `.pub` file: `ssh-ed25519 AAAA... user@host`. Accepted:
    /// ed25519, ECDSA (nistp256, nistp384, nistp521) and RSA of at least 2048 bits.
    pub public_key: String,
}

#[derive(SimpleObject, Default)]
pub struct SshKeyPayload {
    pub ssh_key: Option<SshKey>,
    pub errors: Vec<UserError>,
}

fn ssh_key_payload(result: Result<SshKeyRecord, DomainError>) -> SshKeyPayload {
    match result {
        Ok(key) => SshKeyPayload {
            ssh_key: Some(SshKey(key)),
            errors: Vec::new(),
        },
        Err(error) => SshKeyPayload {
            ssh_key: None,
            errors: vec![UserError::from_domain("input", &error)],
        },
    }
}

/// The policy's answer on whether the caller may do `A` to `owner`'s keys. Only memberships
/// the owner accepted count: an administrator gains no power over a user by inviting them.
async fn ssh_keys_proof<A: SshKeyAccess>(
    ctx: &Context<'_>,
    owner: UserId,
) -> async_graphql::Result<Result<SshKeysAuthorized<A>, DomainError>> {
    let actor = actor(ctx).await?;
    let loaders = ctx.loaders()?;
    let Some(user) = loaders.users.load_one(owner).await? else {
        return Ok(Err(DomainError::NotFound { what: "the user" }));
    };
    let memberships = standings(loaders.memberships_of_user.load_one(owner).await?)?;
    Ok(authorize_ssh_keys(
        actor,
        owner,
        user.platform_role == Some(PlatformRole::SuperAdmin),
        &memberships,
    ))
}

#[derive(Default)]
pub struct SshKeyMutation;

#[Object]
impl SshKeyMutation {
    /// Adds an SSH public key to the caller's account. A key belongs to one account on the
    /// whole platform: a key already registered (to anyone) is refused as `CONFLICT`.
    async fn add_ssh_key(
        &self,
        ctx: &Context<'_>,
        input: AddSshKeyInput,
    ) -> async_graphql::Result<SshKeyPayload> {
        let owner = ctx.principal()?.user_id;
        let proof = ssh_keys_proof::<AddSshKey>(ctx, owner)
            .await?
            .map_err(refused)?;
        let parsed = SshPublicKey::parse(&input.public_key)
            .and_then(|key| Ok((key.title(input.title.as_deref())?, key)));
        let (title, key) = match parsed {
            Ok(parsed) => parsed,
            Err(error) => return Ok(ssh_key_payload(Err(error))),
        };
        let entry = ctx.audit_entry()?;
        Ok(ssh_key_payload(expected(
            ctx.app()?
                .store
                .add_ssh_key(&proof, &key, &title, &entry)
                .await,
        )?))
    }

    /// Removes an SSH key: the owner's own, a member's for whoever holds `USERS/MANAGE` in
    /// one of the owner's organizations, anyone's for a SuperAdmin. Returns the key as it
    /// was. The tunnel service stops accepting it at its next lookup.
    async fn remove_ssh_key(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<SshKeyPayload> {
        let id: SshKeyId = parse_id("id", &id)?;
        let not_found = || {
            refused(DomainError::NotFound {
                what: "the SSH key",
            })
        };
        let app = ctx.app()?;
        let Some(key) = app.store.ssh_key_by_id(id).await.map_err(AppError::from)? else {
            return Err(not_found());
        };
        let proof = match ssh_keys_proof::<ManageSshKeys>(ctx, key.user).await? {
            Ok(proof) => proof,
            // The key's owner does not exist for the caller, and nor does the key.
            Err(DomainError::NotFound { .. }) => return Err(not_found()),
            Err(error) => return Err(refused(error)),
        };
        let entry = ctx.audit_entry()?;
        Ok(ssh_key_payload(expected(
            app.store.remove_ssh_key(&proof, id, &entry).await,
        )?))
    }
}

#[derive(Default)]
pub struct SshKeyQuery;

#[Object]
impl SshKeyQuery {
    /// A user's SSH keys, oldest first; the caller's own when `user` is left out. The user
    /// themselves, whoever holds `USERS/MANAGE` in one of their organizations, or a
    /// SuperAdmin.
    async fn ssh_keys(
        &self,
        ctx: &Context<'_>,
        user: Option<ID>,
    ) -> async_graphql::Result<Vec<SshKey>> {
        let owner = match &user {
            Some(user) => parse_id("user", user)?,
            None => ctx.principal()?.user_id,
        };
        let proof = ssh_keys_proof::<ManageSshKeys>(ctx, owner)
            .await?
            .map_err(refused)?;
        let keys = ctx
            .app()?
            .store
            .ssh_keys_of(&proof)
            .await
            .map_err(AppError::from)?;
        Ok(keys.into_iter().map(SshKey).collect())
    }

    /// The key with this SHA-256 fingerprint (`SHA256:...`, as `ssh-keygen -l` prints it),
    /// on whichever account it is, or null: for the platform's SSH tunnel service, which
    /// calls as a SuperAdmin until API keys exist. The key of a user who is not `ACTIVE` is
    /// still returned, with its `user { status }`: the service must refuse it.
    async fn ssh_key_by_fingerprint(
        &self,
        ctx: &Context<'_>,
        fingerprint: String,
    ) -> async_graphql::Result<Option<SshKey>> {
        let proof = authorize_ssh_key_lookup(actor(ctx).await?).map_err(refused)?;
        let fingerprint = SshFingerprint::parse("fingerprint", &fingerprint).map_err(refused)?;
        let key = ctx
            .app()?
            .store
            .ssh_key_by_fingerprint(&proof, &fingerprint)
            .await
            .map_err(AppError::from)?;
        Ok(key.map(SshKey))
    }
}
