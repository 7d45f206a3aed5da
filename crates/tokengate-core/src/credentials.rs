//! The one `Authorization` header parser (SPEC §2.3): `Basic base64(user:secret)` or
//! `Bearer secret`. Bounded input; anything else is malformed.

use crate::secret::Secret;
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Header values longer than this are refused before decoding.
pub const MAX_AUTHORIZATION_LEN: usize = 4096;

const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

#[derive(Debug, Clone)]
pub enum Credentials {
    Basic { user: String, secret: Secret },
    Bearer { secret: Secret },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MalformedCredentials {
    #[error("the Authorization header is too long")]
    TooLong,
    #[error("the Authorization scheme is not Basic or Bearer")]
    UnknownScheme,
    #[error("the Basic credentials are not valid base64")]
    InvalidBase64,
    #[error("the Basic credentials are not UTF-8")]
    NotUtf8,
    #[error("the Basic credentials have no colon between user and secret")]
    MissingColon,
    #[error("the credentials are empty")]
    Empty,
}

/// Parses a raw header value (bytes: the header may not be ASCII).
pub fn parse_authorization(value: &[u8]) -> Result<Credentials, MalformedCredentials> {
    if value.len() > MAX_AUTHORIZATION_LEN {
        return Err(MalformedCredentials::TooLong);
    }
    let text = std::str::from_utf8(value).map_err(|_| MalformedCredentials::NotUtf8)?;
    let text = text.trim();
    let (scheme, rest) = text.split_once(' ').unwrap_or((text, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        parse_basic(rest)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        if rest.is_empty() {
            return Err(MalformedCredentials::Empty);
        }
        Ok(Credentials::Bearer {
            secret: Secret::new(rest),
        })
    } else {
        Err(MalformedCredentials::UnknownScheme)
    }
}

fn parse_basic(encoded: &str) -> Result<Credentials, MalformedCredentials> {
    if encoded.is_empty() {
        return Err(MalformedCredentials::Empty);
    }
    let decoded = zeroize::Zeroizing::new(
        BASE64
            .decode(encoded)
            .map_err(|_| MalformedCredentials::InvalidBase64)?,
    );
    let text = std::str::from_utf8(&decoded).map_err(|_| MalformedCredentials::NotUtf8)?;
    let (user, secret) = text
        .split_once(':')
        .ok_or(MalformedCredentials::MissingColon)?;
    Ok(Credentials::Basic {
        user: user.to_owned(),
        secret: Secret::new(secret),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(raw: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    #[test]
    fn authorization_parser_table() {
        type Expect = Result<(&'static str, &'static str, &'static str), MalformedCredentials>;
        let long = format!("Bearer {}", "x".repeat(5000));
        let cases: Vec<(String, Expect)> = vec![
            (basic("alice:pw"), Ok(("basic", "alice", "pw"))),
            (
                basic("alice:pw:with:colons"),
                Ok(("basic", "alice", "pw:with:colons")),
            ),
            (basic("alice:"), Ok(("basic", "alice", ""))),
            ("basic YWxpY2U6cHc".into(), Ok(("basic", "alice", "pw"))),
            (
                "BASIC   YWxpY2U6cHc=  ".into(),
                Ok(("basic", "alice", "pw")),
            ),
            ("Bearer tg_abc".into(), Ok(("bearer", "", "tg_abc"))),
            ("bearer   tg_abc ".into(), Ok(("bearer", "", "tg_abc"))),
            ("Bearer".into(), Err(MalformedCredentials::Empty)),
            ("Basic".into(), Err(MalformedCredentials::Empty)),
            (
                "Basic !!!not-base64".into(),
                Err(MalformedCredentials::InvalidBase64),
            ),
            (
                "Basic bm9jb2xvbg==".into(),
                Err(MalformedCredentials::MissingColon),
            ),
            (
                "Digest username=alice".into(),
                Err(MalformedCredentials::UnknownScheme),
            ),
            ("".into(), Err(MalformedCredentials::UnknownScheme)),
            (long, Err(MalformedCredentials::TooLong)),
            ("Basic /w==".into(), Err(MalformedCredentials::NotUtf8)),
        ];
        for (header, expected) in cases {
            let got = parse_authorization(header.as_bytes()).map(|credentials| match credentials {
                Credentials::Basic { user, secret } => ("basic", user, secret.expose().to_owned()),
                Credentials::Bearer { secret } => {
                    ("bearer", String::new(), secret.expose().to_owned())
                }
            });
            let expected =
                expected.map(|(kind, user, secret)| (kind, user.to_owned(), secret.to_owned()));
            assert_eq!(got, expected, "{header:.40}");
        }
        assert!(matches!(
            parse_authorization(b"Bearer \xff\xfe"),
            Err(MalformedCredentials::NotUtf8)
        ));
    }
}
