//! Authentication events (SPEC §13, opt-in): which decisions become `auth.succeeded`,
//! `auth.failed` or `auth.denied` audit records, and what such a record says.
//!
//! * **succeeded**: a request authenticated with credentials: a token, or a password. Public
//!   paths, anonymous requests and browser sessions are not authentications of the request.
//! * **failed**: the credentials were refused (wrong, malformed, expired, locked, too many
//!   failures from the address) or the address is outside the system allow-list.
//! * **denied**: the credentials were right, but a switch, a permission, a disabled account or
//!   the token's own restrictions refused the request.
//!
//! A request without any credentials is no attempt and writes nothing (a browser's first
//! request to a Basic-auth service is one); neither does an outage (503), which the logs and
//! metrics report. A record never holds a secret: no credentials, no query string, and a user
//! name only once the user is known to exist (people type passwords into name fields).

use crate::audit::{AuditAction, NewAudit};
use crate::decision::{Decision, Outcome, Reason, Step, Via};
use crate::model::AuthEvents;
use crate::restrictions::{Outside, Reach};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use std::net::IpAddr;

/// The longest path an event keeps; longer ones are cut (on a character boundary) and marked.
pub const MAX_PATH: usize = 256;

/// The three kinds of authentication event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthEventKind {
    Succeeded,
    Failed,
    Denied,
}

impl AuthEventKind {
    /// The kind of event `decision` is, whether or not it is switched on.
    pub fn of(decision: &Decision) -> Option<Self> {
        match &decision.outcome {
            Outcome::Allowed(identity) => {
                matches!(identity.via, Via::Token | Via::Password).then_some(Self::Succeeded)
            }
            Outcome::Denied { reason, .. } => Self::of_reason(*reason),
        }
    }

    fn of_reason(reason: Reason) -> Option<Self> {
        match reason {
            Reason::IpNotAllowed
            | Reason::MalformedCredentials
            | Reason::TokenExpired
            | Reason::InvalidCredentials
            | Reason::UserLocked
            | Reason::TooManyFailures => Some(Self::Failed),
            Reason::UserDisabled
            | Reason::TokensNotPermitted
            | Reason::PasswordAuthDisabled
            | Reason::TokenIpNotAllowed
            | Reason::TokenScopeDenied => Some(Self::Denied),
            Reason::MissingCredentials | Reason::Unavailable | Reason::DirectoryUnavailable => None,
        }
    }

    pub fn action(self) -> AuditAction {
        match self {
            Self::Succeeded => AuditAction::AuthSucceeded,
            Self::Failed => AuditAction::AuthFailed,
            Self::Denied => AuditAction::AuthDenied,
        }
    }

    /// Whether `switches` ask for this kind.
    pub fn is_on(self, switches: AuthEvents) -> bool {
        match self {
            Self::Succeeded => switches.success,
            Self::Failed => switches.failure,
            Self::Denied => switches.denied,
        }
    }
}

/// One authentication event, noted on the request path and written later in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthEvent {
    pub at: DateTime<Utc>,
    pub kind: AuthEventKind,
    /// The user, once known to exist (the token's owner, or the password's user).
    pub user: Option<String>,
    pub token_id: Option<String>,
    pub via: Option<Via>,
    pub reason: Option<Reason>,
    /// Which restriction of the token refused the request.
    pub outside: Option<Outside>,
    pub client: IpAddr,
    pub method: Option<String>,
    pub path: Option<String>,
    pub route: Option<String>,
    pub request_id: Option<String>,
}

impl AuthEvent {
    /// The event for `decision` on `reach`, when its kind is switched on in `switches`.
    /// `request_id` is asked only then.
    pub fn of(
        decision: &Decision,
        reach: &Reach<'_>,
        switches: AuthEvents,
        at: DateTime<Utc>,
        request_id: impl FnOnce() -> Option<String>,
    ) -> Option<Self> {
        let kind = AuthEventKind::of(decision).filter(|kind| kind.is_on(switches))?;
        let (user, token_id, via) = who(decision);
        let outside = decision.steps.iter().find_map(|step| match step {
            Step::TokenOutside(outside) => Some(*outside),
            _ => None,
        });
        Some(Self {
            at,
            kind,
            user,
            token_id,
            via,
            reason: decision.reason(),
            outside,
            client: decision.client,
            method: reach.method.map(|method| cut(method, 16)),
            path: reach.path.map(|path| cut(path, MAX_PATH)),
            route: reach.route.map(str::to_owned),
            request_id: request_id(),
        })
    }

