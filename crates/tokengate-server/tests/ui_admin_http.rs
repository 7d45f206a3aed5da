//! The admin console and sign-in rules over plain HTTP: settings (validation, lock-out
//! confirmation, immediate effect, clamp), admins-only, the sign-in lockout, users, the token
//! manager and the audit log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod ui_support;

use common::TestApp;
use tokengate_core::model::{AuditAction, PasswordAuth, Settings, TokenFilter};
use tokengate_core::validity::MaxValidity;
use ui_support::{UiClient, signed_in, ui_app};

fn settings_form<'a>(csrf: &'a str, allowlist: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("max_validity", "1y"),
        ("ip_allowlist", allowlist),
        ("password_auth", "disabled"),
        ("admins_only", "true"),
    ]
}

#[tokio::test]
async fn a_bad_allow_list_entry_is_named_and_nothing_is_saved() {
    let app = ui_app().await;
    let (admin, csrf) = signed_in(&app, "root", true).await;
    let answer = admin
        .post(
            "/tokengate/admin/settings",
            &settings_form(&csrf, "127.0.0.1\n10.0.0.300"),
        )
        .await;
    assert_eq!(answer.status, 422);
    assert!(answer.body.contains("id=\"ip-allowlist-error\""));
    assert!(answer.body.contains("10.0.0.300"));
    assert!(
        answer.body.contains("127.0.0.1\n10.0.0.300</textarea>"),
        "kept"
    );
    assert_eq!(app.store.settings().await.unwrap(), Settings::default());
}

#[tokio::test]
async fn a_list_leaving_out_the_admins_address_needs_confirmation() {
    let app = ui_app().await;
    let (admin, csrf) = signed_in(&app, "root", true).await;
    let page = admin.get("/tokengate/admin/settings").await;
    assert!(page.body.contains("id=\"current-address\">127.0.0.1<"));
    let refused = admin
        .post(
            "/tokengate/admin/settings",
            &settings_form(&csrf, "203.0.113.0/24"),
        )
        .await;
    assert_eq!(refused.status, 409);
    assert!(refused.body.contains("id=\"confirm-lockout\""));
    assert_eq!(app.store.settings().await.unwrap(), Settings::default());
    let mut confirmed = settings_form(&csrf, "203.0.113.0/24");
    confirmed.push(("confirm_lockout", "true"));
    let saved = admin.post("/tokengate/admin/settings", &confirmed).await;
    assert_eq!(saved.status, 303);
    let settings = app.store.settings().await.unwrap();
    assert_eq!(settings.ip_allowlist.to_strings(), ["203.0.113.0/24"]);
    let still_reachable = admin.get("/tokengate/admin/settings").await;
    assert_eq!(still_reachable.status, 200, "the list guards the API only");
}

