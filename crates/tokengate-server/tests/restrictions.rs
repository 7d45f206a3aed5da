//! Token restrictions (SPEC §11) through the whole gateway: chosen at creation over REST, shown
//! in token lists, enforced on proxied requests (sent as written, every encoding trick we could
//! think of), on forward-auth (method and path from the trusted proxy's headers) and on
//! tokengate's own API (the route `tokengate`); and a token cannot make a token that outgrows
//! it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api_support;
mod common;

use api_support::{Api, json_of};
use common::{TestApp, error_body, raw, trusting_loopback};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokengate_core::allowlist::IpAllowList;
use tokengate_core::restrictions::{Access, Restrictions};

fn read_only() -> Restrictions {
    Restrictions {
        access: Access::Read,
        ..Restrictions::default()
    }
}

fn only_paths(paths: &[&str]) -> Restrictions {
    Restrictions {
        paths: paths.iter().map(|path| (*path).to_owned()).collect(),
        ..Restrictions::default()
    }
}

async fn raw_status(app: &TestApp, method: &str, path: &str, token: &str) -> u16 {
    let bearer = format!("Bearer {token}");
    raw::send(
        app.address,
        &raw::request(method, path, &[("authorization", &bearer)]),
    )
    .await
    .status
}

#[tokio::test]
async fn a_read_only_token_cannot_post_put_patch_or_delete_through_the_proxy() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_restricted_token("alice", &read_only()).await;
    for method in ["GET", "HEAD", "OPTIONS"] {
        assert_eq!(
            raw_status(&app, method, "/issues", &token).await,
            200,
            "{method}"
        );
    }
    for method in ["POST", "PUT", "PATCH", "DELETE", "PROPFIND", "get", "TRACE"] {
        assert_eq!(
            raw_status(&app, method, "/issues", &token).await,
            403,
            "{method}"
        );
    }
    let refused = app
        .client
        .post(app.url("/issues"))
        .bearer_auth(&token)
        .body("{}")
        .send()
        .await
        .unwrap();
    error_body(refused, 403, "token_scope_denied").await;
    let failed = app
        .store
        .user("alice")
        .await
        .unwrap()
        .unwrap()
        .failed_logins;
    assert_eq!(failed, 0, "a restriction is not a failed login");
}

