//! Where a proxied request goes: the routing table (SPEC §9: the longest path prefix wins, a
//! route with a host beats one without; `[gateway] upstream` is the one route `default` with
//! prefix `/`) and each route's upstream with its connection pool. Paths under `/tokengate/`
//! never reach this table (`crate::lanes`).

use super::pool::{Pool, PooledBody, SendError, Target, UpstreamTls};
use crate::config::Config;
use crate::config::routes::DEFAULT_ROUTE;
use crate::error::ApiError;
use crate::metrics::{Metrics, UpstreamCounters};
use axum::body::Body;
use axum::http::uri::PathAndQuery;
use axum::http::{HeaderValue, Request, Response, Uri};
use rustls::pki_types::ServerName;
use std::sync::Arc;
use std::time::Duration;

/// One route: a name (access log, metrics, token restrictions), where it applies, which paths
/// of it are public, and its upstream.
pub struct Route {
    pub name: Arc<str>,
    /// Lowercase host this route is for; `None` = any host.
    pub host: Option<String>,
    /// Path prefix, on a segment boundary (`/jira` takes `/jira` and `/jira/x`, not `/jirax`).
    pub path_prefix: String,
    /// Path prefixes forwarded without authentication.
    pub public_paths: Vec<String>,
    /// Send the client's `Host` (true) or the upstream's.
    pub preserve_host: bool,
    /// Remove `path_prefix` from the path sent upstream.
    pub strip_prefix: bool,
    /// Whether `Upgrade` requests may go through.
    pub websocket: bool,
    /// Browsers without credentials sign in once and come back by session (SPEC §10).
    pub browser_sso: bool,
    pub upstream: Upstream,
    /// Its upstream's answers by status class, for the metrics.
    pub counters: UpstreamCounters,
}

impl Route {
    /// The route's path and query for its upstream: the prefix removed when `strip_prefix`
    /// (what remains starts with `/`), then the upstream's base path in front.
    pub fn target(&self, original: &Uri) -> Result<Uri, ApiError> {
        if !self.strip_prefix {
            return self.upstream.target(original);
        }
        let prefix = self.path_prefix.trim_end_matches('/');
        let path_and_query = original.path_and_query().map_or("/", PathAndQuery::as_str);
        let rest = path_and_query
            .strip_prefix(prefix)
            .unwrap_or(path_and_query);
        let stripped = if rest.starts_with('/') {
            rest.to_owned()
        } else {
            format!("/{rest}")
        };
        let uri = Uri::try_from(stripped)
            .map_err(|_| ApiError::bad_request("invalid_path", "The request path is not valid."))?;
        self.upstream.target(&uri)
    }
}

/// Every route of this node, chosen from for each proxied request.
#[derive(Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    /// Whether any route lets browsers in by session (then sign-in sets the gateway cookie).
    pub fn offers_browser_sso(&self) -> bool {
        self.routes.iter().any(|route| route.browser_sso)
    }

    /// The routes the configuration names: `[gateway] upstream` as the route `default` for
    /// every path, then each of `[[routes]]`. The values were checked when they loaded.
    pub fn from_config(config: &Config, metrics: &Metrics) -> Result<Self, String> {
        let timeout = Duration::from_secs(config.gateway.upstream_timeout_seconds);
        let workers = config.worker_count();
        let mut routes = Vec::new();
        if let Some(url) = &config.gateway.upstream {
            routes.push(Route {
                name: Arc::from(DEFAULT_ROUTE),
                host: None,
                path_prefix: "/".to_owned(),
                public_paths: config.gateway.public_paths.clone(),
                preserve_host: true,
                strip_prefix: false,
                websocket: true,
                browser_sso: false,
                upstream: Upstream::new(url, None, timeout, workers)?,
                counters: metrics.upstream_counters(DEFAULT_ROUTE),
            });
        }
        for route in &config.routes {
            routes.push(Route {
                name: Arc::from(route.name.as_str()),
                host: (!route.host.is_empty()).then(|| route.host.to_ascii_lowercase()),
                path_prefix: route.path_prefix.clone(),
                public_paths: route.public_paths.clone(),
                preserve_host: route.preserve_host,
                strip_prefix: route.strip_prefix,
                websocket: route.websocket,
                browser_sso: route.browser_sso,
                upstream: Upstream::new(
                    &route.upstream,
                    crate::tls::ca_file(&route.ca_file),
                    timeout,
                    workers,
                )
                .map_err(|problem| format!("route \"{}\": {problem}", route.name))?,
                counters: metrics.upstream_counters(&route.name),
            });
        }
        Ok(Self { routes })
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The names of the routes, in configuration order (offered as token restrictions).
    pub fn names(&self) -> Vec<String> {
        self.routes
            .iter()
            .map(|route| route.name.to_string())
            .collect()
    }

    /// The route for a request to `path` on the host `host()` names (without port, any case;
    /// asked only when a route names a host): a route with a host beats one without, then the
    /// longest prefix wins.
    pub fn choose<'h>(&self, host: impl FnOnce() -> Option<&'h str>, path: &str) -> Option<&Route> {
        let host = if self.routes.iter().any(|route| route.host.is_some()) {
            host()
        } else {
            None
        };
        self.routes
            .iter()
            .filter(|route| match (&route.host, host) {
                (None, _) => true,
                // `wiki.example.com.` (the absolute form, one trailing dot) is the same site.
                (Some(wanted), Some(host)) => {
                    wanted.eq_ignore_ascii_case(host.strip_suffix('.').unwrap_or(host))
                }
                (Some(_), None) => false,
            })
            .filter(|route| prefix_matches(&route.path_prefix, path))
            .max_by_key(|route| (route.host.is_some(), route.path_prefix.len()))
    }
}

