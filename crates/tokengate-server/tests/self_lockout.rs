//! "An admin cannot lock themselves out" gives the same answer through the REST API and the
//! admin pages: removing one's own admin flag or disabling oneself is refused (409, nothing
//! stored, nothing audited); the same change to another admin goes through; harmless changes
//! to oneself go through. The CLI, as the local operator, is never refused (crates/tokengate).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api_support;
mod common;
mod ui_support;

use api_support::{Api, json_of};
use common::{TestApp, error_body};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokengate_core::model::User;
use ui_support::UiClient;

/// One variant of the rule: the REST body, the admin page's form change (`None`: the page has
/// no single form for it) and whether the acting admin's own account refuses it.
struct Variant {
    what: &'static str,
    body: Value,
    form: Option<&'static str>,
    refused_for_self: bool,
}

fn variants() -> Vec<Variant> {
    let variant = |what, body, form, refused_for_self| Variant {
        what,
        body,
        form,
        refused_for_self,
    };
    vec![
        variant(
            "demote",
            json!({"admin": false}),
            Some("remove_admin"),
            true,
        ),
        variant("disable", json!({"disabled": true}), Some("disable"), true),
        variant(
            "both at once",
            json!({"admin": false, "disabled": true}),
            None,
            true,
        ),
        variant(
            "disable with a harmless field",
            json!({"disabled": true, "display_name": "Root"}),
            None,
            true,
        ),
        variant(
            "make admin",
            json!({"admin": true}),
            Some("make_admin"),
            false,
        ),
        variant("enable", json!({"disabled": false}), Some("enable"), false),
    ]
}

/// How a user's account looks to the rule, to compare before and after.
fn flags(user: &User) -> (bool, bool, Option<String>) {
    (user.admin, user.disabled, user.password_hash.clone())
}

async fn account(app: &TestApp, name: &str) -> User {
    app.store.user(name).await.unwrap().unwrap()
}

/// The user's own name in spellings the router decodes to the same path segment.
fn own_paths(name: &str) -> Vec<String> {
    let first = name.as_bytes()[0];
    vec![name.to_owned(), format!("%{first:02X}{}", &name[1..])]
}

#[tokio::test]
async fn an_admin_cannot_lock_themselves_out_over_rest() {
    let api = Api::start().await;
    api.app.add_user("ops", "ops-password", true).await;
    let before = flags(&account(&api.app, "root").await);
    for variant in variants().into_iter().filter(|v| v.refused_for_self) {
        for path in own_paths("root") {
            let audited = api.audit_count().await;
            let answer = api
                .admin(
                    Method::PATCH,
                    &format!("/admin/users/{path}"),
                    Some(variant.body.clone()),
                )
                .await;
            error_body(answer, 409, "would_lock_out_caller").await;
            assert_eq!(flags(&account(&api.app, "root").await), before);
            assert_eq!(
                api.audit_count().await,
                audited,
                "{}: audited",
                variant.what
            );
        }
    }
    for variant in variants() {
        // With the password: through a token no admin is made, not even oneself.
        let own = api
            .with_password(
                "root",
                Method::PATCH,
                "/admin/users/root",
                Some(variant.body.clone()),
            )
            .await;
        let expected = if variant.refused_for_self {
            StatusCode::CONFLICT
        } else {
            StatusCode::OK
        };
        assert_eq!(own.status(), expected, "own account: {}", variant.what);
        let other = api
            .with_password(
                "root",
                Method::PATCH,
                "/admin/users/ops",
                Some(variant.body.clone()),
            )
            .await;
        json_of(other, StatusCode::OK).await;
    }
    let ops = account(&api.app, "ops").await;
    assert!(ops.admin && !ops.disabled, "the last variants restore ops");
    let me = api
        .admin(Method::GET, "/me", None)
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(me["user"]["admin"], true, "root is still an admin: {me}");
    assert_eq!(me["user"]["disabled"], false, "{me}");
}

#[tokio::test]
async fn an_admin_cannot_lock_themselves_out_on_the_admin_pages() {
    let app = TestApp::spawn().await;
    app.add_user("root", "root-password", true).await;
    app.add_user("ops", "ops-password", true).await;
    let root = UiClient::new(&app);
    let csrf = root.sign_in("root", "root-password").await;
    let before = flags(&account(&app, "root").await);
    let audited = audit_count(&app).await;
    for variant in variants().into_iter().filter(|v| v.refused_for_self) {
        let Some(change) = variant.form else { continue };
        for path in own_paths("root") {
            let fields = [("csrf", csrf.as_str()), ("change", change)];
            let answer = root
                .post(&format!("/tokengate/admin/users/{path}"), &fields)
                .await;
            assert_eq!(answer.status, 409, "{}: {}", variant.what, answer.body);
            assert!(
                answer.body.contains("cannot remove your own admin rights"),
                "{}",
                answer.body
            );
            assert_eq!(flags(&account(&app, "root").await), before);
        }
    }
    // The page sends one change per form; two at once is not a form it makes, and changes
    // nothing either.
    let both = [
        ("csrf", csrf.as_str()),
        ("change", "remove_admin"),
        ("change", "disable"),
    ];
    let answer = root.post("/tokengate/admin/users/root", &both).await;
    assert!(answer.status >= 400, "both at once: {}", answer.status);
    assert_eq!(flags(&account(&app, "root").await), before);
    assert_eq!(audit_count(&app).await, audited, "nothing audited");

    for variant in variants() {
        let Some(change) = variant.form else { continue };
        let fields = [("csrf", csrf.as_str()), ("change", change)];
        let own = root.post("/tokengate/admin/users/root", &fields).await;
        let expected = if variant.refused_for_self { 409 } else { 303 };
        assert_eq!(own.status, expected, "own account: {}", variant.what);
        let other = root.post("/tokengate/admin/users/ops", &fields).await;
        assert_eq!(other.status, 303, "ops: {}: {}", variant.what, other.body);
    }
    let ops = account(&app, "ops").await;
    assert!(ops.admin && !ops.disabled, "the last variants restore ops");
    assert_eq!(root.get("/tokengate/admin/users").await.status, 200);
}

async fn audit_count(app: &TestApp) -> usize {
    let filter = tokengate_core::model::AuditFilter {
        limit: 1000,
        ..Default::default()
    };
    app.store.audit(&filter).await.unwrap().len()
}
