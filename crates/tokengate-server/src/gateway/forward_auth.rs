//! Forward-auth (`/tokengate/auth`): nginx `auth_request`, Traefik/Caddy ForwardAuth and Envoy
//! ext_authz (HTTP) ask about a request; 200 with identity headers, or the SPEC §2 refusal.
//! The original method and URI come from one configured header family
//! (`gateway.forward_auth_headers`) and only from a peer in `trusted_proxies` (SPEC §3): any
//! other peer could write them itself, so for it the original path is unknown and no public
//! path applies. The answer carries tokengate's identity headers only, never the client's.

use super::{gate, is_public, refusal};
use crate::access_log::AccessFacts;
use crate::config::ForwardAuthHeaders;
use crate::request_id::{RequestId, X_REQUEST_ID};
use crate::state::{AppState, SharedState};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use tokengate_core::decision::Reach;

static X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
static X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
static X_ORIGINAL_METHOD: HeaderName = HeaderName::from_static("x-original-method");
static X_ORIGINAL_URI: HeaderName = HeaderName::from_static("x-original-uri");

/// The request the proxy asks about, as far as it is believed: both `None` when the peer is
/// not a trusted proxy or did not say. Path restrictions must refuse an unknown path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OriginalRequest<'a> {
    pub method: Option<&'a str>,
    /// The path as sent, without the query (a fragment, if sent, is part of it).
    pub path: Option<&'a str>,
}

/// Reads the configured header family, from a trusted proxy only.
pub fn original_request<'a>(
    state: &AppState,
    peer: SocketAddr,
    headers: &'a HeaderMap,
) -> OriginalRequest<'a> {
    let peer_ip = peer.ip().to_canonical();
    let trusted = state
        .policy
        .trusted_proxies
        .iter()
        .any(|net| net.contains(&peer_ip));
    if !trusted {
        return OriginalRequest::default();
    }
    let (method, uri) = match state.config.gateway.forward_auth_headers {
        ForwardAuthHeaders::XForwarded => (&X_FORWARDED_METHOD, &X_FORWARDED_URI),
        ForwardAuthHeaders::XOriginal => (&X_ORIGINAL_METHOD, &X_ORIGINAL_URI),
    };
    OriginalRequest {
        method: single_value(headers, method),
        // Cut at the query only: a `#` stays in the path. No client sends a fragment, but nginx
        // passes `/public/x#/../../admin` on as written, and an upstream that does not cut
        // there resolves the dot segments after it; kept, they refuse the path.
        path: single_value(headers, uri).map(|uri| uri.split('?').next().unwrap_or(uri)),
    }
}

/// The header's value when it is sent exactly once: two copies mean someone besides the proxy
/// wrote one, and neither is believed.
fn single_value<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => value.to_str().ok(),
        _ => None,
    }
}

/// Takes the whole request (not the `HeaderMap` and `Extension` extractors, which copy the
/// headers and the request id) and reads what it needs in place.
pub async fn check(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    answer(&state, peer, request).await
}

/// The answer to a forward-auth request (the router's handler and `serve`'s fast lane).
pub async fn answer(state: &SharedState, peer: SocketAddr, request: Request) -> Response {
    let headers = request.headers();
    let original = original_request(state, peer, headers);
    if original
        .path
        .is_some_and(|path| is_public(&state.config.gateway.public_paths, path))
    {
        return StatusCode::OK.into_response();
    }
    let reach = Reach {
        writes: super::writes::asks_to_write(headers),
        method: original.method,
        path: original.path,
        route: None,
    };
    let decision = gate(state, peer, headers, reach).await;
    let Some(identity) = decision.identity() else {
        return refusal(&decision);
    };
    let mut response = StatusCode::OK.into_response();
    if state.access_log.is_some() {
        let mut facts = AccessFacts {
            client: Some(decision.client),
            ..AccessFacts::default()
        };
        facts.identify(identity);
        response.extensions_mut().insert(facts);
    }
    let out = response.headers_mut();
    state.identity_headers.insert(out, identity);
    if let Some(id) = request
        .extensions()
        .get::<RequestId>()
        .and_then(|request_id| HeaderValue::from_str(&request_id.0).ok())
    {
        out.insert(X_REQUEST_ID.clone(), id);
    }
    response
}
