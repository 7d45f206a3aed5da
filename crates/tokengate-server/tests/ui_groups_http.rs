//! Groups in the web UI over plain HTTP: the groups page (list, create, change, delete; bad
//! names and unknown users refused; directory groups read-only; CSRF), the users page's
//! source, e-mail and groups, and the token manager's create form for holders of
//! `create_tokens_for_others`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod ui_support;

use chrono::Utc;
use common::{TestApp, change};
use tokengate_core::groups::{GroupList, Permissions, UserSource};
use tokengate_core::manage;
use tokengate_core::model::{AuditAction, AuditFilter, Settings, TokenFilter};
use tokengate_core::store::DirectoryProfile;
use ui_support::{UiClient, signed_in, ui_app};

async fn audited(app: &TestApp, action: AuditAction) -> Vec<tokengate_core::model::AuditRecord> {
    let filter = AuditFilter {
        action: Some(action),
        limit: 100,
        ..AuditFilter::default()
    };
    app.store.audit(&filter).await.unwrap()
}

/// `carol` as the LDAP directory reports her, in the directory group `ldap-devs`.
async fn provision_carol(app: &TestApp) {
    let profile = DirectoryProfile {
        name: "carol".into(),
        display_name: "Carol".into(),
        email: Some("carol@example.com".into()),
        source: UserSource::Ldap,
        groups: vec!["ldap-devs".into()],
        admin: false,
    };
    let provisioned = manage::provision(app.store.as_ref(), &change(Utc::now()), &profile)
        .await
        .unwrap();
    assert_eq!(provisioned.value.source, UserSource::Ldap);
}

async fn local_group_members(app: &TestApp, name: &str) -> Option<Vec<String>> {
    app.store
        .group(name)
        .await
        .unwrap()
        .map(|group| group.members)
}

fn fields<'a>(csrf: &'a str, pairs: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all = vec![("csrf", csrf)];
    all.extend_from_slice(pairs);
    all
}

#[tokio::test]
async fn the_groups_page_lists_local_and_directory_groups_with_members() {
    let app = ui_app().await;
    let (admin, csrf) = signed_in(&app, "root", true).await;
    app.add_user("alice", "alice-pw", false).await;
    provision_carol(&app).await;
    let created = admin
        .post(
            "/tokengate/admin/groups",
            &fields(&csrf, &[("name", "api users"), ("members", "alice, root")]),
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    assert_eq!(created.location(), "/tokengate/admin/groups?done=created");
    let page = admin.get("/tokengate/admin/groups?done=created").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"nav-groups\""));
    assert!(page.body.contains("id=\"notice\""));
    assert!(
        page.body
            .contains("<tr data-group=\"api users\" data-source=\"local\">")
    );
    assert!(
        page.body
            .contains("<tr data-group=\"ldap-devs\" data-source=\"ldap\">")
    );
    assert!(page.body.contains("<li data-member=\"carol\">"));
    assert_eq!(
        page.body.matches("data-action=\"delete-group\"").count(),
        1,
        "only the local group can be deleted"
    );
    assert_eq!(
        page.body.matches("data-action=\"remove-member\"").count(),
        2,
        "alice and root, not the directory's carol"
    );
    assert_eq!(
        local_group_members(&app, "api users").await.unwrap(),
        ["alice", "root"]
    );
    let records = audited(&app, AuditAction::GroupCreated).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].actor, "root");
    assert_eq!(records[0].ip.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn an_admin_adds_and_removes_members_and_deletes_a_group_after_confirming() {
    let app = ui_app().await;
    let (admin, csrf) = signed_in(&app, "root", true).await;
    app.add_user("alice", "alice-pw", false).await;
    app.add_user("bob", "bob-pw", false).await;
    let create = fields(&csrf, &[("name", "leads"), ("members", "")]);
    assert_eq!(
        admin.post("/tokengate/admin/groups", &create).await.status,
        303
    );
    let members = "/tokengate/admin/groups/members";
    for (what, who) in [("add", "alice"), ("add", " bob "), ("remove", "alice")] {
        let answer = admin
            .post(
                members,
                &fields(
                    &csrf,
                    &[("group", "leads"), ("change", what), ("user", who)],
                ),
            )
            .await;
        assert_eq!(answer.status, 303, "{what} {who}: {}", answer.body);
        assert_eq!(answer.location(), "/tokengate/admin/groups?done=changed");
    }
    assert_eq!(local_group_members(&app, "leads").await.unwrap(), ["bob"]);
    assert_eq!(audited(&app, AuditAction::GroupChanged).await.len(), 3);
    let delete = "/tokengate/admin/groups/delete";
    let asked = admin
        .post(delete, &fields(&csrf, &[("group", "leads")]))
        .await;
    assert_eq!(asked.status, 200);
    assert!(asked.body.contains("id=\"confirm\""));
    assert!(asked.body.contains("name=\"group\" value=\"leads\""));
    assert!(local_group_members(&app, "leads").await.is_some(), "kept");
    let deleted = admin
        .post(
            delete,
            &fields(&csrf, &[("group", "leads"), ("confirmed", "yes")]),
        )
        .await;
    assert_eq!(deleted.status, 303);
    assert_eq!(deleted.location(), "/tokengate/admin/groups?done=deleted");
    assert!(local_group_members(&app, "leads").await.is_none());
    assert!(
        app.store.user("bob").await.unwrap().is_some(),
        "still a user"
    );
    let records = audited(&app, AuditAction::GroupDeleted).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].actor, "root");
}

