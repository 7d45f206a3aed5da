//! The REST API under `/tokengate/api/v1` (SPEC §3) and its OpenAPI document at
//! `/tokengate/api/openapi.json`. Handlers are thin: authenticate ([`caller`]), validate
//! ([`extract`]), call `tokengate_core::manage`, map errors here.

pub mod admin;
pub mod caller;
pub mod explain;
pub mod extract;
pub mod me;
pub mod openapi;
pub mod tokens;
pub mod usage;

use crate::error::ApiError;
use crate::state::SharedState;
use axum::Router;
use axum::http::StatusCode;
use tokengate_core::manage::ManageError;
use tokengate_core::validity::ValidityError;
use utoipa_axum::router::OpenApiRouter;

/// The API routes and the OpenAPI document built from them.
pub fn router() -> Router<SharedState> {
    let (api, document) = openapi::split();
    let document = std::sync::Arc::new(document);
    Router::new()
        .nest("/v1", api)
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let document = document.clone();
                async move { axum::Json(document.as_ref().clone()) }
            }),
        )
        .fallback(|| async { ApiError::not_found("There is no such API endpoint.") })
}

/// Every API route, for the router and the document alike.
pub(crate) fn api_routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .merge(me::routes())
        .merge(tokens::routes())
        .merge(usage::routes())
        .merge(admin::routes())
        .merge(explain::routes())
}

/// The one mapping of management errors to HTTP answers.
impl From<ManageError> for ApiError {
    fn from(error: ManageError) -> Self {
        let unprocessable =
            |code, message: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message);
        match error {
            ManageError::InvalidTokenName
            | ManageError::InvalidUserName
            | ManageError::InvalidDisplayName
            | ManageError::InvalidEmail
            | ManageError::InvalidGroup(_)
            | ManageError::InvalidRestrictions(_)
            | ManageError::InvalidGrace
            | ManageError::BeforeInFuture
            | ManageError::Password(_) => unprocessable(error.code(), error.to_string()),
            ManageError::Validity(ValidityError::ExceedsMaximum { .. })
            | ManageError::Validity(ValidityError::InPast)
            | ManageError::Validity(ValidityError::Invalid(_)) => {
                unprocessable(error.code(), error.to_string())
            }
            ManageError::TokensNotPermitted
            | ManageError::NotAllowed(_)
            | ManageError::TokenExceedsCaller(_) => {
                ApiError::new(StatusCode::FORBIDDEN, error.code(), error.to_string())
            }
            ManageError::UserDisabled(_)
            | ManageError::WouldLockOutCaller
            | ManageError::DirectoryManaged(_) => {
                ApiError::new(StatusCode::CONFLICT, error.code(), error.to_string())
            }
            ManageError::NotFound(what) => ApiError::not_found(format!("No such {what}.")),
            ManageError::Conflict(what) => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("That {what} already exists."),
            ),
            ManageError::Unavailable(_) | ManageError::Random => ApiError::unavailable(),
        }
    }
}

impl From<tokengate_core::store::StoreError> for ApiError {
    fn from(error: tokengate_core::store::StoreError) -> Self {
        ManageError::from(error).into()
    }
}
