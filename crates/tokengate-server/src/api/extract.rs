//! Strict request extractors for the REST API: JSON bodies (size-bounded, UTF-8, no unknown or
//! duplicate fields, right types) and query strings, each rejection a 4xx in the SPEC §1 error
//! shape — never axum's plain-text rejections. Not JSON at all → 400 `invalid_json`; JSON of
//! the wrong shape → 422 `invalid_body`.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Request bodies larger than this get 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON body of type `T` (which should be `deny_unknown_fields`).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| {
                let essence = value.split(';').next().unwrap_or("").trim();
                essence.eq_ignore_ascii_case("application/json")
            });
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Send the body as application/json.",
            ));
        }
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|_| too_large())?;
        if body.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        // JSON first, then the shape: serde_json reports some wrong shapes (a number where an
        // enum's name belongs) as syntax errors, and those are 422 like every other shape.
        let not_json = |detail: String| {
            ApiError::bad_request(
                "invalid_json",
                format!("The request body is not JSON: {}.", short(&detail)),
            )
        };
        std::str::from_utf8(&body).map_err(|error| not_json(error.to_string()))?;
        serde_json::from_slice::<serde::de::IgnoredAny>(&body)
            .map_err(|error| not_json(error.to_string()))?;
        serde_json::from_slice(&body).map(ApiJson).map_err(|error| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                format!(
                    "The request body is not valid: {}.",
                    short(&error.to_string())
                ),
            )
        })
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("The request body is larger than {MAX_BODY_BYTES} bytes or could not be read."),
    )
}

/// Error texts quote the input; keep them short.
fn short(text: &str) -> String {
    text.chars().take(200).collect()
}

/// A query string of type `T` (which should be `deny_unknown_fields`).
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|error| {
                ApiError::bad_request(
                    "invalid_query",
                    format!(
                        "The query string is not valid: {}.",
                        short(&error.to_string())
                    ),
                )
            })
    }
}

/// For `#[serde(default, deserialize_with = "present")]`: a key that is present is
/// `Some(value)`, `null` included as `Some(None)`; an absent key stays `None`.
pub fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}
