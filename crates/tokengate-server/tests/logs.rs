//! No secret in any log line at any level: every log line of a busy session (tokens, passwords,
//! web UI sessions and their CSRF tokens, failures, errors) is captured at TRACE and searched
//! for the secrets. One subscriber, installed once, captures every test of this file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod ui_support;

use common::TestApp;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use ui_support::{UiClient, ui_app};

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

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// Every log line of this process at TRACE, from every crate of the server, as text.
fn captured() -> &'static Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        // Everything at TRACE but the test browser's own cookie jar (reqwest's `cookie_store`
        // logs each cookie it keeps: that is the client's log, not tokengate's).
        tracing_subscriber::fmt()
            .with_env_filter("trace,cookie_store=off")
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .init();
        captured
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_in_any_log_line() {
    let captured = captured();
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
    let logs = captured.text();
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

/// The value of the session cookie a sign-in answer sets.
fn session_cookie(set_cookie: &str) -> String {
    let value = set_cookie.strip_prefix("tokengate_session=").unwrap();
    value.split(';').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_ui_session_leaves_no_password_token_csrf_token_or_session_id_in_the_logs() {
    let captured = captured();
    let app = ui_app().await;
    app.add_user("carol", "carol-password-secret", false).await;
    let browser = UiClient::new(&app);
    let refused = browser
        .post(
            "/tokengate/login",
            &[("username", "carol"), ("password", "carol-wrong-secret")],
        )
        .await;
    assert_eq!(refused.status, 200, "a wrong password re-renders the form");
    let signed_in = browser
        .post(
            "/tokengate/login",
            &[("username", "carol"), ("password", "carol-password-secret")],
        )
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let session_id = session_cookie(signed_in.header("set-cookie"));
    assert!(session_id.len() >= 40, "{session_id}");
    let csrf = browser.get("/tokengate/").await.csrf();
    let rest = |csrf: &str| {
        browser
            .client
            .post(app.url("/tokengate/api/v1/tokens"))
            .header("x-csrf-token", csrf)
            .json(&serde_json::json!({"name": "from the logs test"}))
    };
    // The right token with its last character changed (never to the character it was).
    let last = if csrf.ends_with('X') { 'Y' } else { 'X' };
    let almost = format!("{}{last}", &csrf[..csrf.len() - 1]);
    assert_eq!(rest(&almost).send().await.unwrap().status(), 403);
    let created = rest(&csrf).send().await.unwrap();
    assert_eq!(created.status(), 201);
    let body: serde_json::Value = created.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    let page = browser
        .post(
            "/tokengate/tokens",
            &[("csrf", csrf.as_str()), ("name", "from the form")],
        )
        .await;
    let form_token = page.new_secret().expect("the new token is shown once");
    assert_eq!(
        app.get_bearer("/tokengate/whoami", &token).await.status(),
        200
    );
    let other_site = browser
        .post_from(
            "/tokengate/logout",
            &[("csrf", csrf.as_str())],
            "https://evil.example",
        )
        .await;
    assert_eq!(other_site.status, 403);
    let signed_out = browser
        .post("/tokengate/logout", &[("csrf", csrf.as_str())])
        .await;
    assert_eq!(signed_out.status, 303);
    app.sync().await;
    let logs = captured.text();
    assert!(
        logs.contains("signed in to the web UI") && logs.contains("failed web UI sign-in"),
        "this test's requests were captured: {logs:.400}"
    );
    for (what, secret) in [
        ("password", "carol-password-secret"),
        ("wrong password", "carol-wrong-secret"),
        ("session id", session_id.as_str()),
        ("CSRF token", csrf.as_str()),
        ("presented CSRF token", almost.as_str()),
        ("REST token", token.as_str()),
        ("REST token body", &token[3..]),
        ("form token", form_token.as_str()),
        ("form token body", &form_token[3..]),
    ] {
        let leak = logs.lines().find(|line| line.contains(secret));
        assert!(
            leak.is_none(),
            "the {what} reached the logs: {}",
            leak.unwrap_or("").replace(secret, "<the secret>")
        );
    }
}
