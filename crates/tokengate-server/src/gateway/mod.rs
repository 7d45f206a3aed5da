//! The request filter (pingora-style): one step that runs the SPEC §2 decision for a request
//! and applies its effects. Proxy, forward-auth, `whoami` and the REST API all go through
//! [`gate`]; they differ only in what they do with the answer.

pub mod forward_auth;
pub mod forwarding;
pub mod headers;
pub mod phases;
pub mod pool;
pub mod proxy;
pub mod sso;
pub mod upstream;
pub mod writes;

use crate::attempts::{GuardedAttempts, apply_user_effect};
use crate::error::ApiError;
use crate::request_id::current_request_id;
use crate::state::AppState;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokengate_core::Decision;
use tokengate_core::auth_events::AuthEvent;
use tokengate_core::authenticate::authenticate;
use tokengate_core::decision::{Effect, Reach, Reason, RequestFacts};
use tokengate_core::model::AuthEvents;

/// The route name of tokengate's own API and pages, for token restrictions (SPEC §11).
pub const OWN_ROUTE: &str = "tokengate";

/// The path a client sent, also where a nested router has cut a prefix off the request's URI.
pub fn sent_path<'r>(uri: &'r http::Uri, extensions: &'r http::Extensions) -> &'r str {
    extensions
        .get::<axum::extract::OriginalUri>()
        .map_or(uri.path(), |original| original.0.path())
}

/// How long an address over its failure budget waits for its 429 (see `gate`).
pub const THROTTLED_ANSWER_DELAY: Duration = Duration::from_secs(1);

pub static X_FORWARDED_FOR: header::HeaderName = header::HeaderName::from_static("x-forwarded-for");

/// All `X-Forwarded-For` values joined in order, as one list.
pub fn forwarded_for(headers: &HeaderMap) -> Option<Cow<'_, str>> {
    let mut values = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok());
    let first = values.next()?;
    match values.next() {
        None => Some(Cow::Borrowed(first)),
        Some(second) => {
            let mut joined = format!("{first},{second}");
            for more in values {
                joined.push(',');
                joined.push_str(more);
            }
            Some(Cow::Owned(joined))
        }
    }
}

/// Decides one request and applies the decision's effects. Password attempts run under the
/// failure budget, the per-user turn and the fair hash queue ([`GuardedAttempts`]).
pub async fn gate(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    reach: Reach<'_>,
) -> Decision {
    let started = Instant::now();
    let forwarded = forwarded_for(headers);
    let facts = RequestFacts {
        peer: peer.ip(),
        forwarded_for: forwarded.as_deref(),
        authorization: headers
            .get(header::AUTHORIZATION)
            .map(|value| value.as_bytes()),
        reach,
    };
    let settings = state.settings();
    let now = Utc::now();
    let decision = authenticate(
        &facts,
        &settings,
        &state.policy,
        &state.cache,
        &GuardedAttempts(state),
        now,
    )
    .await;
    apply_effects(state, &decision, now).await;
    let switches = settings.audit_auth_events;
    if switches.any() {
        note_event(state, &decision, &reach, switches, now);
    }
    if let Some(identity) = decision.identity() {
        state
            .usage_counts
            .count(identity, decision.client, reach.route, now);
    }
    state
        .metrics
        .decision(&decision, started.elapsed().as_secs_f64());
    if decision.reason() == Some(Reason::TooManyFailures)
        && state.throttle.throttled_for(decision.client).is_some()
    {
        // A tarpit: an address over its failure budget gets its 429 only after a pause, so a
        // client hammering with wrong credentials gets one answer per connection and second
        // instead of taking the CPU that valid requests need. (A full hash queue answers at
        // once: that address did nothing wrong.)
        tokio::time::sleep(THROTTLED_ANSWER_DELAY).await;
    }
    decision
}

/// Keeps the decision's authentication event, when its kind is switched on, for the next
/// batch write (`crate::auth_events`).
fn note_event(
    state: &AppState,
    decision: &Decision,
    reach: &Reach<'_>,
    switches: AuthEvents,
    now: chrono::DateTime<Utc>,
) {
    let request_id = || Some(current_request_id()).filter(|id| id != "-");
    if let Some(event) = AuthEvent::of(decision, reach, switches, now, request_id)
        && !state.auth_events.note(event)
    {
        state.metrics.auth_event_dropped();
    }
}

