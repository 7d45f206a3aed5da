//! Groups (`/admin/groups`): local groups are created, changed and deleted here; directory
//! groups (LDAP, OIDC) are listed beside them, read-only. Every change is audited and moves
//! the change counter: membership decides the permissions.

use crate::api::caller::AdminCaller;
use crate::api::extract::ApiJson;
use crate::api::openapi::ErrorBody;
use crate::effects;
use crate::error::ApiError;
use crate::state::SharedState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use tokengate_core::groups::{Group, GroupView};
use tokengate_core::manage;
use tokengate_core::store::Store;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(list_groups, create_group))
        .routes(routes!(change_group, delete_group))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    /// `[A-Za-z0-9._@ -]{1,128}`.
    #[schema(example = "api-users")]
    name: String,
    #[serde(default)]
    members: Vec<String>,
}

/// Either `members` (the exact new member list) or `add` and/or `remove`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeGroup {
    #[serde(default)]
    members: Option<Vec<String>>,
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

/// Every group with its members. Admins only.
#[utoipa::path(get, path = "/admin/groups", tag = "admin", responses(
    (status = 200, description = "Groups in name order", body = Vec<GroupView>),
    (status = 403, description = "Not an admin", body = ErrorBody),
))]
async fn list_groups(
    State(state): State<SharedState>,
    _admin: AdminCaller,
) -> Result<Json<Vec<GroupView>>, ApiError> {
    Ok(Json(manage::list_groups(state.store.as_ref()).await?))
}

/// Creates a local group, optionally with members. Admins only.
#[utoipa::path(post, path = "/admin/groups", tag = "admin", request_body = CreateGroup, responses(
    (status = 201, description = "Created", body = GroupView),
    (status = 404, description = "A member is not a user", body = ErrorBody),
    (status = 409, description = "conflict: the name is taken", body = ErrorBody),
    (status = 422, description = "invalid_group, invalid_user_name", body = ErrorBody),
))]
async fn create_group(
    State(state): State<SharedState>,
    admin: AdminCaller,
    ApiJson(request): ApiJson<CreateGroup>,
) -> Result<(StatusCode, Json<GroupView>), ApiError> {
    let created = manage::create_group(
        state.store.as_ref(),
        &admin.change(),
        &request.name,
        &request.members,
    )
    .await;
    let group = effects::on_node(&state, created).await?;
    Ok((StatusCode::CREATED, Json(GroupView::from(group))))
}

/// Refuses changes to a group that only a directory reports.
async fn local_group(store: &dyn Store, name: &str) -> Result<Group, ApiError> {
    if let Some(group) = store.group(name).await? {
        return Ok(group);
    }
    let directory = manage::list_groups(store)
        .await?
        .into_iter()
        .any(|view| view.name == name);
    if directory {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "directory_managed",
            format!("\"{name}\" is a directory group: change its members in the directory."),
        ));
    }
    Err(ApiError::not_found("No such group."))
}

/// Changes a local group's members: `members` sets them exactly, `add`/`remove` change them.
/// Admins only.
#[utoipa::path(patch, path = "/admin/groups/{group}", tag = "admin", request_body = ChangeGroup,
    params(("group" = String, Path, description = "Group name")), responses(
    (status = 200, description = "Changed", body = GroupView),
    (status = 404, description = "No such group or user", body = ErrorBody),
    (status = 409, description = "directory_managed: a directory group", body = ErrorBody),
    (status = 422, description = "invalid_user_name, invalid_body", body = ErrorBody),
))]
async fn change_group(
    State(state): State<SharedState>,
    admin: AdminCaller,
    Path(name): Path<String>,
    ApiJson(request): ApiJson<ChangeGroup>,
) -> Result<Json<GroupView>, ApiError> {
    let store = state.store.as_ref();
    let current = local_group(store, &name).await?;
    let (add, remove) = match request.members {
        Some(_) if !request.add.is_empty() || !request.remove.is_empty() => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                "Send either members or add/remove, not both.",
            ));
        }
        Some(members) => {
            let add = members
                .iter()
                .filter(|member| !current.members.contains(member))
                .cloned()
                .collect();
            let remove = current
                .members
                .iter()
                .filter(|member| !members.contains(member))
                .cloned()
                .collect();
            (add, remove)
        }
        None => (request.add, request.remove),
    };
    let changed = manage::change_members(store, &admin.change(), &name, &add, &remove).await;
    let group = effects::on_node(&state, changed).await?;
    Ok(Json(GroupView::from(group)))
}

/// Deletes a local group (its members stay users). Admins only.
#[utoipa::path(delete, path = "/admin/groups/{group}", tag = "admin",
    params(("group" = String, Path, description = "Group name")), responses(
    (status = 204, description = "Deleted"),
    (status = 404, description = "No such group", body = ErrorBody),
    (status = 409, description = "directory_managed: a directory group", body = ErrorBody),
))]
async fn delete_group(
    State(state): State<SharedState>,
    admin: AdminCaller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let store = state.store.as_ref();
    local_group(store, &name).await?;
    let deleted = manage::delete_group(store, &admin.change(), &name).await;
    effects::on_node(&state, deleted).await?;
    Ok(StatusCode::NO_CONTENT)
}
