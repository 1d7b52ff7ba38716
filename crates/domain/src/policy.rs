//! Authorization in one place: `(actor, capability, organization) → Authorized or refused`.
//!
//! The answer is a proof. [`Authorized`] has a private field, so only [`authorize`] and
//! [`authorize_platform`] can make one, and the store's write functions take the proof for
//! the capability they need: a write that was not authorized cannot be written. The proof
//! also names the organization, so a write is confined to the organization it was granted in.
//!
//! An organization the actor is not an active member of is `NotFound`, never `Forbidden`:
//! a member of one organization must not learn that another organization's objects exist.
//!
//! A role bound for one project grants its permissions in that project only. The powers that
//! make sense there ([`ProjectCapability`]: the project itself and the resources in it) are
//! decided by [`authorize_in_projects`] from the project of the object acted on, and a proof
//! granted that way is confined to its project ([`Authorized::covers`]).

use std::collections::HashMap;
use std::marker::PhantomData;

use crate::membership::MembershipStatus;
use crate::permission::{Area, Level, Permission, PermissionSet};
use crate::user::PlatformRole;
use crate::{DomainError, OrganizationId, ProjectId, RoleId, UserId};

/// A power that can be granted in an organization.
pub trait Capability {
    const PERMISSION: Permission;
}

macro_rules! capabilities {
    ($($(#[$doc:meta])* $name:ident => $area:ident / $level:ident;)*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy)]
            pub struct $name;

            impl Capability for $name {
                const PERMISSION: Permission = Permission::new(Area::$area, Level::$level);
            }
        )*
    };
}

capabilities! {
    /// See the organization's users and memberships.
    ViewUsers => Users / View;
    /// Add, disable and change members.
    ManageUsers => Users / Manage;
    ViewRoles => Roles / View;
    /// Create, change and delete custom roles; bind and unbind roles.
    ManageRoles => Roles / Manage;
    ViewGroups => Groups / View;
    ManageGroups => Groups / Manage;
    /// See the organization's resources and who owns them.
    ViewResources => Resources / View;
    /// Register, change and delete resources (the platform's services, with a key).
    ManageResources => Resources / Manage;
    ViewAudit => Audit / View;
    ViewOrganization => Organization / View;
    /// Rename the organization, edit its e-mail domains and password rules.
    ManageOrganization => Organization / Manage;
    /// Create, rename and archive projects: the same `ORGANIZATION/MANAGE` permission, a
    /// capability of its own so that a role bound for one project can grant it there
    /// without granting [`ManageOrganization`].
    ManageProjects => Organization / Manage;
}

/// A capability that a role bound for a single project grants in that project: acting on
/// the project and on the resources placed in it.
pub trait ProjectCapability: Capability {}

impl ProjectCapability for ViewResources {}
impl ProjectCapability for ManageResources {}
impl ProjectCapability for ManageProjects {}

/// Proof that `actor` holds capability `C` in `organization`, or only in one project of it.
/// Only the policy makes these.
#[derive(Debug, Clone, Copy)]
pub struct Authorized<C> {
    actor: UserId,
    organization: OrganizationId,
    /// The one project the proof is confined to, when only a role bound for that project
    /// grants `C`; None for the whole organization.
    project: Option<ProjectId>,
    capability: PhantomData<C>,
}

impl<C> Authorized<C> {
    pub fn actor(&self) -> UserId {
        self.actor
    }

    pub fn organization(&self) -> OrganizationId {
        self.organization
    }

    /// The project the proof is confined to; None when it holds organization-wide.
    pub fn project(&self) -> Option<ProjectId> {
        self.project
    }

    /// Whether the proof covers an object placed in `project` (None: in no project).
    pub fn covers(&self, project: Option<ProjectId>) -> bool {
        self.project.is_none() || self.project == project
    }

    /// Refuses an object placed where the proof does not reach: the store checks this
    /// against the rows it reads, so that a proof for one project cannot act in another.
    pub fn check_covers(&self, project: Option<ProjectId>) -> Result<(), DomainError> {
        if self.covers(project) {
            Ok(())
        } else {
            Err(DomainError::forbidden(
                "your role grants this only in the project it is bound for, and this is \
                 outside that project; ask an administrator",
            ))
        }
    }
}

/// Proof that `actor` is a SuperAdmin, for platform-wide acts (creating organizations).
#[derive(Debug, Clone, Copy)]
pub struct PlatformAuthorized {
    actor: UserId,
}

impl PlatformAuthorized {
    pub fn actor(&self) -> UserId {
        self.actor
    }
}

/// Proof for a maintainer at the console (`cargo xtask`). Whoever holds the database URL holds
/// every power already, so this checks nothing: it marks the operations the console may do.
#[derive(Debug, Clone, Copy)]
pub struct ConsoleAuthorized(());

pub fn authorize_console() -> ConsoleAuthorized {
    ConsoleAuthorized(())
}

/// Platform-wide powers: a SuperAdmin's, or a maintainer's at the console.
pub trait PlatformPower {}

impl PlatformPower for PlatformAuthorized {}
impl PlatformPower for ConsoleAuthorized {}

/// What the actor holds in one organization where its membership is active: the role in
/// force (the session's active role there, else the membership's default role) and the
/// permissions that role gives through direct and group bindings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberGrant {
    pub organization: OrganizationId,
    pub role: Option<RoleId>,
    /// Organization-wide permissions.
    pub permissions: PermissionSet,
    /// Permissions bound for single projects only: every role bound to the member for a
    /// project, directly or through a group, whatever the active role.
    pub project_permissions: HashMap<ProjectId, PermissionSet>,
}

