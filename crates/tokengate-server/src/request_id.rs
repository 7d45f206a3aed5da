//! Request ids (STYLE habit 12): accepted from a trusted proxy's `X-Request-Id`, generated
//! otherwise, returned on every response, present on every log line and audit record of the
//! request. Also the one access log line per request (method, path without query, status,
//! time), and the refusal of oversize header sections with a JSON 431.

use crate::error::ApiError;
use crate::state::SharedState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::time::Instant;
use tracing::Instrument;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Header sections larger than this get 431 (hyper's own limit is set above it).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served, or `-` outside a request.
pub fn current_request_id() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "-".to_owned())
}

/// The request id, as an extension for handlers.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn acceptable(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let ok = (1..=128).contains(&text.len())
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'));
    ok.then(|| text.to_owned())
}

pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

pub async fn middleware(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let trusted = state
        .policy
        .trusted_proxies
        .iter()
        .any(|net| net.contains(&peer.ip().to_canonical()));
    let id = request
        .headers()
        .get(&X_REQUEST_ID)
        .filter(|_| trusted)
        .and_then(acceptable)
        .unwrap_or_else(new_request_id);
    request.extensions_mut().insert(RequestId(id.clone()));
    let method = request.method().clone();
    let path = request.uri().path().chars().take(200).collect::<String>();
    let started = Instant::now();
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = REQUEST_ID
        .scope(id.clone(), async move {
            if header_bytes > MAX_HEADER_BYTES {
                return ApiError::new(
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "headers_too_large",
                    format!("The request headers exceed {MAX_HEADER_BYTES} bytes."),
                )
                .into_response();
            }
            next.run(request).await
        })
        .instrument(span.clone())
        .await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID.clone(), value);
    }
    span.in_scope(|| {
        tracing::debug!(%method, %path, status = response.status().as_u16(), micros = started.elapsed().as_micros() as u64, "served");
    });
    response
}
