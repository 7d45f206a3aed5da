//! A proxied request as a fixed sequence of phases, shaped like pingora's `ProxyHttp`: each
//! phase has one job, and [`run`] is the only place that orders them and talks to the upstream.
//!
//! 1. [`ProxyPhases::upstream_peer`]: which route takes the request. It comes first (pingora
//!    asks after the request filter) because the decision depends on the route: its public
//!    paths, and the routes a token may use.
//! 2. [`ProxyPhases::request_filter`]: the SPEC §2 decision; a refusal ends the request here.
//! 3. [`ProxyPhases::upstream_request_filter`]: the headers the upstream gets.
//! 4. The send, with the route's timeout (`Upstream::send`); a `101` hands both sides to
//!    [`ProxyPhases::tunnel`].
//! 5. [`ProxyPhases::response_filter`]: the headers the client gets back.
//! 6. [`ProxyPhases::fail_to_proxy`]: an upstream that could not answer becomes 502 or 504.
//! 7. [`ProxyPhases::logging`]: once per request that found a route, whatever happened.

use super::upstream::{Route, SendFailure};
use crate::sockets::Opener;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, request, response};
use axum::response::Response;
use hyper::upgrade::OnUpgrade;
use std::net::{IpAddr, SocketAddr};
use std::ops::ControlFlow::{self, Break, Continue};
use tokengate_core::decision::Identity;

/// What one proxied request carries from phase to phase.
pub struct Session<'r> {
    pub peer: SocketAddr,
    /// The client's address as the decision determined it (the peer until then).
    pub client: IpAddr,
    pub route: &'r Route,
    /// Who the upstream is told the request is from: `None` on a public path.
    pub identity: Option<Identity>,
    /// A WebSocket the route lets through: the client's side, once it switches.
    pub upgrade: Option<Upgrade>,
}

/// The client's side of an upgrade, and what it was authorised with (checked again while the
/// socket lasts; `None` on a public path or an anonymous request).
pub struct Upgrade {
    pub client: OnUpgrade,
    pub opener: Option<Opener>,
}

/// The phases of the gateway (see the module's documentation for their order). A phase that
/// answers the request itself breaks with the answer; the others continue.
pub trait ProxyPhases {
    /// Which route takes `request`, or the answer when none does.
    fn upstream_peer(&self, request: &request::Parts) -> ControlFlow<Response, &Route>;

    /// The decision: fills `session.client` and `session.identity`, or answers the refusal.
    fn request_filter(
        &self,
        session: &mut Session<'_>,
        request: &request::Parts,
    ) -> impl Future<Output = ControlFlow<Response>> + Send;

    /// Rewrites the request for the upstream: headers, target URI, version.
    fn upstream_request_filter(
        &self,
        session: &mut Session<'_>,
        parts: &mut request::Parts,
    ) -> ControlFlow<Response>;

    /// The upstream switched protocols: copies both directions until either side ends or the
    /// socket's credentials stop being valid.
    fn tunnel(&self, upgrade: Upgrade, upstream: OnUpgrade);

    /// Rewrites the upstream's response headers for the client.
    fn response_filter(&self, session: &Session<'_>, parts: &mut response::Parts);

    /// The answer when the upstream could not be reached or was too slow.
    fn fail_to_proxy(&self, session: &Session<'_>, failure: SendFailure) -> Response;

    /// Runs once the answer is known, whatever it is, and may note facts on it.
    fn logging(&self, session: &Session<'_>, upstreamed: Upstreamed, response: &mut Response);
}

/// How far a request got towards its upstream, for the logging phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstreamed {
    /// Answered before the send: a refusal, or a request that could not be rewritten.
    NotSent,
    /// The upstream answered with this status.
    Answered(StatusCode),
    /// Sent, but no answer came (unreachable, too slow).
    Failed,
}

/// Runs `request` from `peer` through the phases of `phases`.
pub async fn run<P: ProxyPhases + Sync>(
    phases: &P,
    peer: SocketAddr,
    request: Request,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let route = match phases.upstream_peer(&parts) {
        Continue(route) => route,
        Break(answer) => return answer,
    };
    let mut session = Session {
        peer,
        client: peer.ip().to_canonical(),
        route,
        identity: None,
        upgrade: None,
    };
    let (mut response, upstreamed) = match phases.request_filter(&mut session, &parts).await {
        Break(refusal) => (refusal, Upstreamed::NotSent),
        Continue(()) => match phases.upstream_request_filter(&mut session, &mut parts) {
            Break(answer) => (answer, Upstreamed::NotSent),
            Continue(()) => match route.upstream.send(Request::from_parts(parts, body)).await {
                Ok(mut response) => {
                    if response.status() == StatusCode::SWITCHING_PROTOCOLS
                        && let Some(upgrade) = session.upgrade.take()
                    {
                        phases.tunnel(upgrade, hyper::upgrade::on(&mut response));
                    }
                    let (mut parts, body) = response.into_parts();
                    let status = parts.status;
                    phases.response_filter(&session, &mut parts);
                    let response = Response::from_parts(parts, Body::new(body));
                    (response, Upstreamed::Answered(status))
                }
                Err(failure) => (phases.fail_to_proxy(&session, failure), Upstreamed::Failed),
            },
        },
    };
    phases.logging(&session, upstreamed, &mut response);
    response
}
