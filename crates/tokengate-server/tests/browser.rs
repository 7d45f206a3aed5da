//! The web UI in real headless Chromium (fantoccini over chromedriver): sign-in, a token's
//! whole life, a restricted token made and rotated, each setting taking effect, admins-only, lockout, a forged cross-site post, an
//! XSS attempt and a local group made and filled. With `TOKENGATE_SCREENSHOTS=1` the tour test also writes the screenshots
//! under docs/screenshots. Without Chromium installed every test prints why it did nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod ui_support;

use axum::response::Html;
use common::TestApp;
use fantoccini::Client;
use tokengate_core::manage;
use tokengate_core::model::TokenFilter;
use ui_support::browser::{Pages, with_browser};
use ui_support::{provision_from_ldap, ui_app};

async fn token_count(app: &TestApp, owner: &str) -> usize {
    let filter = TokenFilter {
        owner: Some(owner.into()),
        limit: 100,
        ..TokenFilter::default()
    };
    app.store.tokens(&filter).await.unwrap().len()
}

fn pages<'a>(client: &'a Client, app: &'a TestApp) -> Pages<'a> {
    Pages {
        client,
        base: &app.base,
    }
}

#[tokio::test]
async fn a_user_signs_in_creates_a_token_uses_it_and_deletes_it() {
    let app = ui_app().await;
    app.add_user("alice", "alice-password", false).await;
    with_browser(|client| async move {
        let page = pages(&client, &app);
        page.sign_in("alice", "alice-password").await;
        assert_eq!(page.text("#signed-in-user").await, "alice");
        page.fill("#create-token input[name=name]", "deploy script")
            .await;
        page.select("select[name=validity]", "6m").await;
        page.submit("#create-token button[type=submit]").await;
        let secret = page.text("#new-token-secret").await;
        assert!(secret.starts_with("tg_"), "{secret}");
        assert!(
            page.css("[data-action=copy]")
                .await
                .is_displayed()
                .await
                .unwrap()
        );
        let whoami: serde_json::Value = app
            .get_bearer("/tokengate/whoami", &secret)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(whoami["user"], "alice");
        assert_eq!(whoami["via"], "token");
        page.reload().await;
        assert!(!page.exists("#new-token-secret").await, "shown once");
        assert!(!client.source().await.unwrap().contains(&secret));
        assert_eq!(
            token_count(&app, "alice").await,
            1,
            "reload created nothing"
        );
        assert!(page.text("#tokens").await.contains("deploy script"));
        page.submit_confirmed("[data-action=delete-token]").await;
        page.css("#no-tokens").await;
        assert_eq!(token_count(&app, "alice").await, 0);
        let refused = app.get_bearer("/tokengate/whoami", &secret).await;
        assert_eq!(refused.status(), 401);
    })
    .await;
}

#[tokio::test]
async fn a_user_creates_a_read_only_path_restricted_token_sees_it_listed_and_rotates_it() {
    let app = ui_app().await;
    app.add_user("alice", "alice-password", false).await;
    with_browser(|client| async move {
        let page = pages(&client, &app);
        page.sign_in("alice", "alice-password").await;
        page.fill("#create-token input[name=name]", "status reader")
            .await;
        page.click("#restrict-read-only").await;
        page.fill("#restrict-paths", "/tokengate/whoami").await;
        page.submit("#create-token button[type=submit]").await;
        let secret = page.text("#new-token-secret").await;
        let listed = page.text("#tokens .token-restrictions").await;
        assert_eq!(listed, "read only · /tokengate/whoami");
        let inside = app.get_bearer("/tokengate/whoami", &secret).await;
        assert_eq!(inside.status(), 200);
        let outside = app.get_bearer("/tokengate/api/v1/me", &secret).await;
        common::error_body(outside, 403, "token_scope_denied").await;
        page.click("#tokens details.rotate summary").await;
        page.select("#tokens details.rotate select[name=grace]", "10m")
            .await;
        page.submit("[data-action=rotate-token]").await;
        let rotated = page.text("#new-token-secret").await;
        assert!(rotated.starts_with("tg_") && rotated != secret);
        assert!(
            page.text("#old-secret")
                .await
                .contains("keeps working until")
        );
        for working in [&secret, &rotated] {
            let answer = app.get_bearer("/tokengate/whoami", working).await;
            assert_eq!(answer.status(), 200, "the old one within its grace");
        }
        page.reload().await;
        assert!(!page.exists("#new-token-secret").await, "shown once");
        assert!(!client.source().await.unwrap().contains(&rotated));
        let listed = page.text("#tokens .token-restrictions").await;
        assert_eq!(listed, "read only · /tokengate/whoami", "kept by rotation");
        assert_eq!(token_count(&app, "alice").await, 1);
    })
    .await;
}

