//! `/tokengate/admin/users`: list users with their source, e-mail and groups; add one; make or
//! remove an admin; disable or enable; set a password or e-mail; set a user's local groups;
//! see and reset the failed sign-in count. An admin cannot remove their own admin flag or
//! disable themselves (core's `refuse_self_lockout`, the same rule as the API's); a directory
//! user's e-mail, admin flag and password belong to the directory (core refuses them).

use super::context::{Acting, Visit};
use super::forms::{ticked, when};
use super::layout::{Nav, UiError, incomplete_form, render, see_other};
use crate::effects;
use crate::session;
use crate::state::SharedState;
use askama::Template;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use tokengate_core::Secret;
use tokengate_core::groups::UserSource;
use tokengate_core::manage::{self, ManageError, UserUpdate};

struct UserRow {
    name: String,
    source: &'static str,
    /// From LDAP or OIDC: name, e-mail, admin flag and password are the directory's.
    directory: bool,
    email: String,
    local_groups: Vec<String>,
    directory_groups: Vec<String>,
    /// Every local group, ticked when the user is in it (the groups form).
    group_choices: Vec<GroupChoice>,
    admin: bool,
    disabled: bool,
    failed_logins: u32,
    locked_until: String,
    is_self: bool,
}

struct GroupChoice {
    name: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    nav: Option<Nav>,
    csrf: String,
    notice: Option<String>,
    problem: Option<String>,
    error: Option<String>,
    form_name: String,
    form_admin: bool,
    users: Vec<UserRow>,
}

async fn users_page(state: &SharedState, visit: &Visit, nav: Nav) -> Result<UsersPage, UiError> {
    let unavailable = |_| UiError::unavailable();
    let mut users = state.store.users().await.map_err(unavailable)?;
    users.sort_by(|left, right| left.name.cmp(&right.name));
    let groups = state.store.groups().await.map_err(unavailable)?;
    let rows = users
        .into_iter()
        .map(|user| {
            let group_choices: Vec<GroupChoice> = groups
                .iter()
                .map(|group| GroupChoice {
                    name: group.name.clone(),
                    checked: group.members.contains(&user.name),
                })
                .collect();
            UserRow {
                is_self: user.name == nav.user,
                locked_until: user
                    .locked_until
                    .filter(|until| *until > visit.now)
                    .map(when)
                    .unwrap_or_default(),
                source: user.source.as_str(),
                directory: user.source != UserSource::Local,
                email: user.email.unwrap_or_default(),
                local_groups: group_choices
                    .iter()
                    .filter(|choice| choice.checked)
                    .map(|choice| choice.name.clone())
                    .collect(),
                directory_groups: user.directory_groups,
                group_choices,
                name: user.name,
                admin: user.admin,
                disabled: user.disabled,
                failed_logins: user.failed_logins,
            }
        })
        .collect();
    Ok(UsersPage {
        csrf: nav.csrf.clone(),
        nav: Some(nav),
        notice: None,
        problem: None,
        error: None,
        form_name: String::new(),
        form_admin: false,
        users: rows,
    })
}

/// The names offered in the user fields of other pages (a `<datalist>`), sorted, at most
/// `limit`.
pub(super) async fn user_names(state: &SharedState, limit: usize) -> Result<Vec<String>, UiError> {
    let mut names: Vec<String> = state
        .store
        .users()
        .await
        .map_err(|_| UiError::unavailable())?
        .into_iter()
        .map(|user| user.name)
        .collect();
    names.sort();
    names.truncate(limit);
    Ok(names)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Done {
    done: String,
}

impl Done {
    fn message(&self) -> Option<&'static str> {
        match self.done.as_str() {
            "created" => Some("The user was added."),
            "updated" => Some("The user was updated."),
            "password" => Some("The password was set."),
            "reset" => Some("The failed sign-in count was reset."),
            "email" => Some("The e-mail address was saved."),
            "groups" => Some("The user's groups were saved."),
            _ => None,
        }
    }
}

