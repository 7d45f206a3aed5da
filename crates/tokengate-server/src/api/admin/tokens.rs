//! Admin token manager: all tokens (filtered, paged), create on behalf of a user, revoke one,
//! revoke all of a user's.

use super::page_limit;
use crate::api::caller::{AdminCaller, Caller};
use crate::api::extract::{ApiJson, ApiQuery};
use crate::api::openapi::ErrorBody;
use crate::api::tokens::{CreateToken, Deleted};
use crate::effects;
use crate::error::ApiError;
use crate::state::SharedState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokengate_core::manage::{self, AdminIdentity, ManageError, Scope};
use tokengate_core::model::{TokenFilter, TokenView};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(list_all_tokens))
        .routes(routes!(revoke_token))
        .routes(routes!(create_token_for_user, revoke_tokens_of_user))
        .routes(routes!(revoke_before))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// Owner (exact user name).
    user: Option<String>,
    /// Case-insensitive part of the token name.
    name: Option<String>,
    /// Only tokens expiring before this instant.
    expires_before: Option<DateTime<Utc>>,
    /// Only tokens never used, or last used before this instant.
    unused_since: Option<DateTime<Utc>>,
    /// Page size, 1 to 1000 (default 100).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPage {
    pub tokens: Vec<TokenView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// All tokens of all users, filtered and paged by id. Admins only.
#[utoipa::path(get, path = "/admin/tokens", tag = "admin", params(TokenQuery), responses(
    (status = 200, description = "A page of tokens", body = TokenPage),
    (status = 403, description = "Not an admin", body = ErrorBody),
))]
async fn list_all_tokens(
    State(state): State<SharedState>,
    _admin: AdminCaller,
    ApiQuery(query): ApiQuery<TokenQuery>,
) -> Result<Json<TokenPage>, ApiError> {
    let limit = page_limit(query.limit);
    let filter = TokenFilter {
        owner: query.user,
        name: query.name,
        expires_before: query.expires_before,
        unused_since: query.unused_since,
        after_id: query.cursor,
        limit,
    };
    let page = state.store.tokens(&filter).await?;
    let next_cursor = (page.len() == limit as usize)
        .then(|| page.last().map(|token| token.id.clone()))
        .flatten();
    Ok(Json(TokenPage {
        tokens: page.iter().map(TokenView::from).collect(),
        next_cursor,
    }))
}

/// Creates a token on behalf of `user`; audited with the creator as actor and the user as owner.
/// Admins, and holders of the `create_tokens_for_others` permission (a team lead, a service
/// desk).
#[utoipa::path(post, path = "/admin/users/{user}/tokens", tag = "admin", request_body = CreateToken,
    params(("user" = String, Path, description = "Owner")), responses(
    (status = 201, description = "Created; `token` is the secret", body = TokenView),
    (status = 404, description = "No such user", body = ErrorBody),
    (status = 409, description = "tokens_not_permitted: the owner could not use it; user_disabled", body = ErrorBody),
    (status = 422, description = "invalid_name, validity_exceeds_maximum, invalid_validity", body = ErrorBody),
))]
async fn create_token_for_user(
    State(state): State<SharedState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiJson(request): ApiJson<CreateToken>,
) -> Result<(StatusCode, Json<TokenView>), ApiError> {
    let settings = state.settings();
    let admin = AdminIdentity::for_user(&caller.user);
    if admin.is_none() && !manage::may_create_for_others(&settings, &caller.user) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Creating tokens for other users is for administrators and holders of the create_tokens_for_others permission.",
        ));
    }
    let validity = request.validity()?;
    let restrictions = request.restrictions()?;
    let owner = state
        .store
        .user(&user)
        .await?
        .ok_or_else(|| ApiError::not_found("No such user."))?;
    manage::check_creator(&settings, &caller.user, &owner)?;
    let now = Utc::now();
    let admin_change = admin
        .as_ref()
        .map(|admin| admin.change(&caller.origin, now));
    let change = match &admin_change {
        Some(admin_change) => admin_change.as_change(),
        None => caller.change(),
    };
    let maker = caller.token(state.store.as_ref()).await?;
    let new = manage::NewToken {
        name: &request.name,
        validity,
        restrictions: &restrictions,
        maker: maker.as_ref(),
    };
    let created = manage::create_token(state.store.as_ref(), &change, &owner, &new, &settings)
        .await
    .map_err(|error| match error {
        ManageError::TokensNotPermitted => ApiError::new(
            StatusCode::CONFLICT,
            "tokens_not_permitted",
            "This user may not use tokens (admins-only, or outside the groups allowed to use them): the token could not be used.",
        ),
        other => other.into(),
    })?;
    let view = TokenView::from(&created.record).with_secret(&created.secret);
    Ok((StatusCode::CREATED, Json(view)))
}

/// Revokes any token, and every token made by it, transitively. Admins only.
#[utoipa::path(delete, path = "/admin/tokens/{id}", tag = "admin",
    params(("id" = String, Path, description = "Token id")), responses(
    (status = 204, description = "Revoked"),
    (status = 404, description = "No such token", body = ErrorBody),
))]
async fn revoke_token(
    State(state): State<SharedState>,
    admin: AdminCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let deleted =
        manage::delete_token(state.store.as_ref(), Scope::Admin(&admin.change()), &id).await;
    effects::on_node(&state, deleted).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes every token of `user`. Admins only.
#[utoipa::path(delete, path = "/admin/users/{user}/tokens", tag = "admin",
    params(("user" = String, Path, description = "Owner")), responses(
    (status = 200, description = "How many were revoked", body = Deleted),
    (status = 404, description = "No such user", body = ErrorBody),
))]
async fn revoke_tokens_of_user(
    State(state): State<SharedState>,
    admin: AdminCaller,
    Path(user): Path<String>,
) -> Result<Json<Deleted>, ApiError> {
    state
        .store
        .user(&user)
        .await?
        .ok_or_else(|| ApiError::not_found("No such user."))?;
    let change = admin.change();
    let deleted = manage::delete_all_tokens(state.store.as_ref(), &change.as_change(), &user).await;
    let deleted = effects::on_node(&state, deleted).await?;
    Ok(Json(Deleted { deleted }))
}

/// The incident button's request: every token created before `before`, of `user` or of all.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeBefore {
    /// RFC 3339 instant.
    before: DateTime<Utc>,
    #[serde(default)]
    user: Option<String>,
}

/// Revokes every token created before a time, for one user or everyone, and every token made
/// by one of them, in one audited transaction (`token.revoked_before` with the count, and the
/// ids of those made by them in `also_deleted`). Admins only.
#[utoipa::path(post, path = "/admin/revoke-before", tag = "admin", request_body = RevokeBefore, responses(
    (status = 200, description = "Revoked", body = Deleted),
    (status = 404, description = "No such user", body = ErrorBody),
    (status = 422, description = "invalid_body; before_in_future: the time is ahead of now", body = ErrorBody),
))]
async fn revoke_before(
    State(state): State<SharedState>,
    admin: AdminCaller,
    ApiJson(request): ApiJson<RevokeBefore>,
) -> Result<Json<Deleted>, ApiError> {
    let revoked = manage::revoke_before(
        state.store.as_ref(),
        &admin.change(),
        request.before,
        request.user.as_deref(),
    )
    .await;
    let deleted = effects::on_node(&state, revoked).await?;
    Ok(Json(Deleted { deleted }))
}
