//! What one token may reach (SPEC §11): `access` (read = GET, HEAD, OPTIONS; write = all),
//! path prefixes, route names, and the token's own IP allow-list. Checked in SPEC §2 step 4
//! after expiry, the owner's state and the permissions. Paths are compared as sent, before
//! any decoding: a path that could mean something else once decoded or normalised (a dot
//! segment, a backslash, an encoded `.`, `/`, `\` or `;`) matches no prefix at all.

use crate::allowlist::IpAllowList;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// The most path prefixes or routes one token may name.
pub const MAX_ENTRIES: usize = 50;

/// Read (GET, HEAD, OPTIONS) or write (every method).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Read,
    #[default]
    Write,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }

    /// Whether `method` is within this access. An unknown method is not.
    pub fn allows(self, method: Option<&str>) -> bool {
        match self {
            Self::Write => true,
            Self::Read => matches!(method, Some("GET" | "HEAD" | "OPTIONS")),
        }
    }
}

/// A token's restrictions. The default restricts nothing. (No `deny_unknown_fields`: the
/// token object carries these fields flattened beside its own; requests are checked by the
/// REST layer's own input types.)
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Restrictions {
    pub access: Access,
    /// Path prefixes; empty = every path.
    pub paths: Vec<String>,
    /// Route names; empty = every route. tokengate's own API is the route `tokengate`.
    pub routes: Vec<String>,
    /// The token's own allow-list, checked after the global one; empty = every address.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub ip_allowlist: IpAllowList,
}

/// Why a request is outside a token's restrictions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outside {
    /// The client address (403 `token_ip_not_allowed`).
    Address,
    /// The method (403 `token_scope_denied`).
    Method,
    /// The path (403 `token_scope_denied`).
    Path,
    /// The route (403 `token_scope_denied`).
    Route,
}

/// What a request is, for the restriction check: `None` where it is not known (forward-auth
/// from an untrusted peer), which restricted tokens are refused for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reach<'a> {
    pub method: Option<&'a str>,
    /// The request asks for more than its method says: a method-override header naming a
    /// method that writes (`X-HTTP-Method-Override: DELETE` on a `GET`), or an upgrade to a
    /// WebSocket (a channel both ways). A read-only token is refused it.
    pub writes: bool,
    /// The path as sent (a query is ignored).
    pub path: Option<&'a str>,
    pub route: Option<&'a str>,
}

impl Restrictions {
    pub fn is_unrestricted(&self) -> bool {
        *self == Self::default()
    }

    /// Checks every entry: paths start with `/` and have no control characters or spaces,
    /// route names are route names, at most [`MAX_ENTRIES`] of each. The error names the
    /// first bad entry.
    pub fn validate(&self) -> Result<(), String> {
        if self.paths.len() > MAX_ENTRIES || self.routes.len() > MAX_ENTRIES {
            return Err(format!(
                "at most {MAX_ENTRIES} paths and {MAX_ENTRIES} routes"
            ));
        }
        if let Some(bad) = self.paths.iter().find(|path| !is_valid_prefix(path)) {
            return Err(format!(
                "path \"{}\": a path prefix starts with / and has no spaces, control characters, dot segments or encoded separators",
                bad.escape_debug()
            ));
        }
        if let Some(bad) = self.routes.iter().find(|route| !is_valid_route_name(route)) {
            return Err(format!(
                "route \"{}\": route names are 1 to 64 of a-z 0-9 - _",
                bad.escape_debug()
            ));
        }
        Ok(())
    }

    /// The first restriction `reach` from `client` is outside of, in the order of SPEC §2.4:
    /// the token's allow-list, access, paths, routes.
    pub fn outside(&self, client: IpAddr, reach: &Reach<'_>) -> Option<Outside> {
        if !self.ip_allowlist.allows(client) {
            return Some(Outside::Address);
        }
        if !self.access.allows(reach.method) || (self.access == Access::Read && reach.writes) {
            return Some(Outside::Method);
        }
        if !self.paths.is_empty()
            && !reach
                .path
                .is_some_and(|path| self.paths.iter().any(|prefix| path_within(prefix, path)))
        {
            return Some(Outside::Path);
        }
        if !self.routes.is_empty()
            && !reach
                .route
                .is_some_and(|route| self.routes.iter().any(|name| name == route))
        {
            return Some(Outside::Route);
        }
        None
    }

