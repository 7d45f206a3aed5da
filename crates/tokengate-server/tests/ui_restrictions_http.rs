//! The web UI's token restrictions and rotation over plain HTTP: restrictions chosen in the
//! create form and shown in short in both token lists, bad entries named with nothing created,
//! the restrictions page of the owner and of an admin, rotation with a grace period. Each form
//! needs the CSRF token and the same origin; another user's token id answers 404; nothing
//! changes on a refusal; no secret appears except in the one-time display.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod ui_support;

use common::TestApp;
use tokengate_core::TokenRecord;
use tokengate_core::model::{AuditAction, TokenFilter};
use tokengate_core::restrictions::{Access, Restrictions};
use ui_support::{UiClient, audited, signed_in, ui_app, with_csrf};

async fn tokens_of(app: &TestApp, owner: &str) -> Vec<TokenRecord> {
    let filter = TokenFilter {
        owner: Some(owner.into()),
        limit: 1000,
        ..TokenFilter::default()
    };
    app.store.tokens(&filter).await.unwrap()
}

async fn token(app: &TestApp, id: &str) -> TokenRecord {
    app.store.token(id).await.unwrap().unwrap()
}

/// Whether a list hint (`tg_…` and the last four characters) is that of `secret`.
fn hint_of(hint: &str, secret: &str) -> bool {
    hint.ends_with(&secret[secret.len() - 4..])
}

/// The fields of the create form with restrictions.
fn create_fields<'a>(csrf: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    with_csrf(csrf, &[("name", "ci reader"), ("validity", "6m")])
        .into_iter()
        .chain(extra.iter().copied())
        .collect()
}

#[tokio::test]
async fn a_token_made_with_restrictions_in_the_form_is_listed_with_them_in_short() {
    let app = ui_app().await;
    let (alice, csrf) = signed_in(&app, "alice", false).await;
    let form = alice.get("/tokengate/").await;
    for field in [
        "name=\"read_only\"",
        "name=\"paths\"",
        "name=\"routes\" value=\"tokengate\"",
        "name=\"addresses\"",
    ] {
        assert!(form.body.contains(field), "{field} on the create form");
    }
    let fields = create_fields(
        &csrf,
        &[
            ("read_only", "yes"),
            ("paths", "/api/\r\n\r\n"),
            ("routes", "tokengate"),
            ("addresses", " 10.0.0.0/8 "),
        ],
    );
    let created = alice.post("/tokengate/tokens", &fields).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let secret = created.new_secret().expect("the secret, once");
    let stored = tokens_of(&app, "alice").await.remove(0);
    assert_eq!(stored.restrictions.access, Access::Read);
    assert_eq!(stored.restrictions.paths, ["/api/"]);
    assert_eq!(stored.restrictions.routes, ["tokengate"]);
    assert_eq!(
        stored.restrictions.ip_allowlist.to_strings(),
        ["10.0.0.0/8"]
    );
    let summary = "read only · /api/ · route tokengate · from 10.0.0.0/8";
    assert!(created.body.contains(summary), "listed at once");
    app.add_token("alice").await;
    let page = alice.get("/tokengate/").await;
    assert!(page.body.contains(summary));
    assert!(page.body.contains("full access"), "the unrestricted token");
    assert!(!page.body.contains(&secret), "shown once");
    let (root, _) = signed_in(&app, "root", true).await;
    let manager = root.get("/tokengate/admin/tokens").await;
    assert!(manager.body.contains(summary), "on the admin page too");
    assert!(manager.body.contains("full access"));
    assert!(!manager.body.contains(&secret));
    let created = audited(&app, AuditAction::TokenCreated).await;
    assert_eq!(created.len(), 2);
    assert!(!created[1].details.to_string().contains(&secret));
}

