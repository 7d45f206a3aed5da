//! The "API tokens" page of the signed-in user (`/tokengate/`): list, create (the secret shown
//! once, in the answer to the creation itself, never in a URL or stored), rename, delete one
//! (confirmed), delete all. Every change goes through `tokengate_core::manage`.

use super::context::{Acting, Visit};
use super::forms::{Choice, CreateTokenForm, TokenRow, maximum_phrase, validity_choices, when};
use super::layout::{ConfirmPage, Nav, UiError, incomplete_form, render, see_other};
use super::login::LoginPage;
use crate::effects;
use crate::session::SessionUser;
use crate::state::SharedState;
use askama::Template;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tokengate_core::manage::{self, CreatedToken, ManageError, Scope, may_create_own};
use tokengate_core::model::{Settings, TokenFilter};
use tokengate_core::token::TokenSecret;

/// More than anyone keeps by hand; the admin token manager pages through the rest.
const OWN_TOKENS_SHOWN: u32 = 1000;

/// A secret to show once, with what it belongs to.
pub struct NewSecret {
    pub name: String,
    /// Empty when the token is the viewer's own.
    pub owner: String,
    pub secret: TokenSecret,
    pub expires: String,
    /// Where reloading the page should lead (see `app.js`).
    pub return_to: &'static str,
}

impl NewSecret {
    pub fn new(created: CreatedToken, owner: String, return_to: &'static str) -> Self {
        Self {
            name: created.record.name,
            owner,
            secret: created.secret,
            expires: created
                .record
                .expires_at
                .map_or_else(|| "never".to_owned(), when),
            return_to,
        }
    }
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    nav: Option<Nav>,
    csrf: String,
    /// May create their own tokens (else the info box).
    permitted: bool,
    admins_only: bool,
    notice: Option<String>,
    problem: Option<String>,
    created: Option<NewSecret>,
    error: Option<String>,
    form_name: String,
    form_expires_on: String,
    validity_choices: Vec<Choice>,
    maximum: &'static str,
    tokens: Vec<TokenRow>,
}

