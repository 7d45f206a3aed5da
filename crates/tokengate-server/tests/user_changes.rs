//! A user change has the effects core gives it, whichever door it came through: a new password
//! or disabling ends the user's web sessions (REST, web UI; the CLI in crates/tokengate), and
//! a request that is invalid anywhere stores nothing and writes no audit record.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api_support;
mod common;
mod ui_support;

use api_support::{API, Api, json_of};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use ui_support::UiClient;

/// Whether the client's session cookie still opens the REST API.
async fn session_works(client: &UiClient) -> bool {
    let response = client
        .client
        .get(format!("{}{API}/me", client.base))
        .send()
        .await
        .unwrap();
    response.status() == StatusCode::OK
}

async fn bob_signed_in(api: &Api) -> UiClient {
    api.app.add_user("bob", "bob-password-1", false).await;
    let client = UiClient::new(&api.app);
    client.sign_in("bob", "bob-password-1").await;
    assert!(session_works(&client).await, "signed in");
    client
}

/// The admin `root` with the password (a token sets no password and makes no admin).
async fn root(api: &Api, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
    api.with_password("root", method, path, body).await
}

#[tokio::test]
async fn a_new_password_over_rest_ends_the_users_web_sessions() {
    let api = Api::start().await;
    let (first, second) = (bob_signed_in(&api).await, UiClient::new(&api.app));
    second.sign_in("bob", "bob-password-1").await;
    let changed = root(
        &api,
        Method::PATCH,
        "/admin/users/bob",
        Some(json!({"password": "bob-password-2"})),
    )
    .await;
    json_of(changed, StatusCode::OK).await;
    assert!(!session_works(&first).await, "first session ended");
    assert!(!session_works(&second).await, "second session ended");
    assert_eq!(
        UiClient::new(&api.app).get("/tokengate/").await.status,
        200,
        "the sign-in page still answers"
    );
    let again = UiClient::new(&api.app);
    again.sign_in("bob", "bob-password-2").await;
    assert!(session_works(&again).await, "the new password signs in");
}

#[tokio::test]
async fn disabling_over_rest_ends_the_users_web_sessions_and_enabling_does_not_revive_them() {
    let api = Api::start().await;
    let client = bob_signed_in(&api).await;
    let disabled = root(
        &api,
        Method::PATCH,
        "/admin/users/bob",
        Some(json!({"disabled": true})),
    )
    .await;
    json_of(disabled, StatusCode::OK).await;
    assert!(!session_works(&client).await);
    let enabled = root(
        &api,
        Method::PATCH,
        "/admin/users/bob",
        Some(json!({"disabled": false})),
    )
    .await;
    json_of(enabled, StatusCode::OK).await;
    assert!(
        !session_works(&client).await,
        "the ended session stays ended"
    );
    assert!(api.app.store.user("bob").await.unwrap().is_some());
}

#[tokio::test]
async fn changes_that_are_not_a_password_or_disabling_keep_the_sessions() {
    let api = Api::start().await;
    let client = bob_signed_in(&api).await;
    for change in [
        json!({"admin": true}),
        json!({"admin": false}),
        json!({"display_name": "Bob B."}),
        json!({"disabled": false}),
    ] {
        let response = root(
            &api,
            Method::PATCH,
            "/admin/users/bob",
            Some(change.clone()),
        )
        .await;
        json_of(response, StatusCode::OK).await;
        assert!(session_works(&client).await, "after {change}");
    }
}

#[tokio::test]
async fn a_refused_password_change_leaves_the_sessions_alone() {
    let api = Api::start().await;
    let client = bob_signed_in(&api).await;
    for change in [
        json!({"password": ""}),
        json!({"password": "x".repeat(2000)}),
        json!({"password": "fine-password", "display_name": ""}),
        json!({"password": "fine-password", "colour": "blue"}),
    ] {
        let response = root(&api, Method::PATCH, "/admin/users/bob", Some(change)).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(session_works(&client).await);
    }
}

#[tokio::test]
async fn the_admin_pages_end_sessions_like_the_api_and_renew_an_admins_own() {
    let api = Api::start().await;
    let bob = bob_signed_in(&api).await;
    let root = UiClient::new(&api.app);
    let csrf = root.sign_in("root", "root-pw").await;
    let set = root
        .post(
            "/tokengate/admin/users/bob/password",
            &[("csrf", csrf.as_str()), ("password", "bob-password-3")],
        )
        .await;
    assert_eq!(set.status, 303, "{}", set.body);
    assert!(!session_works(&bob).await, "bob's session ended");
    assert!(session_works(&root).await, "the acting admin is still in");
    let own = root
        .post(
            "/tokengate/admin/users/root/password",
            &[("csrf", csrf.as_str()), ("password", "root-pw-2")],
        )
        .await;
    assert_eq!(own.status, 303, "{}", own.body);
    assert!(
        own.header("set-cookie").starts_with("tokengate_session="),
        "a new session for the admin"
    );
    assert!(session_works(&root).await, "in the renewed session");
    let bob_again = UiClient::new(&api.app);
    bob_again.sign_in("bob", "bob-password-3").await;
    let csrf = root.get("/tokengate/admin/users").await.csrf();
    let disable = root
        .post(
            "/tokengate/admin/users/bob",
            &[("csrf", csrf.as_str()), ("change", "disable")],
        )
        .await;
    assert_eq!(disable.status, 303, "{}", disable.body);
    assert!(!session_works(&bob_again).await);
}

