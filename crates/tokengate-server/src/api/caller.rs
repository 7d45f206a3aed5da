//! Who is calling the REST API: Basic/Bearer under the SPEC §2 rules (allow-list, password
//! switch and admins-only apply), or the web UI's session cookie plus its CSRF header. Admin
//! endpoints take [`AdminCaller`], which only exists for an enabled admin.

use crate::error::ApiError;
use crate::gateway::gate;
use crate::request_id::current_request_id;
use crate::session::{CSRF_HEADER, current};
use crate::state::SharedState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use chrono::Utc;
use std::net::{IpAddr, SocketAddr};
use tokengate_core::User;
use tokengate_core::decision::{Reach, Via};
use tokengate_core::manage::{AdminChange, AdminIdentity, Change};
use tokengate_core::model::{Actor, Origin};

/// How the caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerVia {
    Token,
    Password,
    Session,
}

impl CallerVia {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Password => "password",
            Self::Session => "session",
        }
    }
}

/// An authenticated API caller, as the store knows them now.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub via: CallerVia,
    pub token_id: Option<String>,
    /// Authenticated by a rotated token's old secret (still in its grace).
    pub replaced_secret: bool,
    /// The client address as seen (SPEC §2.1).
    pub client: IpAddr,
    pub actor: Actor,
    pub origin: Origin,
}

impl Caller {
    /// The token this caller authenticated with, as stored (`None` for a password or a
    /// session): a token it creates may not outgrow it.
    pub async fn token(
        &self,
        store: &dyn tokengate_core::store::Store,
    ) -> Result<Option<tokengate_core::TokenRecord>, ApiError> {
        let Some(id) = &self.token_id else {
            return Ok(None);
        };
        if self.replaced_secret {
            // Whoever holds a replaced secret may be who it was replaced because of.
            return Err(tokengate_core::manage::ManageError::TokenExceedsCaller(
                "a rotated token's old secret cannot make or change tokens".into(),
            )
            .into());
        }
        match store.token(id).await {
            Ok(Some(token)) => Ok(Some(token)),
            // Revoked since the decision: fail closed.
            Ok(None) => Err(ApiError::unavailable()),
            Err(_) => Err(ApiError::unavailable()),
        }
    }

    /// The context of a change made by this caller, with the clock read now.
    pub fn change(&self) -> Change<'_> {
        Change {
            actor: &self.actor,
            origin: &self.origin,
            now: Utc::now(),
        }
    }
}

/// An enabled admin calling the API.
#[derive(Debug, Clone)]
pub struct AdminCaller {
    pub caller: Caller,
    pub admin: AdminIdentity,
}

impl AdminCaller {
    /// The context of an admin change made by this caller (the admin is the actor), with the
    /// clock read now.
    pub fn change(&self) -> AdminChange<'_> {
        self.admin.change(&self.caller.origin, Utc::now())
    }
}

fn origin_of(client: IpAddr) -> Origin {
    Origin {
        ip: Some(client.to_string()),
        request_id: Some(current_request_id()),
    }
}

fn unsafe_method(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<SharedState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        let ConnectInfo(peer) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .copied()
            .ok_or_else(|| ApiError::internal(&"connection info missing"))?;
        if !parts.headers.contains_key(header::AUTHORIZATION)
            && let Some(session) = current(state, &parts.headers, Utc::now()).await?
        {
            if unsafe_method(&parts.method) {
                let presented = parts
                    .headers
                    .get(CSRF_HEADER)
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or("");
                if !session.csrf_matches(presented) {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "csrf_failed",
                        format!(
                            "A signed-in browser request must carry the session's {CSRF_HEADER} header."
                        ),
                    ));
                }
            }
            let client = tokengate_core::allowlist::client_address(
                peer.ip(),
                crate::gateway::forwarded_for(&parts.headers).as_deref(),
                &state.policy.trusted_proxies,
            );
            let actor = Actor::User(session.user.name.clone());
            return Ok(Caller {
                user: session.user,
                via: CallerVia::Session,
                token_id: None,
                replaced_secret: false,
                client,
                actor,
                origin: origin_of(client),
            });
        }
        // The path as the client sent it: a nested router sees only the rest of it.
        let path = crate::gateway::sent_path(&parts.uri, &parts.extensions);
        let reach = Reach {
            writes: false,
            method: Some(parts.method.as_str()),
            path: Some(path),
            route: Some(crate::gateway::OWN_ROUTE),
        };
        let decision = gate(state, peer, &parts.headers, reach).await;
        let Some(identity) = decision.identity() else {
            return Err(ApiError::from_decision(&decision));
        };
        let Some(name) = identity.user.as_deref() else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing_credentials",
                "The API needs credentials.",
            ));
        };
        let user = state
            .store
            .user(name)
            .await
            .map_err(|_| ApiError::unavailable())?;
        let Some(user) = user else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "The credentials are not valid.",
            ));
        };
        let via = if identity.via == Via::Token {
            CallerVia::Token
        } else {
            CallerVia::Password
        };
        let client = decision.client;
        Ok(Caller {
            actor: Actor::User(user.name.clone()),
            user,
            via,
            token_id: identity.token_id.clone(),
            replaced_secret: identity.replaced_secret,
            client,
            origin: origin_of(client),
        })
    }
}

impl FromRequestParts<SharedState> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        match AdminIdentity::for_user(&caller.user) {
            Some(admin) => Ok(Self { caller, admin }),
            None => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "This endpoint is for administrators.",
            )),
        }
    }
}
