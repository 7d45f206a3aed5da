//! WebSockets through the gateway against a real WebSocket server (tokio-tungstenite): the
//! upgrade is authenticated like any request, then `101` and both directions copied; a socket
//! opened with a token is closed within a second of the token being revoked (by another
//! process, as the CLI does) and one opened with a password when its user is disabled; one
//! opened with a rotated token's old secret when its grace ends, and one whose token's
//! restrictions no longer cover it when they change; a read-only token opens none; a route
//! with `websocket = false` passes no upgrade.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::Utc;
use common::websocket::{closed_within, echo_server, echoes, open};
use common::{TestApp, test_config};
use std::net::SocketAddr;
use std::time::Duration;
use tokengate_core::manage::{self, Scope, UserUpdate};
use tokengate_core::restrictions::{Access, Restrictions};
use tokengate_server::config::routes::RouteConfig;

async fn gateway(upstream: SocketAddr, websocket: bool) -> TestApp {
    let mut config = test_config();
    config.routes = vec![RouteConfig {
        name: "live".into(),
        upstream: format!("http://{upstream}"),
        websocket,
        ..RouteConfig::default()
    }];
    let app = TestApp::spawn_with(config, false).await;
    app.add_user("alice", "alice-pw", false).await;
    app
}

#[tokio::test]
async fn a_websocket_opened_with_a_token_echoes_and_closes_within_a_second_of_revocation() {
    let (upstream, mut identities) = echo_server().await;
    let app = gateway(upstream, true).await;
    let (token_id, token) = app.add_token("alice").await;
    let mut socket = open(&app, Some(&format!("Bearer {token}"))).await.unwrap();
    assert_eq!(identities.recv().await.unwrap().as_deref(), Some("alice"));
    echoes(&mut socket, "hello").await;
    echoes(&mut socket, "still here").await;
    // Revoked by another process on the same database, as `tokengate token delete` does.
    let other_process = tokengate_store::open(&app.database_url).await.unwrap();
    let change = common::operator_change(Utc::now());
    let deleted =
        manage::delete_token(other_process.as_ref(), Scope::Admin(&change), &token_id).await;
    tokengate_server::effects::in_store(other_process.as_ref(), deleted)
        .await
        .unwrap();
    let took = closed_within(&mut socket, Duration::from_secs(1)).await;
    println!("closed {took:?} after the revocation");
    assert_eq!(
        open(&app, Some(&format!("Bearer {token}"))).await.err(),
        Some(401)
    );
}

#[tokio::test]
async fn a_websocket_opened_with_a_password_closes_when_its_user_is_disabled() {
    let (upstream, mut identities) = echo_server().await;
    let app = gateway(upstream, true).await;
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode("alice:alice-pw");
    let mut socket = open(&app, Some(&format!("Basic {basic}"))).await.unwrap();
    assert_eq!(identities.recv().await.unwrap().as_deref(), Some("alice"));
    echoes(&mut socket, "hi").await;
    let change = common::operator_change(Utc::now());
    let update = UserUpdate {
        disabled: Some(true),
        ..UserUpdate::default()
    };
    let updated = manage::update_user(app.store.as_ref(), &change, "alice", update).await;
    tokengate_server::effects::in_store(app.store.as_ref(), updated)
        .await
        .unwrap();
    closed_within(&mut socket, Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_websocket_without_credentials_or_with_a_wrong_token_is_refused_before_the_upstream() {
    let (upstream, mut identities) = echo_server().await;
    let app = gateway(upstream, true).await;
    assert_eq!(open(&app, None).await.err(), Some(401));
    let wrong = format!("Bearer tg_{}", "A".repeat(36));
    assert_eq!(open(&app, Some(&wrong)).await.err(), Some(401));
    assert!(
        identities.try_recv().is_err(),
        "the upstream saw no handshake"
    );
}

#[tokio::test]
async fn a_route_without_websocket_passes_no_upgrade() {
    let (upstream, _identities) = echo_server().await;
    let app = gateway(upstream, false).await;
    let (_, token) = app.add_token("alice").await;
    let refused = tokio::time::timeout(
        Duration::from_secs(5),
        open(&app, Some(&format!("Bearer {token}"))),
    )
    .await;
    assert!(
        !matches!(refused, Ok(Ok(_))),
        "a WebSocket opened through a route with websocket = false"
    );
}

/// alice's password on tokengate's own API.
fn alice_api(app: &TestApp, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    app.client
        .request(method, app.url(&format!("/tokengate/api/v1{path}")))
        .basic_auth("alice", Some("alice-pw"))
}

#[tokio::test]
async fn a_websocket_opened_with_an_old_secret_closes_when_its_grace_ends() {
    let (upstream, mut identities) = echo_server().await;
    let app = gateway(upstream, true).await;
    let (token_id, token) = app.add_token("alice").await;
    let mut socket = open(&app, Some(&format!("Bearer {token}"))).await.unwrap();
    assert_eq!(identities.recv().await.unwrap().as_deref(), Some("alice"));
    let rotated = alice_api(
        &app,
        reqwest::Method::POST,
        &format!("/tokens/{token_id}/rotate"),
    )
    .json(&serde_json::json!({"grace": "2s"}))
    .send()
    .await
    .unwrap();
    assert_eq!(rotated.status(), 201);
    echoes(&mut socket, "within the grace").await;
    let took = closed_within(&mut socket, Duration::from_secs(4)).await;
    println!("closed {took:?} after the rotation (grace 2 s)");
    assert!(
        took >= Duration::from_millis(1500),
        "not before the grace ended: {took:?}"
    );
}

#[tokio::test]
async fn a_websocket_closes_when_its_tokens_restrictions_no_longer_cover_it() {
    let (upstream, mut identities) = echo_server().await;
    let app = gateway(upstream, true).await;
    let only_socket = Restrictions {
        paths: vec!["/socket".into()],
        ..Restrictions::default()
    };
    let (token_id, token) = app.add_restricted_token("alice", &only_socket).await;
    let mut socket = open(&app, Some(&format!("Bearer {token}"))).await.unwrap();
    assert_eq!(identities.recv().await.unwrap().as_deref(), Some("alice"));
    echoes(&mut socket, "reached").await;
    let narrowed = alice_api(&app, reqwest::Method::PATCH, &format!("/tokens/{token_id}"))
        .json(&serde_json::json!({"paths": ["/other/"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(narrowed.status(), 200);
    closed_within(&mut socket, Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_read_only_token_opens_no_websocket() {
    let (upstream, mut identities) = echo_server().await;
    let app = gateway(upstream, true).await;
    let read_only = Restrictions {
        access: Access::Read,
        ..Restrictions::default()
    };
    let (_, token) = app.add_restricted_token("alice", &read_only).await;
    assert_eq!(
        open(&app, Some(&format!("Bearer {token}"))).await.err(),
        Some(403)
    );
    assert!(
        identities.try_recv().is_err(),
        "the upstream saw no handshake"
    );
}
