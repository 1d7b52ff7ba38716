//! The user lifecycle over HTTP: invitations (new and existing users, resend, revoke, expiry
//! with the server's clock moved forward), direct creation and e-mail validation,
//! suspension, memberships, password resets and profiles. Links are read from the local
//! mailbox, as a person would read them from their e-mail.

use serde_json::{Value, json};

use crate::support::{TestApp, TestOrg, error_code, on_each_backend};

const PASSWORD: &str = "correct horse battery staple 42";
const NEW_PASSWORD: &str = "violet tractor mosaic ninety one";
const ARGS: &[&str] = &["--dev", "--mail-poll-ms", "50"];

const INVITE: &str = "mutation($input: InviteUserInput!) { inviteUser(input: $input) { \
    invitation { id status user { id username status } } errors { field code message } } }";
const ACCEPT: &str = "mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { \
    invitation { status } errors { field code message } } }";

async fn invite(app: &TestApp, org: &TestOrg, email: &str) -> Value {
    let body = app
        .graphql(
            Some(&org.owner_token),
            INVITE,
            json!({ "input": { "organization": org.id, "email": email, "fullName": "Invited Person",
                               "roles": [org.viewer], "language": "DE" } }),
        )
        .await;
    let payload = body["data"]["inviteUser"].clone();
    assert_eq!(payload["errors"], json!([]), "{:?}: {body}", app.backend);
    payload["invitation"].clone()
}

async fn accept(app: &TestApp, token: &str, password: Option<&str>) -> Value {
    let body = app
        .graphql(
            None,
            ACCEPT,
            json!({ "input": { "token": token, "password": password } }),
        )
        .await;
    body["data"]["acceptInvitation"].clone()
}

/// Waits until `address` has `count` messages and returns them, newest first.
async fn mails(app: &TestApp, address: &str, count: i64) -> Vec<Value> {
    app.mails(address, count).await
}

/// The newest of `count` messages to `address`.
async fn newest_mail(app: &TestApp, address: &str, count: i64) -> Value {
    mails(app, address, count).await.swap_remove(0)
}