#[tokio::test]
async fn each_bad_restriction_entry_is_named_and_nothing_is_created() {
    let app = ui_app().await;
    let (alice, csrf) = signed_in(&app, "alice", false).await;
    for (field, value, named) in [
        ("paths", "/ok\napi/v1", "api/v1"),
        ("paths", "/rest/../admin", "/rest/../admin"),
        ("paths", "/rest%2fadmin", "/rest%2fadmin"),
        ("paths", "/rest/%2e%2e/admin", "/rest/%2e%2e/admin"),
        ("paths", "/with space", "/with space"),
        ("routes", "Jira!", "Jira!"),
        ("routes", "a/b", "a/b"),
        ("addresses", "10.0.0.0/8\n10.0.0.999", "10.0.0.999"),
        ("addresses", "10.0.0.0/33", "10.0.0.0/33"),
        ("addresses", "localhost", "localhost"),
        ("addresses", "<b>x</b>", "&#60;b&#62;x&#60;/b&#62;"),
    ] {
        let fields = create_fields(&csrf, &[(field, value), ("read_only", "yes")]);
        let refused = alice.post("/tokengate/tokens", &fields).await;
        assert_eq!(refused.status, 422, "{field}={value}");
        assert!(refused.body.contains("id=\"form-error\""));
        assert!(refused.body.contains(named), "{field}={value} named");
        assert!(refused.new_secret().is_none());
        assert!(refused.body.contains("value=\"ci reader\""), "name kept");
        assert!(
            refused
                .body
                .contains("name=\"read_only\" value=\"yes\" checked"),
            "choices kept"
        );
        assert!(!refused.body.contains("<b>x</b>"), "escaped");
    }
    assert!(tokens_of(&app, "alice").await.is_empty());
    assert!(audited(&app, AuditAction::TokenCreated).await.is_empty());
}

#[tokio::test]
async fn the_owner_changes_and_clears_a_tokens_restrictions_on_its_page() {
    let app = ui_app().await;
    let (alice, csrf) = signed_in(&app, "alice", false).await;
    let (id, secret) = app.add_token("alice").await;
    let path = format!("/tokengate/tokens/{id}/restrictions");
    let page = alice.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"token-restrictions\""));
    assert!(!page.body.contains(&secret));
    let fields = with_csrf(
        &csrf,
        &[
            ("read_only", "yes"),
            ("paths", "/rest/api/\n/status"),
            ("addresses", "192.168.1.10-192.168.1.50"),
        ],
    );
    let saved = alice.post(&path, &fields).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert_eq!(saved.location(), "/tokengate/?done=restricted");
    let stored = token(&app, &id).await.restrictions;
    assert_eq!(stored.access, Access::Read);
    assert_eq!(stored.paths, ["/rest/api/", "/status"]);
    let list = alice.get("/tokengate/?done=restricted").await;
    assert!(
        list.body
            .contains("read only · /rest/api/, /status · from 192.168.1.10-192.168.1.50")
    );
    let again = alice.get(&path).await;
    assert!(
        again.body.contains("/rest/api/\n/status</textarea>"),
        "prefilled"
    );
    let records = audited(&app, AuditAction::TokenRestricted).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].actor, "alice");
    assert_eq!(records[0].token_id.as_deref(), Some(id.as_str()));
    assert_eq!(records[0].details["new"]["access"], "read");
    let cleared = alice.post(&path, &with_csrf(&csrf, &[])).await;
    assert_eq!(cleared.status, 303);
    assert!(token(&app, &id).await.restrictions.is_unrestricted());
    let hint = token(&app, &id).await.hint;
    assert!(hint_of(&hint, &secret), "the secret is unchanged");
    let works = app.get_bearer("/tokengate/whoami", &secret).await;
    assert_eq!(works.status(), 200);
}

