//! Reverse proxy to the upstream: streams bodies both ways, drops hop-by-hop headers, strips
//! client copies of the identity headers (and `Authorization` unless configured), sets the
//! identity, and classes failures: refused/unreachable → 502, too slow → 504.

use crate::error::ApiError;
use crate::request_id::{RequestId, X_REQUEST_ID};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::Request;
use axum::http::uri::{Authority, PathAndQuery, Scheme};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, Version, header};
use axum::response::{IntoResponse, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::time::Duration;
use tokengate_core::decision::Identity;

pub struct Upstream {
    scheme: Scheme,
    authority: Authority,
    base_path: String,
    timeout: Duration,
    client: Client<HttpConnector, Body>,
}

const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Removes hop-by-hop headers, including those the `Connection` header names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::try_from(name.trim()).ok())
        .collect();
    for name in listed.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
}

impl Upstream {
    pub fn new(url: &str, timeout: Duration) -> Result<Self, String> {
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
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout.min(Duration::from_secs(10))));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(1024)
            .build(connector);
        Ok(Self {
            scheme,
            authority,
            base_path: uri.path().trim_end_matches('/').to_owned(),
            timeout,
            client,
        })
    }

    fn target(&self, original: &Uri) -> Result<Uri, ApiError> {
        let path_and_query = original.path_and_query().map_or("/", PathAndQuery::as_str);
        let joined = format!("{}{}", self.base_path, path_and_query);
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(joined)
            .build()
            .map_err(|_| ApiError::bad_request("invalid_path", "The request path is not valid."))
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
    let request_id = parts
        .extensions
        .get::<RequestId>()
        .map(|id| id.0.clone())
        .unwrap_or_default();
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
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert(X_REQUEST_ID.clone(), value);
    }
    set_forwarded(headers, peer, client, &parts.uri, state.tls());
    if let Ok(host) = HeaderValue::from_str(upstream.authority.as_str()) {
        headers.insert(header::HOST, host);
    }
    parts.uri = target;
    parts.version = Version::HTTP_11;
    let outgoing = Request::from_parts(parts, body);
    match tokio::time::timeout(upstream.timeout, upstream.client.request(outgoing)).await {
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
    let chain = if client == peer_ip {
        peer_ip.to_string()
    } else {
        match super::forwarded_for(headers) {
            Some(existing) => format!("{existing}, {peer_ip}"),
            None => peer_ip.to_string(),
        }
    };
    headers.remove(&super::X_FORWARDED_FOR);
    if let Ok(value) = HeaderValue::from_str(&chain) {
        headers.insert(super::X_FORWARDED_FOR.clone(), value);
    }
    let proto = if tls { "https" } else { "http" };
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(proto),
    );
    let host = headers.get(header::HOST).cloned().or_else(|| {
        uri.authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    if let Some(host) = host {
        headers.insert(HeaderName::from_static("x-forwarded-host"), host);
    }
}
