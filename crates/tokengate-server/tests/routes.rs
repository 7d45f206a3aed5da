//! Routes (SPEC §9) against real upstreams: the longest path prefix wins on a segment boundary,
//! a route with a host beats one without, `strip_prefix` and `preserve_host` are what the
//! upstream sees, public paths belong to their route, and a path no route takes is 404
//! `no_route`. Each upstream has a base path of its own, so the echoed URI says which one
//! answered.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::certificate::TestCertificate;
use common::upstream::Upstream;
use common::{TestApp, test_config};
use serde_json::Value;
use tokengate_server::config::routes::RouteConfig;

fn route(name: &str, host: &str, prefix: &str, upstream: String) -> RouteConfig {
    RouteConfig {
        name: name.to_owned(),
        host: host.to_owned(),
        path_prefix: prefix.to_owned(),
        upstream,
        ..RouteConfig::default()
    }
}

struct Routed {
    app: TestApp,
    token: String,
    b: Upstream,
    _a: Upstream,
    _c: Upstream,
}

/// default (`[gateway] upstream`) → A at /a; `/jira` → B at /b, prefix stripped, upstream's
/// Host; host wiki.example.com → C at /c, the client's Host; host ci.example.com → A at /d.
async fn routed() -> Routed {
    let (a, b, c) = (
        Upstream::start().await,
        Upstream::start().await,
        Upstream::start().await,
    );
    let mut config = test_config();
    config.gateway.upstream = Some(format!("{}/a", a.url()));
    let mut jira = route("jira", "", "/jira", format!("{}/b", b.url()));
    jira.strip_prefix = true;
    jira.preserve_host = false;
    jira.public_paths = vec!["/jira/status".into()];
    let wiki = route("wiki", "wiki.example.com", "/", format!("{}/c", c.url()));
    let builds = route("builds", "ci.example.com", "/", format!("{}/d", a.url()));
    config.routes = vec![jira, wiki, builds];
    let app = TestApp::spawn_with(config, false).await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    Routed {
        app,
        token,
        b,
        _a: a,
        _c: c,
    }
}

/// The upstream's echo of a request with the token, sent with `host` (when given).
async fn echo(routed: &Routed, host: Option<&str>, path: &str) -> Value {
    let mut request = routed
        .app
        .client
        .get(routed.app.url(path))
        .bearer_auth(&routed.token);
    if let Some(host) = host {
        request = request.header("host", host);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200, "{path} on {host:?}");
    response.json().await.unwrap()
}

fn header<'v>(echo: &'v Value, name: &str) -> Option<&'v str> {
    echo["headers"][name][0].as_str()
}

#[tokio::test]
async fn the_longest_prefix_wins_on_a_segment_boundary_and_a_host_beats_none() {
    let routed = routed().await;
    for (host, path, uri) in [
        (None, "/other?x=1", "/a/other?x=1"),
        (None, "/jira/rest/api/2?q=a", "/b/rest/api/2?q=a"),
        (None, "/jira", "/b/"),
        (None, "/jirax", "/a/jirax"),
        (Some("wiki.example.com"), "/display/X", "/c/display/X"),
        (Some("WIKI.Example.COM:8443"), "/x", "/c/x"),
        // The absolute form of a name, with its root dot, is the same site.
        (Some("wiki.example.com."), "/x", "/c/x"),
        (Some("wiki.example.com.:8443"), "/x", "/c/x"),
        (Some("wiki.example.com.."), "/x", "/a/x"),
        (Some("wiki.example.com"), "/jira/x", "/c/jira/x"),
        (Some("other.example.com"), "/jira/x", "/b/x"),
        (Some("ci.example.com"), "/job/x", "/d/job/x"),
        (Some("ci.example.com"), "/jira/x", "/d/jira/x"),
    ] {
        let echo = echo(&routed, host, path).await;
        assert_eq!(echo["uri"], uri, "{path} on {host:?}");
    }
}

#[tokio::test]
async fn preserve_host_sends_the_clients_host_and_forwarded_host_always_names_it() {
    let routed = routed().await;
    let wiki = echo(&routed, Some("wiki.example.com"), "/x").await;
    assert_eq!(header(&wiki, "host"), Some("wiki.example.com"));
    assert_eq!(header(&wiki, "x-forwarded-host"), Some("wiki.example.com"));
    let jira = echo(&routed, Some("gateway.example.com"), "/jira/x").await;
    assert_eq!(
        header(&jira, "host"),
        Some(routed.b.url().trim_start_matches("http://")),
        "preserve_host = false: the upstream's own authority"
    );
    assert_eq!(
        header(&jira, "x-forwarded-host"),
        Some("gateway.example.com")
    );
    assert_eq!(header(&jira, "x-authenticated-user"), Some("alice"));
}