async fn save_settings_form(page: &Pages<'_>) {
    page.submit("#save-settings").await;
    page.css("#notice").await;
}

async fn passwords_off_refuses_basic_passwords(page: &Pages<'_>, app: &TestApp) {
    page.select("#settings select[name=password_auth]", "disabled")
        .await;
    save_settings_form(page).await;
    let password = app
        .get_basic("/tokengate/whoami", "bob", "bob-password")
        .await;
    common::error_body(password, 403, "password_auth_disabled").await;
}

async fn admins_only_refuses_a_users_token(page: &Pages<'_>, app: &TestApp, token: &str) {
    page.click("#settings input[name=admins_only]").await;
    save_settings_form(page).await;
    let refused = app.get_bearer("/tokengate/whoami", token).await;
    common::error_body(refused, 403, "tokens_not_permitted").await;
    page.click("#settings input[name=admins_only]").await;
    save_settings_form(page).await;
    let allowed = app.get_bearer("/tokengate/whoami", token).await;
    assert_eq!(allowed.status(), 200);
}

async fn allow_list_refuses_other_addresses(page: &Pages<'_>, app: &TestApp, token: &str) {
    let field = "#settings textarea[name=ip_allowlist]";
    page.fill(field, "10.0.0.0/8\n10.0.0.999").await;
    page.submit("#save-settings").await;
    let problem = page.text("#ip-allowlist-error").await;
    assert!(problem.contains("10.0.0.999"), "{problem}");
    page.fill(field, "203.0.113.0/24").await;
    page.submit("#save-settings").await;
    page.css("#lockout-warning").await;
    page.click("#confirm-lockout").await;
    save_settings_form(page).await;
    let outside = app.get_bearer("/tokengate/whoami", token).await;
    common::error_body(outside, 403, "ip_not_allowed").await;
    page.fill(field, "").await;
    save_settings_form(page).await;
}

async fn a_lower_maximum_shrinks_the_validity_list(page: &Pages<'_>) {
    page.select("#settings select[name=max_validity]", "1y")
        .await;
    save_settings_form(page).await;
    assert!(page.text("#over-maximum").await.contains("1 token(s)"));
    page.open("/tokengate/").await;
    assert_eq!(page.options("select[name=validity]").await, ["6m", "1y"]);
}

#[tokio::test]
async fn an_admin_changes_each_setting_and_sees_it_take_effect() {
    let app = ui_app().await;
    app.add_user("root", "root-password", true).await;
    app.add_user("bob", "bob-password", false).await;
    let (_, bob_token) = app.add_token("bob").await;
    with_browser(|client| async move {
        let page = pages(&client, &app);
        page.sign_in("root", "root-password").await;
        page.open("/tokengate/admin/settings").await;
        assert_eq!(page.text("#current-address").await, "127.0.0.1");
        passwords_off_refuses_basic_passwords(&page, &app).await;
        admins_only_refuses_a_users_token(&page, &app, &bob_token).await;
        allow_list_refuses_other_addresses(&page, &app, &bob_token).await;
        a_lower_maximum_shrinks_the_validity_list(&page).await;
    })
    .await;
}

#[tokio::test]
async fn a_non_admin_sees_the_info_box_and_a_create_from_an_open_page_gets_403() {
    let app = ui_app().await;
    app.add_user("bob", "bob-password", false).await;
    app.add_user("root", "root-password", true).await;
    with_browser(|client| async move {
        let page = pages(&client, &app);
        page.sign_in("bob", "bob-password").await;
        assert!(page.exists("#nav-tokens").await);
        page.fill("#create-token input[name=name]", "too late")
            .await;
        let mut settings = app.store.settings().await.unwrap();
        settings.admins_only = true;
        app.save_settings(&settings).await;
        app.sync().await;
        page.submit("#create-token button[type=submit]").await;
        assert!(
            page.text("#error-message")
                .await
                .contains("restricted to administrators")
        );
        assert_eq!(token_count(&app, "bob").await, 0);
        page.open("/tokengate/").await;
        assert!(
            page.text("#tokens-not-permitted")
                .await
                .contains("administrators")
        );
        assert!(!page.exists("#nav-tokens").await);
        assert!(!page.exists("#create-token").await);
        page.sign_out().await;
        page.sign_in("root", "root-password").await;
        assert!(page.exists("#nav-tokens").await);
        assert!(!page.exists("#tokens-not-permitted").await);
    })
    .await;
}

