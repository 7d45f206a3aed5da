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
use tokengate_core::notices::{Channel, DeliveryRecord, DeliveryState};

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
            destination: match record.channel {
                Channel::Webhook => shown_url(&record.destination),
                Channel::Email => record.destination.clone(),
            },
            attempts: record.attempts,
            last_error: record.last_error.clone().unwrap_or_default(),
            created_at: when(record.created_at),
            when: when(record.finished_at.unwrap_or(record.due_at)),
        }
    }
}

/// A webhook's URL as the page shows it: where a receiver's key often sits — user
/// information, the query, the path below its first segment (`/services/T0/B0/key`) — is
/// left out.
fn shown_url(url: &str) -> String {
    let Ok(parsed) = url::Url::parse(url) else {
        return "(a webhook)".into();
    };
    let host = parsed.host_str().unwrap_or("");
    let port = parsed
        .port()
        .map(|port| format!(":{port}"))
        .unwrap_or_default();
    let path = parsed.path();
    let first_segment = path
        .get(1..)
        .and_then(|rest| rest.find('/'))
        .map_or(path, |end| &path[..end + 2]);
    let cut = first_segment.len() < path.len() || parsed.query().is_some();
    let rest = if cut { "…" } else { "" };
    format!("{}://{host}{port}{first_segment}{rest}", parsed.scheme())
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

#[cfg(test)]
mod tests {
    use super::shown_url;

    #[test]
    fn a_webhook_url_is_shown_without_its_user_information_or_query() {
        assert_eq!(
            shown_url("https://bot:s3cret@hooks.example.com:8443/in?key=s3cret&x=1"),
            "https://hooks.example.com:8443/in…"
        );
        assert_eq!(
            shown_url("https://hooks.example.com/services/T0/B0/s3cret"),
            "https://hooks.example.com/services/…"
        );
        assert_eq!(
            shown_url("https://hooks.example.com"),
            "https://hooks.example.com/"
        );
        assert_eq!(
            shown_url("http://127.0.0.1:9/gone"),
            "http://127.0.0.1:9/gone"
        );
        assert_eq!(shown_url("not a url"), "(a webhook)");
        assert_eq!(shown_url("data:"), "data://");
    }
}
