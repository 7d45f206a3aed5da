//! Configuration values that are more than text, parsed once when the configuration loads:
//! nothing after `Config::load` parses an address or a header name again, and a bad one is
//! refused at start with the key it was given for (`checks::one_line`).

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

/// An HTTP header name (`identity_header`, `via_header`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderNameValue(http::HeaderName);

impl HeaderNameValue {
    pub fn header(&self) -> &http::HeaderName {
        &self.0
    }

    pub fn from_static(name: &'static str) -> Self {
        Self(http::HeaderName::from_static(name))
    }
}

impl FromStr for HeaderNameValue {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        http::HeaderName::try_from(text)
            .map(Self)
            .map_err(|_| format!("\"{}\" is not a valid header name", super::shorten(text)))
    }
}

impl fmt::Display for HeaderNameValue {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.0.as_str())
    }
}

impl Serialize for HeaderNameValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.as_str())
    }
}

impl<'de> Deserialize<'de> for HeaderNameValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(D::Error::custom)
    }
}

/// A listening address (`listen`): `127.0.0.1:8700`, `[::1]:8700`.
pub fn parse_address(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        format!(
            "\"{}\" is not an address like 127.0.0.1:8700",
            super::shorten(text)
        )
    })
}

/// `listen`: an address, written as text.
pub mod address {
    use super::*;

    pub fn serialize<S: Serializer>(
        address: &SocketAddr,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(address)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_address(&text).map_err(D::Error::custom)
    }
}

/// `metrics_listen`: an address, or `""` for none.
pub mod optional_address {
    use super::*;

    pub fn serialize<S: Serializer>(
        address: &Option<SocketAddr>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match address {
            Some(address) => serializer.collect_str(address),
            None => serializer.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<SocketAddr>, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.is_empty() {
            return Ok(None);
        }
        parse_address(&text)
            .map(Some)
            .map_err(|problem| D::Error::custom(format!("{problem} (or \"\" for none)")))
    }
}

/// A duration written as a whole number and a unit: `30s`, `10m`, `1h`. Zero is refused.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || {
        format!(
            "\"{}\" is not a duration like \"30s\", \"10m\", \"1h\" or \"7d\"",
            super::shorten(text)
        )
    };
    let trimmed = text.trim();
    let unit_at = trimmed.len().checked_sub(1).ok_or_else(invalid)?;
    let (number, unit) = (trimmed.get(..unit_at), trimmed.get(unit_at..));
    let seconds_per_unit = match unit {
        Some("s") => 1,
        Some("m") => 60,
        Some("h") => 3600,
        Some("d") => 86_400,
        _ => return Err(invalid()),
    };
    let number: u64 = number
        .filter(|digits| !digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_digit()))
        .and_then(|digits| digits.parse().ok())
        .ok_or_else(invalid)?;
    match number.checked_mul(seconds_per_unit) {
        Some(0) => Err(format!(
            "\"{}\" is zero; a duration must be positive",
            super::shorten(text)
        )),
        Some(seconds) => Ok(Duration::from_secs(seconds)),
        None => Err(invalid()),
    }
}

/// A duration in its shortest whole form: 600 s is `10m`.
pub fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        _ if seconds != 0 && seconds.is_multiple_of(86_400) => format!("{}d", seconds / 86_400),
        _ if seconds != 0 && seconds.is_multiple_of(3600) => format!("{}h", seconds / 3600),
        _ if seconds != 0 && seconds.is_multiple_of(60) => format!("{}m", seconds / 60),
        _ => format!("{seconds}s"),
    }
}

/// `sync_interval` and other durations: text like `10m`.
pub mod duration {
    use super::*;

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_duration(*duration))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_duration(&text).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_parse_once_and_refuse_what_http_refuses() {
        let name: HeaderNameValue = "X-Remote-User".parse().expect("a header name");
        assert_eq!(name.header().as_str(), "x-remote-user");
        for bad in ["X Remote", "", "X-Ümlaut", "a:b", "x\ny"] {
            let problem = bad.parse::<HeaderNameValue>().expect_err(bad);
            assert!(problem.contains("not a valid header name"), "{problem}");
        }
    }

    #[test]
    fn addresses_need_a_host_and_a_port() {
        assert!(parse_address("127.0.0.1:8700").is_ok());
        assert!(parse_address("[::1]:0").is_ok());
        for bad in [
            "nowhere",
            "8700",
            "127.0.0.1",
            "127.0.0.1:99999",
            "localhost:80",
        ] {
            assert!(parse_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_are_a_number_and_a_unit_and_print_back_the_same() {
        for (text, seconds) in [
            ("30s", 30),
            ("10m", 600),
            ("1h", 3600),
            ("90m", 5400),
            ("7d", 604_800),
        ] {
            let parsed = parse_duration(text).expect(text);
            assert_eq!(parsed, Duration::from_secs(seconds), "{text}");
            assert_eq!(
                parse_duration(&format_duration(parsed)).expect(text),
                parsed
            );
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "90m");
        for bad in [
            "",
            "10",
            "m",
            "10 m",
            "-5m",
            "1.5h",
            "10w",
            "0s",
            "+3s",
            "99999999999999999999h",
        ] {
            let problem = parse_duration(bad).expect_err(bad);
            assert!(problem.contains("duration"), "{problem}");
        }
    }
}
