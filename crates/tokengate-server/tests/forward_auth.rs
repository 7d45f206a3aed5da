//! Forward-auth (`/tokengate/auth`): the contracts of Traefik ForwardAuth (the headers Traefik
//! sends) and nginx `auth_request` (the recipe in docs/deploy/nginx.conf, run with the real
//! nginx when it is installed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::proxies::{
    behind_nginx, docs, free_port, nginx_binary, retry_after, start_nginx, trusting_loopback,
};
use common::switchable::spawn_switchable;
use common::{TestApp, error_body};
use std::sync::atomic::Ordering;

#[tokio::test]
async fn traefik_forward_auth_gets_identity_headers_or_the_refusal() {
    let app = TestApp::spawn_with(trusting_loopback(), false).await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    let traefik = |authorization: Option<String>| {
        let mut request = app
            .client
            .get(app.url("/tokengate/auth"))
            .header("X-Forwarded-Method", "POST")
            .header("X-Forwarded-Proto", "https")
            .header("X-Forwarded-Host", "api.example.com")
            .header("X-Forwarded-Uri", "/rest/api/2/issue?x=1")
            .header("X-Forwarded-For", "198.51.100.20");
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        request.send()
    };
    let allowed = traefik(Some(format!("Bearer {token}"))).await.unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(allowed.headers()["x-authenticated-user"], "alice");
    assert_eq!(allowed.headers()["x-authenticated-via"], "token");
    assert!(allowed.headers().contains_key("x-request-id"));
    error_body(traefik(None).await.unwrap(), 401, "missing_credentials").await;
    let mut settings = app.store.settings().await.unwrap();
    settings.ip_allowlist = tokengate_core::allowlist::IpAllowList::parse(&["10.0.0.0/8"]).unwrap();
    app.save_settings(&settings).await;
    app.sync().await;
    let refused = error_body(
        traefik(Some(format!("Bearer {token}"))).await.unwrap(),
        403,
        "ip_not_allowed",
    )
    .await;
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("198.51.100.20"),
        "names the client address as seen"
    );
    let public = app
        .get_with(
            "/tokengate/auth",
            &[("X-Forwarded-Uri", "/public/logo.png")],
        )
        .await;
    assert_eq!(
        public.status(),
        200,
        "public paths pass without credentials"
    );
    assert!(public.headers().get("x-authenticated-user").is_none());
}

#[test]
fn traefik_recipe_points_at_the_auth_endpoint_and_copies_the_identity_headers() {
    let recipe = std::fs::read_to_string(docs("traefik.yml")).unwrap();
    assert!(recipe.contains("address: \"http://127.0.0.1:8700/tokengate/auth\""));
    for header in [
        "X-Authenticated-User",
        "X-Authenticated-Via",
        "X-Request-Id",
    ] {
        assert!(recipe.contains(&format!("- \"{header}\"")), "{header}");
    }
}

#[tokio::test]
async fn nginx_auth_request_headers_are_understood() {
    let app = TestApp::spawn_with(trusting_loopback(), false).await;
    app.add_user("alice", "alice-pw", false).await;
    let response = app
        .client
        .get(app.url("/tokengate/auth"))
        .header("X-Original-URI", "/api/things")
        .header("X-Original-Method", "DELETE")
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-authenticated-via"], "password");
}

