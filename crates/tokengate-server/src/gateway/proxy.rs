//! The reverse proxy: tokengate's phases ([`super::phases`]) for a request to a routed path.
//! Bodies stream both ways; hop-by-hop headers go; client copies of the identity headers in
//! every spelling and an untrusted peer's forwarding headers go (`headers`); `Authorization`
//! goes unless configured; the identity and tokengate's own forwarding headers are set
//! (`forwarding`); an upstream that cannot be reached is 502, one too slow 504.

use super::forwarding::{keep_checked_authorization, set_forwarded, strip_hop_by_hop};
use super::headers::scrub;
use super::phases::{ProxyPhases, Session, Upgrade, Upstreamed, run};
use super::sso;
use super::upstream::{Route, SendFailure};
use super::{gate, is_public, refusal};
use crate::access_log::AccessFacts;
use crate::error::ApiError;
use crate::request_id::{RequestId, X_REQUEST_ID};
use crate::sockets::Opener;
use crate::state::AppState;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, Version, header, request, response};
use axum::response::{Html, IntoResponse, Response};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::ops::ControlFlow::{self, Break, Continue};
use tokengate_core::credentials::{Credentials, parse_authorization};
use tokengate_core::decision::{Identity, Reach, Via};
use tokengate_core::token::TokenSecret;

/// Serves a request to a path outside `/tokengate/`.
pub async fn serve(state: &AppState, peer: SocketAddr, request: Request) -> Response {
    run(&Gateway { state }, peer, request).await
}

/// The gateway's phases over the node's state.
pub struct Gateway<'s> {
    pub state: &'s AppState,
}