#[tokio::test]
async fn public_paths_belong_to_their_route_and_every_route_needs_a_token_otherwise() {
    let routed = routed().await;
    let client = &routed.app.client;
    let public = client
        .get(routed.app.url("/jira/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 200);
    let echo: Value = public.json().await.unwrap();
    assert_eq!(echo["uri"], "/b/status");
    assert!(header(&echo, "x-authenticated-user").is_none());
    for (host, path) in [
        (None, "/status"),
        (None, "/jira/x"),
        (Some("wiki.example.com"), "/jira/status"),
        (None, "/other"),
    ] {
        let mut request = client.get(routed.app.url(path));
        if let Some(host) = host {
            request = request.header("host", host);
        }
        let status = request.send().await.unwrap().status();
        assert_eq!(status, 401, "{path} on {host:?}");
    }
}

#[tokio::test]
async fn a_path_no_route_takes_is_404_no_route_and_tokengate_paths_stay_its_own() {
    let b = Upstream::start().await;
    let mut config = test_config();
    config.routes = vec![route("jira", "", "/jira", b.url())];
    let app = TestApp::spawn_with(config, false).await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    for path in ["/", "/confluence", "/jirafoo"] {
        let response = app.get_bearer(path, &token).await;
        assert_eq!(response.status(), 404, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "no_route", "{path}: {body}");
    }
    let routed = app.get_bearer("/jira/x", &token).await;
    assert_eq!(routed.status(), 200);
    let health = app.get("/tokengate/healthz").await;
    assert_eq!(health.status(), 200);
}

/// An `https://` upstream: a second gateway serving TLS with a certificate the test made.
struct HttpsUpstream {
    app: TestApp,
    ca_file: String,
    _certificate: TestCertificate,
}

async fn https_upstream() -> HttpsUpstream {
    let certificate = TestCertificate::new();
    let app = TestApp::spawn_with(certificate.serve_with(test_config()), false).await;
    HttpsUpstream {
        app,
        ca_file: certificate.cert_path.clone(),
        _certificate: certificate,
    }
}

/// A gateway whose route `secure` (prefix `/secure`, stripped) goes to `upstream`.
async fn gateway_to(upstream: String, ca_file: String) -> (TestApp, String) {
    let mut secure = route("secure", "", "/secure", upstream);
    secure.strip_prefix = true;
    secure.ca_file = ca_file;
    let mut config = test_config();
    config.routes = vec![secure];
    let app = TestApp::spawn_with(config, false).await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    (app, token)
}

#[tokio::test]
async fn an_https_upstream_is_reached_when_its_certificate_checks_out() {
    let upstream = https_upstream().await;
    let url = format!(
        "https://localhost:{}/tokengate",
        upstream.app.address.port()
    );
    let (app, token) = gateway_to(url, upstream.ca_file.clone()).await;
    let response = app.get_bearer("/secure/healthz", &token).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn an_https_upstream_with_a_certificate_that_does_not_check_out_is_a_502_naming_the_route() {
    let upstream = https_upstream().await;
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let wrong_ca = dir.path().join("other.pem");
    std::fs::write(&wrong_ca, other.cert.pem()).unwrap();
    let port = upstream.app.address.port();
    for (url, ca_file) in [
        // Signed by a CA this route does not trust.
        (
            format!("https://localhost:{port}/tokengate"),
            wrong_ca.display().to_string(),
        ),
        // The right CA, but the certificate is for localhost, not this name.
        (
            format!("https://127.0.0.1:{port}/tokengate"),
            upstream.ca_file.clone(),
        ),
    ] {
        let (app, token) = gateway_to(url.clone(), ca_file).await;
        let started = std::time::Instant::now();
        let response = app.get_bearer("/secure/healthz", &token).await;
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "never a hang"
        );
        assert_eq!(response.status(), 502, "{url}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "upstream_unavailable");
        assert!(
            body["message"].as_str().unwrap().contains("\"secure\""),
            "{body}"
        );
    }
}
