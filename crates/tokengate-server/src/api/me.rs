//! `GET /me`: the caller, what they may do, and which validities they may pick; `PATCH /me`:
//! a local user sets their own e-mail address (a directory user's is the directory's).

use super::caller::{Caller, CallerVia};
use super::extract::ApiJson;
use crate::effects;
use crate::error::ApiError;
use crate::state::SharedState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tokengate_core::User;
use tokengate_core::manage::{self, AdminIdentity};
use tokengate_core::model::UserView;
use tokengate_core::validity::{MaxValidity, default_validity};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new().routes(routes!(me, update_me))
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
    Ok(Json(describe(&state, &caller, &caller.user)))
}

fn describe(state: &SharedState, caller: &Caller, user: &User) -> Me {
    let settings = state.settings();
    Me {
        user: UserView::from(user),
        via: caller.via.as_str().to_owned(),
        token_id: caller.token_id.clone(),
        permissions: CallerPermissions {
            admin: AdminIdentity::for_user(user).is_some(),
            use_tokens: settings.permits_tokens(user),
            create_own_tokens: manage::may_create_own(&settings, user),
            create_tokens_for_others: manage::may_create_for_others(&settings, user),
        },
        max_validity: settings.max_validity,
        allowed_validities: settings.max_validity.allowed_presets().to_vec(),
        default_validity: default_validity(settings.max_validity),
    }
}

/// `{"email": "..."}`: the caller's new address; `null` or `""` clears it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMe {
    #[serde(default, deserialize_with = "crate::api::extract::present")]
    #[schema(value_type = Option<String>, example = "alice@example.com")]
    pub email: Option<Option<String>>,
}

/// Sets or clears the caller's own e-mail address, checked like an admin's change of it and
/// audited `user.updated` with the caller as actor. Local users only: a directory user's
/// address comes from LDAP or OIDC (409 `directory_managed`). With the password or a browser
/// session, not a token (403 `token_exceeds_caller`): the address is where notices about the
/// user's tokens go, and a leaked token must not redirect them.
#[utoipa::path(patch, path = "/me", tag = "self", request_body = UpdateMe, responses(
    (status = 200, description = "The caller, changed", body = Me),
    (status = 401, description = "Not authenticated", body = crate::api::openapi::ErrorBody),
    (status = 403, description = "token_exceeds_caller: a token cannot change the address; token_scope_denied: a token outside its restrictions", body = crate::api::openapi::ErrorBody),
    (status = 409, description = "directory_managed: the address comes from the directory", body = crate::api::openapi::ErrorBody),
    (status = 422, description = "invalid_email, or no `email` given", body = crate::api::openapi::ErrorBody),
), security(("basic" = []), ("bearer" = []), ("session" = [])))]
async fn update_me(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(request): ApiJson<UpdateMe>,
) -> Result<Json<Me>, ApiError> {
    let Some(email) = request.email else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            "Give the new address as email (null or \"\" clears it).",
        ));
    };
    let email = email.as_deref().filter(|email| !email.is_empty());
    let through_token = caller.via == CallerVia::Token;
    let changed =
        manage::set_own_email(state.store.as_ref(), &caller.change(), email, through_token).await;
    let user = effects::on_node(&state, changed).await?;
    Ok(Json(describe(&state, &caller, &user)))
}
