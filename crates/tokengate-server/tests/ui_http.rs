//! The web UI over plain HTTP (no browser): security headers, cookie flags, sessions, CSRF and
//! cross-site refusals, 403 pages, and each form's effect on the store and the audit log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod ui_support;

use common::TestApp;
use tokengate_core::model::{AuditAction, AuditFilter, Settings, TokenFilter};
use tokengate_core::validity::MaxValidity;
use ui_support::{UiClient, signed_in, ui_app};

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'";

async fn tokens_of(app: &TestApp, owner: &str) -> Vec<tokengate_core::TokenRecord> {
    let filter = TokenFilter {
        owner: Some(owner.into()),
        limit: 1000,
        ..TokenFilter::default()
    };
    app.store.tokens(&filter).await.unwrap()
}

async fn last_audit(app: &TestApp) -> tokengate_core::model::AuditRecord {
    let filter = AuditFilter {
        limit: 1,
        ..AuditFilter::default()
    };
    app.store.audit(&filter).await.unwrap().remove(0)
}

#[tokio::test]
async fn every_ui_page_carries_the_security_headers() {
    let app = ui_app().await;
    let (admin, _) = signed_in(&app, "root", true).await;
    let anonymous = UiClient::new(&app);
    for page in [
        anonymous.get("/tokengate/").await,
        anonymous.get("/tokengate/login").await,
        anonymous.get("/tokengate/admin/users").await,
        admin.get("/tokengate/").await,
        admin.get("/tokengate/admin/settings").await,
        admin.get("/tokengate/admin/tokens").await,
        admin.get("/tokengate/admin/users").await,
        admin.get("/tokengate/admin/audit").await,
    ] {
        assert_eq!(page.header("content-security-policy"), CSP);
        assert_eq!(page.header("x-frame-options"), "DENY");
        assert_eq!(page.header("referrer-policy"), "same-origin");
        assert_eq!(page.header("x-content-type-options"), "nosniff");
        assert_eq!(page.header("cache-control"), "no-store");
        assert!(page.header("content-type").starts_with("text/html"));
        assert!(!page.body.contains("<script>"), "no inline script");
        assert!(!page.body.contains("style="), "no inline style");
    }
}

#[tokio::test]
async fn the_stylesheet_and_script_are_served_by_tokengate() {
    let app = ui_app().await;
    let client = UiClient::new(&app);
    let css = client.get("/tokengate/static/app.css").await;
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").starts_with("text/css"));
    assert_eq!(css.header("x-content-type-options"), "nosniff");
    let script = client.get("/tokengate/static/app.js").await;
    assert_eq!(script.status, 200);
    assert!(script.header("content-type").starts_with("text/javascript"));
}

#[tokio::test]
async fn tokengate_without_the_slash_leads_to_the_tokens_page() {
    let app = ui_app().await;
    let client = UiClient::new(&app);
    let answer = client.get("/tokengate").await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.location(), "/tokengate/");
    let page = client.get("/tokengate/").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("name=\"username\""));
    assert!(page.body.contains("name=\"password\""));
}

#[tokio::test]
async fn the_session_cookie_is_http_only_strict_and_scoped_to_tokengate() {
    let app = ui_app().await;
    app.add_user("alice", "alice-password", false).await;
    let client = UiClient::new(&app);
    let answer = client
        .post(
            "/tokengate/login",
            &[("username", "alice"), ("password", "alice-password")],
        )
        .await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.location(), "/tokengate/");
    let cookie = answer.header("set-cookie");
    assert!(cookie.starts_with("tokengate_session="), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/tokengate/"] {
        assert!(cookie.contains(flag), "{flag} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: no Secure flag");
}

fn session_id(page: &ui_support::Page) -> String {
    let cookie = page.header("set-cookie");
    let value = cookie.trim_start_matches("tokengate_session=");
    value[..value.find(';').unwrap()].to_owned()
}

#[tokio::test]
async fn signing_in_again_replaces_the_session_and_signing_out_ends_it() {
    let app = ui_app().await;
    app.add_user("alice", "alice-password", false).await;
    let login = [("username", "alice"), ("password", "alice-password")];
    let client = UiClient::new(&app);
    let first = session_id(&client.post("/tokengate/login", &login).await);
    let second = session_id(&client.post("/tokengate/login", &login).await);
    assert_ne!(first, second, "a new session id at every sign-in");
    let stale = app
        .client
        .get(app.url("/tokengate/"))
        .header("cookie", format!("tokengate_session={first}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(stale.contains("id=\"login\""), "the old session is gone");
    let csrf = client.get("/tokengate/").await.csrf();
    let without_token = client.post("/tokengate/logout", &[("csrf", "wrong")]).await;
    assert_eq!(without_token.status, 403);
    let out = client
        .post("/tokengate/logout", &[("csrf", csrf.as_str())])
        .await;
    assert_eq!(out.status, 303);
    assert!(out.header("set-cookie").contains("Max-Age=0"));
    let reused = app
        .client
        .get(app.url("/tokengate/"))
        .header("cookie", format!("tokengate_session={second}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(reused.contains("id=\"login\""), "signed out for good");
}