#[tokio::test]
async fn bad_group_names_and_unknown_members_are_refused_and_change_nothing() {
    let app = ui_app().await;
    let (admin, csrf) = signed_in(&app, "root", true).await;
    let long = "g".repeat(129);
    for name in [
        "",
        "   ",
        "a/b",
        "<script>",
        "tab\there",
        "ä-umlaut",
        "a,b",
        &long,
    ] {
        let answer = admin
            .post(
                "/tokengate/admin/groups",
                &fields(&csrf, &[("name", name), ("members", "root")]),
            )
            .await;
        assert_eq!(answer.status, 422, "{name:?}: {}", answer.body);
        assert!(answer.body.contains("id=\"form-error\""), "{name:?}");
        assert!(answer.body.contains("not a group name"), "{name:?}");
    }
    assert!(
        admin
            .post(
                "/tokengate/admin/groups",
                &fields(&csrf, &[("name", "<script>")])
            )
            .await
            .body
            .contains("value=\"&#60;script&#62;\""),
        "the form keeps what was typed, escaped"
    );
    for members in ["ghost", "root, ghost", "root,,nobody@x", "a<b"] {
        let answer = admin
            .post(
                "/tokengate/admin/groups",
                &fields(&csrf, &[("name", "team"), ("members", members)]),
            )
            .await;
        assert_eq!(answer.status, 422, "{members}");
        assert!(answer.body.contains("There is no user named"), "{members}");
    }
    assert!(app.store.groups().await.unwrap().is_empty());
    let create = fields(&csrf, &[("name", "team")]);
    assert_eq!(
        admin.post("/tokengate/admin/groups", &create).await.status,
        303
    );
    let again = admin.post("/tokengate/admin/groups", &create).await;
    assert_eq!(again.status, 409);
    assert!(again.body.contains("already exists"));
    let add_ghost = fields(
        &csrf,
        &[("group", "team"), ("change", "add"), ("user", "ghost")],
    );
    let refused = admin
        .post("/tokengate/admin/groups/members", &add_ghost)
        .await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("id=\"page-error\""));
    assert!(
        refused
            .body
            .contains("There is no user named &#34;ghost&#34;")
    );
    assert!(local_group_members(&app, "team").await.unwrap().is_empty());
    let nameless = admin
        .post(
            "/tokengate/admin/groups/members",
            &fields(
                &csrf,
                &[("group", "no such"), ("change", "add"), ("user", "root")],
            ),
        )
        .await;
    assert_eq!(nameless.status, 404);
    assert_eq!(audited(&app, AuditAction::GroupChanged).await.len(), 0);
    assert_eq!(audited(&app, AuditAction::GroupCreated).await.len(), 1);
}

#[tokio::test]
async fn a_directory_group_cannot_be_changed_or_deleted_here() {
    let app = ui_app().await;
    let (admin, csrf) = signed_in(&app, "root", true).await;
    provision_carol(&app).await;
    let attempts = [
        (
            "/tokengate/admin/groups/members",
            fields(
                &csrf,
                &[("group", "ldap-devs"), ("change", "add"), ("user", "root")],
            ),
        ),
        (
            "/tokengate/admin/groups/members",
            fields(
                &csrf,
                &[
                    ("group", "ldap-devs"),
                    ("change", "remove"),
                    ("user", "carol"),
                ],
            ),
        ),
        (
            "/tokengate/admin/groups/delete",
            fields(&csrf, &[("group", "ldap-devs"), ("confirmed", "yes")]),
        ),
    ];
    for (path, form) in attempts {
        let answer = admin.post(path, &form).await;
        assert_eq!(answer.status, 409, "{path} {form:?}");
        assert!(answer.body.contains("is a directory group"), "{path}");
    }
    let carol = app.store.user("carol").await.unwrap().unwrap();
    assert_eq!(carol.groups, ["ldap-devs"]);
    assert!(app.store.groups().await.unwrap().is_empty());
    let set = admin
        .post(
            "/tokengate/admin/users/carol/groups",
            &[("csrf", csrf.as_str()), ("groups", "ldap-devs")],
        )
        .await;
    assert_eq!(set.status, 422, "a directory group is not assignable");
    assert!(set.body.contains("directory groups cannot be assigned"));
    assert_eq!(audited(&app, AuditAction::GroupChanged).await.len(), 0);
    assert_eq!(audited(&app, AuditAction::GroupDeleted).await.len(), 0);
}

