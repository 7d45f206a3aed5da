//! A `tg_` secret is a token attempt, never a password (SPEC §2.4), over real HTTP: token user
//! names stand for the owner through the proxy and forward-auth, a revoked or mistyped token in
//! Basic credentials never counts against its owner's password and is never hashed, and no
//! local password may start with `tg_`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{TestApp, error_body, operator_change, test_config, trusting_loopback};
use serde_json::{Value, json};
use tokengate_core::manage::{Change, Scope, delete_token};
use tokengate_core::model::{Actor, Origin};

fn hashes_run(app: &TestApp) -> u64 {
    app.server.as_ref().unwrap().state.passwords.hashes_run()
}

async fn proxied(app: &TestApp, user: &str, secret: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/things"))
        .basic_auth(user, Some(secret))
        .send()
        .await
        .unwrap()
}

async fn forward_auth(app: &TestApp, user: &str, secret: &str) -> reqwest::Response {
    app.client
        .get(app.url("/tokengate/auth"))
        .basic_auth(user, Some(secret))
        .header("x-forwarded-method", "GET")
        .header("x-forwarded-uri", "/rest/api/2/issue")
        .header("x-forwarded-for", "198.51.100.20")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn token_user_names_stand_for_the_owner_through_the_proxy_and_forward_auth() {
    let app = TestApp::spawn_with(trusting_loopback(), true).await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    for name in [
        "__token__",
        "x-access-token",
        "oauth2",
        "x-token-auth",
        "alice",
    ] {
        let response = proxied(&app, name, &token).await;
        assert_eq!(response.status(), 200, "{name}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["headers"]["x-authenticated-user"][0], "alice",
            "{name}"
        );
        assert_eq!(body["headers"]["x-authenticated-via"][0], "token", "{name}");
        let checked = forward_auth(&app, name, &token).await;
        assert_eq!(checked.status(), 200, "{name}");
        assert_eq!(checked.headers()["x-authenticated-user"], "alice");
    }
    for near_miss in ["__TOKEN__", "x-access-tokens", "token", "Alice"] {
        error_body(
            proxied(&app, near_miss, &token).await,
            401,
            "invalid_credentials",
        )
        .await;
        error_body(
            forward_auth(&app, near_miss, &token).await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    let alice = app.store.user("alice").await.unwrap().unwrap();
    assert_eq!(alice.failed_logins, 0, "a token attempt never counts");
}

#[tokio::test]
async fn configured_token_user_names_replace_the_defaults() {
    let mut config = trusting_loopback();
    config.gateway.token_user_names = vec!["ci-bot".into()];
    let app = TestApp::spawn_with(config, true).await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    assert_eq!(proxied(&app, "ci-bot", &token).await.status(), 200);
    assert_eq!(forward_auth(&app, "ci-bot", &token).await.status(), 200);
    error_body(
        proxied(&app, "__token__", &token).await,
        401,
        "invalid_credentials",
    )
    .await;
}

#[tokio::test]
async fn a_revoked_token_in_basic_credentials_never_locks_its_owners_password() {
    let app = TestApp::spawn_with(trusting_loopback(), true).await;
    app.add_user("alice", "alice-pw", false).await;
    app.add_user("root", "root-pw", true).await;
    let (id, token) = app.add_token("alice").await;
    let alice = Actor::User("alice".into());
    let origin = Origin::default();
    let by_alice = Change {
        actor: &alice,
        origin: &origin,
        now: chrono::Utc::now(),
    };
    let deleted = delete_token(app.store.as_ref(), Scope::Own(&by_alice), &id).await;
    tokengate_server::effects::in_store(app.store.as_ref(), deleted)
        .await
        .unwrap();
    app.sync().await;
    let mistyped = format!(
        "{}{}",
        &token[..token.len() - 1],
        if token.ends_with('a') { 'b' } else { 'a' }
    );
    let before = hashes_run(&app);
    // A git remote, a .netrc, pip and a typo, each retried.
    for _ in 0..3 {
        for (user, secret) in [
            ("alice", token.as_str()),
            ("__token__", token.as_str()),
            ("x-access-token", token.as_str()),
            ("root", token.as_str()),
            ("alice", mistyped.as_str()),
            ("alice", "tg_"),
        ] {
            error_body(
                proxied(&app, user, secret).await,
                401,
                "invalid_credentials",
            )
            .await;
        }
    }
    assert_eq!(
        hashes_run(&app),
        before,
        "no token attempt is hashed as a password"
    );
    for name in ["alice", "root"] {
        let record = app.store.user(name).await.unwrap().unwrap();
        assert_eq!(record.failed_logins, 0, "{name}");
        assert_eq!(record.locked_until, None, "{name}");
    }
    assert_eq!(proxied(&app, "alice", "alice-pw").await.status(), 200);
    let mut settings = app.store.settings().await.unwrap();
    settings.password_auth = tokengate_core::model::PasswordAuth::Disabled;
    app.save_settings(&settings).await;
    app.sync().await;
    for _ in 0..6 {
        error_body(
            proxied(&app, "alice", &token).await,
            403,
            "password_auth_disabled",
        )
        .await;
    }
    let record = app.store.user("alice").await.unwrap().unwrap();
    assert_eq!(record.failed_logins, 0);
}

#[tokio::test]
async fn a_local_password_may_not_start_with_tg_at_create_or_change() {
    let app = TestApp::spawn_with(test_config(), false).await;
    app.add_user("root", "root-pw", true).await;
    // With the admin's password: through a token no password is set at all.
    let api = |method: reqwest::Method, path: &str, body: Value| {
        app.client
            .request(method, app.url(&format!("/tokengate/api/v1{path}")))
            .basic_auth("root", Some("root-pw"))
            .json(&body)
            .send()
    };
    for password in [
        "tg_",
        "tg_secret-password",
        "tg_AbCdEf0123456789AbCdEf0123456789AbC",
    ] {
        let created = api(
            reqwest::Method::POST,
            "/admin/users",
            json!({"name": "bob", "password": password}),
        )
        .await
        .unwrap();
        let body = error_body(created, 422, "invalid_password").await;
        assert!(body["message"].as_str().unwrap().contains("tg_"), "{body}");
        if password.len() > 3 {
            assert!(
                !body.to_string().contains(password),
                "the password is not echoed"
            );
        }
        assert!(
            app.store.user("bob").await.unwrap().is_none(),
            "nothing created"
        );
    }
    let before = app.store.user("root").await.unwrap().unwrap();
    let changed = api(
        reqwest::Method::PATCH,
        "/admin/users/root",
        json!({"password": "tg_new-password"}),
    )
    .await
    .unwrap();
    error_body(changed, 422, "invalid_password").await;
    let after = app.store.user("root").await.unwrap().unwrap();
    assert_eq!(before.password_hash, after.password_hash, "nothing changed");
    let creating = tokengate_core::manage::create_user(
        app.store.as_ref(),
        &operator_change(chrono::Utc::now()),
        "carol",
        false,
        Some(&tokengate_core::Secret::new("tg_carol")),
    )
    .await;
    assert!(matches!(
        creating,
        Err(tokengate_core::manage::ManageError::Password(_))
    ));
}