#[tokio::test]
async fn admin_pages_are_a_403_html_page_for_non_admins() {
    let app = ui_app().await;
    let (user, csrf) = signed_in(&app, "bob", false).await;
    let anonymous = UiClient::new(&app);
    for path in [
        "/tokengate/admin/settings",
        "/tokengate/admin/tokens",
        "/tokengate/admin/users",
        "/tokengate/admin/audit",
    ] {
        for page in [user.get(path).await, anonymous.get(path).await] {
            assert_eq!(page.status, 403, "{path}");
            assert!(page.header("content-type").starts_with("text/html"));
            assert!(page.body.contains("id=\"error-page\""));
        }
    }
    let post = user
        .post(
            "/tokengate/admin/settings",
            &[
                ("csrf", csrf.as_str()),
                ("max_validity", "6m"),
                ("ip_allowlist", ""),
                ("password_auth", "disabled"),
            ],
        )
        .await;
    assert_eq!(post.status, 403);
    assert_eq!(app.store.settings().await.unwrap(), Settings::default());
    let page = user.get("/tokengate/").await;
    assert!(!page.body.contains("/tokengate/admin/"), "no admin links");
}

#[tokio::test]
async fn a_form_post_without_the_sessions_csrf_token_changes_nothing() {
    let app = ui_app().await;
    let (client, _) = signed_in(&app, "alice", false).await;
    for fields in [
        vec![("name", "no token")],
        vec![
            ("name", "wrong token"),
            ("csrf", "0123456789abcdef0123456789abcdef"),
        ],
    ] {
        let answer = client.post("/tokengate/tokens", &fields).await;
        assert_eq!(answer.status, 403);
        assert!(
            answer
                .body
                .contains("expired or did not come from tokengate")
        );
    }
    assert!(tokens_of(&app, "alice").await.is_empty());
}

#[tokio::test]
async fn a_cross_site_form_post_is_refused_even_with_the_right_token() {
    let app = ui_app().await;
    let (client, csrf) = signed_in(&app, "alice", false).await;
    let fields = [("csrf", csrf.as_str()), ("name", "forged")];
    let foreign = client
        .post_from("/tokengate/tokens", &fields, "http://evil.example")
        .await;
    assert_eq!(foreign.status, 403);
    assert!(foreign.body.contains("came from another site"));
    let opaque = client.post_from("/tokengate/tokens", &fields, "null").await;
    assert_eq!(opaque.status, 403);
    let fetched = client
        .client
        .post(app.url("/tokengate/tokens"))
        .header("sec-fetch-site", "cross-site")
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.status(), 403);
    let login = client
        .post_from(
            "/tokengate/login",
            &[("username", "alice"), ("password", "alice-password")],
            "http://evil.example",
        )
        .await;
    assert_eq!(login.status, 403, "login CSRF is refused too");
    assert!(tokens_of(&app, "alice").await.is_empty());
}

