//! A real upstream HTTP server for tests: echoes what it received as JSON (and keeps each echo,
//! so a test can tell what reached it); `/slow` sleeps; `/big` streams a large body back.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::routing::{any, get};
use serde_json::{Map, Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Upstream {
    pub address: SocketAddr,
    /// The echo of every request the fallback answered, in order.
    pub seen: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

async fn echo(request: Request) -> Value {
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
    json!({
        "method": parts.method.as_str(),
        "uri": parts.uri.to_string(),
        "headers": headers,
        "body_len": bytes.len(),
        "body_sum": bytes.iter().map(|byte| u64::from(*byte)).sum::<u64>(),
    })
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
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let app = axum::Router::new()
            .route("/slow", get(slow))
            .route("/big", get(big))
            .fallback(any(move |request: Request| {
                let log = log.clone();
                async move {
                    let echoed = echo(request).await;
                    log.lock().unwrap().push(echoed.clone());
                    Json(echoed)
                }
            }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            address,
            seen,
            task,
        }
    }

    /// Takes the echoes of the requests seen since the last call.
    pub fn take_seen(&self) -> Vec<Value> {
        std::mem::take(&mut *self.seen.lock().unwrap())
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
