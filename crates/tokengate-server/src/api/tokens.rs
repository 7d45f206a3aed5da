//! The caller's own tokens: list, create (secret shown once), rename, delete one, delete all.
//! Another user's token id answers 404, exactly like a missing one.

use super::caller::Caller;
use super::extract::ApiJson;
use super::openapi::ErrorBody;
use crate::effects;
use crate::error::ApiError;
use crate::state::SharedState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokengate_core::allowlist::IpAllowList;
use tokengate_core::manage::{self, NewToken, Scope};
use tokengate_core::model::{TokenFilter, TokenView};
use tokengate_core::restrictions::{Access, Restrictions};
use tokengate_core::store::Store;
use tokengate_core::validity::ValidityRequest;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(list_tokens, create_token, delete_all_tokens))
        .routes(routes!(rename_token, delete_token))
        .routes(routes!(rotate_token))
}

/// `{name, validity}` or `{name, expires_at}`; neither = the default validity.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// 1 to 100 printable characters.
    #[schema(min_length = 1, max_length = 100, example = "CI on build-01")]
    pub name: String,
    /// `6m`, `1y`, `2y`, `never`, a day count like `30d`, or a date `YYYY-MM-DD`.
    #[serde(default)]
    #[schema(
        pattern = "^(6m|1y|2y|never|[1-9][0-9]{0,4}d|[0-9]{4}-[0-9]{2}-[0-9]{2})$",
        example = "90d"
    )]
    pub validity: Option<String>,
    /// An exact expiry instant (RFC 3339), at most the maximum validity from now.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// `read` (GET, HEAD, OPTIONS only) or `write` (default).
    #[serde(default)]
    pub access: Option<Access>,
    /// Path prefixes the token may reach; absent or empty = every path.
    #[serde(default)]
    pub paths: Option<Vec<String>>,
    /// Route names the token may reach (`tokengate` = this API); absent or empty = every route.
    #[serde(default)]
    pub routes: Option<Vec<String>>,
    /// The token's own IP allow-list, checked after the global one.
    #[serde(default)]
    pub ip_allowlist: Option<Vec<String>>,
}

impl CreateToken {
    /// The restrictions asked for, every entry checked (nothing given = none).
    pub fn restrictions(&self) -> Result<Restrictions, ApiError> {
        let invalid = |message: String| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_restrictions",
                message,
            )
        };
        let ip_allowlist = IpAllowList::parse(self.ip_allowlist.as_deref().unwrap_or_default())
            .map_err(|error| invalid(format!("ip_allowlist: {error}")))?;
        let restrictions = Restrictions {
            access: self.access.unwrap_or_default(),
            paths: self.paths.clone().unwrap_or_default(),
            routes: self.routes.clone().unwrap_or_default(),
            ip_allowlist,
        };
        restrictions.validate().map_err(invalid)?;
        Ok(restrictions)
    }

    pub fn validity(&self) -> Result<Option<ValidityRequest>, ApiError> {
        match (&self.validity, self.expires_at) {
            (Some(_), Some(_)) => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_validity",
                "Give either validity or expires_at, not both.",
            )),
            (Some(text), None) => text
                .parse::<ValidityRequest>()
                .map(Some)
                .map_err(|error| ApiError::from(manage::ManageError::Validity(error))),
            (None, Some(instant)) => Ok(Some(ValidityRequest::At(instant))),
            (None, None) => Ok(None),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameToken {
    /// A new name.
    #[schema(min_length = 1, max_length = 100)]
    #[serde(default)]
    pub name: Option<String>,
    /// New restrictions: each given field replaces the token's; absent ones stay.
    #[serde(default)]
    pub access: Option<Access>,
    #[serde(default)]
    pub paths: Option<Vec<String>>,
    #[serde(default)]
    pub routes: Option<Vec<String>>,
    #[serde(default)]
    pub ip_allowlist: Option<Vec<String>>,
}

impl RenameToken {
    fn restricts(&self) -> bool {
        self.access.is_some()
            || self.paths.is_some()
            || self.routes.is_some()
            || self.ip_allowlist.is_some()
    }