impl MemberGrant {
    /// Whether the grant allows `permission` on an object placed in `project` (None: in no
    /// project): organization-wide, or through a role bound for that project.
    pub fn allows_in(&self, permission: Permission, project: Option<ProjectId>) -> bool {
        self.permissions.allows(permission)
            || project
                .and_then(|project| self.project_permissions.get(&project))
                .is_some_and(|permissions| permissions.allows(permission))
    }
}

/// Who is acting, with what they hold in each organization they are an active member of.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user: UserId,
    pub platform_role: Option<PlatformRole>,
    grants: HashMap<OrganizationId, MemberGrant>,
}

impl Actor {
    pub fn new(
        user: UserId,
        platform_role: Option<PlatformRole>,
        grants: impl IntoIterator<Item = MemberGrant>,
    ) -> Self {
        Self {
            user,
            platform_role,
            grants: grants
                .into_iter()
                .map(|grant| (grant.organization, grant))
                .collect(),
        }
    }

    pub fn is_super_admin(&self) -> bool {
        self.platform_role == Some(PlatformRole::SuperAdmin)
    }

    /// Whether the actor is an active member of `organization`.
    pub fn is_member_of(&self, organization: OrganizationId) -> bool {
        self.grants.contains_key(&organization)
    }

    pub fn grant(&self, organization: OrganizationId) -> Option<&MemberGrant> {
        self.grants.get(&organization)
    }

    /// The organizations the actor is an active member of.
    pub fn organizations(&self) -> impl Iterator<Item = OrganizationId> + '_ {
        self.grants.keys().copied()
    }

    /// Whether the actor may see `organization` exist at all.
    pub fn can_see(&self, organization: OrganizationId) -> bool {
        self.is_super_admin() || self.is_member_of(organization)
    }
}

/// Decides whether `actor` holds `C` in `organization`.
pub fn authorize<C: Capability>(
    actor: &Actor,
    organization: OrganizationId,
) -> Result<Authorized<C>, DomainError> {
    let proof = Authorized {
        actor: actor.user,
        organization,
        project: None,
        capability: PhantomData,
    };
    if actor.is_super_admin() {
        return Ok(proof);
    }
    let Some(grant) = actor.grant(organization) else {
        return Err(DomainError::NotFound {
            what: "the organization",
        });
    };
    if grant.permissions.allows(C::PERMISSION) {
        Ok(proof)
    } else {
        Err(DomainError::forbidden(format!(
            "this needs the {} permission in the organization; ask an administrator, or switch to a role that has it",
            C::PERMISSION
        )))
    }
}

/// How an existing account joins an organization when an administrator adds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// At once, as an active member: a SuperAdmin's act for the platform.
    Direct,
    /// By invitation: the membership waits, `INVITED`, until the user accepts it.
    Invitation,
}

/// Decides how `actor`, who may manage the organization's users, adds an existing account to
/// it: a membership needs the user's consent, so anyone but a SuperAdmin invites; otherwise
/// an administrator could take anyone's account into their organization.
pub fn admission(actor: &Actor) -> Admission {
    if actor.is_super_admin() {
        Admission::Direct
    } else {
        Admission::Invitation
    }
}

/// Decides whether `actor` holds `C` for objects placed in every one of `projects` (a
/// project of `organization`, or None: in no project), as the objects acted on are: a
/// resource's project before and after a change, the project renamed. The answer is the
/// union of the role in force organization-wide and every role bound to the actor for the
/// project, directly or through a group: organization-wide, the proof covers the whole
/// organization; granted only by the roles bound for one project (when every place is that
/// project), it is confined to that project.
pub fn authorize_in_projects<C: ProjectCapability>(
    actor: &Actor,
    organization: OrganizationId,
    projects: &[Option<ProjectId>],
) -> Result<Authorized<C>, DomainError> {
    let refusal = match authorize::<C>(actor, organization) {
        Ok(proof) => return Ok(proof),
        Err(DomainError::Forbidden { .. }) => DomainError::forbidden(format!(
            "this needs the {} permission in the organization, or in the project through a \
             role bound for it; ask an administrator, or switch to a role that has it",
            C::PERMISSION
        )),
        Err(error) => return Err(error),
    };
    let Some((first, rest)) = projects.split_first() else {
        return Err(refusal);
    };
    let Some(project) = *first else {
        return Err(refusal);
    };
    let in_one_project = rest.iter().all(|other| *other == Some(project));
    let granted = actor
        .grant(organization)
        .is_some_and(|grant| grant.allows_in(C::PERMISSION, Some(project)));
    if in_one_project && granted {
        Ok(Authorized {
            actor: actor.user,
            organization,
            project: Some(project),
            capability: PhantomData,
        })
    } else {
        Err(refusal)
    }
}

