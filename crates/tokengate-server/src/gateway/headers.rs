//! Which client headers never reach the upstream as sent (SPEC §2, last paragraph): copies of
//! the identity headers in every spelling (any case, `_` for `-`: a CGI or WSGI upstream reads
//! `X_Authenticated_User` as `HTTP_X_AUTHENTICATED_USER`), and the forwarding headers of a peer
//! that is not a trusted proxy. One pass over the header names; nothing is allocated unless
//! something has to go. It must not add headers: the proxy sets tokengate's own afterwards.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use tokengate_core::decision::Identity;

/// Identity headers scrubbed under their default names whatever is configured.
const FIXED_IDENTITY: [&str; 3] = [
    "x-authenticated-groups",
    "x-authenticated-email",
    "x-request-id",
];

/// Headers describing the path to tokengate: believed (kept) only from a trusted proxy and only
/// in their canonical spelling; tokengate sets `X-Forwarded-For`, `-Proto`, `-Host` and
/// `X-Real-IP` itself.
pub const FORWARDING: [&str; 7] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-real-ip",
];

/// Whether header `name` is `canonical` when case is ignored and `_` reads as `-`.
/// `canonical` is lowercase with dashes.
pub fn same_header(name: &str, canonical: &str) -> bool {
    name.len() == canonical.len()
        && name
            .bytes()
            .zip(canonical.bytes())
            .all(|(byte, wanted)| fold(byte) == fold(wanted))
}

fn fold(byte: u8) -> u8 {
    match byte {
        b'_' => b'-',
        other => other.to_ascii_lowercase(),
    }
}

/// The identity header names of one node (configured; the default names and `X-Request-Id`
/// are scrubbed whatever is configured).
#[derive(Debug, Clone)]
pub struct IdentityHeaders {
    pub user: HeaderName,
    pub via: HeaderName,
    pub groups: HeaderName,
    pub email: HeaderName,
}

impl IdentityHeaders {
    /// Whether `name` is a spelling of one of the identity headers.
    pub fn matches(&self, name: &str) -> bool {
        same_header(name, self.user.as_str())
            || same_header(name, self.via.as_str())
            || same_header(name, self.groups.as_str())
            || same_header(name, self.email.as_str())
            || FIXED_IDENTITY
                .iter()
                .any(|canonical| same_header(name, canonical))
    }

    /// Sets the identity of an allowed request (after [`scrub`]): user, via, and the user's
    /// groups and e-mail when there are any. A value that is not a valid header value is
    /// left out rather than sent mangled.
    pub fn insert(&self, headers: &mut HeaderMap, identity: &Identity) {
        let value = |text: &str| HeaderValue::from_str(text).ok();
        if let Some(user) = identity.user.as_deref().and_then(value) {
            headers.insert(self.user.clone(), user);
        }
        headers.insert(
            self.via.clone(),
            HeaderValue::from_static(identity.via.as_str()),
        );
        if let Some(groups) = Some(identity.groups.as_str())
            .filter(|groups| !groups.is_empty())
            .and_then(value)
        {
            headers.insert(self.groups.clone(), groups);
        }
        if let Some(email) = identity.email.as_deref().and_then(value) {
            headers.insert(self.email.clone(), email);
        }
    }
}

/// What happens to one client header on its way upstream.
fn must_go(name: &str, identity: &IdentityHeaders, trusted_peer: bool) -> bool {
    // Most comparisons end at the length check.
    if identity.matches(name) {
        return true;
    }
    FORWARDING
        .iter()
        .any(|canonical| same_header(name, canonical) && !(trusted_peer && name == *canonical))
}

/// Removes identity headers in every spelling and, unless the peer is a trusted proxy, the
/// forwarding headers (from a trusted proxy only their odd spellings).
pub fn scrub(headers: &mut HeaderMap, identity: &IdentityHeaders, trusted_peer: bool) {
    let mut doomed: Vec<HeaderName> = Vec::new();
    for name in headers.keys() {
        if must_go(name.as_str(), identity, trusted_peer) {
            doomed.push(name.clone());
        }
    }
    for name in &doomed {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_compare_without_case_or_underscores() {
        for spelling in [
            "x-authenticated-user",
            "x_authenticated_user",
            "x-authenticated_user",
            "X_Authenticated_User",
            "X-AUTHENTICATED-USER",
        ] {
            assert!(same_header(spelling, "x-authenticated-user"), "{spelling}");
        }
        assert!(!same_header(
            "x-authenticated-users",
            "x-authenticated-user"
        ));
        assert!(!same_header("x-authenticated.user", "x-authenticated-user"));
        assert!(!same_header("y-authenticated-user", "x-authenticated-user"));
    }

    fn headers(names: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for name in names {
            let name = HeaderName::try_from(*name).expect("name");
            map.append(name, "spoofed".parse().expect("value"));
        }
        map
    }

    #[test]
    fn identity_spellings_go_and_forwarding_headers_go_unless_trusted() {
        let names = crate::config::GatewayConfig::default().identity_headers();
        let sent = [
            "x_authenticated_user",
            "x-authenticated_via",
            "x_request_id",
            "x-authenticated-groups",
            "x_authenticated_email",
            "forwarded",
            "x-real-ip",
            "x_real_ip",
            "x-forwarded-prefix",
            "x_forwarded_for",
            "accept",
            "x-custom",
        ];
        let mut untrusted = headers(&sent);
        scrub(&mut untrusted, &names, false);
        let mut left: Vec<&str> = untrusted.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["accept", "x-custom"]);
        let mut trusted = headers(&sent);
        scrub(&mut trusted, &names, true);
        let mut left: Vec<&str> = trusted.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(
            left,
            [
                "accept",
                "forwarded",
                "x-custom",
                "x-forwarded-prefix",
                "x-real-ip"
            ]
        );
    }
}
