//! The token manager's "revoke tokens created before" button over plain HTTP (it asks first,
//! naming how many tokens of whom, and deletes only on a confirmation that carries that same
//! count), and the e-mail form of the tokens page (local users set their own; a directory
//! user's is shown read-only and cannot be changed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod ui_support;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use common::TestApp;
use tokengate_core::model::{AuditAction, TokenFilter};
use ui_support::{
    UiClient, audited, hidden_value, provision_from_ldap, signed_in, ui_app, with_csrf,
};

const REVOKE: &str = "/tokengate/admin/tokens/revoke-before";

async fn count(app: &TestApp, owner: Option<&str>) -> usize {
    let filter = TokenFilter {
        owner: owner.map(str::to_owned),
        limit: 1000,
        ..TokenFilter::default()
    };
    app.store.tokens(&filter).await.unwrap().len()
}

fn rfc3339(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Tokens of alice (2) and bob (1) made before the returned instant, and one of alice after.
async fn tokens_around_a_cut(app: &TestApp) -> DateTime<Utc> {
    app.add_user("alice", "alice-password", false).await;
    app.add_user("bob", "bob-password", false).await;
    app.add_token("alice").await;
    app.add_token("alice").await;
    app.add_token("bob").await;
    // Times are stored to the millisecond: a clear millisecond on each side of the cut.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let cut = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    app.add_token("alice").await;
    cut
}

#[tokio::test]
async fn revoking_before_a_time_asks_with_the_count_and_deletes_only_when_confirmed() {
    let app = ui_app().await;
    let (root, csrf) = signed_in(&app, "root", true).await;
    let cut = rfc3339(tokens_around_a_cut(&app).await);
    let manager = root.get("/tokengate/admin/tokens").await;
    assert!(manager.body.contains("id=\"revoke-before\""));
    let asked = root
        .post(REVOKE, &with_csrf(&csrf, &[("before", &cut), ("user", "")]))
        .await;
    assert_eq!(asked.status, 200, "{}", asked.body);
    assert!(
        asked
            .body
            .contains("Revoke 3 tokens of 2 users (alice, bob)"),
        "{}",
        asked.body
    );
    assert_eq!(hidden_value(&asked.body, "expected").as_deref(), Some("3"));
    assert!(
        asked.body.contains("href=\"/tokengate/admin/tokens\""),
        "cancel"
    );
    assert_eq!(count(&app, None).await, 4, "asking deleted nothing");
    let missing = with_csrf(&csrf, &[("before", &cut), ("confirmed", "yes")]);
    let again = root.post(REVOKE, &missing).await;
    assert_eq!(again.status, 200);
    assert!(again.body.contains("id=\"confirm\""));
    let stale = with_csrf(
        &csrf,
        &[("before", &cut), ("confirmed", "yes"), ("expected", "2")],
    );
    let changed = root.post(REVOKE, &stale).await;
    assert!(changed.body.contains("The number of tokens changed"));
    assert_eq!(
        count(&app, None).await,
        4,
        "a stale confirmation deleted nothing"
    );
    let confirmed = with_csrf(
        &csrf,
        &[("before", &cut), ("confirmed", "yes"), ("expected", "3")],
    );
    let done = root.post(REVOKE, &confirmed).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.location(),
        "/tokengate/admin/tokens?done=revoked_before&count=3"
    );
    assert_eq!(count(&app, Some("alice")).await, 1, "the later token stays");
    assert_eq!(count(&app, Some("bob")).await, 0);
    let shown = root.get(done.location()).await;
    assert!(shown.body.contains("3 token(s) created before"));
    let records = audited(&app, AuditAction::TokenRevokedBefore).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].actor, "root");
    let replayed = root.post(REVOKE, &confirmed).await;
    assert_eq!(replayed.status, 422, "nothing left to revoke");
    assert_eq!(count(&app, None).await, 1);
}

#[tokio::test]
async fn revoking_before_for_one_user_names_them_and_leaves_everyone_else() {
    let app = ui_app().await;
    let (root, csrf) = signed_in(&app, "root", true).await;
    let cut = rfc3339(tokens_around_a_cut(&app).await);
    let asked = root
        .post(
            REVOKE,
            &with_csrf(&csrf, &[("before", &cut), ("user", " bob ")]),
        )
        .await;
    assert!(
        asked.body.contains("Revoke 1 token of bob"),
        "{}",
        asked.body
    );
    assert_eq!(hidden_value(&asked.body, "user").as_deref(), Some("bob"));
    let confirmed = with_csrf(
        &csrf,
        &[
            ("before", &cut),
            ("user", "bob"),
            ("confirmed", "yes"),
            ("expected", "1"),
        ],
    );
    assert_eq!(root.post(REVOKE, &confirmed).await.status, 303);
    assert_eq!(count(&app, Some("bob")).await, 0);
    assert_eq!(count(&app, Some("alice")).await, 3);
}

