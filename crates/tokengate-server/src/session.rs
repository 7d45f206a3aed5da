//! Web UI sessions (SPEC §8): a random id in an `HttpOnly; SameSite=Strict` cookie (made
//! `Secure` by `crate::transport` whenever the user came over HTTPS), only its SHA-256 stored; a per-session CSRF token that forms and API calls must
//! echo; idle and absolute timeouts; a new id at every sign-in; sign-out deletes the session.

use crate::error::ApiError;
use crate::state::AppState;
use axum::http::{HeaderMap, HeaderValue, header};
use chrono::{DateTime, TimeDelta, Utc};
use tokengate_core::User;
use tokengate_core::manage::truncate_to_millis;
use tokengate_core::secret::constant_time_eq;
use tokengate_core::store::SessionRecord;
use tokengate_core::token::{TokenDigest, random_base62};

pub const COOKIE_NAME: &str = "tokengate_session";
/// The header REST calls made with the session cookie must carry (the session's CSRF token).
pub const CSRF_HEADER: &str = "x-csrf-token";
/// `last_seen_at` is written at most this often (idle timeout granularity).
const TOUCH_EVERY: TimeDelta = TimeDelta::minutes(1);

/// A signed-in browser user.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub user: User,
    pub csrf_token: String,
    digest: TokenDigest,
}

impl SessionUser {
    /// Whether `presented` is this session's CSRF token (constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        constant_time_eq(self.csrf_token.as_bytes(), presented.as_bytes())
    }
}

fn session_id_from(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.to_owned())
        .filter(|value| (16..=128).contains(&value.len()))
}

/// The session the request's cookie names, if it is valid now. Expired and idle sessions are
/// deleted; a disabled user has no session.
pub async fn current(
    state: &AppState,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> Result<Option<SessionUser>, ApiError> {
    let Some(id) = session_id_from(headers) else {
        return Ok(None);
    };
    let digest = TokenDigest::of(&id);
    let store = &state.store;
    let Some(record) = store
        .session(&digest)
        .await
        .map_err(|_| ApiError::unavailable())?
    else {
        return Ok(None);
    };
    let idle_limit =
        TimeDelta::minutes(i64::from(state.config.security.session_idle_minutes.max(1)));
    if record.expires_at <= now || record.last_seen_at + idle_limit <= now {
        let _ = store.delete_session(&digest).await;
        return Ok(None);
    }
    let Some(user) = store
        .user(&record.user)
        .await
        .map_err(|_| ApiError::unavailable())?
    else {
        return Ok(None);
    };
    if user.disabled {
        let _ = store.delete_session(&digest).await;
        return Ok(None);
    }
    if now - record.last_seen_at >= TOUCH_EVERY {
        let _ = store.touch_session(&digest, truncate_to_millis(now)).await;
    }
    Ok(Some(SessionUser {
        user,
        csrf_token: record.csrf_token,
        digest,
    }))
}

/// Starts a session for `user` (always a new id) and returns the `Set-Cookie` value.
pub async fn start(
    state: &AppState,
    user: &User,
    now: DateTime<Utc>,
) -> Result<HeaderValue, ApiError> {
    let id = random_base62(43).map_err(|error| ApiError::internal(&error))?;
    let csrf_token = random_base62(43).map_err(|error| ApiError::internal(&error))?;
    let now = truncate_to_millis(now);
    let record = SessionRecord {
        digest: TokenDigest::of(&id),
        user: user.name.clone(),
        csrf_token,
        created_at: now,
        last_seen_at: now,
        expires_at: now + TimeDelta::hours(i64::from(state.config.security.session_hours.max(1))),
    };
    state
        .store
        .create_session(&record)
        .await
        .map_err(|_| ApiError::unavailable())?;
    let max_age = i64::from(state.config.security.session_hours.max(1)) * 3600;
    cookie(&id, max_age)
}

/// Ends the session and returns the `Set-Cookie` value that clears the cookie.
pub async fn end(state: &AppState, session: &SessionUser) -> Result<HeaderValue, ApiError> {
    state
        .store
        .delete_session(&session.digest)
        .await
        .map_err(|_| ApiError::unavailable())?;
    cookie("", 0)
}

fn cookie(value: &str, max_age: i64) -> Result<HeaderValue, ApiError> {
    let text = format!(
        "{COOKIE_NAME}={value}; Path=/tokengate/; HttpOnly; SameSite=Strict; Max-Age={max_age}"
    );
    HeaderValue::from_str(&text).map_err(|error| ApiError::internal(&error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_cookie_is_found_among_others_and_bounded() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; tokengate_session=abcdefghijklmnopqrstu; c=d"),
        );
        assert_eq!(
            session_id_from(&headers).as_deref(),
            Some("abcdefghijklmnopqrstu")
        );
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("tokengate_session=short"),
        );
        assert_eq!(session_id_from(&headers), None);
    }
}