#[tokio::test]
async fn nginx_recipe_protects_an_api_with_tokengate() {
    let Some(binary) = nginx_binary() else {
        return;
    };
    let upstream = common::upstream::Upstream::start().await;
    let app = TestApp::spawn_with(trusting_loopback(), false).await;
    app.add_user("alice", "alice-pw", false).await;
    let (token_id, token) = app.add_token("alice").await;
    let dir = tempfile::tempdir().unwrap();
    let nginx = start_nginx(
        &binary,
        dir.path(),
        app.address.port(),
        upstream.address.port(),
    );
    let base = format!("http://127.0.0.1:{}", nginx.port);

    let allowed = app
        .client
        .get(format!("{base}/rest/api/2/myself"))
        .bearer_auth(&token)
        .header("X-Authenticated-User", "mallory")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    let seen: serde_json::Value = allowed.json().await.unwrap();
    assert_eq!(seen["uri"], "/rest/api/2/myself");
    assert_eq!(seen["headers"]["host"], serde_json::json!(["127.0.0.1"]));
    assert_eq!(
        seen["headers"]["x-forwarded-proto"],
        serde_json::json!(["http"])
    );
    assert_eq!(
        seen["headers"]["x-authenticated-user"],
        serde_json::json!(["alice"])
    );
    assert_eq!(
        seen["headers"]["x-authenticated-via"],
        serde_json::json!(["token"])
    );
    assert!(
        seen["headers"].get("authorization").is_none(),
        "the upstream never sees the token"
    );

    let missing = app
        .client
        .get(format!("{base}/rest/api/2/myself"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(
        missing.headers()["www-authenticate"],
        "Basic realm=\"tokengate\""
    );
    let wrong = app
        .client
        .get(format!("{base}/x"))
        .basic_auth("alice", Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let mut settings = app.store.settings().await.unwrap();
    settings.ip_allowlist = tokengate_core::allowlist::IpAllowList::parse(&["10.0.0.0/8"]).unwrap();
    app.save_settings(&settings).await;
    app.sync().await;
    let outside = app
        .client
        .get(format!("{base}/x"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        outside.status(),
        403,
        "the allow-list sees the client address nginx forwards"
    );
    let record = app.store.token(&token_id).await.unwrap().unwrap();
    assert_eq!(record.owner, "alice");
}

#[tokio::test]
async fn through_the_nginx_recipe_a_client_cannot_claim_a_public_path_or_an_identity() {
    let Some(binary) = nginx_binary() else {
        return;
    };
    let upstream = common::upstream::Upstream::start().await;
    let app = TestApp::spawn_with(trusting_loopback(), false).await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    let dir = tempfile::tempdir().unwrap();
    let nginx = start_nginx(
        &binary,
        dir.path(),
        app.address.port(),
        upstream.address.port(),
    );
    let base = format!("http://127.0.0.1:{}", nginx.port);
    let public = app
        .client
        .get(format!("{base}/public/logo.png"))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 200, "the control case");
    for (name, value) in [
        ("X-Original-URI", "/public/x"),
        ("X-Forwarded-Uri", "/public/x"),
        ("X-Original-Method", "GET"),
    ] {
        let claimed = app
            .client
            .get(format!("{base}/private/x"))
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(claimed.status(), 401, "{name}");
    }
    let spoofed = app
        .client
        .get(format!("{base}/private/x"))
        .bearer_auth(&token)
        .header("X_Authenticated_User", "admin")
        .header("X-Authenticated-Groups", "admins")
        .header("X-Real-IP", "10.9.9.9")
        .send()
        .await
        .unwrap();
    assert_eq!(spoofed.status(), 200);
    let seen: serde_json::Value = spoofed.json().await.unwrap();
    let headers = seen["headers"].as_object().unwrap();
    assert_eq!(
        headers["x-authenticated-user"],
        serde_json::json!(["alice"])
    );
    assert!(headers.get("x_authenticated_user").is_none(), "{seen}");
    assert!(headers.get("x-authenticated-groups").is_none(), "{seen}");
    assert_eq!(headers["x-real-ip"], serde_json::json!(["127.0.0.1"]));
}

/// Asserts a refusal that nginx rebuilt from tokengate's answer: status, JSON body with
/// tokengate's code and message, and the request id of the header in the body.
async fn basic_through(app: &TestApp, url: String, user: &str, secret: &str) -> reqwest::Response {
    let request = app.client.get(url).basic_auth(user, Some(secret));
    request.send().await.unwrap()
}

async fn rebuilt_refusal(response: reqwest::Response, reason: tokengate_core::Reason) {
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "{reason:?}"
    );
    let body = error_body(response, reason.status(), reason.code()).await;
    assert_eq!(body["message"], reason.message());
    assert!(
        !body["request_id"].as_str().unwrap().is_empty(),
        "tokengate's request id"
    );
}

#[tokio::test]
async fn through_the_nginx_recipe_a_throttled_address_gets_429_with_retry_after_not_500() {
    let Some(binary) = nginx_binary() else {
        return;
    };
    let mut config = trusting_loopback();
    config.security.failures_per_minute = 2;
    config.security.max_failed_logins = 100;
    let app = TestApp::spawn_with(config, false).await;
    app.add_user("alice", "alice-pw", false).await;
    let (nginx, _upstream, _dir) = behind_nginx(&binary, &app).await;
    for _ in 0..2 {
        let guess = basic_through(&app, nginx.url("/rest/api/2/myself"), "alice", "guess").await;
        assert_eq!(guess.status(), 401, "the budget is not spent yet");
    }
    for (user, secret) in [("alice", "guess"), ("nobody", "guess"), ("alice", "tg_x")] {
        let throttled = app
            .client
            .post(nginx.url("/rest/api/2/issue"))
            .basic_auth(user, Some(secret))
            .send()
            .await
            .unwrap();
        let seconds = retry_after(&throttled);
        assert!((1..=60).contains(&seconds), "{seconds}");
        rebuilt_refusal(throttled, tokengate_core::Reason::TooManyFailures).await;
    }
    let direct = app.get_basic("/tokengate/auth", "alice", "guess").await;
    assert!(direct.headers().contains_key("retry-after"));
    error_body(direct, 429, "too_many_failures").await;
}

#[tokio::test]
async fn through_the_nginx_recipe_an_unreachable_store_gets_503_not_500() {
    let Some(binary) = nginx_binary() else {
        return;
    };
    let (app, store) = spawn_switchable(trusting_loopback()).await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    let (nginx, _upstream, _dir) = behind_nginx(&binary, &app).await;
    store.down.store(true, Ordering::SeqCst);
    let password = basic_through(&app, nginx.url("/x"), "alice", "alice-pw").await;
    rebuilt_refusal(password, tokengate_core::Reason::Unavailable).await;
    let bearer = app
        .client
        .delete(nginx.url("/x?y=1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        bearer.status(),
        503,
        "a token not yet cached is not allowed"
    );
    store.down.store(false, Ordering::SeqCst);
    // Recovery without a restart: within the watcher's next poll of the store.
    let back = std::time::Instant::now();
    loop {
        let recovered = app
            .client
            .get(nginx.url("/x"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        if recovered.status() == 200 {
            break;
        }
        assert_eq!(
            recovered.status(),
            503,
            "unavailable until then, never anything else"
        );
        assert!(
            back.elapsed() < std::time::Duration::from_secs(5),
            "no recovery"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn through_the_nginx_recipe_401_and_403_keep_their_challenge_and_retry_after() {
    let Some(binary) = nginx_binary() else {
        return;
    };
    let mut config = trusting_loopback();
    config.security.max_failed_logins = 2;
    let app = TestApp::spawn_with(config, false).await;
    app.add_user("alice", "alice-pw", false).await;
    let (nginx, _upstream, _dir) = behind_nginx(&binary, &app).await;
    let bearer = app
        .client
        .get(nginx.url("/x"))
        .bearer_auth("tg_not_a_real_token")
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 401);
    let challenge = bearer.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("Bearer realm=\"tokengate\", error=\"invalid_token\""),
        "{challenge}"
    );
    for _ in 0..2 {
        let guess = basic_through(&app, nginx.url("/x"), "alice", "guess").await;
        assert_eq!(guess.status(), 401);
        assert!(!guess.headers().contains_key("retry-after"));
    }
    let locked = basic_through(&app, nginx.url("/x"), "alice", "alice-pw").await;
    assert_eq!(locked.status(), 403, "user_locked");
    let seconds = retry_after(&locked);
    assert!((1..=15 * 60).contains(&seconds), "{seconds}");
}

#[tokio::test]
async fn through_the_nginx_recipe_a_gateway_that_does_not_answer_means_500_never_the_upstream() {
    let Some(binary) = nginx_binary() else {
        return;
    };
    let upstream = common::upstream::Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let nobody = free_port();
    let nginx = start_nginx(&binary, dir.path(), nobody, upstream.address.port());
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    for path in ["/x", "/public/logo.png"] {
        let response = client.get(nginx.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 500, "{path}");
        assert!(
            !response.text().await.unwrap().contains("headers"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_fragment_in_the_original_uri_never_makes_a_path_public() {
    let app = TestApp::spawn_with(trusting_loopback(), false).await;
    // nginx passes a target with `#` on as written; an upstream that takes the `#` as part of
    // the path resolves `/public/x#/../../admin` to `/admin`. A public path is in normal form,
    // which has no `#`.
    let control = app
        .get_with("/tokengate/auth", &[("X-Forwarded-Uri", "/public/x?y=#")])
        .await;
    assert_eq!(control.status(), 200, "the control case: a public path");
    for uri in [
        "/public/x#/../../admin",
        "/public/x#/%2e%2e/admin",
        "/public#/../admin",
        "/public/x#top",
    ] {
        let asked = app
            .get_with("/tokengate/auth", &[("X-Forwarded-Uri", uri)])
            .await;
        error_body(asked, 401, "missing_credentials").await;
    }
    let Some(binary) = nginx_binary() else {
        return;
    };
    let (nginx, upstream, _dir) = behind_nginx(&binary, &app).await;
    let address = ([127, 0, 0, 1], nginx.port).into();
    let request = common::raw::request("GET", "/public/x#/../../admin", &[]);
    let through = common::raw::send(address, &request).await;
    assert_eq!(through.status, 401, "through nginx");
    assert!(upstream.take_seen().is_empty(), "nothing got through");
}
