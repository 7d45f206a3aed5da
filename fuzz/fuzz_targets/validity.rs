//! Validity strings: never panic; what parses is written out in a form that parses back to the
//! same request, and a resolved expiry is in the future and within the maximum.
#![no_main]

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use tokengate_core::validity::{MaxValidity, ValidityRequest, resolve_expiry};

fn written(request: ValidityRequest) -> Option<String> {
    match request {
        ValidityRequest::Preset(preset) => Some(preset.to_string()),
        ValidityRequest::Days(days) => Some(format!("{days}d")),
        ValidityRequest::Until(date) => Some(date.format("%Y-%m-%d").to_string()),
        ValidityRequest::At(_) => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(maximum) = text.parse::<MaxValidity>() {
        assert_eq!(maximum.to_string(), text);
    }
    let Ok(request) = text.parse::<ValidityRequest>() else {
        return;
    };
    if let Some(again) = written(request) {
        assert_eq!(
            again.parse::<ValidityRequest>().ok(),
            Some(request),
            "{again}"
        );
    }
    let now: DateTime<Utc> = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
    for maximum in MaxValidity::ALL {
        if let Ok(expiry) = resolve_expiry(Some(request), maximum, now) {
            if let Some(expiry) = expiry {
                assert!(expiry > now);
            }
            match (expiry, maximum.expiry_from(now)) {
                (Some(expiry), Some(limit)) => assert!(expiry <= limit),
                (None, Some(_)) => panic!("a never-expiring token under {maximum}"),
                _ => {}
            }
        }
    }
});
