//! Browser single sign-on through the gateway (SPEC §10), for routes with `browser_sso`: a
//! request without credentials that the allow-list admitted is let in by the browser's gateway
//! cookie (`tg_gw`, the session's id) when that session is valid, via `session`; a browser
//! without one that asks for a page is sent to sign in and comes back to the same path. Scripts
//! (no `text/html` in `Accept`, or not GET/HEAD) keep their 401. The gateway cookie never goes
//! upstream.

use crate::session::{GATEWAY_COOKIE, gateway_session};
use crate::state::AppState;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header, request};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use tokengate_core::{Decision, Reason};

/// What single sign-on makes of a refused request on a `browser_sso` route.
pub enum Browser {
    /// Let in by its session.
    Allowed(Decision),
    /// Sent to sign in.
    SignIn(Response),
    /// Not a case for single sign-on: the refusal stands.
    Refused(Decision),
}

/// Applies single sign-on to `decision`, the gate's answer to `request`.
pub async fn browser(state: &AppState, request: &request::Parts, decision: Decision) -> Browser {
    if decision.reason() != Some(Reason::MissingCredentials) {
        return Browser::Refused(decision);
    }
    match gateway_session(state, &request.headers, Utc::now()).await {
        Ok(Some(session)) => return Browser::Allowed(decision.by_session(&session.user)),
        Ok(None) => {}
        Err(_) => {
            return Browser::Refused(tokengate_core::decision::unavailable(
                decision.client,
                decision.steps,
            ));
        }
    }
    if wants_page(&request.method, &request.headers) {
        return Browser::SignIn(sign_in_redirect(request));
    }
    Browser::Refused(decision)
}

/// A browser navigating to a page: GET or HEAD, and HTML among what it accepts.
fn wants_page(method: &Method, headers: &HeaderMap) -> bool {
    (method == Method::GET || method == Method::HEAD)
        && headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .any(|accept| accept.to_ascii_lowercase().contains("text/html"))
}

/// `302` to the sign-in page, which returns to this path (and query) on this host.
fn sign_in_redirect(request: &request::Parts) -> Response {
    let path = request
        .uri
        .path_and_query()
        .map_or("/", |path_and_query| path_and_query.as_str());
    let target = format!("/tokengate/login?return={}", encode(path));
    match HeaderValue::from_str(&target) {
        Ok(location) => {
            let mut response = StatusCode::FOUND.into_response();
            response.headers_mut().insert(header::LOCATION, location);
            response
        }
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// Percent-encodes everything but unreserved characters and `/`.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(char::from(byte));
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// Removes the gateway cookie from the `Cookie` headers going upstream (other cookies stay).
pub fn strip_gateway_cookie(headers: &mut HeaderMap) {
    let values: Vec<HeaderValue> = headers.get_all(header::COOKIE).iter().cloned().collect();
    if !values.iter().any(|value| {
        value
            .as_bytes()
            .windows(GATEWAY_COOKIE.len())
            .any(|w| w == GATEWAY_COOKIE.as_bytes())
    }) {
        return;
    }
    headers.remove(header::COOKIE);
    for value in values {
        let Ok(text) = value.to_str() else {
            continue; // not text: cannot be split safely, dropped
        };
        let kept: Vec<&str> = text
            .split(';')
            .map(str::trim)
            .filter(|pair| {
                pair.split_once('=')
                    .is_none_or(|(name, _)| name.trim() != GATEWAY_COOKIE)
            })
            .filter(|pair| !pair.is_empty())
            .collect();
        if kept.is_empty() {
            continue;
        }
        if let Ok(value) = HeaderValue::from_str(&kept.join("; ")) {
            headers.append(header::COOKIE, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateway_cookie_is_removed_and_other_cookies_stay() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; tg_gw=secretsecretsecret; b=2"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("tg_gw=x"));
        headers.append(header::COOKIE, HeaderValue::from_static("c=3"));
        strip_gateway_cookie(&mut headers);
        let left: Vec<&str> = headers
            .get_all(header::COOKIE)
            .iter()
            .map(|value| value.to_str().unwrap_or(""))
            .collect();
        assert_eq!(left, ["a=1; b=2", "c=3"]);
    }

    #[test]
    fn only_page_navigations_are_sent_to_sign_in() {
        let mut html = HeaderMap::new();
        html.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/html,*/*;q=0.8"),
        );
        assert!(wants_page(&Method::GET, &html));
        assert!(!wants_page(&Method::POST, &html));
        assert!(!wants_page(&Method::GET, &HeaderMap::new()));
        let mut json = HeaderMap::new();
        json.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert!(!wants_page(&Method::GET, &json));
    }

    #[test]
    fn the_return_path_is_encoded_into_one_query_value() {
        assert_eq!(encode("/a b?x=1&y=//evil"), "/a%20b%3Fx%3D1%26y%3D//evil");
    }
}