#[tokio::test]
async fn changing_restrictions_needs_the_form_checks_and_ones_own_token() {
    let app = ui_app().await;
    let (alice, csrf) = signed_in(&app, "alice", false).await;
    app.add_user("bob", "bob-password", false).await;
    let (bob_id, bob_secret) = app.add_token("bob").await;
    let (own_id, _) = app.add_token("alice").await;
    let bobs = format!("/tokengate/tokens/{bob_id}/restrictions");
    let read_only = with_csrf(&csrf, &[("read_only", "yes")]);
    assert_eq!(alice.get(&bobs).await.status, 404);
    let stolen = alice.post(&bobs, &read_only).await;
    assert_eq!(stolen.status, 404);
    assert!(!stolen.body.contains(&bob_secret));
    let admin_door = format!("/tokengate/admin/tokens/{bob_id}/restrictions");
    assert_eq!(alice.get(&admin_door).await.status, 403);
    assert_eq!(alice.post(&admin_door, &read_only).await.status, 403);
    assert_eq!(
        alice
            .post("/tokengate/tokens/no-such-id/restrictions", &read_only)
            .await
            .status,
        404
    );
    let own = format!("/tokengate/tokens/{own_id}/restrictions");
    let no_csrf = alice.post(&own, &[("read_only", "yes")]).await;
    assert_eq!(no_csrf.status, 403);
    let wrong = with_csrf("not-the-token", &[("read_only", "yes")]);
    assert_eq!(alice.post(&own, &wrong).await.status, 403);
    let cross = alice
        .post_from(&own, &read_only, "https://evil.example")
        .await;
    assert_eq!(cross.status, 403);
    let signed_out = UiClient::new(&app);
    assert_eq!(signed_out.post(&own, &read_only).await.status, 403);
    assert_eq!(signed_out.get(&own).await.status, 403);
    let bad = with_csrf(&csrf, &[("read_only", "yes"), ("paths", "no-slash")]);
    let refused = alice.post(&own, &bad).await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("id=\"restrictions-error\""));
    assert!(refused.body.contains("no-slash"));
    for id in [&bob_id, &own_id] {
        assert!(token(&app, id).await.restrictions.is_unrestricted());
    }
    assert!(audited(&app, AuditAction::TokenRestricted).await.is_empty());
}

