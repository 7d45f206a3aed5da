//! The Caddy `forward_auth` recipe (docs/deploy/Caddyfile), run with the real Caddy in front of
//! the real gateway and a real upstream when Caddy is installed (CI installs Debian's).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::proxies::{Proxy, docs, free_port, installed, retry_after, trusting_loopback};
use common::switchable::spawn_switchable;
use common::upstream::Upstream;
use common::{TestApp, error_body};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;

/// The caddy binary, or `None` with a line saying the test is skipped.
fn caddy_binary() -> Option<PathBuf> {
    let found = installed(&["/usr/bin/caddy", "/usr/local/bin/caddy"]);
    if found.is_none() {
        eprintln!("skipped: caddy is not installed (CI installs it)");
    }
    found
}

/// Caddy running the recipe as written, its ports moved to free ones, its admin endpoint off
/// and every file it writes (autosave, storage, log) in `dir`.
struct Caddy {
    proxy: Proxy,
    _upstream: Upstream,
    _dir: tempfile::TempDir,
}

impl Caddy {
    async fn start(binary: &Path, app: &TestApp) -> Self {
        Self::in_front_of(binary, app.address.port()).await
    }

    /// Caddy asking the gateway on `gateway_port` (nothing need listen there).
    async fn in_front_of(binary: &Path, gateway_port: u16) -> Self {
        let upstream = Upstream::start().await;
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let recipe = std::fs::read_to_string(docs("Caddyfile")).unwrap();
        let config = recipe
            .replace("127.0.0.1:8700", &format!("127.0.0.1:{gateway_port}"))
            .replace("127.0.0.1:9000", &upstream.address.to_string())
            .replace(":8080 {", &format!(":{port} {{"));
        assert!(
            config.contains(&format!(":{port} {{")),
            "recipe's site address"
        );
        let path = dir.path().join("Caddyfile");
        std::fs::write(&path, format!("{{\n\tadmin off\n}}\n{config}")).unwrap();
        let log = dir.path().join("caddy.log");
        let child = Command::new(binary)
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&path)
            .env("HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .env("XDG_DATA_HOME", dir.path().join("data"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Self {
            proxy: Proxy::started(child, port, "caddy", &log),
            _upstream: upstream,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        self.proxy.url(path)
    }
}

/// The headers the upstream saw, from its echo.
async fn seen_headers(response: reqwest::Response) -> serde_json::Map<String, Value> {
    assert_eq!(response.status(), 200, "reached the upstream");
    let seen: Value = response.json().await.unwrap();
    seen["headers"].as_object().unwrap().clone()
}

/// No identity header of the client's and no unexpanded Caddy placeholder reached the upstream.
fn assert_clean(headers: &serde_json::Map<String, Value>, user: Option<&str>) {
    for (name, values) in headers {
        assert!(!values.to_string().contains("{http."), "{name}: {values}");
        if name.replace('_', "-").starts_with("x-authenticated-") {
            let from_tokengate = ["x-authenticated-user", "x-authenticated-via"];
            assert!(from_tokengate.contains(&name.as_str()), "{headers:?}");
        }
    }
    match user {
        Some(user) => assert_eq!(headers["x-authenticated-user"], serde_json::json!([user])),
        None => assert!(!headers.contains_key("x-authenticated-user"), "{headers:?}"),
    }
    assert!(!headers.contains_key("authorization"), "{headers:?}");
}

const CLIENT_IDENTITY: [(&str, &str); 6] = [
    ("X-Authenticated-User", "admin"),
    ("x-authenticated-user", "root"),
    ("X_Authenticated_User", "admin"),
    ("X-Authenticated-Groups", "admins"),
    ("X-AUTHENTICATED-EMAIL", "boss@example.com"),
    ("X-Authenticated-Via", "password"),
];

fn claiming(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    CLIENT_IDENTITY
        .iter()
        .fold(request, |request, (name, value)| {
            request.header(*name, *value)
        })
}

