//! WebSockets through the gateway against a real WebSocket server (tokio-tungstenite): the
//! upgrade is authenticated like any request, then `101` and both directions copied; a socket
//! opened with a token is closed within a second of the token being revoked (by another
//! process, as the CLI does) and one opened with a password when its user is disabled; a route
//! with `websocket = false` passes no upgrade.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// tungstenite's handshake callback returns its own (large) error response type.
#![allow(clippy::result_large_err)]

mod common;

use chrono::Utc;
use common::{TestApp, test_config};
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokengate_core::manage::{self, Scope, UserUpdate};
use tokengate_server::config::routes::RouteConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

/// A WebSocket echo server; each handshake's identity header goes to the returned channel.
async fn echo_server() -> (
    SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<Option<String>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (seen, identities) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let callback = |request: &Request, response: Response| {
                    let user = request
                        .headers()
                        .get("x-authenticated-user")
                        .and_then(|value| value.to_str().ok())
                        .map(str::to_owned);
                    assert!(request.headers().get("authorization").is_none());
                    let _ = seen.send(user);
                    Ok(response)
                };
                let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(stream, callback).await
                else {
                    return;
                };
                while let Some(Ok(message)) = socket.next().await {
                    if message.is_text() && socket.send(message).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (address, identities)
}

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

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(app: &TestApp, authorization: Option<&str>) -> Result<Socket, u16> {
    let mut request = format!("ws://{}/socket", app.address)
        .into_client_request()
        .unwrap();
    if let Some(value) = authorization {
        request
            .headers_mut()
            .insert("authorization", value.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(error) => panic!("handshake failed: {error}"),
    }
}

async fn echoes(socket: &mut Socket, text: &str) {
    socket.send(Message::text(text)).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("an echo")
        .expect("open")
        .unwrap();
    assert_eq!(answer.into_text().unwrap().as_str(), text);
}

/// How long until the socket ends (closed by the gateway), at most `limit`.
async fn closed_within(socket: &mut Socket, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let remaining = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(remaining, socket.next()).await {
            Err(_) => panic!("the socket is still open after {limit:?}"),
            Ok(None | Some(Err(_))) => return started.elapsed(),
            Ok(Some(Ok(Message::Close(_)))) => return started.elapsed(),
            Ok(Some(Ok(_))) => {}
        }
    }
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
