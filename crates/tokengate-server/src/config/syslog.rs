//! `[audit] syslog`: the receiver new audit records are forwarded to (SPEC §13), written
//! `tcp://host:port` or `udp://host:port`, "" for none. Parsed once when the configuration
//! loads; anything else (another scheme, no port, a path, a user) is refused naming the key.

use super::checks::shorten;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};
use std::fmt;
use std::str::FromStr;

/// How records travel to the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogTransport {
    /// RFC 6587 octet counting over one TCP connection, reconnected when it breaks.
    Tcp,
    /// One datagram per record (RFC 5426).
    Udp,
}

/// A syslog receiver: its transport, host (a name or an address; IPv6 without brackets) and
/// port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogTarget {
    pub transport: SyslogTransport,
    pub host: String,
    pub port: u16,
}

const EXAMPLE: &str = "tcp://host:port or udp://host:port";

impl FromStr for SyslogTarget {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let shown = shorten(text);
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| format!("\"{shown}\" is not a receiver like {EXAMPLE}"))?;
        let transport = match scheme.to_ascii_lowercase().as_str() {
            "tcp" => SyslogTransport::Tcp,
            "udp" => SyslogTransport::Udp,
            _ => {
                return Err(format!(
                    "unknown scheme \"{}\"; use {EXAMPLE}",
                    shorten(scheme)
                ));
            }
        };
        if rest.contains(['/', '?', '#', '@']) || rest.chars().any(char::is_whitespace) {
            return Err(format!(
                "\"{shown}\" may name only a host and a port, like {EXAMPLE}"
            ));
        }
        let (host, port) = match rest.strip_prefix('[') {
            Some(bracketed) => {
                let (address, after) = bracketed
                    .split_once(']')
                    .ok_or_else(|| format!("\"{shown}\" has an unclosed IPv6 address"))?;
                if address.parse::<std::net::Ipv6Addr>().is_err() {
                    return Err(format!("\"{shown}\" has an invalid IPv6 address"));
                }
                (address, after.strip_prefix(':'))
            }
            None => match rest.rsplit_once(':') {
                Some((host, port)) if !host.contains(':') => (host, Some(port)),
                _ => (rest, None),
            },
        };
        let valid_host = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
        if !valid_host {
            return Err(format!("\"{shown}\" names no valid host"));
        }
        let port = port
            .filter(|port| !port.is_empty() && port.bytes().all(|byte| byte.is_ascii_digit()))
            .and_then(|port| port.parse::<u16>().ok())
            .filter(|port| *port != 0)
            .ok_or_else(|| format!("\"{shown}\" needs a port from 1 to 65535, like {EXAMPLE}"))?;
        Ok(Self {
            transport,
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for SyslogTarget {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.transport {
            SyslogTransport::Tcp => "tcp",
            SyslogTransport::Udp => "udp",
        };
        match self.host.contains(':') {
            true => write!(formatter, "{scheme}://[{}]:{}", self.host, self.port),
            false => write!(formatter, "{scheme}://{}:{}", self.host, self.port),
        }
    }
}

/// `audit.syslog`: a receiver, or `""` for none.
pub mod optional {
    use super::*;

    pub fn serialize<S: Serializer>(
        target: &Option<SyslogTarget>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match target {
            Some(target) => serializer.collect_str(target),
            None => serializer.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<SyslogTarget>, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.is_empty() {
            return Ok(None);
        }
        text.parse()
            .map(Some)
            .map_err(|problem| D::Error::custom(format!("{problem} (or \"\" for none)")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_and_udp_receivers_parse_and_print_back_the_same() {
        for (text, transport, host, port) in [
            (
                "tcp://siem.example.com:514",
                SyslogTransport::Tcp,
                "siem.example.com",
                514,
            ),
            (
                "udp://127.0.0.1:5514",
                SyslogTransport::Udp,
                "127.0.0.1",
                5514,
            ),
            ("TCP://logs:6514", SyslogTransport::Tcp, "logs", 6514),
            ("udp://[::1]:514", SyslogTransport::Udp, "::1", 514),
        ] {
            let target: SyslogTarget = text.parse().expect(text);
            assert_eq!(target.transport, transport, "{text}");
            assert_eq!(target.host, host, "{text}");
            assert_eq!(target.port, port, "{text}");
            let again: SyslogTarget = target.to_string().parse().expect(text);
            assert_eq!(again, target);
        }
    }

    #[test]
    fn anything_but_a_host_and_a_port_over_tcp_or_udp_is_refused() {
        for bad in [
            "siem.example.com:514",
            "syslog://siem:514",
            "tls://siem:6514",
            "http://siem:514",
            "tcp://siem",
            "tcp://siem:",
            "tcp://siem:0",
            "tcp://siem:65536",
            "tcp://siem:-1",
            "tcp://siem:51a",
            "tcp://:514",
            "tcp://siem:514/",
            "tcp://siem:514/logs",
            "tcp://siem:514?tls=1",
            "tcp://user@siem:514",
            "tcp://si em:514",
            "tcp://[::1:514",
            "tcp://[nope]:514",
            "tcp://::1:514",
            "udp://sïem:514",
            "garbage",
            "tcp://",
        ] {
            assert!(bad.parse::<SyslogTarget>().is_err(), "{bad} was accepted");
        }
    }
}