/// Decides whether `actor` may act platform-wide.
pub fn authorize_platform(actor: &Actor) -> Result<PlatformAuthorized, DomainError> {
    if actor.is_super_admin() {
        Ok(PlatformAuthorized { actor: actor.user })
    } else {
        Err(DomainError::forbidden("only a SuperAdmin can do this"))
    }
}

/// Decides whether `actor` may hand the organization to another member: its current owner
/// (who must still be an active member) or a SuperAdmin.
pub fn authorize_ownership_transfer(
    actor: &Actor,
    organization: OrganizationId,
    current_owner: Option<UserId>,
) -> Result<Authorized<ManageOrganization>, DomainError> {
    authorize_owner(
        actor,
        organization,
        current_owner,
        "only the organization's owner or a SuperAdmin can transfer its ownership",
    )
}

/// The owner's powers over their organization: its owner (who must still be an active
/// member) or a SuperAdmin holds them; any other member is refused with `refusal`.
fn authorize_owner<C>(
    actor: &Actor,
    organization: OrganizationId,
    owner: Option<UserId>,
    refusal: &str,
) -> Result<Authorized<C>, DomainError> {
    if !actor.can_see(organization) {
        return Err(DomainError::NotFound {
            what: "the organization",
        });
    }
    if actor.is_super_admin() || owner == Some(actor.user) {
        Ok(Authorized {
            actor: actor.user,
            organization,
            project: None,
            capability: PhantomData,
        })
    } else {
        Err(DomainError::forbidden(refusal))
    }
}

/// Proof that `actor` may share one resource of `organization` and take its shares back.
#[derive(Debug, Clone, Copy)]
pub struct SharingAuthorized {
    actor: UserId,
    organization: OrganizationId,
    resource: uuid::Uuid,
}

impl SharingAuthorized {
    pub fn actor(&self) -> UserId {
        self.actor
    }

    pub fn organization(&self) -> OrganizationId {
        self.organization
    }

    /// The one resource the proof is for.
    pub fn resource(&self) -> uuid::Uuid {
        self.resource
    }
}

/// Decides whether `actor` may share `resource` of `organization`, placed in `project` and
/// owned by `owner` (None for an application-level kind): its owner, or whoever holds
/// `RESOURCES/MANAGE` there, organization-wide or through a role bound for its project.
pub fn authorize_sharing(
    actor: &Actor,
    organization: OrganizationId,
    project: Option<ProjectId>,
    resource: uuid::Uuid,
    owner: Option<UserId>,
) -> Result<SharingAuthorized, DomainError> {
    let proof = SharingAuthorized {
        actor: actor.user,
        organization,
        resource,
    };
    if owner == Some(actor.user) && actor.is_member_of(organization) {
        return Ok(proof);
    }
    match authorize_in_projects::<ManageResources>(actor, organization, &[project]) {
        Ok(_) => Ok(proof),
        Err(DomainError::Forbidden { .. }) => Err(DomainError::forbidden(
            "only the resource's owner, or whoever holds the RESOURCES/MANAGE permission in \
             its organization or its project, can share it",
        )),
        Err(error) => Err(error),
    }
}

/// The power to delete an organization. Not a [`Capability`]: no role grants it, so only
/// [`authorize_organization_deletion`] makes an `Authorized<DeleteOrganization>`.
#[derive(Debug, Clone, Copy)]
pub struct DeleteOrganization;

/// Decides whether `actor` may delete the organization, owned by `owner`: its owner (who must
/// still be an active member) or a SuperAdmin. An administrator who is not the owner is
/// refused, since the deletion ends every member's access.
pub fn authorize_organization_deletion(
    actor: &Actor,
    organization: OrganizationId,
    owner: Option<UserId>,
) -> Result<Authorized<DeleteOrganization>, DomainError> {
    authorize_owner(
        actor,
        organization,
        owner,
        "only the organization's owner or a SuperAdmin can delete it",
    )
}

/// One membership of a user who is looked at or acted on, as the policy weighs it. The store
/// leaves out memberships of deleted organizations: they give nobody anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub organization: OrganizationId,
    pub status: MembershipStatus,
}

impl Standing {
    /// Whether the user accepted this membership (it is active, or disabled by the
    /// organization since). Only those give an organization power over the account: an
    /// invitation is the organization's wish, not the user's consent.
    pub fn accepted(&self) -> bool {
        matches!(
            self.status,
            MembershipStatus::Active | MembershipStatus::Disabled
        )
    }
}

/// The organizations of `memberships` that the user accepted.
fn accepted(memberships: &[Standing]) -> impl Iterator<Item = OrganizationId> + '_ {
    memberships
        .iter()
        .filter(|membership| membership.accepted())
        .map(|membership| membership.organization)
}

