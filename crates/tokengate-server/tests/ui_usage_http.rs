//! The usage pages and the settings page's "Try these settings" over plain HTTP: who may see
//! what, the dry-run report above the unsaved form, CSRF and cross-site posts refused, and
//! hostile token names escaped in the charts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod ui_support;

use chrono::Utc;
use common::TestApp;
use tokengate_core::Via;
use tokengate_core::model::{AuditAction, AuditFilter};
use tokengate_core::usage::UsageRow;
use ui_support::{UiClient, signed_in, ui_app};

fn used(user: &str, token: Option<&str>, address: &str, via: Via, count: u64) -> UsageRow {
    UsageRow {
        day: Utc::now().date_naive(),
        user: user.into(),
        token_id: token.map(str::to_owned),
        address: address.parse().unwrap(),
        via,
        route: Some("default".into()),
        count,
    }
}

fn try_form<'a>(csrf: &'a str, allowlist: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("max_validity", "never"),
        ("ip_allowlist", allowlist),
        ("password_auth", "disabled"),
        ("use_tokens", "*"),
        ("intent", "try"),
    ]
}

async fn settings_changes(app: &TestApp) -> usize {
    let filter = AuditFilter {
        action: Some(AuditAction::SettingsChanged),
        limit: 100,
        ..AuditFilter::default()
    };
    app.store.audit(&filter).await.unwrap().len()
}

#[tokio::test]
async fn trying_settings_shows_who_they_would_refuse_above_the_unsaved_form() {
    let app = ui_app().await;
    let (admin, csrf) = signed_in(&app, "root", true).await;
    app.add_user("bob", "bob-password", false).await;
    app.add_user("alice", "alice-password", false).await;
    let (alice_token, _) = app.add_token("alice").await;
    let rows = [
        used("alice", Some(&alice_token), "10.0.0.5", Via::Token, 9),
        used("alice", Some(&alice_token), "198.51.100.7", Via::Token, 2),
        used("bob", None, "10.0.0.6", Via::Password, 4),
    ];
    app.store.add_usage(&rows).await.unwrap();
    let before = app.store.settings().await.unwrap();
    let page = admin
        .post("/tokengate/admin/settings", &try_form(&csrf, "10.0.0.0/8"))
        .await;
    assert_eq!(page.status, 200);
    let report = page.body.find("id=\"dry-run\"").expect("the report");
    let form = page.body.find("id=\"settings\"").expect("the form");
    assert!(report < form, "the report comes above the form");
    assert!(
        page.body.contains("6 of the 15 request(s)"),
        "{}",
        page.body
    );
    for shown in [
        "198.51.100.7",
        "ip_not_allowed",
        "password_auth_disabled",
        "10.0.0.6",
    ] {
        assert!(page.body.contains(shown), "{shown}");
    }
    assert!(!page.body.contains("id=\"dry-run-lockout\""));
    assert!(
        page.body.contains(">10.0.0.0/8</textarea>"),
        "the form as submitted"
    );
    assert_eq!(app.store.settings().await.unwrap(), before, "nothing saved");
    assert_eq!(settings_changes(&app).await, 0);

    // The admin's own recorded address left out: the lock-out warning, the admin first.
    app.store
        .add_usage(&[used("root", None, "203.0.113.9", Via::Password, 1)])
        .await
        .unwrap();
    let page = admin
        .post("/tokengate/admin/settings", &try_form(&csrf, "10.0.0.0/8"))
        .await;
    let warning = page.body.find("id=\"dry-run-lockout\"").expect("warning");
    let first_row = page.body.find("data-user=").unwrap();
    assert!(warning < first_row);
    assert!(page.body[first_row..].starts_with("data-user=\"root\""));
    // A bad entry is refused as by a save, and nothing is tried.
    let bad = admin
        .post("/tokengate/admin/settings", &try_form(&csrf, "10.0.0.0/33"))
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("id=\"ip-allowlist-error\""));
    assert!(!bad.body.contains("id=\"dry-run\""));
}

