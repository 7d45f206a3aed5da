//! Reverse proxy to the upstream: streams bodies both ways, drops hop-by-hop headers, strips
//! client copies of the identity headers in every spelling and an untrusted peer's forwarding
//! headers (`headers`), `Authorization` unless configured, sets the identity and tokengate's
//! own forwarding headers, and classes failures: refused/unreachable → 502, too slow → 504.

use super::headers::{IdentityNames, scrub};
use super::pool::Pool;
use crate::error::ApiError;
use crate::request_id::{RequestId, X_REQUEST_ID};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::Request;
use axum::http::uri::{PathAndQuery, Scheme};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, Version, header};
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokengate_core::decision::{Identity, Via};

pub struct Upstream {
    /// `Host` for upstream requests (the authority), built once.
    host: Option<HeaderValue>,
    base_path: String,
    timeout: Duration,
    pool: Arc<Pool>,
}

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

impl Upstream {
    /// The upstream at `url`, with an idle-connection list for each of `workers` threads.
    pub fn new(url: &str, timeout: Duration, workers: usize) -> Result<Self, String> {
        let uri: Uri = url.parse().map_err(|_| format!("\"{url}\" is not a URL"))?;
        let scheme = uri
            .scheme()
            .cloned()
            .ok_or_else(|| format!("\"{url}\" has no scheme"))?;
        if scheme != Scheme::HTTP {
            return Err(format!("\"{url}\": only http:// upstreams are supported"));
        }
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| format!("\"{url}\" has no host"))?;
        let port = authority.port_u16().unwrap_or(80);
        let pool = Arc::new(Pool::new(
            format!("{}:{port}", authority.host()),
            workers,
            1024,
            Duration::from_secs(60),
            timeout.min(Duration::from_secs(10)),
        ));
        Ok(Self {
            host: HeaderValue::from_str(authority.as_str()).ok(),
            base_path: uri.path().trim_end_matches('/').to_owned(),
            timeout,
            pool,
        })
    }

    fn target(&self, original: &Uri) -> Result<Uri, ApiError> {
        let invalid = || ApiError::bad_request("invalid_path", "The request path is not valid.");
        let path_and_query = match (self.base_path.is_empty(), original.path_and_query()) {
            // No base path: the original, already parsed, is the target's (no copy).
            (true, Some(path_and_query)) => path_and_query.clone(),
            (true, None) => PathAndQuery::from_static("/"),
            (false, original) => {
                let path_and_query = original.map_or("/", PathAndQuery::as_str);
                let joined = format!("{}{}", self.base_path, path_and_query);
                PathAndQuery::try_from(joined).map_err(|_| invalid())?
            }
        };
        // Origin-form: the connection is to the upstream itself, `Host` names it.
        Ok(Uri::from(path_and_query))
    }
}

/// Forwards `request` with `identity` (none for public paths and anonymous requests).
pub async fn forward(
    state: &AppState,
    upstream: &Upstream,
    peer: SocketAddr,
    client: std::net::IpAddr,
    identity: Option<&Identity>,
    request: Request,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let request_id = match parts.extensions.get::<RequestId>() {
        Some(id) => HeaderValue::from_str(&id.0).ok(),
        // Without the middleware (tests): an empty id, as ever.
        None => Some(HeaderValue::from_static("")),
    };
    let target = match upstream.target(&parts.uri) {
        Ok(target) => target,
        Err(error) => return error.into_response(),
    };
    let headers = &mut parts.headers;
    strip_hop_by_hop(headers);
    let peer_ip = peer.ip().to_canonical();
    let trusted_peer = state
        .policy
        .trusted_proxies
        .iter()
        .any(|net| net.contains(&peer_ip));
    let names = IdentityNames {
        identity: &state.identity_header,
        via: &state.via_header,
    };
    scrub(headers, &names, trusted_peer);
    keep_checked_authorization(
        headers,
        state.config.gateway.forward_authorization,
        identity,
    );
    if let Some(identity) = identity {
        if let Some(user) = identity
            .user
            .as_deref()
            .and_then(|user| HeaderValue::from_str(user).ok())
        {
            headers.insert(state.identity_header.clone(), user);
        }
        headers.insert(
            state.via_header.clone(),
            HeaderValue::from_static(identity.via.as_str()),
        );
    }
    if let Some(value) = request_id {
        headers.insert(X_REQUEST_ID.clone(), value);
    }
    set_forwarded(
        headers,
        peer_ip,
        client,
        trusted_peer,
        &parts.uri,
        state.tls(),
    );
    if let Some(host) = &upstream.host {
        headers.insert(header::HOST, host.clone());
    }
    parts.uri = target;
    parts.version = Version::HTTP_11;
    let outgoing = Request::from_parts(parts, body);
    match tokio::time::timeout(upstream.timeout, upstream.pool.send(outgoing)).await {
        Ok(Ok(response)) => {
            state.metrics.upstream(Some(response.status().as_u16()));
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, Body::new(body))
        }
        Ok(Err(error)) => {
            state.metrics.upstream(None);
            tracing::warn!(%error, "upstream request failed");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_unavailable",
                "The upstream API could not be reached.",
            )
            .into_response()
        }
        Err(_) => {
            state.metrics.upstream(None);
            tracing::warn!(timeout_s = upstream.timeout.as_secs(), "upstream timed out");
            ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_timeout",
                "The upstream API did not answer in time.",
            )
            .into_response()
        }
    }
}

/// `Authorization` goes on only when `forward_authorization` is set and it is the one that was
/// checked: the first (two are refused before the decision, see `request_id`), and never on a
/// public path or an anonymous request, where nothing was checked.
fn keep_checked_authorization(
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
fn set_forwarded(
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