/// Whether `actor` may see `user`'s membership of `organization` (and what hangs on it: its
/// roles, its organization): the user themselves, a SuperAdmin, or whoever holds
/// `USERS/VIEW` there. A viewer of the user in one organization learns nothing of their
/// others.
pub fn may_view_membership(actor: &Actor, user: UserId, organization: OrganizationId) -> bool {
    actor.user == user
        || actor.is_super_admin()
        || actor
            .grant(organization)
            .is_some_and(|grant| grant.permissions.allows(ViewUsers::PERMISSION))
}

/// Whether `actor` may see the user `target` with `memberships`: themselves and SuperAdmins
/// always; others with `USERS/VIEW` in an organization whose membership the user accepted
/// (an administrator still sees a disabled member, to enable again). A membership that only
/// waits on an invitation shows the account only while it is not validated (`validated`
/// false): such an account holds nothing but what its inviters typed, whereas an existing
/// account's profile is not the inviting organization's to read before the user accepts.
/// Anyone else does not exist for the actor.
pub fn authorize_view_user(
    actor: &Actor,
    target: UserId,
    validated: bool,
    memberships: &[Standing],
) -> Result<(), DomainError> {
    let visible = memberships
        .iter()
        .filter(|membership| membership.accepted() || !validated)
        .any(|membership| may_view_membership(actor, target, membership.organization));
    if visible || actor.user == target || actor.is_super_admin() {
        Ok(())
    } else {
        Err(DomainError::NotFound { what: "the user" })
    }
}

/// Proof that `actor` may change `user`'s account as a whole (suspend, reactivate, force a
/// password reset), which reaches into every organization the user belongs to.
#[derive(Debug, Clone, Copy)]
pub struct AccountAuthorized {
    actor: UserId,
    user: UserId,
}

impl AccountAuthorized {
    pub fn actor(&self) -> UserId {
        self.actor
    }

    pub fn user(&self) -> UserId {
        self.user
    }
}

/// Decides whether `actor` may change the account of `user`, who has `memberships`: a
/// SuperAdmin may; an administrator (`USERS/MANAGE`) may only when they administer every
/// organization whose membership the user accepted, since the change reaches all of them.
/// Invitations count for nothing: an account with no accepted membership is managed by
/// SuperAdmins alone. Nobody changes their own account this way, and only a SuperAdmin
/// changes a SuperAdmin's. A user the actor administers in none of their organizations does
/// not exist for the actor.
pub fn authorize_account(
    actor: &Actor,
    user: UserId,
    user_is_super_admin: bool,
    memberships: &[Standing],
) -> Result<AccountAuthorized, DomainError> {
    let user_organizations: Vec<OrganizationId> = accepted(memberships).collect();
    let proof = AccountAuthorized {
        actor: actor.user,
        user,
    };
    if actor.user == user {
        return Err(DomainError::forbidden(
            "you cannot do this to your own account; ask another administrator",
        ));
    }
    if actor.is_super_admin() {
        return Ok(proof);
    }
    let administers = |organization: &OrganizationId| {
        actor
            .grant(*organization)
            .is_some_and(|grant| grant.permissions.allows(ManageUsers::PERMISSION))
    };
    let visible = user_organizations.iter().any(|organization| {
        actor
            .grant(*organization)
            .is_some_and(|grant| grant.permissions.allows(ViewUsers::PERMISSION))
    });
    if !user_organizations.iter().any(administers) {
        return if visible {
            Err(DomainError::forbidden(format!(
                "this needs the {} permission in the organization; ask an administrator",
                ManageUsers::PERMISSION
            )))
        } else {
            Err(DomainError::NotFound { what: "the user" })
        };
    }
    if user_is_super_admin {
        return Err(DomainError::forbidden(
            "only a SuperAdmin can change a SuperAdmin's account",
        ));
    }
    if !user_organizations.iter().all(administers) {
        return Err(DomainError::forbidden(
            "the user also belongs to organizations you do not administer, and this would \
             block them there too; disable their membership in your organization instead",
        ));
    }
    Ok(proof)
}

/// What may be done to a user's SSH keys. Each kind of access has its own proof type, so a
/// proof to list keys cannot add one.
pub trait SshKeyAccess {
    /// Whether an administrator of the user may do it, besides the user and a SuperAdmin.
    const ADMINISTRATORS: bool;
}

/// Adding a key: the user themselves, or a SuperAdmin. An administrator may not, since a key
/// opens the user's tunnels and must come from the person who holds it.
#[derive(Debug, Clone, Copy)]
pub struct AddSshKey;

impl SshKeyAccess for AddSshKey {
    const ADMINISTRATORS: bool = false;
}

/// Listing and removing keys: also an administrator of the user, who must be able to cut off
/// a lost or leaked key.
#[derive(Debug, Clone, Copy)]
pub struct ManageSshKeys;

impl SshKeyAccess for ManageSshKeys {
    const ADMINISTRATORS: bool = true;
}

