//! Real proxies in front of tokengate (nginx, Caddy): the recipes in docs/deploy, run as
//! child processes on free loopback ports, stopped when dropped. Skipped when not installed.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The test config with loopback (where the proxies run) trusted and `/public/` public.
pub fn trusting_loopback() -> tokengate_server::config::Config {
    let mut config = super::test_config();
    config.gateway.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    config.gateway.public_paths = vec!["/public/".into()];
    config
}

/// The `Retry-After` seconds of `response`.
pub fn retry_after(response: &reqwest::Response) -> u64 {
    let value = response.headers()["retry-after"].to_str().unwrap();
    value.parse().unwrap()
}

/// A recipe file in docs/deploy.
pub fn docs(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/deploy")
        .join(file)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The first of `candidates` that exists.
pub fn installed(candidates: &[&str]) -> Option<PathBuf> {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
}

/// A running proxy process, listening on `port`; killed when dropped.
pub struct Proxy {
    pub child: Child,
    pub port: u16,
}

impl Proxy {
    /// Waits (at most 10 s) until `child` accepts connections on `port`; `log` is shown when
    /// it does not.
    pub fn started(mut child: Child, port: u16, name: &str, log: &Path) -> Self {
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            let log = || std::fs::read_to_string(log).unwrap_or_default();
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{name} exited at start-up: {status}\n{}", log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{name} did not start\n{}",
                log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The nginx binary, or `None` with a line saying the test is skipped.
pub fn nginx_binary() -> Option<PathBuf> {
    let found = installed(&["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]);
    if found.is_none() {
        eprintln!("skipped: nginx is not installed (CI installs it)");
    }
    found
}

/// Runs docs/deploy/nginx.conf as written, with its three ports moved to free ones and its
/// files kept in `dir`.
pub fn start_nginx(binary: &Path, dir: &Path, gateway_port: u16, upstream_port: u16) -> Proxy {
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
    Proxy::started(child, port, "nginx", &dir.join("error.log"))
}

/// nginx in front of `app` and a fresh upstream, with the recipe as written.
pub async fn behind_nginx(
    binary: &Path,
    app: &super::TestApp,
) -> (Proxy, super::upstream::Upstream, tempfile::TempDir) {
    let upstream = super::upstream::Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let nginx = start_nginx(
        binary,
        dir.path(),
        app.address.port(),
        upstream.address.port(),
    );
    (nginx, upstream, dir)
}