    /// Whether these restrictions are at least as narrow as `wider`'s: a token made by a
    /// token may not reach more than its maker (SPEC §11).
    pub fn within(&self, wider: &Restrictions) -> bool {
        let access = wider.access == Access::Write || self.access == Access::Read;
        let paths = wider.paths.is_empty()
            || (!self.paths.is_empty()
                && self
                    .paths
                    .iter()
                    .all(|path| wider.paths.iter().any(|outer| path_within(outer, path))));
        let routes = wider.routes.is_empty()
            || (!self.routes.is_empty()
                && self.routes.iter().all(|route| wider.routes.contains(route)));
        let addresses = wider.ip_allowlist.is_empty()
            || (!self.ip_allowlist.is_empty() && self.ip_allowlist.is_within(&wider.ip_allowlist));
        access && paths && routes && addresses
    }
}

/// Route names: 1 to 64 of `a-z 0-9 - _`.
pub fn is_valid_route_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || matches!(byte, b'-' | b'_')
        })
}

fn is_valid_prefix(prefix: &str) -> bool {
    prefix.starts_with('/')
        && prefix.len() <= 1024
        && !prefix.contains('?')
        && !prefix.chars().any(|c| c.is_control() || c.is_whitespace())
        && !is_ambiguous(prefix)
}

