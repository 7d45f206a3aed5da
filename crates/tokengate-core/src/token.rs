//! Token format (SPEC §1): `tg_` + 30 base62 characters from the OS CSPRNG (≈178 bits) + a
//! 6-character base62 CRC32 of the random part. Generation, parsing with checksum verification,
//! the stored digest (SHA-256 of the whole token) and the display hint. No storage, no I/O
//! beyond the CSPRNG.

use crate::secret::{Secret, ShownOnce, constant_time_eq};
use sha2::{Digest, Sha256};
use std::fmt;

pub const TOKEN_PREFIX: &str = "tg_";
pub const RANDOM_LEN: usize = 30;
pub const CHECKSUM_LEN: usize = 6;
pub const TOKEN_LEN: usize = TOKEN_PREFIX.len() + RANDOM_LEN + CHECKSUM_LEN;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed")]
pub struct RandomError;

/// Uniform random base62 string of `len` characters (rejection sampling, no modulo bias).
pub fn random_base62(len: usize) -> Result<String, RandomError> {
    let mut out = String::with_capacity(len);
    let mut buffer = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buffer).map_err(|_| RandomError)?;
        for byte in buffer {
            // 248 = 4 * 62: bytes at or above it would bias the distribution.
            if byte < 248 && out.len() < len {
                out.push(char::from(BASE62[usize::from(byte % 62)]));
            }
        }
    }
    Ok(out)
}

fn checksum(random_part: &str) -> [u8; CHECKSUM_LEN] {
    let mut value = crc32fast::hash(random_part.as_bytes());
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    out
}

/// A token secret in the tokengate format. Constructed only by [`TokenSecret::generate`] or a
/// successful [`TokenSecret::parse`], so holding one means the checksum is valid.
#[derive(Clone)]
pub struct TokenSecret(Secret);

impl TokenSecret {
    pub fn generate() -> Result<Self, RandomError> {
        let random_part = random_base62(RANDOM_LEN)?;
        let check = checksum(&random_part);
        let mut text = String::with_capacity(TOKEN_LEN);
        text.push_str(TOKEN_PREFIX);
        text.push_str(&random_part);
        text.extend(check.iter().map(|byte| char::from(*byte)));
        Ok(Self(Secret::new(text)))
    }

    /// Recognises a token: prefix, length, alphabet and checksum. A typo fails here, before any
    /// lookup.
    pub fn parse(candidate: &str) -> Option<Self> {
        if !looks_like_token(candidate) {
            return None;
        }
        let random_part = &candidate[TOKEN_PREFIX.len()..TOKEN_PREFIX.len() + RANDOM_LEN];
        let given = &candidate.as_bytes()[TOKEN_PREFIX.len() + RANDOM_LEN..];
        constant_time_eq(&checksum(random_part), given).then(|| Self(Secret::new(candidate)))
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    pub fn digest(&self) -> TokenDigest {
        TokenDigest::of(self.0.expose())
    }

    pub fn hint(&self) -> String {
        hint_of(self.0.expose())
    }

    /// The secret as the answer to its creation shows it (the only time it is shown).
    pub fn shown_once(&self) -> ShownOnce {
        ShownOnce::new(self.0.clone())
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(<redacted>)")
    }
}

/// Prefix, length and alphabet only (no checksum): used to tell "a mistyped token" apart from
/// "a password".
pub fn looks_like_token(candidate: &str) -> bool {
    candidate.len() == TOKEN_LEN
        && candidate.starts_with(TOKEN_PREFIX)
        && candidate.as_bytes()[TOKEN_PREFIX.len()..]
            .iter()
            .all(u8::is_ascii_alphanumeric)
}

/// `tg_…` plus the last four characters: enough to recognise a token in a list.
fn hint_of(token: &str) -> String {
    let tail = token.get(token.len().saturating_sub(4)..).unwrap_or("");
    format!("{TOKEN_PREFIX}…{tail}")
}

/// SHA-256 of the whole token text; the only form in which a token is stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenDigest(pub [u8; 32]);

impl TokenDigest {
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    /// Constant-time equality, for the rare place that compares digests outside a hash lookup.
    pub fn matches(&self, other: &TokenDigest) -> bool {
        constant_time_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenDigest({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

/// Opaque, stable, safe-to-show token id.
pub fn new_token_id() -> Result<String, RandomError> {
    random_base62(20)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_tokens_have_the_documented_shape() {
        let token = TokenSecret::generate().expect("csprng");
        let text = token.expose();
        assert_eq!(text.len(), 39);
        assert!(text.starts_with("tg_"));
        assert!(TokenSecret::parse(text).is_some());
        assert_eq!(token.hint(), format!("tg_…{}", &text[35..]));
    }

    #[test]
    fn a_single_typo_is_caught_by_the_checksum() {
        let token = TokenSecret::generate().expect("csprng");
        let text = token.expose().to_owned();
        for position in 3..text.len() {
            let mut bytes = text.clone().into_bytes();
            bytes[position] = if bytes[position] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(bytes).expect("ascii");
            assert!(
                TokenSecret::parse(&typo).is_none(),
                "typo at {position} accepted"
            );
        }
    }

    #[test]
    fn non_tokens_are_not_recognised() {
        for text in [
            "",
            "tg_",
            "password",
            "tg_abc",
            "xx_0123456789012345678901234567890123456",
        ] {
            assert!(TokenSecret::parse(text).is_none(), "{text}");
        }
    }

    #[test]
    fn digest_is_sha256_of_the_whole_token() {
        let digest = TokenDigest::of("abc");
        assert_eq!(
            digest.0[..4],
            [0xba, 0x78, 0x16, 0xbf],
            "SHA-256(\"abc\") starts with ba7816bf"
        );
    }

    #[test]
    fn debug_of_a_token_secret_is_redacted() {
        let token = TokenSecret::generate().expect("csprng");
        assert!(!format!("{token:?}").contains(&token.expose()[3..]));
    }

    proptest! {
        #[test]
        fn generated_tokens_round_trip(_seed in 0u32..1000) {
            let token = TokenSecret::generate().expect("csprng");
            let parsed = TokenSecret::parse(token.expose()).expect("round trip");
            prop_assert_eq!(parsed.digest(), token.digest());
        }

        #[test]
        fn parse_never_panics_and_only_accepts_valid_checksums(text in "\\PC{0,60}") {
            if let Some(token) = TokenSecret::parse(&text) {
                let random_part = &text[3..33];
                prop_assert_eq!(&checksum(random_part)[..], &text.as_bytes()[33..]);
                prop_assert_eq!(token.expose(), text.as_str());
            }
        }

        #[test]
        fn random_tg_strings_rarely_pass(random_part in "[0-9A-Za-z]{30}", check in "[0-9A-Za-z]{6}") {
            let text = format!("tg_{random_part}{check}");
            let expected = checksum(&random_part);
            prop_assert_eq!(TokenSecret::parse(&text).is_some(), &expected[..] == check.as_bytes());
        }
    }
}
