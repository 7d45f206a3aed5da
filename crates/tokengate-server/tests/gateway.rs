//! The reverse proxy and tokengate's own endpoints through real HTTP: identity headers,
//! header stripping, streaming, upstream failures, public paths, anonymous access, whoami,
//! health, metrics, the failure throttle, fail-closed and change propagation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::Utc;
use common::switchable::Switchable;
use common::{TestApp, error_body, test_config};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokengate_core::model::*;

async fn echo(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_token_request_reaches_the_upstream_with_the_identity_and_without_credentials() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-pw", false).await;
    let (token_id, token) = app.add_token("alice").await;
    let response = app
        .client
        .post(app.url("/rest/api/2/issue?expand=names"))
        .bearer_auth(&token)
        .header("x-authenticated-user", "mallory")
        .header("X-Authenticated-Via", "password")
        .header("connection", "x-secret-hop")
        .header("x-secret-hop", "dropped")
        .body("hello")
        .send()
        .await
        .unwrap();
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let seen = echo(response).await;
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["uri"], "/rest/api/2/issue?expand=names");
    assert_eq!(
        seen["headers"]["x-authenticated-user"],
        serde_json::json!(["alice"]),
        "client copy replaced"
    );
    assert_eq!(
        seen["headers"]["x-authenticated-via"],
        serde_json::json!(["token"])
    );
    assert_eq!(
        seen["headers"]["x-request-id"],
        serde_json::json!([request_id])
    );
    assert!(seen["headers"].get("authorization").is_none());
    assert!(
        seen["headers"].get("x-secret-hop").is_none(),
        "headers named by Connection are hop-by-hop"
    );
    assert_eq!(seen["body_len"], 5);
    assert!(!token_id.is_empty());
}

