//! The `Authorization` parser on any bytes: never panics, refuses what is too long, and what it
//! accepts comes back unchanged when written out again in the canonical form.
#![no_main]

use base64::Engine;
use libfuzzer_sys::fuzz_target;
use tokengate_core::credentials::{
    Credentials, MAX_AUTHORIZATION_LEN, MalformedCredentials, parse_authorization,
};

fuzz_target!(|data: &[u8]| {
    let parsed = parse_authorization(data);
    if data.len() > MAX_AUTHORIZATION_LEN {
        assert_eq!(parsed.err(), Some(MalformedCredentials::TooLong));
        return;
    }
    match parsed {
        Ok(Credentials::Basic { user, secret }) => {
            assert!(!user.contains(':'), "the user name ends at the first colon");
            let raw = format!("{user}:{}", secret.expose());
            let header = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw.as_bytes())
            );
            if header.len() <= MAX_AUTHORIZATION_LEN {
                match parse_authorization(header.as_bytes()) {
                    Ok(Credentials::Basic {
                        user: again,
                        secret: secret_again,
                    }) => {
                        assert_eq!(again, user);
                        assert_eq!(secret_again.expose(), secret.expose());
                    }
                    other => panic!("Basic did not round trip: {:?}", other.err()),
                }
            }
        }
        Ok(Credentials::Bearer { secret }) => {
            let text = secret.expose();
            assert!(!text.is_empty(), "an empty Bearer is malformed");
            assert_eq!(text.trim(), text, "the Bearer secret is trimmed");
            match parse_authorization(format!("Bearer {text}").as_bytes()) {
                Ok(Credentials::Bearer { secret: again }) => assert_eq!(again.expose(), text),
                other => panic!("Bearer did not round trip: {:?}", other.err()),
            }
        }
        Err(_) => {}
    }
});
