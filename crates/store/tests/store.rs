//! Store tests. Each runs on SQLite in memory and, when `STEWARD_TEST_POSTGRES_URL` is set
//! (or a Docker engine answers), on PostgreSQL too: the same test on both backends.

// A test binary: a failed expectation is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::future::Future;

use serde_json::json;
use steward_domain::audit::AuditAction;
use steward_domain::organization::Name;
use steward_domain::permission::{Area, BuiltInRole, Level, Permission, PermissionSet};
use steward_domain::policy::{
    Actor, Authorized, Capability, ManageGroups, ManageRoles, ManageUsers, PlatformAuthorized,
    authorize, authorize_platform,
};
use steward_domain::user::{EmailAddress, FullName, Language, PlatformRole, UserStatus, Username};
use steward_domain::{DomainError, GroupId, OrganizationId, SessionId, UserId};
use steward_store::testing::{TestDatabase, backends};
use steward_store::{
    AuditEntry, AuditFilter, Backend, BindingScope, BindingSubject, NewSession, NewSigningKey,
    NewUser, RoleDefinition, Store, StoreError,
};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// Runs `test` once per backend under test, each time on a new database.
async fn on_each_backend<F, Fut>(test: F)
where
    F: Fn(Store, Backend) -> Fut,
    Fut: Future<Output = ()>,
{
    for backend in backends() {
        let database = TestDatabase::for_store_test(backend)
            .await
            .unwrap_or_else(|error| panic!("creating a {backend:?} test database: {error}"));
        test(database.store.clone(), backend).await;
        database.store.close().await;
    }
}

const T0: OffsetDateTime = datetime!(2026-03-01 09:00:00 UTC);

fn entry(at: OffsetDateTime) -> AuditEntry {
    AuditEntry {
        actor: None,
        client_address: Some("192.0.2.7".into()),
        at,
    }
}

