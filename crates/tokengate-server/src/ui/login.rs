//! Sign-in and sign-out. The password goes through the same attempt path as a Basic password
//! at the gateway (`tokengate_core::authenticate::run_attempt` with the server's
//! `GuardedAttempts`): the per-address budget, one check per user at a time, the lock and known
//! addresses, the fair hash queue. Only the answers differ: this page re-renders its form. The
//! IP allow-list and the `password_auth` switch govern the API, not this page (see
//! docs/design/web-ui.md).

use super::context::Visit;
use super::layout::{ConfirmPage, Nav, UiError, render, see_other};
use crate::attempts::GuardedAttempts;
use crate::session;
use crate::state::{AppState, SharedState};
use askama::Template;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokengate_core::authenticate::run_attempt;
use tokengate_core::decision::{Outcome, PasswordAttempt};
use tokengate_core::{Reason, Secret, User};

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    nav: Option<Nav>,
    username: String,
    error: Option<String>,
    /// "Sign in with …" when single sign-on is configured.
    oidc_button: Option<String>,
    /// Whether the password form is shown (`oidc.password_login`).
    password_login: bool,
    /// Where to go after signing in (a path on this host), carried through the forms.
    return_to: String,
}

impl LoginPage {
    pub fn blank(state: &AppState) -> Self {
        let oidc = state.config.oidc.as_ref();
        Self {
            nav: None,
            username: String::new(),
            error: None,
            oidc_button: oidc.map(|oidc| oidc.button_text()),
            password_login: oidc.is_none_or(|oidc| oidc.password_login),
            return_to: String::new(),
        }
    }

    /// The page with `error` shown.
    pub fn refused(state: &AppState, error: String) -> Self {
        Self {
            error: Some(error),
            ..Self::blank(state)
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ReturnQuery {
    #[serde(rename = "return")]
    return_to: String,
}

/// A path on this host to return to after signing in, or `None` (then the tokens page). Never
/// another host: `//evil`, `/\evil`, `https://…` and control characters are refused.
pub fn local_return(path: &str) -> Option<&str> {
    let local = path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && path.len() <= 2048
        && !path.chars().any(|c| c.is_control() || c == '\\');
    local.then_some(path)
}

/// `GET /tokengate/login`: the form, or the page to return to for someone already signed in.
pub async fn page(
    State(state): State<SharedState>,
    visit: Visit,
    query: Result<Query<ReturnQuery>, QueryRejection>,
) -> Response {
    let return_to = query
        .ok()
        .and_then(|Query(query)| local_return(&query.return_to).map(str::to_owned))
        .unwrap_or_default();
    if visit.session.is_some() {
        return see_other(if return_to.is_empty() {
            "/tokengate/"
        } else {
            &return_to
        });
    }
    let page = LoginPage {
        return_to,
        ..LoginPage::blank(&state)
    };
    render(StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default, rename = "return")]
    return_to: String,
    #[serde(default)]
    password: Secret,
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
    let return_to = local_return(&form.return_to)
        .unwrap_or("/tokengate/")
        .to_owned();
    if !LoginPage::blank(&state).password_login {
        return Err(UiError::forbidden(
            "Password sign-in is turned off here: use single sign-on.",
        ));
    }
    match check_password(&state, &visit, &username, form.password).await? {
        SignIn::Accepted(user) => signed_in(&state, &visit, &user, &return_to, "password").await,
        SignIn::Refused(status, message) => {
            let page = LoginPage {
                username,
                return_to: form.return_to,
                ..LoginPage::refused(&state, message)
            };
            Ok(render(status, &page))
        }
    }
}

/// Starts a session for `user` (ending the visit's old one) and sends the browser on to
/// `return_to` with the session cookie and, when a route offers browser single sign-on, the
/// gateway cookie.
pub async fn signed_in(
    state: &AppState,
    visit: &Visit,
    user: &User,
    return_to: &str,
    how: &str,
) -> Result<Response, UiError> {
    if let Some(old) = &visit.session {
        session::end(state, old).await?;
    }
    let cookies = session::start(state, user, visit.now).await?;
    tracing::info!(user = %user.name, client = %visit.client, how, "signed in to the web UI");
    let mut response = see_other(return_to);
    for cookie in cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

async fn check_password(
    state: &SharedState,
    visit: &Visit,
    username: &str,
    password: Secret,
) -> Result<SignIn, UiError> {
    let attempt = PasswordAttempt::sign_in(username, password, visit.client, state.policy.lockout);
    let decision = run_attempt(
        attempt,
        &state.cache,
        &GuardedAttempts(state.as_ref()),
        visit.now,
    )
    .await;
    let (reason, retry_after_seconds) = match decision.outcome {
        Outcome::Allowed(identity) => {
            // The directory may spell the name differently from how it was typed.
            let name = identity.user.as_deref().unwrap_or(username);
            let user = state
                .store
                .user(name)
                .await
                .map_err(|_| UiError::unavailable())?
                .ok_or_else(UiError::unavailable)?;
            return Ok(SignIn::Accepted(user));
        }
        Outcome::Denied {
            reason,
            retry_after_seconds,
        } => (reason, retry_after_seconds),
    };
    let wrong = "Wrong user name or password.";
    let refused = match reason {
        Reason::InvalidCredentials => {
            tracing::info!(client = %visit.client, "failed web UI sign-in");
            let message = match decision.locked_now() {
                Some(retry_after_seconds) => {
                    format!("{wrong} {}", locked_message(retry_after_seconds))
                }
                None => wrong.to_owned(),
            };
            SignIn::Refused(StatusCode::OK, message)
        }
        Reason::UserLocked => {
            SignIn::Refused(StatusCode::FORBIDDEN, locked_message(retry_after_seconds))
        }
        Reason::UserDisabled => SignIn::Refused(
            StatusCode::FORBIDDEN,
            "This account is disabled. Ask an administrator to enable it.".into(),
        ),
        Reason::TooManyFailures => SignIn::Refused(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many failed sign-ins from your address. Try again in {} seconds.",
                retry_after_seconds.unwrap_or(1)
            ),
        ),
        Reason::DirectoryUnavailable => SignIn::Refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "The user directory cannot be reached, so your password cannot be checked right now. Try again in a few minutes.".into(),
        ),
        _ => return Err(UiError::unavailable()),
    };
    Ok(refused)
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
        fields: vec![("csrf", session.csrf_token.expose().to_owned())],
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
    let cookies = session::end(&state, &acting.session).await?;
    let mut response = see_other("/tokengate/");
    for cookie in cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response.into_response())
}