#[tokio::test]
async fn a_new_secret_is_shown_once_and_works_and_the_audit_names_actor_address_and_request() {
    let app = ui_app().await;
    let (client, csrf) = signed_in(&app, "alice", false).await;
    let created = client
        .post(
            "/tokengate/tokens",
            &[
                ("csrf", csrf.as_str()),
                ("name", "laptop"),
                ("validity", "6m"),
            ],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(created.header("cache-control"), "no-store");
    let secret = created.new_secret().expect("the secret box");
    assert!(secret.starts_with("tg_"));
    let whoami = app.get_bearer("/tokengate/whoami", &secret).await;
    assert_eq!(whoami.status(), 200);
    let again = client.get("/tokengate/").await;
    assert!(again.new_secret().is_none());
    assert!(!again.body.contains(&secret));
    assert!(again.body.contains("laptop"));
    let record = last_audit(&app).await;
    assert_eq!(record.action, AuditAction::TokenCreated);
    assert_eq!(record.actor, "alice");
    assert_eq!(record.ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(
        record.request_id.as_deref(),
        Some(created.header("x-request-id"))
    );
}

#[tokio::test]
async fn the_validity_list_follows_the_maximum_and_a_longer_one_is_refused() {
    let app = ui_app().await;
    app.save_settings(&Settings {
        max_validity: MaxValidity::SixMonths,
        ..Settings::default()
    })
    .await;
    app.sync().await;
    let (client, csrf) = signed_in(&app, "alice", false).await;
    let page = client.get("/tokengate/").await;
    assert!(page.body.contains("<option value=\"6m\""));
    for longer in ["\"1y\"", "\"2y\"", "\"never\""] {
        assert!(!page.body.contains(&format!("<option value={longer}")));
    }
    for (validity, expires_on) in [("never", ""), ("6m", "2999-01-01")] {
        let refused = client
            .post(
                "/tokengate/tokens",
                &[
                    ("csrf", csrf.as_str()),
                    ("name", "too long"),
                    ("validity", validity),
                    ("expires_on", expires_on),
                ],
            )
            .await;
        assert_eq!(refused.status, 422);
        assert!(refused.body.contains("exceeds the maximum"));
        assert!(refused.body.contains("value=\"too long\""), "form kept");
    }
    assert!(tokens_of(&app, "alice").await.is_empty());
}

#[tokio::test]
async fn deleting_without_script_asks_first_then_deletes_and_revokes_at_once() {
    let app = ui_app().await;
    let (client, csrf) = signed_in(&app, "alice", false).await;
    let (id, secret) = app.add_token("alice").await;
    assert_eq!(
        app.get_bearer("/tokengate/whoami", &secret).await.status(),
        200
    );
    let path = format!("/tokengate/tokens/{id}/delete");
    let ask = client.post(&path, &[("csrf", csrf.as_str())]).await;
    assert_eq!(ask.status, 200);
    assert!(ask.body.contains("id=\"confirm\""));
    assert_eq!(tokens_of(&app, "alice").await.len(), 1);
    let done = client
        .post(&path, &[("csrf", csrf.as_str()), ("confirmed", "yes")])
        .await;
    assert_eq!(done.status, 303);
    assert!(tokens_of(&app, "alice").await.is_empty());
    assert_eq!(
        app.get_bearer("/tokengate/whoami", &secret).await.status(),
        401
    );
    assert_eq!(last_audit(&app).await.action, AuditAction::TokenDeleted);
}

#[tokio::test]
async fn someone_elses_token_cannot_be_renamed_or_deleted() {
    let app = ui_app().await;
    app.add_user("owner", "owner-password", false).await;
    let (id, _) = app.add_token("owner").await;
    let (client, csrf) = signed_in(&app, "mallory", false).await;
    let rename = client
        .post(
            &format!("/tokengate/tokens/{id}/rename"),
            &[("csrf", csrf.as_str()), ("name", "mine now")],
        )
        .await;
    assert_eq!(rename.status, 404);
    let delete = client
        .post(
            &format!("/tokengate/tokens/{id}/delete"),
            &[("csrf", csrf.as_str()), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(delete.status, 404);
    assert_eq!(tokens_of(&app, "owner").await[0].name, "test token");
}

#[tokio::test]
async fn rename_and_delete_all_change_only_the_users_own_tokens() {
    let app = ui_app().await;
    let (client, csrf) = signed_in(&app, "alice", false).await;
    app.add_user("bob", "bob-password", false).await;
    let (id, _) = app.add_token("alice").await;
    app.add_token("alice").await;
    app.add_token("bob").await;
    let renamed = client
        .post(
            &format!("/tokengate/tokens/{id}/rename"),
            &[("csrf", csrf.as_str()), ("name", "renamed <b>")],
        )
        .await;
    assert_eq!(renamed.status, 303);
    let page = client.get("/tokengate/").await;
    assert!(page.body.contains("renamed &#60;b&#62;"), "escaped");
    assert!(!page.body.contains("renamed <b>"));
    let bad = client
        .post(
            &format!("/tokengate/tokens/{id}/rename"),
            &[("csrf", csrf.as_str()), ("name", "   ")],
        )
        .await;
    assert_eq!(bad.status, 422);
    let all = client
        .post(
            "/tokengate/tokens/delete-all",
            &[("csrf", csrf.as_str()), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(all.status, 303);
    assert!(tokens_of(&app, "alice").await.is_empty());
    assert_eq!(tokens_of(&app, "bob").await.len(), 1);
}