#[tokio::test]
async fn only_paths_under_tokengate_stay_with_tokengate() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    // Look-alikes of tokengate's own prefix are the upstream's.
    for path in ["/tokengatex", "/tokengate-api/x", "/x/tokengate/auth"] {
        let seen = echo(app.get_bearer(path, &token).await).await;
        assert_eq!(seen["uri"], path);
    }
    // tokengate's own paths never reach the upstream, whatever the method.
    let home = app.get_bearer("/tokengate", &token).await;
    assert!(
        home.headers()
            .get("content-type")
            .is_none_or(|kind| kind != "application/json"),
        "/tokengate is the web UI's, not the upstream's"
    );
    error_body(
        app.get_bearer("/tokengate/auth/more", &token).await,
        404,
        "not_found",
    )
    .await;
    let auth = app
        .client
        .post(app.url("/tokengate/auth"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(auth.status(), 200);
    assert_eq!(auth.headers()["x-authenticated-user"], "alice");
    assert!(auth.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn authorization_is_forwarded_only_when_configured() {
    let mut config = test_config();
    config.gateway.forward_authorization = true;
    config.gateway.identity_header = "X-Remote-User".parse().unwrap();
    let app = TestApp::spawn_with(config, true).await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    let seen = echo(app.get_bearer("/x", &token).await).await;
    assert_eq!(
        seen["headers"]["authorization"],
        serde_json::json!([format!("Bearer {token}")])
    );
    assert_eq!(
        seen["headers"]["x-remote-user"],
        serde_json::json!(["alice"])
    );
}

#[tokio::test]
async fn large_bodies_stream_both_ways() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    let upload: Vec<u8> = (0..8 * 1024 * 1024)
        .map(|index| (index % 251) as u8)
        .collect();
    let expected_sum: u64 = upload.iter().map(|byte| u64::from(*byte)).sum();
    let response = app
        .client
        .put(app.url("/upload"))
        .bearer_auth(&token)
        .body(upload)
        .send()
        .await
        .unwrap();
    let seen = echo(response).await;
    assert_eq!(seen["body_len"], 8 * 1024 * 1024);
    assert_eq!(seen["body_sum"], expected_sum);
    let download = app.get_bearer("/big", &token).await;
    assert_eq!(download.status(), 200);
    assert_eq!(download.bytes().await.unwrap().len(), 160 * 64 * 1024);
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502_and_a_slow_one_a_504() {
    let mut config = test_config();
    config.gateway.upstream_timeout_seconds = 1;
    let app = TestApp::spawn_with(config, true).await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    let started = Instant::now();
    error_body(
        app.get_bearer("/slow", &token).await,
        504,
        "upstream_timeout",
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(5));

    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut config = test_config();
    config.gateway.upstream = Some(format!("http://127.0.0.1:{port}"));
    let dead = TestApp::spawn_with(config, false).await;
    dead.add_user("alice", "alice-pw", false).await;
    let (_, token) = dead.add_token("alice").await;
    error_body(
        dead.get_bearer("/anything", &token).await,
        502,
        "upstream_unavailable",
    )
    .await;
}

#[tokio::test]
async fn public_paths_bypass_authentication_and_carry_no_identity() {
    let mut config = test_config();
    config.gateway.public_paths = vec!["/status/".into()];
    let app = TestApp::spawn_with(config, true).await;
    let seen = echo(
        app.get_with("/status/ping", &[("x-authenticated-user", "mallory")])
            .await,
    )
    .await;
    assert!(
        seen["headers"].get("x-authenticated-user").is_none(),
        "spoofed identity stripped"
    );
    error_body(
        app.get("/status/../secret").await,
        401,
        "missing_credentials",
    )
    .await;
    error_body(app.get("/private").await, 401, "missing_credentials").await;
}

#[tokio::test]
async fn anonymous_allow_forwards_without_identity_but_still_checks_credentials_given() {
    let mut config = test_config();
    config.gateway.anonymous = tokengate_core::decision::Anonymous::Allow;
    let app = TestApp::spawn_with(config, true).await;
    app.add_user("alice", "alice-pw", false).await;
    let seen = echo(
        app.get_with("/x", &[("X-Authenticated-User", "mallory")])
            .await,
    )
    .await;
    assert!(seen["headers"].get("x-authenticated-user").is_none());
    assert_eq!(
        seen["headers"]["x-authenticated-via"],
        serde_json::json!(["anonymous"])
    );
    error_body(
        app.get_basic("/x", "alice", "wrong").await,
        401,
        "invalid_credentials",
    )
    .await;
}

#[tokio::test]
async fn whoami_answers_for_tokens_and_passwords() {
    let app = TestApp::spawn_with(test_config(), false).await;
    app.add_user("alice", "alice-pw", false).await;
    let (token_id, token) = app.add_token("alice").await;
    let body: Value = app
        .get_bearer("/tokengate/whoami", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body,
        serde_json::json!({"user": "alice", "via": "token", "token_id": token_id})
    );
    let body: Value = app
        .get_basic("/tokengate/whoami", "alice", "alice-pw")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body,
        serde_json::json!({"user": "alice", "via": "password", "token_id": null})
    );
    error_body(
        app.get("/tokengate/whoami").await,
        401,
        "missing_credentials",
    )
    .await;
}

#[tokio::test]
async fn without_an_upstream_the_root_explains_how_to_configure_one() {
    let app = TestApp::spawn_with(test_config(), false).await;
    let page = app.get("/").await;
    assert_eq!(page.status(), 200);
    let text = page.text().await.unwrap();
    assert!(text.contains("upstream") && text.contains("/tokengate/"));
    error_body(app.get("/some/api").await, 404, "not_found").await;
    error_body(app.get("/tokengate/nothing-here").await, 404, "not_found").await;
}

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    assert_eq!(app.get("/tokengate/healthz").await.status(), 200);
    assert_eq!(app.get("/tokengate/readyz").await.status(), 200);
    for _ in 0..3 {
        assert_eq!(app.get_bearer("/x", &token).await.status(), 200);
    }
    assert_eq!(app.get("/x").await.status(), 401);
    let metrics = app.server.as_ref().unwrap().metrics_address.unwrap();
    let text = app
        .client
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("tokengate_decisions_total{result=\"allowed\",reason=\"\",via=\"token\"} 3"),
        "{text}"
    );
    assert!(text.contains("reason=\"missing_credentials\""), "{text}");
    assert!(
        text.contains("tokengate_auth_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains("tokengate_token_cache_lookups_total{result=\"hit\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("tokengate_upstream_responses_total{route=\"default\",class=\"2xx\"} 3"),
        "{text}"
    );
    assert!(!text.contains(&token));
}

#[tokio::test]
async fn repeated_failures_from_one_address_get_429_before_any_hash() {
    let mut config = test_config();
    config.security.failures_per_minute = 3;
    config.security.max_failed_logins = 100;
    config.gateway.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let app = TestApp::spawn_with(config, true).await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    let from = |address: &'static str| [("x-forwarded-for", address)];
    for _ in 0..3 {
        let response = app
            .client
            .get(app.url("/x"))
            .basic_auth("alice", Some("guess"))
            .headers(header_map(&from("198.51.100.1")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }
    for user in ["alice", "nobody"] {
        let asked = std::time::Instant::now();
        let response = app
            .client
            .get(app.url("/x"))
            .basic_auth(user, Some("guess"))
            .headers(header_map(&from("198.51.100.1")))
            .send()
            .await
            .unwrap();
        assert!(
            asked.elapsed() >= tokengate_server::gateway::THROTTLED_ANSWER_DELAY,
            "a throttled address waits for its 429 (tarpit)"
        );
        assert!(response.headers().get("retry-after").is_some());
        error_body(response, 429, "too_many_failures").await;
    }
    let counted = app
        .store
        .user("alice")
        .await
        .unwrap()
        .unwrap()
        .failed_logins;
    assert_eq!(
        counted, 3,
        "attempts beyond the budget are not hashed nor counted"
    );
    let other = app
        .client
        .get(app.url("/x"))
        .basic_auth("alice", Some("alice-pw"))
        .headers(header_map(&from("198.51.100.2")))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200, "another address is not affected");
    let token_use = app
        .client
        .get(app.url("/x"))
        .bearer_auth(&token)
        .headers(header_map(&from("198.51.100.1")))
        .send()
        .await
        .unwrap();
    assert_eq!(token_use.status(), 200, "a valid token is not a failure");
}

fn header_map(pairs: &[(&'static str, &'static str)]) -> reqwest::header::HeaderMap {
    let mut map = reqwest::header::HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, value.parse().unwrap());
    }
    map
}

#[tokio::test]
async fn last_use_is_recorded_in_batches() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-pw", false).await;
    let (token_id, token) = app.add_token("alice").await;
    for _ in 0..20 {
        assert_eq!(app.get_bearer("/x", &token).await.status(), 200);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let record = app.store.token(&token_id).await.unwrap().unwrap();
        if record.last_used_at.is_some() {
            assert_eq!(record.last_used_ip.as_deref(), Some("127.0.0.1"));
            break;
        }
        assert!(Instant::now() < deadline, "last use never recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_token_revoked_by_another_process_is_refused_within_one_second() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-pw", false).await;
    let (token_id, token) = app.add_token("alice").await;
    assert_eq!(app.get_bearer("/x", &token).await.status(), 200);
    assert_eq!(
        app.get_bearer("/x", &token).await.status(),
        200,
        "now cached"
    );
    let other_process = tokengate_store::open(&app.database_url).await.unwrap();
    let change = common::operator_change(Utc::now());
    let scope = tokengate_core::manage::Scope::Admin(&change);
    let deleted =
        tokengate_core::manage::delete_token(other_process.as_ref(), scope, &token_id).await;
    tokengate_server::effects::in_store(other_process.as_ref(), deleted)
        .await
        .unwrap();
    let revoked = Instant::now();
    loop {
        let status = app.get_bearer("/x", &token).await.status();
        if status == 401 {
            break;
        }
        assert!(
            revoked.elapsed() < Duration::from_secs(1),
            "revocation not seen within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let settings = Settings {
        admins_only: true,
        ..Settings::default()
    };
    let (_, second) = app.add_token("alice").await;
    assert_eq!(app.get_bearer("/x", &second).await.status(), 200);
    let saved =
        tokengate_core::manage::change_settings(other_process.as_ref(), &change, &settings).await;
    tokengate_server::effects::in_store(other_process.as_ref(), saved)
        .await
        .unwrap();
    let changed = Instant::now();
    while app.get_bearer("/x", &second).await.status() != 403 {
        assert!(
            changed.elapsed() < Duration::from_secs(1),
            "settings change not seen within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_unreachable_store_fails_closed_with_503_and_recovers_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("gate.db").display());
    let real = tokengate_store::open(&database_url).await.unwrap();
    let switchable = Arc::new(Switchable {
        inner: real,
        down: AtomicBool::new(false),
    });
    let upstream = common::upstream::Upstream::start().await;
    let mut config = test_config();
    config.gateway.upstream = Some(upstream.url());
    let app = TestApp::spawn_on(
        config,
        switchable.clone(),
        database_url,
        Some(upstream),
        dir,
    )
    .await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    assert_eq!(
        app.get_bearer("/x", &token).await.status(),
        200,
        "cached now"
    );
    switchable.down.store(true, Ordering::SeqCst);
    let down = Instant::now();
    loop {
        let response = app.get_bearer("/x", &token).await;
        if response.status() == 503 {
            error_body(response, 503, "unavailable").await;
            break;
        }
        assert!(
            down.elapsed() < Duration::from_secs(1),
            "a cached token was still allowed after 1 s of outage"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    error_body(
        app.get_basic("/x", "alice", "alice-pw").await,
        503,
        "unavailable",
    )
    .await;
    assert_eq!(app.get("/tokengate/readyz").await.status(), 503);
    switchable.down.store(false, Ordering::SeqCst);
    let up = Instant::now();
    while app.get_bearer("/x", &token).await.status() != 200 {
        assert!(up.elapsed() < Duration::from_secs(2), "no recovery");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.get("/tokengate/readyz").await.status(), 200);
}
