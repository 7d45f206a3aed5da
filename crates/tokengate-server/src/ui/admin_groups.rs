//! `/tokengate/admin/groups`: local groups beside the directory's. Lists every group with its
//! source and members; creates a local group, adds or removes a member, deletes one. Directory
//! groups (LDAP, OIDC) are shown read-only: a change to one is refused. Every change goes
//! through `tokengate_core::manage` with the admin as actor and its effects through
//! `effects::on_node`, so it is audited and takes effect at once. Group names travel in form
//! fields, never in the path (a name may hold spaces, or be `..`).

use super::admin_users::user_names;
use super::context::{Acting, Visit};
use super::layout::{ConfirmPage, Nav, UiError, incomplete_form, render, see_other};
use crate::effects;
use crate::state::SharedState;
use askama::Template;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tokengate_core::manage::{self, ManageError};

const USER_NAMES_OFFERED: usize = 500;

struct GroupRow {
    name: String,
    /// `local`, `ldap`, `oidc` or `directory` (both).
    source: String,
    local: bool,
    members: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin_groups.html")]
struct GroupsPage {
    nav: Option<Nav>,
    csrf: String,
    notice: Option<&'static str>,
    /// Why a change to a listed group was refused.
    problem: Option<String>,
    /// Why the create form was refused.
    error: Option<String>,
    form_name: String,
    form_members: String,
    groups: Vec<GroupRow>,
    user_names: Vec<String>,
}

async fn groups_page(state: &SharedState, nav: Nav) -> Result<GroupsPage, UiError> {
    let groups = manage::list_groups(state.store.as_ref())
        .await
        .map_err(UiError::from_manage)?
        .into_iter()
        .map(|view| GroupRow {
            local: view.source == "local",
            name: view.name,
            source: view.source,
            members: view.members,
        })
        .collect();
    let user_names = user_names(state, USER_NAMES_OFFERED).await?;
    Ok(GroupsPage {
        csrf: nav.csrf.clone(),
        nav: Some(nav),
        notice: None,
        problem: None,
        error: None,
        form_name: String::new(),
        form_members: String::new(),
        groups,
        user_names,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Done {
    done: String,
}

impl Done {
    fn message(&self) -> Option<&'static str> {
        match self.done.as_str() {
            "created" => Some("The group was added."),
            "changed" => Some("The group's members were changed."),
            "deleted" => Some("The group was deleted."),
            _ => None,
        }
    }
}

/// `GET /tokengate/admin/groups`.
pub async fn page(
    State(state): State<SharedState>,
    visit: Visit,
    done: Result<Query<Done>, QueryRejection>,
) -> Result<Response, UiError> {
    let (_, nav) = visit.admin_page("groups")?;
    let mut page = groups_page(&state, nav).await?;
    page.notice = done.ok().and_then(|Query(done)| done.message());
    Ok(render(StatusCode::OK, &page))
}

fn nav_of(acting: &Acting, visit: &Visit) -> Nav {
    Nav::new(&acting.session, &visit.settings, "groups")
}

/// The page again with `problem` above the list; nothing was changed.
async fn refuse(
    state: &SharedState,
    visit: &Visit,
    acting: &Acting,
    status: StatusCode,
    problem: String,
) -> Result<Response, UiError> {
    let mut page = groups_page(state, nav_of(acting, visit)).await?;
    page.problem = Some(problem);
    Ok(render(status, &page))
}

/// The first of `names` that is not a user, so a message can name it.
async fn first_unknown<'a>(
    state: &SharedState,
    names: &'a [String],
) -> Result<Option<&'a str>, UiError> {
    for name in names {
        let known = state
            .store
            .user(name)
            .await
            .map_err(|_| UiError::unavailable())?;
        if known.is_none() {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

fn no_such_user(name: &str) -> String {
    format!(
        "There is no user named \"{}\".",
        name.chars().take(128).collect::<String>()
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CreateGroupForm {
    csrf: String,
    name: String,
    members: String,
}

/// `POST /tokengate/admin/groups`: adds a local group, with the members listed (user names
/// separated by commas or white space).
pub async fn create(
    State(state): State<SharedState>,
    visit: Visit,
    form: Result<Form<CreateGroupForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(form) = form.map_err(incomplete_form)?;
    let acting = visit.form(&form.csrf)?;
    let admin = acting.admin(&visit.settings)?;
    let name = form.name.trim();
    let members: Vec<String> = form
        .members
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|member| !member.is_empty())
        .map(str::to_owned)
        .collect();
    let (status, message) = match first_unknown(&state, &members).await? {
        Some(unknown) => (StatusCode::UNPROCESSABLE_ENTITY, no_such_user(unknown)),
        None => {
            let change = acting.admin_change(&admin);
            let created = manage::create_group(state.store.as_ref(), &change, name, &members).await;
            match effects::on_node(&state, created).await {
                Ok(_) => return Ok(see_other("/tokengate/admin/groups?done=created")),
                Err(ManageError::Conflict(_)) => (
                    StatusCode::CONFLICT,
                    format!("A local group named \"{name}\" already exists."),
                ),
                Err(ManageError::NotFound(_)) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "A member is not a user (any more).".to_owned(),
                ),
                Err(error @ (ManageError::InvalidGroup(_) | ManageError::InvalidUserName)) => {
                    (StatusCode::UNPROCESSABLE_ENTITY, capitalised(&error))
                }
                Err(other) => return Err(UiError::from_manage(other)),
            }
        }
    };
    let mut page = groups_page(&state, nav_of(&acting, &visit)).await?;
    page.error = Some(message);
    page.form_name = form.name;
    page.form_members = form.members;
    Ok(render(status, &page))
}

/// Core's message as a sentence.
fn capitalised(error: &ManageError) -> String {
    let message = error.to_string();
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => message,
    }
}

/// Whether `name` is a local group: `Ok(None)` when it is, `Ok(Some(why))` when only a
/// directory reports it (read-only here), the 404 page when nothing does.
async fn read_only_reason(
    state: &SharedState,
    acting: &Acting,
    visit: &Visit,
    name: &str,
) -> Result<Option<String>, UiError> {
    let store = state.store.as_ref();
    let unavailable = |_| UiError::unavailable();
    if store.group(name).await.map_err(unavailable)?.is_some() {
        return Ok(None);
    }
    let directory = manage::list_groups(store)
        .await
        .map_err(UiError::from_manage)?
        .into_iter()
        .any(|view| view.name == name);
    if directory {
        return Ok(Some(format!(
            "\"{name}\" is a directory group: change its members in the directory."
        )));
    }
    Err(UiError::not_found().with_nav(nav_of(acting, visit)))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct MembersForm {
    csrf: String,
    group: String,
    change: String,
    user: String,
}

/// `POST /tokengate/admin/groups/members`: `change` is `add` or `remove`, `user` the member.
pub async fn change_members(
    State(state): State<SharedState>,
    visit: Visit,
    form: Result<Form<MembersForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(form) = form.map_err(incomplete_form)?;
    let acting = visit.form(&form.csrf)?;
    let admin = acting.admin(&visit.settings)?;
    let user = vec![form.user.trim().to_owned()];
    let (add, remove): (&[String], &[String]) = match form.change.as_str() {
        "add" => (&user, &[]),
        "remove" => (&[], &user),
        _ => return Err(UiError::bad_request("Unknown change.")),
    };
    if let Some(why) = read_only_reason(&state, &acting, &visit, &form.group).await? {
        return refuse(&state, &visit, &acting, StatusCode::CONFLICT, why).await;
    }
    if let Some(unknown) = first_unknown(&state, add).await? {
        let problem = no_such_user(unknown);
        return refuse(
            &state,
            &visit,
            &acting,
            StatusCode::UNPROCESSABLE_ENTITY,
            problem,
        )
        .await;
    }
    let change = acting.admin_change(&admin);
    let store = state.store.as_ref();
    let changed = manage::change_members(store, &change, &form.group, add, remove).await;
    match effects::on_node(&state, changed).await {
        Ok(_) => Ok(see_other("/tokengate/admin/groups?done=changed")),
        Err(error @ ManageError::InvalidUserName) => {
            let problem = capitalised(&error);
            refuse(
                &state,
                &visit,
                &acting,
                StatusCode::UNPROCESSABLE_ENTITY,
                problem,
            )
            .await
        }
        Err(other) => Err(UiError::from_manage(other)),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DeleteForm {
    csrf: String,
    group: String,
    confirmed: String,
}

/// `POST /tokengate/admin/groups/delete`: deletes a local group (its members stay users);
/// without `confirmed=yes` it asks first.
pub async fn delete(
    State(state): State<SharedState>,
    visit: Visit,
    form: Result<Form<DeleteForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(form) = form.map_err(incomplete_form)?;
    let acting = visit.form(&form.csrf)?;
    let admin = acting.admin(&visit.settings)?;
    if let Some(why) = read_only_reason(&state, &acting, &visit, &form.group).await? {
        return refuse(&state, &visit, &acting, StatusCode::CONFLICT, why).await;
    }
    if form.confirmed != "yes" {
        let page = ConfirmPage {
            nav: Some(nav_of(&acting, &visit)),
            title: "Delete group",
            message: format!(
                "Delete the group “{}”? Its members stay users, but permissions that name the group no longer apply to them.",
                form.group
            ),
            action: "/tokengate/admin/groups/delete".into(),
            fields: vec![("csrf", form.csrf.clone()), ("group", form.group.clone())],
            button: "Delete group",
            cancel: "/tokengate/admin/groups",
        };
        return Ok(render(StatusCode::OK, &page));
    }
    let deleted = manage::delete_group(
        state.store.as_ref(),
        &acting.admin_change(&admin),
        &form.group,
    )
    .await;
    effects::on_node(&state, deleted)
        .await
        .map_err(UiError::from_manage)?;
    Ok(see_other("/tokengate/admin/groups?done=deleted"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_messages_read_as_sentences() {
        assert_eq!(
            capitalised(&ManageError::InvalidUserName),
            "Invalid user name: use 1 to 128 of A-Z a-z 0-9 . _ @ -."
        );
        assert_eq!(
            capitalised(&ManageError::InvalidGroup(
                "\"a/b\" is not a group name".into()
            )),
            "\"a/b\" is not a group name."
        );
    }
}
