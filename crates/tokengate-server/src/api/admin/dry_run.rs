//! `POST /admin/dry-run` (SPEC §13): what proposed settings would have refused of the
//! requests recorded over the last 30 days — per user, address, via and token, the caller
//! first when they would lock themselves out. Nothing is saved. The settings page's "Try
//! these settings" button shows the same report ([`report`]).

use super::settings::SettingsInput;
use crate::api::caller::AdminCaller;
use crate::api::extract::ApiJson;
use crate::api::openapi::ErrorBody;
use crate::error::ApiError;
use crate::state::SharedState;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tokengate_core::dry_run::{DryRunReport, dry_run};
use tokengate_core::model::Settings;
use tokengate_core::store::{Store, StoreError};
use tokengate_core::usage::{DRY_RUN_DAYS, UsageFilter};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new().routes(routes!(post_dry_run))
}

/// The settings to try, as for `PUT /admin/settings`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DryRunRequest {
    settings: SettingsInput,
}

/// Requests from one address, via one way (with one token), refused for one reason.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefusalView {
    pub address: String,
    /// `token`, `password` or `session`.
    pub via: &'static str,
    pub token_id: Option<String>,
    /// The refusal's reason code, e.g. `ip_not_allowed`, `password_auth_disabled`,
    /// `tokens_not_permitted`.
    pub reason: &'static str,
    pub requests: u64,
}

/// One user's refused requests.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefusedUserView {
    pub user: String,
    /// The admin who asked: these settings would lock them out.
    pub is_caller: bool,
    pub requests: u64,
    pub refusals: Vec<RefusalView>,
}

/// What the settings would have refused.
#[derive(Debug, Serialize, ToSchema)]
pub struct DryRunAnswer {
    /// Days of recorded usage looked at (today included).
    pub days: u64,
    #[schema(value_type = String, format = Date)]
    pub since: NaiveDate,
    /// The caller is among the refused users (then listed first).
    pub locks_out_caller: bool,
    /// Requests looked at and requests that would have been refused.
    pub recorded_requests: u64,
    pub refused_requests: u64,
    /// Refused users: the caller first, then by requests, most first.
    pub users: Vec<RefusedUserView>,
}

impl DryRunAnswer {
    fn new(report: DryRunReport, since: NaiveDate) -> Self {
        Self {
            days: DRY_RUN_DAYS,
            since,
            locks_out_caller: report.locks_out_caller,
            recorded_requests: report.recorded_requests,
            refused_requests: report.refused_requests,
            users: report
                .users
                .into_iter()
                .map(|user| RefusedUserView {
                    user: user.user,
                    is_caller: user.is_caller,
                    requests: user.requests,
                    refusals: user
                        .refusals
                        .into_iter()
                        .map(|refusal| RefusalView {
                            address: refusal.address.to_string(),
                            via: refusal.via.as_str(),
                            token_id: refusal.token_id,
                            reason: refusal.reason.code(),
                            requests: refusal.requests,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// The dry-run of `proposed` for `caller` over the usage of the last 30 days.
pub async fn report(
    store: &dyn Store,
    proposed: &Settings,
    caller: &str,
    now: DateTime<Utc>,
) -> Result<DryRunAnswer, StoreError> {
    let filter = UsageFilter {
        summed: true,
        ..UsageFilter::last_days(DRY_RUN_DAYS, now)
    };
    let usage = store.usage(&filter).await?;
    let users = store.users().await?;
    let report = dry_run(proposed, &usage, &users, caller, now);
    Ok(DryRunAnswer::new(report, filter.since))
}

/// What these settings would have refused over the last 30 days of recorded usage, per user,
/// address, via and token; nothing is saved. Admins only.
#[utoipa::path(post, path = "/admin/dry-run", tag = "admin", request_body = DryRunRequest, responses(
    (status = 200, description = "The requests the settings would have refused", body = DryRunAnswer),
    (status = 403, description = "Not an admin", body = ErrorBody),
    (status = 422, description = "invalid_ip_allowlist (names the entry), invalid_body", body = ErrorBody),
))]
async fn post_dry_run(
    State(state): State<SharedState>,
    admin: AdminCaller,
    ApiJson(request): ApiJson<DryRunRequest>,
) -> Result<Json<DryRunAnswer>, ApiError> {
    let proposed = request.settings.into_settings(&state).await?;
    let answer = report(
        state.store.as_ref(),
        &proposed,
        &admin.caller.user.name,
        Utc::now(),
    )
    .await?;
    Ok(Json(answer))
}