fn new_user(username: &str, email: &str) -> NewUser {
    NewUser {
        username: Username::parse(username).expect("username"),
        email: EmailAddress::parse(email).expect("email"),
        full_name: FullName::parse("Ann Lee").expect("name"),
        status: UserStatus::Active,
        platform_role: None,
        password_hash: Some("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into()),
        must_change_password: false,
        language: Language::De,
    }
}

/// A SuperAdmin's proof, as the policy gives it.
fn platform() -> PlatformAuthorized {
    authorize_platform(&Actor::new(
        UserId::new(),
        Some(PlatformRole::SuperAdmin),
        [],
    ))
    .expect("super admin")
}

/// A SuperAdmin's proof for a capability in an organization.
fn granted<C: Capability>(organization: OrganizationId) -> Authorized<C> {
    authorize::<C>(
        &Actor::new(UserId::new(), Some(PlatformRole::SuperAdmin), []),
        organization,
    )
    .expect("super admin")
}

fn name(value: &str) -> Name {
    Name::parse("name", value).expect("name")
}

fn session_for(user: UserId, created_at: OffsetDateTime) -> NewSession {
    NewSession {
        id: SessionId::new(),
        user_id: user,
        active: None,
        created_at,
        expires_at: created_at + Duration::days(30),
        client_address: Some("192.0.2.7".into()),
        user_agent: Some("test".into()),
    }
}

#[tokio::test]
async fn migrations_can_run_again_without_changing_anything() {
    on_each_backend(|store, backend| async move {
        store
            .migrate()
            .await
            .unwrap_or_else(|error| panic!("{backend:?}: {error}"));
        store.ping().await.expect("ping");
    })
    .await;
}

#[tokio::test]
async fn a_created_user_reads_back_with_every_field() {
    on_each_backend(|store, backend| async move {
        let created = store
            .create_user(&new_user("AnnLee", "Ann@Example.com"), &entry(T0))
            .await
            .expect("create");
        let read = store
            .user_by_id(created.id)
            .await
            .expect("read")
            .expect("found");
        assert_eq!(read, created, "{backend:?}");
        assert_eq!(read.username, "AnnLee");
        assert_eq!(read.email, "Ann@Example.com");
        assert_eq!(read.status, UserStatus::Active);
        assert_eq!(read.language, Language::De);
        assert_eq!(read.created_at, T0, "{backend:?}: timestamps round-trip");
        assert_eq!(read.last_login_at, None);
        assert!(
            store
                .user_by_id(UserId::new())
                .await
                .expect("read")
                .is_none()
        );
    })
    .await;
}

#[tokio::test]
async fn usernames_and_emails_are_unique_regardless_of_case() {
    on_each_backend(|store, backend| async move {
        store
            .create_user(&new_user("AnnLee", "ann@example.com"), &entry(T0))
            .await
            .expect("create");

        let taken_name = store
            .create_user(&new_user("annlee", "other@example.com"), &entry(T0))
            .await;
        match taken_name {
            Err(StoreError::Domain(DomainError::Conflict { field, .. })) => {
                assert_eq!(field, "username", "{backend:?}")
            }
            other => panic!("{backend:?}: expected a username conflict, got {other:?}"),
        }
        let taken_email = store
            .create_user(&new_user("bob", "ANN@example.COM"), &entry(T0))
            .await;
        match taken_email {
            Err(StoreError::Domain(DomainError::Conflict { field, .. })) => {
                assert_eq!(field, "email", "{backend:?}")
            }
            other => panic!("{backend:?}: expected an e-mail conflict, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn users_load_in_one_batch_and_unknown_ids_are_left_out() {
    on_each_backend(|store, _| async move {
        let ann = store
            .create_user(&new_user("ann", "ann@example.com"), &entry(T0))
            .await
            .expect("ann");
        let bob = store
            .create_user(&new_user("bob", "bob@example.com"), &entry(T0))
            .await
            .expect("bob");
        let mut found = store
            .users_by_ids(&[ann.id, UserId::new(), bob.id])
            .await
            .expect("batch");
        found.sort_by_key(|user| user.username.clone());
        assert_eq!(found, vec![ann, bob]);
        assert!(store.users_by_ids(&[]).await.expect("empty").is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_login_finds_the_account_by_username_or_email() {
    on_each_backend(|store, _| async move {
        let ann = store
            .create_user(&new_user("AnnLee", "Ann@Example.com"), &entry(T0))
            .await
            .expect("create");
        for login in ["annlee", "ann@example.com"] {
            let candidate = store
                .login_candidate(login)
                .await
                .expect("lookup")
                .expect(login);
            assert_eq!(candidate.id, ann.id);
            assert!(candidate.password_hash.is_some());
        }
        assert!(
            store
                .login_candidate("nobody")
                .await
                .expect("lookup")
                .is_none()
        );
    })
    .await;
}

#[tokio::test]
async fn a_recorded_login_opens_a_live_session_and_is_audited() {
    on_each_backend(|store, backend| async move {
        let ann = store
            .create_user(&new_user("ann", "ann@example.com"), &entry(T0))
            .await
            .expect("create");
        let session = session_for(ann.id, T0);
        let login_entry = AuditEntry {
            actor: Some(ann.id),
            ..entry(T0)
        };
        store
            .record_login(&session, Some("$argon2id$new"), &login_entry)
            .await
            .expect("login");

        let principal = store
            .live_session(session.id, T0 + Duration::minutes(1))
            .await
            .expect("read");
        let principal = principal.unwrap_or_else(|| panic!("{backend:?}: session is live"));
        assert_eq!(principal.user.id, ann.id);
        assert_eq!(principal.user.status, UserStatus::Active);
        assert_eq!(
            store.password_hash(ann.id).await.expect("hash").as_deref(),
            Some("$argon2id$new")
        );
        let ann = store
            .user_by_id(ann.id)
            .await
            .expect("read")
            .expect("found");
        assert_eq!(ann.last_login_at, Some(T0));

        let events = store
            .recent_audit_events(Some(AuditAction::LoginSucceeded), 10)
            .await
            .expect("audit");
        assert_eq!(events.len(), 1, "{backend:?}");
        assert_eq!(events[0].actor_user_id, Some(ann.id.as_uuid()));
        assert_eq!(events[0].client_address.as_deref(), Some("192.0.2.7"));
        assert_eq!(events[0].outcome, "SUCCESS");
    })
    .await;
}

#[tokio::test]
async fn expired_and_revoked_sessions_are_not_live() {
    on_each_backend(|store, backend| async move {
        let ann = store
            .create_user(&new_user("ann", "ann@example.com"), &entry(T0))
            .await
            .expect("create");
        let session = session_for(ann.id, T0);
        store
            .record_login(&session, None, &entry(T0))
            .await
            .expect("login");

        let after_expiry = session.expires_at + Duration::seconds(1);
        assert!(
            store
                .live_session(session.id, after_expiry)
                .await
                .expect("read")
                .is_none(),
            "{backend:?}"
        );
        // Exactly at a whole second, where text comparison of timestamps used to go wrong.
        let whole_second = datetime!(2026-03-31 09:00:00 UTC);
        assert_eq!(session.expires_at, whole_second);
        assert!(
            store
                .live_session(session.id, whole_second)
                .await
                .expect("read")
                .is_none(),
            "{backend:?}"
        );
        assert!(
            store
                .live_session(session.id, whole_second - Duration::milliseconds(1))
                .await
                .expect("read")
                .is_some()
        );

        assert!(
            store
                .revoke_session(session.id, &entry(T0 + Duration::hours(1)))
                .await
                .expect("revoke")
        );
        assert!(
            store
                .live_session(session.id, T0 + Duration::hours(2))
                .await
                .expect("read")
                .is_none()
        );
        assert!(
            !store
                .revoke_session(session.id, &entry(T0 + Duration::hours(3)))
                .await
                .expect("again")
        );
        let events = store
            .recent_audit_events(Some(AuditAction::SessionRevoked), 10)
            .await
            .expect("audit");
        assert_eq!(
            events.len(),
            1,
            "{backend:?}: audited once, when it took effect"
        );
    })
    .await;
}

#[tokio::test]
async fn a_password_change_ends_every_other_session() {
    on_each_backend(|store, backend| async move {
        let ann = store
            .create_user(&new_user("ann", "ann@example.com"), &entry(T0))
            .await
            .expect("create");
        let current = session_for(ann.id, T0);
        let other = session_for(ann.id, T0);
        store
            .record_login(&current, None, &entry(T0))
            .await
            .expect("login");
        store
            .record_login(&other, None, &entry(T0))
            .await
            .expect("login");

        let later = T0 + Duration::minutes(5);
        let change_entry = AuditEntry {
            actor: Some(ann.id),
            ..entry(later)
        };
        store
            .change_password(ann.id, "$argon2id$changed", Some(current.id), &change_entry)
            .await
            .expect("change");

        assert!(
            store
                .live_session(current.id, later)
                .await
                .expect("read")
                .is_some(),
            "{backend:?}"
        );
        assert!(
            store
                .live_session(other.id, later)
                .await
                .expect("read")
                .is_none(),
            "{backend:?}"
        );
        assert_eq!(
            store.password_hash(ann.id).await.expect("hash").as_deref(),
            Some("$argon2id$changed")
        );
        let events = store
            .recent_audit_events(Some(AuditAction::PasswordChanged), 10)
            .await
            .expect("audit");
        assert_eq!(events.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn the_first_super_admin_is_detected() {
    on_each_backend(|store, _| async move {
        assert!(!store.has_super_admin().await.expect("check"));
        let mut admin = new_user("admin", "admin@example.com");
        admin.platform_role = Some(PlatformRole::SuperAdmin);
        store.create_user(&admin, &entry(T0)).await.expect("create");
        assert!(store.has_super_admin().await.expect("check"));
    })
    .await;
}

#[tokio::test]
async fn failed_logins_are_audited_with_their_detail() {
    on_each_backend(|store, backend| async move {
        let event = entry(T0)
            .event(
                AuditAction::LoginFailed,
                steward_domain::audit::AuditOutcome::Failure,
            )
            .detail(json!({ "login": "mallory", "reason": "wrong_credentials" }));
        store.record_audit_event(&event).await.expect("record");
        let events = store
            .recent_audit_events(Some(AuditAction::LoginFailed), 10)
            .await
            .expect("read");
        assert_eq!(events.len(), 1, "{backend:?}");
        assert_eq!(events[0].outcome, "FAILURE");
        assert_eq!(
            events[0].detail.0,
            json!({ "login": "mallory", "reason": "wrong_credentials" })
        );
        assert_eq!(events[0].occurred_at.into_inner(), T0);
    })
    .await;
}

#[tokio::test]
async fn signing_keys_stay_published_until_retired_long_enough() {
    on_each_backend(|store, _| async move {
        assert!(store.signing_keys(T0).await.expect("none").is_empty());
        let key = NewSigningKey {
            kid: "k1".into(),
            algorithm: "EdDSA".into(),
            private_key: vec![1, 2, 3],
            public_key: vec![4, 5, 6],
        };
        store
            .insert_signing_key(&key, &entry(T0))
            .await
            .expect("insert");
        let keys = store.signing_keys(T0).await.expect("keys");
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid, "k1");
        assert_eq!(keys[0].private_key, vec![1, 2, 3]);
        assert_eq!(keys[0].public_key, vec![4, 5, 6]);
        let events = store
            .recent_audit_events(Some(AuditAction::SigningKeyCreated), 10)
            .await
            .expect("audit");
        assert_eq!(events.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn memberships_and_organizations_load_in_batches() {
    on_each_backend(|store, backend| async move {
        let ann = store
            .create_user(&new_user("ann", "ann@example.com"), &entry(T0))
            .await
            .expect("ann");
        let bob = store
            .create_user(&new_user("bob", "bob@example.com"), &entry(T0))
            .await
            .expect("bob");
        let acme = store
            .create_organization(&platform(), &name("Acme"), ann.id, &entry(T0))
            .await
            .expect("acme");
        let globex = store
            .create_organization(
                &platform(),
                &name("Globex"),
                ann.id,
                &entry(T0 + Duration::seconds(1)),
            )
            .await
            .expect("globex");

        let memberships = store
            .memberships_of_users(&[ann.id, bob.id])
            .await
            .expect("memberships");
        let organizations: Vec<_> = memberships.iter().map(|m| m.organization).collect();
        assert_eq!(
            organizations,
            vec![acme.id, globex.id],
            "{backend:?}: oldest first"
        );
        assert!(
            memberships
                .iter()
                .all(|m| m.user == ann.id && m.status == "ACTIVE")
        );

        let mut loaded = store
            .organizations_by_ids(&[globex.id, acme.id])
            .await
            .expect("orgs");
        loaded.sort_by_key(|org| org.name.clone());
        assert_eq!(loaded, vec![acme.clone(), globex]);
        assert_eq!(loaded[0].owner, Some(ann.id));
        let events = store
            .recent_audit_events(Some(AuditAction::OrganizationCreated), 10)
            .await
            .expect("audit");
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].organization_id, Some(acme.id.as_uuid()));
    })
    .await;
}

async fn organization_with_owner(store: &Store) -> (OrganizationId, UserId) {
    let owner = store
        .create_user(&new_user("owner", "owner@example.com"), &entry(T0))
        .await
        .expect("owner");
    let organization = store
        .create_organization(&platform(), &name("Acme"), owner.id, &entry(T0))
        .await
        .expect("organization");
    (organization.id, owner.id)
}

fn role_named(roles: &[steward_store::RoleRecord], name: &str) -> steward_domain::RoleId {
    roles
        .iter()
        .find(|role| role.name == name)
        .map(|role| role.id)
        .expect(name)
}

#[tokio::test]
async fn a_new_organization_has_the_built_in_roles_and_its_owner_is_administrator() {
    on_each_backend(|store, backend| async move {
        let (acme, owner) = organization_with_owner(&store).await;
        let roles = store.roles_of_organizations(&[acme]).await.expect("roles");
        assert_eq!(roles.len(), 5, "{backend:?}");
        for built_in in BuiltInRole::ALL {
            let role = roles
                .iter()
                .find(|role| role.name == built_in.name())
                .unwrap_or_else(|| panic!("{}", built_in.name()));
            assert!(role.built_in);
            assert_eq!(
                role.permissions,
                built_in.permissions(),
                "{backend:?}: {}",
                built_in.name()
            );
        }
        let grants = store.member_grants(owner, None).await.expect("grants");
        assert_eq!(grants.len(), 1);
        assert_eq!(grants[0].organization, acme);
        assert_eq!(grants[0].role, Some(role_named(&roles, "Administrator")));
        assert_eq!(
            grants[0].permissions,
            BuiltInRole::Administrator.permissions()
        );
        let memberships = store
            .memberships_of_users(&[owner])
            .await
            .expect("memberships");
        assert_eq!(
            memberships[0].default_role,
            Some(role_named(&roles, "Administrator"))
        );
    })
    .await;
}

#[tokio::test]
async fn the_active_role_decides_the_grant_and_unbinding_takes_it_away() {
    on_each_backend(|store, backend| async move {
        let (acme, _) = organization_with_owner(&store).await;
        let roles = store.roles_of_organizations(&[acme]).await.expect("roles");
        let (viewer, editor) = (role_named(&roles, "Viewer"), role_named(&roles, "Editor"));
        let ann = store
            .create_user(&new_user("ann", "ann@example.com"), &entry(T0))
            .await
            .expect("ann");
        store
            .add_member(&granted::<ManageUsers>(acme), ann.id, viewer, &entry(T0))
            .await
            .expect("add");
        let binding = store
            .bind_role(
                &granted::<ManageRoles>(acme),
                editor,
                BindingSubject::User(ann.id),
                BindingScope::Organization,
                &entry(T0),
            )
            .await
            .expect("bind editor");

        let by_default = store.member_grants(ann.id, None).await.expect("grants");
        assert_eq!(
            by_default[0].permissions,
            BuiltInRole::Viewer.permissions(),
            "{backend:?}"
        );
        let as_editor = store
            .member_grants(ann.id, Some((acme, editor)))
            .await
            .expect("grants");
        assert_eq!(
            as_editor[0].permissions,
            BuiltInRole::Editor.permissions(),
            "{backend:?}"
        );

        store
            .unbind_role(&granted::<ManageRoles>(acme), binding.id, &entry(T0))
            .await
            .expect("unbind");
        let after = store
            .member_grants(ann.id, Some((acme, editor)))
            .await
            .expect("grants");
        assert!(
            after[0].permissions.is_empty(),
            "{backend:?}: an unbound active role gives nothing"
        );
    })
    .await;
}

#[tokio::test]
async fn the_default_role_binding_stays_until_another_default_is_set() {
    on_each_backend(|store, backend| async move {
        let (acme, _) = organization_with_owner(&store).await;
        let roles = store.roles_of_organizations(&[acme]).await.expect("roles");
        let (viewer, operator) = (role_named(&roles, "Viewer"), role_named(&roles, "Operator"));
        let ann = store
            .create_user(&new_user("ann", "ann@example.com"), &entry(T0))
            .await
            .expect("ann");
        store
            .add_member(&granted::<ManageUsers>(acme), ann.id, viewer, &entry(T0))
            .await
            .expect("add");
        let bindings = store.bindings_of_users(&[ann.id]).await.expect("bindings");
        let error = store
            .unbind_role(&granted::<ManageRoles>(acme), bindings[0].id, &entry(T0))
            .await;
        assert!(
            matches!(error, Err(StoreError::Domain(DomainError::Conflict { .. }))),
            "{backend:?}: {error:?}"
        );

        let refused = store
            .set_default_role(ann.id, acme, operator, &entry(T0))
            .await;
        assert!(
            matches!(
                refused,
                Err(StoreError::Domain(DomainError::Invalid { .. }))
            ),
            "not bound: {refused:?}"
        );
        store
            .bind_role(
                &granted::<ManageRoles>(acme),
                operator,
                BindingSubject::User(ann.id),
                BindingScope::Organization,
                &entry(T0),
            )
            .await
            .expect("bind");
        store
            .set_default_role(ann.id, acme, operator, &entry(T0))
            .await
            .expect("default");
        store
            .unbind_role(&granted::<ManageRoles>(acme), bindings[0].id, &entry(T0))
            .await
            .expect("now allowed");
        let grants = store.member_grants(ann.id, None).await.expect("grants");
        assert_eq!(
            grants[0].permissions,
            BuiltInRole::Operator.permissions(),
            "{backend:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn custom_roles_are_created_changed_and_deleted_only_when_unbound() {
    on_each_backend(|store, backend| async move {
        let (acme, owner) = organization_with_owner(&store).await;
        let auditors: PermissionSet = [Permission::new(Area::Audit, Level::View)]
            .into_iter()
            .collect();
        let definition = RoleDefinition {
            name: name("Auditor"),
            description: "Reads the audit trail".into(),
            permissions: auditors,
        };
        let role = store
            .create_role(&granted::<ManageRoles>(acme), &definition, &entry(T0))
            .await
            .expect("create");
        assert!(!role.built_in);
        assert_eq!(role.permissions.len(), 1);

        let duplicate = store
            .create_role(
                &granted::<ManageRoles>(acme),
                &RoleDefinition {
                    name: name("AUDITOR"),
                    ..definition.clone()
                },
                &entry(T0),
            )
            .await;
        assert!(
            matches!(
                duplicate,
                Err(StoreError::Domain(DomainError::Conflict {
                    field: "name",
                    ..
                }))
            ),
            "{backend:?}: {duplicate:?}"
        );

        let wider: PermissionSet = [
            Permission::new(Area::Audit, Level::View),
            Permission::new(Area::Users, Level::View),
        ]
        .into_iter()
        .collect();
        let updated = store
            .update_role(
                &granted::<ManageRoles>(acme),
                role.id,
                &RoleDefinition {
                    permissions: wider.clone(),
                    ..definition.clone()
                },
                &entry(T0),
            )
            .await
            .expect("update");
        assert_eq!(updated.permissions, wider, "{backend:?}");

        let binding = store
            .bind_role(
                &granted::<ManageRoles>(acme),
                role.id,
                BindingSubject::User(owner),
                BindingScope::Organization,
                &entry(T0),
            )
            .await
            .expect("bind");
        let refused = store
            .delete_role(&granted::<ManageRoles>(acme), role.id, &entry(T0))
            .await;
        let message = format!("{refused:?}");
        assert!(
            message.contains("bound 1 time"),
            "{backend:?}: the count is in the message: {message}"
        );
        store
            .unbind_role(&granted::<ManageRoles>(acme), binding.id, &entry(T0))
            .await
            .expect("unbind");
        store
            .delete_role(&granted::<ManageRoles>(acme), role.id, &entry(T0))
            .await
            .expect("delete");
        assert!(
            store
                .roles_by_ids(&[role.id])
                .await
                .expect("read")
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn built_in_roles_are_read_only() {
    on_each_backend(|store, backend| async move {
        let (acme, _) = organization_with_owner(&store).await;
        let roles = store.roles_of_organizations(&[acme]).await.expect("roles");
        let viewer = role_named(&roles, "Viewer");
        let definition = RoleDefinition {
            name: name("Viewer"),
            description: String::new(),
            permissions: PermissionSet::default(),
        };
        let update = store
            .update_role(
                &granted::<ManageRoles>(acme),
                viewer,
                &definition,
                &entry(T0),
            )
            .await;
        assert!(
            matches!(
                update,
                Err(StoreError::Domain(DomainError::Forbidden { .. }))
            ),
            "{backend:?}: {update:?}"
        );
        let delete = store
            .delete_role(&granted::<ManageRoles>(acme), viewer, &entry(T0))
            .await;
        assert!(
            matches!(
                delete,
                Err(StoreError::Domain(DomainError::Forbidden { .. }))
            ),
            "{backend:?}: {delete:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_proof_for_one_organization_cannot_touch_another() {
    on_each_backend(|store, backend| async move {
        let (acme, _) = organization_with_owner(&store).await;
        let other_owner = store
            .create_user(&new_user("other", "other@example.com"), &entry(T0))
            .await
            .expect("user");
        let globex = store
            .create_organization(&platform(), &name("Globex"), other_owner.id, &entry(T0))
            .await
            .expect("globex");
        let acme_roles = store.roles_of_organizations(&[acme]).await.expect("roles");
        let acme_viewer = role_named(&acme_roles, "Viewer");

        let definition = RoleDefinition {
            name: name("Renamed"),
            description: String::new(),
            permissions: PermissionSet::default(),
        };
        let custom = store
            .create_role(
                &granted::<ManageRoles>(acme),
                &RoleDefinition {
                    name: name("Custom"),
                    ..definition.clone()
                },
                &entry(T0),
            )
            .await
            .expect("custom");
        let update = store
            .update_role(
                &granted::<ManageRoles>(globex.id),
                custom.id,
                &definition,
                &entry(T0),
            )
            .await;
        assert!(
            matches!(
                update,
                Err(StoreError::Domain(DomainError::NotFound { .. }))
            ),
            "{backend:?}: {update:?}"
        );
        let bind = store
            .bind_role(
                &granted::<ManageRoles>(globex.id),
                acme_viewer,
                BindingSubject::User(other_owner.id),
                BindingScope::Organization,
                &entry(T0),
            )
            .await;
        assert!(
            matches!(bind, Err(StoreError::Domain(DomainError::NotFound { .. }))),
            "{backend:?}: {bind:?}"
        );
        let add = store
            .add_member(
                &granted::<ManageUsers>(globex.id),
                other_owner.id,
                acme_viewer,
                &entry(T0),
            )
            .await;
        assert!(
            matches!(add, Err(StoreError::Domain(DomainError::NotFound { .. }))),
            "{backend:?}: {add:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn roles_bind_only_to_members() {
    on_each_backend(|store, backend| async move {
        let (acme, owner) = organization_with_owner(&store).await;
        let roles = store.roles_of_organizations(&[acme]).await.expect("roles");
        let stranger = store
            .create_user(&new_user("stranger", "stranger@example.com"), &entry(T0))
            .await
            .expect("user");
        let bind = store
            .bind_role(
                &granted::<ManageRoles>(acme),
                role_named(&roles, "Viewer"),
                BindingSubject::User(stranger.id),
                BindingScope::Organization,
                &entry(T0),
            )
            .await;
        assert!(
            matches!(
                bind,
                Err(StoreError::Domain(DomainError::NotFound {
                    what: "the member"
                }))
            ),
            "{backend:?}: {bind:?}"
        );
        let twice = store
            .bind_role(
                &granted::<ManageRoles>(acme),
                role_named(&roles, "Administrator"),
                BindingSubject::User(owner),
                BindingScope::Organization,
                &entry(T0),
            )
            .await;
        assert!(
            matches!(twice, Err(StoreError::Domain(DomainError::Conflict { .. }))),
            "{backend:?}: {twice:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_session_switches_only_to_a_bound_role() {
    on_each_backend(|store, backend| async move {
        let (acme, owner) = organization_with_owner(&store).await;
        let roles = store.roles_of_organizations(&[acme]).await.expect("roles");
        let context = store.login_context(owner).await.expect("context");
        assert_eq!(
            context,
            Some((acme, role_named(&roles, "Administrator"))),
            "{backend:?}"
        );
        let mut session = session_for(owner, T0);
        session.active = context;
        store
            .record_login(&session, None, &entry(T0))
            .await
            .expect("login");

        let viewer = role_named(&roles, "Viewer");
        let refused = store
            .switch_session_role(session.id, owner, acme, viewer, &entry(T0))
            .await;
        assert!(
            matches!(
                refused,
                Err(StoreError::Domain(DomainError::Invalid { .. }))
            ),
            "{backend:?}: {refused:?}"
        );
        store
            .bind_role(
                &granted::<ManageRoles>(acme),
                viewer,
                BindingSubject::User(owner),
                BindingScope::Organization,
                &entry(T0),
            )
            .await
            .expect("bind");
        store
            .switch_session_role(session.id, owner, acme, viewer, &entry(T0))
            .await
            .expect("switch");
        let principal = store
            .live_session(session.id, T0)
            .await
            .expect("read")
            .expect("live");
        assert_eq!(principal.active, Some((acme, viewer)), "{backend:?}");
    })
    .await;
}

fn is_not_found<T: std::fmt::Debug>(result: &Result<T, StoreError>, what: &str) -> bool {
    matches!(result, Err(StoreError::Domain(DomainError::NotFound { what: found })) if *found == what)
}

/// Makes a new user an active member of `organization` with the Viewer role.
async fn viewer_member(store: &Store, organization: OrganizationId, username: &str) -> UserId {
    let roles = store
        .roles_of_organizations(&[organization])
        .await
        .expect("roles");
    let user = store
        .create_user(
            &new_user(username, &format!("{username}@example.com")),
            &entry(T0),
        )
        .await
        .expect("user");
    store
        .add_member(
            &granted::<ManageUsers>(organization),
            user.id,
            role_named(&roles, "Viewer"),
            &entry(T0),
        )
        .await
        .expect("member");
    user.id
}

#[tokio::test]
async fn groups_are_created_renamed_and_archived_once() {
    on_each_backend(|store, backend| async move {
        let (acme, _) = organization_with_owner(&store).await;
        let manage = granted::<ManageGroups>(acme);
        let admins = store
            .create_group(&manage, &name("Admins"), &entry(T0))
            .await
            .expect("create");
        assert_eq!(admins.name, "Admins");
        assert_eq!(admins.organization, acme);
        assert!(!admins.is_archived());
        let taken = store
            .create_group(&manage, &name("ADMINS"), &entry(T0))
            .await;
        assert!(
            matches!(
                taken,
                Err(StoreError::Domain(DomainError::Conflict {
                    field: "name",
                    ..
                }))
            ),
            "{backend:?}: {taken:?}"
        );

        let later = T0 + Duration::minutes(1);
        let renamed = store
            .rename_group(&manage, admins.id, &name("Operators"), &entry(later))
            .await
            .expect("rename");
        assert_eq!(renamed.name, "Operators");
        assert_eq!(renamed.updated_at, later);
        let zeta = store
            .create_group(&manage, &name("Zeta"), &entry(T0))
            .await
            .expect("zeta");
        let clash = store
            .rename_group(&manage, zeta.id, &name("operators"), &entry(later))
            .await;
        assert!(
            matches!(
                clash,
                Err(StoreError::Domain(DomainError::Conflict {
                    field: "name",
                    ..
                }))
            ),
            "{backend:?}: {clash:?}"
        );

        let archived = store
            .archive_group(&manage, renamed.id, &entry(later))
            .await
            .expect("archive");
        assert_eq!(archived.archived_at, Some(later));
        let again = store
            .archive_group(&manage, renamed.id, &entry(later))
            .await;
        match again {
            Err(StoreError::Domain(error @ DomainError::InvalidTransition { .. })) => {
                assert!(error.to_string().contains("archived already"), "{error}")
            }
            other => panic!("{backend:?}: expected a refusal, got {other:?}"),
        }

        let listed = store.groups_of_organizations(&[acme]).await.expect("list");
        let names: Vec<_> = listed
            .iter()
            .map(|group| (group.name.as_str(), group.is_archived()))
            .collect();
        assert_eq!(
            names,
            vec![("Zeta", false), ("Operators", true)],
            "{backend:?}: groups in use first"
        );
        let loaded = store
            .groups_by_ids(&[archived.id, GroupId::new()])
            .await
            .expect("by id");
        assert_eq!(loaded, vec![archived], "{backend:?}: reads back equal");

        for (action, count) in [
            (AuditAction::GroupCreated, 2),
            (AuditAction::GroupRenamed, 1),
            (AuditAction::GroupArchived, 1),
        ] {
            let events = store
                .recent_audit_events(Some(action), 10)
                .await
                .expect("audit");
            assert_eq!(events.len(), count, "{backend:?}: {action:?}");
            assert!(
                events
                    .iter()
                    .all(|event| event.organization_id == Some(acme.as_uuid()))
            );
        }
    })
    .await;
}

#[tokio::test]
async fn only_members_of_the_organization_join_a_group_and_members_page_by_id() {
    on_each_backend(|store, backend| async move {
        let (acme, owner) = organization_with_owner(&store).await;
        let manage = granted::<ManageGroups>(acme);
        let ann = viewer_member(&store, acme, "ann").await;
        let bob = viewer_member(&store, acme, "bob").await;
        let stranger = store
            .create_user(&new_user("stranger", "stranger@example.com"), &entry(T0))
            .await
            .expect("stranger");
        let group = store
            .create_group(&manage, &name("Team"), &entry(T0))
            .await
            .expect("group");
        for user in [owner, ann, bob] {
            store
                .add_group_member(&manage, group.id, user, &entry(T0))
                .await
                .expect("add");
        }
        let outsider = store
            .add_group_member(&manage, group.id, stranger.id, &entry(T0))
            .await;
        assert!(
            is_not_found(&outsider, "the member"),
            "{backend:?}: {outsider:?}"
        );
        let twice = store
            .add_group_member(&manage, group.id, ann, &entry(T0))
            .await;
        assert!(
            matches!(
                twice,
                Err(StoreError::Domain(DomainError::Conflict {
                    field: "user",
                    ..
                }))
            ),
            "{backend:?}: {twice:?}"
        );
        let unknown = store
            .add_group_member(&manage, GroupId::new(), ann, &entry(T0))
            .await;
        assert!(is_not_found(&unknown, "the group"), "{unknown:?}");

        let mut all = [owner, ann, bob];
        all.sort();
        let (first, total) = store
            .group_members_page(group.id, None, 2)
            .await
            .expect("page");
        assert_eq!(
            (first.clone(), total),
            (all[..2].to_vec(), 3),
            "{backend:?}"
        );
        let (rest, total) = store
            .group_members_page(group.id, Some(first[1].as_uuid()), 2)
            .await
            .expect("page");
        assert_eq!((rest, total), (all[2..].to_vec(), 3), "{backend:?}");

        store
            .remove_group_member(&manage, group.id, bob, &entry(T0))
            .await
            .expect("remove");
        let gone = store
            .remove_group_member(&manage, group.id, bob, &entry(T0))
            .await;
        assert!(is_not_found(&gone, "the group member"), "{gone:?}");
        let (_, total) = store
            .group_members_page(group.id, None, 10)
            .await
            .expect("page");
        assert_eq!(total, 2, "{backend:?}");

        let of_users = store.groups_of_users(&[ann, bob]).await.expect("of users");
        assert_eq!(of_users, vec![(ann, group.clone())], "{backend:?}");

        store
            .archive_group(&manage, group.id, &entry(T0))
            .await
            .expect("archive");
        let into_archived = store
            .add_group_member(&manage, group.id, bob, &entry(T0))
            .await;
        assert!(
            is_not_found(&into_archived, "the group"),
            "{into_archived:?}"
        );
        let (left, _) = store
            .group_members_page(group.id, None, 10)
            .await
            .expect("page");
        assert_eq!(left, vec![], "{backend:?}: archiving empties the group");
        let gone = store
            .remove_group_member(&manage, group.id, ann, &entry(T0))
            .await;
        assert!(is_not_found(&gone, "the group member"), "{gone:?}");
        let events = store
            .recent_audit_events(Some(AuditAction::GroupMemberAdded), 10)
            .await
            .expect("audit");
        assert_eq!(events.len(), 3, "{backend:?}: only what took effect");
        assert_eq!(events[0].target_id, Some(group.id.to_string()));
    })
    .await;
}

#[tokio::test]
async fn a_role_bound_to_a_group_gives_its_members_the_permission_until_it_is_archived() {
    on_each_backend(|store, backend| async move {
        let (acme, _) = organization_with_owner(&store).await;
        let roles = store.roles_of_organizations(&[acme]).await.expect("roles");
        let editor = role_named(&roles, "Editor");
        let ann = viewer_member(&store, acme, "ann").await;
        let manage = granted::<ManageGroups>(acme);
        let group = store
            .create_group(&manage, &name("Editors"), &entry(T0))
            .await
            .expect("group");
        store
            .add_group_member(&manage, group.id, ann, &entry(T0))
            .await
            .expect("add");
        store
            .bind_role(
                &granted::<ManageRoles>(acme),
                editor,
                BindingSubject::Group(group.id),
                BindingScope::Organization,
                &entry(T0),
            )
            .await
            .expect("bind");

        assert!(
            store
                .role_bound_to_user(ann, acme, editor)
                .await
                .expect("bound")
        );
        let as_editor = store
            .member_grants(ann, Some((acme, editor)))
            .await
            .expect("grants");
        assert_eq!(
            as_editor[0].permissions,
            BuiltInRole::Editor.permissions(),
            "{backend:?}"
        );

        store
            .archive_group(&manage, group.id, &entry(T0))
            .await
            .expect("archive");
        let after = store
            .member_grants(ann, Some((acme, editor)))
            .await
            .expect("grants");
        assert!(
            after[0].permissions.is_empty(),
            "{backend:?}: an archived group gives nothing"
        );
        let (members, _) = store
            .group_members_page(group.id, None, 10)
            .await
            .expect("page");
        assert_eq!(members, vec![], "{backend:?}: and its members left it");
    })
    .await;
}

#[tokio::test]
async fn a_proof_for_another_organization_cannot_reach_its_groups() {
    on_each_backend(|store, backend| async move {
        let (acme, owner) = organization_with_owner(&store).await;
        let other_owner = store
            .create_user(&new_user("other", "other@example.com"), &entry(T0))
            .await
            .expect("user");
        let globex = store
            .create_organization(&platform(), &name("Globex"), other_owner.id, &entry(T0))
            .await
            .expect("globex");
        let group = store
            .create_group(&granted::<ManageGroups>(acme), &name("Team"), &entry(T0))
            .await
            .expect("group");
        store
            .add_group_member(&granted::<ManageGroups>(acme), group.id, owner, &entry(T0))
            .await
            .expect("add");
        let wrong = granted::<ManageGroups>(globex.id);

        let rename = store
            .rename_group(&wrong, group.id, &name("Mine"), &entry(T0))
            .await;
        assert!(
            is_not_found(&rename, "the group"),
            "{backend:?}: {rename:?}"
        );
        let archive = store.archive_group(&wrong, group.id, &entry(T0)).await;
        assert!(
            is_not_found(&archive, "the group"),
            "{backend:?}: {archive:?}"
        );
        let add = store
            .add_group_member(&wrong, group.id, other_owner.id, &entry(T0))
            .await;
        assert!(is_not_found(&add, "the group"), "{backend:?}: {add:?}");
        let remove = store
            .remove_group_member(&wrong, group.id, owner, &entry(T0))
            .await;
        assert!(
            is_not_found(&remove, "the group"),
            "{backend:?}: {remove:?}"
        );

        let unchanged = store.groups_by_ids(&[group.id]).await.expect("read");
        assert_eq!(unchanged, vec![group], "{backend:?}");
        let nowhere = store
            .create_group(
                &granted::<ManageGroups>(OrganizationId::new()),
                &name("Ghost"),
                &entry(T0),
            )
            .await;
        assert!(
            is_not_found(&nowhere, "the organization"),
            "{backend:?}: {nowhere:?}"
        );
    })
    .await;
}

/// Records one event at `at`, by `actor`, in `organization`, about the user `target`.
async fn record(
    store: &Store,
    at: OffsetDateTime,
    actor: Option<UserId>,
    action: AuditAction,
    organization: Option<OrganizationId>,
    target: UserId,
) {
    let entry = AuditEntry {
        actor,
        client_address: None,
        at,
    };
    let mut event = entry
        .event(action, steward_domain::audit::AuditOutcome::Success)
        .target("user", target);
    event.organization = organization;
    store.record_audit_event(&event).await.expect("record");
}

/// The actions of a page, newest first, and the total.
async fn audit_actions(store: &Store, filter: &AuditFilter) -> (Vec<String>, i64) {
    let (events, total) = store
        .audit_events_page(filter, None, 100)
        .await
        .expect("page");
    (
        events.into_iter().map(|event| event.action).collect(),
        total,
    )
}

#[tokio::test]
async fn audit_events_filter_by_organization_actor_action_target_and_time() {
    on_each_backend(|store, backend| async move {
        let (acme, globex) = (OrganizationId::new(), OrganizationId::new());
        let (ann, bob, carl) = (UserId::new(), UserId::new(), UserId::new());
        let minute = Duration::minutes(1);
        record(&store, T0, None, AuditAction::LoginSucceeded, None, ann).await;
        record(
            &store,
            T0 + minute,
            Some(ann),
            AuditAction::MemberAdded,
            Some(acme),
            bob,
        )
        .await;
        record(
            &store,
            T0 + 2 * minute,
            Some(ann),
            AuditAction::RoleCreated,
            Some(acme),
            ann,
        )
        .await;
        record(
            &store,
            T0 + 3 * minute,
            Some(bob),
            AuditAction::MemberAdded,
            Some(globex),
            carl,
        )
        .await;
        record(
            &store,
            T0 + 4 * minute,
            Some(bob),
            AuditAction::RoleBound,
            Some(acme),
            carl,
        )
        .await;

        let everything = audit_actions(&store, &AuditFilter::default()).await;
        assert_eq!(
            everything,
            (
                vec![
                    "role.bound".into(),
                    "membership.added".into(),
                    "role.created".into(),
                    "membership.added".into(),
                    "login.succeeded".into(),
                ],
                5
            ),
            "{backend:?}: newest first, platform events included"
        );
        let of_acme = AuditFilter {
            organizations: Some(vec![acme]),
            ..AuditFilter::default()
        };
        assert_eq!(
            audit_actions(&store, &of_acme).await,
            (
                vec![
                    "role.bound".into(),
                    "role.created".into(),
                    "membership.added".into()
                ],
                3
            ),
            "{backend:?}: no platform event, no other organization's"
        );
        let of_both = AuditFilter {
            organizations: Some(vec![acme, globex]),
            ..AuditFilter::default()
        };
        assert_eq!(audit_actions(&store, &of_both).await.1, 4, "{backend:?}");
        let of_none = AuditFilter {
            organizations: Some(Vec::new()),
            ..AuditFilter::default()
        };
        assert_eq!(audit_actions(&store, &of_none).await, (Vec::new(), 0));

        let by_bob_in_acme = AuditFilter {
            organizations: Some(vec![acme]),
            actor: Some(bob),
            ..AuditFilter::default()
        };
        assert_eq!(
            audit_actions(&store, &by_bob_in_acme).await,
            (vec!["role.bound".into()], 1),
            "{backend:?}"
        );
        let members_added = AuditFilter {
            action: Some("membership.added".into()),
            ..AuditFilter::default()
        };
        assert_eq!(
            audit_actions(&store, &members_added).await.1,
            2,
            "{backend:?}"
        );
        let about_carl = AuditFilter {
            target_type: Some("user".into()),
            target_id: Some(carl.to_string()),
            ..AuditFilter::default()
        };
        assert_eq!(
            audit_actions(&store, &about_carl).await,
            (vec!["role.bound".into(), "membership.added".into()], 2),
            "{backend:?}"
        );
        let about_organizations = AuditFilter {
            target_type: Some("organization".into()),
            ..AuditFilter::default()
        };
        assert_eq!(audit_actions(&store, &about_organizations).await.1, 0);

        // `from` is inclusive and `to` exclusive, so adjacent ranges neither overlap nor
        // leave a gap; a whole second compares right against fractions on SQLite too.
        let middle = AuditFilter {
            from: Some(T0 + minute),
            to: Some(T0 + 3 * minute),
            ..AuditFilter::default()
        };
        assert_eq!(
            audit_actions(&store, &middle).await,
            (vec!["role.created".into(), "membership.added".into()], 2),
            "{backend:?}"
        );
        let just_before = AuditFilter {
            from: Some(T0 + minute - Duration::milliseconds(500)),
            to: Some(T0 + minute),
            ..AuditFilter::default()
        };
        assert_eq!(
            audit_actions(&store, &just_before).await.1,
            0,
            "{backend:?}"
        );
        let late = AuditFilter {
            from: Some(T0 + 3 * minute + Duration::microseconds(1)),
            ..AuditFilter::default()
        };
        assert_eq!(
            audit_actions(&store, &late).await,
            (vec!["role.bound".into()], 1),
            "{backend:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn audit_pages_follow_each_other_without_duplicates_or_gaps() {
    on_each_backend(|store, backend| async move {
        let (acme, globex) = (OrganizationId::new(), OrganizationId::new());
        let ann = UserId::new();
        // Written out of time order, so ids (which grow as events are written) alone do not
        // give the order; seven events share one instant, so pages must break ties by id;
        // another organization's event shares it too.
        let mut events = vec![
            (2, AuditAction::RoleUpdated, acme),
            (0, AuditAction::RoleCreated, acme),
            (1, AuditAction::RoleBound, globex),
        ];
        events.extend([(1, AuditAction::RoleBound, acme); 7]);
        for (second, action, organization) in events {
            let at = T0 + Duration::seconds(second);
            record(&store, at, Some(ann), action, Some(organization), ann).await;
        }

        let filter = AuditFilter {
            organizations: Some(vec![acme]),
            ..AuditFilter::default()
        };
        let (all, total) = store
            .audit_events_page(&filter, None, 100)
            .await
            .expect("all");
        assert_eq!((all.len(), total), (9, 9), "{backend:?}");
        let mut expected: Vec<_> = all.iter().map(|e| (e.occurred_at, e.id)).collect();
        expected.sort_by(|a, b| b.cmp(a));
        assert_eq!(
            all.iter()
                .map(|e| (e.occurred_at, e.id))
                .collect::<Vec<_>>(),
            expected,
            "{backend:?}: newest first, then by id descending"
        );

        let mut paged = Vec::new();
        let mut after = None;
        loop {
            let (page, total) = store
                .audit_events_page(&filter, after, 2)
                .await
                .expect("page");
            assert_eq!(
                total, 9,
                "{backend:?}: the total does not depend on the page"
            );
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            paged.extend(page.iter().map(|event| event.id));
        }
        assert_eq!(
            paged,
            all.iter().map(|event| event.id).collect::<Vec<_>>(),
            "{backend:?}: every event once, in order"
        );
    })
    .await;
}

mod outbox {
    use steward_domain::notification::Notification;
    use steward_store::{AttemptFailed, DeliveredVia, MailboxMessage, Recipient};

    use super::*;

    fn recipient(address: &str) -> Recipient {
        Recipient {
            user: None,
            address: address.into(),
            name: "Ann Lee".into(),
            language: Language::Ru,
        }
    }

    fn report() -> Notification {
        Notification::ReportReady {
            report: "orphans".into(),
            job: "j1".into(),
            summary: "PERMISSION_PARITY: 1 / 1".into(),
        }
    }

    async fn pending(store: &Store) -> i64 {
        store
            .outbox_page(Some("PENDING"), None, 100)
            .await
            .expect("outbox")
            .1
    }

    #[tokio::test]
    async fn a_changed_password_writes_its_notice_in_the_same_transaction() {
        on_each_backend(|store, backend| async move {
            let at = datetime!(2026-03-01 10:00 UTC);
            let user = store
                .create_user(&new_user("ann", "ann@example.com"), &entry(at))
                .await
                .expect("user");
            store
                .change_password(user.id, "$argon2id$new", None, &entry(at))
                .await
                .expect("change");
            let (outbox, total) = store.outbox_page(None, None, 10).await.expect("outbox");
            assert_eq!(total, 1, "{backend:?}");
            assert_eq!(outbox[0].kind, "PASSWORD_CHANGED");
            assert_eq!(outbox[0].recipient_address, "ann@example.com");
            assert_eq!(outbox[0].status, "PENDING");

            // A message written in a transaction that rolls back is gone with it.
            let mut tx = store.begin().await.expect("begin");
            tx.notify(&recipient("bob@example.com"), &report(), at)
                .await
                .expect("notify");
            drop(tx);
            assert_eq!(pending(&store).await, 1, "{backend:?}: rolled back");
        })
        .await;
    }

    #[tokio::test]
    async fn unsubscribed_users_get_security_messages_and_nothing_else() {
        on_each_backend(|store, backend| async move {
            let at = datetime!(2026-03-01 10:00 UTC);
            let user = store
                .create_user(&new_user("ann", "ann@example.com"), &entry(at))
                .await
                .expect("user");
            steward_store::on_pool!(&store, |pool| {
                sqlx::query("UPDATE users SET email_subscription = $2 WHERE id = $1")
                    .bind(user.id.as_uuid())
                    .bind(false)
                    .execute(pool)
                    .await
                    .expect("unsubscribe");
            });
            let mut tx = store.begin().await.expect("begin");
            let informational = tx
                .notify_user(user.id, &report(), at)
                .await
                .expect("notify");
            let security = tx
                .notify_user(
                    user.id,
                    &Notification::MfaDisabled { by: "root".into() },
                    at,
                )
                .await
                .expect("notify");
            tx.commit().await.expect("commit");
            assert_eq!(informational, None, "{backend:?}");
            assert!(security.is_some(), "{backend:?}");
            let (outbox, _) = store.outbox_page(None, None, 10).await.expect("outbox");
            let kinds: Vec<_> = outbox.iter().map(|n| n.kind.as_str()).collect();
            assert_eq!(kinds, ["MFA_DISABLED"], "{backend:?}");
        })
        .await;
    }

    #[tokio::test]
    async fn a_claim_holds_until_its_lease_ends_and_a_lost_lease_marks_nothing() {
        on_each_backend(|store, backend| async move {
            let at = datetime!(2026-03-01 10:00 UTC);
            let mut tx = store.begin().await.expect("begin");
            for n in 0..3 {
                tx.notify(&recipient(&format!("u{n}@example.com")), &report(), at)
                    .await
                    .expect("notify");
            }
            tx.commit().await.expect("commit");
            let lease = Duration::minutes(5);

            let first = store
                .claim_notifications(at, lease, 2)
                .await
                .expect("claim");
            assert_eq!(first.len(), 2, "{backend:?}");
            // Claimed a minute later, so its lease outlives the first one's.
            let second = store
                .claim_notifications(at + Duration::minutes(1), lease, 10)
                .await
                .expect("claim");
            assert_eq!(second.len(), 1, "{backend:?}: only the unclaimed one");
            assert!(first.iter().all(|c| c.id != second[0].id));
            assert!(
                store
                    .claim_notifications(at, lease, 10)
                    .await
                    .expect("claim")
                    .is_empty()
            );

            // The lease of `first` runs out; another worker takes the messages over.
            let later = at + lease + Duration::seconds(1);
            let taken_over = store
                .claim_notifications(later, lease, 10)
                .await
                .expect("claim");
            assert_eq!(taken_over.len(), 2, "{backend:?}");
            assert!(
                !store
                    .mark_notification_sent(&first[0], DeliveredVia::Smtp, later)
                    .await
                    .expect("mark"),
                "{backend:?}: the old holder cannot mark it"
            );
            let message = MailboxMessage {
                message_id: "<m@x>",
                subject: "s",
                text: "t",
                html: "h",
            };
            for claimed in &taken_over {
                assert!(
                    store
                        .deliver_to_mailbox(claimed, &message, later)
                        .await
                        .expect("deliver")
                );
            }
            let (mailbox, total) = store.mailbox_page(None, None, 10).await.expect("mailbox");
            assert_eq!(total, 2, "{backend:?}");
            assert_eq!(mailbox[0].subject, "s");
            assert_eq!(
                pending(&store).await,
                1,
                "{backend:?}: second[0] is still out"
            );
        })
        .await;
    }

    #[tokio::test]
    async fn a_failed_attempt_is_retried_later_then_given_up_and_can_be_retried_by_hand() {
        on_each_backend(|store, backend| async move {
            let at = datetime!(2026-03-01 10:00 UTC);
            let mut tx = store.begin().await.expect("begin");
            tx.notify(&recipient("ann@example.com"), &report(), at)
                .await
                .expect("notify");
            tx.commit().await.expect("commit");
            let lease = Duration::minutes(5);

            let claimed = store
                .claim_notifications(at, lease, 1)
                .await
                .expect("claim");
            let retry_at = at + Duration::minutes(1);
            store
                .mark_notification_failed(
                    &claimed[0],
                    "connection refused",
                    AttemptFailed::RetryAt(retry_at),
                    at,
                )
                .await
                .expect("mark");
            // Not due before its time, even though no lease holds it.
            assert!(
                store
                    .claim_notifications(at + Duration::seconds(30), lease, 1)
                    .await
                    .expect("claim")
                    .is_empty(),
                "{backend:?}"
            );
            let again = store
                .claim_notifications(retry_at, lease, 1)
                .await
                .expect("claim");
            assert_eq!(again[0].attempts, 1, "{backend:?}");
            store
                .mark_notification_failed(
                    &again[0],
                    "550 no such user",
                    AttemptFailed::GiveUp,
                    retry_at,
                )
                .await
                .expect("mark");
            let (failed, _) = store
                .outbox_page(Some("FAILED"), None, 10)
                .await
                .expect("outbox");
            assert_eq!(failed.len(), 1, "{backend:?}");
            assert_eq!(failed[0].attempts, 2);
            assert_eq!(failed[0].last_error.as_deref(), Some("550 no such user"));
            assert!(
                store
                    .claim_notifications(retry_at + Duration::days(1), lease, 1)
                    .await
                    .expect("claim")
                    .is_empty(),
                "{backend:?}: a failed message stays failed"
            );

            let id = steward_domain::NotificationId(failed[0].id);
            let retried = store
                .retry_notification(&platform(), id, &entry(retry_at))
                .await
                .expect("retry");
            assert_eq!((retried.status.as_str(), retried.attempts), ("PENDING", 0));
            let claimed = store
                .claim_notifications(retry_at, lease, 1)
                .await
                .expect("claim");
            store
                .mark_notification_sent(&claimed[0], DeliveredVia::Smtp, retry_at)
                .await
                .expect("sent");
            let error = store
                .retry_notification(&platform(), id, &entry(retry_at))
                .await
                .expect_err("sent messages are not sent again");
            assert!(error.to_string().contains("already sent"), "{error}");
        })
        .await;
    }
}

#[tokio::test]
async fn an_ssh_key_is_on_one_account_only_and_is_removed_only_by_its_owners_proof() {
    use steward_domain::policy::{
        AddSshKey, ManageSshKeys, authorize_ssh_key_lookup, authorize_ssh_keys,
    };
    use steward_domain::ssh::{SshFingerprint, SshPublicKey};

    on_each_backend(|store, backend| async move {
        let ann = store
            .create_user(&new_user("sshann", "ann@example.com"), &entry(T0))
            .await
            .expect("ann");
        let bob = store
            .create_user(&new_user("sshbob", "bob@example.com"), &entry(T0))
            .await
            .expect("bob");
        let root = Actor::new(UserId::new(), Some(PlatformRole::SuperAdmin), []);
        let key = SshPublicKey::parse(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBdIaQxXGnf+b9/H5E0Z5xaZQwH5SykbCve24Ot/fWh+ ann@laptop",
        )
        .expect("key");
        let title = key.title(None).expect("title");
        let add = |owner: UserId| {
            authorize_ssh_keys::<AddSshKey>(&root, owner, false, &[]).expect("super admin")
        };
        let manage = |owner: UserId| {
            authorize_ssh_keys::<ManageSshKeys>(&root, owner, false, &[]).expect("super admin")
        };

        let added = store
            .add_ssh_key(&add(ann.id), &key, &title, &entry(T0))
            .await
            .expect("added");
        assert_eq!(added.user, ann.id);
        assert_eq!(store.ssh_key_by_id(added.id).await.expect("read"), Some(added.clone()), "{backend:?}");

        let taken = store
            .add_ssh_key(&add(bob.id), &key, &title, &entry(T0))
            .await
            .expect_err("taken");
        assert!(
            matches!(&taken, StoreError::Domain(DomainError::Conflict { field: "publicKey", reason }) if reason.contains("another account")),
            "{backend:?}: {taken}"
        );

        let wrong_owner = store
            .remove_ssh_key(&manage(bob.id), added.id, &entry(T0))
            .await
            .expect_err("not bob's");
        assert!(matches!(wrong_owner, StoreError::Domain(DomainError::NotFound { .. })));

        let lookup = authorize_ssh_key_lookup(&root).expect("super admin");
        let fingerprint =
            SshFingerprint::parse("fingerprint", key.fingerprint().as_str()).expect("fingerprint");
        let found = store
            .ssh_key_by_fingerprint(&lookup, &fingerprint)
            .await
            .expect("lookup");
        assert_eq!(found.map(|key| key.user), Some(ann.id));

        store
            .remove_ssh_key(&manage(ann.id), added.id, &entry(T0))
            .await
            .expect("removed");
        assert_eq!(store.ssh_keys_of(&manage(ann.id)).await.expect("list"), vec![]);
        assert_eq!(
            store
                .recent_audit_events(Some(AuditAction::SshKeyRemoved), 5)
                .await
                .expect("audit")
                .len(),
            1
        );
    })
    .await;
}
