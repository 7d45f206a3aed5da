//! The entrance every request passes before its handler, on the router and on the gateway's
//! fast lanes alike: its request id (a trusted proxy's `X-Request-Id`, or a new one), the one
//! access log line per request (`crate::access_log`), and the
//! refusals every entrance shares, in the JSON error shape: header sections over 16 KiB (431),
//! and more than one `Authorization` header (401 `malformed_credentials`: which one would be
//! checked, and which one would the upstream read?).

use crate::access_log::{AccessFacts, Served};
use crate::error::ApiError;
use crate::request_id::{self, RequestId, X_REQUEST_ID, acceptable, new_request_id};
use crate::state::{AppState, SharedState};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::time::Instant;
use tokengate_core::Reason;
use tracing::Instrument;

/// Header sections larger than this get a JSON 431 (hyper's own buffer limit is above it).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

// More than 100 header lines are refused by hyper itself (its default limit), with a 431 that
// has no body. Raising hyper's limit to answer those in JSON made hyper fill a heap array of
// that many header slots for every request: 18 % more instructions per forward-auth request
// (bench/RESULTS.md). A status without a body is the better trade for a request no client sends.

pub async fn middleware(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    with_request_id(&state, peer, request, |request| next.run(request)).await
}

/// Serves `request` with `inner` under its request id (see the module's documentation): the
/// router's middleware, and the gateway's fast lane in `serve`, which skips the router.
pub async fn with_request_id<F, Fut>(
    state: &AppState,
    peer: SocketAddr,
    mut request: Request,
    inner: F,
) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let id = request
        .headers()
        .get(&X_REQUEST_ID)
        .filter(|_| {
            state
                .policy
                .trusted_proxies
                .iter()
                .any(|net| net.contains(&peer.ip().to_canonical()))
        })
        .and_then(acceptable)
        .unwrap_or_else(new_request_id);
    request.extensions_mut().insert(RequestId(id.clone()));
    // Method and path are copied only for the access log.
    let served = state.access_log.as_ref().map(|_| {
        (
            request.method().clone(),
            request.uri().path().chars().take(200).collect::<String>(),
        )
    });
    let started = Instant::now();
    let early = early_refusal(state, peer, request.headers());
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = request_id::scope(id.clone(), async move {
        match early {
            Some(refusal) => refusal.into_response(),
            None => inner(request).await,
        }
    })
    .instrument(span)
    .await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID.clone(), value);
    }
    if let (Some(logger), Some((method, path))) = (&state.access_log, served) {
        let bytes = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse().ok());
        logger.write(&Served {
            request_id: &id,
            client: peer.ip().to_canonical(),
            method: method.as_str(),
            path: &path,
            status: response.status().as_u16(),
            bytes,
            duration: started.elapsed(),
            facts: response.extensions().get::<AccessFacts>(),
        });
    }
    response
}

/// The refusals shared by every entrance (see the module's documentation).
fn early_refusal(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> Option<ApiError> {
    let header_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Some(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("The request headers exceed {MAX_HEADER_BYTES} bytes."),
        ));
    }
    let mut authorizations = headers.get_all(header::AUTHORIZATION).iter();
    if let (Some(_), Some(_)) = (authorizations.next(), authorizations.next()) {
        // A malformed attempt: it spends the address's failure budget like any other.
        let client = tokengate_core::allowlist::client_address(
            peer.ip(),
            crate::gateway::forwarded_for(headers).as_deref(),
            &state.policy.trusted_proxies,
        );
        // Over the budget already: the 401 still answers (the next credentialed try gets 429).
        let _ = state.throttle.take(client);
        return Some(ApiError::new(
            StatusCode::UNAUTHORIZED,
            Reason::MalformedCredentials.code(),
            "Send one Authorization header, not several.",
        ));
    }
    None
}
