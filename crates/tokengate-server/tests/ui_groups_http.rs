//! The groups page over plain HTTP: local and directory groups listed; local groups created,
//! changed and deleted with audit records; bad names and unknown users refused; directory
//! groups read-only; CSRF and the cross-site check; admins only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod ui_support;

use common::TestApp;
use tokengate_core::model::AuditAction;
use ui_support::{UiClient, audited, provision_from_ldap, signed_in, ui_app, with_csrf};

async fn local_group_members(app: &TestApp, name: &str) -> Option<Vec<String>> {
    app.store
        .group(name)
        .await
        .unwrap()
        .map(|group| group.members)
}

#[tokio::test]
async fn the_groups_page_lists_local_and_directory_groups_with_members() {
    let app = ui_app().await;
    let (admin, csrf) = signed_in(&app, "root", true).await;
    app.add_user("alice", "alice-pw", false).await;
    provision_from_ldap(&app, "carol").await;
    let created = admin
        .post(
            "/tokengate/admin/groups",
            &with_csrf(&csrf, &[("name", "api users"), ("members", "alice, root")]),
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
    let create = with_csrf(&csrf, &[("name", "leads"), ("members", "")]);
    assert_eq!(
        admin.post("/tokengate/admin/groups", &create).await.status,
        303
    );
    let members = "/tokengate/admin/groups/members";
    for (what, who) in [("add", "alice"), ("add", " bob "), ("remove", "alice")] {
        let answer = admin
            .post(
                members,
                &with_csrf(
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
        .post(delete, &with_csrf(&csrf, &[("group", "leads")]))
        .await;
    assert_eq!(asked.status, 200);
    assert!(asked.body.contains("id=\"confirm\""));
    assert!(asked.body.contains("name=\"group\" value=\"leads\""));
    assert!(local_group_members(&app, "leads").await.is_some(), "kept");
    let deleted = admin
        .post(
            delete,
            &with_csrf(&csrf, &[("group", "leads"), ("confirmed", "yes")]),
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
                &with_csrf(&csrf, &[("name", name), ("members", "root")]),
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
                &with_csrf(&csrf, &[("name", "<script>")])
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
                &with_csrf(&csrf, &[("name", "team"), ("members", members)]),
            )
            .await;
        assert_eq!(answer.status, 422, "{members}");
        assert!(answer.body.contains("There is no user named"), "{members}");
    }
    assert!(app.store.groups().await.unwrap().is_empty());
    let create = with_csrf(&csrf, &[("name", "team")]);
    assert_eq!(
        admin.post("/tokengate/admin/groups", &create).await.status,
        303
    );
    let again = admin.post("/tokengate/admin/groups", &create).await;
    assert_eq!(again.status, 409);
    assert!(again.body.contains("already exists"));
    let add_ghost = with_csrf(
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
            &with_csrf(
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
    provision_from_ldap(&app, "carol").await;
    let attempts = [
        (
            "/tokengate/admin/groups/members",
            with_csrf(
                &csrf,
                &[("group", "ldap-devs"), ("change", "add"), ("user", "root")],
            ),
        ),
        (
            "/tokengate/admin/groups/members",
            with_csrf(
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
            with_csrf(&csrf, &[("group", "ldap-devs"), ("confirmed", "yes")]),
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
            &with_csrf(&csrf, &[("name", "mine")]),
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
