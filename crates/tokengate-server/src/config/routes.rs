//! `[[routes]]` (SPEC §9): which upstream takes which host and path prefix. The checks here
//! need nothing but the values; the routing table itself is built from them at start-up
//! (`gateway::upstream::RouteTable`).

use super::checks::{check_upstream, shorten};
use serde::{Deserialize, Serialize};

/// One route of the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteConfig {
    /// Shown in the access log and metrics, named by token restrictions: `[a-z0-9_-]`, 1–64.
    pub name: String,
    /// The host this route is for (matched against `Host`, any case, without port); "" = any.
    pub host: String,
    /// Path prefix, matched on a segment boundary; the longest one wins.
    pub path_prefix: String,
    /// `http://host:port[/base]` or `https://…`.
    pub upstream: String,
    /// PEM file of the certificates an `https://` upstream is checked against; "" = the
    /// system's roots.
    pub ca_file: String,
    /// Send the client's `Host` to the upstream (default), or the upstream's own.
    pub preserve_host: bool,
    /// Remove `path_prefix` from the path before it goes to the upstream.
    pub strip_prefix: bool,
    /// Path prefixes of this route forwarded without authentication.
    pub public_paths: Vec<String>,
    /// Whether `Upgrade` requests (WebSocket) may go through.
    pub websocket: bool,
    /// Browsers without credentials are sent to sign in once and reach the upstream by their
    /// session (the gateway cookie `tg_gw`); scripts keep getting 401.
    pub browser_sso: bool,
}

impl Default for RouteConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            host: String::new(),
            path_prefix: "/".to_owned(),
            upstream: String::new(),
            ca_file: String::new(),
            preserve_host: true,
            strip_prefix: false,
            public_paths: Vec::new(),
            websocket: true,
            browser_sso: false,
        }
    }
}

/// The name `[gateway] upstream` gives its route; `tokengate` is the REST API's (SPEC §11).
pub const DEFAULT_ROUTE: &str = "default";
const RESERVED: [&str; 1] = ["tokengate"];

/// Checks every route; the message starts with the key it is about.
pub(super) fn check_routes(routes: &[RouteConfig], shorthand: bool) -> Result<(), String> {
    let mut seen: Vec<(&str, &str, &str)> = Vec::new();
    for (index, route) in routes.iter().enumerate() {
        let key = format!("routes[{index}]");
        check_route(route).map_err(|problem| format!("{key}: {problem}"))?;
        let taken = (shorthand && route.name == DEFAULT_ROUTE)
            || seen.iter().any(|(name, _, _)| *name == route.name);
        if taken {
            return Err(format!(
                "{key}.name: \"{}\" is used twice (`[gateway] upstream` is the route \"default\")",
                route.name
            ));
        }
        let host = route.host.as_str();
        let prefix = route.path_prefix.trim_end_matches('/');
        if let Some((other, _, _)) = seen.iter().find(|(_, other_host, other_prefix)| {
            other_host.eq_ignore_ascii_case(host) && *other_prefix == prefix
        }) {
            return Err(format!(
                "{key}: the same host and path prefix as route \"{other}\": one of them could never be chosen"
            ));
        }
        seen.push((&route.name, host, prefix));
    }
    Ok(())
}

fn check_route(route: &RouteConfig) -> Result<(), String> {
    let name_ok = (1..=64).contains(&route.name.len())
        && route.name.bytes().all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || matches!(byte, b'-' | b'_')
        });
    if !name_ok {
        return Err(format!(
            "name = \"{}\": 1 to 64 of a-z, 0-9, - and _",
            shorten(&route.name)
        ));
    }
    if RESERVED.contains(&route.name.as_str()) {
        return Err(format!("name = \"{}\" is reserved", route.name));
    }
    let host_ok = route
        .host
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.'));
    if !host_ok {
        return Err(format!(
            "host = \"{}\" is not a host name (no scheme, port or path)",
            shorten(&route.host)
        ));
    }
    let prefix = route.path_prefix.as_str();
    if !prefix.starts_with('/') || !tokengate_core::path::is_normalised(prefix) {
        return Err(format!(
            "path_prefix = \"{}\" must start with / and be in normal form",
            shorten(prefix)
        ));
    }
    if crate::lanes::Lane::of(prefix) != crate::lanes::Lane::Routed
        || prefix.trim_end_matches('/') == "/tokengate"
    {
        return Err("path_prefix: paths under /tokengate/ are tokengate's own".into());
    }
    check_upstream(&route.upstream).map_err(|problem| format!("upstream: {problem}"))?;
    let https = route
        .upstream
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"));
    if !route.ca_file.is_empty() && !https {
        return Err("ca_file is for https:// upstreams".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(name: &str, host: &str, prefix: &str) -> RouteConfig {
        RouteConfig {
            name: name.to_owned(),
            host: host.to_owned(),
            path_prefix: prefix.to_owned(),
            upstream: "http://127.0.0.1:9000".to_owned(),
            ..RouteConfig::default()
        }
    }

    #[test]
    fn routes_are_checked_naming_the_route_and_key() {
        let good = [
            route("jira", "", "/jira"),
            route("wiki", "wiki.example.com", "/"),
        ];
        assert!(check_routes(&good, true).is_ok());
        let cases: [(Vec<RouteConfig>, bool, &str); 10] = [
            (vec![route("", "", "/")], false, "routes[0]: name"),
            (vec![route("Jira", "", "/")], false, "routes[0]: name"),
            (vec![route("tokengate", "", "/")], false, "reserved"),
            (vec![route("default", "", "/x")], true, "routes[0].name"),
            (
                vec![route("a", "", "/"), route("a", "", "/b")],
                false,
                "routes[1].name",
            ),
            (
                vec![route("a", "", "/x/"), route("b", "", "/x")],
                false,
                "routes[1]: the same",
            ),
            (vec![route("a", "https://h", "/")], false, "host"),
            (vec![route("a", "", "jira")], false, "path_prefix"),
            (
                vec![route("a", "", "/a/../tokengate")],
                false,
                "path_prefix",
            ),
            (vec![route("a", "", "/tokengate/api")], false, "path_prefix"),
        ];
        for (routes, shorthand, expected) in cases {
            let problem = check_routes(&routes, shorthand).expect_err(expected);
            assert!(problem.contains(expected), "{problem} (wanted {expected})");
        }
        let mut bad_upstream = route("a", "", "/");
        bad_upstream.upstream = "ftp://x".into();
        let problem = check_routes(&[bad_upstream], false).expect_err("scheme");
        assert!(problem.starts_with("routes[0]: upstream"), "{problem}");
        let mut sso = route("a", "", "/");
        sso.browser_sso = true;
        assert!(
            check_routes(&[sso], false).is_ok(),
            "browser_sso is a route option"
        );
    }
}
