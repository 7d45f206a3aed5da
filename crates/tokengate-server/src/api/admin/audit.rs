//! The audit log, newest first, filtered and paged; and the walk of its hash chain.

use super::page_limit;
use crate::api::caller::AdminCaller;
use crate::api::extract::ApiQuery;
use crate::api::openapi::ErrorBody;
use crate::error::ApiError;
use crate::state::SharedState;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokengate_core::chain::Verification;
use tokengate_core::model::{AuditAction, AuditFilter, AuditRecord};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(list_audit))
        .routes(routes!(verify_audit))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Who acted: a user name, `cli` or `system`.
    actor: Option<String>,
    /// The user the record is about.
    user: Option<String>,
    /// One of the audit action names, e.g. `token.created`.
    #[param(value_type = Option<AuditAction>)]
    action: Option<AuditAction>,
    /// Records at or after this instant.
    since: Option<DateTime<Utc>>,
    /// Records before this instant.
    until: Option<DateTime<Utc>>,
    /// Page size, 1 to 1000 (default 100).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub records: Vec<AuditRecord>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    pub next_cursor: Option<i64>,
}

/// Audit records, newest first. Admins only.
#[utoipa::path(get, path = "/admin/audit", tag = "admin", params(AuditQuery), responses(
    (status = 200, description = "A page of audit records", body = AuditPage),
    (status = 403, description = "Not an admin", body = ErrorBody),
))]
async fn list_audit(
    State(state): State<SharedState>,
    _admin: AdminCaller,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = page_limit(query.limit);
    let filter = AuditFilter {
        actor: query.actor,
        user: query.user,
        action: query.action,
        since: query.since,
        until: query.until,
        before_id: query.cursor,
        limit,
    };
    let records = state.store.audit(&filter).await?;
    let next_cursor = (records.len() == limit as usize)
        .then(|| records.last().map(|record| record.id))
        .flatten();
    Ok(Json(AuditPage {
        records,
        next_cursor,
    }))
}

/// Walks the audit log's hash chain from the oldest record to the newest and names the first
/// record that was altered, or that follows a removed or inserted one. Admins only.
#[utoipa::path(get, path = "/admin/audit/verify", tag = "admin", responses(
    (status = 200, description = "The verdict: `ok`, records walked, the first bad record", body = Verification),
    (status = 403, description = "Not an admin", body = ErrorBody),
))]
async fn verify_audit(
    State(state): State<SharedState>,
    _admin: AdminCaller,
) -> Result<Json<Verification>, ApiError> {
    Ok(Json(
        tokengate_core::store::verify_audit(state.store.as_ref()).await?,
    ))
}
