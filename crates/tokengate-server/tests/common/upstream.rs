//! A real upstream HTTP server for tests: echoes what it received as JSON; `/slow` sleeps;
//! `/big` streams a large body back.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::routing::{any, get};
use serde_json::{Map, Value, json};
use std::net::SocketAddr;
use std::time::Duration;

pub struct Upstream {
    pub address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

async fn echo(request: Request) -> Json<Value> {
    let (parts, body) = request.into_parts();
    let mut headers = Map::new();
    for (name, value) in &parts.headers {
        let value = Value::String(value.to_str().unwrap_or("<binary>").to_owned());
        match headers.get_mut(name.as_str()) {
            Some(Value::Array(list)) => list.push(value),
            _ => {
                headers.insert(name.as_str().to_owned(), Value::Array(vec![value]));
            }
        }
    }
    let bytes = axum::body::to_bytes(body, 64 * 1024 * 1024)
        .await
        .unwrap_or_default();
    Json(json!({
        "method": parts.method.as_str(),
        "uri": parts.uri.to_string(),
        "headers": headers,
        "body_len": bytes.len(),
        "body_sum": bytes.iter().map(|byte| u64::from(*byte)).sum::<u64>(),
    }))
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(30)).await;
    "late"
}

async fn big() -> Body {
    let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
    let stream =
        futures_util::stream::iter((0..160).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
    Body::from_stream(stream)
}

impl Upstream {
    pub async fn start() -> Self {
        let app = axum::Router::new()
            .route("/slow", get(slow))
            .route("/big", get(big))
            .fallback(any(echo));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { address, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}
