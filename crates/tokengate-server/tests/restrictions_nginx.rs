//! Token restrictions (SPEC §11) behind nginx `auth_request`, with the real nginx running the
//! recipe of docs/deploy/nginx.conf as written: method and path reach tokengate only through the
//! `X-Forwarded-Method`/`X-Forwarded-Uri` the recipe sets from `$request_method`/`$request_uri`
//! (the request line as the client sent it; nginx's own `$uri` is decoded and normalised).
//! Requests go to nginx over a raw socket, exactly as written. nginx passes only the status of a
//! 401 or 403 on (with its own body), so tokengate's reason is read from its decision counter,
//! and what got through from what the real upstream behind nginx saw. Client addresses are
//! played through `X-Forwarded-For` from loopback, which tokengate trusts (nginx runs there too):
//! the test client is a trusted proxy in front of nginx. Skipped when nginx is not installed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::proxies::{Proxy, behind_nginx, nginx_binary};
use common::raw::{self, RawResponse};
use common::upstream::Upstream;
use common::vectors::{Case, Vectors};
use common::{TestApp, trusting_loopback};
use serde_json::Value;
use std::path::Path;
use tokengate_core::restrictions::{Access, Restrictions};

/// tokengate, and nginx (the recipe) in front of a real upstream, asking tokengate.
struct Front {
    app: TestApp,
    nginx: Proxy,
    upstream: Upstream,
    _dir: tempfile::TempDir,
}

impl Front {
    async fn start(binary: &Path, app: TestApp) -> Self {
        let (nginx, upstream, dir) = behind_nginx(binary, &app).await;
        Self {
            app,
            nginx,
            upstream,
            _dir: dir,
        }
    }

    /// `method target` sent to nginx as written, with `headers`.
    async fn send(&self, method: &str, target: &str, headers: &[(&str, &str)]) -> RawResponse {
        let address = ([127, 0, 0, 1], self.nginx.port).into();
        raw::send(address, &raw::request(method, target, headers)).await
    }

    /// tokengate's decisions so far, one `labels count` line per kind, sorted.
    async fn decisions(&self) -> Vec<String> {
        let metrics = self.app.server.as_ref().unwrap().metrics_address.unwrap();
        let url = format!("http://{metrics}/metrics");
        let text = self.app.client.get(url).send().await.unwrap().text();
        let mut lines: Vec<String> = text
            .await
            .unwrap()
            .lines()
            .filter_map(|line| line.strip_prefix("tokengate_decisions_total"))
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    }
}

fn allowed(via: &str, count: u32) -> String {
    format!("{{result=\"allowed\",reason=\"\",via=\"{via}\"}} {count}")
}

fn denied(reason: &str, count: u32) -> String {
    format!("{{result=\"denied\",reason=\"{reason}\",via=\"\"}} {count}")
}

/// Asserts what the upstream saw of an allowed request: exactly it, as sent, with tokengate's
/// identity and without the credentials.
fn check_passed_on(name: &str, seen: &[Value], method: &str, target: &str, user: &str, via: &str) {
    assert_eq!(seen.len(), 1, "{name}: the upstream saw the request once");
    let seen = &seen[0];
    assert_eq!(seen["method"], method, "{name}: method");
    assert_eq!(seen["uri"], target, "{name}: the path as sent");
    let headers = &seen["headers"];
    assert_eq!(headers["x-authenticated-user"][0], user, "{name}: user");
    assert_eq!(headers["x-authenticated-via"][0], via, "{name}: via");
    assert!(headers.get("authorization").is_none(), "{name}: {seen}");
}

/// Every case must mean the same behind forward-auth. Forward-auth has no route (a token
/// restricted to routes is refused there, docs/decisions.md), so a case whose token names routes
/// or whose request names a route could not hold behind nginx and would have to be skipped here
/// by name, with that reason. restrictions.json has none: this fails when one is added.
fn assert_no_case_depends_on_a_route(vectors: &Vectors) {
    for case in vectors.cases() {
        let name = case.name();
        assert!(
            case.request().get("route").is_none(),
            "{name}: names a route"
        );
        let spec = case.request()["authorization"].as_str().unwrap_or("");
        for token in case.token_specs() {
            let reference = format!("{{{}}}", token["ref"].as_str().unwrap());
            let routes = token["routes"].as_array().map_or(0, Vec::len);
            assert!(
                routes == 0 || !spec.contains(&reference),
                "{name}: its token is restricted to routes"
            );
        }
    }
}

