//! `/tokengate/admin/tokens`: the token manager. Every user's tokens, filtered (user, name,
//! expires before, unused since) and paged by id; create a token on behalf of a user (its
//! secret shown once to the admin); revoke one, or all of a user's. A non-admin who holds
//! `create_tokens_for_others` (a team lead, a service desk) sees only the create form: no
//! listing of others' tokens, no revoking. Changing a token's restrictions is in
//! `token_changes`, the "revoke tokens created before" incident button in `admin_revoke_before`.

use super::admin_revoke_before::RevokeBeforeView;
use super::admin_users::user_names;
use super::context::Visit;
use super::forms::{
    Choice, CreateTokenForm, TokenRow, parse_date, query_string, start_of, validity_choices,
};
use super::layout::{ConfirmPage, Nav, UiError, incomplete_form, render, see_other};
use super::tokens::{NewSecret, current_settings};
use crate::effects;
use crate::state::SharedState;
use askama::Template;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tokengate_core::manage::{self, ManageError, Scope};
use tokengate_core::model::{Settings, TokenFilter};

const PAGE_SIZE: u32 = 50;
const USER_NAMES_OFFERED: usize = 500;

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct TokenQuery {
    user: String,
    name: String,
    expires_before: String,
    unused_since: String,
    after: String,
    done: String,
    count: u64,
}

impl TokenQuery {
    fn filter(&self) -> Result<TokenFilter, String> {
        let text = |value: &str| Some(value.trim().to_owned()).filter(|value| !value.is_empty());
        Ok(TokenFilter {
            owner: text(&self.user),
            name: text(&self.name),
            expires_before: parse_date(&self.expires_before, "Expires before")?.map(start_of),
            // Unused since day D: never used, or last used before D began.
            unused_since: parse_date(&self.unused_since, "Unused since")?.map(start_of),
            after_id: text(&self.after),
            limit: PAGE_SIZE + 1,
        })
    }

    /// The link to this listing starting after `after` (empty: the first page).
    fn link(&self, after: &str) -> String {
        let query = query_string(&[
            ("user", &self.user),
            ("name", &self.name),
            ("expires_before", &self.expires_before),
            ("unused_since", &self.unused_since),
            ("after", after),
        ]);
        if query.is_empty() {
            "/tokengate/admin/tokens".into()
        } else {
            format!("/tokengate/admin/tokens?{query}")
        }
    }

    fn notice(&self) -> Option<String> {
        match self.done.as_str() {
            "revoked" => Some("The token was revoked.".into()),
            "revoked_all" => Some(format!("{} token(s) revoked.", self.count)),
            "revoked_before" => Some(format!(
                "{} token(s) created before the time given were revoked.",
                self.count
            )),
            "restricted" => Some("The token's restrictions were saved.".into()),
            _ => None,
        }
    }
}

#[derive(Template)]
#[template(path = "admin_tokens.html")]
pub(super) struct AdminTokensPage {
    nav: Option<Nav>,
    /// An admin's page (listing, revoking); otherwise a delegate's: the create form only.
    full: bool,
    csrf: String,
    notice: Option<String>,
    created: Option<NewSecret>,
    filter: TokenQuery,
    filter_error: Option<String>,
    tokens: Vec<TokenRow>,
    first_page: Option<String>,
    next_page: Option<String>,
    error: Option<String>,
    form_user: String,
    form_name: String,
    form_expires_on: String,
    validity_choices: Vec<Choice>,
    user_names: Vec<String>,
    pub(super) revoke_before: RevokeBeforeView,
}

/// Who may open the token manager: admins see all of it; holders of
/// `create_tokens_for_others` its create form (`full` false); anyone else gets the 403 page.
pub(super) fn manager_page(visit: &Visit) -> Result<(Nav, bool), UiError> {
    let session = visit.session.as_ref().ok_or_else(|| {
        UiError::forbidden("Sign in with an administrator account to see this page.")
    })?;
    let nav = Nav::new(session, &visit.settings, "admin-tokens");
    if nav.admin || nav.delegate {
        let full = nav.admin;
        return Ok((nav, full));
    }
    Err(UiError::forbidden(
        "This page is for administrators and for users allowed to create tokens for others.",
    )
    .with_nav(nav))
}

