//! IP allow-list (SPEC §1) and client-address resolution (SPEC §2.1). Entries are single
//! addresses, CIDR ranges or dash ranges; IPv4-mapped IPv6 addresses are treated as the IPv4
//! address they carry, on both sides of a match.

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpEntry {
    Single(IpAddr),
    Cidr(IpNet),
    Range(IpAddr, IpAddr),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid IP allow-list entry \"{entry}\": {problem}")]
pub struct InvalidEntry {
    /// The entry as given (shortened to 64 characters).
    pub entry: String,
    pub problem: &'static str,
}

fn canonical(address: IpAddr) -> IpAddr {
    address.to_canonical()
}

fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96).unwrap_or(net),
            None => net,
        },
        other => other,
    }
}

impl FromStr for IpEntry {
    type Err = InvalidEntry;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let entry = text.trim();
        let invalid = |problem| InvalidEntry {
            entry: entry.chars().take(64).collect(),
            problem,
        };
        if entry.is_empty() {
            return Err(invalid("empty entry"));
        }
        if entry.contains('/') {
            let net: IpNet = entry
                .parse()
                .map_err(|_| invalid("not a CIDR range like 10.0.0.0/8"))?;
            return Ok(Self::Cidr(canonical_net(net.trunc())));
        }
        if let Some((start, end)) = entry.split_once('-') {
            let parse = |part: &str| part.trim().parse::<IpAddr>().map(canonical);
            let (Ok(start), Ok(end)) = (parse(start), parse(end)) else {
                return Err(invalid("not a range like 192.168.1.10-192.168.1.50"));
            };
            if start.is_ipv4() != end.is_ipv4() {
                return Err(invalid("range mixes IPv4 and IPv6"));
            }
            if start > end {
                return Err(invalid("range starts after it ends"));
            }
            return Ok(Self::Range(start, end));
        }
        entry
            .parse::<IpAddr>()
            .map(|address| Self::Single(canonical(address)))
            .map_err(|_| invalid("not an IP address, CIDR range or dash range"))
    }
}

impl fmt::Display for IpEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Single(address) => write!(f, "{address}"),
            Self::Cidr(net) => write!(f, "{net}"),
            Self::Range(start, end) => write!(f, "{start}-{end}"),
        }
    }
}

impl IpEntry {
    /// The first and last address the entry covers.
    fn bounds(&self) -> (IpAddr, IpAddr) {
        match self {
            Self::Single(single) => (*single, *single),
            Self::Cidr(net) => (net.network(), net.broadcast()),
            Self::Range(start, end) => (*start, *end),
        }
    }

    /// Whether every address of `self` is in `other` (one entry covering it whole).
    pub fn is_within(&self, other: &IpEntry) -> bool {
        let (start, end) = self.bounds();
        other.contains(start) && other.contains(end) && {
            let (outer_start, outer_end) = other.bounds();
            outer_start <= start && end <= outer_end
        }
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        match self {
            Self::Single(single) => *single == address,
            Self::Cidr(net) => net.contains(&address),
            Self::Range(start, end) => {
                start.is_ipv4() == address.is_ipv4() && *start <= address && address <= *end
            }
        }
    }
}

/// The system-wide allow-list. Empty = every address allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpAllowList(Vec<IpEntry>);

impl IpAllowList {
    /// Parses every entry; the first bad one is named and nothing is returned.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, InvalidEntry> {
        entries
            .iter()
            .map(|entry| entry.as_ref().parse())
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Comma- or newline-separated text, as typed in the CLI or the UI; blank items are skipped.
    pub fn parse_text(text: &str) -> Result<Self, InvalidEntry> {
        let items: Vec<&str> = text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .collect();
        Self::parse(&items)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn entries(&self) -> &[IpEntry] {
        &self.0
    }

    pub fn allows(&self, address: IpAddr) -> bool {
        self.0.is_empty() || self.0.iter().any(|entry| entry.contains(address))
    }

    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }

    /// Whether every entry lies whole within one entry of `other` (for a non-empty `other`).
    pub fn is_within(&self, other: &IpAllowList) -> bool {
        self.0
            .iter()
            .all(|entry| other.0.iter().any(|outer| entry.is_within(outer)))
    }
}

impl Serialize for IpAllowList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_strings().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for IpAllowList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = Vec::<String>::deserialize(deserializer)?;
        Self::parse(&entries).map_err(serde::de::Error::custom)
    }
}