/// One case of restrictions.json through nginx: status, tokengate's reason, the upstream.
async fn run(binary: &Path, case: &Case<'_>) {
    let name = case.name();
    let app = TestApp::spawn_with(case.config(), false).await;
    let secrets = case.seed(&app).await;
    let front = Front::start(binary, app).await;
    let forwarded = case.forwarded_for();
    let mut headers = vec![("x-forwarded-for", forwarded.as_str())];
    let authorization = case.authorization(&secrets);
    if let Some(header) = &authorization {
        headers.push(("authorization", header));
    }
    let (method, target) = (case.method(), case.target());
    // Every path of restrictions.json is one nginx accepts (none climbs above the root or
    // holds %00), so nginx's answer is tokengate's for every case: no case differs here.
    let response = front.send(method, target, &headers).await;
    let expect = case.expect();
    let status = u64::from(response.status);
    assert_eq!(status, expect["status"].as_u64().unwrap(), "{name}: status");
    let seen = front.upstream.take_seen();
    let decision = match expect["reason"].as_str() {
        None => {
            let (user, via) = (expect["user"].as_str().unwrap(), expect["via"].as_str());
            check_passed_on(name, &seen, method, target, user, via.unwrap());
            allowed(via.unwrap(), 1)
        }
        Some(reason) => {
            assert!(seen.is_empty(), "{name}: the upstream saw {seen:?}");
            if status == 401 {
                let challenge = response.header("www-authenticate").unwrap_or_default();
                assert!(challenge.contains("realm=\"tokengate\""), "{name}");
            }
            denied(reason, 1)
        }
    };
    assert_eq!(
        front.decisions().await,
        [decision],
        "{name}: tokengate's decision"
    );
    case.check_after(&front.app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_restriction_vector_holds_through_nginx_auth_request() {
    let Some(binary) = nginx_binary() else {
        return;
    };
    let vectors = Vectors::load("restrictions.json", 33);
    assert_no_case_depends_on_a_route(&vectors);
    let mut ran = 0;
    for case in vectors.cases() {
        run(&binary, &case).await;
        ran += 1;
    }
    assert_eq!(ran, 33, "no case is skipped");
}

/// A front whose tokengate trusts loopback, with alice and one token of `restrictions`.
async fn front_with_token(binary: &Path, restrictions: &Restrictions) -> (Front, String) {
    let app = TestApp::spawn_with(trusting_loopback(), false).await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_restricted_token("alice", restrictions).await;
    (Front::start(binary, app).await, token)
}

#[tokio::test]
async fn through_nginx_a_read_only_token_cannot_write_with_any_method_spelling() {
    let Some(binary) = nginx_binary() else {
        return;
    };
    let read_only = Restrictions {
        access: Access::Read,
        ..Restrictions::default()
    };
    let (front, token) = front_with_token(&binary, &read_only).await;
    let bearer = format!("Bearer {token}");
    let auth = ("authorization", bearer.as_str());
    for method in ["GET", "HEAD", "OPTIONS"] {
        let response = front.send(method, "/issues/1", &[auth]).await;
        assert_eq!(response.status, 200, "{method}");
        let seen = front.upstream.take_seen();
        check_passed_on(method, &seen, method, "/issues/1", "alice", "token");
    }
    // Refused by tokengate, from the method nginx writes into X-Forwarded-Method: whatever the
    // client claims in its own headers.
    let claims: [(&str, &[(&str, &str)]); 11] = [
        // The original request's own override headers reach tokengate with the subrequest.
        ("GET", &[("x-http-method-override", "DELETE")]),
        ("GET", &[("X-HTTP-Method", "put")]),
        ("POST", &[]),
        ("PUT", &[]),
        ("PATCH", &[]),
        ("DELETE", &[]),
        ("PROPFIND", &[]),
        ("FOO_BAR", &[]),
        ("POST", &[("x-forwarded-method", "GET")]),
        (
            "DELETE",
            &[("x-original-method", "GET"), ("x_forwarded_method", "GET")],
        ),
        (
            "POST",
            &[
                ("x-http-method-override", "GET"),
                ("x-method-override", "GET"),
            ],
        ),
    ];
    for (method, extra) in claims {
        let mut headers = vec![auth];
        headers.extend_from_slice(extra);
        let response = front.send(method, "/issues/1", &headers).await;
        assert_eq!(response.status, 403, "{method} {extra:?}");
    }
    // Refused by nginx itself before any subrequest: it takes only upper-case letters, '_' and
    // '-' in a method (400) and never proxies TRACE or CONNECT (405). Refused either way.
    for (method, status) in [
        ("post", 400),
        ("Post", 400),
        ("pOST", 400),
        ("delete", 400),
        ("get", 400),
        ("TRACE", 405),
        ("CONNECT", 405),
    ] {
        let response = front.send(method, "/issues/1", &[auth]).await;
        assert_eq!(response.status, status, "{method}");
    }
    assert!(
        front.upstream.take_seen().is_empty(),
        "no refusal got through"
    );
    let decisions = front.decisions().await;
    assert_eq!(
        decisions,
        [allowed("token", 3), denied("token_scope_denied", 11)]
    );
    let alice = front.app.store.user("alice").await.unwrap().unwrap();
    assert_eq!(
        alice.failed_logins, 0,
        "a restriction is not a failed login"
    );
}

/// Siblings of `/rest/api/2/issue` tokengate refuses: `$request_uri` carries each as sent,
/// though nginx's `$uri` resolves most of them to `/rest/api/2/user`.
const SIBLINGS: [&str; 31] = [
    "/rest/api/2/user",
    "/rest/api/2/issues",
    "/REST/api/2/issue",
    "/rest/api/2/issue/..",
    "/rest/api/2/issue/../user",
    "/rest/api/2/issue/./../user",
    "/rest/api/2/issue/.;/../user",
    "/rest/api/2/issue/..;/user",
    "/rest/api/2/issue/..%3b/user",
    "/rest/api/2/issue/..%3B/user",
    "/rest/api/2/issue;/../user",
    "/rest/api/2/issue%3b/../user",
    "/rest/api/2/issue/%2e%2e/user",
    "/rest/api/2/issue/%2E%2E/user",
    "/rest/api/2/issue/.%2e/user",
    "/rest/api/2/issue/%2e./user",
    "/rest/api/2/issue%2f..%2fuser",
    "/rest/api/2/issue%2F..%2Fuser",
    "/rest/api/2/issue/%2e%2e%2fuser",
    "/rest/api/2/issue/%252e%252e/user",
    "/rest/api/2/issue%252f..%252fuser",
    "/rest/api/2/issue\\..\\user",
    "/rest/api/2/issue/..\\user",
    "/rest/api/2/issue/%5c..%5cuser",
    "/rest/api/2/issue/%2e%2e%5Cuser",
    "//rest/api/2/issue/../../user",
    "/rest/api/2/issue#/../user",
    "/rest/api/2/issue/%2e%2e/%2e%2e/user",
    // The absolute form: nginx's $request_uri is the path alone, dot segment included.
    "http://gateway.test/rest/api/2/issue/../user",
    "http://gateway.test/rest/api/2/user",
    "/rest/api/2/issue/%2e%2e/user?x=/rest/api/2/issue",
];

#[tokio::test]
async fn through_nginx_a_path_token_never_reaches_a_sibling_path_whatever_the_encoding() {
    let Some(binary) = nginx_binary() else {
        return;
    };
    let only_issues = Restrictions {
        paths: vec!["/rest/api/2/issue".into()],
        ..Restrictions::default()
    };
    let (front, token) = front_with_token(&binary, &only_issues).await;
    let bearer = format!("Bearer {token}");
    let auth = ("authorization", bearer.as_str());
    let inside = [
        "/rest/api/2/issue",
        "/rest/api/2/issue/ABC-1",
        "/rest/api/2/issue/ABC-1?expand=x/../../user",
        "/rest/api/2/issue/v1.2",
    ];
    for path in inside {
        assert_eq!(front.send("GET", path, &[auth]).await.status, 200, "{path}");
        let seen = front.upstream.take_seen();
        check_passed_on(path, &seen, "GET", path, "alice", "token");
    }
    for path in SIBLINGS {
        assert_eq!(front.send("GET", path, &[auth]).await.status, 403, "{path}");
    }
    // A client's own copy of the recipe's headers is replaced by nginx's.
    for claim in ["x-forwarded-uri", "x-original-uri", "x_forwarded_uri"] {
        let headers = [auth, (claim, "/rest/api/2/issue")];
        let response = front.send("GET", "/rest/api/2/user", &headers).await;
        assert_eq!(response.status, 403, "{claim}");
    }
    // nginx refuses these itself (400) before asking tokengate: they climb above the root once
    // resolved, or hold an encoded NUL. tokengate would refuse them too (dot segments).
    for path in [
        "/rest/api/2/issue/../../../../../user",
        "/rest/api/2/issue/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/user",
        "/rest/api/2/issue%00/../user",
    ] {
        assert_eq!(front.send("GET", path, &[auth]).await.status, 400, "{path}");
    }
    assert!(
        front.upstream.take_seen().is_empty(),
        "no sibling got through"
    );
    let refusals = u32::try_from(SIBLINGS.len()).unwrap() + 3;
    let decisions = front.decisions().await;
    assert_eq!(
        decisions,
        [allowed("token", 4), denied("token_scope_denied", refusals)]
    );
}

#[tokio::test]
async fn through_nginx_a_token_restricted_to_routes_is_refused_as_forward_auth_has_no_route() {
    let Some(binary) = nginx_binary() else {
        return;
    };
    let only_jira = Restrictions {
        routes: vec!["jira".into()],
        ..Restrictions::default()
    };
    let (front, token) = front_with_token(&binary, &only_jira).await;
    let bearer = format!("Bearer {token}");
    let response = front
        .send("GET", "/rest/api/2/issue", &[("authorization", &bearer)])
        .await;
    assert_eq!(response.status, 403);
    assert!(front.upstream.take_seen().is_empty());
    assert_eq!(front.decisions().await, [denied("token_scope_denied", 1)]);
}
