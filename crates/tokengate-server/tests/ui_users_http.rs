//! The users page's directory side and the delegates' token manager over plain HTTP: each
//! user's source, e-mail and groups shown and set, a directory user's own fields refused with
//! the reason, and holders of `create_tokens_for_others` creating tokens for others (and
//! nothing else) while everyone else gets 403.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod ui_support;

use chrono::Utc;
use common::TestApp;
use tokengate_core::groups::{GroupList, Permissions};
use tokengate_core::manage;
use tokengate_core::model::{AuditAction, Settings, TokenFilter};
use ui_support::{audited, provision_from_ldap, signed_in, ui_app, with_csrf};

#[tokio::test]
async fn the_users_page_shows_source_email_and_groups_and_sets_them() {
    let app = ui_app().await;
    let (admin, csrf) = signed_in(&app, "root", true).await;
    app.add_user("alice", "alice-pw", false).await;
    provision_from_ldap(&app, "carol").await;
    for name in ["api users", "leads"] {
        let create = with_csrf(&csrf, &[("name", name)]);
        assert_eq!(
            admin.post("/tokengate/admin/groups", &create).await.status,
            303
        );
    }
    let email = admin
        .post(
            "/tokengate/admin/users/alice/email",
            &with_csrf(&csrf, &[("email", " alice@example.com ")]),
        )
        .await;
    assert_eq!(email.status, 303, "{}", email.body);
    assert_eq!(email.location(), "/tokengate/admin/users?done=email");
    let groups = admin
        .post(
            "/tokengate/admin/users/carol/groups",
            &[
                ("csrf", csrf.as_str()),
                ("groups", "api users"),
                ("groups", "leads"),
            ],
        )
        .await;
    assert_eq!(groups.status, 303, "{}", groups.body);
    let carol = app.store.user("carol").await.unwrap().unwrap();
    assert_eq!(carol.groups, ["api users", "ldap-devs", "leads"]);
    assert_eq!(carol.directory_groups, ["ldap-devs"]);
    let page = admin.get("/tokengate/admin/users?done=groups").await;
    let row = |name: &str| {
        let start = page
            .body
            .find(&format!("<tr data-user=\"{name}\">"))
            .unwrap();
        let end = page.body[start..].find("</tr>").unwrap() + start;
        page.body[start..end].to_owned()
    };
    let alice = row("alice");
    assert!(alice.contains("<td data-label=\"Source\" class=\"user-source\">local</td>"));
    assert!(alice.contains("class=\"muted user-email\">alice@example.com<"));
    assert!(alice.contains("data-action=\"set-email\""));
    assert!(alice.contains("data-action=\"set-password\""));
    let carol_row = row("carol");
    assert!(carol_row.contains("class=\"user-source\">ldap</td>"));
    assert!(carol_row.contains("carol@example.com"));
    assert!(carol_row.contains("data-group=\"ldap-devs\" data-directory-group>"));
    assert!(carol_row.contains("<span class=\"badge\" data-group=\"api users\">"));
    assert!(carol_row.contains("value=\"leads\" checked"));
    assert!(!carol_row.contains("value=\"ldap-devs\""), "not offered");
    assert!(!carol_row.contains("data-action=\"set-email\""));
    assert!(!carol_row.contains("data-action=\"set-password\""));
    assert!(!carol_row.contains("data-action=\"make-admin\""));
    assert!(carol_row.contains("data-action=\"disable-user\""));
    let none = admin
        .post(
            "/tokengate/admin/users/carol/groups",
            &[("csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(none.status, 303);
    let carol = app.store.user("carol").await.unwrap().unwrap();
    assert_eq!(carol.groups, ["ldap-devs"], "the directory's group stays");
    let cleared = admin
        .post(
            "/tokengate/admin/users/alice/email",
            &with_csrf(&csrf, &[("email", "")]),
        )
        .await;
    assert_eq!(cleared.status, 303);
    assert_eq!(app.store.user("alice").await.unwrap().unwrap().email, None);
    let updates = audited(&app, AuditAction::UserUpdated).await;
    assert_eq!(updates.len(), 4);
    assert!(updates.iter().all(|record| record.actor == "root"));
}

#[tokio::test]
async fn bad_emails_and_unknown_groups_are_refused_and_change_nothing() {
    let app = ui_app().await;
    let (admin, csrf) = signed_in(&app, "root", true).await;
    app.add_user("alice", "alice-pw", false).await;
    for email in [
        "alice",
        "@example.com",
        "alice@",
        "a b@example.com",
        "a@b@c",
    ] {
        let answer = admin
            .post(
                "/tokengate/admin/users/alice/email",
                &with_csrf(&csrf, &[("email", email)]),
            )
            .await;
        assert_eq!(answer.status, 422, "{email}");
        assert!(answer.body.contains("invalid e-mail address"), "{email}");
    }
    for group in ["nope", "a/b", ""] {
        let answer = admin
            .post(
                "/tokengate/admin/users/alice/groups",
                &[("csrf", csrf.as_str()), ("groups", group)],
            )
            .await;
        assert_eq!(answer.status, 422, "{group:?}");
        assert!(answer.body.contains("id=\"page-error\""), "{group:?}");
    }
    let ghost = admin
        .post(
            "/tokengate/admin/users/ghost/email",
            &with_csrf(&csrf, &[("email", "g@example.com")]),
        )
        .await;
    assert_eq!(ghost.status, 404);
    let alice = app.store.user("alice").await.unwrap().unwrap();
    assert_eq!(alice.email, None);
    assert!(alice.groups.is_empty());
    assert!(audited(&app, AuditAction::UserUpdated).await.is_empty());
}

#[tokio::test]
async fn a_directory_users_email_admin_flag_and_password_are_refused_with_the_reason() {
    let app = ui_app().await;
    let (admin, csrf) = signed_in(&app, "root", true).await;
    provision_from_ldap(&app, "carol").await;
    let attempts = [
        (
            "/tokengate/admin/users/carol/email",
            with_csrf(&csrf, &[("email", "other@example.com")]),
        ),
        (
            "/tokengate/admin/users/carol/email",
            with_csrf(&csrf, &[("email", "")]),
        ),
        (
            "/tokengate/admin/users/carol",
            with_csrf(&csrf, &[("change", "make_admin")]),
        ),
        (
            "/tokengate/admin/users/carol/password",
            with_csrf(&csrf, &[("password", "a new password")]),
        ),
    ];
    for (path, form) in attempts {
        let answer = admin.post(path, &form).await;
        assert_eq!(answer.status, 409, "{path}: {}", answer.body);
        assert!(answer.body.contains("id=\"page-error\""));
        assert!(
            answer.body.contains("comes from the ldap directory"),
            "{path}"
        );
    }
    let carol = app.store.user("carol").await.unwrap().unwrap();
    assert_eq!(carol.email.as_deref(), Some("carol@example.com"));
    assert!(!carol.admin);
    assert!(carol.password_hash.is_none());
    let disabled = admin
        .post(
            "/tokengate/admin/users/carol",
            &with_csrf(&csrf, &[("change", "disable")]),
        )
        .await;
    assert_eq!(disabled.status, 303, "disabling stays tokengate's");
}

async fn tokens_of(app: &TestApp, owner: &str) -> Vec<tokengate_core::model::TokenRecord> {
    let filter = TokenFilter {
        owner: Some(owner.into()),
        limit: 100,
        ..TokenFilter::default()
    };
    app.store.tokens(&filter).await.unwrap()
}

async fn grant_create_for_others(app: &TestApp, group: &str) {
    app.save_settings(&Settings {
        permissions: Permissions {
            create_tokens_for_others: GroupList::parse(&[group]).unwrap(),
            ..Permissions::default()
        },
        ..Settings::default()
    })
    .await;
    app.sync().await;
}

#[tokio::test]
async fn a_delegate_sees_only_the_create_form_and_creates_a_token_for_another_user() {
    let app = ui_app().await;
    let (admin, admin_csrf) = signed_in(&app, "root", true).await;
    app.add_user("dave", "dave-pw", false).await;
    let (dave_token_id, _) = app.add_token("dave").await;
    let create = with_csrf(
        &admin_csrf,
        &[("name", "service desk"), ("members", "erin")],
    );
    let (desk, csrf) = signed_in(&app, "erin", false).await;
    assert_eq!(
        admin.post("/tokengate/admin/groups", &create).await.status,
        303
    );
    grant_create_for_others(&app, "service desk").await;
    let home = desk.get("/tokengate/").await;
    assert!(home.body.contains("id=\"nav-delegate\""));
    assert!(!home.body.contains("id=\"nav-admin-tokens\""));
    let page = desk.get("/tokengate/admin/tokens?user=dave").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"admin-create-token\""));
    assert!(
        page.body
            .contains("aria-current=\"page\">Create for others<")
    );
    assert!(!page.body.contains("id=\"admin-tokens\""), "no listing");
    assert!(!page.body.contains("id=\"token-filters\""));
    assert!(!page.body.contains("id=\"revoke-user-tokens\""));
    assert!(!page.body.contains(&dave_token_id));
    let created = desk
        .post(
            "/tokengate/admin/tokens",
            &with_csrf(&csrf, &[("user", "dave"), ("name", "from the desk")]),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert!(!created.body.contains("id=\"admin-tokens\""));
    let secret = created.new_secret().expect("shown once to the delegate");
    let whoami: serde_json::Value = app
        .get_bearer("/tokengate/whoami", &secret)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(whoami["user"], "dave");
    let tokens = tokens_of(&app, "dave").await;
    let made = tokens
        .iter()
        .find(|token| token.name == "from the desk")
        .unwrap();
    assert_eq!(made.created_by, "erin");
    let record = audited(&app, AuditAction::TokenCreated).await;
    let record = record
        .iter()
        .find(|record| record.token_id.as_deref() == Some(made.id.as_str()))
        .unwrap();
    assert_eq!(record.actor, "erin");
    assert_eq!(record.user.as_deref(), Some("dave"));
    let unknown = desk
        .post(
            "/tokengate/admin/tokens",
            &with_csrf(&csrf, &[("user", "ghost"), ("name", "x")]),
        )
        .await;
    assert_eq!(unknown.status, 422);
    assert!(unknown.body.contains("There is no user named"));
    assert!(!unknown.body.contains("id=\"admin-tokens\""));
    let before = tokens_of(&app, "root").await.len();
    let for_admin = desk
        .post(
            "/tokengate/admin/tokens",
            &with_csrf(&csrf, &[("user", "root"), ("name", "as root")]),
        )
        .await;
    assert_eq!(for_admin.status, 422, "{}", for_admin.body);
    assert!(
        for_admin
            .body
            .contains("only administrators may create tokens for an administrator"),
        "{}",
        for_admin.body
    );
    assert_eq!(
        tokens_of(&app, "root").await.len(),
        before,
        "nothing created"
    );
}

#[tokio::test]
async fn a_delegate_cannot_revoke_and_a_non_holder_gets_403_from_the_token_manager() {
    let app = ui_app().await;
    app.add_user("dave", "dave-pw", false).await;
    let (dave_token_id, _) = app.add_token("dave").await;
    let (desk, desk_csrf) = signed_in(&app, "erin", false).await;
    let (other, other_csrf) = signed_in(&app, "frank", false).await;
    let group = manage::create_group(
        app.store.as_ref(),
        &common::operator_change(Utc::now()),
        "desk",
        &["erin".to_owned()],
    )
    .await
    .unwrap();
    assert_eq!(group.value.members, ["erin"]);
    grant_create_for_others(&app, "desk").await;
    let revoke = format!("/tokengate/admin/tokens/{dave_token_id}/delete");
    let confirmed = with_csrf(&desk_csrf, &[("confirmed", "yes"), ("user", "dave")]);
    assert_eq!(desk.post(&revoke, &confirmed).await.status, 403);
    assert_eq!(
        desk.post("/tokengate/admin/tokens/revoke-user", &confirmed)
            .await
            .status,
        403
    );
    assert_eq!(desk.get("/tokengate/admin/users").await.status, 403);
    let home = other.get("/tokengate/").await;
    assert!(!home.body.contains("id=\"nav-delegate\""));
    assert_eq!(other.get("/tokengate/admin/tokens").await.status, 403);
    let attempt = other
        .post(
            "/tokengate/admin/tokens",
            &with_csrf(&other_csrf, &[("user", "dave"), ("name", "sneaky")]),
        )
        .await;
    assert_eq!(attempt.status, 403);
    let tokens = tokens_of(&app, "dave").await;
    assert_eq!(tokens.len(), 1, "nothing created, nothing revoked");
}
