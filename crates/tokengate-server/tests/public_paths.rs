//! `public_paths` never match a path another server could resolve elsewhere (`..;`, double
//! encoding, backslashes, encoded slashes, overlong UTF-8, NUL, …): such requests need
//! credentials, in proxy mode and through forward-auth alike. Paths are written on raw TCP,
//! since client libraries normalise them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::raw::{request, send};
use common::{TestApp, test_config};

/// Paths that Tomcat, Jetty, Spring, IIS or a lenient decoder may resolve to `/private/...`.
const ESCAPES: [&str; 24] = [
    "/public/..;/private/x",
    "/public/..;jsessionid=1/private/x",
    "/public;x/..;/private/x",
    "/public/.;/../private/x",
    "/public/%2e%2e/private/x",
    "/public/%2E%2E/private/x",
    "/public/.%2e/private/x",
    "/public/%252e%252e/private/x",
    "/public/%252e%252e%252fprivate/x",
    "/public/..%2fprivate/x",
    "/public/..%2Fprivate/x",
    "/public/..%5cprivate/x",
    "/public/..%5Cprivate/x",
    "/public/..%255cprivate/x",
    "/public/..\\private/x",
    "/public/%c0%ae%c0%ae/private/x",
    "/public/%c0%ae%c0%ae%c0%afprivate/x",
    "/public/..%00/private/x",
    "/public/%00/../private/x",
    "/public/..%20/private/x",
    "/public//../private/x",
    "/public/../private/x",
    "/public/./../private/x",
    "/public/%2e%2e%3b/private/x",
];

fn public_config() -> tokengate_server::config::Config {
    let mut config = test_config();
    config.gateway.public_paths = vec!["/public/".into()];
    config
}

#[tokio::test]
async fn a_normal_public_path_is_forwarded_without_credentials() {
    let app = TestApp::spawn_with(public_config(), true).await;
    for path in ["/public/logo.png", "/public/a/b%20c.txt", "/public/"] {
        let answer = send(app.address, &request("GET", path, &[])).await;
        assert_eq!(answer.status, 200, "{path}");
        assert_eq!(answer.json()["uri"], path);
    }
}

#[tokio::test]
async fn paths_that_could_resolve_outside_the_prefix_need_credentials_in_proxy_mode() {
    let app = TestApp::spawn_with(public_config(), true).await;
    for path in ESCAPES {
        let answer = send(app.address, &request("GET", path, &[])).await;
        assert_eq!(answer.status, 401, "{path}");
        assert_eq!(answer.json()["error"], "missing_credentials", "{path}");
    }
}

#[tokio::test]
async fn with_credentials_such_paths_are_forwarded_as_they_are_with_the_identity() {
    let app = TestApp::spawn_with(public_config(), true).await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    let bearer = format!("Bearer {token}");
    let answer = send(
        app.address,
        &request(
            "GET",
            "/public/..;/private/x",
            &[("Authorization", &bearer)],
        ),
    )
    .await;
    assert_eq!(answer.status, 200);
    let echo = answer.json();
    assert_eq!(echo["uri"], "/public/..;/private/x");
    assert_eq!(echo["headers"]["x-authenticated-user"][0], "alice");
}

#[tokio::test]
async fn paths_that_could_resolve_outside_the_prefix_are_not_public_through_forward_auth() {
    let mut config = public_config();
    config.gateway.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let app = TestApp::spawn_with(config, false).await;
    let public = send(
        app.address,
        &request(
            "GET",
            "/tokengate/auth",
            &[("X-Forwarded-Uri", "/public/x.png?v=1")],
        ),
    )
    .await;
    assert_eq!(public.status, 200, "the control case");
    for path in ESCAPES {
        let answer = send(
            app.address,
            &request("GET", "/tokengate/auth", &[("X-Forwarded-Uri", path)]),
        )
        .await;
        assert_eq!(answer.status, 401, "{path}");
        assert_eq!(answer.json()["error"], "missing_credentials", "{path}");
    }
}
