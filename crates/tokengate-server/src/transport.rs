//! How the client reached tokengate — over HTTPS or not — and what that changes in the
//! answers: `Secure` on tokengate's own cookies whenever the user came over HTTPS (tokengate's
//! own TLS, an `https://` `public_url`, or `X-Forwarded-Proto`/`Forwarded` from a trusted
//! proxy), and `Strict-Transport-Security` under tokengate's own TLS. A client that is not a
//! trusted proxy cannot change either. Decides nothing about authentication.

use crate::state::AppState;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use std::net::SocketAddr;

/// One year, the value HSTS preload lists ask for; subdomains are left alone (other services
/// may share the domain).
const HSTS: HeaderValue = HeaderValue::from_static("max-age=31536000");

/// Whether the user reached tokengate over HTTPS.
pub fn reached_over_https(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> bool {
    state.tls() || state.config.public_url_is_https() || forwarded_https(state, peer, headers)
}

/// `X-Forwarded-Proto: https` or `Forwarded: proto=https`, believed only from a peer in
/// `trusted_proxies`.
fn forwarded_https(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> bool {
    let peer = peer.ip().to_canonical();
    if !state
        .policy
        .trusted_proxies
        .iter()
        .any(|network| network.contains(&peer))
    {
        return false;
    }
    let values = |name| {
        headers
            .get_all(name)
            .into_iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
    };
    let is_https = |proto: &str| proto.trim_matches('"').eq_ignore_ascii_case("https");
    values("x-forwarded-proto").any(is_https)
        || values("forwarded")
            .flat_map(|element| element.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .any(|(name, value)| name.trim().eq_ignore_ascii_case("proto") && is_https(value))
}

/// Adds `Secure` to every cookie tokengate itself sets, when the user came over HTTPS.
pub fn secure_own_cookies(https: bool, response: &mut Response) {
    if !https || !response.headers().contains_key(header::SET_COOKIE) {
        return;
    }
    let headers = response.headers_mut();
    let cookies: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    headers.remove(header::SET_COOKIE);
    for cookie in cookies {
        let secured = match cookie.to_str() {
            Ok(text) if !has_secure(text) => secured(text, cookie.is_sensitive()).unwrap_or(cookie),
            _ => cookie,
        };
        headers.append(header::SET_COOKIE, secured);
    }
}

/// `text` with `Secure` added, as sensitive as the value it replaces (a session cookie stays
/// hidden from `Debug`).
fn secured(text: &str, sensitive: bool) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("{text}; Secure")).ok()?;
    value.set_sensitive(sensitive);
    Some(value)
}

/// `Strict-Transport-Security` on every answer served over tokengate's own TLS (unless the
/// upstream sent its own).
pub fn strict_transport(state: &AppState, response: &mut Response) {
    if state.tls() {
        response
            .headers_mut()
            .entry(header::STRICT_TRANSPORT_SECURITY)
            .or_insert(HSTS);
    }
}

/// Whether a `Set-Cookie` value already carries the `Secure` attribute.
fn has_secure(cookie: &str) -> bool {
    cookie
        .split(';')
        .skip(1)
        .any(|attribute| attribute.trim().eq_ignore_ascii_case("secure"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_cookie_made_secure_stays_a_sensitive_header() {
        let mut session =
            HeaderValue::from_static("tokengate_session=SESSIONIDSESSIONID; HttpOnly");
        session.set_sensitive(true);
        let mut response = Response::new(axum::body::Body::empty());
        response.headers_mut().append(header::SET_COOKIE, session);
        response
            .headers_mut()
            .append(header::SET_COOKIE, HeaderValue::from_static("other=1"));
        secure_own_cookies(true, &mut response);
        let cookies: Vec<&HeaderValue> = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .collect();
        assert_eq!(cookies.len(), 2);
        assert_eq!(
            cookies[0].to_str().expect("ascii"),
            "tokengate_session=SESSIONIDSESSIONID; HttpOnly; Secure"
        );
        assert!(cookies[0].is_sensitive());
        assert!(!cookies[1].is_sensitive());
        assert!(!format!("{:?}", response.headers()).contains("SESSIONID"));
    }
}
