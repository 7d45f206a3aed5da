//! `POST /admin/explain`: the full SPEC §2 decision for a described request, with every step,
//! and without side effects (no failure counted, no last use, no throttle).

use super::caller::AdminCaller;
use super::extract::ApiJson;
use super::openapi::ErrorBody;
use crate::error::ApiError;
use crate::gateway::is_public;
use crate::state::SharedState;
use axum::Json;
use axum::extract::State;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use tokengate_core::authenticate::{StoreLookup, authenticate};
use tokengate_core::decision::{Reach, RequestFacts};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new().routes(routes!(explain))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainRequest {
    /// The request's method (informational).
    #[serde(default)]
    method: Option<String>,
    /// The request's path; a public path is allowed without authentication.
    #[serde(default)]
    path: Option<String>,
    /// The client address as tokengate would see it (after trusted proxies).
    #[schema(value_type = String, example = "203.0.113.5")]
    ip: IpAddr,
    /// The `Authorization` header value, if any.
    #[serde(default)]
    authorization: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Explanation {
    allowed: bool,
    status: u16,
    reason: Option<String>,
    user: Option<String>,
    via: Option<String>,
    steps: Vec<String>,
}

/// Why a request would be allowed or denied. Admins only; nothing is recorded.
#[utoipa::path(post, path = "/admin/explain", tag = "admin", request_body = ExplainRequest, responses(
    (status = 200, description = "The decision and its steps", body = Explanation),
    (status = 403, description = "Not an admin", body = ErrorBody),
))]
async fn explain(
    State(state): State<SharedState>,
    _admin: AdminCaller,
    ApiJson(request): ApiJson<ExplainRequest>,
) -> Result<Json<Explanation>, ApiError> {
    let method = request.method.as_deref().unwrap_or("GET");
    if let Some(path) = request
        .path
        .as_deref()
        .filter(|path| is_public(&state.config.gateway.public_paths, path))
    {
        return Ok(Json(Explanation {
            allowed: true,
            status: 200,
            reason: None,
            user: None,
            via: None,
            steps: vec![format!(
                "{method} {path} is under a public path: forwarded without authentication"
            )],
        }));
    }
    let path = request.path.as_deref().unwrap_or("/");
    let route = if path.starts_with("/tokengate/") {
        Some(crate::gateway::OWN_ROUTE)
    } else {
        state.routes.choose(|| None, path).map(|route| &*route.name)
    };
    let facts = RequestFacts {
        peer: request.ip,
        forwarded_for: None,
        authorization: request.authorization.as_deref().map(str::as_bytes),
        reach: Reach {
            writes: false,
            method: Some(method),
            path: Some(path),
            route,
        },
    };
    let settings = state.settings();
    let lookup = StoreLookup(state.store.as_ref());
    let decision = authenticate(
        &facts,
        &settings,
        &state.policy,
        &lookup,
        &state.passwords,
        Utc::now(),
    )
    .await;
    let identity = decision.identity();
    Ok(Json(Explanation {
        allowed: decision.is_allowed(),
        status: decision.status(),
        reason: decision.reason().map(|reason| reason.code().to_owned()),
        user: identity.and_then(|identity| identity.user.clone()),
        via: identity.map(|identity| identity.via.as_str().to_owned()),
        steps: decision.steps.iter().map(ToString::to_string).collect(),
    }))
}
