//! The facts every UI handler starts from: client address, request id, the instant, the
//! session, the settings in force, and the checks a state-changing form must pass (same
//! origin, signed in, CSRF token). Handlers get an [`Acting`] only through these checks.

use super::layout::{Nav, UiError};
use crate::request_id::{RequestId, current_request_id};
use crate::session::{self, SessionUser};
use crate::state::SharedState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use chrono::{DateTime, Utc};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokengate_core::allowlist::client_address;
use tokengate_core::manage::{AdminChange, AdminIdentity, Change};
use tokengate_core::model::{Actor, Origin, Settings};

/// One request to the UI, as its handler sees it.
pub struct Visit {
    pub client: IpAddr,
    pub request_id: String,
    pub now: DateTime<Utc>,
    pub session: Option<SessionUser>,
    pub settings: Arc<Settings>,
    headers: HeaderMap,
}

impl FromRequestParts<SharedState> for Visit {
    type Rejection = UiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip())
            .ok_or_else(|| UiError::internal(&"the connection's peer address is missing"))?;
        let forwarded = crate::gateway::forwarded_for(&parts.headers);
        let client = client_address(peer, forwarded.as_deref(), &state.policy.trusted_proxies);
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map(|RequestId(id)| id.clone())
            .unwrap_or_else(current_request_id);
        let now = Utc::now();
        let session = session::current(state, &parts.headers, now).await?;
        Ok(Self {
            client,
            request_id,
            now,
            session,
            settings: state.settings(),
            headers: parts.headers.clone(),
        })
    }
}

/// Whether a state-changing request comes from one of tokengate's own pages. Browsers send
/// `Sec-Fetch-Site` (secure contexts) and `Origin` (every POST); when either says the request
/// is cross-site it is refused. Clients that send neither are not browsers, and still need the
/// session's CSRF token.
pub fn is_same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site")
        && site.as_bytes() != b"same-origin"
    {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Some(host) = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
    else {
        return false;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let authority = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    authority.is_some_and(|authority| authority.eq_ignore_ascii_case(host))
}

impl Visit {
    pub fn origin(&self) -> Origin {
        Origin {
            ip: Some(self.client.to_string()),
            request_id: Some(self.request_id.clone()),
        }
    }

    /// Refuses a request another site made the browser send.
    pub fn require_same_origin(&self) -> Result<(), UiError> {
        if is_same_origin(&self.headers) {
            Ok(())
        } else {
            Err(UiError::forbidden(
                "This request came from another site and was refused. Use tokengate's own pages.",
            ))
        }
    }

    /// The signed-in user of a page, or the sign-in page.
    pub fn nav(&self, current: &'static str) -> Option<Nav> {
        self.session
            .as_ref()
            .map(|session| Nav::new(session, &self.settings, current))
    }

    /// The checks of every state-changing form: same origin, signed in, CSRF token.
    pub fn form(&self, csrf: &str) -> Result<Acting, UiError> {
        self.require_same_origin()?;
        let Some(session) = &self.session else {
            return Err(UiError::forbidden(
                "Your session has ended. Sign in again, then repeat what you were doing.",
            ));
        };
        if !session.csrf_matches(csrf) {
            return Err(UiError::forbidden(
                "This form has expired or did not come from tokengate's own pages. Reload the page and try again.",
            )
            .with_nav(Nav::new(session, &self.settings, "")));
        }
        Ok(Acting {
            session: session.clone(),
            actor: Actor::User(session.user.name.clone()),
            origin: self.origin(),
            now: self.now,
        })
    }

    /// The admin behind an admin page, or the 403 page.
    pub fn admin_page(&self, current: &'static str) -> Result<(&SessionUser, Nav), UiError> {
        let session = self.session.as_ref().ok_or_else(|| {
            UiError::forbidden("Sign in with an administrator account to see this page.")
        })?;
        let nav = Nav::new(session, &self.settings, current);
        if AdminIdentity::for_user(&session.user).is_none() {
            return Err(admins_only().with_nav(nav));
        }
        Ok((session, nav))
    }
}

fn admins_only() -> UiError {
    UiError::forbidden("This page is for administrators only.")
}

/// A user acting through a checked form: the context of the changes it makes.
pub struct Acting {
    pub session: SessionUser,
    pub actor: Actor,
    pub origin: Origin,
    pub now: DateTime<Utc>,
}

impl Acting {
    pub fn change(&self) -> Change<'_> {
        Change {
            actor: &self.actor,
            origin: &self.origin,
            now: self.now,
        }
    }

    pub fn name(&self) -> &str {
        &self.session.user.name
    }

    /// The context of an admin change: `admin` (this user's identity) is its actor.
    pub fn admin_change<'a>(&'a self, admin: &'a AdminIdentity) -> AdminChange<'a> {
        admin.change(&self.origin, self.now)
    }

    /// The admin identity of the acting user, or the 403 page.
    pub fn admin(&self, settings: &Settings) -> Result<AdminIdentity, UiError> {
        AdminIdentity::for_user(&self.session.user)
            .ok_or_else(|| admins_only().with_nav(Nav::new(&self.session, settings, "")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn same_origin_requests_pass_and_cross_site_ones_do_not() {
        let host = ("host", "gate.example:8700");
        assert!(is_same_origin(&headers(&[host])));
        assert!(is_same_origin(&headers(&[
            host,
            ("origin", "https://gate.example:8700"),
            ("sec-fetch-site", "same-origin"),
        ])));
        assert!(!is_same_origin(&headers(&[
            host,
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(!is_same_origin(&headers(&[
            host,
            ("sec-fetch-site", "same-site")
        ])));
        assert!(!is_same_origin(&headers(&[
            host,
            ("origin", "https://evil.example")
        ])));
        assert!(!is_same_origin(&headers(&[host, ("origin", "null")])));
        assert!(!is_same_origin(&headers(&[(
            "origin",
            "https://gate.example:8700"
        )])));
    }
}
