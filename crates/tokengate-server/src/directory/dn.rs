//! Distinguished names (RFC 4514) as far as tokengate reads them: the value of a DN's first
//! RDN, unescaped (the group name in `cn=tokengate-admins,ou=groups,dc=example,dc=com`). Pure.

/// The value of the first RDN of `dn` (`cn=Smith\, John,ou=people` → `Smith, John`), or
/// `None` when `dn` does not start with `type=value`. Of a multi-valued RDN (`cn=a+uid=b`),
/// the first value.
pub fn first_rdn_value(dn: &str) -> Option<String> {
    let (attribute, rest) = dn.split_once('=')?;
    let attribute = attribute.trim();
    if attribute.is_empty() || attribute.contains([',', '+', '\\', '"']) {
        return None;
    }
    let raw = rest.trim_start();
    if let Some(hex) = raw.strip_prefix('#') {
        // A BER-encoded value: keep it as written, it names nothing readable.
        let end = hex.find([',', '+', ';']).unwrap_or(hex.len());
        return Some(format!("#{}", &hex[..end]));
    }
    let value = if let Some(quoted) = raw.strip_prefix('"') {
        unescape_until(quoted, |byte| byte == b'"')?
    } else {
        unescape_until(raw, |byte| matches!(byte, b',' | b'+' | b';'))?
    };
    let value = value.trim_end_matches(' ').to_owned();
    (!value.is_empty()).then_some(value)
}

/// `text` up to the first unescaped byte for which `stop` holds, with `\X` and `\HH` escapes
/// undone. `None` when an escape is cut short or the bytes are not UTF-8.
fn unescape_until(text: &str, stop: impl Fn(u8) -> bool) -> Option<String> {
    let bytes = text.as_bytes();
    let mut value = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if stop(byte) {
            break;
        }
        if byte != b'\\' {
            value.push(byte);
            index += 1;
            continue;
        }
        let next = *bytes.get(index + 1)?;
        match bytes.get(index + 1..index + 3).and_then(hex_byte) {
            Some(decoded) => {
                value.push(decoded);
                index += 3;
            }
            None => {
                value.push(next);
                index += 2;
            }
        }
    }
    String::from_utf8(value).ok()
}

fn hex_byte(pair: &[u8]) -> Option<u8> {
    let text = std::str::from_utf8(pair).ok()?;
    if !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    u8::from_str_radix(text, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_rdn_value_is_read_with_its_escapes_undone() {
        let cases = [
            (
                "cn=tokengate-admins,ou=groups,dc=example,dc=com",
                "tokengate-admins",
            ),
            (
                "CN=Domain Users,CN=Users,DC=corp,DC=example",
                "Domain Users",
            ),
            (
                "cn=Smith\\, John,ou=people,dc=example,dc=com",
                "Smith, John",
            ),
            ("cn=a\\2Cb,dc=x", "a,b"),
            ("cn = spaced ,dc=x", "spaced"),
            ("cn=C\\C3\\A9line,dc=x", "Céline"),
            ("cn=\"quoted, value\",dc=x", "quoted, value"),
            ("cn=first+uid=second,dc=x", "first"),
            ("cn=back\\\\slash,dc=x", "back\\slash"),
            ("cn=only", "only"),
            ("ou=legacy;dc=x", "legacy"),
        ];
        for (dn, expected) in cases {
            assert_eq!(first_rdn_value(dn).as_deref(), Some(expected), "{dn}");
        }
    }

    #[test]
    fn dns_without_a_readable_first_value_give_none() {
        for dn in [
            "",
            "no-equals-sign",
            "=value,dc=x",
            "cn=,dc=x",
            "cn=cut\\",
            "cn=\\FF,dc=x",
        ] {
            assert_eq!(first_rdn_value(dn), None, "{dn}");
        }
    }
}
