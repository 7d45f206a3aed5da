//! tokengate's own HTTP surface (SPEC §3): the paths under `/tokengate/`. Every other path goes
//! through the gateway's phases instead (`crate::lanes` says which is which), so nothing added
//! here touches a proxied request.

use crate::entrance;
use crate::error::ApiError;
use crate::gateway::{forward_auth, gate, refusal};
use crate::state::SharedState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router, middleware};
use serde_json::json;
use std::net::SocketAddr;
use tokengate_core::decision::Reach;

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
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            entrance::middleware,
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
    let path = crate::gateway::sent_path(request.uri(), request.extensions());
    let reach = Reach {
        writes: false,
        method: Some(request.method().as_str()),
        path: Some(path),
        route: Some(crate::gateway::OWN_ROUTE),
    };
    let decision = gate(&state, peer, request.headers(), reach).await;
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