#[tokio::test]
async fn sign_in_is_locked_after_repeated_failures_and_says_so() {
    let app = ui_app().await;
    app.add_user("alice", "alice-password", false).await;
    with_browser(|client| async move {
        let page = pages(&client, &app);
        for _ in 0..5 {
            page.sign_in("alice", "not-it").await;
            page.css("#login-error").await;
        }
        page.sign_in("alice", "alice-password").await;
        let message = page.text("#login-error").await;
        assert!(message.contains("locked"), "{message}");
        assert!(!page.exists("#signed-in-user").await);
        let user = app.store.user("alice").await.unwrap().unwrap();
        assert_eq!(user.failed_logins, 5);
    })
    .await;
}

/// A page on another origin that posts a form to tokengate when opened.
async fn forging_site(target: String, csrf: String) -> (String, tokio::task::JoinHandle<()>) {
    let html = format!(
        "<!doctype html><title>prize</title><form id=f method=post action=\"{target}/tokengate/tokens\">\
         <input name=csrf value=\"{csrf}\"><input name=name value=forged></form>\
         <script>document.getElementById('f').submit()</script>"
    );
    let app = axum::Router::new().route("/", axum::routing::get(move || async move { Html(html) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{address}/"), task)
}

#[tokio::test]
async fn a_forged_post_from_another_origin_is_refused() {
    let app = ui_app().await;
    app.add_user("alice", "alice-password", false).await;
    with_browser(|client| async move {
        let page = pages(&client, &app);
        page.sign_in("alice", "alice-password").await;
        let csrf = page
            .css("#create-token input[name=csrf]")
            .await
            .attr("value")
            .await
            .unwrap()
            .unwrap();
        // Even with the session's own CSRF token (which a real attacker cannot read), a post
        // that another origin made the browser send is refused.
        let (url, server) = forging_site(app.base.clone(), csrf).await;
        client.goto(&url).await.unwrap();
        let message = page.text("#error-message").await;
        assert!(message.contains("another site"), "{message}");
        assert_eq!(token_count(&app, "alice").await, 0);
        server.abort();
    })
    .await;
}

#[tokio::test]
async fn an_xss_attempt_in_a_token_name_is_shown_as_text() {
    let app = ui_app().await;
    app.add_user("alice", "alice-password", false).await;
    with_browser(|client| async move {
        let page = pages(&client, &app);
        page.sign_in("alice", "alice-password").await;
        let attack = "<img src=x onerror=alert(1)><script>alert(2)</script>";
        page.fill("#create-token input[name=name]", attack).await;
        page.submit("#create-token button[type=submit]").await;
        page.css("#new-token-secret").await;
        page.open("/tokengate/").await;
        assert_eq!(page.text("#tokens .token-name").await, attack);
        assert!(!page.exists("#tokens img").await);
        assert!(!page.exists("#tokens script").await);
        assert!(client.get_alert_text().await.is_err(), "no dialog opened");
        page.click("[data-action=delete-token]").await;
        let question = client.get_alert_text().await.unwrap();
        assert!(
            question.contains(attack),
            "the dialog shows the name as text"
        );
        client.dismiss_alert().await.unwrap();
        assert_eq!(token_count(&app, "alice").await, 1);
    })
    .await;
}

async fn named_token(app: &TestApp, owner: &str, name: &str, validity: &str) -> String {
    let user = app.store.user(owner).await.unwrap().unwrap();
    let settings = app.store.settings().await.unwrap();
    let created = tokengate_core::manage::create_token(
        app.store.as_ref(),
        &common::change(chrono::Utc::now()),
        &user,
        &tokengate_core::manage::NewToken::plain(name, Some(validity.parse().unwrap())),
        &settings,
    )
    .await
    .unwrap();
    created.secret.expose().to_owned()
}

/// An admin makes a local group and adds a member through the groups page, beside a
/// directory group shown read-only; then deletes the group after the confirmation dialog.
#[tokio::test]
async fn an_admin_creates_a_group_and_adds_a_member_in_the_browser() {
    let app = ui_app().await;
    app.add_user("admin", "admin-password", true).await;
    app.add_user("alice", "alice-password", false).await;
    provision_from_ldap(&app, "dora").await;
    with_browser(|client| async move {
        let page = pages(&client, &app);
        page.sign_in("admin", "admin-password").await;
        page.submit("#nav-groups").await;
        let directory = "tr[data-group='ldap-devs']";
        assert!(page.text(directory).await.contains("read-only"));
        assert!(!page.exists(&format!("{directory} form")).await);
        page.fill("#new-group-name", "api users").await;
        page.submit("#create-group button[type=submit]").await;
        assert_eq!(page.text("#notice").await, "The group was added.");
        let row = "tr[data-group='api users']";
        page.fill(&format!("{row} input[name=user]"), "alice").await;
        page.submit(&format!("{row} [data-action=add-member]"))
            .await;
        page.css(&format!("{row} li[data-member=alice]")).await;
        let group = app.store.group("api users").await.unwrap().unwrap();
        assert_eq!(group.members, ["alice"]);
        page.submit("#nav-users").await;
        let alice = page.text("tr[data-user=alice] .user-groups").await;
        assert_eq!(alice, "api users");
        page.submit("#nav-groups").await;
        page.submit_confirmed(&format!("{row} [data-action=delete-group]"))
            .await;
        assert_eq!(page.text("#notice").await, "The group was deleted.");
        assert!(app.store.group("api users").await.unwrap().is_none());
    })
    .await;
}

/// Users (one from the directory), a local group, tokens (some used, one made by an admin) and
/// audit records for the tour.
async fn furnish(app: &TestApp) -> String {
    app.add_user("admin", "admin-password", true).await;
    app.add_user("alice", "alice-password", false).await;
    app.add_user("bob", "bob-password", false).await;
    app.add_user("carol", "carol-password", false).await;
    provision_from_ldap(app, "dora").await;
    let members = ["alice".to_owned(), "dora".to_owned()];
    let now = chrono::Utc::now();
    let group = manage::create_group(
        app.store.as_ref(),
        &common::operator_change(now),
        "api users",
        &members,
    )
    .await
    .unwrap();
    assert_eq!(group.value.members, members);
    let used = named_token(app, "alice", "CI on build-01", "1y").await;
    named_token(app, "alice", "Backup script", "never").await;
    named_token(app, "bob", "Grafana dashboard", "6m").await;
    let admins = named_token(app, "admin", "Jira automation", "2y").await;
    for secret in [&used, &admins] {
        assert_eq!(
            app.get_bearer("/tokengate/whoami", secret).await.status(),
            200
        );
    }
    for _ in 0..2 {
        let wrong = app.get_basic("/tokengate/whoami", "carol", "wrong").await;
        assert_eq!(wrong.status(), 401);
    }
    let state = &app.server.as_ref().unwrap().state;
    state.usage.flush(&state.store).await;
    used
}

async fn tour_as_a_user(page: &Pages<'_>) {
    page.open("/tokengate/").await;
    page.css("#login").await;
    page.screenshot("login").await;
    page.sign_in("alice", "alice-password").await;
    page.css("#tokens").await;
    page.screenshot("tokens").await;
    page.fill("#create-token input[name=name]", "Release pipeline")
        .await;
    page.click("#restrict-read-only").await;
    page.fill("#restrict-paths", "/rest/api/").await;
    page.submit("#create-token button[type=submit]").await;
    page.css("#new-token-secret").await;
    page.screenshot("token-created").await;
    page.client.set_window_size(412, 900).await.unwrap();
    page.open("/tokengate/").await;
    page.screenshot("tokens-phone").await;
    page.client.set_window_size(1280, 900).await.unwrap();
    page.open("/tokengate/admin/settings").await;
    page.css("#error-page").await;
    page.screenshot("forbidden").await;
    page.sign_out().await;
}

async fn tour_as_an_admin(page: &Pages<'_>) {
    page.sign_in("admin", "admin-password").await;
    page.open("/tokengate/admin/settings").await;
    page.select("#settings select[name=max_validity]", "1y")
        .await;
    let list = "127.0.0.1\n10.0.0.0/8\n192.168.1.10-192.168.1.50";
    page.fill("#settings textarea[name=ip_allowlist]", list)
        .await;
    page.submit("#save-settings").await;
    page.css("#over-maximum").await;
    page.screenshot("admin-settings").await;
    page.fill(
        "#settings textarea[name=ip_allowlist]",
        "127.0.0.1\n10.0.0.0/33",
    )
    .await;
    page.submit("#save-settings").await;
    page.css("#ip-allowlist-error").await;
    page.screenshot("admin-settings-invalid").await;
    for (path, table, name) in [
        ("/tokengate/admin/tokens", "#admin-tokens", "admin-tokens"),
        ("/tokengate/admin/users", "#users", "admin-users"),
        ("/tokengate/admin/groups", "#groups", "admin-groups"),
        ("/tokengate/admin/audit", "#audit", "admin-audit"),
    ] {
        page.open(path).await;
        page.css(table).await;
        page.screenshot(name).await;
    }
    page.open("/tokengate/admin/settings").await;
    page.click("#settings input[name=admins_only]").await;
    page.submit("#save-settings").await;
    page.sign_out().await;
}

/// Visits every page (the screenshots of docs/screenshots come from here).
#[tokio::test]
async fn a_tour_of_every_page_renders_in_the_browser() {
    let app = ui_app().await;
    furnish(&app).await;
    with_browser(|client| async move {
        let page = pages(&client, &app);
        tour_as_a_user(&page).await;
        tour_as_an_admin(&page).await;
        page.sign_in("bob", "bob-password").await;
        page.css("#tokens-not-permitted").await;
        page.screenshot("tokens-not-permitted").await;
    })
    .await;
}
