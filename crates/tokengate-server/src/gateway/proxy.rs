//! Reverse proxy to the upstream: streams bodies both ways, drops hop-by-hop headers, strips
//! client copies of the identity headers (and `Authorization` unless configured), sets the
//! identity, and classes failures: refused/unreachable → 502, too slow → 504.

use super::pool::Pool;
use crate::error::ApiError;
use crate::request_id::{RequestId, X_REQUEST_ID};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::Request;
use axum::http::uri::{PathAndQuery, Scheme};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, Version, header};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokengate_core::decision::Identity;

pub struct Upstream {
    /// `Host` for upstream requests (the authority), built once.
    host: Option<HeaderValue>,
    base_path: String,
    timeout: Duration,
    pool: Arc<Pool>,
}

static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

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
    headers.remove(&state.identity_header);
    headers.remove(&state.via_header);
    if !state.config.gateway.forward_authorization {
        headers.remove(header::AUTHORIZATION);
    }
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
    set_forwarded(headers, peer, client, &parts.uri, state.tls());
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

/// `X-Forwarded-For` gains the peer (a trusted proxy's chain is kept, anyone else's replaced by
/// the client address); `X-Forwarded-Proto` and `X-Forwarded-Host` describe the original request.
fn set_forwarded(
    headers: &mut HeaderMap,
    peer: SocketAddr,
    client: std::net::IpAddr,
    uri: &Uri,
    tls: bool,
) {
    let peer_ip = peer.ip().to_canonical();
    let mut buffer = [0u8; 15];
    let value = match (client == peer_ip, super::ip_v4_text(peer_ip, &mut buffer)) {
        // The usual case: the peer is the client, an IPv4 address formatted on the stack.
        (true, Some(text)) => HeaderValue::from_str(text),
        (true, None) => HeaderValue::from_str(&peer_ip.to_string()),
        (false, _) => match super::forwarded_for(headers) {
            Some(existing) => HeaderValue::from_str(&format!("{existing}, {peer_ip}")),
            None => HeaderValue::from_str(&super::ip_text(peer_ip)),
        },
    };
    headers.remove(&super::X_FORWARDED_FOR);
    if let Ok(value) = value {
        headers.insert(super::X_FORWARDED_FOR.clone(), value);
    }
    let proto = if tls { "https" } else { "http" };
    headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static(proto));
    let host = headers.get(header::HOST).cloned().or_else(|| {
        uri.authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    if let Some(host) = host {
        headers.insert(X_FORWARDED_HOST.clone(), host);
    }
}
