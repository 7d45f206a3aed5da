//! HTTPS: with `[tls]` configured the gateway serves TLS (a self-signed certificate made by
//! the test) and authenticates as usual.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::certificate::TestCertificate;
use common::{TestApp, test_config};

#[tokio::test]
async fn the_gateway_serves_https_when_tls_is_configured() {
    let certificate = TestCertificate::new();
    let app = TestApp::spawn_with(certificate.serve_with(test_config()), true).await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    let root = reqwest::Certificate::from_pem(certificate.pem().as_bytes()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(root)
        .resolve("localhost", app.address)
        .no_proxy()
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/tokengate/whoami", app.address.port());
    let response = client.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["user"], "alice");
    let proxied: serde_json::Value = client
        .get(format!("https://localhost:{}/api", app.address.port()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        proxied["headers"]["x-forwarded-proto"],
        serde_json::json!(["https"])
    );
    let plain = reqwest::Client::builder().no_proxy().build().unwrap();
    assert!(
        plain
            .get(format!("http://{}/tokengate/healthz", app.address))
            .send()
            .await
            .is_err(),
        "no plain HTTP on a TLS port"
    );
}
