//! IP allow-list entries and lists: never panic; what parses is written out in a form that
//! parses back to the same entry, and each entry contains the addresses it names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokengate_core::allowlist::{IpAllowList, IpEntry};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(entry) = text.parse::<IpEntry>() {
        let written = entry.to_string();
        assert_eq!(written.parse::<IpEntry>().ok(), Some(entry), "{written}");
        match entry {
            IpEntry::Single(address) => assert!(entry.contains(address)),
            IpEntry::Range(start, end) => {
                assert!(start <= end);
                assert!(entry.contains(start) && entry.contains(end));
            }
            IpEntry::Cidr(net) => {
                // An address of the other family once canonical (an IPv4-mapped address in
                // an IPv6 range wider than /96) is never matched: IPv6 entries do not admit
                // IPv4 clients.
                for address in [net.network(), net.broadcast()] {
                    let same_family = address.to_canonical().is_ipv4() == net.addr().is_ipv4();
                    assert_eq!(entry.contains(address), same_family, "{entry} and {address}");
                }
            }
        }
    }
    if let Ok(list) = IpAllowList::parse_text(text) {
        let written = list.to_strings().join(",");
        assert_eq!(
            IpAllowList::parse_text(&written).ok(),
            Some(list),
            "{written}"
        );
    }
});
