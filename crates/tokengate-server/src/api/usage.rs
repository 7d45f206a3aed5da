//! A token's usage (SPEC §13): requests per UTC day and client address over the last days,
//! for the token's owner; admins may ask about any token. Another user's token answers 404,
//! exactly like a missing one. The web UI's per-token view reads the same [`token_usage`].

use super::caller::Caller;
use super::extract::ApiQuery;
use super::openapi::ErrorBody;
use crate::error::ApiError;
use crate::state::SharedState;
use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tokengate_core::manage::AdminIdentity;
use tokengate_core::store::{Store, StoreError};
use tokengate_core::usage::{self, UsageFilter};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new().routes(routes!(get_token_usage))
}

/// The window a usage answer covers when none is asked for.
pub const DEFAULT_DAYS: u64 = 30;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// Days back from today (UTC), today included: 1 to 90 (default 30).
    #[param(minimum = 1, maximum = 90)]
    days: Option<i64>,
}

/// Requests from one address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AddressCount {
    pub address: String,
    pub requests: u64,
}

/// The requests of one UTC day, by address (most first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DayCount {
    #[schema(value_type = String, format = Date, example = "2027-03-01")]
    pub day: NaiveDate,
    pub requests: u64,
    pub addresses: Vec<AddressCount>,
}

/// A token's usage over a window of days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TokenUsage {
    pub token_id: String,
    pub days: u64,
    /// The first day of the window.
    #[schema(value_type = String, format = Date)]
    pub since: NaiveDate,
    /// Requests in the window.
    pub requests: u64,
    /// Days with requests, oldest first (days without any are left out).
    pub per_day: Vec<DayCount>,
    /// Over the whole window, most first.
    pub addresses: Vec<AddressCount>,
}

fn by_requests(counts: BTreeMap<String, u64>) -> Vec<AddressCount> {
    let mut list: Vec<AddressCount> = counts
        .into_iter()
        .map(|(address, requests)| AddressCount { address, requests })
        .collect();
    list.sort_by_key(|count| std::cmp::Reverse(count.requests));
    list
}

/// The usage of token `token_id` over the last `days` days (what is stored so far: counts of
/// the current minute are written by the next flush).
pub async fn token_usage(
    store: &dyn Store,
    token_id: &str,
    days: u64,
    now: DateTime<Utc>,
) -> Result<TokenUsage, StoreError> {
    let filter = UsageFilter {
        token_id: Some(token_id.to_owned()),
        ..UsageFilter::last_days(days, now)
    };
    let rows = store.usage(&filter).await?;
    let mut per_day: BTreeMap<NaiveDate, BTreeMap<String, u64>> = BTreeMap::new();
    let mut addresses: BTreeMap<String, u64> = BTreeMap::new();
    for row in &rows {
        let address = row.address.to_string();
        let day = per_day.entry(row.day).or_default();
        let count = day.entry(address.clone()).or_insert(0);
        *count = count.saturating_add(row.count);
        let total = addresses.entry(address).or_insert(0);
        *total = total.saturating_add(row.count);
    }
    Ok(TokenUsage {
        token_id: token_id.to_owned(),
        days,
        since: filter.since,
        requests: addresses
            .values()
            .fold(0, |sum, count| sum.saturating_add(*count)),
        per_day: per_day
            .into_iter()
            .map(|(day, counts)| DayCount {
                day,
                requests: counts
                    .values()
                    .fold(0, |sum, count| sum.saturating_add(*count)),
                addresses: by_requests(counts),
            })
            .collect(),
        addresses: by_requests(addresses),
    })
}

/// A `days` query value checked: 1 to 90, default 30.
pub fn checked_days(days: Option<i64>) -> Result<u64, ApiError> {
    usage::checked_days(days, DEFAULT_DAYS)
        .map_err(|error| ApiError::bad_request("invalid_query", format!("{error}.")))
}

/// Requests per day and address with one of the caller's tokens; admins may ask about any
/// token. Counts are written once a minute, so the latest minute may be missing.
#[utoipa::path(get, path = "/tokens/{id}/usage", tag = "tokens", params(("id" = String, Path, description = "Token id"), UsageQuery), responses(
    (status = 200, description = "The token's usage", body = TokenUsage),
    (status = 400, description = "invalid_query: days is not a whole number from 1 to 90", body = ErrorBody),
    (status = 404, description = "No such token of the caller (also another user's, unless the caller is an admin)", body = ErrorBody),
))]
async fn get_token_usage(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> Result<Json<TokenUsage>, ApiError> {
    let days = checked_days(query.days)?;
    let is_admin = AdminIdentity::for_user(&caller.user).is_some();
    let store = state.store.as_ref();
    store
        .token(&id)
        .await?
        .filter(|token| is_admin || token.owner == caller.user.name)
        .ok_or_else(|| ApiError::not_found("No such token."))?;
    Ok(Json(token_usage(store, &id, days, Utc::now()).await?))
}