async fn listing(
    state: &SharedState,
    visit: &Visit,
    query: &TokenQuery,
) -> Result<(Vec<TokenRow>, Option<String>, Option<String>), UiError> {
    let unavailable = |_| UiError::unavailable();
    let (records, filter_error) = match query.filter() {
        Ok(filter) => (
            state.store.tokens(&filter).await.map_err(unavailable)?,
            None,
        ),
        Err(problem) => (Vec::new(), Some(problem)),
    };
    let more = records.len() > PAGE_SIZE as usize;
    let tokens: Vec<TokenRow> = records
        .iter()
        .take(PAGE_SIZE as usize)
        .map(|token| TokenRow::new(token, visit.now))
        .collect();
    let next_page = tokens
        .last()
        .filter(|_| more)
        .map(|last| query.link(&last.id));
    Ok((tokens, filter_error, next_page))
}

pub(super) async fn token_manager(
    state: &SharedState,
    visit: &Visit,
    (nav, full): (Nav, bool),
    query: TokenQuery,
    settings: &Settings,
) -> Result<AdminTokensPage, UiError> {
    let (tokens, filter_error, next_page) = if full {
        listing(state, visit, &query).await?
    } else {
        (Vec::new(), None, None)
    };
    let first_page = (full && !query.after.is_empty()).then(|| query.link(""));
    let user_names = user_names(state, USER_NAMES_OFFERED).await?;
    Ok(AdminTokensPage {
        csrf: nav.csrf.clone(),
        nav: Some(nav),
        full,
        notice: query.notice().filter(|_| full),
        created: None,
        filter_error,
        tokens,
        first_page,
        next_page,
        error: None,
        form_user: query.user.clone(),
        form_name: String::new(),
        form_expires_on: String::new(),
        validity_choices: validity_choices(settings.max_validity, None),
        user_names,
        filter: query,
        revoke_before: RevokeBeforeView::default(),
    })
}

/// `GET /tokengate/admin/tokens`.
pub async fn page(
    State(state): State<SharedState>,
    visit: Visit,
    query: Result<Query<TokenQuery>, QueryRejection>,
) -> Result<Response, UiError> {
    let manager = manager_page(&visit)?;
    let query = query.map(|Query(query)| query).unwrap_or_default();
    let settings = current_settings(&state).await?;
    let page = token_manager(&state, &visit, manager, query, &settings).await?;
    Ok(render(StatusCode::OK, &page))
}

/// `POST /tokengate/admin/tokens`: creates a token on behalf of a user. Admins, and holders
/// of `create_tokens_for_others`; the creator is the change's actor either way.
pub async fn create(
    State(state): State<SharedState>,
    visit: Visit,
    form: Result<Form<CreateTokenForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(form) = form.map_err(incomplete_form)?;
    let acting = visit.form(form.csrf.expose())?;
    let manager = manager_page(&visit)?;
    let settings = current_settings(&state).await?;
    let owner_name = form.user.trim();
    let owner = state
        .store
        .user(owner_name)
        .await
        .map_err(|_| UiError::unavailable())?;
    let Some(owner) = owner else {
        let message = format!("There is no user named \"{owner_name}\".");
        return refuse(&state, &visit, &settings, &form, message).await;
    };
    let validity = match form.validity_request() {
        Ok(validity) => validity,
        Err(message) => return refuse(&state, &visit, &settings, &form, message).await,
    };
    if let Err(refused) = manage::check_creator(&settings, &acting.session.user, &owner) {
        return refuse(&state, &visit, &settings, &form, refused.to_string()).await;
    }
    let change = acting.change();
    let name = form.name.trim();
    let store = state.store.as_ref();
    let new = manage::NewToken::plain(name, validity);
    match manage::create_token(store, &change, &owner, &new, &settings).await {
        Ok(created) => {
            let mut page =
                token_manager(&state, &visit, manager, TokenQuery::default(), &settings).await?;
            page.created = Some(NewSecret::new(
                created,
                owner.name,
                "/tokengate/admin/tokens",
            ));
            Ok(render(StatusCode::OK, &page))
        }
        Err(ManageError::TokensNotPermitted) => {
            let message = format!(
                "{} may not use API tokens: they are restricted to administrators, or {} is in no group allowed to use them.",
                owner.name, owner.name
            );
            refuse(&state, &visit, &settings, &form, message).await
        }
        Err(
            error @ (ManageError::InvalidTokenName
            | ManageError::Validity(_)
            | ManageError::UserDisabled(_)),
        ) => refuse(&state, &visit, &settings, &form, error.to_string()).await,
        Err(other) => Err(UiError::from_manage(other)),
    }
}