/// `GET /tokengate/admin/users`.
pub async fn page(
    State(state): State<SharedState>,
    visit: Visit,
    done: Result<Query<Done>, QueryRejection>,
) -> Result<Response, UiError> {
    let (_, nav) = visit.admin_page("users")?;
    let mut page = users_page(&state, &visit, nav).await?;
    page.notice = done
        .ok()
        .and_then(|Query(done)| done.message())
        .map(str::to_owned);
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CreateUserForm {
    csrf: String,
    name: String,
    password: String,
    admin: Option<String>,
}

/// `POST /tokengate/admin/users`.
pub async fn create(
    State(state): State<SharedState>,
    visit: Visit,
    form: Result<Form<CreateUserForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(form) = form.map_err(incomplete_form)?;
    let acting = visit.form(&form.csrf)?;
    let admin = acting.admin(&visit.settings)?;
    let password = Some(Secret::new(form.password.clone())).filter(|secret| !secret.is_empty());
    let name = form.name.trim();
    let created = manage::create_user(
        state.store.as_ref(),
        &acting.admin_change(&admin),
        name,
        ticked(&form.admin),
        password.as_ref(),
    )
    .await;
    let (status, message) = match created {
        Ok(_) => return Ok(see_other("/tokengate/admin/users?done=created")),
        Err(ManageError::Conflict(_)) => (
            StatusCode::CONFLICT,
            format!("A user named \"{name}\" already exists."),
        ),
        Err(error @ (ManageError::InvalidUserName | ManageError::Password(_))) => {
            (StatusCode::UNPROCESSABLE_ENTITY, error.to_string())
        }
        Err(other) => return Err(UiError::from_manage(other)),
    };
    let nav = nav_of(&acting, &visit);
    let mut page = users_page(&state, &visit, nav).await?;
    page.error = Some(message);
    page.form_name = form.name;
    page.form_admin = ticked(&form.admin);
    Ok(render(status, &page))
}

fn nav_of(acting: &Acting, visit: &Visit) -> Nav {
    Nav::new(&acting.session, &visit.settings, "users")
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct UpdateForm {
    csrf: String,
    change: String,
    password: String,
}

/// `POST /tokengate/admin/users/{name}`: one of `make_admin`, `remove_admin`, `disable`,
/// `enable`.
pub async fn update(
    State(state): State<SharedState>,
    visit: Visit,
    Path(name): Path<String>,
    form: Result<Form<UpdateForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(form) = form.map_err(incomplete_form)?;
    let acting = visit.form(&form.csrf)?;
    let admin = acting.admin(&visit.settings)?;
    let update = match form.change.as_str() {
        "make_admin" => UserUpdate {
            admin: Some(true),
            ..UserUpdate::default()
        },
        "remove_admin" => UserUpdate {
            admin: Some(false),
            ..UserUpdate::default()
        },
        "disable" => UserUpdate {
            disabled: Some(true),
            ..UserUpdate::default()
        },
        "enable" => UserUpdate {
            disabled: Some(false),
            ..UserUpdate::default()
        },
        _ => return Err(UiError::bad_request("Unknown change.")),
    };
    let store = state.store.as_ref();
    let changed = manage::update_user(store, &acting.admin_change(&admin), &name, update).await;
    match effects::on_node(&state, changed).await {
        Ok(_) => Ok(see_other("/tokengate/admin/users?done=updated")),
        Err(error) => refused(&state, &visit, &acting, error).await,
    }
}

/// The users page again with the reason a change was refused (nothing was changed), or the
/// error page for a failure that has no place on it.
async fn refused(
    state: &SharedState,
    visit: &Visit,
    acting: &Acting,
    error: ManageError,
) -> Result<Response, UiError> {
    let status = match error {
        ManageError::WouldLockOutCaller | ManageError::DirectoryManaged(_) => StatusCode::CONFLICT,
        ManageError::Password(_) | ManageError::InvalidEmail | ManageError::InvalidGroup(_) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        other => return Err(UiError::from_manage(other)),
    };
    let mut page = users_page(state, visit, nav_of(acting, visit)).await?;
    page.problem = Some(error.to_string());
    Ok(render(status, &page))
}

/// `POST /tokengate/admin/users/{name}/password`.
pub async fn set_password(
    State(state): State<SharedState>,
    visit: Visit,
    Path(name): Path<String>,
    form: Result<Form<UpdateForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(form) = form.map_err(incomplete_form)?;
    let acting = visit.form(&form.csrf)?;
    let admin = acting.admin(&visit.settings)?;
    let password = Secret::new(form.password);
    let update = UserUpdate {
        password: Some(&password),
        ..UserUpdate::default()
    };
    let store = state.store.as_ref();
    let change = acting.admin_change(&admin);
    let changed = manage::update_user(store, &change, &name, update).await;
    let updated = match effects::on_node(&state, changed).await {
        Ok(updated) => updated,
        Err(error) => return refused(&state, &visit, &acting, error).await,
    };
    let mut response = see_other("/tokengate/admin/users?done=password");
    if name == acting.name() {
        // The new password ended every session of this admin, this one too: carry on in a new
        // one (a new id, as at sign-in).
        for cookie in session::start(&state, &updated, visit.now).await? {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
    }
    Ok(response)
}

/// `POST /tokengate/admin/users/{name}/reset-failed-logins`.
pub async fn reset_failed_logins(
    State(state): State<SharedState>,
    visit: Visit,
    Path(name): Path<String>,
    form: Result<Form<UpdateForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(form) = form.map_err(incomplete_form)?;
    let acting = visit.form(&form.csrf)?;
    let admin = acting.admin(&visit.settings)?;
    let changed =
        manage::reset_failed_logins(state.store.as_ref(), &acting.admin_change(&admin), &name)
            .await;
    effects::on_node(&state, changed)
        .await
        .map_err(UiError::from_manage)?;
    Ok(see_other("/tokengate/admin/users?done=reset"))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EmailForm {
    csrf: String,
    email: String,
}

/// `POST /tokengate/admin/users/{name}/email`: sets a local user's e-mail address; an empty
/// field removes it.
pub async fn set_email(
    State(state): State<SharedState>,
    visit: Visit,
    Path(name): Path<String>,
    form: Result<Form<EmailForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(form) = form.map_err(incomplete_form)?;
    let acting = visit.form(&form.csrf)?;
    let admin = acting.admin(&visit.settings)?;
    let email = Some(form.email.trim()).filter(|email| !email.is_empty());
    let update = UserUpdate {
        email: Some(email),
        ..UserUpdate::default()
    };
    let change = acting.admin_change(&admin);
    let changed = manage::update_user(state.store.as_ref(), &change, &name, update).await;
    match effects::on_node(&state, changed).await {
        Ok(_) => Ok(see_other("/tokengate/admin/users?done=email")),
        Err(error) => refused(&state, &visit, &acting, error).await,
    }
}

/// `POST /tokengate/admin/users/{name}/groups`: makes the user a member of exactly the local
/// groups ticked (repeated `groups` fields; none ticked: no local group). Directory groups are
/// the directory's and stay as they are.
pub async fn set_groups(
    State(state): State<SharedState>,
    visit: Visit,
    Path(name): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(fields) = form.map_err(incomplete_form)?;
    let values = |wanted: &'static str| {
        fields
            .iter()
            .filter(move |(key, _)| key == wanted)
            .map(|(_, value)| value.clone())
    };
    let csrf = values("csrf").next().unwrap_or_default();
    let acting = visit.form(&csrf)?;
    let admin = acting.admin(&visit.settings)?;
    let groups: Vec<String> = values("groups").collect();
    let change = acting.admin_change(&admin);
    let changed = manage::set_local_groups(state.store.as_ref(), &change, &name, &groups).await;
    match effects::on_node(&state, changed).await {
        Ok(_) => Ok(see_other("/tokengate/admin/users?done=groups")),
        Err(error) => refused(&state, &visit, &acting, error).await,
    }
}
