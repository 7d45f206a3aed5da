//! The one error shape of tokengate's HTTP surface (SPEC §1):
//! `{"error": "<code>", "message": "<sentence>", "request_id": "<id>"}`. Every 401 carries
//! `WWW-Authenticate`: `Bearer realm="tokengate", error=…, error_description=…` (RFC 6750) to a
//! Bearer attempt, `Basic realm="tokengate"` otherwise; 5xx bodies say nothing internal (the
//! cause goes to the log).

use crate::request_id::current_request_id;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokengate_core::Decision;
use tokengate_core::decision::Step;

pub const WWW_AUTHENTICATE_VALUE: &str = "Basic realm=\"tokengate\"";

#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
    request_id: String,
}

/// An error answer: status, stable code, human sentence, and an optional `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after_seconds: Option<u64>,
    /// For a 401 to a Bearer attempt: the RFC 6750 `error` (`invalid_token`); the description
    /// is the code and the message.
    pub bearer_error: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_seconds: None,
            bearer_error: None,
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A 5xx whose cause is logged, never shown.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(request_id = %current_request_id(), %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "An internal error occurred.",
        )
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            tokengate_core::Reason::Unavailable.message(),
        )
    }

    /// The refusal of a SPEC §2 decision.
    pub fn from_decision(decision: &Decision) -> Self {
        let (status, code, retry_after_seconds) = match &decision.outcome {
            tokengate_core::decision::Outcome::Denied {
                reason,
                retry_after_seconds,
            } => (
                StatusCode::from_u16(reason.status()).unwrap_or(StatusCode::FORBIDDEN),
                reason.code(),
                *retry_after_seconds,
            ),
            tokengate_core::decision::Outcome::Allowed(_) => (StatusCode::OK, "allowed", None),
        };
        let bearer_attempt = decision
            .steps
            .iter()
            .any(|step| matches!(step, Step::Bearer { .. }));
        let bearer_error = decision
            .reason()
            .filter(|reason| bearer_attempt && reason.status() == 401)
            .map(|_| "invalid_token");
        Self {
            status,
            code,
            message: decision.message(),
            retry_after_seconds,
            bearer_error,
        }
    }

    /// The `WWW-Authenticate` value of this 401.
    fn challenge(&self) -> HeaderValue {
        let Some(error) = self.bearer_error else {
            return HeaderValue::from_static(WWW_AUTHENTICATE_VALUE);
        };
        // RFC 6750 §3: the description is printable ASCII without `"` and `\`.
        let description: String = format!("{}: {}", self.code, self.message)
            .chars()
            .filter(|c| matches!(c, ' '..='~') && !matches!(c, '"' | '\\'))
            .collect();
        let value = format!(
            "Bearer realm=\"tokengate\", error=\"{error}\", error_description=\"{description}\""
        );
        HeaderValue::from_str(&value)
            .unwrap_or_else(|_| HeaderValue::from_static(WWW_AUTHENTICATE_VALUE))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code,
            message: &self.message,
            request_id: current_request_id(),
        };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, self.challenge());
        }
        if let Some(seconds) = self.retry_after_seconds {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