#[tokio::test]
async fn group_forms_without_the_csrf_token_or_from_another_site_are_refused() {
    let app = ui_app().await;
    let (admin, csrf) = signed_in(&app, "root", true).await;
    let create = "/tokengate/admin/groups";
    for form in [
        vec![("name", "sneaky")],
        vec![("csrf", ""), ("name", "sneaky")],
        vec![("csrf", "not-the-token"), ("name", "sneaky")],
        vec![("CSRF", csrf.as_str()), ("name", "sneaky")],
    ] {
        let answer = admin.post(create, &form).await;
        assert_eq!(answer.status, 403, "{form:?}");
    }
    let good = [("csrf", csrf.as_str()), ("name", "sneaky")];
    for origin in [
        "https://evil.example",
        "null",
        "http://127.0.0.1.evil.example",
    ] {
        let answer = admin.post_from(create, &good, origin).await;
        assert_eq!(answer.status, 403, "{origin}");
    }
    assert!(app.store.groups().await.unwrap().is_empty());
    assert_eq!(admin.post(create, &good).await.status, 303);
    for (path, form) in [
        (
            "/tokengate/admin/groups/members",
            vec![("group", "sneaky"), ("change", "add"), ("user", "root")],
        ),
        (
            "/tokengate/admin/groups/delete",
            vec![("group", "sneaky"), ("confirmed", "yes")],
        ),
        (
            "/tokengate/admin/users/root/groups",
            vec![("groups", "sneaky")],
        ),
        (
            "/tokengate/admin/users/root/email",
            vec![("email", "r@example.com")],
        ),
    ] {
        assert_eq!(admin.post(path, &form).await.status, 403, "{path}");
    }
    assert_eq!(
        local_group_members(&app, "sneaky").await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(app.store.user("root").await.unwrap().unwrap().email, None);
}

#[tokio::test]
async fn a_non_admin_cannot_open_the_groups_page_or_change_a_group() {
    let app = ui_app().await;
    let (user, csrf) = signed_in(&app, "bob", false).await;
    let home = user.get("/tokengate/").await;
    assert!(!home.body.contains("id=\"nav-groups\""));
    let page = user.get("/tokengate/admin/groups").await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("administrators only"));
    let created = user
        .post(
            "/tokengate/admin/groups",
            &fields(&csrf, &[("name", "mine")]),
        )
        .await;
    assert_eq!(created.status, 403);
    let own_groups = user
        .post(
            "/tokengate/admin/users/bob/groups",
            &[("csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(own_groups.status, 403);
    let signed_out = UiClient::new(&app).get("/tokengate/admin/groups").await;
    assert_eq!(signed_out.status, 403);
    assert!(app.store.groups().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_users_page_shows_source_email_and_groups_and_sets_them() {
    let app = ui_app().await;
    let (admin, csrf) = signed_in(&app, "root", true).await;
    app.add_user("alice", "alice-pw", false).await;
    provision_carol(&app).await;
    for name in ["api users", "leads"] {
        let create = fields(&csrf, &[("name", name)]);
        assert_eq!(
            admin.post("/tokengate/admin/groups", &create).await.status,
            303
        );
    }
    let email = admin
        .post(
            "/tokengate/admin/users/alice/email",
            &fields(&csrf, &[("email", " alice@example.com ")]),
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
            &fields(&csrf, &[("email", "")]),
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
                &fields(&csrf, &[("email", email)]),
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
            &fields(&csrf, &[("email", "g@example.com")]),
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
    provision_carol(&app).await;
    let attempts = [
        (
            "/tokengate/admin/users/carol/email",
            fields(&csrf, &[("email", "other@example.com")]),
        ),
        (
            "/tokengate/admin/users/carol/email",
            fields(&csrf, &[("email", "")]),
        ),
        (
            "/tokengate/admin/users/carol",
            fields(&csrf, &[("change", "make_admin")]),
        ),
        (
            "/tokengate/admin/users/carol/password",
            fields(&csrf, &[("password", "a new password")]),
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
            &fields(&csrf, &[("change", "disable")]),
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
    let create = fields(
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
            &fields(&csrf, &[("user", "dave"), ("name", "from the desk")]),
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
            &fields(&csrf, &[("user", "ghost"), ("name", "x")]),
        )
        .await;
    assert_eq!(unknown.status, 422);
    assert!(unknown.body.contains("There is no user named"));
    assert!(!unknown.body.contains("id=\"admin-tokens\""));
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
    let confirmed = fields(&desk_csrf, &[("confirmed", "yes"), ("user", "dave")]);
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
            &fields(&other_csrf, &[("user", "dave"), ("name", "sneaky")]),
        )
        .await;
    assert_eq!(attempt.status, 403);
    let tokens = tokens_of(&app, "dave").await;
    assert_eq!(tokens.len(), 1, "nothing created, nothing revoked");
}