/// Users and audit records, to compare before and after a refused request.
async fn snapshot(api: &Api) -> (Vec<Value>, usize) {
    let users = api
        .app
        .store
        .users()
        .await
        .unwrap()
        .iter()
        .map(|user| serde_json::to_value(tokengate_core::model::UserView::from(user)).unwrap())
        .collect();
    (users, api.audit_count().await)
}

#[tokio::test]
async fn creating_a_user_with_any_invalid_field_stores_nothing() {
    let api = Api::start().await;
    let before = snapshot(&api).await;
    let long = "x".repeat(2000);
    for body in [
        json!({"name": "carol", "display_name": ""}),
        json!({"name": "carol", "display_name": "   "}),
        json!({"name": "carol", "display_name": "a\u{7}b"}),
        json!({"name": "carol", "display_name": "d".repeat(201)}),
        json!({"name": "carol", "password": ""}),
        json!({"name": "carol", "password": long}),
        json!({"name": "carol", "email": "not an address"}),
        json!({"name": "carol", "email": "carol@example.com", "groups": ["x"]}),
        json!({"name": "carol", "admin": "yes"}),
        json!({"name": "car ol"}),
        json!({"name": ""}),
        json!({"name": "n".repeat(129)}),
        json!({"name": "carol", "display_name": "", "password": ""}),
    ] {
        let response = root(&api, Method::POST, "/admin/users", Some(body.clone())).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}"
        );
        assert_eq!(snapshot(&api).await, before, "after {body}");
    }
    let created = root(
        &api,
        Method::POST,
        "/admin/users",
        Some(json!({"name": "carol", "display_name": "Carol C.", "password": "pw-carol"})),
    )
    .await;
    let view = json_of(created, StatusCode::CREATED).await;
    assert_eq!(view["display_name"], "Carol C.");
    assert_eq!(
        api.audit_count().await,
        before.1 + 1,
        "one record for the user"
    );
}

#[tokio::test]
async fn changing_a_user_with_any_invalid_field_changes_nothing() {
    let api = Api::start().await;
    let before = snapshot(&api).await;
    for body in [
        json!({"admin": true, "display_name": ""}),
        json!({"disabled": true, "password": ""}),
        json!({"admin": true, "password": "p".repeat(1025)}),
        json!({"admin": true, "email": "alice at example.com"}),
        json!({"admin": true, "groups": ["no such group"]}),
        json!({"admin": true, "phone": "555"}),
        json!({"admin": "true"}),
        json!({"display_name": "Alice", "name": "alicia"}),
    ] {
        let response = root(
            &api,
            Method::PATCH,
            "/admin/users/alice",
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}"
        );
        assert_eq!(snapshot(&api).await, before, "after {body}");
    }
}

#[tokio::test]
async fn tokens_and_settings_with_any_invalid_field_store_nothing() {
    let api = Api::start().await;
    let tokens = api.token_count().await;
    let audit = api.audit_count().await;
    let settings = api.app.store.settings().await.unwrap();
    let mut refused = Vec::new();
    for body in [
        json!({"name": "", "validity": "6m"}),
        json!({"name": "n".repeat(101), "validity": "6m"}),
        json!({"name": "ok", "validity": "5y"}),
        json!({"name": "ok", "expires_at": "yesterday"}),
        json!({"name": "ok", "validity": "6m", "scope": "all"}),
    ] {
        refused.push(api.alice(Method::POST, "/tokens", Some(body.clone())).await);
        refused.push(
            api.with_password(
                "root",
                Method::POST,
                "/admin/users/alice/tokens",
                Some(body),
            )
            .await,
        );
    }
    let good = json!({"max_validity": "6m", "ip_allowlist": [], "password_auth": "enabled", "admins_only": false});
    for (key, bad) in [
        ("ip_allowlist", json!(["10.0.0.0/8", "10.0.0.300"])),
        ("max_validity", json!("3y")),
        ("password_auth", json!("sometimes")),
        ("admins_only", json!("no")),
        ("colour", json!("blue")),
    ] {
        let mut body = good.clone();
        body[key] = bad;
        refused.push(root(&api, Method::PUT, "/admin/settings", Some(body)).await);
    }
    for response in refused {
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(api.token_count().await, tokens);
    assert_eq!(api.audit_count().await, audit);
    assert_eq!(api.app.store.settings().await.unwrap(), settings);
}

#[tokio::test]
async fn the_user_form_with_an_invalid_field_stores_nothing() {
    let api = Api::start().await;
    let root = UiClient::new(&api.app);
    let csrf = root.sign_in("root", "root-pw").await;
    let before = snapshot(&api).await;
    let long = "p".repeat(1025);
    for (name, password) in [
        ("car ol", "pw"),
        ("", "pw"),
        ("carol", long.as_str()),
        ("c/arol", ""),
    ] {
        let page = root
            .post(
                "/tokengate/admin/users",
                &[
                    ("csrf", csrf.as_str()),
                    ("name", name),
                    ("password", password),
                ],
            )
            .await;
        assert_eq!(page.status, 422, "{name:?}: {}", page.body);
        assert_eq!(snapshot(&api).await, before);
    }
    let page = root
        .post(
            "/tokengate/admin/users/alice/password",
            &[("csrf", csrf.as_str()), ("password", long.as_str())],
        )
        .await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert_eq!(snapshot(&api).await, before);
}
