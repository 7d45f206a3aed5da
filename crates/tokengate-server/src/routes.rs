//! The HTTP surface (SPEC §3): tokengate's own paths under `/tokengate/`, every other path to
//! the upstream through the gateway.

use crate::error::ApiError;
use crate::gateway::{forward_auth, gate, is_public, proxy, refusal};
use crate::request_id;
use crate::state::{AppState, SharedState};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router, middleware};
use serde_json::json;
use std::net::SocketAddr;

pub fn router(state: SharedState) -> Router {
    let own = Router::new()
        .route("/auth", any(forward_auth::check))
        .route("/whoami", get(whoami))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(crate::ui::router())
        .nest("/api", crate::api::router())
        .fallback(not_found)
        .layer(middleware::map_response(json_errors));
    Router::new()
        .nest("/tokengate", own)
        .merge(crate::ui::home_router())
        .fallback(upstream)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            request_id::middleware,
        ))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("There is nothing at this path.")
}

/// tokengate's own error answers are JSON (SPEC §1): the ones axum makes itself (405 from a
/// method router, plain-text extractor rejections) become the error shape, keeping `Allow`.
/// HTML pages of the web UI and JSON answers pass unchanged.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_none_or(|value| value.as_bytes().starts_with(b"text/plain"));
    if !(plain && (status.is_client_error() || status.is_server_error())) {
        return response;
    }
    let (code, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "This method is not allowed here; the Allow header lists those that are.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("body_too_large", "The request body is too large."),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "The request body has the wrong content type.",
        ),
        StatusCode::UNPROCESSABLE_ENTITY => ("invalid_body", "The request body is not valid."),
        StatusCode::NOT_FOUND => ("not_found", "There is nothing at this path."),
        status if status.is_server_error() => ("internal", "An internal error occurred."),
        _ => ("bad_request", "The request is not valid."),
    };
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut json = ApiError::new(status, code, message).into_response();
    if let Some(allow) = allow {
        json.headers_mut().insert(header::ALLOW, allow);
    }
    json
}

/// `GET /tokengate/whoami`: authenticates like a protected request.
async fn whoami(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let decision = gate(&state, peer, request.headers()).await;
    match decision.identity() {
        Some(identity) => {
            Json(json!({"user": identity.user, "via": identity.via.as_str(), "token_id": identity.token_id}))
                .into_response()
        }
        None => refusal(&decision),
    }
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Ready when the store answers now.
async fn readyz(State(state): State<SharedState>) -> Response {
    match state.store.change_counter().await {
        Ok(_) => Json(json!({"status": "ready"})).into_response(),
        Err(error) => {
            tracing::warn!(%error, "readiness check: the store does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable"})),
            )
                .into_response()
        }
    }
}

const NO_UPSTREAM_PAGE: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>tokengate</title></head>\
<body><h1>tokengate is running</h1><p>No upstream API is configured, so only forward-auth \
(<code>/tokengate/auth</code>), <code>/tokengate/whoami</code>, the web UI and the REST API are served.</p>\
<p>To protect an API as a reverse proxy, set <code>upstream</code> in the <code>[gateway]</code> section of \
<code>tokengate.toml</code> (or <code>TOKENGATE_GATEWAY__UPSTREAM=http://127.0.0.1:9000</code>) and restart.</p>\
<p><a href=\"/tokengate/\">Manage your API tokens</a></p></body></html>";

/// The requests `serve` hands to their handler without the router (the hot paths): a path
/// outside `/tokengate` when an upstream is configured, and `/tokengate/auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FastLane {
    Upstream,
    ForwardAuth,
}

impl FastLane {
    /// The lane for `path`, or `None` for the router. Routes exactly as the router would.
    pub fn of(state: &AppState, path: &str) -> Option<FastLane> {
        if path == "/tokengate/auth" {
            return Some(FastLane::ForwardAuth);
        }
        let own = path == "/tokengate" || path.starts_with("/tokengate/");
        (!own && state.upstream.is_some()).then_some(FastLane::Upstream)
    }

    pub async fn serve(self, state: &SharedState, peer: SocketAddr, request: Request) -> Response {
        match self {
            FastLane::Upstream => to_upstream(state, peer, request).await,
            FastLane::ForwardAuth => forward_auth::answer(state, peer, request).await,
        }
    }
}

/// Every path outside `/tokengate/`: through the gateway to the upstream.
async fn upstream(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    to_upstream(&state, peer, request).await
}

async fn to_upstream(state: &SharedState, peer: SocketAddr, request: Request) -> Response {
    let Some(upstream) = state.upstream.as_ref() else {
        if request.uri().path() == "/" {
            return Html(NO_UPSTREAM_PAGE).into_response();
        }
        return ApiError::not_found("No upstream API is configured.").into_response();
    };
    if is_public(&state.config.gateway.public_paths, request.uri().path()) {
        let client = peer.ip().to_canonical();
        return proxy::forward(state, upstream, peer, client, None, request).await;
    }
    let decision = gate(state, peer, request.headers()).await;
    match decision.identity() {
        Some(identity) => {
            let identity = identity.clone();
            proxy::forward(
                state,
                upstream,
                peer,
                decision.client,
                Some(&identity),
                request,
            )
            .await
        }
        None => refusal(&decision),
    }
}
