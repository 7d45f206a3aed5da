//! Secret values (token secrets, passwords, session ids, CSRF tokens): redacted in
//! `Debug`/`Display`, zeroized on drop, compared in constant time. Nothing in this module may
//! ever print the inner value; [`ShownOnce`] is the one way a secret reaches a JSON answer.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// A secret string. Its only way out is [`Secret::expose`], which callers use exactly where the
/// raw value is needed (hashing, showing a new token once).
#[derive(Clone, Default)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

/// Equal content, compared in constant time.
impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(self.expose().as_bytes(), other.expose().as_bytes())
    }
}

impl Eq for Secret {}

/// A form field or JSON member read straight into a `Secret`. There is deliberately no
/// `Serialize`: a secret leaves only through [`Secret::expose`] or [`ShownOnce`].
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A secret that an answer shows its owner once (a new token in the answer to its creation).
/// It serialises to the plain string, since showing it is its purpose, but `Debug` and
/// `Display` redact it like any [`Secret`], so logging the answer shows nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct ShownOnce(Secret);

impl ShownOnce {
    pub fn new(secret: Secret) -> Self {
        Self(secret)
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl Serialize for ShownOnce {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.expose())
    }
}

impl<'de> Deserialize<'de> for ShownOnce {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Secret::deserialize(deserializer).map(Self)
    }
}

impl fmt::Debug for ShownOnce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ShownOnce(<redacted>)")
    }
}

impl fmt::Display for ShownOnce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Stands in for a secret in a hand-written `Debug`.
pub struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What a hand-written `Debug` shows of an optional secret: whether there is one, never what
/// it is.
pub fn redacted<T>(secret: Option<&T>) -> Option<Redacted> {
    secret.map(|_| Redacted)
}

/// The one constant-time comparison helper used for digests and other secret-derived bytes.
pub fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len() && bool::from(left.ct_eq(right))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_of_a_secret_are_redacted() {
        let secret = Secret::new("hunter2-very-secret");
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert!(!format!("{secret}").contains("hunter2"));
        assert_eq!(secret.expose(), "hunter2-very-secret");
    }

    #[test]
    fn a_secret_read_from_json_is_redacted_and_compares_by_content() {
        let secret: Secret = serde_json::from_str("\"hunter2-from-a-form\"").expect("json");
        assert_eq!(secret.expose(), "hunter2-from-a-form");
        assert!(!format!("{secret:?} {secret} {secret:#?}").contains("hunter2"));
        assert_eq!(secret, Secret::from("hunter2-from-a-form"));
        assert_ne!(secret, Secret::from("hunter2-from-a-form!"));
    }

    #[test]
    fn a_secret_shown_once_serialises_plain_but_debugs_redacted() {
        let shown = ShownOnce::new(Secret::new("tg_shown-once-secret"));
        assert_eq!(
            serde_json::to_string(&shown).expect("json"),
            "\"tg_shown-once-secret\""
        );
        for printed in [
            format!("{shown:?}"),
            format!("{shown:#?}"),
            format!("{shown}"),
        ] {
            assert!(!printed.contains("shown-once"), "{printed}");
        }
        let back: ShownOnce = serde_json::from_str("\"tg_shown-once-secret\"").expect("json");
        assert_eq!(back, shown);
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
