//! System-wide settings: read, and replace as a whole. PUT validates everything before it
//! changes anything, and refuses an allow-list that would shut out the caller's own address
//! unless `?force=true`.

use crate::api::caller::AdminCaller;
use crate::api::extract::{ApiJson, ApiQuery};
use crate::api::openapi::ErrorBody;
use crate::effects;
use crate::error::ApiError;
use crate::state::SharedState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use tokengate_core::allowlist::IpAllowList;
use tokengate_core::groups::Permissions;
use tokengate_core::manage;
use tokengate_core::model::{AuthEvents, PasswordAuth, Settings};
use tokengate_core::validity::MaxValidity;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new().routes(routes!(get_settings, put_settings))
}

/// The settings as sent: the allow-list is validated entry by entry after parsing.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    max_validity: MaxValidity,
    /// Single addresses, CIDR ranges or dash ranges; empty = every address allowed.
    ip_allowlist: Vec<String>,
    password_auth: PasswordAuth,
    admins_only: bool,
    /// Which groups hold each permission; absent = unchanged.
    #[serde(default)]
    permissions: Option<Permissions>,
    /// Which authentication events are audited; absent = unchanged.
    #[serde(default)]
    audit_auth_events: Option<AuthEvents>,
}

impl SettingsInput {
    /// The settings asked for, every entry checked (422 naming a bad allow-list entry);
    /// absent permissions and event switches are the stored ones.
    pub(crate) async fn into_settings(self, state: &SharedState) -> Result<Settings, ApiError> {
        let ip_allowlist = IpAllowList::parse(&self.ip_allowlist).map_err(|error| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_ip_allowlist",
                error.to_string(),
            )
        })?;
        let (permissions, audit_auth_events) = match (self.permissions, self.audit_auth_events) {
            (Some(permissions), Some(events)) => (permissions, events),
            (permissions, events) => {
                let stored = state.store.settings().await?;
                (
                    permissions.unwrap_or(stored.permissions),
                    events.unwrap_or(stored.audit_auth_events),
                )
            }
        };
        Ok(Settings {
            max_validity: self.max_validity,
            ip_allowlist,
            password_auth: self.password_auth,
            admins_only: self.admins_only,
            permissions,
            audit_auth_events,
        })
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ForceQuery {
    /// Save even if the new allow-list does not include the caller's own address.
    force: Option<bool>,
}

/// The system-wide settings. Admins only.
#[utoipa::path(get, path = "/admin/settings", tag = "admin", responses(
    (status = 200, description = "Current settings", body = Settings),
    (status = 403, description = "Not an admin", body = ErrorBody),
))]
async fn get_settings(
    State(state): State<SharedState>,
    _admin: AdminCaller,
) -> Result<Json<Settings>, ApiError> {
    Ok(Json(state.store.settings().await?))
}

/// Replaces the settings; every change is audited with old and new value. Nothing is saved
/// when anything is invalid. Admins only.
#[utoipa::path(put, path = "/admin/settings", tag = "admin", request_body = SettingsInput, params(ForceQuery), responses(
    (status = 200, description = "Saved", body = Settings),
    (status = 409, description = "would_lock_out_caller: the allow-list excludes the caller (repeat with ?force=true)", body = ErrorBody),
    (status = 422, description = "invalid_ip_allowlist (names the entry), invalid_body", body = ErrorBody),
))]
async fn put_settings(
    State(state): State<SharedState>,
    admin: AdminCaller,
    ApiQuery(query): ApiQuery<ForceQuery>,
    ApiJson(input): ApiJson<SettingsInput>,
) -> Result<Json<Settings>, ApiError> {
    let settings = input.into_settings(&state).await?;
    let client = admin.caller.client;
    if !settings.ip_allowlist.allows(client) && query.force != Some(true) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "would_lock_out_caller",
            format!(
                "The new IP allow-list does not include your address {client}; repeat with ?force=true to save it anyway."
            ),
        ));
    }
    let changed = manage::change_settings(state.store.as_ref(), &admin.change(), &settings).await;
    effects::on_node(&state, changed).await?;
    Ok(Json(settings))
}
