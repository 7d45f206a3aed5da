//! The usage pages and "Try these settings" in real headless Chromium: the SVG charts render
//! (with their text alternatives), the dry-run report appears above the unsaved form, an
//! owner opens their token's usage from the tokens page. With `TOKENGATE_SCREENSHOTS=1` the
//! test writes `admin-usage.png`, `admin-settings-dry-run.png` and `token-usage.png` under
//! docs/screenshots. Without Chromium installed it prints why it did nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod ui_support;

use chrono::{Duration, Utc};
use common::{TestApp, change};
use tokengate_core::Via;
use tokengate_core::manage::{NewToken, create_token};
use tokengate_core::usage::UsageRow;
use tokengate_core::validity::{MaxValidity, ValidityRequest};
use ui_support::browser::{Pages, with_browser};
use ui_support::ui_app;

/// A token of `owner` named `name`, created `days_ago` days ago with `validity`; its id.
async fn token(
    app: &TestApp,
    owner: &str,
    name: &str,
    days_ago: i64,
    validity: ValidityRequest,
) -> String {
    let user = app.store.user(owner).await.unwrap().unwrap();
    let settings = app.store.settings().await.unwrap();
    let new = NewToken {
        name,
        validity: Some(validity),
        restrictions: &Default::default(),
        maker: None,
    };
    let at = Utc::now() - Duration::days(days_ago);
    let created = create_token(app.store.as_ref(), &change(at), &user, &new, &settings)
        .await
        .unwrap();
    created.record.id
}

/// Thirty days of usage: a busy CI token, a laptop token from two addresses, a password user
/// and a browser session.
async fn history(app: &TestApp, ci: &str, laptop: &str) {
    let today = Utc::now().date_naive();
    let mut rows = Vec::new();
    for back in 0..30u64 {
        let day = today.checked_sub_days(chrono::Days::new(back)).unwrap();
        let wave = (back * 7 % 11) + 1;
        let row = |user: &str, token: Option<&str>, address: &str, via: Via, count: u64| UsageRow {
            day,
            user: user.into(),
            token_id: token.map(str::to_owned),
            address: address.parse().unwrap(),
            via,
            route: Some("default".into()),
            count,
        };
        rows.push(row(
            "alice",
            Some(ci),
            "10.1.0.20",
            Via::Token,
            40 + wave * 6,
        ));
        rows.push(row(
            "alice",
            Some(laptop),
            "192.0.2.44",
            Via::Token,
            wave * 2,
        ));
        if back % 3 == 0 {
            rows.push(row("alice", Some(laptop), "198.51.100.8", Via::Token, wave));
        }
        rows.push(row("bob", None, "10.1.0.31", Via::Password, 12 + wave));
        if back < 12 {
            rows.push(row("carol", None, "10.1.0.40", Via::Session, wave * 3));
        }
    }
    app.store.add_usage(&rows).await.unwrap();
    // The tokens' last use, as the gateway records it beside the counts.
    let last = |token_id: &str, ip: &str| tokengate_core::model::TokenUse {
        token_id: token_id.into(),
        at: Utc::now(),
        ip: ip.into(),
    };
    let uses = [last(ci, "10.1.0.20"), last(laptop, "192.0.2.44")];
    app.store.record_token_uses(&uses).await.unwrap();
}

async fn furnish(app: &TestApp) -> String {
    app.add_user("admin", "admin-password", true).await;
    app.add_user("alice", "alice-password", false).await;
    app.add_user("bob", "bob-password", false).await;
    app.add_user("carol", "carol-password", false).await;
    let never = ValidityRequest::Preset(MaxValidity::Never);
    let ci = token(app, "alice", "CI pipeline", 200, never).await;
    let laptop = token(app, "alice", "Laptop", 20, ValidityRequest::Days(35)).await;
    token(
        app,
        "bob",
        "Old report script",
        150,
        ValidityRequest::Days(400),
    )
    .await;
    token(app, "carol", "Backup job", 5, never).await;
    history(app, &ci, &laptop).await;
    laptop
}

async fn the_usage_page_draws_its_charts(page: &Pages<'_>) {
    page.open("/tokengate/admin/usage").await;
    let bars = page
        .client
        .find_all(fantoccini::Locator::Css("#requests-per-day svg rect"))
        .await
        .unwrap();
    assert!(
        bars.len() >= 60,
        "stacked columns for 30 days: {}",
        bars.len()
    );
    assert!(
        page.text("#top-tokens figcaption")
            .await
            .contains("CI pipeline (alice)")
    );
    assert!(page.text("#expiring").await.contains("Laptop"));
    let unused = page.text("#unused").await;
    assert!(unused.contains("Old report script") && !unused.contains("CI pipeline"));
    assert!(page.text("#never").await.contains("Backup job"));
    let svg = page.css("#requests-per-day svg").await;
    assert!(
        svg.rectangle().await.unwrap().3 > 100.0,
        "drawn at a readable size"
    );
    page.screenshot("admin-usage").await;
}

async fn trying_settings_shows_the_report(page: &Pages<'_>) {
    page.open("/tokengate/admin/settings").await;
    page.fill("#settings textarea[name=ip_allowlist]", "10.1.0.0/16")
        .await;
    page.select("#settings select[name=password_auth]", "disabled")
        .await;
    page.submit("#try-settings").await;
    let summary = page.text("#dry-run-summary").await;
    assert!(summary.contains("would have been refused"), "{summary}");
    let table = page.text("#dry-run-table").await;
    for shown in [
        "bob",
        "password_auth_disabled",
        "192.0.2.44",
        "ip_not_allowed",
    ] {
        assert!(table.contains(shown), "{shown} in {table}");
    }
    assert!(
        !table.contains("carol"),
        "her session comes from inside the list"
    );
    let kept = page.css("#settings textarea[name=ip_allowlist]").await;
    assert_eq!(
        kept.prop("value").await.unwrap().as_deref(),
        Some("10.1.0.0/16")
    );
    page.screenshot("admin-settings-dry-run").await;
}

#[tokio::test]
async fn the_usage_charts_and_the_settings_dry_run_render_in_the_browser() {
    let app = ui_app().await;
    let laptop = furnish(&app).await;
    let before = app.store.settings().await.unwrap();
    with_browser(|client| async move {
        let page = Pages {
            client: &client,
            base: &app.base,
        };
        page.sign_in("admin", "admin-password").await;
        the_usage_page_draws_its_charts(&page).await;
        trying_settings_shows_the_report(&page).await;
        assert_eq!(app.store.settings().await.unwrap(), before, "nothing saved");
        page.sign_out().await;
        page.sign_in("alice", "alice-password").await;
        page.submit(&format!(
            "tr[data-token-id=\"{laptop}\"] [data-action=token-usage]"
        ))
        .await;
        assert!(
            page.text("#usage-summary")
                .await
                .contains("request(s) in the last 30 days")
        );
        assert!(
            page.text("#token-addresses figcaption")
                .await
                .contains("192.0.2.44")
        );
        page.screenshot("token-usage").await;
    })
    .await;
}
