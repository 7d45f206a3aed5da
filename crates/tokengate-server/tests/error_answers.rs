//! Every answer tokengate makes itself has the JSON error body (405, 431 for oversize headers,
//! broken JSON, …), and
//! a 401 to a Bearer attempt says why in RFC 6750 form while Basic attempts and requests
//! without credentials keep `Basic realm="tokengate"`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::{TimeDelta, Utc};
use common::raw::{RawResponse, request, send};
use common::{TestApp, error_body, test_config};
use tokengate_core::token::TokenSecret;

/// The SPEC §1 error shape, with the request id of the header in the body.
fn assert_error_shape(answer: &RawResponse, status: u16, code: &str) {
    assert_eq!(
        answer.status,
        status,
        "{:?}",
        String::from_utf8_lossy(&answer.body)
    );
    assert!(
        answer
            .header("content-type")
            .is_some_and(|value| value.starts_with("application/json")),
        "{:?}",
        answer.headers
    );
    let body = answer.json();
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(body["request_id"].as_str(), answer.header("x-request-id"));
}

#[tokio::test]
async fn a_method_tokengate_does_not_take_gets_a_json_405_with_allow() {
    let app = TestApp::spawn_with(test_config(), false).await;
    for (method, path) in [
        ("POST", "/tokengate/whoami"),
        ("DELETE", "/tokengate/healthz"),
        ("PUT", "/tokengate/readyz"),
        ("PUT", "/tokengate/api/v1/me"),
        ("DELETE", "/tokengate/api/openapi.json"),
    ] {
        let answer = send(
            app.address,
            &request(method, path, &[("Content-Length", "0")]),
        )
        .await;
        assert_error_shape(&answer, 405, "method_not_allowed");
        assert!(answer.header("allow").is_some(), "{method} {path}");
    }
}

fn many_headers(count: usize) -> Vec<(String, String)> {
    (0..count)
        .map(|index| (format!("X-Filler-{index}"), "v".to_owned()))
        .collect()
}

/// More than 100 header lines: refused by the HTTP layer with 431 before any of tokengate's
/// work runs (no body: see `request_id.rs` for why), on every entrance; 100 lines are fine.
#[tokio::test]
async fn too_many_header_lines_get_431_before_any_work_from_every_entrance() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    let bearer = format!("Bearer {token}");
    for count in [101, 150, 400, 500] {
        let owned = many_headers(count);
        let mut headers: Vec<(&str, &str)> = owned
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        headers.push(("Authorization", bearer.as_str()));
        for path in [
            "/api/x",
            "/tokengate/auth",
            "/tokengate/whoami",
            "/tokengate/",
        ] {
            let answer = send(app.address, &request("GET", path, &headers)).await;
            assert_eq!(answer.status, 431, "{count} lines to {path}");
        }
    }
    let owned = many_headers(98);
    let headers: Vec<(&str, &str)> = owned
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let fine = send(app.address, &request("GET", "/tokengate/healthz", &headers)).await;
    assert_eq!(fine.status, 200, "100 header lines are fine");
}

#[tokio::test]
async fn oversize_header_sections_get_a_json_431_on_raw_tcp_too() {
    let app = TestApp::spawn().await;
    let big = "x".repeat(8 * 1024);
    for headers in [
        vec![("X-Big-1", big.as_str()), ("X-Big-2", big.as_str())],
        vec![
            ("Cookie", big.as_str()),
            ("X-Big", big.as_str()),
            ("X-More", "y"),
        ],
    ] {
        let answer = send(app.address, &request("GET", "/api/x", &headers)).await;
        assert_error_shape(&answer, 431, "headers_too_large");
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_is_400_and_json_of_the_wrong_shape_is_422() {
    let app = TestApp::spawn_with(test_config(), false).await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    let post = |body: &'static [u8]| {
        app.client
            .post(app.url("/tokengate/api/v1/tokens"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for body in [
        &b"not json"[..],
        b"",
        b"{",
        b"{\"name\": \"a\",}",
        b"name=a&validity=6m",
        b"\xff\xfe",
        b"{\"name\": \"a\"} trailing",
    ] {
        error_body(post(body).await.unwrap(), 400, "invalid_json").await;
    }
    for body in [
        &b"{\"name\": 5}"[..],
        b"[]",
        b"\"a string\"",
        b"{\"name\": \"a\", \"unknown\": 1}",
    ] {
        error_body(post(body).await.unwrap(), 422, "invalid_body").await;
    }
    let filter = tokengate_core::model::TokenFilter {
        owner: Some("alice".into()),
        limit: 100,
        ..Default::default()
    };
    let tokens = app.store.tokens(&filter).await.unwrap();
    assert_eq!(tokens.len(), 1, "nothing was created");
}

#[tokio::test]
async fn unknown_paths_under_tokengate_get_a_json_404() {
    let app = TestApp::spawn_with(test_config(), false).await;
    for path in [
        "/tokengate/nothing",
        "/tokengate/api/v2/x",
        "/tokengate/api/v1/nothing",
    ] {
        let answer = send(app.address, &request("GET", path, &[])).await;
        assert_error_shape(&answer, 404, "not_found");
    }
}

async fn add_expired_token(app: &TestApp, owner: &str) -> String {
    let now = Utc::now();
    let expiry = Some(now - TimeDelta::days(1));
    let (_, secret) = app
        .add_token_made_at(owner, now - TimeDelta::days(30), expiry)
        .await;
    secret
}

fn challenge(response: &reqwest::Response) -> String {
    response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn bearer_attempts_get_an_rfc_6750_challenge_that_says_why() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-pw", false).await;
    let expired = add_expired_token(&app, "alice").await;
    let unknown = TokenSecret::generate().unwrap().expose().to_owned();
    for (secret, reason) in [
        (expired.as_str(), "token_expired"),
        (unknown.as_str(), "invalid_credentials"),
        ("not-a-token", "invalid_credentials"),
    ] {
        for path in [
            "/api/x",
            "/tokengate/auth",
            "/tokengate/whoami",
            "/tokengate/api/v1/me",
        ] {
            let response = app.get_bearer(path, secret).await;
            let header = challenge(&response);
            assert!(
                header.starts_with(
                    "Bearer realm=\"tokengate\", error=\"invalid_token\", error_description=\""
                ),
                "{path}: {header}"
            );
            assert!(header.contains(reason), "{path}: {header}");
            assert!(!header.contains(secret), "the secret is never echoed");
            error_body(response, 401, reason).await;
        }
    }
}

#[tokio::test]
async fn basic_attempts_and_missing_credentials_keep_the_basic_challenge() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-pw", false).await;
    let expired = add_expired_token(&app, "alice").await;
    let cases = [
        app.get_basic("/api/x", "alice", "wrong").await,
        app.get_basic("/api/x", "alice", &expired).await,
        app.get_basic("/api/x", "nobody", "pw").await,
        app.get("/api/x").await,
        app.get_with("/api/x", &[("Authorization", "Bearer")]).await,
        app.get_with("/api/x", &[("Authorization", "Digest x")])
            .await,
    ];
    for response in cases {
        assert_eq!(response.status(), 401);
        assert_eq!(challenge(&response), "Basic realm=\"tokengate\"");
    }
}
