//! Admin user management: list, create, change admin/disabled/password/display name, reset the
//! failed-login counter and lock.

use crate::api::caller::{AdminCaller, CallerVia};
use crate::api::extract::ApiJson;
use crate::api::openapi::ErrorBody;
use crate::effects;
use crate::error::ApiError;
use crate::state::SharedState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use tokengate_core::Secret;
use tokengate_core::manage::{self, NewUser, UserUpdate};
use tokengate_core::model::UserView;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(update_user))
        .routes(routes!(reset_failed_logins))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// `[A-Za-z0-9._@-]{1,128}`, case-sensitive.
    #[schema(pattern = "^[A-Za-z0-9._@-]{1,128}$", example = "alice")]
    name: String,
    #[serde(default)]
    admin: bool,
    /// Without a password the user can only use tokens.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    password: Option<Secret>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    #[serde(default)]
    admin: Option<bool>,
    #[serde(default)]
    disabled: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    password: Option<Secret>,
    #[serde(default)]
    display_name: Option<String>,
    /// A new address; `null` removes it.
    #[serde(default, deserialize_with = "crate::api::extract::present")]
    #[schema(value_type = Option<String>)]
    email: Option<Option<String>>,
    /// The local groups the user is in, exactly (directory groups come from the directory).
    #[serde(default)]
    groups: Option<Vec<String>>,
}

/// Every user. Admins only.
#[utoipa::path(get, path = "/admin/users", tag = "admin", responses(
    (status = 200, description = "Users in name order", body = Vec<UserView>),
    (status = 403, description = "Not an admin", body = ErrorBody),
))]
async fn list_users(
    State(state): State<SharedState>,
    _admin: AdminCaller,
) -> Result<Json<Vec<UserView>>, ApiError> {
    let users = state.store.users().await?;
    Ok(Json(users.iter().map(UserView::from).collect()))
}

/// Through a token, an admin sets no password and makes no admin (403
/// `token_exceeds_caller`): either would give whoever holds the token a way in that outlives
/// the token's revocation. The password, a web session or the CLI can.
fn check_token_caller(
    admin: &AdminCaller,
    sets_password: bool,
    grants_admin: bool,
) -> Result<(), ApiError> {
    if admin.caller.via == CallerVia::Token && (sets_password || grants_admin) {
        return Err(manage::ManageError::TokenExceedsCaller(
            "a token cannot set passwords or make administrators: use the password, the web \
             page or the command line"
                .into(),
        )
        .into());
    }
    Ok(())
}

/// Creates a user. Admins only.
#[utoipa::path(post, path = "/admin/users", tag = "admin", request_body = CreateUser, responses(
    (status = 201, description = "Created", body = UserView),
    (status = 403, description = "token_exceeds_caller: through a token, no password and no admin", body = ErrorBody),
    (status = 409, description = "conflict: the name is taken", body = ErrorBody),
    (status = 422, description = "invalid_user_name, invalid_display_name, invalid_password (nothing is stored)", body = ErrorBody),
))]
async fn create_user(
    State(state): State<SharedState>,
    admin: AdminCaller,
    ApiJson(request): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    check_token_caller(&admin, request.password.is_some(), request.admin)?;
    let password = request.password;
    let new_user = NewUser {
        name: &request.name,
        display_name: request.display_name.as_deref(),
        admin: request.admin,
        password: password.as_ref(),
        email: request.email.as_deref(),
    };
    let user = manage::create_user_with(state.store.as_ref(), &admin.change(), &new_user).await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}

/// Changes a user's admin flag, disabled flag, password, display name, e-mail or local groups.
/// A new password or `disabled: true` ends the user's web sessions. A directory user's name,
/// e-mail, admin flag and password belong to the directory (409 `directory_managed`). Admins
/// only.
#[utoipa::path(patch, path = "/admin/users/{user}", tag = "admin", request_body = UpdateUser,
    params(("user" = String, Path, description = "User name")), responses(
    (status = 200, description = "Changed", body = UserView),
    (status = 403, description = "token_exceeds_caller: through a token, no password and no admin", body = ErrorBody),
    (status = 404, description = "No such user", body = ErrorBody),
    (status = 409, description = "would_lock_out_caller: an admin cannot demote or disable themselves", body = ErrorBody),
    (status = 422, description = "invalid_password, invalid_display_name, invalid_email, invalid_group", body = ErrorBody),
))]
async fn update_user(
    State(state): State<SharedState>,
    admin: AdminCaller,
    Path(user): Path<String>,
    ApiJson(request): ApiJson<UpdateUser>,
) -> Result<Json<UserView>, ApiError> {
    check_token_caller(
        &admin,
        request.password.is_some(),
        request.admin == Some(true),
    )?;
    let password = request.password;
    let update = UserUpdate {
        display_name: request.display_name.as_deref(),
        email: request.email.as_ref().map(Option::as_deref),
        admin: request.admin,
        disabled: request.disabled,
        password: password.as_ref(),
    };
    let store = state.store.as_ref();
    let change = admin.change();
    if let Some(groups) = &request.groups {
        // Checked before the first write, so a bad group changes nothing.
        manage::check_local_groups_exist(store, groups).await?;
    }
    let mut updated = None;
    if update.touches_anything() || request.groups.is_none() {
        let changed = manage::update_user(store, &change, &user, update).await;
        updated = Some(effects::on_node(&state, changed).await?);
    }
    if let Some(groups) = &request.groups {
        let changed = manage::set_local_groups(store, &change, &user, groups).await;
        updated = Some(effects::on_node(&state, changed).await?);
    }
    let updated = updated.ok_or_else(ApiError::unavailable)?;
    Ok(Json(UserView::from(&updated)))
}

/// Resets the user's failed-login counter and ends a lock. Admins only.
#[utoipa::path(delete, path = "/admin/users/{user}/failed-logins", tag = "admin",
    params(("user" = String, Path, description = "User name")), responses(
    (status = 204, description = "Reset"),
    (status = 404, description = "No such user", body = ErrorBody),
))]
async fn reset_failed_logins(
    State(state): State<SharedState>,
    admin: AdminCaller,
    Path(user): Path<String>,
) -> Result<StatusCode, ApiError> {
    let reset = manage::reset_failed_logins(state.store.as_ref(), &admin.change(), &user).await;
    effects::on_node(&state, reset).await?;
    Ok(StatusCode::NO_CONTENT)
}