/// The token of the link in the newest message with a link, once `address` has `count`
/// messages.
async fn link_token(app: &TestApp, address: &str, count: i64) -> String {
    let mails = mails(app, address, count).await;
    let text = mails
        .iter()
        .filter_map(|mail| mail["text"].as_str())
        .find(|text| text.contains("token="))
        .unwrap_or_else(|| panic!("no link in {mails:?}"));
    let start = text.find("token=").unwrap_or_default() + "token=".len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

fn first_error(payload: &Value) -> String {
    payload["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn an_invited_new_user_sets_a_password_from_the_mail_and_logs_in() {
    on_each_backend(ARGS, |app| async move {
        let org = app.organization_owned_by("Initech", "inowner").await;
        let invitation = invite(&app, &org, "Newbie.Person@example.com").await;
        assert_eq!(invitation["status"], "PENDING");
        assert_eq!(invitation["user"]["status"], "PENDING_VALIDATION");
        assert_eq!(invitation["user"]["username"], "newbieperson");

        // Listed among the organization's pending invitations, the membership waiting.
        let listed = app
            .graphql(
                Some(&org.owner_token),
                "query($o: ID!) { invitations(organization: $o, status: PENDING) { totalCount \
                 nodes { id user { memberships { status } } } } }",
                json!({ "o": org.id }),
            )
            .await;
        assert_eq!(listed["data"]["invitations"]["totalCount"], 1, "{listed}");
        assert_eq!(
            listed["data"]["invitations"]["nodes"][0]["user"]["memberships"][0]["status"],
            "INVITED"
        );

        let mail = newest_mail(&app, "newbie.person@example.com", 1).await;
        assert!(
            mail["text"]
                .as_str()
                .is_some_and(|text| text.contains("http://steward.test/invitations/accept?token=")),
            "{mail}"
        );
        let token = link_token(&app, "newbie.person@example.com", 1).await;

        // A new user must choose a password, and a good one.
        let missing = accept(&app, &token, None).await;
        assert_eq!(missing["errors"][0]["field"], json!(["input", "password"]));
        let weak = accept(&app, &token, Some("password1234")).await;
        assert!(first_error(&weak).contains("too easy to guess"), "{weak}");

        let accepted = accept(&app, &token, Some(NEW_PASSWORD)).await;
        assert_eq!(accepted["errors"], json!([]), "{accepted}");
        assert_eq!(accepted["invitation"]["status"], "ACCEPTED");

        let login = app.login("newbieperson", NEW_PASSWORD).await;
        let token_of_newbie = login["accessToken"].as_str().expect("logged in").to_owned();
        let me = app
            .graphql(
                Some(&token_of_newbie),
                "{ me { status language memberships { status organization { name } } } }",
                json!({}),
            )
            .await;
        assert_eq!(me["data"]["me"]["status"], "ACTIVE", "{me}");
        assert_eq!(me["data"]["me"]["language"], "DE", "{me}");
        assert_eq!(
            me["data"]["me"]["memberships"],
            json!([{ "status": "ACTIVE", "organization": { "name": "Initech" } }])
        );

        // The link was single-use.
        let reused = accept(&app, &token, Some(NEW_PASSWORD)).await;
        assert!(first_error(&reused).contains("used already"), "{reused}");
        // A made-up token is refused the same way as a cut one.
        let made_up = accept(&app, "not-a-token", Some(NEW_PASSWORD)).await;
        assert!(first_error(&made_up).contains("not valid"), "{made_up}");
        app
    })
    .await;
}

#[tokio::test]
async fn an_invited_existing_user_accepts_in_one_click_and_gets_a_second_membership() {
    on_each_backend(ARGS, |app| async move {
        let first = app.organization_owned_by("Firstco", "firstowner").await;
        let second = app.organization_owned_by("Secondco", "secondowner").await;
        let user = app.create_user("twoorgs", PASSWORD).await;
        let added = app
            .graphql(
                Some(&app.admin_token().await),
                "mutation($o: ID!, $u: ID!, $r: ID!) { addMember(input: {organization: $o, user: $u, role: $r}) { errors { message } } }",
                json!({ "o": first.id, "u": user, "r": first.viewer }),
            )
            .await;
        assert_eq!(added["data"]["addMember"]["errors"], json!([]), "{added}");

        invite(&app, &second, "TwoOrgs@example.com").await;
        let mail = newest_mail(&app, "twoorgs@example.com", 1).await;
        let token = link_token(&app, "twoorgs@example.com", 1).await;
        assert!(
            mail["subject"].as_str().is_some_and(|s| s.contains("Secondco")),
            "{mail}"
        );
        // A known user has a password already and does not set one here.
        let with_password = accept(&app, &token, Some(NEW_PASSWORD)).await;
        assert_eq!(
            with_password["errors"][0]["field"],
            json!(["input", "password"])
        );
        let accepted = accept(&app, &token, None).await;
        assert_eq!(accepted["errors"], json!([]), "{accepted}");

        let token = app.token("twoorgs", PASSWORD).await;
        let me = app
            .graphql(
                Some(&token),
                "{ me { memberships { status organization { name } } } }",
                json!({}),
            )
            .await;
        let mut memberships: Vec<String> = me["data"]["me"]["memberships"]
            .as_array()
            .expect("memberships")
            .iter()
            .map(|m| format!("{} {}", m["organization"]["name"], m["status"]))
            .collect();
        memberships.sort();
        assert_eq!(
            memberships,
            ["\"Firstco\" \"ACTIVE\"", "\"Secondco\" \"ACTIVE\""],
            "{me}"
        );

        // Inviting a member again is refused with what to do instead.
        let again = app
            .graphql(
                Some(&second.owner_token),
                INVITE,
                json!({ "input": { "organization": second.id, "email": "twoorgs@example.com",
                                   "fullName": "Two", "roles": [second.viewer] } }),
            )
            .await;
        assert_eq!(again["data"]["inviteUser"]["errors"][0]["code"], "CONFLICT");
        app
    })
    .await;
}

#[tokio::test]
async fn a_resent_invitation_kills_the_first_link_and_a_revoked_one_kills_all() {
    on_each_backend(ARGS, |app| async move {
        let org = app.organization_owned_by("Resendco", "rsowner").await;
        let invitation = invite(&app, &org, "late@example.com").await;
        let id = invitation["id"].as_str().expect("id").to_owned();
        let first_token = link_token(&app, "late@example.com", 1).await;
        let resent = app
            .graphql(
                Some(&org.owner_token),
                "mutation($i: ID!) { resendInvitation(invitation: $i) { invitation { status } errors { message } } }",
                json!({ "i": id }),
            )
            .await;
        assert_eq!(resent["data"]["resendInvitation"]["errors"], json!([]), "{resent}");
        let second_token = link_token(&app, "late@example.com", 2).await;
        assert_ne!(first_token, second_token);
        let old = accept(&app, &first_token, Some(NEW_PASSWORD)).await;
        assert!(first_error(&old).contains("replaced by a newer one"), "{old}");

        let revoked = app
            .graphql(
                Some(&org.owner_token),
                "mutation($i: ID!) { revokeInvitation(invitation: $i) { invitation { status revokedAt } errors { message } } }",
                json!({ "i": id }),
            )
            .await;
        assert_eq!(
            revoked["data"]["revokeInvitation"]["invitation"]["status"],
            "REVOKED",
            "{revoked}"
        );
        let new = accept(&app, &second_token, Some(NEW_PASSWORD)).await;
        assert!(first_error(&new).contains("withdrawn"), "{new}");
        // The waiting membership went with it, so the address can be invited again.
        invite(&app, &org, "late@example.com").await;
        app
    })
    .await;
}

#[tokio::test]
async fn an_invitation_link_fails_after_24_hours_and_a_resent_one_works() {
    on_each_backend(ARGS, |app| async move {
        let org = app.organization_owned_by("Clockco", "clockowner").await;
        let invitation = invite(&app, &org, "slow@example.com").await;
        let id = invitation["id"].as_str().expect("id").to_owned();
        let token = link_token(&app, "slow@example.com", 1).await;

        // The server's clock moves; nothing sleeps.
        app.server.app.clock.advance(time::Duration::hours(24));
        let expired = accept(&app, &token, Some(NEW_PASSWORD)).await;
        assert!(
            first_error(&expired).contains("expired after 24 hours"),
            "{expired}"
        );
        // The owner's access token expired with the day: log in again.
        let owner = app.token("clockowner", PASSWORD).await;
        let listed = app
            .graphql(
                Some(&owner),
                "query($o: ID!) { invitations(organization: $o, status: EXPIRED) { totalCount } }",
                json!({ "o": org.id }),
            )
            .await;
        assert_eq!(listed["data"]["invitations"]["totalCount"], 1, "{listed}");
        let resent = app
            .graphql(
                Some(&owner),
                "mutation($i: ID!) { resendInvitation(invitation: $i) { invitation { status } errors { message } } }",
                json!({ "i": id }),
            )
            .await;
        assert_eq!(
            resent["data"]["resendInvitation"]["invitation"]["status"],
            "PENDING",
            "{resent}"
        );
        let fresh = link_token(&app, "slow@example.com", 2).await;
        let accepted = accept(&app, &fresh, Some(NEW_PASSWORD)).await;
        assert_eq!(accepted["errors"], json!([]), "{accepted}");
        app
    })
    .await;
}

const SUSPEND: &str = "mutation($u: ID!) { suspendUser(input: {user: $u, reason: \"security review\"}) { \
    user { status } errors { code message } } }";

#[tokio::test]
async fn a_suspended_users_token_stops_working_at_once_until_reactivated() {
    on_each_backend(ARGS, |app| async move {
        let org = app.organization_owned_by("Suspendco", "spowner").await;
        let user = app.create_user("suspect", PASSWORD).await;
        app.graphql(
            Some(&app.admin_token().await),
            "mutation($o: ID!, $u: ID!, $r: ID!) { addMember(input: {organization: $o, user: $u, role: $r}) { errors { message } } }",
            json!({ "o": org.id, "u": user, "r": org.viewer }),
        )
        .await;
        let token = app.token("suspect", PASSWORD).await;
        let me = "{ me { username } }";
        assert_eq!(
            app.graphql(Some(&token), me, json!({})).await["data"]["me"]["username"],
            "suspect"
        );

        // A user may not suspend themselves, nor a viewer anyone.
        let own = app.graphql(Some(&token), SUSPEND, json!({ "u": user })).await;
        assert!(own["data"].is_null(), "{own}");

        let suspended = app
            .graphql(Some(&org.owner_token), SUSPEND, json!({ "u": user }))
            .await;
        assert_eq!(
            suspended["data"]["suspendUser"]["user"]["status"],
            "SUSPENDED",
            "{suspended}"
        );
        let refused = app.graphql(Some(&token), me, json!({})).await;
        assert_eq!(error_code(&refused), "UNAUTHENTICATED", "{refused}");
        let login = app.login("suspect", PASSWORD).await;
        assert!(
            login["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("suspended")),
            "{login}"
        );
        let mail = newest_mail(&app, "suspect@example.com", 1).await;
        assert!(
            mail["text"].as_str().is_some_and(|t| t.contains("security review")),
            "{mail}"
        );
        // Suspending twice is a refused transition that says why.
        let twice = app
            .graphql(Some(&org.owner_token), SUSPEND, json!({ "u": user }))
            .await;
        assert_eq!(
            twice["data"]["suspendUser"]["errors"][0]["code"],
            "INVALID_TRANSITION",
            "{twice}"
        );

        let reactivated = app
            .graphql(
                Some(&org.owner_token),
                "mutation($u: ID!) { reactivateUser(user: $u) { user { status } errors { message } } }",
                json!({ "u": user }),
            )
            .await;
        assert_eq!(
            reactivated["data"]["reactivateUser"]["user"]["status"],
            "ACTIVE",
            "{reactivated}"
        );
        newest_mail(&app, "suspect@example.com", 2).await;
        let token = app.token("suspect", PASSWORD).await;
        assert_eq!(
            app.graphql(Some(&token), me, json!({})).await["data"]["me"]["username"],
            "suspect"
        );
        app
    })
    .await;
}

const SET_MEMBERSHIP: &str = "mutation($o: ID!, $u: ID!) { \
    enableMembership(input: {organization: $o, user: $u}) { membership { status } errors { code message } } }";

#[tokio::test]
async fn a_created_user_validates_by_mail_and_cannot_be_enabled_before() {
    on_each_backend(ARGS, |app| async move {
        let org = app.organization_owned_by("Createco", "crowner").await;
        let created = app
            .graphql(
                Some(&org.owner_token),
                "mutation($input: CreateUserInput!) { createUser(input: $input) { \
                 user { id status memberships { status } } errors { field code message } } }",
                json!({ "input": { "organization": org.id, "roles": [org.viewer], "username": "direct",
                                   "email": "direct@example.com", "fullName": "Direct Person" } }),
            )
            .await;
        let user = &created["data"]["createUser"]["user"];
        assert_eq!(user["status"], "PENDING_VALIDATION", "{created}");
        let id = user["id"].as_str().expect("id").to_owned();

        let disabled = app
            .graphql(
                Some(&org.owner_token),
                "mutation($o: ID!, $u: ID!) { disableMembership(input: {organization: $o, user: $u}) { membership { status } errors { message } } }",
                json!({ "o": org.id, "u": id }),
            )
            .await;
        assert_eq!(
            disabled["data"]["disableMembership"]["membership"]["status"],
            "DISABLED",
            "{disabled}"
        );
        let refused = app
            .graphql(
                Some(&org.owner_token),
                SET_MEMBERSHIP,
                json!({ "o": org.id, "u": id }),
            )
            .await;
        let error = &refused["data"]["enableMembership"]["errors"][0];
        assert_eq!(error["code"], "INVALID_TRANSITION", "{refused}");
        assert!(
            error["message"].as_str().is_some_and(|m| m
                .contains("the user must be validated first; resend the activation link")),
            "{refused}"
        );

        // The user was told of the disabled access, in the same mailbox as the validation.
        let told = mails(&app, "direct@example.com", 2).await;
        assert!(
            told.iter().any(|mail| mail["subject"]
                .as_str()
                .is_some_and(|s| s.contains("Createco") && s.contains("disabled"))),
            "{told:?}"
        );
        // The validation mail sets the password; resending replaces the link.
        link_token(&app, "direct@example.com", 2).await;
        let resent = app
            .graphql(
                Some(&org.owner_token),
                "mutation($u: ID!) { resendValidation(user: $u) { errors { message } } }",
                json!({ "u": id }),
            )
            .await;
        assert_eq!(resent["data"]["resendValidation"]["errors"], json!([]), "{resent}");
        let token = link_token(&app, "direct@example.com", 3).await;
        let validated = app
            .graphql(
                None,
                "mutation($t: String!, $p: String) { validateEmail(input: {token: $t, password: $p}) { user { status } errors { field message } } }",
                json!({ "t": token, "p": NEW_PASSWORD }),
            )
            .await;
        assert_eq!(
            validated["data"]["validateEmail"]["user"]["status"],
            "ACTIVE",
            "{validated}"
        );
        let enabled = app
            .graphql(
                Some(&org.owner_token),
                SET_MEMBERSHIP,
                json!({ "o": org.id, "u": id }),
            )
            .await;
        assert_eq!(
            enabled["data"]["enableMembership"]["membership"]["status"],
            "ACTIVE",
            "{enabled}"
        );
        app.token("direct", NEW_PASSWORD).await;

        // A temporary password must be changed at the first login; it is never mailed.
        let temporary = app
            .graphql(
                Some(&org.owner_token),
                "mutation($input: CreateUserInput!) { createUser(input: $input) { user { mustChangePassword } errors { message } } }",
                json!({ "input": { "organization": org.id, "roles": [org.viewer], "username": "temp",
                                   "email": "temp@example.com", "fullName": "Temp",
                                   "temporaryPassword": PASSWORD } }),
            )
            .await;
        assert_eq!(
            temporary["data"]["createUser"]["user"]["mustChangePassword"],
            true,
            "{temporary}"
        );
        let mail = newest_mail(&app, "temp@example.com", 1).await;
        assert!(
            !mail["text"].as_str().unwrap_or_default().contains(PASSWORD),
            "{mail}"
        );
        app
    })
    .await;
}

#[tokio::test]
async fn a_password_is_reset_by_mail_without_telling_who_has_an_account() {
    on_each_backend(ARGS, |app| async move {
        app.create_user("forgetful", PASSWORD).await;
        let old_session = app.token("forgetful", PASSWORD).await;
        let request = "mutation($e: String!) { requestPasswordReset(email: $e) { message errors { message } } }";
        let known = app
            .graphql(None, request, json!({ "e": "forgetful@example.com" }))
            .await;
        let unknown = app
            .graphql(None, request, json!({ "e": "nobody@example.com" }))
            .await;
        assert_eq!(known, unknown, "the answer must not tell them apart");

        let token = link_token(&app, "forgetful@example.com", 1).await;
        let reset = "mutation($t: String!, $p: String!) { resetPassword(input: {token: $t, newPassword: $p}) { user { username } errors { field message } } }";
        let weak = app
            .graphql(None, reset, json!({ "t": token, "p": "forgetful123456" }))
            .await;
        assert_eq!(
            weak["data"]["resetPassword"]["errors"][0]["field"],
            json!(["input", "newPassword"]),
            "{weak}"
        );
        let done = app
            .graphql(None, reset, json!({ "t": token, "p": NEW_PASSWORD }))
            .await;
        assert_eq!(done["data"]["resetPassword"]["errors"], json!([]), "{done}");
        // Every session ended; the new password works, the old one does not.
        let ended = app.graphql(Some(&old_session), "{ me { id } }", json!({})).await;
        assert_eq!(error_code(&ended), "UNAUTHENTICATED", "{ended}");
        app.token("forgetful", NEW_PASSWORD).await;
        assert!(app.login("forgetful", PASSWORD).await["accessToken"].is_null());
        app
    })
    .await;
}

#[tokio::test]
async fn profiles_take_validated_countries_and_phones_and_never_the_email() {
    on_each_backend(ARGS, |app| async move {
        app.create_user("profiled", PASSWORD).await;
        let token = app.token("profiled", PASSWORD).await;
        let update = "mutation($input: ProfileInput!) { updateProfile(input: $input) { \
                      user { fullName country phone email } errors { field code message } } }";
        let good = app
            .graphql(
                Some(&token),
                update,
                json!({ "input": { "fullName": "Pro Filed", "country": "de", "phone": "+49 30 1234567" } }),
            )
            .await;
        assert_eq!(
            good["data"]["updateProfile"]["user"],
            json!({ "fullName": "Pro Filed", "country": "DE", "phone": "+49301234567",
                    "email": "profiled@example.com" }),
            "{good}"
        );
        for (input, field) in [
            (json!({ "country": "Germany" }), "country"),
            (json!({ "phone": "030 1234567" }), "phone"),
            (json!({ "fullName": "" }), "fullName"),
        ] {
            let bad = app
                .graphql(Some(&token), update, json!({ "input": input }))
                .await;
            assert_eq!(
                bad["data"]["updateProfile"]["errors"][0]["field"],
                json!(["input", field]),
                "{bad}"
            );
        }
        // null clears an optional field; absent leaves it.
        let cleared = app
            .graphql(Some(&token), update, json!({ "input": { "phone": null } }))
            .await;
        assert_eq!(
            cleared["data"]["updateProfile"]["user"]["phone"],
            Value::Null,
            "{cleared}"
        );
        assert_eq!(cleared["data"]["updateProfile"]["user"]["country"], "DE");
        app
    })
    .await;
}

#[tokio::test]
async fn an_organizations_composition_rules_bind_its_members_new_passwords() {
    on_each_backend(ARGS, |app| async move {
        let org = app.organization_owned_by("Strictco", "strictowner").await;
        let set = app
            .graphql(
                Some(&org.owner_token),
                "mutation($o: ID!) { setPasswordRules(input: {organization: $o, requireUppercase: true, \
                 requireDigit: true, minLength: 20}) { organization { passwordRules { requireUppercase \
                 requireDigit requireSymbol minLength } } errors { field message } } }",
                json!({ "o": org.id }),
            )
            .await;
        assert_eq!(
            set["data"]["setPasswordRules"]["organization"]["passwordRules"],
            json!({ "requireUppercase": true, "requireDigit": true, "requireSymbol": false,
                    "minLength": 20 }),
            "{set}"
        );
        let too_short = app
            .graphql(
                Some(&org.owner_token),
                "mutation($o: ID!) { setPasswordRules(input: {organization: $o, minLength: 8}) { errors { field message } } }",
                json!({ "o": org.id }),
            )
            .await;
        assert_eq!(
            too_short["data"]["setPasswordRules"]["errors"][0]["field"],
            json!(["input", "minLength"]),
            "{too_short}"
        );

        // An invited member's first password meets them...
        invite(&app, &org, "strict@example.com").await;
        let token = link_token(&app, "strict@example.com", 1).await;
        let plain = accept(&app, &token, Some(NEW_PASSWORD)).await;
        assert!(
            first_error(&plain).contains("an upper-case letter, a digit"),
            "{plain}"
        );
        let accepted = accept(&app, &token, Some("Violet tractor mosaic 91")).await;
        assert_eq!(accepted["errors"], json!([]), "{accepted}");

        // ...and so does every later change of it, while the platform alone would allow it.
        let member = app.token("strict", "Violet tractor mosaic 91").await;
        let change = app
            .graphql(
                Some(&member),
                "mutation($c: String!, $n: String!) { changePassword(input: {currentPassword: $c, newPassword: $n}) { errors { field message } } }",
                json!({ "c": "Violet tractor mosaic 91", "n": NEW_PASSWORD }),
            )
            .await;
        assert!(
            change["data"]["changePassword"]["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("a rule of your organization")),
            "{change}"
        );
        app
    })
    .await;
}
