//! Single sign-on with an OpenID Connect provider (SPEC §10): `/tokengate/oidc/login` sends
//! the browser to the provider with a fresh `state`, `nonce` and PKCE challenge, kept in a
//! short-lived `HttpOnly` cookie; `/tokengate/oidc/callback` checks them, has the code
//! redeemed and the ID token verified (`crate::directory::oidc`), provisions or refreshes the
//! user, and starts a session. A provider that cannot be reached gets a clear page, never a
//! 500; a refused sign-in names why without any secret.

use super::context::Visit;
use super::layout::{UiError, render};
use super::login::{LoginPage, local_return, signed_in};
use crate::directory::accounts;
use crate::directory::oidc::{OidcError, PendingLogin};
use crate::state::SharedState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use tokengate_core::groups::UserSource;
use tokengate_core::manage::ManageError;
use tokengate_core::model::Origin;

/// The cookie holding the sign-in under way (ten minutes at most).
const PENDING_COOKIE: &str = "tg_oidc";

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Start {
    #[serde(rename = "return")]
    return_to: String,
}

/// `GET /tokengate/oidc/login`: to the provider.
pub async fn login(
    State(state): State<SharedState>,
    query: Result<Query<Start>, QueryRejection>,
) -> Result<Response, UiError> {
    let Some(oidc) = &state.oidc else {
        return Err(UiError::not_found());
    };
    let return_to = query
        .ok()
        .and_then(|Query(start)| local_return(&start.return_to).map(str::to_owned))
        .unwrap_or_else(|| "/tokengate/".to_owned());
    let started = match oidc.begin(&return_to).await {
        Ok(started) => started,
        Err(error) => return Ok(refusal(&state, &error)),
    };
    let pending = serde_json::to_vec(&started.pending).map_err(|_| UiError::unavailable())?;
    let cookie = format!(
        "{PENDING_COOKIE}={}; Path=/tokengate/oidc/; HttpOnly; SameSite=Lax; Max-Age=600",
        URL_SAFE_NO_PAD.encode(pending)
    );
    let mut response = Redirect::to(&started.url).into_response();
    let mut value = HeaderValue::from_str(&cookie).map_err(|_| UiError::unavailable())?;
    value.set_sensitive(true);
    response.headers_mut().insert(header::SET_COOKIE, value);
    Ok(response)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Callback {
    code: String,
    state: String,
    error: String,
}

/// `GET /tokengate/oidc/callback`: back from the provider.
pub async fn callback(
    State(state): State<SharedState>,
    visit: Visit,
    headers: HeaderMap,
    query: Result<Query<Callback>, QueryRejection>,
) -> Result<Response, UiError> {
    let Some(oidc) = &state.oidc else {
        return Err(UiError::not_found());
    };
    let Ok(Query(callback)) = query else {
        return Ok(refused_page(
            &state,
            "The sign-in answer could not be read.",
        ));
    };
    if !callback.error.is_empty() {
        return Ok(refused_page(
            &state,
            "The sign-in provider did not sign you in. Try again.",
        ));
    }
    let Some(pending) = pending_login(&headers) else {
        return Ok(refused_page(
            &state,
            "This sign-in was not started here or took too long. Start it again.",
        ));
    };
    let found = match oidc.finish(&pending, &callback.code, &callback.state).await {
        Ok(found) => found,
        Err(error) => return Ok(refusal(&state, &error)),
    };
    let profile = accounts::profile(
        crate::directory::DirectoryUser {
            name: found.name,
            display_name: found.display_name,
            email: found.email,
            groups: found.groups,
            admin: found.admin,
        },
        UserSource::Oidc,
    );
    let origin = Origin {
        ip: Some(visit.client.to_string()),
        request_id: Some(visit.request_id.clone()),
    };
    let user = match accounts::record_sign_in(&state, &profile, &origin).await {
        Ok(user) => user,
        Err(ManageError::Conflict(_)) => {
            return Ok(refused_page(
                &state,
                "A local account of this name exists; sign in with its password.",
            ));
        }
        Err(_) => return Err(UiError::unavailable()),
    };
    if user.disabled {
        return Ok(refused_page(
            &state,
            "This account is disabled. Ask an administrator to enable it.",
        ));
    }
    let mut response = signed_in(&state, &visit, &user, pending.return_to(), "oidc").await?;
    // The provider sent the browser here from another site: a redirect now would not carry
    // the `SameSite=Strict` session cookie. A page of our own moves on instead.
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().remove(header::LOCATION);
    *response.body_mut() = continue_page(pending.return_to()).into();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static("tg_oidc=; Path=/tokengate/oidc/; HttpOnly; Max-Age=0"),
    );
    Ok(response)
}

/// The sign-in under way, from its cookie.
fn pending_login(headers: &HeaderMap) -> Option<PendingLogin> {
    let value = crate::session::request_cookie(headers, PENDING_COOKIE)?;
    if value.len() > 4096 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(value).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A page that moves on to `path` (a same-site navigation, so the new session cookie goes).
fn continue_page(path: &str) -> String {
    let escaped = html_escape(path);
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"0;url={escaped}\"><title>Signed in</title></head>\
         <body><p>Signed in. <a id=\"continue\" href=\"{escaped}\">Continue</a></p></body></html>"
    )
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn refusal(state: &SharedState, error: &OidcError) -> Response {
    match error {
        OidcError::ProviderUnavailable(cause) => {
            tracing::warn!(%cause, "single sign-on: the provider is unavailable");
            let page = LoginPage::refused(
                state,
                "The sign-in provider cannot be reached right now. Try again in a few minutes."
                    .into(),
            );
            render(StatusCode::SERVICE_UNAVAILABLE, &page)
        }
        OidcError::Refused(cause) => {
            tracing::warn!(%cause, "single sign-on refused");
            refused_page(state, "The sign-in could not be verified. Start it again.")
        }
    }
}

fn refused_page(state: &SharedState, message: &str) -> Response {
    render(
        StatusCode::FORBIDDEN,
        &LoginPage::refused(state, message.into()),
    )
}
