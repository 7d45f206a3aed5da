//! Web UI sessions (SPEC §8): a random id in an `HttpOnly; SameSite=Strict` cookie (made
//! `Secure` by `crate::transport` whenever the user came over HTTPS), only its SHA-256 stored; a per-session CSRF token that forms and API calls must
//! echo; idle and absolute timeouts; a new id at every sign-in; sign-out deletes the session.

use crate::error::ApiError;
use crate::state::AppState;
use axum::http::{HeaderMap, HeaderValue, header};
use chrono::{DateTime, TimeDelta, Utc};
use tokengate_core::User;
use tokengate_core::manage::truncate_to_millis;
use tokengate_core::secret::{Secret, constant_time_eq};
use tokengate_core::store::SessionRecord;
use tokengate_core::token::{TokenDigest, random_base62};

pub const COOKIE_NAME: &str = "tokengate_session";
/// The header REST calls made with the session cookie must carry (the session's CSRF token).
pub const CSRF_HEADER: &str = "x-csrf-token";
/// `last_seen_at` is written at most this often (idle timeout granularity).
const TOUCH_EVERY: TimeDelta = TimeDelta::minutes(1);

/// A signed-in browser user. `Debug` shows neither the CSRF token nor the session: the user's
/// own `Debug` leaves out the password hash, the token is a [`Secret`], and the session is
/// known here only by its digest, which `Debug` leaves out too.
#[derive(Clone)]
pub struct SessionUser {
    pub user: User,
    pub csrf_token: Secret,
    digest: TokenDigest,
}

impl SessionUser {
    /// Whether `presented` is this session's CSRF token (constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        constant_time_eq(self.csrf_token.expose().as_bytes(), presented.as_bytes())
    }
}

impl std::fmt::Debug for SessionUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionUser")
            .field("user", &self.user)
            .field("csrf_token", &self.csrf_token)
            .finish_non_exhaustive()
    }
}

/// The session id the request's cookie carries, straight into a [`Secret`].
fn session_id_from(headers: &HeaderMap) -> Option<Secret> {
    cookie_value(headers, COOKIE_NAME)
}

/// The value of the cookie `wanted` (16 to 128 characters), straight into a [`Secret`].
fn cookie_value(headers: &HeaderMap, wanted: &str) -> Option<Secret> {
    request_cookie(headers, wanted)
        .filter(|value| (16..=128).contains(&value.len()))
        .map(Secret::new)
}

/// The value of the first cookie named `wanted` among the request's `Cookie` headers.
pub fn request_cookie<'h>(headers: &'h HeaderMap, wanted: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == wanted)
        .map(|(_, value)| value)
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
    valid_session(state, &id, now).await
}

