//! `/tokengate/admin/notifications`: deliveries of e-mail and webhook notices that failed
//! (given up after the retry period, or refused for good) and those still being retried,
//! each with its last error; a failed one can be sent again.

use super::context::Visit;
use super::forms::when;
use super::layout::{Nav, UiError, incomplete_form, render, see_other};
use crate::state::SharedState;
use askama::Template;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tokengate_core::notices::{DeliveryRecord, DeliveryState};

/// The most deliveries shown per list.
const SHOWN: u32 = 200;

struct DeliveryRow {
    id: String,
    event: &'static str,
    channel: &'static str,
    destination: String,
    attempts: u32,
    last_error: String,
    created_at: String,
    /// When the next attempt is due (retrying) or when it was given up (failed).
    when: String,
}

impl DeliveryRow {
    fn new(record: &DeliveryRecord) -> Self {
        Self {
            id: record.id.clone(),
            event: record.event.as_str(),
            channel: record.channel.as_str(),
            destination: record.destination.clone(),
            attempts: record.attempts,
            last_error: record.last_error.clone().unwrap_or_default(),
            created_at: when(record.created_at),
            when: when(record.finished_at.unwrap_or(record.due_at)),
        }
    }
}

#[derive(Template)]
#[template(path = "admin_notifications.html")]
struct NotificationsPage {
    nav: Option<Nav>,
    failed: Vec<DeliveryRow>,
    retrying: Vec<DeliveryRow>,
}

/// `GET /tokengate/admin/notifications`.
pub async fn page(State(state): State<SharedState>, visit: Visit) -> Result<Response, UiError> {
    let (_, nav) = visit.admin_page("admin-notifications")?;
    let failed = state
        .store
        .deliveries(DeliveryState::Failed, SHOWN)
        .await
        .map_err(|_| UiError::unavailable())?;
    let pending = state
        .store
        .deliveries(DeliveryState::Pending, SHOWN)
        .await
        .map_err(|_| UiError::unavailable())?;
    let page = NotificationsPage {
        nav: Some(nav),
        failed: failed.iter().map(DeliveryRow::new).collect(),
        retrying: pending
            .iter()
            .filter(|delivery| delivery.last_error.is_some())
            .map(DeliveryRow::new)
            .collect(),
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct RetryForm {
    csrf: String,
}

/// `POST /tokengate/admin/notifications/{id}/retry`: a failed delivery is due again now.
pub async fn retry(
    State(state): State<SharedState>,
    visit: Visit,
    Path(id): Path<String>,
    form: Result<Form<RetryForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(form) = form.map_err(incomplete_form)?;
    let acting = visit.form(&form.csrf)?;
    acting.admin(&visit.settings)?;
    let retried = state
        .store
        .retry_delivery(&id, acting.now)
        .await
        .map_err(|_| UiError::unavailable())?;
    if !retried {
        return Err(UiError::not_found());
    }
    Ok(see_other("/tokengate/admin/notifications"))
}
