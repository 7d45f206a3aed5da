//! Which requests are tokengate's own and which go to an upstream: the one definition both the
//! serving loop and the router follow (SPEC §9: paths under `/tokengate/` are never routed).
//! The router sees only tokengate's own paths, so a layer added to it never touches proxied
//! requests; those run through the gateway's phases (`gateway::phases`).

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// `/tokengate/auth`: the forward-auth question, answered without the router (a hot path).
    ForwardAuth,
    /// Every other path under `/tokengate`: the web UI, the REST API, health, whoami.
    Own,
    /// Everything else: through the gateway to a route's upstream.
    Routed,
}

impl Lane {
    pub fn of(path: &str) -> Lane {
        match path.strip_prefix("/tokengate") {
            Some("/auth") => Lane::ForwardAuth,
            Some(rest) if rest.is_empty() || rest.starts_with('/') => Lane::Own,
            _ => Lane::Routed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_under_tokengate_are_never_routed() {
        for (path, lane) in [
            ("/tokengate/auth", Lane::ForwardAuth),
            ("/tokengate/auth/", Lane::Own),
            ("/tokengate", Lane::Own),
            ("/tokengate/", Lane::Own),
            ("/tokengate/api/tokens", Lane::Own),
            ("/tokengateway", Lane::Routed),
            ("/tokengate.html", Lane::Routed),
            ("/", Lane::Routed),
            ("/api/tokengate/auth", Lane::Routed),
            ("/TOKENGATE/auth", Lane::Routed),
        ] {
            assert_eq!(Lane::of(path), lane, "{path}");
        }
    }
}
