//! Password hashing with argon2id (PHC strings). Parameters: 19 MiB memory, 2 iterations,
//! 1 lane (OWASP's recommended minimum). Callers run these on blocking threads; this module is
//! synchronous on purpose.

use crate::secret::Secret;
use crate::token::TOKEN_PREFIX;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::OnceLock;

/// Passwords longer than this are refused before hashing (bounds the work per attempt).
pub const MAX_PASSWORD_LEN: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must not be empty")]
    Empty,
    #[error("the password is longer than {MAX_PASSWORD_LEN} bytes")]
    TooLong,
    #[error("the password must not start with tg_ (that is how API tokens start)")]
    LooksLikeToken,
    #[error("password hashing failed")]
    Hashing,
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a new password into a PHC string. Empty and oversize passwords are refused.
pub fn hash_password(password: &Secret) -> Result<String, PasswordError> {
    if password.is_empty() {
        return Err(PasswordError::Empty);
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(PasswordError::TooLong);
    }
    if password.expose().starts_with(TOKEN_PREFIX) {
        // A `tg_` secret is always a token attempt (SPEC §2.4): such a password could never
        // be used, and would teach people to send token-shaped secrets as passwords.
        return Err(PasswordError::LooksLikeToken);
    }
    let mut salt_bytes = [0u8; 16];
    getrandom::fill(&mut salt_bytes).map_err(|_| PasswordError::Hashing)?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|_| PasswordError::Hashing)?;
    hasher()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|_| PasswordError::Hashing)
}

/// A valid hash of a random password: verifying against it costs what a real check costs.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = crate::token::random_base62(24).unwrap_or_else(|_| "tokengate-dummy".into());
        hash_password(&Secret::new(random)).unwrap_or_default()
    })
}

/// Verifies `password` against `stored` (PHC). With no stored hash (unknown user, or a user
/// without a password) the same work is done against a dummy hash and the answer is `false`.
pub fn verify_password(stored: Option<&str>, password: &Secret) -> bool {
    if password.is_empty() || password.len() > MAX_PASSWORD_LEN {
        return false;
    }
    let (phc, real) = match stored {
        Some(phc) => (phc, true),
        None => (dummy_hash(), false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let matches = hasher()
        .verify_password(password.expose().as_bytes(), &parsed)
        .is_ok();
    matches && real
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_round_trips_and_is_argon2id() {
        let password = Secret::new("correct horse");
        let hash = hash_password(&password).expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(!hash.contains("correct horse"));
        assert!(verify_password(Some(&hash), &password));
        assert!(!verify_password(Some(&hash), &Secret::new("wrong")));
    }

    #[test]
    fn password_empty_and_oversize_are_refused() {
        assert!(matches!(
            hash_password(&Secret::new("")),
            Err(PasswordError::Empty)
        ));
        let long = Secret::new("x".repeat(MAX_PASSWORD_LEN + 1));
        assert!(matches!(hash_password(&long), Err(PasswordError::TooLong)));
        assert!(!verify_password(None, &long));
    }

    #[test]
    fn passwords_that_start_like_a_token_are_refused() {
        for token_like in [
            "tg_",
            "tg_secret",
            "tg_0123456789abcdefghijklmnopqrstuvwxyz",
        ] {
            assert!(
                matches!(
                    hash_password(&Secret::new(token_like)),
                    Err(PasswordError::LooksLikeToken)
                ),
                "{token_like}"
            );
        }
        for fine in ["TG_upper", "xtg_inside", "tg-dash", " tg_space"] {
            assert!(hash_password(&Secret::new(fine)).is_ok(), "{fine}");
        }
    }

    #[test]
    fn password_unknown_user_never_verifies() {
        assert!(!verify_password(None, &Secret::new("anything")));
        assert!(!verify_password(
            Some("not a phc string"),
            &Secret::new("anything")
        ));
    }
}
