//! The usage pages (SPEC §13): `/tokengate/admin/usage` draws requests per day by via and the
//! busiest tokens over the last 30 days, and lists tokens expiring in the next 30 days, tokens
//! unused for 90 days and tokens that never expire; `/tokengate/tokens/{id}/usage` shows an
//! owner (or an admin) one token's requests per day and address. Read-only.

use super::charts::{self, Chart};
use super::context::Visit;
use super::forms::TokenRow;
use super::layout::{Nav, UiError, render};
use crate::api::usage::{DEFAULT_DAYS, token_usage};
use crate::state::SharedState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use tokengate_core::Via;
use tokengate_core::manage::AdminIdentity;
use tokengate_core::model::{TokenFilter, TokenRecord};
use tokengate_core::store::{Store, StoreError};
use tokengate_core::usage::{UsageFilter, first_day};

/// Tokens shown per list; the heading says how many there are.
const LIST_SIZE: usize = 50;
/// Tokens in the ranking.
const TOP_TOKENS: usize = 10;
/// Tokens read per page while looking for those that never expire.
const SCAN_PAGE: u32 = 1000;

/// A list of tokens with how many there are in all.
struct TokenList {
    total: usize,
    tokens: Vec<TokenRow>,
}

impl TokenList {
    fn new(records: Vec<TokenRecord>, now: DateTime<Utc>) -> Self {
        Self {
            total: records.len(),
            tokens: records
                .iter()
                .take(LIST_SIZE)
                .map(|token| TokenRow::new(token, now))
                .collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin_usage.html")]
struct AdminUsagePage {
    nav: Option<Nav>,
    charts: Vec<Chart>,
    expiring: TokenList,
    unused: TokenList,
    never: TokenList,
}

#[derive(Template)]
#[template(path = "token_usage.html")]
struct TokenUsagePage {
    nav: Option<Nav>,
    token: TokenRow,
    charts: Vec<Chart>,
    requests: u64,
    days: u64,
}

fn unavailable(_: StoreError) -> UiError {
    UiError::unavailable()
}

/// `GET /tokengate/admin/usage`.
pub async fn admin_page(
    State(state): State<SharedState>,
    visit: Visit,
) -> Result<Response, UiError> {
    let (_, nav) = visit.admin_page("usage")?;
    let store = state.store.as_ref();
    let now = visit.now;
    let charts = vec![
        per_day_chart(store, now).await.map_err(unavailable)?,
        top_tokens_chart(store, now).await.map_err(unavailable)?,
    ];
    let expiring = store
        .tokens(&TokenFilter {
            expires_before: Some(now + Duration::days(30)),
            limit: SCAN_PAGE,
            ..TokenFilter::default()
        })
        .await
        .map_err(unavailable)?
        .into_iter()
        .filter(|token| !token.is_expired(now))
        .collect();
    let ninety_days_ago = now - Duration::days(90);
    let unused = store
        .tokens(&TokenFilter {
            unused_since: Some(ninety_days_ago),
            limit: SCAN_PAGE,
            ..TokenFilter::default()
        })
        .await
        .map_err(unavailable)?
        .into_iter()
        .filter(|token| token.created_at <= ninety_days_ago)
        .collect();
    let never = never_expiring(store).await.map_err(unavailable)?;
    let page = AdminUsagePage {
        nav: Some(nav),
        charts,
        expiring: TokenList::new(expiring, now),
        unused: TokenList::new(unused, now),
        never: TokenList::new(never, now),
    };
    Ok(render(StatusCode::OK, &page))
}

async fn per_day_chart(store: &dyn Store, now: DateTime<Utc>) -> Result<Chart, StoreError> {
    let first = first_day(DEFAULT_DAYS, now);
    let counts: Vec<_> = store
        .usage_per_day(first)
        .await?
        .into_iter()
        .map(|day| (day.day, day.via, day.count))
        .collect();
    let days = u32::try_from(DEFAULT_DAYS).unwrap_or(30);
    Ok(charts::per_day(
        "requests-per-day",
        "Requests per day, last 30 days",
        first,
        days,
        &counts,
    ))
}

async fn top_tokens_chart(store: &dyn Store, now: DateTime<Utc>) -> Result<Chart, StoreError> {
    let filter = UsageFilter {
        summed: true,
        ..UsageFilter::last_days(DEFAULT_DAYS, now)
    };
    let mut per_token: HashMap<String, (String, u64)> = HashMap::new();
    for row in store.usage(&filter).await? {
        if let Some(token_id) = row.token_id {
            let entry = per_token.entry(token_id).or_insert((row.user, 0));
            entry.1 = entry.1.saturating_add(row.count);
        }
    }
    let mut ranked: Vec<(String, (String, u64))> = per_token.into_iter().collect();
    ranked.sort_by(|a, b| b.1.1.cmp(&a.1.1).then_with(|| a.0.cmp(&b.0)));
    let mut entries = Vec::new();
    for (token_id, (owner, count)) in ranked.into_iter().take(TOP_TOKENS) {
        let name = match store.token(&token_id).await? {
            Some(token) => token.name,
            None => "(deleted token)".to_owned(),
        };
        entries.push((format!("{name} ({owner})"), count));
    }
    Ok(charts::ranking(
        "top-tokens",
        "Busiest tokens, last 30 days",
        ("token", "Token"),
        &entries,
    ))
}

/// Every token without an expiry, read page by page.
async fn never_expiring(store: &dyn Store) -> Result<Vec<TokenRecord>, StoreError> {
    let mut found = Vec::new();
    let mut after_id = None;
    loop {
        let page = store
            .tokens(&TokenFilter {
                after_id: after_id.take(),
                limit: SCAN_PAGE,
                ..TokenFilter::default()
            })
            .await?;
        let full = page.len() >= usize::try_from(SCAN_PAGE).unwrap_or(usize::MAX);
        after_id = page.last().map(|token| token.id.clone());
        found.extend(page.into_iter().filter(|token| token.expires_at.is_none()));
        if !full {
            return Ok(found);
        }
    }
}

/// `GET /tokengate/tokens/{id}/usage`: the owner's own token, or any token for an admin.
pub async fn token_page(
    State(state): State<SharedState>,
    visit: Visit,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let nav = visit.nav("tokens");
    let Some(session) = &visit.session else {
        return Err(UiError::forbidden("Sign in to see your tokens' usage."));
    };
    let is_admin = AdminIdentity::for_user(&session.user).is_some();
    let store = state.store.as_ref();
    let token = store
        .token(&id)
        .await
        .map_err(unavailable)?
        .filter(|token| is_admin || token.owner == session.user.name)
        .ok_or_else(UiError::not_found)?;
    let usage = token_usage(store, &id, DEFAULT_DAYS, visit.now)
        .await
        .map_err(unavailable)?;
    let counts: Vec<_> = usage
        .per_day
        .iter()
        .map(|day| (day.day, Via::Token, day.requests))
        .collect();
    let days = u32::try_from(DEFAULT_DAYS).unwrap_or(30);
    let mut by_day = charts::per_day(
        "token-requests-per-day",
        "Requests per day, last 30 days",
        usage.since,
        days,
        &counts,
    );
    by_day.legend.clear();
    let addresses: Vec<(String, u64)> = usage
        .addresses
        .iter()
        .map(|address| (address.address.clone(), address.requests))
        .collect();
    let by_address = charts::ranking(
        "token-addresses",
        "Requests by client address, last 30 days",
        ("address", "Address"),
        &addresses,
    );
    let page = TokenUsagePage {
        nav,
        token: TokenRow::new(&token, visit.now),
        charts: vec![by_day, by_address],
        requests: usage.requests,
        days: usage.days,
    };
    Ok(render(StatusCode::OK, &page))
}
