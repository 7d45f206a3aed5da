//! How the client came changes tokengate's own answers: the session cookie is `Secure` over
//! HTTPS (own TLS, a trusted proxy's `X-Forwarded-Proto`/`Forwarded`, an `https://`
//! `public_url`), HSTS under tokengate's own TLS; an untrusted client's headers change nothing.
//! Metrics are on their own listener only, in a format a 0.0.4 parser reads with its types.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{TestApp, test_config};
use tokengate_server::config::Config;

/// Signs alice in with `headers` on the sign-in post and returns its `Set-Cookie`.
async fn sign_in_cookie(app: &TestApp, headers: &[(&str, &str)]) -> String {
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut request = client
        .post(app.url("/tokengate/login"))
        .form(&[("username", "alice"), ("password", "alice-password")]);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert!(
        response
            .headers()
            .get("strict-transport-security")
            .is_none(),
        "no HSTS over plain HTTP"
    );
    response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned()
}

fn is_secure(cookie: &str) -> bool {
    cookie
        .split(';')
        .any(|attribute| attribute.trim().eq_ignore_ascii_case("secure"))
}

async fn app_with(config: Config) -> TestApp {
    let app = TestApp::spawn_with(config, false).await;
    app.add_user("alice", "alice-password", false).await;
    app
}

#[tokio::test]
async fn a_trusted_proxy_saying_https_makes_the_session_cookie_secure() {
    let mut config = test_config();
    config.gateway.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    let app = app_with(config).await;
    for headers in [
        vec![("x-forwarded-proto", "https")],
        vec![("x-forwarded-proto", "HTTPS")],
        vec![("x-forwarded-proto", "https, http")],
        vec![("forwarded", "for=192.0.2.1;proto=https")],
        vec![("forwarded", "for=192.0.2.1;Proto=\"https\";host=x")],
    ] {
        let cookie = sign_in_cookie(&app, &headers).await;
        assert!(is_secure(&cookie), "{headers:?}: {cookie}");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    }
    for headers in [
        vec![],
        vec![("x-forwarded-proto", "http")],
        vec![("x-forwarded-proto", "httpsx")],
        vec![("forwarded", "for=192.0.2.1;proto=http")],
    ] {
        let cookie = sign_in_cookie(&app, &headers).await;
        assert!(!is_secure(&cookie), "{headers:?}: {cookie}");
    }
}

#[tokio::test]
async fn an_untrusted_clients_forwarded_proto_changes_nothing() {
    let mut config = test_config();
    config.gateway.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
    let app = app_with(config).await;
    for headers in [
        vec![("x-forwarded-proto", "https")],
        vec![
            ("x-forwarded-proto", "https"),
            ("x-forwarded-for", "10.0.0.1"),
        ],
        vec![("forwarded", "proto=https")],
        vec![("x_forwarded_proto", "https")],
    ] {
        let cookie = sign_in_cookie(&app, &headers).await;
        assert!(!is_secure(&cookie), "{headers:?}: {cookie}");
    }
}

#[tokio::test]
async fn an_https_public_url_makes_every_session_cookie_secure() {
    let mut config = test_config();
    config.public_url = "https://tokens.example.com".into();
    let app = app_with(config).await;
    assert!(is_secure(&sign_in_cookie(&app, &[]).await));
    let mut config = test_config();
    config.public_url = "http://tokens.example.com".into();
    let app = app_with(config).await;
    assert!(!is_secure(&sign_in_cookie(&app, &[]).await));
}

#[tokio::test]
async fn under_its_own_tls_tokengate_sends_hsts_and_secure_cookies() {
    let certificate = common::certificate::TestCertificate::new();
    let app = TestApp::spawn_with(certificate.serve_with(test_config()), true).await;
    app.add_user("alice", "alice-password", false).await;
    let (_, token) = app.add_token("alice").await;
    let root = reqwest::Certificate::from_pem(certificate.pem().as_bytes()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(root)
        .resolve("localhost", app.address)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap();
    let base = format!("https://localhost:{}", app.address.port());
    let signed_in = client
        .post(format!("{base}/tokengate/login"))
        .header("origin", &base)
        .form(&[("username", "alice"), ("password", "alice-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    assert!(is_secure(
        signed_in.headers()["set-cookie"].to_str().unwrap()
    ));
    let answers = [
        signed_in,
        client
            .get(format!("{base}/tokengate/healthz"))
            .send()
            .await
            .unwrap(),
        client.get(format!("{base}/api")).send().await.unwrap(),
        client
            .get(format!("{base}/api"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
        client
            .get(format!("{base}/tokengate/nothing"))
            .send()
            .await
            .unwrap(),
    ];
    for answer in answers {
        let hsts = answer.headers().get("strict-transport-security");
        assert_eq!(
            hsts.map(|value| value.to_str().unwrap()),
            Some("max-age=31536000"),
            "{}",
            answer.url()
        );
    }
}

/// The names a 0.0.4 parser reads: every sample belongs to the family its TYPE line declares
/// (histograms add `_bucket`, `_sum`, `_count`), and counters end in `_total`.
fn check_exposition(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut family: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            if kind == "counter" && !name.ends_with("_total") {
                problems.push(format!("counter {name} does not end in _total"));
            }
            family = Some((name.to_owned(), kind.to_owned()));
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let sample = line.split(['{', ' ']).next().unwrap();
        let Some((name, kind)) = &family else {
            problems.push(format!("{sample} has no TYPE line"));
            continue;
        };
        let belongs = match kind.as_str() {
            "histogram" => ["_bucket", "_sum", "_count"]
                .iter()
                .any(|suffix| sample == format!("{name}{suffix}")),
            _ => sample == name,
        };
        if !belongs {
            problems.push(format!("{sample} is not in the family {name} ({kind})"));
        }
    }
    problems
}

#[tokio::test]
async fn metrics_are_only_on_their_own_listener_and_typed_for_a_0_0_4_parser() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    assert_eq!(app.get_bearer("/x", &token).await.status(), 200);
    assert_eq!(app.get("/x").await.status(), 401);
    for path in [
        "/tokengate/metrics",
        "/tokengate/metrics/",
        "/tokengate//metrics",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "not_found", "{path}");
    }
    let metrics = app.server.as_ref().unwrap().metrics_address.unwrap();
    assert_ne!(metrics, app.address);
    let response = app
        .client
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    assert!(
        text.contains("# TYPE tokengate_decisions_total counter"),
        "{text}"
    );
    assert!(!text.contains("# EOF"), "{text}");
    assert_eq!(check_exposition(&text), Vec::<String>::new(), "{text}");
    let elsewhere = app
        .client
        .get(format!("http://{metrics}/tokengate/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 404);
    promtool_accepts(&text);
}

/// `promtool check metrics` (Debian's `prometheus` package) on the exposition, when installed.
fn promtool_accepts(text: &str) {
    use std::io::Write;
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("skipped: promtool is not installed (apt-get install prometheus)");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn an_empty_metrics_listen_serves_no_metrics_at_all() {
    let mut config = test_config();
    config.metrics_listen = None;
    let app = TestApp::spawn_with(config, false).await;
    assert!(app.server.as_ref().unwrap().metrics_address.is_none());
    assert_eq!(app.get("/tokengate/metrics").await.status(), 404);
}
