//! Forward-auth (`/tokengate/auth`): the contracts of Traefik ForwardAuth (the headers Traefik
//! sends) and nginx `auth_request` (the recipe in docs/deploy/nginx.conf, run with the real
//! nginx when it is installed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{TestApp, error_body, test_config};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn docs(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/deploy")
        .join(file)
}

fn trusting_loopback() -> tokengate_server::config::Config {
    let mut config = test_config();
    config.gateway.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    config.gateway.public_paths = vec!["/public/".into()];
    config
}

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

struct Nginx {
    child: Child,
    port: u16,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn nginx_binary() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
}

/// Runs docs/deploy/nginx.conf as written, with its three ports moved to free ones and its
/// files kept in `dir`.
fn start_nginx(binary: &Path, dir: &Path, gateway_port: u16, upstream_port: u16) -> Nginx {
    let port = free_port();
    let recipe = std::fs::read_to_string(docs("nginx.conf")).unwrap();
    let files = format!(
        "http {{\n    access_log {d}/access.log;\n    client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n    fastcgi_temp_path {d}/fastcgi;\n    uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n",
        d = dir.display()
    );
    let config = recipe
        .replace("127.0.0.1:8700", &format!("127.0.0.1:{gateway_port}"))
        .replace("127.0.0.1:9000", &format!("127.0.0.1:{upstream_port}"))
        .replace("listen 127.0.0.1:8080", &format!("listen 127.0.0.1:{port}"))
        .replace("worker_processes auto;", "worker_processes 1;")
        .replacen("http {\n", &files, 1);
    assert!(
        config.contains(&format!("127.0.0.1:{gateway_port}")),
        "recipe names the gateway address"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, config).unwrap();
    let globals = format!(
        "daemon off; pid {d}/nginx.pid; error_log {d}/error.log;",
        d = dir.display()
    );
    let child = Command::new(binary)
        .args([
            "-p",
            &dir.display().to_string(),
            "-c",
            &path.display().to_string(),
            "-g",
            &globals,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "nginx did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Nginx { child, port }
}

#[tokio::test]
async fn nginx_recipe_protects_an_api_with_tokengate() {
    let Some(binary) = nginx_binary() else {
        eprintln!("skipped: nginx is not installed (CI installs it)");
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
        eprintln!("skipped: nginx is not installed (CI installs it)");
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