#[tokio::test]
async fn saved_settings_take_effect_on_the_running_node_at_once() {
    let app = ui_app().await;
    let (admin, csrf) = signed_in(&app, "root", true).await;
    app.add_user("bob", "bob-password", false).await;
    let (_, bob_token) = app.add_token("bob").await;
    assert_eq!(
        app.get_basic("/tokengate/whoami", "bob", "bob-password")
            .await
            .status(),
        200
    );
    let saved = admin
        .post("/tokengate/admin/settings", &settings_form(&csrf, ""))
        .await;
    assert_eq!(saved.status, 303);
    assert_eq!(saved.location(), "/tokengate/admin/settings?done=saved");
    let stored = app.store.settings().await.unwrap();
    assert_eq!(stored.max_validity, MaxValidity::OneYear);
    assert_eq!(stored.password_auth, PasswordAuth::Disabled);
    assert!(stored.admins_only);
    let password = app
        .get_basic("/tokengate/whoami", "bob", "bob-password")
        .await;
    common::error_body(password, 403, "password_auth_disabled").await;
    let token = app.get_bearer("/tokengate/whoami", &bob_token).await;
    common::error_body(token, 403, "tokens_not_permitted").await;
    let audit = app
        .store
        .audit(&tokengate_core::model::AuditFilter {
            action: Some(AuditAction::SettingsChanged),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit[0].actor, "root");
    assert_eq!(audit[0].details["admins_only"]["new"], true);
}

#[tokio::test]
async fn admins_only_hides_the_token_link_and_a_create_from_an_open_page_gets_403() {
    let app = ui_app().await;
    let (user, csrf) = signed_in(&app, "bob", false).await;
    let before = user.get("/tokengate/").await;
    assert!(before.body.contains("id=\"nav-tokens\""));
    assert!(before.body.contains("id=\"create-token\""));
    assert!(!before.body.contains("id=\"tokens-not-permitted\""));
    app.save_settings(&Settings {
        admins_only: true,
        ..Settings::default()
    })
    .await;
    app.sync().await;
    let after = user.get("/tokengate/").await;
    assert!(after.body.contains("id=\"tokens-not-permitted\""));
    assert!(!after.body.contains("id=\"nav-tokens\""));
    assert!(!after.body.contains("id=\"create-token\""));
    let attempt = user
        .post(
            "/tokengate/tokens",
            &[("csrf", csrf.as_str()), ("name", "sneaky")],
        )
        .await;
    assert_eq!(attempt.status, 403);
    assert!(attempt.body.contains("restricted to administrators"));
    let (admin, _) = signed_in(&app, "root", true).await;
    let admin_page = admin.get("/tokengate/").await;
    assert!(admin_page.body.contains("id=\"nav-tokens\""));
    assert!(admin_page.body.contains("id=\"create-token\""));
}

#[tokio::test]
async fn losing_create_own_tokens_shows_the_info_box_hides_the_form_and_refuses_a_create() {
    let app = ui_app().await;
    let (user, csrf) = signed_in(&app, "bob", false).await;
    app.add_token("bob").await;
    app.save_settings(&Settings {
        permissions: tokengate_core::groups::Permissions {
            create_own_tokens: tokengate_core::groups::GroupList::parse(&["leads"]).unwrap(),
            ..Default::default()
        },
        ..Settings::default()
    })
    .await;
    app.sync().await;
    let page = user.get("/tokengate/").await;
    assert!(page.body.contains("id=\"tokens-not-permitted\""));
    assert!(
        page.body.contains("You may not create API tokens"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("id=\"create-token\""));
    assert!(
        page.body.contains("id=\"nav-tokens\""),
        "the list stays: tokens still work"
    );
    let attempt = user
        .post(
            "/tokengate/tokens",
            &[("csrf", csrf.as_str()), ("name", "sneaky")],
        )
        .await;
    assert_eq!(attempt.status, 403);
    let filter = tokengate_core::model::TokenFilter {
        owner: Some("bob".into()),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        app.store.tokens(&filter).await.unwrap().len(),
        1,
        "nothing created"
    );
}

#[tokio::test]
async fn lowering_the_maximum_shows_the_tokens_over_it_and_clamping_shortens_them() {
    let app = ui_app().await;
    let (admin, csrf) = signed_in(&app, "root", true).await;
    app.add_token("root").await;
    app.add_token("root").await;
    let mut lower = settings_form(&csrf, "");
    lower[1] = ("max_validity", "6m");
    assert_eq!(
        admin.post("/tokengate/admin/settings", &lower).await.status,
        303
    );
    let page = admin.get("/tokengate/admin/settings?done=saved").await;
    assert!(page.body.contains("id=\"over-maximum\""));
    assert!(page.body.contains("2 token(s) exceed"));
    let clamped = admin
        .post(
            "/tokengate/admin/settings/clamp",
            &[("csrf", csrf.as_str()), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(clamped.status, 303);
    assert!(clamped.location().ends_with("done=clamped&count=2"));
    let after = admin.get("/tokengate/admin/settings").await;
    assert!(!after.body.contains("id=\"over-maximum\""));
    let tokens = app
        .store
        .tokens(&TokenFilter {
            limit: 10,
            ..TokenFilter::default()
        })
        .await
        .unwrap();
    assert!(tokens.iter().all(|token| token.expires_at.is_some()));
}

#[tokio::test]
async fn sign_in_locks_after_too_many_failures_and_an_admin_reset_opens_it() {
    let app = ui_app().await;
    app.add_user("alice", "alice-password", false).await;
    let client = UiClient::new(&app);
    let wrong = [("username", "alice"), ("password", "guess")];
    for _ in 0..4 {
        let page = client.post("/tokengate/login", &wrong).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Wrong user name or password."));
    }
    let fifth = client.post("/tokengate/login", &wrong).await;
    assert!(
        fifth.body.contains("This account is locked"),
        "{}",
        fifth.body
    );
    let right = [("username", "alice"), ("password", "alice-password")];
    let locked = client.post("/tokengate/login", &right).await;
    assert_eq!(locked.status, 403);
    assert!(locked.body.contains("id=\"login-error\""));
    assert!(locked.body.contains("Try again in 15 minutes"));
    let (admin, csrf) = signed_in(&app, "root", true).await;
    let users = admin.get("/tokengate/admin/users").await;
    assert!(users.body.contains("data-action=\"reset-failed-logins\""));
    let reset = admin
        .post(
            "/tokengate/admin/users/alice/reset-failed-logins",
            &[("csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(reset.status, 303);
    assert_eq!(client.post("/tokengate/login", &right).await.status, 303);
}

#[tokio::test]
async fn an_unknown_user_reads_like_a_wrong_password_and_the_api_switches_do_not_apply() {
    let app = ui_app().await;
    app.add_user("alice", "alice-password", false).await;
    let client = UiClient::new(&app);
    let unknown = client
        .post(
            "/tokengate/login",
            &[("username", "nobody"), ("password", "x")],
        )
        .await;
    assert!(unknown.body.contains("Wrong user name or password."));
    app.save_settings(&Settings {
        password_auth: PasswordAuth::Disabled,
        ip_allowlist: tokengate_core::allowlist::IpAllowList::parse(&["203.0.113.1"]).unwrap(),
        ..Settings::default()
    })
    .await;
    app.sync().await;
    let csrf = client.sign_in("alice", "alice-password").await;
    assert!(
        !csrf.is_empty(),
        "the UI sign-in is not the API's Basic auth"
    );
}

#[tokio::test]
async fn admins_add_users_and_taken_or_bad_names_are_refused() {
    let app = ui_app().await;
    let (admin, csrf) = signed_in(&app, "root", true).await;
    let add = |name: &'static str| {
        [
            ("csrf", csrf.clone()),
            ("name", name.into()),
            ("password", "carol-pw".into()),
        ]
    };
    let added = admin.post("/tokengate/admin/users", &add("carol")).await;
    assert_eq!(added.status, 303);
    let taken = admin.post("/tokengate/admin/users", &add("carol")).await;
    assert_eq!(taken.status, 409);
    assert!(taken.body.contains("already exists"));
    let bad = admin.post("/tokengate/admin/users", &add("a b")).await;
    assert_eq!(bad.status, 422);
    assert!(
        bad.body.contains("value=\"a b\""),
        "the form keeps what was typed"
    );
    let carol = UiClient::new(&app);
    carol.sign_in("carol", "carol-pw").await;
    let record = app.store.audit(&Default::default()).await.unwrap();
    assert!(
        record
            .iter()
            .any(|audit| audit.action == AuditAction::UserCreated && audit.actor == "root")
    );
}

#[tokio::test]
async fn disabling_a_user_ends_their_session_and_refuses_their_tokens() {
    let app = ui_app().await;
    let (admin, csrf) = signed_in(&app, "root", true).await;
    let (carol, _) = signed_in(&app, "carol", false).await;
    let (_, carol_token) = app.add_token("carol").await;
    let change = |what: &'static str| [("csrf", csrf.clone()), ("change", what.to_owned())];
    let disabled = admin
        .post("/tokengate/admin/users/carol", &change("disable"))
        .await;
    assert_eq!(disabled.status, 303);
    assert!(carol.get("/tokengate/").await.body.contains("id=\"login\""));
    let refused = app.get_bearer("/tokengate/whoami", &carol_token).await;
    common::error_body(refused, 403, "user_disabled").await;
    for what in ["enable", "make_admin"] {
        let answer = admin
            .post("/tokengate/admin/users/carol", &change(what))
            .await;
        assert_eq!(answer.status, 303);
    }
    let carol_now = app.store.user("carol").await.unwrap().unwrap();
    assert!(carol_now.admin && !carol_now.disabled);
    let own = admin
        .post("/tokengate/admin/users/root", &change("remove_admin"))
        .await;
    assert_eq!(own.status, 409, "no admin removes their own rights here");
}

async fn add_tokens(app: &TestApp, owner: &str, count: usize) {
    for _ in 0..count {
        app.add_token(owner).await;
    }
}

#[tokio::test]
async fn the_token_manager_filters_pages_creates_for_a_user_and_revokes() {
    let app = ui_app().await;
    let (admin, csrf) = signed_in(&app, "root", true).await;
    app.add_user("dave", "dave-pw", false).await;
    add_tokens(&app, "dave", 52).await;
    app.add_token("root").await;
    let first = admin.get("/tokengate/admin/tokens?user=dave").await;
    assert_eq!(
        first.body.matches("data-action=\"revoke-token\"").count(),
        50
    );
    let next = ui_support::hidden_href(&first.body, "next-page").expect("a next page");
    let second = admin.get(&next).await;
    assert_eq!(
        second.body.matches("data-action=\"revoke-token\"").count(),
        2
    );
    let created = admin
        .post(
            "/tokengate/admin/tokens",
            &[
                ("csrf", csrf.as_str()),
                ("user", "dave"),
                ("name", "for dave"),
            ],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let secret = created.new_secret().expect("shown once to the admin");
    let whoami: serde_json::Value = app
        .get_bearer("/tokengate/whoami", &secret)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(whoami["user"], "dave");
    let unknown = admin
        .post(
            "/tokengate/admin/tokens",
            &[("csrf", csrf.as_str()), ("user", "ghost"), ("name", "x")],
        )
        .await;
    assert_eq!(unknown.status, 422);
    let revoked = admin
        .post(
            "/tokengate/admin/tokens/revoke-user",
            &[
                ("csrf", csrf.as_str()),
                ("user", "dave"),
                ("confirmed", "yes"),
            ],
        )
        .await;
    assert!(revoked.location().ends_with("done=revoked_all&count=53"));
    assert_eq!(
        app.get_bearer("/tokengate/whoami", &secret).await.status(),
        401
    );
}

#[tokio::test]
async fn the_audit_log_filters_by_action_and_pages_back() {
    let app = ui_app().await;
    let (admin, _) = signed_in(&app, "root", true).await;
    app.add_user("erin", "erin-pw", false).await;
    add_tokens(&app, "erin", 55).await;
    let created = admin
        .get("/tokengate/admin/audit?action=token.created&user=erin")
        .await;
    assert_eq!(created.status, 200);
    assert_eq!(created.body.matches("data-audit-id=").count(), 50);
    assert!(!created.body.contains("<code>user.created</code>"));
    let next = ui_support::hidden_href(&created.body, "next-page").expect("older records");
    let older = admin.get(&next).await;
    assert_eq!(older.body.matches("data-audit-id=").count(), 5);
    let bad = admin.get("/tokengate/admin/audit?since=soon").await;
    assert!(bad.body.contains("id=\"filter-error\""));
}

#[tokio::test]
async fn the_settings_page_switches_authentication_events_on_and_off_and_shows_them() {
    let app = ui_app().await;
    let (admin, csrf) = signed_in(&app, "root", true).await;
    let page = admin.get("/tokengate/admin/settings").await;
    for name in ["audit_success", "audit_failure", "audit_denied"] {
        assert!(page.body.contains(&format!("name=\"{name}\"")), "{name}");
    }
    assert!(!page.body.contains("value=\"true\" checked> Successful"));
    let mut form = settings_form(&csrf, "");
    form.extend([("audit_success", "true"), ("audit_denied", "true")]);
    assert_eq!(
        admin.post("/tokengate/admin/settings", &form).await.status,
        303
    );
    let events = app.store.settings().await.unwrap().audit_auth_events;
    assert!(events.success && !events.failure && events.denied);
    let page = admin.get("/tokengate/admin/settings").await;
    assert!(
        page.body
            .contains("name=\"audit_success\" value=\"true\" checked")
    );
    assert!(page.body.contains("name=\"audit_failure\" value=\"true\">"));
    assert!(
        page.body
            .contains("name=\"audit_denied\" value=\"true\" checked")
    );
    let audit = app
        .store
        .audit(&tokengate_core::model::AuditFilter {
            action: Some(AuditAction::SettingsChanged),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        audit[0].details["audit_auth_events"]["new"],
        serde_json::json!({"success": true, "failure": false, "denied": true})
    );
    // Unticking every box switches them all off.
    let form = settings_form(&csrf, "");
    assert_eq!(
        admin.post("/tokengate/admin/settings", &form).await.status,
        303
    );
    assert!(!app.store.settings().await.unwrap().audit_auth_events.any());
}
