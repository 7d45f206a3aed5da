//! Changes to an existing token beyond its name (SPEC §11): its restrictions, on a small page
//! of their own (the owner's from the tokens page, an admin's from the token manager; core's
//! `restrict_token`, audited `token.restricted`, the call behind `PATCH /tokens/{id}`), and
//! rotation with a grace period for the old secret (core's `rotate_token`, audited
//! `token.rotated`, the call behind `POST /tokens/{id}/rotate`), the new secret shown once.
//! Another user's token id answers 404 and changes nothing.

use super::context::{Acting, Visit};
use super::forms::{Choice, Fields, when};
use super::layout::{Nav, UiError, incomplete_form, render, see_other};
use super::restrictions::{RestrictionsForm, RestrictionsView};
use super::tokens::{NewSecret, current_settings, tokens_page};
use crate::effects;
use crate::state::SharedState;
use askama::Template;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::TimeDelta;
use serde::Deserialize;
use tokengate_core::TokenRecord;
use tokengate_core::manage::{self, ManageError, Scope};
use tokengate_core::model::Settings;
use tokengate_core::restrictions::Restrictions;

/// The grace periods offered for a rotation: (form value, label, length).
const GRACES: [(&str, &str, TimeDelta); 5] = [
    ("0", "None: the old secret stops now", TimeDelta::zero()),
    ("10m", "10 minutes", TimeDelta::minutes(10)),
    ("1h", "1 hour", TimeDelta::hours(1)),
    ("24h", "24 hours", TimeDelta::hours(24)),
    ("7d", "7 days", TimeDelta::days(7)),
];

/// The grace choices of the rotate form, "none" selected.
pub fn grace_choices() -> Vec<Choice> {
    GRACES
        .iter()
        .map(|(value, label, _)| Choice {
            value,
            label,
            selected: *value == "0",
        })
        .collect()
}

/// One of the offered grace periods; anything else is refused.
fn grace(value: &str) -> Option<TimeDelta> {
    GRACES
        .iter()
        .find(|(offered, _, _)| *offered == value.trim())
        .map(|(_, _, length)| *length)
}

#[derive(Deserialize)]
pub struct RotateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    grace: String,
}

/// `POST /tokengate/tokens/{id}/rotate`: a new secret for one of the user's own tokens, shown
/// once; the old one works for the chosen grace period.
pub async fn rotate(
    State(state): State<SharedState>,
    visit: Visit,
    Path(id): Path<String>,
    form: Result<Form<RotateForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(form) = form.map_err(incomplete_form)?;
    let acting = visit.form(&form.csrf)?;
    let nav = || Nav::new(&acting.session, &visit.settings, "tokens");
    let Some(grace) = grace(&form.grace) else {
        return Err(UiError::bad_request(
            "Choose how long the old secret keeps working: none, 10 minutes, 1 hour, 24 hours or 7 days.",
        )
        .with_nav(nav()));
    };
    let settings = current_settings(&state).await?;
    let change = acting.change();
    let rotated = manage::rotate_token(
        state.store.as_ref(),
        Scope::Own(&change),
        &id,
        grace,
        &settings,
        None,
    )
    .await;
    let created = effects::on_node(&state, rotated)
        .await
        .map_err(|error| UiError::from_manage(error).with_nav(nav()))?;
    let old_until = if grace.is_zero() {
        String::new()
    } else {
        when(change.at() + grace)
    };
    let mut page = tokens_page(&state, &visit, &acting.session, &settings).await?;
    let mut secret = NewSecret::new(created, String::new(), "/tokengate/");
    secret.rotated = Some(old_until);
    page.created = Some(secret);
    Ok(render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "token_restrictions.html")]
struct RestrictionsPage {
    nav: Option<Nav>,
    csrf: String,
    token_name: String,
    token_hint: String,
    /// The owner, shown on an admin's page; empty on the owner's own.
    owner: String,
    action: String,
    cancel: &'static str,
    restrict: RestrictionsView,
}

/// Whose change: the owner's own (tokens page) or an admin's (token manager).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Door {
    Own,
    Admin,
}

impl Door {
    fn action(self, id: &str) -> String {
        match self {
            Self::Own => format!("/tokengate/tokens/{id}/restrictions"),
            Self::Admin => format!("/tokengate/admin/tokens/{id}/restrictions"),
        }
    }

    fn back(self) -> &'static str {
        match self {
            Self::Own => "/tokengate/",
            Self::Admin => "/tokengate/admin/tokens",
        }
    }
}

