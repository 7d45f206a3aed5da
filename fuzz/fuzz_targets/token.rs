//! The token parser: never panics; an accepted token has the documented shape, and every
//! single-character change to it is refused (the checksum catches each one).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokengate_core::token::{TOKEN_LEN, TOKEN_PREFIX, TokenSecret, looks_like_token};

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(token) = TokenSecret::parse(text) else {
        return;
    };
    assert!(looks_like_token(text));
    assert_eq!(token.expose(), text);
    assert_eq!(text.len(), TOKEN_LEN);
    assert!(text.starts_with(TOKEN_PREFIX));
    assert!(token.hint().ends_with(&text[TOKEN_LEN - 4..]));
    assert!(!format!("{token:?}").contains(&text[TOKEN_PREFIX.len()..]));
    // Every other alphabet character at every position after the prefix is refused.
    let bytes = text.as_bytes();
    for position in TOKEN_PREFIX.len()..TOKEN_LEN {
        for &replacement in ALPHABET {
            if replacement == bytes[position] {
                continue;
            }
            let mut typo = bytes.to_vec();
            typo[position] = replacement;
            let typo = String::from_utf8(typo).unwrap_or_default();
            assert!(
                TokenSecret::parse(&typo).is_none(),
                "a typo at {position} was accepted"
            );
        }
    }
});
