//! Sign-in and sign-out. The password is checked under the SPEC §2 rules that apply to people:
//! the per-address throttle first, the user's lock, argon2 off the async workers (a dummy hash
//! for unknown users), failures counted toward the lock, the counter reset on success. The IP
//! allow-list and the `password_auth` switch govern the API, not this page (see
//! docs/design/web-ui.md).

use super::context::Visit;
use super::layout::{ConfirmPage, Nav, UiError, render, see_other};
use crate::session;
use crate::state::SharedState;
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokengate_core::Secret;
use tokengate_core::User;
use tokengate_core::lockout::{LockState, lock_state};
use tokengate_core::model::is_valid_user_name;

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    nav: Option<Nav>,
    username: String,
    error: Option<String>,
}

impl LoginPage {
    pub fn blank() -> Self {
        Self {
            nav: None,
            username: String::new(),
            error: None,
        }
    }
}

/// `GET /tokengate/login`: the form, or the tokens page for someone already signed in.
pub async fn page(visit: Visit) -> Response {
    if visit.session.is_some() {
        return see_other("/tokengate/");
    }
    render(StatusCode::OK, &LoginPage::blank())
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// A refused sign-in re-renders the form: 200 for wrong credentials (a 401 would need
/// `WWW-Authenticate`, which makes browsers open their own password dialog), 403 for a locked
/// or disabled account, 429 for a throttled address.
enum SignIn {
    Accepted(User),
    Refused(StatusCode, String),
}

/// `POST /tokengate/login`.
pub async fn submit(
    State(state): State<SharedState>,
    visit: Visit,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Result<Response, UiError> {
    visit.require_same_origin()?;
    let Form(form) = form.map_err(|_| UiError::bad_request("The sign-in form was incomplete."))?;
    let username = form.username.trim().to_owned();
    let password = Secret::new(form.password);
    match check_password(&state, &visit, &username, password).await? {
        SignIn::Accepted(user) => {
            if let Some(old) = &visit.session {
                session::end(&state, old).await?;
            }
            let cookie = session::start(&state, &user, visit.now).await?;
            tracing::info!(user = %user.name, client = %visit.client, "signed in to the web UI");
            let mut response = see_other("/tokengate/");
            response.headers_mut().insert(header::SET_COOKIE, cookie);
            Ok(response)
        }
        SignIn::Refused(status, message) => {
            let page = LoginPage {
                nav: None,
                username,
                error: Some(message),
            };
            Ok(render(status, &page))
        }
    }
}

async fn check_password(
    state: &SharedState,
    visit: &Visit,
    username: &str,
    password: Secret,
) -> Result<SignIn, UiError> {
    if let Some(seconds) = state.throttle.throttled_for(visit.client) {
        return Ok(SignIn::Refused(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many failed sign-ins from your address. Try again in {seconds} seconds."),
        ));
    }
    let user = if is_valid_user_name(username) {
        state
            .store
            .user(username)
            .await
            .map_err(|_| UiError::unavailable())?
    } else {
        None
    };
    if let Some(user) = &user
        && let LockState::Locked {
            retry_after_seconds,
        } = lock_state(user.locked_until, visit.now)
    {
        return Ok(SignIn::Refused(
            StatusCode::FORBIDDEN,
            locked_message(retry_after_seconds),
        ));
    }
    let stored_hash = user.as_ref().and_then(|user| user.password_hash.clone());
    let correct = state
        .passwords
        .check(stored_hash, password)
        .await
        .map_err(|()| UiError::unavailable())?;
    match user {
        Some(user) if correct => accept(state, user).await,
        _ => refuse(state, visit, username, user.is_some()).await,
    }
}

async fn accept(state: &SharedState, user: User) -> Result<SignIn, UiError> {
    if user.disabled {
        return Ok(SignIn::Refused(
            StatusCode::FORBIDDEN,
            "This account is disabled. Ask an administrator to enable it.".into(),
        ));
    }
    state
        .store
        .reset_failed_logins(&user.name, None)
        .await
        .map_err(|_| UiError::unavailable())?;
    Ok(SignIn::Accepted(user))
}

async fn refuse(
    state: &SharedState,
    visit: &Visit,
    username: &str,
    known: bool,
) -> Result<SignIn, UiError> {
    state.throttle.record_failure(visit.client);
    tracing::info!(client = %visit.client, "failed web UI sign-in");
    let wrong = "Wrong user name or password.";
    if !known {
        return Ok(SignIn::Refused(StatusCode::OK, wrong.into()));
    }
    let counted = state
        .store
        .record_failed_login(username, visit.now, state.policy.lockout)
        .await
        .map_err(|_| UiError::unavailable())?;
    let message = match counted {
        Some(failed) if failed.newly_locked => {
            let lock = lock_state(failed.locked_until, visit.now);
            let retry_after_seconds = match lock {
                LockState::Locked {
                    retry_after_seconds,
                } => retry_after_seconds,
                LockState::Open => None,
            };
            format!("{wrong} {}", locked_message(retry_after_seconds))
        }
        _ => wrong.to_owned(),
    };
    Ok(SignIn::Refused(StatusCode::OK, message))
}

fn locked_message(retry_after_seconds: Option<u64>) -> String {
    match retry_after_seconds {
        Some(seconds) => {
            let minutes = seconds.div_ceil(60);
            let unit = if minutes == 1 { "minute" } else { "minutes" };
            format!(
                "This account is locked after too many failed sign-ins. Try again in {minutes} {unit}, or ask an administrator to reset it."
            )
        }
        None => "This account is locked after too many failed sign-ins. An administrator must reset it before you can sign in.".into(),
    }
}

#[derive(Deserialize)]
pub struct SignOutForm {
    #[serde(default)]
    csrf: String,
}

/// `GET /tokengate/logout`: a button, since a link must not change anything.
pub async fn sign_out_page(visit: Visit) -> Response {
    let Some(session) = &visit.session else {
        return see_other("/tokengate/");
    };
    let page = ConfirmPage {
        nav: visit.nav(""),
        title: "Sign out",
        message: "Sign out of tokengate on this browser?".into(),
        action: "/tokengate/logout".into(),
        fields: vec![("csrf", session.csrf_token.clone())],
        button: "Sign out",
        cancel: "/tokengate/",
    };
    render(StatusCode::OK, &page)
}

/// `POST /tokengate/logout`: deletes the session and clears the cookie.
pub async fn sign_out(
    State(state): State<SharedState>,
    visit: Visit,
    form: Result<Form<SignOutForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(form) = form.map_err(|_| UiError::bad_request("The form was incomplete."))?;
    if visit.session.is_none() {
        return Ok(see_other("/tokengate/"));
    }
    let acting = visit.form(&form.csrf)?;
    let cookie = session::end(&state, &acting.session).await?;
    let mut response = see_other("/tokengate/");
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response.into_response())
}
