//! The "API tokens" page of the signed-in user (`/tokengate/`): list (with each token's
//! restrictions), create with optional restrictions (the secret shown once, in the answer to
//! the creation itself, never in a URL or stored), rename, delete one (confirmed), delete all.
//! Changing restrictions and rotating live in `token_changes`, the e-mail form in `account`.
//! Every change goes through `tokengate_core::manage`.

use super::account::EmailView;
use super::context::{Acting, Visit};
use super::forms::{
    Choice, CreateTokenForm, Fields, TokenRow, maximum_phrase, validity_choices, when,
};
use super::layout::{ConfirmPage, Nav, UiError, incomplete_form, render, see_other};
use super::login::LoginPage;
use super::restrictions::{RestrictionsForm, RestrictionsView};
use super::token_changes::grace_choices;
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
    /// A rotation: until when the old secret keeps working ("" = it stopped at once).
    pub rotated: Option<String>,
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
            rotated: None,
        }
    }
}

#[derive(Template)]
#[template(path = "tokens.html")]
pub(super) struct TokensPage {
    nav: Option<Nav>,
    csrf: String,
    /// May create their own tokens (else the info box).
    permitted: bool,
    admins_only: bool,
    pub(super) notice: Option<String>,
    pub(super) problem: Option<String>,
    pub(super) created: Option<NewSecret>,
    error: Option<String>,
    form_name: String,
    form_expires_on: String,
    validity_choices: Vec<Choice>,
    maximum: &'static str,
    restrict: RestrictionsView,
    graces: Vec<Choice>,
    pub(super) account: EmailView,
    tokens: Vec<TokenRow>,
}

pub(super) async fn tokens_page(
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
        restrict: RestrictionsView::new(&RestrictionsForm::default(), &state.routes.names()),
        graces: grace_choices(),
        account: EmailView::new(&session.user),
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
            "restricted" => Some("The token's restrictions were saved.".into()),
            "email" => Some("Your e-mail address was saved.".into()),
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

/// `POST /tokengate/tokens`: creates a token, with the restrictions asked for, and shows its
/// secret once. Bad input shows the form again naming the problem; nothing is created.
pub async fn create(
    State(state): State<SharedState>,
    visit: Visit,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(pairs) = form.map_err(incomplete_form)?;
    let fields = Fields(pairs);
    let form = CreateTokenForm::from_fields(&fields);
    let restrict = RestrictionsForm::from_fields(&fields);
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
    let refuse = |message: String| Refused {
        form: &form,
        restrict: &restrict,
        message,
    };
    let checked = form
        .validity_request()
        .and_then(|validity| Ok((validity, restrict.parse()?)));
    let (validity, restrictions) = match checked {
        Ok(checked) => checked,
        Err(message) => {
            return refuse(message)
                .page(&state, &visit, &acting, &settings)
                .await;
        }
    };
    let new = manage::NewToken {
        name: form.name.trim(),
        validity,
        restrictions: &restrictions,
        maker: None,
    };
    let store = state.store.as_ref();
    match manage::create_token(store, &acting.change(), user, &new, &settings).await {
        Ok(created) => {
            let mut page = tokens_page(&state, &visit, &acting.session, &settings).await?;
            page.created = Some(NewSecret::new(created, String::new(), "/tokengate/"));
            Ok(render(StatusCode::OK, &page))
        }
        Err(
            error @ (ManageError::InvalidTokenName
            | ManageError::Validity(_)
            | ManageError::InvalidRestrictions(_)),
        ) => {
            let refused = refuse(error.to_string());
            refused.page(&state, &visit, &acting, &settings).await
        }
        Err(other) => Err(UiError::from_manage(other)),
    }
}

/// A refused creation: the form again, as it was filled in, with the problem.
struct Refused<'a> {
    form: &'a CreateTokenForm,
    restrict: &'a RestrictionsForm,
    message: String,
}

impl Refused<'_> {
    async fn page(
        self,
        state: &SharedState,
        visit: &Visit,
        acting: &Acting,
        settings: &Settings,
    ) -> Result<Response, UiError> {
        let mut page = tokens_page(state, visit, &acting.session, settings).await?;
        page.error = Some(self.message);
        page.form_name = self.form.name.clone();
        page.form_expires_on = self.form.expires_on.clone();
        page.validity_choices = validity_choices(settings.max_validity, Some(&self.form.validity));
        page.restrict = RestrictionsView::new(self.restrict, &state.routes.names());
        Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
    }
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
                "Delete the token “{}” ({})? Anything using it, or a token made with it, stops working.",
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