async fn tokens_page(
    state: &SharedState,
    visit: &Visit,
    session: &SessionUser,
    settings: &Settings,
) -> Result<TokensPage, UiError> {
    let filter = TokenFilter {
        owner: Some(session.user.name.clone()),
        limit: OWN_TOKENS_SHOWN,
        ..TokenFilter::default()
    };
    let mut records = state
        .store
        .tokens(&filter)
        .await
        .map_err(|_| UiError::unavailable())?;
    records.sort_by_key(|token| std::cmp::Reverse(token.created_at));
    Ok(TokensPage {
        nav: Some(Nav::new(session, settings, "tokens")),
        csrf: session.csrf_token.expose().to_owned(),
        permitted: may_create_own(settings, &session.user),
        admins_only: settings.admins_only,
        notice: None,
        problem: None,
        created: None,
        error: None,
        form_name: String::new(),
        form_expires_on: String::new(),
        validity_choices: validity_choices(settings.max_validity, None),
        maximum: maximum_phrase(settings.max_validity),
        tokens: records
            .iter()
            .map(|token| TokenRow::new(token, visit.now))
            .collect(),
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Done {
    done: String,
    count: u64,
}

impl Done {
    fn message(&self) -> Option<String> {
        match self.done.as_str() {
            "renamed" => Some("The token was renamed.".into()),
            "deleted" => Some("The token was deleted.".into()),
            "deleted_all" => Some(format!("{} token(s) deleted.", self.count)),
            _ => None,
        }
    }
}

/// `GET /tokengate/`: the tokens page, or the sign-in form when signed out.
pub async fn page(
    State(state): State<SharedState>,
    visit: Visit,
    done: Result<Query<Done>, QueryRejection>,
) -> Result<Response, UiError> {
    let Some(session) = &visit.session else {
        return Ok(render(StatusCode::OK, &LoginPage::blank(&state)));
    };
    let mut page = tokens_page(&state, &visit, session, &visit.settings).await?;
    page.notice = done.ok().and_then(|Query(done)| done.message());
    Ok(render(StatusCode::OK, &page))
}

/// `GET /tokengate` and `GET /tokengate/tokens`: the page lives at `/tokengate/`.
pub async fn to_home() -> Response {
    see_other("/tokengate/")
}

/// The settings that decide a change, read from the store (the in-memory copy may lag).
pub async fn current_settings(state: &SharedState) -> Result<Settings, UiError> {
    state
        .store
        .settings()
        .await
        .map_err(|_| UiError::unavailable())
}

/// `POST /tokengate/tokens`: creates a token and shows its secret once.
pub async fn create(
    State(state): State<SharedState>,
    visit: Visit,
    form: Result<Form<CreateTokenForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(form) = form.map_err(incomplete_form)?;
    let acting = visit.form(form.csrf.expose())?;
    let settings = current_settings(&state).await?;
    let user = &acting.session.user;
    if !may_create_own(&settings, user) {
        return Err(
            UiError::forbidden(ManageError::TokensNotPermitted.to_string()).with_nav(Nav::new(
                &acting.session,
                &settings,
                "",
            )),
        );
    }
    let outcome = match form.validity_request() {
        Ok(validity) => {
            let change = acting.change();
            let name = form.name.trim();
            let new = manage::NewToken::plain(name, validity);
            manage::create_token(state.store.as_ref(), &change, user, &new, &settings).await
        }
        Err(message) => {
            return refuse_creation(&state, &visit, &acting, &settings, &form, message).await;
        }
    };
    match outcome {
        Ok(created) => {
            let mut page = tokens_page(&state, &visit, &acting.session, &settings).await?;
            page.created = Some(NewSecret::new(created, String::new(), "/tokengate/"));
            Ok(render(StatusCode::OK, &page))
        }
        Err(error @ (ManageError::InvalidTokenName | ManageError::Validity(_))) => {
            refuse_creation(&state, &visit, &acting, &settings, &form, error.to_string()).await
        }
        Err(other) => Err(UiError::from_manage(other)),
    }
}

async fn refuse_creation(
    state: &SharedState,
    visit: &Visit,
    acting: &Acting,
    settings: &Settings,
    form: &CreateTokenForm,
    message: String,
) -> Result<Response, UiError> {
    let mut page = tokens_page(state, visit, &acting.session, settings).await?;
    page.error = Some(message);
    page.form_name = form.name.clone();
    page.form_expires_on = form.expires_on.clone();
    page.validity_choices = validity_choices(settings.max_validity, Some(&form.validity));
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

#[derive(Deserialize)]
pub struct RenameForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

/// `POST /tokengate/tokens/{id}/rename`.
pub async fn rename(
    State(state): State<SharedState>,
    visit: Visit,
    Path(id): Path<String>,
    form: Result<Form<RenameForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(form) = form.map_err(incomplete_form)?;
    let acting = visit.form(&form.csrf)?;
    let change = acting.change();
    let renamed = manage::rename_token(
        state.store.as_ref(),
        Scope::Own(&change),
        &id,
        form.name.trim(),
    )
    .await;
    match renamed {
        Ok(_) => Ok(see_other("/tokengate/?done=renamed")),
        Err(error @ ManageError::InvalidTokenName) => {
            let mut page = tokens_page(&state, &visit, &acting.session, &visit.settings).await?;
            page.problem = Some(error.to_string());
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(other) => Err(UiError::from_manage(other)),
    }
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirmed: String,
}

/// `POST /tokengate/tokens/{id}/delete`: asks first unless the form says it was confirmed.
pub async fn delete(
    State(state): State<SharedState>,
    visit: Visit,
    Path(id): Path<String>,
    form: Result<Form<DeleteForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(form) = form.map_err(incomplete_form)?;
    let acting = visit.form(&form.csrf)?;
    if form.confirmed != "yes" {
        let token = state
            .store
            .token(&id)
            .await
            .map_err(|_| UiError::unavailable())?
            .filter(|token| token.owner == acting.name())
            .ok_or_else(UiError::not_found)?;
        let page = ConfirmPage {
            nav: visit.nav(""),
            title: "Delete token",
            message: format!(
                "Delete the token “{}” ({})? Anything using it stops working.",
                token.name, token.hint
            ),
            action: format!("/tokengate/tokens/{id}/delete"),
            fields: vec![("csrf", form.csrf)],
            button: "Delete token",
            cancel: "/tokengate/",
        };
        return Ok(render(StatusCode::OK, &page));
    }
    let change = acting.change();
    let changed = manage::delete_token(state.store.as_ref(), Scope::Own(&change), &id).await;
    effects::on_node(&state, changed)
        .await
        .map_err(UiError::from_manage)?;
    Ok(see_other("/tokengate/?done=deleted"))
}

/// `POST /tokengate/tokens/delete-all`.
pub async fn delete_all(
    State(state): State<SharedState>,
    visit: Visit,
    form: Result<Form<DeleteForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(form) = form.map_err(incomplete_form)?;
    let acting = visit.form(&form.csrf)?;
    if form.confirmed != "yes" {
        let page = ConfirmPage {
            nav: visit.nav(""),
            title: "Delete all tokens",
            message: "Delete all of your API tokens? Anything using them stops working.".into(),
            action: "/tokengate/tokens/delete-all".into(),
            fields: vec![("csrf", form.csrf)],
            button: "Delete all my tokens",
            cancel: "/tokengate/",
        };
        return Ok(render(StatusCode::OK, &page));
    }
    let changed =
        manage::delete_all_tokens(state.store.as_ref(), &acting.change(), acting.name()).await;
    let count = effects::on_node(&state, changed)
        .await
        .map_err(UiError::from_manage)?;
    Ok(see_other(&format!(
        "/tokengate/?done=deleted_all&count={count}"
    )))
}
