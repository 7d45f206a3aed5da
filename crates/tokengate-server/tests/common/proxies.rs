//! Real proxies in front of tokengate (nginx, Caddy): the recipes in docs/deploy, run as
//! child processes on free loopback ports, stopped when dropped. Skipped when not installed.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Child;
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