/// SPEC §2.1: the TCP peer, unless it is a trusted proxy; then the right-most address in
/// `X-Forwarded-For` that is not itself a trusted proxy. An entry that is not an address ends
/// the walk at the last trusted hop (nothing unparseable is ever believed).
pub fn client_address(
    peer: IpAddr,
    forwarded_for: Option<&str>,
    trusted_proxies: &[IpNet],
) -> IpAddr {
    let is_trusted = |address: &IpAddr| {
        trusted_proxies
            .iter()
            .any(|net| canonical_net(*net).contains(address))
    };
    let mut client = canonical(peer);
    if !is_trusted(&client) {
        return client;
    }
    let Some(header) = forwarded_for else {
        return client;
    };
    for hop in header.rsplit(',') {
        let Ok(address) = hop.trim().parse::<IpAddr>().map(canonical) else {
            return client;
        };
        client = address;
        if !is_trusted(&client) {
            return client;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn allow_list_accepts_each_entry_kind() {
        let list = IpAllowList::parse(&[
            "10.0.0.0/8",
            "192.168.1.10-192.168.1.50",
            "2001:db8::1",
            "172.16.0.7",
        ])
        .expect("valid list");
        for inside in [
            "10.1.2.3",
            "192.168.1.10",
            "192.168.1.50",
            "2001:db8::1",
            "172.16.0.7",
            "::ffff:10.9.9.9",
        ] {
            assert!(list.allows(ip(inside)), "{inside}");
        }
        for outside in [
            "11.0.0.1",
            "192.168.1.51",
            "192.168.1.9",
            "2001:db8::2",
            "172.16.0.8",
            "::1",
        ] {
            assert!(!list.allows(ip(outside)), "{outside}");
        }
    }

    #[test]
    fn allow_list_empty_allows_everyone() {
        assert!(IpAllowList::default().allows(ip("203.0.113.5")));
    }

    #[test]
    fn allow_list_mapped_ipv6_entries_match_ipv4_addresses() {
        let list = IpAllowList::parse(&["::ffff:10.0.0.0/104", "::ffff:192.0.2.1"]).expect("valid");
        assert!(list.allows(ip("10.200.0.1")));
        assert!(list.allows(ip("192.0.2.1")));
        assert_eq!(list.to_strings(), vec!["10.0.0.0/8", "192.0.2.1"]);
    }

    #[test]
    fn allow_list_invalid_entry_is_named() {
        let error = IpAllowList::parse(&["10.0.0.0/8", "10.0.0.300", "::1"]).expect_err("invalid");
        assert_eq!(error.entry, "10.0.0.300");
        assert!(error.to_string().contains("10.0.0.300"));
        for bad in [
            "10.0.0.0/33",
            "1.2.3.4-::1",
            "10.0.0.9-10.0.0.1",
            "",
            "host.example",
            "1.2.3.4-",
        ] {
            assert!(bad.parse::<IpEntry>().is_err(), "{bad}");
        }
    }

    #[test]
    fn allow_list_parse_text_splits_commas_and_lines() {
        let list = IpAllowList::parse_text("10.0.0.0/8, 192.168.1.5\n\n::1").expect("valid");
        assert_eq!(list.to_strings(), vec!["10.0.0.0/8", "192.168.1.5", "::1"]);
        assert!(IpAllowList::parse_text("").expect("empty").is_empty());
    }

    #[test]
    fn client_address_ignores_forwarded_for_from_untrusted_peers() {
        let trusted: Vec<IpNet> = vec!["203.0.113.0/24".parse().expect("net")];
        assert_eq!(
            client_address(ip("198.51.100.1"), Some("10.1.2.3"), &trusted),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_address(ip("198.51.100.1"), Some("10.1.2.3"), &[]),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn client_address_walks_trusted_chains_from_the_right() {
        let trusted: Vec<IpNet> = vec![
            "203.0.113.0/24".parse().expect("net"),
            "192.0.2.0/24".parse().expect("net"),
        ];
        let peer = ip("203.0.113.5");
        assert_eq!(
            client_address(peer, Some("10.1.2.3"), &trusted),
            ip("10.1.2.3")
        );
        assert_eq!(
            client_address(peer, Some("198.51.100.7, 10.1.2.3, 192.0.2.9"), &trusted),
            ip("10.1.2.3")
        );
        assert_eq!(
            client_address(peer, Some("10.1.2.3, 198.51.100.7"), &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_address(peer, Some("192.0.2.1"), &trusted),
            ip("192.0.2.1")
        );
        assert_eq!(
            client_address(peer, Some("garbage, 192.0.2.1"), &trusted),
            ip("192.0.2.1")
        );
        assert_eq!(client_address(peer, None, &trusted), peer);
    }

    proptest! {
        #[test]
        fn allow_list_parsing_never_panics(text in "\\PC{0,80}") {
            let _ = text.parse::<IpEntry>();
            let _ = IpAllowList::parse_text(&text);
        }

        #[test]
        fn allow_list_valid_entries_round_trip(a in any::<[u8; 4]>(), b in any::<[u8; 4]>(), prefix in 0u8..=32, v6 in any::<u128>(), prefix6 in 0u8..=128) {
            let (low, high) = if a <= b { (a, b) } else { (b, a) };
            let v4 = |bytes: [u8; 4]| IpAddr::from(bytes);
            let candidates = [
                IpEntry::Single(v4(a)),
                IpEntry::Cidr(IpNet::new(v4(a), prefix).expect("prefix").trunc()),
                IpEntry::Range(v4(low), v4(high)),
                IpEntry::Single(canonical(IpAddr::from(v6.to_be_bytes()))),
                IpEntry::Cidr(canonical_net(IpNet::new(IpAddr::from(v6.to_be_bytes()), prefix6).expect("prefix").trunc())),
            ];
            for entry in candidates {
                let parsed: IpEntry = entry.to_string().parse().expect("round trip parses");
                prop_assert_eq!(parsed, entry);
            }
        }
    }
}
