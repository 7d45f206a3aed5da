//! The signed-in user's own account, on the tokens page: their e-mail address. A local user
//! sets or clears it here (core's `set_own_email`, audited `user.updated`, the same rule as
//! `PATCH /me`); a directory user's address is shown read-only, because the directory owns it.

use super::context::Visit;
use super::layout::{UiError, incomplete_form, render, see_other};
use super::tokens::{current_settings, tokens_page};
use crate::effects;
use crate::state::SharedState;
use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tokengate_core::User;
use tokengate_core::groups::UserSource;
use tokengate_core::manage::{self, ManageError};

/// What the e-mail part of the tokens page shows.
#[derive(Debug, Clone)]
pub struct EmailView {
    /// The field's value: the stored address, or what was typed when it was refused.
    pub email: String,
    /// The directory the address comes from (`ldap`, `oidc`); empty for a local user.
    pub directory: String,
    pub error: Option<String>,
}

impl EmailView {
    pub fn new(user: &User) -> Self {
        Self {
            email: user.email.clone().unwrap_or_default(),
            directory: match user.source {
                UserSource::Local => String::new(),
                other => other.to_string(),
            },
            error: None,
        }
    }
}

#[derive(Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

/// `POST /tokengate/account/email`: sets (or, empty, clears) the user's own address.
pub async fn set_email(
    State(state): State<SharedState>,
    visit: Visit,
    form: Result<Form<EmailForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(form) = form.map_err(incomplete_form)?;
    let acting = visit.form(&form.csrf)?;
    let typed = form.email.trim();
    let email = Some(typed).filter(|email| !email.is_empty());
    let changed = manage::set_own_email(state.store.as_ref(), &acting.change(), email, false).await;
    let (status, message) = match effects::on_node(&state, changed).await {
        Ok(_) => return Ok(see_other("/tokengate/?done=email")),
        Err(ManageError::DirectoryManaged(message)) => (StatusCode::CONFLICT, message),
        Err(error @ ManageError::InvalidEmail) => {
            (StatusCode::UNPROCESSABLE_ENTITY, error.to_string())
        }
        Err(other) => return Err(UiError::from_manage(other)),
    };
    let settings = current_settings(&state).await?;
    let mut page = tokens_page(&state, &visit, &acting.session, &settings).await?;
    page.account.error = Some(capitalised(&message));
    if page.account.directory.is_empty() {
        page.account.email = typed.to_owned();
    }
    Ok(render(status, &page))
}

/// The message as a sentence.
fn capitalised(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}
