//! Properties of the parsers that read what clients and operators type: the `Authorization`
//! header, token secrets, IP allow-list entries and validity strings. Each runs on generated
//! input in the normal test suite (the fuzz targets in `fuzz/` push the same ones further).

use base64::Engine;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use tokengate_core::allowlist::{IpAllowList, IpEntry};
use tokengate_core::credentials::{
    Credentials, MAX_AUTHORIZATION_LEN, MalformedCredentials, parse_authorization,
};
use tokengate_core::token::{TOKEN_LEN, TokenSecret};
use tokengate_core::validity::{MAX_DAYS, MaxValidity, ValidityRequest};

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn basic_header(user: &str, secret: &str) -> String {
    let raw = format!("{user}:{secret}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw.as_bytes())
    )
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|bits| IpAddr::V4(Ipv4Addr::from(bits))),
        any::<u128>().prop_map(|bits| IpAddr::V6(Ipv6Addr::from(bits))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn authorization_parse_of_any_bytes_never_panics_and_refuses_overlong_values(
        bytes in proptest::collection::vec(any::<u8>(), 0..5000),
    ) {
        let parsed = parse_authorization(&bytes);
        if bytes.len() > MAX_AUTHORIZATION_LEN {
            prop_assert_eq!(parsed.err(), Some(MalformedCredentials::TooLong));
        }
    }

    #[test]
    fn authorization_parse_of_scheme_like_text_never_panics(
        scheme in "(?i-u)(basic|bearer|digest|)",
        spaces in " {0,3}",
        rest in "\\PC{0,80}",
    ) {
        let _ = parse_authorization(format!("{scheme}{spaces}{rest}").as_bytes());
    }

    #[test]
    fn basic_credentials_encode_then_parse_round_trip(
        user in "[^:\\p{Cc}]{0,40}",
        secret in "\\PC{0,60}",
        scheme in "[bB][aA][sS][iI][cC]",
    ) {
        let header = basic_header(&user, &secret).replacen("Basic", &scheme, 1);
        match parse_authorization(header.as_bytes()) {
            Ok(Credentials::Basic { user: parsed_user, secret: parsed_secret }) => {
                prop_assert_eq!(parsed_user, user);
                prop_assert_eq!(parsed_secret.expose(), secret.as_str());
            }
            other => prop_assert!(false, "not Basic: {:?}", other.err()),
        }
    }

    #[test]
    fn bearer_secrets_parse_to_themselves(secret in "[!-~]{1,200}") {
        match parse_authorization(format!("Bearer {secret}").as_bytes()) {
            Ok(Credentials::Bearer { secret: parsed }) => prop_assert_eq!(parsed.expose(), secret.as_str()),
            other => prop_assert!(false, "not Bearer: {:?}", other.err()),
        }
    }

    #[test]
    fn a_generated_token_parses_and_every_single_character_change_is_refused(
        position in 3usize..TOKEN_LEN,
        replacement in proptest::sample::select(ALPHABET.to_vec()),
    ) {
        let token = TokenSecret::generate().expect("csprng");
        let text = token.expose();
        let parsed = TokenSecret::parse(text).expect("a generated token parses");
        prop_assert_eq!(parsed.digest(), token.digest());
        let mut typo = text.as_bytes().to_vec();
        prop_assume!(typo[position] != replacement);
        typo[position] = replacement;
        let typo = String::from_utf8(typo).expect("ascii");
        prop_assert!(TokenSecret::parse(&typo).is_none(), "{} accepted", typo);
    }

    #[test]
    fn token_parse_of_any_text_never_panics_and_accepts_only_the_token_shape(text in "\\PC{0,50}") {
        if let Some(token) = TokenSecret::parse(&text) {
            prop_assert_eq!(token.expose(), text.as_str());
            prop_assert_eq!(text.len(), TOKEN_LEN);
            prop_assert!(text.starts_with("tg_"));
        }
    }

    #[test]
    fn allowlist_single_entries_display_then_parse_round_trip(address in ip()) {
        let entry: IpEntry = address.to_string().parse().expect("an address is an entry");
        prop_assert_eq!(entry.to_string().parse::<IpEntry>(), Ok(entry));
        prop_assert!(entry.contains(address));
    }

    #[test]
    fn allowlist_cidr_entries_display_then_parse_round_trip(address in ip(), prefix in 0u8..=128) {
        let prefix = if address.is_ipv4() { prefix % 33 } else { prefix };
        let entry: IpEntry = format!("{address}/{prefix}").parse().expect("a CIDR entry");
        prop_assert_eq!(entry.to_string().parse::<IpEntry>(), Ok(entry));
        prop_assert!(entry.contains(address), "{} does not contain {}", entry, address);
    }

    #[test]
    fn allowlist_range_entries_display_then_parse_round_trip(first in any::<u32>(), second in any::<u32>()) {
        let (low, high) = (first.min(second), first.max(second));
        let (low, high) = (Ipv4Addr::from(low), Ipv4Addr::from(high));
        let entry: IpEntry = format!("{low} - {high}").parse().expect("a range");
        prop_assert_eq!(entry.to_string().parse::<IpEntry>(), Ok(entry));
        prop_assert!(entry.contains(IpAddr::V4(low)) && entry.contains(IpAddr::V4(high)));
        let reversed = format!("{high}-{low}").parse::<IpEntry>();
        prop_assert_eq!(reversed.is_ok(), low == high);
    }

    #[test]
    fn allowlist_text_of_any_kind_never_panics_and_round_trips_when_accepted(text in "[0-9a-fA-F.:/, \\n-]{0,80}") {
        if let Ok(list) = IpAllowList::parse_text(&text) {
            let written = list.to_strings().join("\n");
            prop_assert_eq!(IpAllowList::parse_text(&written), Ok(list));
        }
    }

    #[test]
    fn validity_day_counts_parse_within_bounds(days in 0u32..100_000) {
        let parsed = format!("{days}d").parse::<ValidityRequest>();
        prop_assert_eq!(parsed.is_ok(), (1..=MAX_DAYS).contains(&days));
        if let Ok(request) = parsed {
            prop_assert_eq!(request, ValidityRequest::Days(days));
        }
    }

    #[test]
    fn validity_dates_written_then_parsed_round_trip(year in 1000i32..=9999, ordinal in 1u32..=365) {
        let date = chrono::NaiveDate::from_yo_opt(year, ordinal).expect("a date");
        let text = date.format("%Y-%m-%d").to_string();
        prop_assert_eq!(text.parse::<ValidityRequest>(), Ok(ValidityRequest::Until(date)));
    }

    #[test]
    fn validity_text_of_any_kind_never_panics(text in "\\PC{0,30}") {
        if let Ok(preset) = text.parse::<MaxValidity>() {
            prop_assert_eq!(preset.to_string(), text.clone());
        }
        let _ = text.parse::<ValidityRequest>();
    }
}

#[test]
fn validity_presets_display_then_parse_round_trip() {
    for preset in MaxValidity::ALL {
        assert_eq!(preset.to_string().parse::<MaxValidity>(), Ok(preset));
        assert_eq!(
            preset.to_string().parse::<ValidityRequest>(),
            Ok(ValidityRequest::Preset(preset))
        );
    }
}