/// Whether `path` (as sent; a query is cut off) is `prefix` itself or below it at a `/`
/// boundary. A trailing `/` on the prefix changes nothing. An ambiguous path matches nothing.
pub fn path_within(prefix: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    if is_ambiguous(path) {
        return false;
    }
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return true; // "/" covers every path
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// A path that may mean another path once a server decodes or normalises it: a segment of
/// dots (`.`, `..`, also `...` and with spaces or tabs, raw or encoded, which Windows servers
/// trim away; also before a `;` parameter, as in `..;`), a backslash, or an encoded `.`, `/`,
/// `\`, `;` or `%` (an upstream that decodes twice would see one of those), an encoded control
/// character (`%00` ends a path in C), an IIS `%u` escape, or an overlong UTF-8 lead byte
/// (`%c0%ae` is `.` to a lax decoder).
fn is_ambiguous(path: &str) -> bool {
    // One pass over the bytes, no allocation: this runs on every request of a path-restricted
    // token. `name_end` is where a `;` ends the current segment's name.
    let bytes = path.as_bytes();
    let mut segment_start = 0;
    let mut name_end = None;
    for (index, &byte) in bytes.iter().enumerate() {
        match byte {
            b'\\' => return true,
            b'%' if is_encoded_separator(&bytes[index + 1..]) => return true,
            b';' if name_end.is_none() => name_end = Some(index),
            b'/' => {
                if is_dot_name(&bytes[segment_start..name_end.unwrap_or(index)]) {
                    return true;
                }
                segment_start = index + 1;
                name_end = None;
            }
            _ => {}
        }
    }
    is_dot_name(&bytes[segment_start..name_end.unwrap_or(bytes.len())])
}

/// What follows a `%` that makes a path ambiguous: `2e` (`.`), `2f` (`/`), `25` (`%`), `5c`
/// (`\`), `3b` (`;`), `00`–`1f` and `7f` (control characters), `c0`/`c1` (overlong UTF-8), or
/// `u` (IIS's `%u002e`), in either case.
fn is_encoded_separator(after: &[u8]) -> bool {
    match after {
        [b'u' | b'U', ..] => true,
        [first, second, ..] => {
            let (first, second) = (first.to_ascii_lowercase(), second.to_ascii_lowercase());
            matches!(
                (first, second),
                (b'2', b'e' | b'f' | b'5')
                    | (b'5', b'c')
                    | (b'3', b'b')
                    | (b'7', b'f')
                    | (b'c', b'0' | b'1')
            ) || (matches!(first, b'0' | b'1') && second.is_ascii_hexdigit())
        }
        _ => false,
    }
}

/// A segment name of dots, with any spaces or tabs (raw, `%20`, `%09`) around or between them.
fn is_dot_name(name: &[u8]) -> bool {
    let mut dots = 0;
    let mut rest = name;
    while let Some((&byte, after)) = rest.split_first() {
        rest = match byte {
            b'.' => {
                dots += 1;
                after
            }
            b' ' | b'\t' => after,
            b'%' if matches!(after, [b'2', b'0', ..] | [b'0', b'9', ..]) => &after[2..],
            _ => return false,
        };
    }
    dots > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule as first written (lower-case copy, five searches, split at `/` and `;`): the
    /// one-pass [`is_ambiguous`] must agree with it on every path.
    fn is_ambiguous_by_search(path: &str) -> bool {
        let lower = path.to_ascii_lowercase();
        let encoded_control = lower.as_bytes().windows(3).any(|window| {
            window[0] == b'%' && matches!(window[1], b'0' | b'1') && window[2].is_ascii_hexdigit()
        });
        path.contains('\\')
            || encoded_control
            || lower.contains("%u")
            || ["%2e", "%2f", "%5c", "%3b", "%25", "%7f", "%c0", "%c1"]
                .iter()
                .any(|encoded| lower.contains(encoded))
            || path.split('/').any(|segment| {
                let name = segment.split(';').next().unwrap_or(segment);
                let bare = name
                    .replace("%20", "")
                    .replace("%09", "")
                    .replace([' ', '\t'], "");
                !bare.is_empty() && bare.chars().all(|c| c == '.')
            })
    }

    #[test]
    fn the_one_pass_ambiguity_check_agrees_with_the_searching_one_on_every_short_path() {
        let alphabet = [
            '/', '.', ';', '%', '2', 'e', 'f', '5', 'c', 'B', '3', '\\', 'a', '0', 'u', ' ',
        ];
        let mut paths = vec![String::new()];
        for _ in 0..5 {
            let longer: Vec<String> = paths
                .iter()
                .filter(|path| path.len() == paths.last().map_or(0, String::len))
                .flat_map(|path| alphabet.iter().map(move |c| format!("{path}{c}")))
                .collect();
            paths.extend(longer);
        }
        assert!(paths.len() > 500_000);
        for path in &paths {
            let with_root = format!("/x{path}");
            for candidate in [path.as_str(), with_root.as_str()] {
                assert_eq!(
                    is_ambiguous(candidate),
                    is_ambiguous_by_search(candidate),
                    "{candidate:?}"
                );
            }
        }
    }

    fn paths(list: &[&str]) -> Restrictions {
        Restrictions {
            paths: list.iter().map(|path| (*path).to_owned()).collect(),
            ..Restrictions::default()
        }
    }

    #[test]
    fn a_prefix_matches_itself_and_below_it_at_a_slash_only() {
        assert!(path_within("/rest/api", "/rest/api"));
        assert!(path_within("/rest/api", "/rest/api/2"));
        assert!(path_within("/rest/api/", "/rest/api/2"));
        assert!(path_within("/rest/api/", "/rest/api"));
        assert!(!path_within("/rest/api", "/rest/apis"));
        assert!(!path_within("/rest/api", "/rest"));
        assert!(path_within("/", "/anything"));
        assert!(path_within("/rest/api", "/rest/api?x=/other"));
    }

    #[test]
    fn ambiguous_paths_match_nothing_in_any_spelling() {
        for path in [
            "/rest/api/../admin",
            "/rest/api/./x",
            "/rest/api/..;/admin",
            "/rest/api/.;x/y",
            "/rest/api/%2e%2e/admin",
            "/rest/api/%2E%2E/admin",
            "/rest/api%2fadmin",
            "/rest/api%2Fadmin",
            "/rest/api/x%5c..",
            "/rest/api/x%3b",
            "/rest/api\\..\\admin",
            "/rest/api/..",
            "/rest/api/%252e%252e/admin",
            // Encoded control characters, IIS %u, overlong UTF-8, dots with spaces.
            "/rest/api/..%00/admin",
            "/rest/api/x%00.json",
            "/rest/api/x%0a",
            "/rest/api/x%7F",
            "/rest/api/%u002e%u002e/admin",
            "/rest/api/%U002E",
            "/rest/api/x%u",
            "/rest/api/%c0%ae%c0%ae/admin",
            "/rest/api/%C1%9C",
            "/rest/api/..%20/admin",
            "/rest/api/.. /admin",
            "/rest/api/%20..%09/admin",
            "/rest/api/.%20./admin",
            "/rest/api/.../admin",
            "/rest/api/..%20",
        ] {
            assert!(!path_within("/rest/api", path), "{path}");
            assert!(!path_within("/", path), "{path}");
        }
        assert!(path_within("/rest/api", "/rest/api/v1.2/x..y"));
        for fine in [
            "/rest/api/My%20Page",
            "/rest/api/a%20.b",
            "/rest/api/%e2%82%ac",
            "/rest/api/x%41",
        ] {
            assert!(path_within("/rest/api", fine), "{fine}");
        }
    }

    #[test]
    fn the_order_is_address_access_paths_routes_and_unknowns_are_refused() {
        let client: IpAddr = "203.0.113.5".parse().expect("address");
        let all = Restrictions {
            access: Access::Read,
            paths: vec!["/status".into()],
            routes: vec!["jira".into()],
            ip_allowlist: IpAllowList::parse(&["10.0.0.0/8"]).expect("list"),
        };
        let reach = Reach {
            writes: false,
            method: Some("POST"),
            path: Some("/admin"),
            route: Some("wiki"),
        };
        assert_eq!(all.outside(client, &reach), Some(Outside::Address));
        let inside: IpAddr = "10.1.1.1".parse().expect("address");
        assert_eq!(all.outside(inside, &reach), Some(Outside::Method));
        let get = Reach {
            writes: false,
            method: Some("GET"),
            ..reach
        };
        assert_eq!(all.outside(inside, &get), Some(Outside::Path));
        let status = Reach {
            writes: false,
            path: Some("/status/db"),
            ..get
        };
        assert_eq!(all.outside(inside, &status), Some(Outside::Route));
        let jira = Reach {
            writes: false,
            route: Some("jira"),
            ..status
        };
        assert_eq!(all.outside(inside, &jira), None);
        assert_eq!(
            all.outside(inside, &Reach::default()),
            Some(Outside::Method),
            "an unknown method is not a read"
        );
        assert_eq!(
            paths(&["/x"]).outside(inside, &Reach::default()),
            Some(Outside::Path),
            "an unknown path is outside every prefix"
        );
        assert_eq!(
            Restrictions::default().outside(client, &Reach::default()),
            None
        );
    }

    #[test]
    fn narrower_restrictions_are_within_wider_ones_and_never_the_reverse() {
        let open = Restrictions::default();
        let read = Restrictions {
            access: Access::Read,
            ..Restrictions::default()
        };
        assert!(read.within(&open));
        assert!(!open.within(&read));
        assert!(paths(&["/a/b"]).within(&paths(&["/a"])));
        assert!(!paths(&["/a"]).within(&paths(&["/a/b"])));
        assert!(!open.within(&paths(&["/a"])), "no paths = every path");
        let routes = |list: &[&str]| Restrictions {
            routes: list.iter().map(|route| (*route).to_owned()).collect(),
            ..Restrictions::default()
        };
        assert!(routes(&["jira"]).within(&routes(&["jira", "wiki"])));
        assert!(!routes(&["jira", "ci"]).within(&routes(&["jira"])));
        let addresses = |list: &[&str]| Restrictions {
            ip_allowlist: IpAllowList::parse(list).expect("list"),
            ..Restrictions::default()
        };
        assert!(addresses(&["10.1.0.0/16"]).within(&addresses(&["10.0.0.0/8"])));
        assert!(!addresses(&["10.0.0.0/8"]).within(&addresses(&["10.1.0.0/16"])));
        assert!(!open.within(&addresses(&["10.0.0.0/8"])));
    }

    #[test]
    fn bad_entries_are_named() {
        for (bad, named) in [
            (paths(&["relative"]), "relative"),
            (paths(&["/a b"]), "/a b"),
            (paths(&["/a/../b"]), "/a/../b"),
            (paths(&["/a%2fb"]), "/a%2fb"),
        ] {
            let problem = bad.validate().expect_err("bad");
            assert!(problem.contains(named), "{problem}");
        }
        let route = Restrictions {
            routes: vec!["Jira!".into()],
            ..Restrictions::default()
        };
        assert!(route.validate().expect_err("bad").contains("Jira!"));
        let json = serde_json::json!({"access": "read", "paths": ["/x"], "routes": [], "ip_allowlist": ["10.0.0.0/33"]});
        assert!(serde_json::from_value::<Restrictions>(json).is_err());
        let json = serde_json::json!({"access": "none"});
        assert!(serde_json::from_value::<Restrictions>(json).is_err());
    }
}
