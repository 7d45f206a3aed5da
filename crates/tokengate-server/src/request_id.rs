//! Request ids (STYLE habit 12): accepted from a trusted proxy's `X-Request-Id`, generated
//! otherwise, returned on every response, present on every log line and audit record of the
//! request. Also the one access log line per request (method, path without query, status,
//! time), and the refusals every entrance shares before any handler runs, in the JSON error
//! shape: header sections over 16 KiB or over 100 header lines (431), and more than one
//! `Authorization` header (401 `malformed_credentials`: which one would be checked, and which
//! one would the upstream read?).

use crate::error::ApiError;
use crate::state::{AppState, SharedState};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::cell::Cell;
use std::net::SocketAddr;
use std::time::Instant;
use tokengate_core::Reason;
use tracing::Instrument;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Header sections larger than this get a JSON 431 (hyper's own buffer limit is above it).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

// More than 100 header lines are refused by hyper itself (its default limit), with a 431 that
// has no body. Raising hyper's limit to answer those in JSON made hyper fill a heap array of
// that many header slots for every request: 18 % more instructions per forward-auth request
// (bench/RESULTS.md). A status without a body is the better trade for a request no client sends.

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

thread_local! {
    /// Per-thread generator state: a random key (from the OS, once per thread) and a counter.
    static ID_STATE: Cell<(u64, u64, u64)> = Cell::new(id_seed());
}

fn id_seed() -> (u64, u64, u64) {
    let seed = uuid::Uuid::new_v4().as_u64_pair();
    (seed.0, seed.1, 0)
}

/// SplitMix64's finaliser: a bijection on u64 that spreads every input bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A version-4 UUID in simple form (32 lowercase hex digits). Request ids need to be unique,
/// not secret: they come from a per-thread key drawn from the OS once and a counter, so the
/// hot path makes no system call and no formatting pass.
pub fn new_request_id() -> String {
    let (k1, k2, counter) = ID_STATE.with(|state| {
        let (k1, k2, counter) = state.get();
        state.set((k1, k2, counter.wrapping_add(1)));
        (k1, k2, counter)
    });
    let high = mix(counter ^ k1);
    let low = mix(counter.wrapping_add(k2).rotate_left(17) ^ high);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&high.to_be_bytes());
    bytes[8..].copy_from_slice(&low.to_be_bytes());
    let uuid = uuid::Builder::from_random_bytes(bytes).into_uuid();
    let mut text = [0u8; uuid::fmt::Simple::LENGTH];
    uuid.simple().encode_lower(&mut text).to_owned()
}

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
    // The access line is a debug event: only then are method and path copied.
    let served = tracing::enabled!(tracing::Level::DEBUG).then(|| {
        (
            request.method().clone(),
            request.uri().path().chars().take(200).collect::<String>(),
        )
    });
    let started = Instant::now();
    let early = early_refusal(state, peer, request.headers());
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = REQUEST_ID
        .scope(id.clone(), async move {
            match early {
                Some(refusal) => refusal.into_response(),
                None => inner(request).await,
            }
        })
        .instrument(span.clone())
        .await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID.clone(), value);
    }
    if let Some((method, path)) = served {
        span.in_scope(|| {
            tracing::debug!(%method, %path, status = response.status().as_u16(), micros = started.elapsed().as_micros() as u64, "served");
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn generated_ids_are_distinct_v4_uuids_in_simple_form() {
        let ids: HashSet<String> = (0..10_000).map(|_| new_request_id()).collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(100) {
            assert_eq!(id.len(), 32);
            let uuid = uuid::Uuid::parse_str(id).expect("a UUID");
            assert_eq!(uuid.get_version_num(), 4);
            assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122);
            assert_eq!(uuid.simple().to_string(), *id, "lowercase simple form");
        }
    }

    #[test]
    fn threads_generate_distinct_ids() {
        let other = std::thread::spawn(|| (0..1000).map(|_| new_request_id()).collect::<Vec<_>>())
            .join()
            .expect("thread");
        let mine: HashSet<String> = (0..1000).map(|_| new_request_id()).collect();
        assert!(other.iter().all(|id| !mine.contains(id)));
    }
}