/// Proof that `actor` may do `A` to the SSH keys of `owner`.
#[derive(Debug, Clone, Copy)]
pub struct SshKeysAuthorized<A> {
    actor: UserId,
    owner: UserId,
    access: PhantomData<A>,
}

impl<A> SshKeysAuthorized<A> {
    pub fn actor(&self) -> UserId {
        self.actor
    }

    /// The user whose keys these are.
    pub fn owner(&self) -> UserId {
        self.owner
    }
}

/// Decides whether `actor` may do `A` to the SSH keys of `owner`, who has `memberships` (only
/// memberships the owner accepted count: an administrator must not gain power over a user by
/// inviting them). The owner and a SuperAdmin may; for
/// [`ManageSshKeys`] also whoever holds `USERS/MANAGE` in one of those organizations, unless
/// the owner is a SuperAdmin. A viewer of the owner is refused; to anyone else the owner does
/// not exist.
pub fn authorize_ssh_keys<A: SshKeyAccess>(
    actor: &Actor,
    owner: UserId,
    owner_is_super_admin: bool,
    memberships: &[Standing],
) -> Result<SshKeysAuthorized<A>, DomainError> {
    let owner_organizations: Vec<OrganizationId> = accepted(memberships).collect();
    let proof = SshKeysAuthorized {
        actor: actor.user,
        owner,
        access: PhantomData,
    };
    if actor.user == owner || actor.is_super_admin() {
        return Ok(proof);
    }
    let holds = |permission: Permission| {
        owner_organizations.iter().any(|organization| {
            actor
                .grant(*organization)
                .is_some_and(|grant| grant.permissions.allows(permission))
        })
    };
    if !holds(ViewUsers::PERMISSION) {
        return Err(DomainError::NotFound { what: "the user" });
    }
    if !A::ADMINISTRATORS {
        return Err(DomainError::forbidden(
            "only the user can add SSH keys to their account",
        ));
    }
    if !holds(ManageUsers::PERMISSION) {
        return Err(DomainError::forbidden(format!(
            "this needs the {} permission in one of the user's organizations; ask an \
             administrator",
            ManageUsers::PERMISSION
        )));
    }
    if owner_is_super_admin {
        return Err(DomainError::forbidden(
            "only a SuperAdmin can manage a SuperAdmin's SSH keys",
        ));
    }
    Ok(proof)
}

/// Proof that `actor` may look SSH keys up by fingerprint across the whole platform.
#[derive(Debug, Clone, Copy)]
pub struct SshKeyLookupAuthorized {
    actor: UserId,
}

impl SshKeyLookupAuthorized {
    pub fn actor(&self) -> UserId {
        self.actor
    }
}

