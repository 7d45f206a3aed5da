//! Header spoofing (SPEC §2, last paragraph; §8): identity headers in every spelling never
//! reach the upstream nor come back from forward-auth; an untrusted peer's forwarding headers
//! are replaced by tokengate's own; only the one checked `Authorization` goes on. Requests are
//! written on raw TCP so the exact header bytes are sent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::raw::{request, send};
use common::{TestApp, test_config};
use serde_json::{Value, json};

/// Every header name the upstream received, lowercased (hyper lowercases; `_` is kept).
fn received_names(echo: &Value) -> Vec<String> {
    echo["headers"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

fn folded(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// Names the upstream got that are the given header in some spelling, with their values.
fn spellings_of(echo: &Value, canonical: &str) -> Vec<(String, Value)> {
    echo["headers"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| folded(name) == canonical)
        .map(|(name, values)| (name.clone(), values.clone()))
        .collect()
}

const SPOOFED_IDENTITY: [(&str, &str); 12] = [
    ("X_Authenticated_User", "admin"),
    ("x-authenticated_user", "admin"),
    ("X-AUTHENTICATED-USER", "admin"),
    ("X_Authenticated-User", "admin"),
    ("X-AUTHENTICATED-VIA", "password"),
    ("X_Authenticated_Via", "password"),
    ("x_authenticated_groups", "admins"),
    ("X-Authenticated-Groups", "admins"),
    ("X_AUTHENTICATED_EMAIL", "boss@example.com"),
    ("x-authenticated-email", "boss@example.com"),
    ("x_request_id", "forged-id"),
    ("X_Request-Id", "forged-id"),
];

#[tokio::test]
async fn identity_headers_in_every_spelling_never_reach_the_upstream_with_a_token() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    let bearer = format!("Bearer {token}");
    let mut headers = SPOOFED_IDENTITY.to_vec();
    headers.push(("Authorization", &bearer));
    let answer = send(app.address, &request("GET", "/api/x", &headers)).await;
    assert_eq!(answer.status, 200);
    let echo = answer.json();
    assert_eq!(
        spellings_of(&echo, "x-authenticated-user"),
        vec![("x-authenticated-user".to_owned(), json!(["alice"]))]
    );
    assert_eq!(
        spellings_of(&echo, "x-authenticated-via"),
        vec![("x-authenticated-via".to_owned(), json!(["token"]))]
    );
    assert!(spellings_of(&echo, "x-authenticated-groups").is_empty());
    assert!(spellings_of(&echo, "x-authenticated-email").is_empty());
    let request_ids = spellings_of(&echo, "x-request-id");
    assert_eq!(request_ids.len(), 1, "{request_ids:?}");
    assert_eq!(request_ids[0].0, "x-request-id");
    assert_ne!(request_ids[0].1, json!(["forged-id"]));
}

#[tokio::test]
async fn identity_headers_in_every_spelling_are_stripped_from_public_and_anonymous_requests() {
    let mut config = test_config();
    config.gateway.public_paths = vec!["/public/".into()];
    config.gateway.anonymous = tokengate_core::decision::Anonymous::Allow;
    let app = TestApp::spawn_with(config, true).await;
    for path in ["/public/logo.png", "/api/anonymous"] {
        let answer = send(app.address, &request("GET", path, &SPOOFED_IDENTITY)).await;
        assert_eq!(answer.status, 200, "{path}");
        let echo = answer.json();
        assert!(
            spellings_of(&echo, "x-authenticated-user").is_empty(),
            "{path}: {echo}"
        );
        assert!(
            spellings_of(&echo, "x-authenticated-groups").is_empty(),
            "{path}"
        );
        assert!(
            spellings_of(&echo, "x-authenticated-email").is_empty(),
            "{path}"
        );
        let via = spellings_of(&echo, "x-authenticated-via");
        if path == "/api/anonymous" {
            assert_eq!(
                via,
                vec![("x-authenticated-via".to_owned(), json!(["anonymous"]))]
            );
        } else {
            assert!(via.is_empty(), "{path}: {via:?}");
        }
    }
}

#[tokio::test]
async fn a_configured_identity_header_is_stripped_in_every_spelling_too() {
    let mut config = test_config();
    config.gateway.identity_header = "X-Remote-User".parse().unwrap();
    config.gateway.via_header = "X-Remote-Via".parse().unwrap();
    let app = TestApp::spawn_with(config, true).await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    let bearer = format!("Bearer {token}");
    let headers = [
        ("X_Remote_User", "admin"),
        ("x-remote_user", "admin"),
        ("X-REMOTE-USER", "admin"),
        ("X_REMOTE_VIA", "password"),
        ("Authorization", bearer.as_str()),
    ];
    let echo = send(app.address, &request("GET", "/x", &headers))
        .await
        .json();
    assert_eq!(
        spellings_of(&echo, "x-remote-user"),
        vec![("x-remote-user".to_owned(), json!(["alice"]))]
    );
    assert_eq!(
        spellings_of(&echo, "x-remote-via"),
        vec![("x-remote-via".to_owned(), json!(["token"]))]
    );
}

#[tokio::test]
async fn forward_auth_answers_carry_only_tokengates_identity_whatever_the_client_sent() {
    let mut config = test_config();
    config.gateway.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let app = TestApp::spawn_with(config, false).await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    let bearer = format!("Bearer {token}");
    let mut headers = SPOOFED_IDENTITY.to_vec();
    headers.push(("Authorization", &bearer));
    headers.push(("X-Forwarded-Uri", "/api/x"));
    let answer = send(app.address, &request("GET", "/tokengate/auth", &headers)).await;
    assert_eq!(answer.status, 200);
    let identity: Vec<&(String, String)> = answer
        .headers
        .iter()
        .filter(|(name, _)| folded(name).starts_with("x-authenticated"))
        .collect();
    assert_eq!(
        identity,
        [
            &("x-authenticated-user".to_owned(), "alice".to_owned()),
            &("x-authenticated-via".to_owned(), "token".to_owned())
        ]
    );
    let ids: Vec<_> = answer
        .headers
        .iter()
        .filter(|(name, _)| folded(name) == "x-request-id")
        .collect();
    assert_eq!(ids.len(), 1);
    assert_ne!(ids[0].1, "forged-id");
    // Without credentials the refusal echoes nothing either.
    let refused = send(
        app.address,
        &request("GET", "/tokengate/auth", &SPOOFED_IDENTITY),
    )
    .await;
    assert_eq!(refused.status, 401);
    assert!(
        refused
            .headers
            .iter()
            .all(|(name, _)| !folded(name).starts_with("x-authenticated")),
        "{:?}",
        refused.headers
    );
}

const SPOOFED_FORWARDING: [(&str, &str); 11] = [
    ("Forwarded", "for=10.9.9.9;proto=https;host=admin.internal"),
    ("X-Real-IP", "10.9.9.9"),
    ("X_Real_IP", "10.9.9.9"),
    ("X-Forwarded-Port", "443"),
    ("X-Forwarded-Prefix", "/admin"),
    ("X-Forwarded-Host", "admin.internal"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-For", "10.9.9.9"),
    ("X_Forwarded_For", "10.9.9.9"),
    ("x_forwarded_host", "admin.internal"),
    ("X_FORWARDED_PREFIX", "/admin"),
];

#[tokio::test]
async fn an_untrusted_peers_forwarding_headers_are_replaced_by_tokengates_own() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    let bearer = format!("Bearer {token}");
    let mut headers = SPOOFED_FORWARDING.to_vec();
    headers.push(("Authorization", &bearer));
    let echo = send(app.address, &request("GET", "/x", &headers))
        .await
        .json();
    let seen = &echo["headers"];
    assert_eq!(seen["x-forwarded-for"], json!(["127.0.0.1"]));
    assert_eq!(seen["x-real-ip"], json!(["127.0.0.1"]));
    assert_eq!(seen["x-forwarded-proto"], json!(["http"]));
    assert_eq!(seen["x-forwarded-host"], json!(["gateway.test"]));
    for gone in ["forwarded", "x-forwarded-port", "x-forwarded-prefix"] {
        assert!(spellings_of(&echo, gone).is_empty(), "{gone}: {echo}");
    }
    let odd: Vec<String> = received_names(&echo)
        .into_iter()
        .filter(|name| name.contains('_'))
        .collect();
    assert!(odd.is_empty(), "{odd:?}");
}

#[tokio::test]
async fn a_trusted_proxys_forwarding_chain_is_kept_and_extended() {
    let mut config = test_config();
    config.gateway.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let app = TestApp::spawn_with(config, true).await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    let bearer = format!("Bearer {token}");
    let headers = [
        ("X-Forwarded-For", "198.51.100.7"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "api.example.com"),
        ("X-Forwarded-Prefix", "/api"),
        ("Forwarded", "for=198.51.100.7;proto=https"),
        ("X-Real-IP", "198.51.100.99"),
        ("X_Forwarded_For", "10.9.9.9"),
        ("Authorization", bearer.as_str()),
    ];
    let echo = send(app.address, &request("GET", "/x", &headers))
        .await
        .json();
    let seen = &echo["headers"];
    assert_eq!(seen["x-forwarded-for"], json!(["198.51.100.7, 127.0.0.1"]));
    assert_eq!(
        seen["x-real-ip"],
        json!(["198.51.100.7"]),
        "the client as determined"
    );
    assert_eq!(seen["x-forwarded-proto"], json!(["https"]));
    assert_eq!(seen["x-forwarded-host"], json!(["api.example.com"]));
    assert_eq!(seen["x-forwarded-prefix"], json!(["/api"]));
    assert_eq!(seen["forwarded"], json!(["for=198.51.100.7;proto=https"]));
    assert!(
        seen.get("x_forwarded_for").is_none(),
        "odd spellings never pass"
    );
}

async fn forwarding_app() -> (TestApp, String, String) {
    let mut config = test_config();
    config.gateway.forward_authorization = true;
    config.gateway.public_paths = vec!["/public/".into()];
    let app = TestApp::spawn_with(config, true).await;
    app.add_user("alice", "alice-pw", false).await;
    app.add_user("bob", "bob-pw", false).await;
    let (_, alice) = app.add_token("alice").await;
    let (_, bob) = app.add_token("bob").await;
    (app, alice, bob)
}

#[tokio::test]
async fn with_forward_authorization_only_the_checked_authorization_goes_on() {
    let (app, alice, _) = forwarding_app().await;
    let bearer = format!("Bearer {alice}");
    let echo = send(
        app.address,
        &request("GET", "/x", &[("Authorization", &bearer)]),
    )
    .await
    .json();
    assert_eq!(echo["headers"]["authorization"], json!([bearer]));
    // Nothing was checked on a public path: no Authorization goes on.
    let public = send(
        app.address,
        &request("GET", "/public/x", &[("Authorization", "Bearer unchecked")]),
    )
    .await
    .json();
    assert!(public["headers"].get("authorization").is_none(), "{public}");
}

#[tokio::test]
async fn two_authorization_headers_are_refused_as_malformed_and_never_forwarded() {
    let (app, alice, bob) = forwarding_app().await;
    let alice_bearer = format!("Bearer {alice}");
    let bob_bearer = format!("Bearer {bob}");
    let variants: Vec<[(&str, &str); 2]> = vec![
        [
            ("Authorization", &alice_bearer),
            ("Authorization", &bob_bearer),
        ],
        [
            ("Authorization", &alice_bearer),
            ("authorization", "Bearer tg_forged"),
        ],
        [
            ("Authorization", &alice_bearer),
            ("AUTHORIZATION", "Basic YWRtaW46YWRtaW4="),
        ],
        [
            ("Authorization", "Basic YWRtaW46YWRtaW4="),
            ("Authorization", &alice_bearer),
        ],
    ];
    for headers in &variants {
        for path in ["/x", "/public/x", "/tokengate/whoami", "/tokengate/auth"] {
            let answer = send(app.address, &request("GET", path, headers)).await;
            assert_eq!(answer.status, 401, "{path} {headers:?}");
            let body = answer.json();
            assert_eq!(body["error"], "malformed_credentials", "{path}");
            assert!(answer.header("www-authenticate").is_some());
        }
    }
}
