//! No secret in any log line at any level: every log line of a busy session (tokens, passwords,
//! failures, errors) is captured at TRACE and searched for the secrets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::TestApp;
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_in_any_log_line() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password-secret", false).await;
    let (_, token) = app.add_token("alice").await;
    let unknown = tokengate_core::token::TokenSecret::generate()
        .unwrap()
        .expose()
        .to_owned();
    assert_eq!(app.get_bearer("/x", &token).await.status(), 200);
    assert_eq!(app.get_basic("/x", "alice", &token).await.status(), 200);
    assert_eq!(
        app.get_basic("/x", "alice", "alice-password-secret")
            .await
            .status(),
        200
    );
    assert_eq!(
        app.get_basic("/x", "alice", "wrong-password-secret")
            .await
            .status(),
        401
    );
    assert_eq!(app.get_bearer("/x", &unknown).await.status(), 401);
    assert_eq!(
        app.get_bearer("/tokengate/whoami", &token).await.status(),
        200
    );
    app.get_bearer("/tokengate/auth", &token).await;
    app.sync().await;
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("request_id"),
        "logging was captured: {logs:.400}"
    );
    for secret in [
        token.as_str(),
        &token[3..],
        unknown.as_str(),
        "alice-password-secret",
        "wrong-password-secret",
    ] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
}