/// The token behind a restrictions page: the visitor's own, or (admins) anyone's; else 404.
async fn token_for(
    state: &SharedState,
    visit: &Visit,
    door: Door,
    id: &str,
) -> Result<(TokenRecord, Nav), UiError> {
    let nav = match door {
        Door::Admin => visit.admin_page("admin-tokens")?.1,
        Door::Own => visit.nav("tokens").ok_or_else(|| {
            UiError::forbidden("Sign in to change the restrictions of your tokens.")
        })?,
    };
    let token = state
        .store
        .token(id)
        .await
        .map_err(|_| UiError::unavailable())?
        .filter(|token| door == Door::Admin || token.owner == nav.user)
        .ok_or_else(|| UiError::not_found().with_nav(nav.clone()))?;
    Ok((token, nav))
}

fn restrictions_page(
    state: &SharedState,
    door: Door,
    token: &TokenRecord,
    nav: Nav,
    form: &RestrictionsForm,
) -> RestrictionsPage {
    RestrictionsPage {
        csrf: nav.csrf.clone(),
        owner: match door {
            Door::Own => String::new(),
            Door::Admin => token.owner.clone(),
        },
        nav: Some(nav),
        token_name: token.name.clone(),
        token_hint: token.hint.clone(),
        action: door.action(&token.id),
        cancel: door.back(),
        restrict: RestrictionsView::new(form, &state.routes.names()),
    }
}

async fn show(
    state: SharedState,
    visit: Visit,
    door: Door,
    id: String,
) -> Result<Response, UiError> {
    let (token, nav) = token_for(&state, &visit, door, &id).await?;
    let form = RestrictionsForm::of(&token.restrictions);
    let page = restrictions_page(&state, door, &token, nav, &form);
    Ok(render(StatusCode::OK, &page))
}

/// `GET /tokengate/tokens/{id}/restrictions`.
pub async fn own_page(
    State(state): State<SharedState>,
    visit: Visit,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    show(state, visit, Door::Own, id).await
}

/// `GET /tokengate/admin/tokens/{id}/restrictions`.
pub async fn admin_page(
    State(state): State<SharedState>,
    visit: Visit,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    show(state, visit, Door::Admin, id).await
}

async fn save(
    state: SharedState,
    visit: Visit,
    door: Door,
    id: String,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(pairs) = form.map_err(incomplete_form)?;
    let fields = Fields(pairs);
    let acting = visit.form(fields.one("csrf"))?;
    let (token, nav) = token_for(&state, &visit, door, &id).await?;
    let form = RestrictionsForm::from_fields(&fields);
    let outcome = match form.parse() {
        Ok(restrictions) => {
            let target = Target { door, id: &id };
            restrict(&state, &acting, &visit.settings, target, &restrictions).await
        }
        Err(message) => Ok(Err(message)),
    };
    let Err(message) = outcome? else {
        let done = match door {
            Door::Own => "/tokengate/?done=restricted",
            Door::Admin => "/tokengate/admin/tokens?done=restricted",
        };
        return Ok(see_other(done));
    };
    let mut page = restrictions_page(&state, door, &token, nav, &form);
    page.restrict.error = Some(message);
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

/// Which token, through which door.
struct Target<'a> {
    door: Door,
    id: &'a str,
}

/// The change itself: `Ok(Err(message))` when core refuses the restrictions.
async fn restrict(
    state: &SharedState,
    acting: &Acting,
    settings: &Settings,
    Target { door, id }: Target<'_>,
    restrictions: &Restrictions,
) -> Result<Result<(), String>, UiError> {
    let store = state.store.as_ref();
    let changed = match door {
        Door::Own => {
            let change = acting.change();
            manage::restrict_token(store, Scope::Own(&change), id, restrictions, None).await
        }
        Door::Admin => {
            let admin = acting.admin(settings)?;
            let change = acting.admin_change(&admin);
            manage::restrict_token(store, Scope::Admin(&change), id, restrictions, None).await
        }
    };
    match effects::on_node(state, changed).await {
        Ok(_) => Ok(Ok(())),
        Err(error @ ManageError::InvalidRestrictions(_)) => Ok(Err(error.to_string())),
        Err(other) => Err(UiError::from_manage(other)),
    }
}

/// `POST /tokengate/tokens/{id}/restrictions`.
pub async fn own_save(
    State(state): State<SharedState>,
    visit: Visit,
    Path(id): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    save(state, visit, Door::Own, id, form).await
}

/// `POST /tokengate/admin/tokens/{id}/restrictions`.
pub async fn admin_save(
    State(state): State<SharedState>,
    visit: Visit,
    Path(id): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    save(state, visit, Door::Admin, id, form).await
}
