//! The header rules of the upstream request (the proxy's upstream request filter and response
//! filter): hop-by-hop headers go both ways, `Authorization` goes on only when configured and
//! checked, and tokengate's own forwarding headers describe the original request.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri, header};
use std::net::IpAddr;
use tokengate_core::decision::{Identity, Via};

static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

const HOP_COUNT: usize = 8;
const HOP_BY_HOP: [HeaderName; HOP_COUNT] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Removes hop-by-hop headers, including those the `Connection` header names. One pass over
/// the names finds which are present (usually none in a request, `Connection` alone in a
/// response), so absent ones cost no lookup.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let mut present = [false; HOP_COUNT];
    for name in headers.keys() {
        if let Some(index) = HOP_BY_HOP.iter().position(|hop| hop == name) {
            present[index] = true;
        }
    }
    if !present.contains(&true) {
        // No `Connection` header either, so no listed names.
        return;
    }
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        // keep-alive is in HOP_BY_HOP: removed below when present.
        .filter(|name| !name.eq_ignore_ascii_case("keep-alive"))
        .filter_map(|name| HeaderName::try_from(name).ok())
        .collect();
    for name in &listed {
        headers.remove(name);
    }
    for (name, present) in HOP_BY_HOP.iter().zip(present) {
        if present {
            headers.remove(name);
        }
    }
}

/// `Authorization` goes on only when `forward_authorization` is set and it is the one that was
/// checked: the first (two are refused before the decision, see `request_id`), and never on a
/// public path or an anonymous request, where nothing was checked.
pub fn keep_checked_authorization(
    headers: &mut HeaderMap,
    forward_authorization: bool,
    identity: Option<&Identity>,
) {
    let checked = identity.is_some_and(|identity| identity.via != Via::Anonymous);
    if !(forward_authorization && checked) {
        headers.remove(header::AUTHORIZATION);
        return;
    }
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    if let (Some(first), Some(_)) = (values.next(), values.next()) {
        let first = first.clone();
        headers.insert(header::AUTHORIZATION, first);
    }
}

/// `X-Forwarded-For` gains the peer (a trusted proxy's chain is kept, anyone else's replaced by
/// the client address); `X-Forwarded-Proto` and `X-Forwarded-Host` describe the original
/// request (a trusted proxy's own are kept: it saw the original); `X-Real-IP` is the client
/// address as tokengate determined it (SPEC §2.1). `scrub` has removed an untrusted peer's.
pub fn set_forwarded(
    headers: &mut HeaderMap,
    peer_ip: IpAddr,
    client: IpAddr,
    trusted_peer: bool,
    uri: &Uri,
    tls: bool,
) {
    let mut buffer = [0u8; 15];
    let value = match (trusted_peer, super::ip_v4_text(peer_ip, &mut buffer)) {
        // The usual case: the peer is the client, an IPv4 address formatted on the stack.
        (false, Some(text)) => HeaderValue::from_str(text),
        (false, None) => HeaderValue::from_str(&peer_ip.to_string()),
        (true, _) => match super::forwarded_for(headers) {
            Some(existing) => HeaderValue::from_str(&format!("{existing}, {peer_ip}")),
            None => HeaderValue::from_str(&super::ip_text(peer_ip)),
        },
    };
    headers.remove(&super::X_FORWARDED_FOR);
    let real_ip = if client == peer_ip {
        value.as_ref().ok().cloned()
    } else {
        HeaderValue::from_str(&super::ip_text(client)).ok()
    };
    if let Ok(value) = value {
        headers.insert(super::X_FORWARDED_FOR.clone(), value);
    }
    if let Some(real_ip) = real_ip {
        headers.insert(X_REAL_IP.clone(), real_ip);
    }
    if !(trusted_peer && headers.contains_key(&X_FORWARDED_PROTO)) {
        let proto = if tls { "https" } else { "http" };
        headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static(proto));
    }
    if trusted_peer && headers.contains_key(&X_FORWARDED_HOST) {
        return;
    }
    let host = headers.get(header::HOST).cloned().or_else(|| {
        uri.authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    if let Some(host) = host {
        headers.insert(X_FORWARDED_HOST.clone(), host);
    }
}
