//! A real gRPC service (Python grpcio, when installed) through an `h2c://` route: a call with a
//! token as `authorization` metadata reaches the service with the identity and without the
//! token, and its reply and status come back; a call without a token is UNAUTHENTICATED.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{TestApp, test_config};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/grpc/echo.py");

fn grpcio_installed() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import grpc"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        eprintln!("skipped: Python's grpcio is not installed (pip install grpcio)");
    }
    found
}

struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_service(port: u16) -> Service {
    let mut child = Command::new("python3")
        .args([SCRIPT, "serve", &port.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    Service(child)
}

async fn call(target: &str, secret: &str) -> String {
    let output = tokio::process::Command::new("python3")
        .args([SCRIPT, "call", target, secret])
        .output()
        .await
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn a_grpc_call_with_a_token_reaches_the_service_through_an_h2c_route() {
    if !grpcio_installed() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _service = start_service(port);
    let mut config = test_config();
    config.routes = vec![tokengate_server::config::routes::RouteConfig {
        name: "grpc".into(),
        upstream: format!("h2c://127.0.0.1:{port}"),
        ..Default::default()
    }];
    let app = TestApp::spawn_with(config, false).await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    let target = app.address.to_string();
    assert_eq!(call(&target, &token).await, "ok alice:hi");
    assert_eq!(call(&target, "-").await, "error UNAUTHENTICATED");
    let wrong = format!("tg_{}", "A".repeat(36));
    assert_eq!(call(&target, &wrong).await, "error UNAUTHENTICATED");
}