#[tokio::test]
async fn caddy_recipe_lets_a_token_through_with_tokengates_identity_only() {
    let Some(binary) = caddy_binary() else {
        return;
    };
    let app = TestApp::spawn_with(trusting_loopback(), false).await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    let caddy = Caddy::start(&binary, &app).await;
    let request = app
        .client
        .post(caddy.url("/rest/api/2/issue?expand=names"))
        .bearer_auth(&token);
    let headers = seen_headers(claiming(request).send().await.unwrap()).await;
    assert_clean(&headers, Some("alice"));
    assert_eq!(headers["x-authenticated-via"], serde_json::json!(["token"]));
    assert!(headers.contains_key("x-request-id"), "tokengate's id");
    let host = format!("127.0.0.1:{}", caddy.proxy.port);
    assert_eq!(
        headers["host"],
        serde_json::json!([host]),
        "Caddy keeps Host"
    );
    assert_eq!(headers["x-forwarded-proto"], serde_json::json!(["http"]));
    let password = app
        .client
        .get(caddy.url("/x"))
        .basic_auth("alice", Some("alice-pw"));
    let headers = seen_headers(password.send().await.unwrap()).await;
    assert_clean(&headers, Some("alice"));
    assert_eq!(
        headers["x-authenticated-via"],
        serde_json::json!(["password"])
    );
}

#[tokio::test]
async fn on_a_public_path_behind_caddy_no_placeholder_and_no_client_identity_reach_the_upstream() {
    let Some(binary) = caddy_binary() else {
        return;
    };
    let app = TestApp::spawn_with(trusting_loopback(), false).await;
    let caddy = Caddy::start(&binary, &app).await;
    for path in ["/public/logo.png", "/public/a/b?c=d"] {
        let request = app.client.get(caddy.url(path));
        let headers = seen_headers(claiming(request).send().await.unwrap()).await;
        assert_clean(&headers, None);
        assert!(!headers.contains_key("x-authenticated-via"), "{headers:?}");
    }
}

#[tokio::test]
async fn behind_caddy_tokengates_refusals_reach_the_client_as_they_are() {
    let Some(binary) = caddy_binary() else {
        return;
    };
    let mut config = trusting_loopback();
    config.security.failures_per_minute = 2;
    config.security.max_failed_logins = 100;
    let app = TestApp::spawn_with(config, false).await;
    app.add_user("alice", "alice-pw", false).await;
    let caddy = Caddy::start(&binary, &app).await;
    let missing = claiming(app.client.get(caddy.url("/x")));
    error_body(missing.send().await.unwrap(), 401, "missing_credentials").await;
    for (name, value) in [
        ("X-Forwarded-Uri", "/public/x"),
        ("X-Original-URI", "/public/x"),
        ("X-Forwarded-Method", "OPTIONS"),
    ] {
        let claimed = app.client.get(caddy.url("/private/x")).header(name, value);
        error_body(claimed.send().await.unwrap(), 401, "missing_credentials").await;
    }
    for _ in 0..2 {
        let guess = app
            .client
            .get(caddy.url("/x"))
            .basic_auth("alice", Some("guess"));
        error_body(guess.send().await.unwrap(), 401, "invalid_credentials").await;
    }
    let throttled = app
        .client
        .put(caddy.url("/x"))
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .await
        .unwrap();
    let seconds = retry_after(&throttled);
    assert!((1..=60).contains(&seconds), "{seconds}");
    error_body(throttled, 429, "too_many_failures").await;
}

#[tokio::test]
async fn behind_caddy_an_unreachable_store_is_a_503_and_the_allow_list_sees_the_client() {
    let Some(binary) = caddy_binary() else {
        return;
    };
    let (app, store) = spawn_switchable(trusting_loopback()).await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    let caddy = Caddy::start(&binary, &app).await;
    store.down.store(true, Ordering::SeqCst);
    let password = app
        .client
        .get(caddy.url("/x"))
        .basic_auth("alice", Some("alice-pw"));
    error_body(password.send().await.unwrap(), 503, "unavailable").await;
    store.down.store(false, Ordering::SeqCst);
    let mut settings = app.store.settings().await.unwrap();
    settings.ip_allowlist = tokengate_core::allowlist::IpAllowList::parse(&["10.0.0.0/8"]).unwrap();
    app.save_settings(&settings).await;
    app.sync().await;
    let outside = app.client.get(caddy.url("/x")).bearer_auth(&token);
    let refused = error_body(outside.send().await.unwrap(), 403, "ip_not_allowed").await;
    assert!(
        refused["message"].as_str().unwrap().contains("127.0.0.1"),
        "{refused}"
    );
}

#[tokio::test]
async fn behind_caddy_a_gateway_that_does_not_answer_means_502_never_the_upstream() {
    let Some(binary) = caddy_binary() else {
        return;
    };
    let caddy = Caddy::in_front_of(&binary, free_port()).await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    for path in ["/x", "/public/logo.png"] {
        let response = client.get(caddy.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 502, "{path}");
        assert!(
            !response.text().await.unwrap().contains("headers"),
            "{path}"
        );
    }
}