async fn refuse(
    state: &SharedState,
    visit: &Visit,
    settings: &Settings,
    form: &CreateTokenForm,
    message: String,
) -> Result<Response, UiError> {
    let manager = manager_page(visit)?;
    let mut page = token_manager(state, visit, manager, TokenQuery::default(), settings).await?;
    page.error = Some(message);
    page.form_user = form.user.clone();
    page.form_name = form.name.clone();
    page.form_expires_on = form.expires_on.clone();
    page.validity_choices = validity_choices(settings.max_validity, Some(&form.validity));
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RevokeForm {
    csrf: String,
    confirmed: String,
    user: String,
}

/// `POST /tokengate/admin/tokens/{id}/delete`.
pub async fn revoke(
    State(state): State<SharedState>,
    visit: Visit,
    Path(id): Path<String>,
    form: Result<Form<RevokeForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(form) = form.map_err(incomplete_form)?;
    let acting = visit.form(&form.csrf)?;
    let admin = acting.admin(&visit.settings)?;
    if form.confirmed != "yes" {
        let token = state
            .store
            .token(&id)
            .await
            .map_err(|_| UiError::unavailable())?
            .ok_or_else(UiError::not_found)?;
        let page = ConfirmPage {
            nav: visit.nav("admin-tokens"),
            title: "Revoke token",
            message: format!(
                "Revoke {}'s token “{}” ({})? Anything using it, or a token made with it, stops working.",
                token.owner, token.name, token.hint
            ),
            action: format!("/tokengate/admin/tokens/{id}/delete"),
            fields: vec![("csrf", form.csrf)],
            button: "Revoke token",
            cancel: "/tokengate/admin/tokens",
        };
        return Ok(render(StatusCode::OK, &page));
    }
    let change = acting.admin_change(&admin);
    let changed = manage::delete_token(state.store.as_ref(), Scope::Admin(&change), &id).await;
    effects::on_node(&state, changed)
        .await
        .map_err(UiError::from_manage)?;
    Ok(see_other("/tokengate/admin/tokens?done=revoked"))
}

/// `POST /tokengate/admin/tokens/revoke-user`: revokes every token of one user.
pub async fn revoke_user(
    State(state): State<SharedState>,
    visit: Visit,
    form: Result<Form<RevokeForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(form) = form.map_err(incomplete_form)?;
    let acting = visit.form(&form.csrf)?;
    acting.admin(&visit.settings)?;
    let user = form.user.trim();
    let known = state
        .store
        .user(user)
        .await
        .map_err(|_| UiError::unavailable())?;
    if known.is_none() {
        return Err(UiError::not_found().with_nav(Nav::new(
            &acting.session,
            &visit.settings,
            "admin-tokens",
        )));
    }
    if form.confirmed != "yes" {
        let page = ConfirmPage {
            nav: visit.nav("admin-tokens"),
            title: "Revoke all tokens of a user",
            message: format!("Revoke every token of {user}? Anything using them stops working."),
            action: "/tokengate/admin/tokens/revoke-user".into(),
            fields: vec![("csrf", form.csrf.clone()), ("user", user.to_owned())],
            button: "Revoke all",
            cancel: "/tokengate/admin/tokens",
        };
        return Ok(render(StatusCode::OK, &page));
    }
    let changed = manage::delete_all_tokens(state.store.as_ref(), &acting.change(), user).await;
    let count = effects::on_node(&state, changed)
        .await
        .map_err(UiError::from_manage)?;
    Ok(see_other(&format!(
        "/tokengate/admin/tokens?done=revoked_all&count={count}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_links_keep_the_filters() {
        let query = TokenQuery {
            user: "alice".into(),
            name: "ci job".into(),
            after: "abc".into(),
            ..TokenQuery::default()
        };
        assert_eq!(
            query.link("xyz"),
            "/tokengate/admin/tokens?user=alice&name=ci%20job&after=xyz"
        );
        assert_eq!(TokenQuery::default().link(""), "/tokengate/admin/tokens");
    }

    #[test]
    fn filters_parse_dates_and_name_a_bad_one() {
        let query = TokenQuery {
            expires_before: "2030-01-02".into(),
            ..TokenQuery::default()
        };
        let filter = query.filter().expect("valid");
        assert_eq!(
            filter.expires_before.map(|instant| instant.to_rfc3339()),
            Some("2030-01-02T00:00:00+00:00".into())
        );
        assert_eq!(filter.limit, PAGE_SIZE + 1);
        let bad = TokenQuery {
            unused_since: "yesterday".into(),
            ..TokenQuery::default()
        };
        assert!(bad.filter().expect_err("refused").contains("yesterday"));
    }
}
