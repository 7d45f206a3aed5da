//! `GET /me`: the caller, what they may do, and which validities they may pick.

use super::caller::Caller;
use crate::error::ApiError;
use crate::state::SharedState;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use tokengate_core::manage::{self, AdminIdentity};
use tokengate_core::model::UserView;
use tokengate_core::validity::{MaxValidity, default_validity};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new().routes(routes!(me))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CallerPermissions {
    /// May use the admin endpoints.
    pub admin: bool,
    /// May use tokens (false for non-admins while admins-only is on, or outside the groups
    /// the `use_tokens` permission names).
    pub use_tokens: bool,
    /// May create their own tokens.
    pub create_own_tokens: bool,
    /// May create tokens on behalf of other users.
    pub create_tokens_for_others: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub user: UserView,
    /// `token`, `password` or `session`.
    pub via: String,
    pub token_id: Option<String>,
    pub permissions: CallerPermissions,
    pub max_validity: MaxValidity,
    /// Presets the caller may pick when creating a token.
    pub allowed_validities: Vec<MaxValidity>,
    /// What a token gets when no validity is given.
    pub default_validity: MaxValidity,
}

/// The caller, their permissions and the validities they may choose. Any authenticated user.
#[utoipa::path(get, path = "/me", tag = "self", responses(
    (status = 200, description = "The caller", body = Me),
    (status = 401, description = "Not authenticated", body = crate::api::openapi::ErrorBody),
), security(("basic" = []), ("bearer" = []), ("session" = [])))]
async fn me(State(state): State<SharedState>, caller: Caller) -> Result<Json<Me>, ApiError> {
    let settings = state.settings();
    Ok(Json(Me {
        user: UserView::from(&caller.user),
        via: caller.via.as_str().to_owned(),
        token_id: caller.token_id.clone(),
        permissions: CallerPermissions {
            admin: AdminIdentity::for_user(&caller.user).is_some(),
            use_tokens: settings.permits_tokens(&caller.user),
            create_own_tokens: manage::may_create_own(&settings, &caller.user),
            create_tokens_for_others: manage::may_create_for_others(&settings, &caller.user),
        },
        max_validity: settings.max_validity,
        allowed_validities: settings.max_validity.allowed_presets().to_vec(),
        default_validity: default_validity(settings.max_validity),
    }))
}