/// Applies what the decision left to apply (password attempts settle their own effects
/// inside the user's turn; the failure budget was taken before the work).
async fn apply_effects(state: &AppState, decision: &Decision, now: chrono::DateTime<Utc>) {
    for effect in &decision.effects {
        match effect {
            Effect::TokenUsed { token_id } => {
                state.usage.note(token_id, now, ip_text(decision.client))
            }
            other => {
                apply_user_effect(state, other, now).await;
            }
        }
    }
}

/// The text of an address, as `Display` writes it; IPv4 (the usual case) without the
/// formatting machinery, which costs more than the rest of the decision.
pub fn ip_text(ip: IpAddr) -> String {
    let mut buffer = [0u8; 15];
    match ip_v4_text(ip, &mut buffer) {
        Some(text) => text.to_owned(),
        None => ip.to_string(),
    }
}

/// Writes an IPv4 address as dotted decimal into `buffer`; `None` for IPv6.
pub(crate) fn ip_v4_text(ip: IpAddr, buffer: &mut [u8; 15]) -> Option<&str> {
    let IpAddr::V4(v4) = ip else {
        return None;
    };
    let mut length = 0;
    for (index, octet) in v4.octets().into_iter().enumerate() {
        if index > 0 {
            buffer[length] = b'.';
            length += 1;
        }
        if octet >= 100 {
            buffer[length] = b'0' + octet / 100;
            length += 1;
        }
        if octet >= 10 {
            buffer[length] = b'0' + octet / 10 % 10;
            length += 1;
        }
        buffer[length] = b'0' + octet % 10;
        length += 1;
    }
    std::str::from_utf8(&buffer[..length]).ok()
}

/// The response for a refused request (JSON body, `WWW-Authenticate`, `Retry-After`).
pub fn refusal(decision: &Decision) -> Response {
    ApiError::from_decision(decision).into_response()
}

/// Whether `path` is under one of the `public_paths` prefixes and in normal form
/// (`tokengate_core::path`): a path the upstream might resolve elsewhere is never public.
pub fn is_public(public_paths: &[String], path: &str) -> bool {
    tokengate_core::path::is_public(public_paths, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_paths_match_prefixes_without_dot_segments() {
        let public = vec!["/public/".to_owned(), "/health".to_owned()];
        assert!(is_public(&public, "/public/logo.png"));
        assert!(is_public(&public, "/health"));
        assert!(!is_public(&public, "/private"));
        assert!(!is_public(&public, "/public/../admin"));
        assert!(!is_public(&public, "/public/%2e%2e/admin"));
        assert!(!is_public(&public, "/public/..%2fadmin"));
        assert!(!is_public(&[], "/public/x"));
    }

    #[test]
    fn ip_text_writes_what_display_writes() {
        for text in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.30.40",
            "192.168.100.255",
            "255.255.255.255",
            "1.10.100.9",
            "::1",
            "2001:db8::8a2e:370:7334",
            "::ffff:10.0.0.1",
        ] {
            let ip: IpAddr = text.parse().expect("address");
            assert_eq!(ip_text(ip), ip.to_string());
        }
        for value in (0..=u32::MAX).step_by(9_973) {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(value));
            assert_eq!(ip_text(ip), ip.to_string());
        }
    }

    #[test]
    fn forwarded_for_joins_every_header_line() {
        let mut headers = HeaderMap::new();
        assert!(forwarded_for(&headers).is_none());
        headers.append(&X_FORWARDED_FOR, "10.0.0.1".parse().expect("value"));
        assert_eq!(forwarded_for(&headers).as_deref(), Some("10.0.0.1"));
        headers.append(
            &X_FORWARDED_FOR,
            "10.0.0.2, 10.0.0.3".parse().expect("value"),
        );
        assert_eq!(
            forwarded_for(&headers).as_deref(),
            Some("10.0.0.1,10.0.0.2, 10.0.0.3")
        );
    }
}