/// Decides whether `actor` may look keys up by fingerprint, as the platform's SSH tunnel
/// service does: a SuperAdmin. (The tunnel service will call with an API key holding a
/// platform permission for this once API keys exist; until then it calls as a SuperAdmin.)
pub fn authorize_ssh_key_lookup(actor: &Actor) -> Result<SshKeyLookupAuthorized, DomainError> {
    if actor.is_super_admin() {
        Ok(SshKeyLookupAuthorized { actor: actor.user })
    } else {
        Err(DomainError::forbidden(
            "only a SuperAdmin can look SSH keys up by fingerprint",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permission::BuiltInRole;

    fn member(role: BuiltInRole, organization: OrganizationId) -> Actor {
        Actor::new(
            UserId::new(),
            None,
            [MemberGrant {
                organization,
                role: Some(RoleId::new()),
                permissions: role.permissions(),
                project_permissions: HashMap::new(),
            }],
        )
    }

    /// Memberships the user accepted, of each of `organizations`.
    fn active(organizations: &[OrganizationId]) -> Vec<Standing> {
        organizations
            .iter()
            .map(|&organization| Standing {
                organization,
                status: MembershipStatus::Active,
            })
            .collect()
    }

    #[test]
    fn invitations_give_an_administrator_no_power_over_an_account() {
        let (acme, globex) = (OrganizationId::new(), OrganizationId::new());
        let target = UserId::new();
        let admin = member(BuiltInRole::Administrator, globex);
        let invited = |organization| Standing {
            organization,
            status: MembershipStatus::Invited,
        };
        // Only invited by the administrator's organization: nobody but a SuperAdmin manages it.
        let only_invited = [invited(globex)];
        assert_eq!(
            authorize_account(&admin, target, false, &only_invited).map(|_| ()),
            Err(DomainError::NotFound { what: "the user" })
        );
        assert!(matches!(
            authorize_ssh_keys::<ManageSshKeys>(&admin, target, false, &only_invited),
            Err(DomainError::NotFound { .. })
        ));
        let root = Actor::new(UserId::new(), Some(PlatformRole::SuperAdmin), []);
        assert!(authorize_account(&root, target, false, &only_invited).is_ok());
        // A member elsewhere, invited here: still the other organization's to manage.
        let member_elsewhere = [
            Standing {
                organization: acme,
                status: MembershipStatus::Active,
            },
            invited(globex),
        ];
        assert_eq!(
            authorize_account(&admin, target, false, &member_elsewhere).map(|_| ()),
            Err(DomainError::NotFound { what: "the user" })
        );
        // The inviter sees the account only while it holds nothing but what inviters typed.
        assert!(authorize_view_user(&admin, target, false, &only_invited).is_ok());
        assert_eq!(
            authorize_view_user(&admin, target, true, &only_invited),
            Err(DomainError::NotFound { what: "the user" })
        );
        // A disabled member is still the organization's.
        let disabled = [Standing {
            organization: globex,
            status: MembershipStatus::Disabled,
        }];
        assert!(authorize_account(&admin, target, false, &disabled).is_ok());
        assert!(authorize_view_user(&admin, target, true, &disabled).is_ok());
    }

    #[test]
    fn a_membership_is_seen_by_its_user_and_the_viewers_of_its_organization_only() {
        let (acme, globex) = (OrganizationId::new(), OrganizationId::new());
        let target = UserId::new();
        let globex_viewer = member(BuiltInRole::Viewer, globex);
        assert!(may_view_membership(&globex_viewer, target, globex));
        assert!(!may_view_membership(&globex_viewer, target, acme));
        assert!(may_view_membership(
            &globex_viewer,
            globex_viewer.user,
            acme
        ));
        let api_user = member(BuiltInRole::ApiUser, globex);
        assert!(!may_view_membership(&api_user, target, globex));
    }

    #[test]
    fn a_member_with_the_permission_gets_a_proof_for_that_organization() {
        let acme = OrganizationId::new();
        let admin = member(BuiltInRole::Administrator, acme);
        let proof = authorize::<ManageRoles>(&admin, acme).expect("allowed");
        assert_eq!(proof.organization(), acme);
        assert_eq!(proof.actor(), admin.user);
    }

    #[test]
    fn a_member_without_the_permission_is_forbidden() {
        let acme = OrganizationId::new();
        let editor = member(BuiltInRole::Editor, acme);
        let error = authorize::<ManageUsers>(&editor, acme).expect_err("refused");
        assert!(matches!(error, DomainError::Forbidden { .. }));
        assert!(error.to_string().contains("USERS/MANAGE"));
    }

    #[test]
    fn another_organization_does_not_exist_for_a_non_member() {
        let (acme, globex) = (OrganizationId::new(), OrganizationId::new());
        let admin_of_globex = member(BuiltInRole::Administrator, globex);
        let error = authorize::<ViewOrganization>(&admin_of_globex, acme).expect_err("refused");
        assert_eq!(
            error,
            DomainError::NotFound {
                what: "the organization"
            }
        );
    }

    #[test]
    fn an_account_is_changed_by_a_super_admin_or_the_administrator_of_all_its_organizations() {
        let (acme, globex) = (OrganizationId::new(), OrganizationId::new());
        let target = UserId::new();
        let admin = member(BuiltInRole::Administrator, acme);
        let proof = authorize_account(&admin, target, false, &active(&[acme])).expect("allowed");
        assert_eq!((proof.actor(), proof.user()), (admin.user, target));
        let elsewhere = authorize_account(&admin, target, false, &active(&[acme, globex]))
            .expect_err("refused")
            .to_string();
        assert!(
            elsewhere.contains("disable their membership"),
            "{elsewhere}"
        );
        assert!(matches!(
            authorize_account(&admin, target, false, &active(&[globex])),
            Err(DomainError::NotFound { .. })
        ));
        assert!(matches!(
            authorize_account(
                &member(BuiltInRole::Viewer, acme),
                target,
                false,
                &active(&[acme])
            ),
            Err(DomainError::Forbidden { .. })
        ));
        assert!(authorize_account(&admin, target, true, &active(&[acme])).is_err());
        assert!(authorize_account(&admin, admin.user, false, &active(&[acme])).is_err());
        let root = Actor::new(UserId::new(), Some(PlatformRole::SuperAdmin), []);
        assert!(authorize_account(&root, target, true, &active(&[])).is_ok());
    }

    #[test]
    fn a_super_admin_may_do_anything_anywhere() {
        let actor = Actor::new(UserId::new(), Some(PlatformRole::SuperAdmin), []);
        assert!(authorize::<ManageUsers>(&actor, OrganizationId::new()).is_ok());
        assert!(authorize_platform(&actor).is_ok());
        let nobody = Actor::new(UserId::new(), None, []);
        assert!(authorize_platform(&nobody).is_err());
    }

    #[test]
    fn only_the_owner_or_a_super_admin_transfers_ownership() {
        let acme = OrganizationId::new();
        let owner = member(BuiltInRole::Administrator, acme);
        let other_admin = member(BuiltInRole::Administrator, acme);
        assert!(authorize_ownership_transfer(&owner, acme, Some(owner.user)).is_ok());
        assert!(matches!(
            authorize_ownership_transfer(&other_admin, acme, Some(owner.user)),
            Err(DomainError::Forbidden { .. })
        ));
        let stranger = member(BuiltInRole::Administrator, OrganizationId::new());
        assert!(matches!(
            authorize_ownership_transfer(&stranger, acme, Some(owner.user)),
            Err(DomainError::NotFound { .. })
        ));
    }

    #[test]
    fn only_the_owner_or_a_super_admin_deletes_an_organization() {
        let acme = OrganizationId::new();
        let owner = member(BuiltInRole::Administrator, acme);
        let proof =
            authorize_organization_deletion(&owner, acme, Some(owner.user)).expect("allowed");
        assert_eq!((proof.actor(), proof.organization()), (owner.user, acme));
        let root = Actor::new(UserId::new(), Some(PlatformRole::SuperAdmin), []);
        assert!(authorize_organization_deletion(&root, acme, Some(owner.user)).is_ok());
        let other_admin = member(BuiltInRole::Administrator, acme);
        assert!(matches!(
            authorize_organization_deletion(&other_admin, acme, Some(owner.user)),
            Err(DomainError::Forbidden { .. })
        ));
        // An owner whose membership is no longer active has no say in it any more.
        let former = Actor::new(owner.user, None, []);
        let stranger = member(BuiltInRole::Administrator, OrganizationId::new());
        for refused in [&former, &stranger] {
            assert_eq!(
                authorize_organization_deletion(refused, acme, Some(owner.user)).map(|_| ()),
                Err(DomainError::NotFound {
                    what: "the organization"
                })
            );
        }
    }

    #[test]
    fn users_are_visible_to_themselves_and_to_viewers_of_a_shared_organization() {
        let (acme, globex) = (OrganizationId::new(), OrganizationId::new());
        let target = UserId::new();
        let viewer = member(BuiltInRole::Viewer, acme);
        let api_user = member(BuiltInRole::ApiUser, acme);
        let stranger = member(BuiltInRole::Administrator, globex);
        assert!(authorize_view_user(&viewer, target, true, &active(&[acme])).is_ok());
        assert!(
            authorize_view_user(&api_user, target, true, &active(&[acme])).is_err(),
            "API users see only themselves"
        );
        assert!(authorize_view_user(&api_user, api_user.user, true, &active(&[acme])).is_ok());
        assert_eq!(
            authorize_view_user(&stranger, target, true, &active(&[acme])),
            Err(DomainError::NotFound { what: "the user" })
        );
    }

    #[test]
    fn ssh_keys_are_the_owners_and_their_administrators_may_list_and_remove_but_not_add_them() {
        let (acme, globex) = (OrganizationId::new(), OrganizationId::new());
        let owner = member(BuiltInRole::Viewer, acme);
        let admin = member(BuiltInRole::Administrator, acme);
        let viewer = member(BuiltInRole::Viewer, acme);
        let stranger = member(BuiltInRole::Administrator, globex);
        let root = Actor::new(UserId::new(), Some(PlatformRole::SuperAdmin), []);
        let of = active(&[acme]);
        for actor in [&owner, &root] {
            assert!(authorize_ssh_keys::<AddSshKey>(actor, owner.user, false, &of).is_ok());
            let proof = authorize_ssh_keys::<ManageSshKeys>(actor, owner.user, false, &of)
                .expect("allowed");
            assert_eq!((proof.actor(), proof.owner()), (actor.user, owner.user));
        }
        assert!(authorize_ssh_keys::<ManageSshKeys>(&admin, owner.user, false, &of).is_ok());
        assert!(matches!(
            authorize_ssh_keys::<AddSshKey>(&admin, owner.user, false, &of),
            Err(DomainError::Forbidden { .. })
        ));
        assert!(matches!(
            authorize_ssh_keys::<ManageSshKeys>(&admin, owner.user, true, &of),
            Err(DomainError::Forbidden { .. })
        ));
        assert!(matches!(
            authorize_ssh_keys::<ManageSshKeys>(&viewer, owner.user, false, &of),
            Err(DomainError::Forbidden { .. })
        ));
        for refused in [
            authorize_ssh_keys::<ManageSshKeys>(&stranger, owner.user, false, &of).map(|_| ()),
            authorize_ssh_keys::<AddSshKey>(&stranger, owner.user, false, &of).map(|_| ()),
            authorize_ssh_keys::<ManageSshKeys>(&admin, owner.user, false, &active(&[]))
                .map(|_| ()),
        ] {
            assert_eq!(refused, Err(DomainError::NotFound { what: "the user" }));
        }
    }

    #[test]
    fn only_a_super_admin_looks_ssh_keys_up_by_fingerprint() {
        let root = Actor::new(UserId::new(), Some(PlatformRole::SuperAdmin), []);
        assert_eq!(
            authorize_ssh_key_lookup(&root).map(|proof| proof.actor()),
            Ok(root.user)
        );
        let admin = member(BuiltInRole::Administrator, OrganizationId::new());
        assert!(matches!(
            authorize_ssh_key_lookup(&admin),
            Err(DomainError::Forbidden { .. })
        ));
    }

    #[test]
    fn a_resource_is_shared_by_its_owner_or_a_resource_manager() {
        let (acme, globex) = (OrganizationId::new(), OrganizationId::new());
        let resource = uuid::Uuid::now_v7();
        let owner = member(BuiltInRole::Viewer, acme);
        let proof =
            authorize_sharing(&owner, acme, None, resource, Some(owner.user)).expect("owner");
        assert_eq!(
            (proof.actor(), proof.organization(), proof.resource()),
            (owner.user, acme, resource)
        );
        let admin = member(BuiltInRole::Administrator, acme);
        assert!(authorize_sharing(&admin, acme, None, resource, Some(owner.user)).is_ok());
        assert!(authorize_sharing(&admin, acme, None, resource, None).is_ok());
        let viewer = member(BuiltInRole::Viewer, acme);
        let refused = authorize_sharing(&viewer, acme, None, resource, Some(owner.user))
            .expect_err("refused")
            .to_string();
        assert!(refused.contains("owner"), "{refused}");
        // An owner who left the organization no longer acts in it.
        let former = member(BuiltInRole::Administrator, globex);
        assert!(matches!(
            authorize_sharing(&former, acme, None, resource, Some(former.user)),
            Err(DomainError::NotFound { .. })
        ));
    }

    /// A Viewer of `organization` whose roles bound for `project` give `permissions` there.
    fn viewer_with_project_role(
        organization: OrganizationId,
        project: ProjectId,
        permissions: &[Permission],
    ) -> Actor {
        let mut in_project = PermissionSet::default();
        for permission in permissions {
            in_project.insert(*permission);
        }
        Actor::new(
            UserId::new(),
            None,
            [MemberGrant {
                organization,
                role: Some(RoleId::new()),
                permissions: BuiltInRole::Viewer.permissions(),
                project_permissions: HashMap::from([(project, in_project)]),
            }],
        )
    }

    #[test]
    fn a_role_bound_for_a_project_grants_in_that_project_only() {
        let acme = OrganizationId::new();
        let (lake, shore) = (ProjectId::new(), ProjectId::new());
        let actor = viewer_with_project_role(acme, lake, &[ManageResources::PERMISSION]);

        let proof = authorize_in_projects::<ManageResources>(&actor, acme, &[Some(lake)])
            .expect("granted in its project");
        assert_eq!(proof.project(), Some(lake));
        assert!(proof.covers(Some(lake)));
        assert!(!proof.covers(Some(shore)));
        assert!(!proof.covers(None));
        assert!(matches!(
            proof.check_covers(Some(shore)),
            Err(DomainError::Forbidden { .. })
        ));

        for places in [
            &[Some(shore)][..],
            &[None],
            &[],
            &[Some(lake), Some(shore)],
            &[Some(lake), None],
        ] {
            let refused = authorize_in_projects::<ManageResources>(&actor, acme, places)
                .expect_err("refused");
            assert!(
                matches!(&refused, DomainError::Forbidden { .. })
                    && refused.to_string().contains("RESOURCES/MANAGE"),
                "{places:?}: {refused}"
            );
        }
        assert!(authorize::<ManageResources>(&actor, acme).is_err());
        // The organization-wide role still counts beside the project's roles.
        let viewing = authorize_in_projects::<ViewResources>(&actor, acme, &[Some(shore)])
            .expect("the Viewer role views everywhere");
        assert_eq!(viewing.project(), None);
    }

    #[test]
    fn an_organization_wide_grant_covers_every_project_and_strangers_see_nothing() {
        let acme = OrganizationId::new();
        let (lake, shore) = (ProjectId::new(), ProjectId::new());
        let admin = member(BuiltInRole::Administrator, acme);
        let proof =
            authorize_in_projects::<ManageResources>(&admin, acme, &[Some(lake), Some(shore)])
                .expect("allowed");
        assert_eq!(proof.project(), None);
        assert!(proof.covers(Some(shore)) && proof.covers(None));

        let stranger =
            viewer_with_project_role(OrganizationId::new(), lake, &[ManageResources::PERMISSION]);
        assert_eq!(
            authorize_in_projects::<ManageResources>(&stranger, acme, &[Some(lake)]).map(|_| ()),
            Err(DomainError::NotFound {
                what: "the organization"
            })
        );
    }

    #[test]
    fn a_resource_in_a_project_is_shared_by_whoever_manages_resources_there() {
        let acme = OrganizationId::new();
        let (lake, shore) = (ProjectId::new(), ProjectId::new());
        let resource = uuid::Uuid::now_v7();
        let actor = viewer_with_project_role(acme, lake, &[ManageResources::PERMISSION]);
        assert!(authorize_sharing(&actor, acme, Some(lake), resource, None).is_ok());
        assert!(matches!(
            authorize_sharing(&actor, acme, Some(shore), resource, None),
            Err(DomainError::Forbidden { .. })
        ));
        assert!(matches!(
            authorize_sharing(&actor, acme, None, resource, None),
            Err(DomainError::Forbidden { .. })
        ));
    }
}
