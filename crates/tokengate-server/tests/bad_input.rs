//! Bad input gets a 4xx JSON error and the gateway stays healthy: oversize headers, invalid
//! base64, non-UTF-8 and huge user names, Basic without a colon, unknown schemes, and a flood of
//! garbage credentials.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine;
use common::{TestApp, error_body, test_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn basic_raw(bytes: &[u8]) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

#[tokio::test]
async fn headers_over_16_kib_get_a_json_431() {
    let app = TestApp::spawn().await;
    let response = app
        .get_with("/x", &[("x-padding", &"a".repeat(17 * 1024))])
        .await;
    error_body(response, 431, "headers_too_large").await;
    assert_eq!(app.get("/tokengate/healthz").await.status(), 200);
}

#[tokio::test]
async fn malformed_credentials_get_401_json() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-pw", false).await;
    let long_user = "u".repeat(10 * 1024);
    let cases: Vec<(String, u16, &str)> = vec![
        ("Basic !!!not-base64".into(), 401, "malformed_credentials"),
        ("Basic bm9jb2xvbg==".into(), 401, "malformed_credentials"),
        ("Negotiate abc".into(), 401, "malformed_credentials"),
        ("Bearer".into(), 401, "malformed_credentials"),
        (basic_raw(b"\xff\xfe:secret"), 401, "malformed_credentials"),
        (
            basic_raw(format!("{long_user}:x").as_bytes()),
            401,
            "malformed_credentials",
        ),
        (basic_raw(b"a/b:secret"), 401, "invalid_credentials"),
        (basic_raw(b":secret"), 401, "invalid_credentials"),
        ("Bearer not-a-token".into(), 401, "invalid_credentials"),
    ];
    for (header, status, code) in cases {
        let response = app
            .get_with("/x", &[("authorization", header.as_str())])
            .await;
        error_body(response, status, code).await;
    }
    assert_eq!(
        app.store
            .user("alice")
            .await
            .unwrap()
            .unwrap()
            .failed_logins,
        0
    );
}

#[tokio::test]
async fn non_utf8_header_bytes_are_refused_cleanly() {
    let app = TestApp::spawn().await;
    let mut stream = tokio::net::TcpStream::connect(app.address).await.unwrap();
    let request = b"GET /x HTTP/1.1\r\nHost: t\r\nAuthorization: Basic \xff\xfe\xfd\r\nConnection: close\r\n\r\n";
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");
    assert!(text.contains("malformed_credentials"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_garbage_requests_get_no_5xx_and_the_gateway_stays_healthy() {
    let mut config = test_config();
    config.security.failures_per_minute = 0;
    let app = TestApp::spawn_with(config, true).await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    let client = app.client.clone();
    let url = app.url("/x");
    let mut tasks = Vec::new();
    for worker in 0..16u32 {
        let client = client.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut statuses = std::collections::BTreeMap::new();
            for index in 0..625u32 {
                let n = worker * 1000 + index;
                let header = match n % 5 {
                    0 => format!("Bearer tg_{:036}", n),
                    1 => format!("Basic {}", "%".repeat((n % 50) as usize + 1)),
                    2 => format!("Bearer {}", "z".repeat((n % 300) as usize + 1)),
                    3 => format!("Token {n}"),
                    _ => basic_raw(format!("nobody{n}:tg_{n}").as_bytes()),
                };
                let status = client
                    .get(&url)
                    .header("authorization", header)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16();
                *statuses.entry(status).or_insert(0u32) += 1;
            }
            statuses
        }));
    }
    let mut total = 0;
    for task in tasks {
        for (status, count) in task.await.unwrap() {
            assert!((400..500).contains(&status), "status {status}");
            total += count;
        }
    }
    assert_eq!(total, 10_000);
    assert_eq!(app.get("/tokengate/healthz").await.status(), 200);
    assert_eq!(app.get_bearer("/x", &token).await.status(), 200);
}
