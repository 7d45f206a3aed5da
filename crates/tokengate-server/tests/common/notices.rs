//! What the notification tests share: a configuration sending to a test SMTP server and
//! webhook receivers, the people they mail, and waiting for the outbox.

use super::smtp::SmtpServer;
use super::{TestApp, test_config};
use serde_json::{Value, json};
use std::time::Duration;
use tokengate_core::Secret;
use tokengate_core::notices::{DeliveryRecord, DeliveryState};
use tokengate_server::config::Config;
use tokengate_server::config::notify::{SmtpConfig, WebhookConfig};

pub const HOOK_SECRET: &str = "hook-secret-for-tests";
pub const WAIT: Duration = Duration::from_secs(15);

pub fn config(smtp: Option<&SmtpServer>, hooks: &[(&str, &[&str])]) -> Config {
    let mut config = test_config();
    config.public_url = "http://tokens.example.com".into();
    config.smtp = smtp.map(|smtp| SmtpConfig {
        url: smtp.url(),
        from: "tokengate@example.com".into(),
        ..SmtpConfig::default()
    });
    config.webhooks = hooks
        .iter()
        .map(|(url, events)| WebhookConfig {
            url: (*url).to_owned(),
            secret: Some(Secret::new(HOOK_SECRET)),
            events: events.iter().map(|event| (*event).to_owned()).collect(),
            ..WebhookConfig::default()
        })
        .collect();
    config.notifications.poll = Duration::from_millis(100);
    config.notifications.retry_after = Duration::from_millis(200);
    config
}

/// An admin `root` and a user `alice` with the e-mail address `email`.
pub async fn people(app: &TestApp, email: Option<&str>) {
    app.add_user("root", "root-password", true).await;
    app.add_user("alice", "alice-password", false).await;
    if let Some(email) = email {
        let answer = admin(app, reqwest::Method::PATCH, "/admin/users/alice")
            .json(&json!({"email": email}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
}

pub fn admin(app: &TestApp, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    app.client
        .request(method, app.url(&format!("/tokengate/api/v1{path}")))
        .basic_auth("root", Some("root-password"))
}

/// Creates a token for alice as root; (id, secret).
pub async fn token_for_alice(app: &TestApp, name: &str) -> (String, String) {
    let answer = admin(app, reqwest::Method::POST, "/admin/users/alice/tokens")
        .json(&json!({"name": name, "validity": "6m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    let body: Value = answer.json().await.unwrap();
    (
        body["id"].as_str().unwrap().to_owned(),
        body["token"].as_str().unwrap().to_owned(),
    )
}

/// The deliveries in `state`, once there are any.
pub async fn some_in(app: &TestApp, state: DeliveryState) -> Vec<DeliveryRecord> {
    until(|| async {
        let found = app.store.deliveries(state, 10).await.unwrap();
        (!found.is_empty()).then_some(found)
    })
    .await
}

/// Polls `probe` every 50 ms until it gives a value (fails after [`WAIT`]).
pub async fn until<T, F, Fut>(mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = std::time::Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(started.elapsed() < WAIT, "not within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
