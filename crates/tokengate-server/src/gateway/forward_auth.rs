//! Forward-auth (`/tokengate/auth`): nginx `auth_request`, Traefik/Caddy ForwardAuth and Envoy
//! ext_authz (HTTP) ask about a request; 200 with identity headers, or the SPEC §2 refusal.
//! The original URI comes from `X-Original-URI` (nginx) or `X-Forwarded-Uri` (Traefik) and is
//! only used to honour `public_paths`.

use super::{gate, is_public, refusal};
use crate::request_id::{RequestId, X_REQUEST_ID};
use crate::state::SharedState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

fn original_uri(headers: &HeaderMap) -> Option<&str> {
    ["x-original-uri", "x-forwarded-uri"]
        .into_iter()
        .find_map(|name| headers.get(name).and_then(|value| value.to_str().ok()))
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
    let path = original_uri(headers).map(|uri| uri.split('?').next().unwrap_or(uri));
    if path.is_some_and(|path| is_public(&state.config.gateway.public_paths, path)) {
        return StatusCode::OK.into_response();
    }
    let decision = gate(state, peer, headers).await;
    let Some(identity) = decision.identity() else {
        return refusal(&decision);
    };
    let mut response = StatusCode::OK.into_response();
    let out = response.headers_mut();
    if let Some(user) = identity
        .user
        .as_deref()
        .and_then(|user| HeaderValue::from_str(user).ok())
    {
        out.insert(state.identity_header.clone(), user);
    }
    out.insert(
        state.via_header.clone(),
        HeaderValue::from_static(identity.via.as_str()),
    );
    if let Some(id) = request
        .extensions()
        .get::<RequestId>()
        .and_then(|request_id| HeaderValue::from_str(&request_id.0).ok())
    {
        out.insert(X_REQUEST_ID.clone(), id);
    }
    response
}