#[tokio::test]
async fn a_try_is_refused_without_the_csrf_token_from_another_site_and_for_non_admins() {
    let app = ui_app().await;
    let (admin, csrf) = signed_in(&app, "root", true).await;
    let (user, user_csrf) = signed_in(&app, "bob", false).await;
    for wrong in ["", "not-the-token", &csrf[..csrf.len() - 1]] {
        let page = admin
            .post("/tokengate/admin/settings", &try_form(wrong, ""))
            .await;
        assert_eq!(page.status, 403, "csrf {wrong:?}");
        assert!(!page.body.contains("id=\"dry-run\""));
    }
    for origin in [
        "https://evil.example",
        "null",
        "http://127.0.0.1.evil.example",
    ] {
        let page = admin
            .post_from("/tokengate/admin/settings", &try_form(&csrf, ""), origin)
            .await;
        assert_eq!(page.status, 403, "origin {origin}");
    }
    let page = user
        .post("/tokengate/admin/settings", &try_form(&user_csrf, ""))
        .await;
    assert_eq!(page.status, 403);
    assert!(!page.body.contains("id=\"dry-run\""));
    let signed_out = UiClient::new(&app)
        .post("/tokengate/admin/settings", &try_form(&csrf, ""))
        .await;
    assert_eq!(signed_out.status, 403);
}

#[tokio::test]
async fn the_usage_page_is_for_admins_and_a_tokens_usage_for_its_owner_and_admins() {
    let app = ui_app().await;
    let (admin, _) = signed_in(&app, "root", true).await;
    let (alice, _) = signed_in(&app, "alice", false).await;
    let (bob, _) = signed_in(&app, "bob", false).await;
    let (token, _) = app.add_token("alice").await;
    let hostile = "<script>alert(1)</script>\"&";
    app.store
        .rename_token(
            &token,
            hostile,
            &tokengate_core::model::NewAudit::new(
                Utc::now(),
                &tokengate_core::model::Actor::Cli,
                AuditAction::TokenRenamed,
                &tokengate_core::model::Origin::default(),
            ),
        )
        .await
        .unwrap();
    app.store
        .add_usage(&[used("alice", Some(&token), "10.0.0.5", Via::Token, 12)])
        .await
        .unwrap();

    let page = admin.get("/tokengate/admin/usage").await;
    assert_eq!(page.status, 200);
    for part in [
        "id=\"requests-per-day\"",
        "id=\"top-tokens\"",
        "role=\"img\"",
        "<title>Requests per day, last 30 days</title>",
        "id=\"expiring\"",
        "id=\"unused\"",
        "id=\"never\"",
        "aria-current=\"page\">Usage</a>",
    ] {
        assert!(page.body.contains(part), "{part}");
    }
    assert!(!page.body.contains(hostile), "escaped");
    assert!(
        page.body.contains("&#60;script&#62;alert(1)"),
        "shown, escaped"
    );
    assert_eq!(bob.get("/tokengate/admin/usage").await.status, 403);
    assert_eq!(
        UiClient::new(&app)
            .get("/tokengate/admin/usage")
            .await
            .status,
        403
    );

    let own = format!("/tokengate/tokens/{token}/usage");
    let page = alice.get(&own).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<strong>12</strong> request(s)"));
    assert!(page.body.contains("10.0.0.5"));
    assert!(!page.body.contains(hostile));
    assert_eq!(admin.get(&own).await.status, 200, "admins see any token");
    assert_eq!(bob.get(&own).await.status, 404, "another user's token");
    assert_eq!(bob.get("/tokengate/tokens/nope/usage").await.status, 404);
    assert_eq!(UiClient::new(&app).get(&own).await.status, 403);
    let tokens = alice.get("/tokengate/").await;
    assert!(
        tokens.body.contains(&format!("href=\"{own}\"")),
        "linked from the tokens page"
    );
}