#[tokio::test]
async fn revoking_before_refuses_bad_input_non_admins_and_forged_posts() {
    let app = ui_app().await;
    let (root, csrf) = signed_in(&app, "root", true).await;
    let cut = tokens_around_a_cut(&app).await;
    let future = (Utc::now() + TimeDelta::minutes(5))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let early = rfc3339(cut - TimeDelta::days(1));
    let cut = rfc3339(cut);
    for (before, user, named) in [
        (future.as_str(), "", "future"),
        ("yesterday", "", "yesterday"),
        ("", "", "Give the time"),
        ("2026-02-30T10:00", "", "2026-02-30T10:00"),
        (cut.as_str(), "nobody", "no user named"),
        (early.as_str(), "", "nothing to revoke"),
    ] {
        let fields = with_csrf(
            &csrf,
            &[
                ("before", before),
                ("user", user),
                ("confirmed", "yes"),
                ("expected", "3"),
            ],
        );
        let refused = root.post(REVOKE, &fields).await;
        assert_eq!(refused.status, 422, "{before} {user}");
        assert!(refused.body.contains("id=\"revoke-before-error\""));
        assert!(refused.body.contains(named), "{before}: {named}");
    }
    let alice = UiClient::new(&app);
    let alice_csrf = alice.sign_in("alice", "alice-password").await;
    let confirmed = |csrf: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("before", cut.clone()),
            ("confirmed", "yes".to_owned()),
            ("expected", "3".to_owned()),
        ]
    };
    assert_eq!(
        alice.post(REVOKE, &confirmed(&alice_csrf)).await.status,
        403
    );
    assert_eq!(root.post(REVOKE, &confirmed("wrong")).await.status, 403);
    assert_eq!(root.post(REVOKE, &confirmed("")[1..]).await.status, 403);
    let cross = root
        .post_from(REVOKE, &confirmed(&csrf), "https://evil.example")
        .await;
    assert_eq!(cross.status, 403);
    let anonymous = UiClient::new(&app);
    assert_eq!(anonymous.post(REVOKE, &confirmed(&csrf)).await.status, 403);
    assert_eq!(count(&app, None).await, 4);
    assert!(
        audited(&app, AuditAction::TokenRevokedBefore)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_local_user_sets_and_clears_their_email_on_the_tokens_page() {
    let app = ui_app().await;
    let (alice, csrf) = signed_in(&app, "alice", false).await;
    let page = alice.get("/tokengate/").await;
    assert!(page.body.contains("id=\"own-email\""));
    let saved = alice
        .post(
            "/tokengate/account/email",
            &with_csrf(&csrf, &[("email", " alice@example.com ")]),
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert_eq!(saved.location(), "/tokengate/?done=email");
    let email = || async { app.store.user("alice").await.unwrap().unwrap().email };
    assert_eq!(email().await.as_deref(), Some("alice@example.com"));
    let shown = alice.get("/tokengate/?done=email").await;
    assert!(shown.body.contains("value=\"alice@example.com\""));
    let records = audited(&app, AuditAction::UserUpdated).await;
    assert_eq!(records[0].actor, "alice");
    assert_eq!(records[0].user.as_deref(), Some("alice"));
    for bad in ["alice", "a b@example.com", "@example.com", "x@y@z"] {
        let refused = alice
            .post(
                "/tokengate/account/email",
                &with_csrf(&csrf, &[("email", bad)]),
            )
            .await;
        assert_eq!(refused.status, 422, "{bad}");
        assert!(refused.body.contains("id=\"email-error\""));
        assert!(refused.body.contains(&format!("value=\"{bad}\"")), "kept");
    }
    let forged = alice
        .post("/tokengate/account/email", &[("email", "evil@example.com")])
        .await;
    assert_eq!(forged.status, 403);
    let cross = alice
        .post_from(
            "/tokengate/account/email",
            &with_csrf(&csrf, &[("email", "evil@example.com")]),
            "https://evil.example",
        )
        .await;
    assert_eq!(cross.status, 403);
    assert_eq!(email().await.as_deref(), Some("alice@example.com"));
    assert_eq!(audited(&app, AuditAction::UserUpdated).await.len(), 1);
    let cleared = alice
        .post(
            "/tokengate/account/email",
            &with_csrf(&csrf, &[("email", "")]),
        )
        .await;
    assert_eq!(cleared.status, 303);
    assert_eq!(email().await, None);
}

/// A signed-in browser of a directory user (who has no password here): a session started the
/// way sign-in starts one.
async fn directory_browser(app: &TestApp, name: &str) -> UiClient {
    provision_from_ldap(app, name).await;
    let user = app.store.user(name).await.unwrap().unwrap();
    let cookies = tokengate_server::session::start(common::state(app), &user, Utc::now())
        .await
        .unwrap();
    let cookie = cookies[0].to_str().unwrap().split(';').next().unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("cookie", cookie.parse().unwrap());
    let client = reqwest::Client::builder()
        .no_proxy()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    UiClient {
        client,
        base: app.base.clone(),
    }
}

#[tokio::test]
async fn a_directory_users_email_is_shown_read_only_and_cannot_be_changed() {
    let app = ui_app().await;
    let dora = directory_browser(&app, "dora").await;
    let page = dora.get("/tokengate/").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("id=\"own-email\""), "no form");
    assert!(page.body.contains("dora@example.com"));
    assert!(page.body.contains("comes from the ldap directory"));
    let csrf = page.csrf();
    let refused = dora
        .post(
            "/tokengate/account/email",
            &with_csrf(&csrf, &[("email", "mine@example.com")]),
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("comes from the ldap directory"));
    let stored = app.store.user("dora").await.unwrap().unwrap().email;
    assert_eq!(stored.as_deref(), Some("dora@example.com"));
}