    /// `current` with the given fields replaced, every entry checked.
    fn restrictions(&self, current: &Restrictions) -> Result<Restrictions, ApiError> {
        let ip_allowlist = match &self.ip_allowlist {
            Some(entries) => IpAllowList::parse(entries).map_err(|error| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_restrictions",
                    format!("ip_allowlist: {error}"),
                )
            })?,
            None => current.ip_allowlist.clone(),
        };
        Ok(Restrictions {
            access: self.access.unwrap_or(current.access),
            paths: self.paths.clone().unwrap_or_else(|| current.paths.clone()),
            routes: self
                .routes
                .clone()
                .unwrap_or_else(|| current.routes.clone()),
            ip_allowlist,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    pub deleted: u64,
}

/// Every token of `owner`, in id order, read page by page.
pub async fn all_tokens_of(store: &dyn Store, owner: &str) -> Result<Vec<TokenView>, ApiError> {
    let mut views = Vec::new();
    let mut after_id = None;
    loop {
        let filter = TokenFilter {
            owner: Some(owner.to_owned()),
            after_id,
            limit: 1000,
            ..TokenFilter::default()
        };
        let page = store.tokens(&filter).await?;
        let full = page.len() == 1000;
        after_id = page.last().map(|token| token.id.clone());
        views.extend(page.iter().map(TokenView::from));
        if !full {
            return Ok(views);
        }
    }
}

/// The caller's tokens (never the secrets). Any authenticated user.
#[utoipa::path(get, path = "/tokens", tag = "tokens", responses(
    (status = 200, description = "The caller's tokens", body = Vec<TokenView>),
    (status = 401, description = "Not authenticated", body = ErrorBody),
))]
async fn list_tokens(
    State(state): State<SharedState>,
    caller: Caller,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    Ok(Json(
        all_tokens_of(state.store.as_ref(), &caller.user.name).await?,
    ))
}

/// Creates a token for the caller; the answer carries the secret in `token`, shown only this
/// once. Any user allowed to use tokens (admins only while admins-only is on). Made through a
/// token, the new token names it in `made_by`, and is deleted when that token is.
#[utoipa::path(post, path = "/tokens", tag = "tokens", request_body = CreateToken, responses(
    (status = 201, description = "Created; `token` is the secret", body = TokenView),
    (status = 403, description = "tokens_not_permitted", body = ErrorBody),
    (status = 422, description = "invalid_name, validity_exceeds_maximum, invalid_validity, expiry_in_past", body = ErrorBody),
))]
async fn create_token(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(request): ApiJson<CreateToken>,
) -> Result<(StatusCode, Json<TokenView>), ApiError> {
    let validity = request.validity()?;
    let restrictions = request.restrictions()?;
    let settings = state.settings();
    let change = caller.change();
    let maker = caller.token(state.store.as_ref()).await?;
    let new = NewToken {
        name: &request.name,
        validity,
        restrictions: &restrictions,
        maker: maker.as_ref(),
    };
    let created =
        manage::create_token(state.store.as_ref(), &change, &caller.user, &new, &settings).await?;
    let view = TokenView::from(&created.record).with_secret(&created.secret);
    Ok((StatusCode::CREATED, Json(view)))
}

/// `{grace}`: how long the old secret keeps working (`30s`, `10m`, `24h`, at most `7d`;
/// default `0`, it stops at once).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateToken {
    #[serde(default)]
    #[schema(example = "24h")]
    pub grace: Option<String>,
}