#[tokio::test]
async fn an_admin_changes_any_tokens_restrictions_from_the_token_manager() {
    let app = ui_app().await;
    let (root, csrf) = signed_in(&app, "root", true).await;
    app.add_user("alice", "alice-password", false).await;
    let restrictions = Restrictions {
        routes: vec!["old-route".into()],
        ..Restrictions::default()
    };
    let (id, _) = app.add_restricted_token("alice", &restrictions).await;
    let manager = root.get("/tokengate/admin/tokens").await;
    let link = format!("/tokengate/admin/tokens/{id}/restrictions");
    assert!(manager.body.contains(&link));
    assert!(manager.body.contains("route old-route"));
    let page = root.get(&link).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("name=\"routes\" value=\"old-route\" checked"),
        "a route the configuration does not name is kept"
    );
    let fields = with_csrf(
        &csrf,
        &[
            ("routes", "old-route"),
            ("routes", "tokengate"),
            ("paths", "/x"),
        ],
    );
    let saved = root.post(&link, &fields).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert_eq!(saved.location(), "/tokengate/admin/tokens?done=restricted");
    let stored = token(&app, &id).await.restrictions;
    assert_eq!(stored.routes, ["old-route", "tokengate"]);
    assert_eq!(stored.paths, ["/x"]);
    let records = audited(&app, AuditAction::TokenRestricted).await;
    assert_eq!(records[0].actor, "root");
    assert_eq!(records[0].user.as_deref(), Some("alice"));
    assert_eq!(
        root.get("/tokengate/admin/tokens/nope/restrictions")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn rotating_shows_the_new_secret_once_and_the_old_one_works_for_the_grace() {
    let app = ui_app().await;
    let (alice, csrf) = signed_in(&app, "alice", false).await;
    let restrictions = Restrictions {
        paths: vec!["/tokengate/whoami".into()],
        ..Restrictions::default()
    };
    let (id, old) = app.add_restricted_token("alice", &restrictions).await;
    let page = alice.get("/tokengate/").await;
    assert!(
        page.body
            .contains(&format!("/tokengate/tokens/{id}/rotate"))
    );
    for grace in ["0", "10m", "1h", "24h", "7d"] {
        assert!(page.body.contains(&format!("<option value=\"{grace}\"")));
    }
    let rotate = format!("/tokengate/tokens/{id}/rotate");
    let rotated = alice
        .post(&rotate, &with_csrf(&csrf, &[("grace", "1h")]))
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let new = rotated.new_secret().expect("the new secret, once");
    assert_ne!(new, old);
    assert!(rotated.body.contains("New secret for “test token”"));
    assert!(rotated.body.contains("The old secret keeps working until"));
    for secret in [&new, &old] {
        let answer = app.get_bearer("/tokengate/whoami", secret).await;
        assert_eq!(answer.status(), 200, "within the grace");
    }
    let stored = token(&app, &id).await;
    assert_eq!(stored.restrictions, restrictions, "restrictions kept");
    assert!(hint_of(&stored.hint, &new));
    let records = audited(&app, AuditAction::TokenRotated).await;
    assert_eq!(records.len(), 1);
    assert!(!records[0].details.to_string().contains(&new));
    let later = alice.get("/tokengate/").await;
    assert!(!later.body.contains(&new) && !later.body.contains(&old));
    let rotated_at = stored.rotated_at.expect("rotated_at stored");
    let line = format!("rotated {}", rotated_at.format("%Y-%m-%d %H:%M UTC"));
    assert!(later.body.contains(&line), "the list says when");
    let (admin, _) = signed_in(&app, "root", true).await;
    assert!(
        admin
            .get("/tokengate/admin/tokens")
            .await
            .body
            .contains(&line)
    );
    let now = alice
        .post(&rotate, &with_csrf(&csrf, &[("grace", "0")]))
        .await;
    let newest = now.new_secret().unwrap();
    assert!(now.body.contains("The old secret stopped working."));
    assert_eq!(
        app.get_bearer("/tokengate/whoami", &new).await.status(),
        401
    );
    assert_eq!(
        app.get_bearer("/tokengate/whoami", &newest).await.status(),
        200
    );
    assert_eq!(tokens_of(&app, "alice").await.len(), 1, "same token");
}

#[tokio::test]
async fn rotation_refuses_other_users_tokens_odd_graces_and_forged_posts() {
    let app = ui_app().await;
    let (alice, csrf) = signed_in(&app, "alice", false).await;
    app.add_user("bob", "bob-password", false).await;
    let (bob_id, bob_secret) = app.add_token("bob").await;
    let (own_id, own_secret) = app.add_token("alice").await;
    let bobs = format!("/tokengate/tokens/{bob_id}/rotate");
    let stolen = alice
        .post(&bobs, &with_csrf(&csrf, &[("grace", "7d")]))
        .await;
    assert_eq!(stolen.status, 404);
    assert!(stolen.new_secret().is_none());
    let own = format!("/tokengate/tokens/{own_id}/rotate");
    for grace in ["2h", "8d", "-1m", "", "7d ; drop", "1e9"] {
        let refused = alice
            .post(&own, &with_csrf(&csrf, &[("grace", grace)]))
            .await;
        assert_eq!(refused.status, 400, "grace {grace:?}");
        assert!(refused.new_secret().is_none());
    }
    assert_eq!(alice.post(&own, &[("grace", "1h")]).await.status, 403);
    let cross = alice
        .post_from(&own, &with_csrf(&csrf, &[("grace", "1h")]), "null")
        .await;
    assert_eq!(cross.status, 403);
    let signed_out = UiClient::new(&app);
    let anonymous = signed_out.post(&own, &[("grace", "1h")]).await;
    assert_eq!(anonymous.status, 403);
    for secret in [&bob_secret, &own_secret] {
        assert_eq!(
            app.get_bearer("/tokengate/whoami", secret).await.status(),
            200
        );
    }
    assert!(hint_of(&token(&app, &own_id).await.hint, &own_secret));
    assert!(hint_of(&token(&app, &bob_id).await.hint, &bob_secret));
    assert!(audited(&app, AuditAction::TokenRotated).await.is_empty());
}