    /// What makes two events the same but for their time and request id: events equal by
    /// this key within one write are one record with their `count`.
    #[allow(clippy::type_complexity)]
    pub fn key(
        &self,
    ) -> (
        AuthEventKind,
        Option<&str>,
        Option<&str>,
        Option<Via>,
        Option<Reason>,
        Option<Outside>,
        IpAddr,
        Option<&str>,
        Option<&str>,
        Option<&str>,
    ) {
        (
            self.kind,
            self.user.as_deref(),
            self.token_id.as_deref(),
            self.via,
            self.reason,
            self.outside,
            self.client,
            self.method.as_deref(),
            self.path.as_deref(),
            self.route.as_deref(),
        )
    }

    /// The audit record of this event, standing for `count` equal requests (the first one's
    /// time and request id). The actor is the user, or `anonymous`.
    pub fn into_audit(self, count: u64) -> NewAudit {
        let mut details = Map::new();
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                details.insert(key.to_owned(), value);
            }
        };
        put("via", self.via.map(|via| json!(via.as_str())));
        put("reason", self.reason.map(|reason| json!(reason.code())));
        put("status", self.reason.map(|reason| json!(reason.status())));
        put("restriction", self.outside.map(|o| json!(outside_name(o))));
        put("method", self.method.map(Value::String));
        put("path", self.path.map(Value::String));
        put("route", self.route.map(Value::String));
        put("count", Some(json!(count)));
        NewAudit {
            at: self.at,
            actor: self.user.clone().unwrap_or_else(|| "anonymous".to_owned()),
            action: self.kind.action(),
            user: self.user,
            token_id: self.token_id,
            details: Value::Object(details),
            ip: Some(self.client.to_string()),
            request_id: self.request_id,
        }
    }
}

/// The user, token and way of authenticating the decision saw: from the identity when
/// allowed, else from its steps: a found token's owner; a password's user only once the
/// attempt was judged against a stored user (not before, not for an unknown name).
fn who(decision: &Decision) -> (Option<String>, Option<String>, Option<Via>) {
    if let Some(identity) = decision.identity() {
        return (
            identity.user.clone(),
            identity.token_id.clone(),
            Some(identity.via),
        );
    }
    let (mut claimed, mut via, mut judged, mut unknown) = (None, None, false, false);
    for step in &decision.steps {
        match step {
            Step::TokenFound { id, owner } => {
                return (Some(owner.clone()), Some(id.clone()), Some(Via::Token));
            }
            Step::Bearer { .. } | Step::TokenNotFound { .. } => via = Some(Via::Token),
            Step::Basic {
                token_format: true, ..
            } => via = Some(Via::Token),
            Step::Basic { user, .. } | Step::SignIn { user, .. } => {
                (claimed, via) = (Some(user), Some(Via::Password));
            }
            Step::PasswordChecked { .. } | Step::UserLocked { .. } | Step::KnownAddress => {
                judged = true;
            }
            Step::UnknownUser => unknown = true,
            Step::NotAPassword => (claimed, via) = (None, Some(Via::Token)),
            _ => {}
        }
    }
    let user = claimed.filter(|_| judged && !unknown).cloned();
    (user, None, via)
}

fn outside_name(outside: Outside) -> &'static str {
    match outside {
        Outside::Address => "ip_allowlist",
        Outside::Method => "access",
        Outside::Path => "paths",
        Outside::Route => "routes",
    }
}

/// `text` cut to at most `limit` bytes on a character boundary, with `…` when cut.
fn cut(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests;