/// The session the request's gateway cookie names (browser single sign-on), if it is valid now.
pub async fn gateway_session(
    state: &AppState,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> Result<Option<SessionUser>, ApiError> {
    let Some(id) = cookie_value(headers, GATEWAY_COOKIE) else {
        return Ok(None);
    };
    valid_session(state, &id, now).await
}

async fn valid_session(
    state: &AppState,
    id: &Secret,
    now: DateTime<Utc>,
) -> Result<Option<SessionUser>, ApiError> {
    let digest = TokenDigest::of(id.expose());
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

/// The browser single sign-on cookie of routes with `browser_sso` (SPEC §10): the session's
/// id, `SameSite=Lax` so a link from elsewhere to an upstream page works, on every path.
/// Never sent upstream (the gateway removes it), never read by tokengate's own pages.
pub const GATEWAY_COOKIE: &str = "tg_gw";

/// Starts a session for `user` (always a new id) and returns the `Set-Cookie` values: the
/// session cookie and, when a route offers browser single sign-on, the gateway cookie.
pub async fn start(
    state: &AppState,
    user: &User,
    now: DateTime<Utc>,
) -> Result<Vec<HeaderValue>, ApiError> {
    let id = new_secret()?;
    let csrf_token = new_secret()?;
    let now = truncate_to_millis(now);
    let record = SessionRecord {
        digest: TokenDigest::of(id.expose()),
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
    cookies(state, &id, max_age)
}

fn cookies(state: &AppState, id: &Secret, max_age: i64) -> Result<Vec<HeaderValue>, ApiError> {
    let mut values = vec![cookie(id, max_age)?];
    if state.routes.offers_browser_sso() {
        values.push(gateway_cookie(id, max_age)?);
    }
    Ok(values)
}

/// 43 base62 characters (≈256 bits) from the OS CSPRNG, never held outside a [`Secret`].
fn new_secret() -> Result<Secret, ApiError> {
    random_base62(43)
        .map(Secret::new)
        .map_err(|error| ApiError::internal(&error))
}

/// Ends the session and returns the `Set-Cookie` values that clear its cookies.
pub async fn end(state: &AppState, session: &SessionUser) -> Result<Vec<HeaderValue>, ApiError> {
    state
        .store
        .delete_session(&session.digest)
        .await
        .map_err(|_| ApiError::unavailable())?;
    cookies(state, &Secret::default(), 0)
}

/// The gateway cookie's `Set-Cookie` value, marked sensitive.
fn gateway_cookie(id: &Secret, max_age: i64) -> Result<HeaderValue, ApiError> {
    let text = Secret::new(format!(
        "{GATEWAY_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}",
        id.expose()
    ));
    let mut value =
        HeaderValue::from_str(text.expose()).map_err(|error| ApiError::internal(&error))?;
    value.set_sensitive(true);
    Ok(value)
}

/// The `Set-Cookie` value, marked sensitive so that `Debug` of the header map hides it.
fn cookie(id: &Secret, max_age: i64) -> Result<HeaderValue, ApiError> {
    let text = Secret::new(format!(
        "{COOKIE_NAME}={}; Path=/tokengate/; HttpOnly; SameSite=Strict; Max-Age={max_age}",
        id.expose()
    ));
    let mut value =
        HeaderValue::from_str(text.expose()).map_err(|error| ApiError::internal(&error))?;
    value.set_sensitive(true);
    Ok(value)
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
            session_id_from(&headers).as_ref().map(Secret::expose),
            Some("abcdefghijklmnopqrstu")
        );
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("tokengate_session=short"),
        );
        assert_eq!(session_id_from(&headers), None);
    }

    #[test]
    fn debug_of_a_session_user_shows_no_csrf_token_session_or_password_hash() {
        let session = SessionUser {
            user: User {
                name: "alice".into(),
                display_name: "Alice".into(),
                email: None,
                source: Default::default(),
                groups: Vec::new(),
                directory_groups: Vec::new(),
                admin: true,
                disabled: false,
                password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$SECRETHASH".into()),
                failed_logins: 0,
                locked_until: None,
            },
            csrf_token: Secret::new("CSRFSECRETCSRFSECRET"),
            digest: TokenDigest::of("SESSIONIDSESSIONID"),
        };
        let digest_hex: String = session.digest.as_bytes()[..2]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        for printed in [format!("{session:?}"), format!("{session:#?}")] {
            assert!(printed.contains("alice"), "{printed}");
            for secret in [
                "CSRFSECRET",
                "SECRETHASH",
                "argon2",
                "SESSIONID",
                &digest_hex,
            ] {
                assert!(!printed.contains(secret), "{secret} in {printed}");
            }
        }
        assert!(session.csrf_matches("CSRFSECRETCSRFSECRET"));
        for wrong in [
            "CSRFSECRETCSRFSECRE",
            "CSRFSECRETCSRFSECRETX",
            "",
            "csrfsecretcsrfsecret",
        ] {
            assert!(!session.csrf_matches(wrong), "{wrong}");
        }
    }

    #[test]
    fn the_session_cookie_is_a_sensitive_header_and_its_id_is_redacted() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("tokengate_session=SESSIONIDSESSIONIDSESSIONID"),
        );
        let id = session_id_from(&headers).expect("a session id");
        assert!(!format!("{id:?} {id}").contains("SESSIONID"));
        let set_cookie = cookie(&id, 60).expect("a header value");
        assert!(set_cookie.is_sensitive());
        let mut answer = HeaderMap::new();
        answer.insert(header::SET_COOKIE, set_cookie);
        assert!(!format!("{answer:?}").contains("SESSIONID"));
        let value = answer
            .get(header::SET_COOKIE)
            .expect("set")
            .to_str()
            .expect("ascii");
        assert!(value.starts_with("tokengate_session=SESSIONIDSESSIONIDSESSIONID; "));
    }
}
