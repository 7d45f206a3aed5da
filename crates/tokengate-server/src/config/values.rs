//! Configuration values that are more than text, parsed once when the configuration loads:
//! nothing after `Config::load` parses an address or a header name again, and a bad one is
//! refused at start with the key it was given for (`checks::one_line`).

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

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
}