/// A new secret for one of the caller's tokens: same id, name and restrictions, and as long
/// as it had since its last secret; the answer carries the new secret in `token`, shown this
/// once. Needs what creating a token needs (`create_own_tokens`). Tokens made by this one are
/// kept: delete the token instead when it leaked.
#[utoipa::path(post, path = "/tokens/{id}/rotate", tag = "tokens", request_body = RotateToken,
    params(("id" = String, Path, description = "Token id")), responses(
    (status = 201, description = "Rotated; `token` is the new secret", body = TokenView),
    (status = 403, description = "tokens_not_permitted (as for creating), token_exceeds_caller", body = ErrorBody),
    (status = 404, description = "No such token of the caller", body = ErrorBody),
    (status = 422, description = "invalid_grace", body = ErrorBody),
))]
async fn rotate_token(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<RotateToken>,
) -> Result<(StatusCode, Json<TokenView>), ApiError> {
    let grace = match request.grace.as_deref() {
        None => chrono::TimeDelta::zero(),
        Some(text) => crate::config::values::parse_duration(text)
            .ok()
            .and_then(|duration| chrono::TimeDelta::from_std(duration).ok())
            .ok_or(manage::ManageError::InvalidGrace)?,
    };
    let change = caller.change();
    let store = state.store.as_ref();
    let maker = caller.token(store).await?;
    let settings = state.settings();
    let rotated = manage::rotate_token(
        store,
        Scope::Own(&change),
        &id,
        grace,
        &settings,
        maker.as_ref(),
    )
    .await;
    let created = effects::on_node(&state, rotated).await?;
    let view = TokenView::from(&created.record).with_secret(&created.secret);
    Ok((StatusCode::CREATED, Json(view)))
}

/// Renames one of the caller's tokens.
#[utoipa::path(patch, path = "/tokens/{id}", tag = "tokens", request_body = RenameToken,
    params(("id" = String, Path, description = "Token id")), responses(
    (status = 200, description = "Renamed and/or restricted", body = TokenView),
    (status = 403, description = "token_exceeds_caller: through a token, only within its own restrictions", body = ErrorBody),
    (status = 404, description = "No such token of the caller", body = ErrorBody),
    (status = 422, description = "invalid_name, invalid_restrictions", body = ErrorBody),
))]
async fn rename_token(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<RenameToken>,
) -> Result<Json<TokenView>, ApiError> {
    let change = caller.change();
    let store = state.store.as_ref();
    let current = store
        .token(&id)
        .await?
        .filter(|token| token.owner == caller.user.name)
        .ok_or_else(|| ApiError::not_found("No such token."))?;
    // Everything is checked before the first write.
    let restrictions = match request.restricts() {
        true => {
            let restrictions = request.restrictions(&current.restrictions)?;
            restrictions
                .validate()
                .map_err(manage::ManageError::InvalidRestrictions)?;
            Some(restrictions)
        }
        false => None,
    };
    if request
        .name
        .as_deref()
        .is_some_and(|name| !tokengate_core::model::is_valid_token_name(name))
    {
        return Err(manage::ManageError::InvalidTokenName.into());
    }
    let mut record = current;
    if let Some(restrictions) = &restrictions {
        let maker = caller.token(store).await?;
        let restricted = manage::restrict_token(
            store,
            Scope::Own(&change),
            &id,
            restrictions,
            maker.as_ref(),
        )
        .await;
        record = effects::on_node(&state, restricted).await?;
    }
    if let Some(name) = &request.name {
        record = manage::rename_token(store, Scope::Own(&change), &id, name).await?;
    }
    Ok(Json(TokenView::from(&record)))
}

/// Deletes one of the caller's tokens and every token made by it, transitively (`made_by`);
/// they stop working on every node within a second.
#[utoipa::path(delete, path = "/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, description = "Token id")), responses(
    (status = 204, description = "Deleted"),
    (status = 404, description = "No such token of the caller", body = ErrorBody),
))]
async fn delete_token(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let change = caller.change();
    let deleted = manage::delete_token(state.store.as_ref(), Scope::Own(&change), &id).await;
    effects::on_node(&state, deleted).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes all of the caller's tokens.
#[utoipa::path(delete, path = "/tokens", tag = "tokens", responses(
    (status = 200, description = "How many were deleted", body = Deleted),
))]
async fn delete_all_tokens(
    State(state): State<SharedState>,
    caller: Caller,
) -> Result<Json<Deleted>, ApiError> {
    let change = caller.change();
    let deleted = manage::delete_all_tokens(state.store.as_ref(), &change, &caller.user.name).await;
    let deleted = effects::on_node(&state, deleted).await?;
    Ok(Json(Deleted { deleted }))
}