/// Why an upstream gave no answer.
#[derive(Debug)]
pub enum SendFailure {
    /// Refused, unreachable, or the connection broke.
    Unreachable(SendError),
    /// No response headers within the route's timeout.
    TimedOut(Duration),
}

impl Upstream {
    /// Sends `request` (already rewritten for this upstream) and waits for the response
    /// headers, at most the upstream's timeout.
    pub async fn send(&self, request: Request<Body>) -> Result<Response<PooledBody>, SendFailure> {
        match tokio::time::timeout(self.timeout, self.pool.send(request)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => Err(SendFailure::Unreachable(error)),
            Err(_) => Err(SendFailure::TimedOut(self.timeout)),
        }
    }
}

/// Whether `path` is under `prefix` on a segment boundary.
fn prefix_matches(prefix: &str, path: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

pub struct Upstream {
    /// The upstream's own `Host` (its authority), built once.
    pub host: Option<HeaderValue>,
    base_path: String,
    timeout: Duration,
    pool: Arc<Pool>,
}

impl Upstream {
    /// The upstream at `url` (`http://` or `https://`, checked against `ca_file` or the
    /// system's roots), with an idle-connection list for each of `workers` threads.
    pub fn new(
        url: &str,
        ca_file: Option<&str>,
        timeout: Duration,
        workers: usize,
    ) -> Result<Self, String> {
        let uri: Uri = url.parse().map_err(|_| format!("\"{url}\" is not a URL"))?;
        let (https, http2) = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("http") => (false, false),
            Some("https") => (true, false),
            Some("h2c") => (false, true),
            _ => {
                return Err(format!(
                    "\"{url}\": only http://, https:// and h2c:// upstreams are supported"
                ));
            }
        };
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| format!("\"{url}\" has no host"))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let tls = if https {
            let server_name = ServerName::try_from(host.to_owned()).map_err(|_| {
                format!("\"{url}\": \"{host}\" cannot be checked against a certificate")
            })?;
            Some(UpstreamTls {
                connector: crate::tls::upstream_connector(ca_file)?,
                server_name,
            })
        } else if ca_file.is_some() {
            return Err("ca_file is for https:// upstreams".into());
        } else {
            None
        };
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let target = Target {
            address: format!("{}:{port}", authority.host()),
            authority: authority.clone(),
            http2,
            tls,
        };
        let pool = Arc::new(Pool::new(
            target,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn route(name: &str, host: Option<&str>, prefix: &str) -> Route {
        Route {
            name: Arc::from(name),
            host: host.map(str::to_owned),
            path_prefix: prefix.to_owned(),
            public_paths: Vec::new(),
            preserve_host: true,
            strip_prefix: false,
            websocket: true,
            browser_sso: false,
            upstream: Upstream::new("http://127.0.0.1:9", None, Duration::from_secs(1), 1)
                .expect("upstream"),
            counters: Metrics::new().upstream_counters(name),
        }
    }

    #[test]
    fn the_longest_prefix_on_a_segment_boundary_wins_and_a_host_beats_none() {
        let table = RouteTable {
            routes: vec![
                route("default", None, "/"),
                route("jira", None, "/jira"),
                route("jira-api", None, "/jira/rest/"),
                route("wiki-host", Some("wiki.example.com"), "/"),
            ],
        };
        let chosen =
            |host: Option<&str>, path: &str| table.choose(|| host, path).map(|route| &*route.name);
        assert_eq!(chosen(None, "/"), Some("default"));
        assert_eq!(chosen(None, "/jira"), Some("jira"));
        assert_eq!(chosen(None, "/jira/browse/X-1"), Some("jira"));
        assert_eq!(chosen(None, "/jirax"), Some("default"));
        assert_eq!(chosen(None, "/jira/rest/api/2"), Some("jira-api"));
        assert_eq!(chosen(None, "/jira/rest"), Some("jira-api"));
        assert_eq!(chosen(Some("WIKI.example.com"), "/jira"), Some("wiki-host"));
        assert_eq!(chosen(Some("other.example.com"), "/jira"), Some("jira"));
    }

    #[test]
    fn without_a_catch_all_an_unrouted_path_has_no_route() {
        let table = RouteTable {
            routes: vec![route("jira", None, "/jira")],
        };
        assert!(table.choose(|| None, "/confluence").is_none());
        assert!(RouteTable::default().choose(|| None, "/").is_none());
    }
}

#[cfg(test)]
mod strip_tests {
    use super::*;

    #[test]
    fn strip_prefix_leaves_a_path_that_starts_with_a_slash_and_keeps_the_query() {
        let upstream = Upstream::new("http://127.0.0.1:9/base", None, Duration::from_secs(1), 1)
            .expect("upstream");
        let route = Route {
            name: Arc::from("jira"),
            host: None,
            path_prefix: "/jira/".into(),
            public_paths: Vec::new(),
            preserve_host: true,
            strip_prefix: true,
            websocket: true,
            browser_sso: false,
            upstream,
            counters: Metrics::new().upstream_counters("jira"),
        };
        for (original, expected) in [
            ("/jira/rest/api?x=1", "/base/rest/api?x=1"),
            ("/jira", "/base/"),
            ("/jira/", "/base/"),
            ("/jira?q", "/base/?q"),
        ] {
            let uri: Uri = original.parse().expect("uri");
            assert_eq!(
                route.target(&uri).expect("target").to_string(),
                expected,
                "{original}"
            );
        }
    }
}
