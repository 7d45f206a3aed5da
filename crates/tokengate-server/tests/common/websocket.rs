//! A real WebSocket echo server (tokio-tungstenite) and a client through the gateway.
#![allow(clippy::result_large_err)] // tungstenite's handshake callback returns a large error

use super::TestApp;
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

/// A WebSocket echo server; each handshake's identity header goes to the returned channel.
pub async fn echo_server() -> (
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

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn open(app: &TestApp, authorization: Option<&str>) -> Result<Socket, u16> {
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

pub async fn echoes(socket: &mut Socket, text: &str) {
    socket.send(Message::text(text)).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("an echo")
        .expect("open")
        .unwrap();
    assert_eq!(answer.into_text().unwrap().as_str(), text);
}

/// How long until the socket ends (closed by the gateway), at most `limit`.
pub async fn closed_within(socket: &mut Socket, limit: Duration) -> Duration {
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