const NO_UPSTREAM_PAGE: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>tokengate</title></head>\
<body><h1>tokengate is running</h1><p>No upstream API is configured, so only forward-auth \
(<code>/tokengate/auth</code>), <code>/tokengate/whoami</code>, the web UI and the REST API are served.</p>\
<p>To protect an API as a reverse proxy, set <code>upstream</code> in the <code>[gateway]</code> section of \
<code>tokengate.toml</code> (or <code>TOKENGATE_GATEWAY__UPSTREAM=http://127.0.0.1:9000</code>) and restart.</p>\
<p><a href=\"/tokengate/\">Manage your API tokens</a></p></body></html>";

impl ProxyPhases for Gateway<'_> {
    fn upstream_peer(&self, request: &request::Parts) -> ControlFlow<Response, &Route> {
        let routes = &self.state.routes;
        let path = request.uri.path();
        if routes.is_empty() {
            if path == "/" {
                return Break(Html(NO_UPSTREAM_PAGE).into_response());
            }
            return Break(ApiError::not_found("No upstream API is configured.").into_response());
        }
        let host = || {
            // HTTP/1.1's Host, or HTTP/2's :authority.
            let host = match request.headers.get(header::HOST) {
                Some(host) => host.to_str().ok()?,
                None => request.uri.authority()?.as_str(),
            };
            Some(match host.strip_prefix('[') {
                // An IPv6 literal: `[::1]` or `[::1]:8080`.
                Some(literal) => literal.split(']').next().unwrap_or(literal),
                None => host.split(':').next().unwrap_or(host),
            })
        };
        match routes.choose(host, path) {
            Some(route) => Continue(route),
            None => Break(
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "no_route",
                    "No route of this gateway takes this path.",
                )
                .into_response(),
            ),
        }
    }

    async fn request_filter(
        &self,
        session: &mut Session<'_>,
        request: &request::Parts,
    ) -> ControlFlow<Response> {
        if is_public(&session.route.public_paths, request.uri.path()) {
            return Continue(());
        }
        let reach = Reach {
            writes: super::writes::asks_to_write(&request.headers),
            method: Some(request.method.as_str()),
            path: Some(request.uri.path()),
            route: Some(&session.route.name),
        };
        let mut decision = gate(self.state, session.peer, &request.headers, reach).await;
        if session.route.browser_sso && !decision.is_allowed() {
            decision = match sso::browser(self.state, request, decision).await {
                sso::Browser::Allowed(allowed) => {
                    if let Some(identity) = allowed.identity() {
                        let route = Some(&*session.route.name);
                        let now = chrono::Utc::now();
                        self.state
                            .usage_counts
                            .count(identity, allowed.client, route, now);
                    }
                    allowed
                }
                sso::Browser::SignIn(redirect) => return Break(redirect),
                sso::Browser::Refused(refused) => refused,
            };
        }
        session.client = decision.client;
        match decision.identity() {
            Some(identity) => {
                session.identity = Some(identity.clone());
                Continue(())
            }
            None => Break(refusal(&decision)),
        }
    }

    fn upstream_request_filter(
        &self,
        session: &mut Session<'_>,
        parts: &mut request::Parts,
    ) -> ControlFlow<Response> {
        let state = self.state;
        // Read before the hop-by-hop headers go: a WebSocket the route lets through.
        let upgrade = super::writes::websocket_asked(&parts.headers)
            .filter(|_| session.route.websocket)
            .map(|protocol| {
                let opener = session.identity.as_ref().and_then(|identity| {
                    let reached = (session.client, parts.uri.path(), &*session.route.name);
                    opener(identity, &parts.headers, reached)
                });
                (protocol, opener)
            });
        let upstream = &session.route.upstream;
        let target = match session.route.target(&parts.uri) {
            Ok(target) => target,
            Err(error) => return Break(error.into_response()),
        };
        let request_id = match parts.extensions.get::<RequestId>() {
            Some(id) => HeaderValue::from_str(&id.0).ok(),
            // Outside the entrance (tests): an empty id, as ever.
            None => Some(HeaderValue::from_static("")),
        };
        let headers = &mut parts.headers;
        // `TE: trailers` is the one TE an HTTP/2 peer may send, and gRPC needs it end to end.
        let trailers = headers
            .get_all(header::TE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .any(|value| {
                value
                    .split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case("trailers"))
            });
        strip_hop_by_hop(headers);
        sso::strip_gateway_cookie(headers);
        if trailers {
            headers.insert(header::TE, HeaderValue::from_static("trailers"));
        }
        let peer_ip = session.peer.ip().to_canonical();
        let trusted_peer = state
            .policy
            .trusted_proxies
            .iter()
            .any(|net| net.contains(&peer_ip));
        scrub(headers, &state.identity_headers, trusted_peer);
        let identity = session.identity.as_ref();
        keep_checked_authorization(
            headers,
            state.config.gateway.forward_authorization,
            identity,
        );
        if let Some(identity) = identity {
            state.identity_headers.insert(headers, identity);
        }
        if let Some(value) = request_id {
            headers.insert(X_REQUEST_ID.clone(), value);
        }
        let tls = state.tls();
        set_forwarded(
            headers,
            peer_ip,
            session.client,
            trusted_peer,
            &parts.uri,
            tls,
        );
        // The client's name for the site: Host, or an HTTP/2 request's :authority.
        let client_host = match headers.get(header::HOST) {
            Some(host) => Some(host.clone()),
            None => parts
                .uri
                .authority()
                .and_then(|authority| HeaderValue::from_str(authority.as_str()).ok()),
        };
        match (session.route.preserve_host, client_host, &upstream.host) {
            (true, Some(host), _) => {
                headers.insert(header::HOST, host);
            }
            (_, _, Some(own)) => {
                headers.insert(header::HOST, own.clone());
            }
            _ => {}
        }
        if let Some((protocol, opener)) = upgrade
            && let Some(client) = parts.extensions.remove::<OnUpgrade>()
        {
            parts
                .headers
                .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            parts.headers.insert(header::UPGRADE, protocol);
            session.upgrade = Some(Upgrade { client, opener });
        }
        parts.uri = target;
        parts.version = Version::HTTP_11;
        Continue(())
    }

    fn response_filter(&self, _session: &Session<'_>, parts: &mut response::Parts) {
        let switched = (parts.status == StatusCode::SWITCHING_PROTOCOLS)
            .then(|| parts.headers.get(header::UPGRADE).cloned())
            .flatten();
        strip_hop_by_hop(&mut parts.headers);
        if let Some(protocol) = switched {
            parts
                .headers
                .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            parts.headers.insert(header::UPGRADE, protocol);
        }
    }

    fn tunnel(&self, upgrade: Upgrade, upstream: OnUpgrade) {
        let sockets = self.state.sockets.clone();
        tokio::spawn(async move {
            let (Ok(client), Ok(upstream)) = (upgrade.client.await, upstream.await) else {
                return;
            };
            let registered = upgrade.opener.map(|opener| sockets.register(opener));
            let mut client = TokioIo::new(client);
            let mut upstream = TokioIo::new(upstream);
            let copy = tokio::io::copy_bidirectional(&mut client, &mut upstream);
            match registered {
                Some(mut registered) => {
                    tokio::select! {
                        _ = copy => {}
                        _ = registered.stopped.wait_for(|stopped| *stopped) => {
                            tracing::info!("a WebSocket was closed: its credentials are no longer valid");
                        }
                    }
                }
                None => {
                    let _ = copy.await;
                }
            }
        });
    }

    fn fail_to_proxy(&self, session: &Session<'_>, failure: SendFailure) -> Response {
        let route = &*session.route.name;
        match failure {
            SendFailure::Unreachable(error) => {
                tracing::warn!(route, %error, "upstream request failed");
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "upstream_unavailable",
                    format!("The upstream API of route \"{route}\" could not be reached."),
                )
            }
            SendFailure::TimedOut(timeout) => {
                tracing::warn!(route, timeout_s = timeout.as_secs(), "upstream timed out");
                ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream_timeout",
                    format!("The upstream API of route \"{route}\" did not answer in time."),
                )
            }
        }
        .into_response()
    }

    fn logging(&self, session: &Session<'_>, upstreamed: Upstreamed, response: &mut Response) {
        let counters = &session.route.counters;
        match upstreamed {
            Upstreamed::NotSent => {}
            Upstreamed::Answered(status) => counters.count(Some(status.as_u16())),
            Upstreamed::Failed => counters.count(None),
        }
        if self.state.access_log.is_some() {
            let mut facts = AccessFacts {
                route: Some(session.route.name.clone()),
                client: Some(session.client),
                ..AccessFacts::default()
            };
            if let Some(identity) = &session.identity {
                facts.identify(identity);
            }
            response.extensions_mut().insert(facts);
        }
    }
}

/// What a socket opened by `identity` is checked against while it lasts: the token's digest
/// (from the request's own `Authorization`, which the decision just accepted) with the client,
/// path and route it reached, or the user.
fn opener(
    identity: &Identity,
    headers: &axum::http::HeaderMap,
    (client, path, route): (std::net::IpAddr, &str, &str),
) -> Option<Opener> {
    match identity.via {
        Via::Token => {
            let value = headers.get(header::AUTHORIZATION)?;
            let secret = match parse_authorization(value.as_bytes()).ok()? {
                Credentials::Bearer { secret } | Credentials::Basic { secret, .. } => secret,
            };
            Some(Opener::Token {
                digest: TokenSecret::parse(secret.expose())?.digest(),
                client,
                path: path.to_owned(),
                route: route.to_owned(),
            })
        }
        Via::Password | Via::Session => identity.user.clone().map(Opener::Password),
        _ => None,
    }
}
