//! A real webhook receiver for tests: an HTTP server on a free loopback port that checks each
//! `POST`'s `X-Tokengate-Signature` against its own HMAC-SHA256 of the body, keeps what
//! arrived, and can answer 500 to the first requests (to see retries).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub event: String,
    pub delivery: String,
    pub body: Value,
    pub raw: String,
    /// Whether the signature header matched the receiver's own HMAC of the body.
    pub signed: bool,
    /// Whether the receiver answered 2xx.
    pub accepted: bool,
}

#[derive(Clone)]
struct Shared {
    secret: String,
    received: Arc<Mutex<Vec<Received>>>,
    failures_left: Arc<AtomicUsize>,
}

pub struct Receiver {
    pub address: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

fn expected_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn receive(
    axum::extract::State(shared): axum::extract::State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let signed = header("x-tokengate-signature") == expected_signature(&shared.secret, &body);
    let failing = shared
        .failures_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
            left.checked_sub(1)
        })
        .is_ok();
    shared.received.lock().unwrap().push(Received {
        event: header("x-tokengate-event"),
        delivery: header("x-tokengate-delivery"),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        raw: String::from_utf8_lossy(&body).into_owned(),
        signed,
        accepted: !failing,
    });
    if failing {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    }
}

impl Receiver {
    /// A receiver checking signatures with `secret`, answering 500 to the first `fail_first`.
    pub async fn start(secret: &str, fail_first: usize) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            secret: secret.to_owned(),
            received: received.clone(),
            failures_left: Arc::new(AtomicUsize::new(fail_first)),
        };
        let app = axum::Router::new()
            .fallback(axum::routing::post(receive))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            address,
            received,
            task,
        }
    }

    /// The same receiver serving HTTPS with the certificate and key in these PEM files.
    pub async fn start_tls(secret: &str, cert: &str, key: &str) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            secret: secret.to_owned(),
            received: received.clone(),
            failures_left: Arc::new(AtomicUsize::new(0)),
        };
        let app = axum::Router::new()
            .fallback(axum::routing::post(receive))
            .with_state(shared);
        let acceptor = tokengate_server::tls::acceptor(cert, key).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    // A client that does not trust the certificate ends here.
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
                });
            }
        });
        Self {
            address,
            received,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hooks/tokengate", self.address)
    }

    /// The address by name (`localhost`, which the test certificates are for), over HTTPS.
    pub fn https_url(&self) -> String {
        format!("https://localhost:{}/hooks/tokengate", self.address.port())
    }

    pub fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `count` requests were accepted (at most `limit`); every request so far.
    pub async fn wait_for(&self, count: usize, limit: Duration) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let all = self.all();
            if all.iter().filter(|r| r.accepted).count() >= count || started.elapsed() > limit {
                return all;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