#[tokio::test]
async fn a_read_only_token_cannot_write_through_a_method_override_or_another_upgrade() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, reader) = app.add_restricted_token("alice", &read_only()).await;
    let (_, writer) = app.add_token("alice").await;
    let get = |token: &str, headers: &[(&str, &str)]| {
        let mut request = app.client.get(app.url("/issues/1")).bearer_auth(token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };
    let overrides: [&[(&str, &str)]; 8] = [
        &[("X-HTTP-Method-Override", "DELETE")],
        &[("x-http-method-override", "delete")],
        &[("X-HTTP-Method", "PUT")],
        &[("X-Method-Override", "PATCH")],
        &[("X-HTTP-Method-Override", " POST ")],
        &[("X-HTTP-Method-Override", "")],
        &[
            ("X-HTTP-Method-Override", "GET"),
            ("X-HTTP-Method-Override", "DELETE"),
        ],
        // A WebSocket is a channel both ways.
        &[
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ],
    ];
    for headers in overrides {
        let refused = get(&reader, headers).await.unwrap();
        error_body(refused, 403, "token_scope_denied").await;
        let written = get(&writer, headers).await.unwrap().status();
        assert_ne!(written, 403, "a write token may: {headers:?}");
    }
    for headers in [
        &[("X-HTTP-Method-Override", "GET")][..],
        &[("X-Method-Override", "head")][..],
    ] {
        assert_eq!(
            get(&reader, headers).await.unwrap().status(),
            200,
            "{headers:?}"
        );
    }
    // Any other upgrade is no upgrade: the upstream never sees it (no h2c smuggling).
    let upstream = app.upstream.as_ref().unwrap();
    upstream.seen.lock().unwrap().clear();
    let h2c = get(
        &reader,
        &[
            ("Connection", "Upgrade, HTTP2-Settings"),
            ("Upgrade", "h2c"),
            ("HTTP2-Settings", "AAMAAABkAAQAAP__"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(h2c.status(), 200);
    let seen = upstream.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    for name in ["upgrade", "http2-settings", "connection"] {
        assert!(
            seen[0]["headers"].get(name).is_none(),
            "{name}: {}",
            seen[0]
        );
    }
}

#[tokio::test]
async fn a_path_token_never_reaches_a_sibling_path_whatever_the_encoding() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app
        .add_restricted_token("alice", &only_paths(&["/rest/api/2/issue"]))
        .await;
    for allowed in [
        "/rest/api/2/issue",
        "/rest/api/2/issue/ABC-1",
        "/rest/api/2/issue/ABC-1?expand=x/../../user",
        "/rest/api/2/issue/v1.2",
    ] {
        assert_eq!(
            raw_status(&app, "GET", allowed, &token).await,
            200,
            "{allowed}"
        );
    }
    for sibling in [
        "/rest/api/2/user",
        "/rest/api/2/issues",
        "/rest/api/2/issue/../user",
        "/rest/api/2/issue/./../user",
        "/rest/api/2/issue/..;/user",
        "/rest/api/2/issue/%2e%2e/user",
        "/rest/api/2/issue/%2E%2E/user",
        "/rest/api/2/issue/.%2e/user",
        "/rest/api/2/issue%2f..%2fuser",
        "/rest/api/2/issue%2F..%2Fuser",
        "/rest/api/2/issue/%252e%252e/user",
        "/rest/api/2/issue\\..\\user",
        "/rest/api/2/issue/%5c..%5cuser",
        "/rest/api/2/issue;/../user",
        "/rest/api/2/issue%3b/../user",
        "//rest/api/2/issue/../../user",
        "/REST/api/2/issue",
        "/rest/api/2/issue/..",
        "/rest/api/2/issue/..%00/user",
        "/rest/api/2/issue/..%20/user",
        "/rest/api/2/issue/..%09/user",
        "/rest/api/2/issue/.../user",
        "/rest/api/2/issue/%u002e%u002e/user",
        "/rest/api/2/issue/%c0%ae%c0%ae/user",
    ] {
        assert_eq!(
            raw_status(&app, "GET", sibling, &token).await,
            403,
            "{sibling}"
        );
    }
}

#[tokio::test]
async fn forward_auth_takes_method_and_path_from_a_trusted_proxy_only() {
    let app = TestApp::spawn_with(trusting_loopback(), false).await;
    app.add_user("alice", "alice-pw", false).await;
    let restrictions = Restrictions {
        access: Access::Read,
        paths: vec!["/status".into()],
        ..Restrictions::default()
    };
    let (_, token) = app.add_restricted_token("alice", &restrictions).await;
    let ask = |method: &'static str, uri: &'static str| {
        let token = token.clone();
        let app = &app;
        async move {
            app.get_with(
                "/tokengate/auth",
                &[
                    ("authorization", &format!("Bearer {token}")),
                    ("x-forwarded-method", method),
                    ("x-forwarded-uri", uri),
                ],
            )
            .await
            .status()
            .as_u16()
        }
    };
    assert_eq!(ask("GET", "/status/db").await, 200);
    assert_eq!(ask("POST", "/status/db").await, 403);
    assert_eq!(ask("GET", "/admin").await, 403);
    assert_eq!(ask("GET", "/status/../admin").await, 403);
    let unknown = app
        .get_bearer("/tokengate/auth", &token)
        .await
        .status()
        .as_u16();
    assert_eq!(
        unknown, 403,
        "without the proxy's headers the path is unknown"
    );
}

#[tokio::test]
async fn a_token_restricted_to_other_routes_cannot_manage_tokens() {
    let api = Api::start().await;
    let restrictions = Restrictions {
        routes: vec!["jira".into()],
        ..Restrictions::default()
    };
    let (_, jira_only) = api.app.add_restricted_token("alice", &restrictions).await;
    let refused = api
        .call(
            Method::POST,
            "/tokens",
            &jira_only,
            Some(json!({"name": "x"})),
        )
        .await;
    error_body(refused, 403, "token_scope_denied").await;
    let restrictions = Restrictions {
        routes: vec!["tokengate".into()],
        ..Restrictions::default()
    };
    let (_, api_only) = api.app.add_restricted_token("alice", &restrictions).await;
    let listed = api.call(Method::GET, "/tokens", &api_only, None).await;
    assert_eq!(listed.status(), StatusCode::OK);
}

#[tokio::test]
async fn restrictions_are_chosen_at_creation_shown_in_lists_and_bad_ones_refused() {
    let api = Api::start().await;
    let created = json_of(
        api.alice(
            Method::POST,
            "/tokens",
            Some(
                json!({"name": "ci", "access": "read", "paths": ["/rest/api/2/issue"],
                "routes": ["jira"], "ip_allowlist": ["10.0.0.0/8"]}),
            ),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created["access"], "read");
    assert_eq!(created["paths"], json!(["/rest/api/2/issue"]));
    assert_eq!(created["routes"], json!(["jira"]));
    assert_eq!(created["ip_allowlist"], json!(["10.0.0.0/8"]));
    let listed: Value = json_of(
        api.alice(Method::GET, "/tokens", None).await,
        StatusCode::OK,
    )
    .await;
    let shown = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|token| token["name"] == "ci")
        .unwrap();
    assert_eq!(shown["access"], "read");
    let plain = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|token| token["name"] != "ci")
        .unwrap();
    assert_eq!(plain["access"], "write", "existing tokens keep full access");
    assert_eq!(plain["paths"], json!([]));
    let before = api.token_count().await;
    for bad in [
        json!({"name": "x", "access": "admin"}),
        json!({"name": "x", "paths": ["relative"]}),
        json!({"name": "x", "paths": ["/a/../b"]}),
        json!({"name": "x", "paths": ["/a%2fb"]}),
        json!({"name": "x", "routes": ["Jira!"]}),
        json!({"name": "x", "ip_allowlist": ["10.0.0.300"]}),
        json!({"name": "x", "paths": "/a"}),
    ] {
        let response = api.alice(Method::POST, "/tokens", Some(bad.clone())).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    assert_eq!(api.token_count().await, before, "nothing stored");
}

#[tokio::test]
async fn a_token_cannot_create_a_token_that_outgrows_it_in_any_dimension() {
    let api = Api::start().await;
    let narrow = Restrictions {
        access: Access::Write,
        paths: vec!["/rest".into(), "/tokengate/api".into()],
        routes: vec!["tokengate".into(), "jira".into()],
        ip_allowlist: IpAllowList::parse(&["127.0.0.0/8"]).unwrap(),
    };
    let (_, maker) = api.app.add_restricted_token("alice", &narrow).await;
    let create = |body: Value| api.call(Method::POST, "/tokens", &maker, Some(body));
    let paths = json!(["/rest", "/tokengate/api"]);
    for wider in [
        json!({"name": "w", "routes": ["tokengate"], "ip_allowlist": ["127.0.0.1"]}),
        json!({"name": "w", "paths": ["/"], "routes": ["tokengate"], "ip_allowlist": ["127.0.0.1"]}),
        json!({"name": "w", "paths": ["/rest", "/tokengate"], "routes": ["tokengate"], "ip_allowlist": ["127.0.0.1"]}),
        json!({"name": "w", "paths": paths, "ip_allowlist": ["127.0.0.1"]}),
        json!({"name": "w", "paths": paths, "routes": ["tokengate", "ci"], "ip_allowlist": ["127.0.0.1"]}),
        json!({"name": "w", "paths": paths, "routes": ["tokengate"]}),
        json!({"name": "w", "paths": paths, "routes": ["tokengate"], "ip_allowlist": ["0.0.0.0/0"]}),
    ] {
        let refused = create(wider.clone()).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{wider}");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"], "token_exceeds_caller", "{wider}");
    }
    let read = Restrictions {
        access: Access::Read,
        ..Restrictions::default()
    };
    let (_, read_only) = api.app.add_restricted_token("alice", &read).await;
    let refused = api
        .call(
            Method::POST,
            "/tokens",
            &read_only,
            Some(json!({"name": "x"})),
        )
        .await;
    error_body(refused, 403, "token_scope_denied").await;
    let admin_route = api
        .call(
            Method::POST,
            "/admin/users/root/tokens",
            &maker,
            Some(json!({"name": "as root"})),
        )
        .await;
    assert_eq!(admin_route.status(), StatusCode::FORBIDDEN);
    // Even an admin's token creates tokens only for its own owner: one for another user would
    // outlive the admin token's revocation. Admins use their password, a session or the CLI.
    let by_admin_token = api
        .admin(
            Method::POST,
            "/admin/users/alice/tokens",
            Some(json!({"name": "for alice"})),
        )
        .await;
    error_body(by_admin_token, 403, "token_exceeds_caller").await;
    let by_admin_password = api
        .with_password(
            "root",
            Method::POST,
            "/admin/users/alice/tokens",
            Some(json!({"name": "for alice"})),
        )
        .await;
    assert_eq!(by_admin_password.status(), StatusCode::CREATED);
    let narrower = json_of(
        create(json!({"name": "n", "access": "read", "paths": ["/rest/api"], "routes": ["tokengate"], "ip_allowlist": ["127.0.0.1"]})).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(narrower["paths"], json!(["/rest/api"]));
}

#[tokio::test]
async fn a_token_made_by_an_expiring_token_expires_no_later_than_its_maker() {
    let api = Api::start().await;
    let created = json_of(
        api.alice(
            Method::POST,
            "/tokens",
            Some(json!({"name": "30 days", "validity": "30d"})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let maker = created["token"].as_str().unwrap().to_owned();
    let limit = created["expires_at"].as_str().unwrap().to_owned();
    for later in [
        json!({"name": "x", "validity": "never"}),
        json!({"name": "x", "validity": "1y"}),
    ] {
        let refused = api
            .call(Method::POST, "/tokens", &maker, Some(later.clone()))
            .await;
        error_body(refused, 403, "token_exceeds_caller").await;
    }
    let default = json_of(
        api.call(Method::POST, "/tokens", &maker, Some(json!({"name": "d"})))
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        default["expires_at"].as_str().unwrap(),
        limit,
        "shortened to the maker's"
    );
    let shorter = json_of(
        api.call(
            Method::POST,
            "/tokens",
            &maker,
            Some(json!({"name": "s", "validity": "7d"})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert!(shorter["expires_at"].as_str().unwrap() < limit.as_str());
}

#[tokio::test]
async fn the_owner_narrows_a_token_later_and_the_change_applies_at_once_and_is_audited() {
    let api = Api::start().await;
    let id = json_of(
        api.alice(Method::GET, "/tokens", None).await,
        StatusCode::OK,
    )
    .await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, spare) = api.app.add_token("alice").await;
    let narrowed = json_of(
        api.call(
            Method::PATCH,
            &format!("/tokens/{id}"),
            &spare,
            Some(json!({"access": "read"})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(narrowed["access"], "read");
    let status = raw_status(
        &api.app,
        "POST",
        "/tokengate/api/v1/tokens",
        &api.alice_token,
    )
    .await;
    assert_eq!(status, 403, "the narrowed token can no longer write");
    let filter = tokengate_core::model::AuditFilter {
        action: Some(tokengate_core::model::AuditAction::TokenRestricted),
        limit: 10,
        ..Default::default()
    };
    let records = api.app.store.audit(&filter).await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].details["new"]["access"], "read");
    assert_eq!(records[0].details["old"]["access"], "write");
    for bad in [
        json!({"paths": ["x"]}),
        json!({"ip_allowlist": ["nope"]}),
        json!({"access": "admin"}),
    ] {
        let response = api
            .call(
                Method::PATCH,
                &format!("/tokens/{id}"),
                &spare,
                Some(bad.clone()),
            )
            .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let (_, bobs) = {
        api.app.add_user("bob", "bob-pw", false).await;
        api.app.add_token("bob").await
    };
    let foreign = api
        .call(
            Method::PATCH,
            &format!("/tokens/{id}"),
            &bobs,
            Some(json!({"access": "write"})),
        )
        .await;
    assert_eq!(
        foreign.status(),
        StatusCode::NOT_FOUND,
        "another user's token"
    );
}

#[tokio::test]
async fn a_short_lived_token_cannot_widen_a_longer_lived_one_but_may_narrow_it() {
    let api = Api::start().await;
    // Both alice's, as from one leaked CI log: a long-lived read token and a one-day writer.
    let create = |body: Value| api.with_password("alice", Method::POST, "/tokens", Some(body));
    let long_read = json_of(
        create(json!({"name": "reader", "validity": "6m", "access": "read",
            "paths": ["/api/"], "ip_allowlist": ["10.0.0.0/8"]}))
        .await,
        StatusCode::CREATED,
    )
    .await;
    let short_write = json_of(
        create(json!({"name": "writer", "validity": "1d"})).await,
        StatusCode::CREATED,
    )
    .await;
    let reader = long_read["id"].as_str().unwrap();
    let writer = short_write["token"].as_str().unwrap();
    let path = format!("/tokens/{reader}");
    for widening in [
        json!({"access": "write"}),
        json!({"paths": []}),
        json!({"paths": ["/"]}),
        json!({"paths": ["/api/", "/admin/"]}),
        json!({"ip_allowlist": []}),
        json!({"ip_allowlist": ["10.0.0.0/7"]}),
    ] {
        let refused = api
            .call(Method::PATCH, &path, writer, Some(widening.clone()))
            .await;
        error_body(refused, 403, "token_exceeds_caller").await;
    }
    let stored = api.app.store.token(reader).await.unwrap().unwrap();
    assert_eq!(stored.restrictions.access, Access::Read, "still read-only");
    assert_eq!(stored.restrictions.paths, ["/api/"]);
    // Narrowing it further is fine: that makes nothing stronger.
    let narrowed = api
        .call(
            Method::PATCH,
            &path,
            writer,
            Some(json!({"paths": ["/api/v2/"], "ip_allowlist": ["10.1.0.0/16"]})),
        )
        .await;
    assert_eq!(narrowed.status(), StatusCode::OK);
    // The owner's password may widen it again.
    let widened = api
        .with_password(
            "alice",
            Method::PATCH,
            &path,
            Some(json!({"access": "write", "paths": []})),
        )
        .await;
    assert_eq!(widened.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_incident_button_revokes_every_token_created_before_a_time() {
    let api = Api::start().await;
    api.app.add_user("bob", "bob-pw", false).await;
    let (_, bobs) = api.app.add_token("bob").await;
    // Times are stored to the millisecond: the cut lies clearly between the tokens.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let cut = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let (_, later) = api.app.add_token("bob").await;
    let only_bob = json_of(
        api.with_password(
            "root",
            Method::POST,
            "/admin/revoke-before",
            Some(json!({"before": cut, "user": "bob"})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(only_bob["deleted"], 1);
    assert_eq!(
        api.app
            .get_bearer("/tokengate/whoami", &bobs)
            .await
            .status(),
        401
    );
    assert_eq!(
        api.app
            .get_bearer("/tokengate/whoami", &later)
            .await
            .status(),
        200
    );
    let everyone = json_of(
        api.with_password(
            "root",
            Method::POST,
            "/admin/revoke-before",
            Some(json!({"before": cut})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(everyone["deleted"], 2, "root's and alice's");
    assert_eq!(
        api.app
            .get_bearer("/tokengate/whoami", &later)
            .await
            .status(),
        200
    );
    error_body(
        api.with_password(
            "alice",
            Method::POST,
            "/admin/revoke-before",
            Some(json!({"before": cut})),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let ghost = api
        .with_password(
            "root",
            Method::POST,
            "/admin/revoke-before",
            Some(json!({"before": cut, "user": "ghost"})),
        )
        .await;
    assert_eq!(ghost.status(), StatusCode::NOT_FOUND);
    // A time ahead of now (a time-zone slip) is refused and revokes nothing.
    let (_, kept) = api.app.add_token("bob").await;
    let ahead = chrono::Utc::now() + chrono::Duration::hours(1);
    error_body(
        api.with_password(
            "root",
            Method::POST,
            "/admin/revoke-before",
            Some(json!({"before": ahead})),
        )
        .await,
        422,
        "before_in_future",
    )
    .await;
    assert_eq!(
        api.app
            .get_bearer("/tokengate/whoami", &kept)
            .await
            .status(),
        200
    );
}
