//! The REST API (SPEC §3), the admin endpoints: token manager, create on behalf, revoke,
//! settings, users, audit, explain — including their error rows.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api_support;
mod common;

use api_support::{Api, json_of};
use common::error_body;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn admin_token_manager_filters_and_pages() {
    let api = Api::start().await;
    for index in 0..5 {
        api.with_password(
            "root",
            Method::POST,
            "/admin/users/alice/tokens",
            Some(json!({"name": format!("batch {index}")})),
        )
        .await;
    }
    error_body(
        api.alice(Method::GET, "/admin/tokens", None).await,
        403,
        "forbidden",
    )
    .await;
    let page = json_of(
        api.admin(
            Method::GET,
            "/admin/tokens?user=alice&name=BATCH&limit=3",
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["tokens"].as_array().unwrap().len(), 3);
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = json_of(
        api.admin(
            Method::GET,
            &format!("/admin/tokens?user=alice&name=batch&limit=3&cursor={cursor}"),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rest["tokens"].as_array().unwrap().len(), 2);
    assert!(rest["next_cursor"].is_null());
    let unused = json_of(
        api.admin(
            Method::GET,
            "/admin/tokens?unused_since=2100-01-01T00:00:00Z&expires_before=2100-01-01T00:00:00Z",
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        unused["tokens"].as_array().unwrap().len(),
        5,
        "the five batch tokens expire within a year; the seeded ones never do"
    );
    error_body(
        api.admin(Method::GET, "/admin/tokens?bogus=1", None).await,
        400,
        "invalid_query",
    )
    .await;
}

#[tokio::test]
async fn admin_creates_tokens_on_behalf_of_users_audited_with_actor_and_owner() {
    let api = Api::start().await;
    let created = json_of(
        api.with_password(
            "root",
            Method::POST,
            "/admin/users/alice/tokens",
            Some(json!({"name": "for alice", "validity": "6m"})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created["owner"], "alice");
    assert_eq!(created["created_by"], "root");
    let audit = json_of(
        api.admin(
            Method::GET,
            "/admin/audit?action=token.created&limit=1",
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let record = &audit["records"][0];
    assert_eq!(record["actor"], "root");
    assert_eq!(record["user"], "alice");
    assert_eq!(record["token_id"], created["id"]);
    assert!(
        record["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    assert_eq!(record["ip"], "127.0.0.1");
    error_body(
        api.with_password(
            "root",
            Method::POST,
            "/admin/users/nobody/tokens",
            Some(json!({"name": "x"})),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let mut settings = api.app.store.settings().await.unwrap();
    settings.admins_only = true;
    api.app.save_settings(&settings).await;
    api.app.sync().await;
    error_body(
        api.with_password(
            "root",
            Method::POST,
            "/admin/users/alice/tokens",
            Some(json!({"name": "x"})),
        )
        .await,
        409,
        "tokens_not_permitted",
    )
    .await;
}

#[tokio::test]
async fn admin_revokes_one_token_or_all_of_a_users() {
    let api = Api::start().await;
    let created = json_of(
        api.with_password(
            "root",
            Method::POST,
            "/admin/users/alice/tokens",
            Some(json!({"name": "one"})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        api.admin(Method::DELETE, &format!("/admin/tokens/{id}"), None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    error_body(
        api.admin(Method::DELETE, &format!("/admin/tokens/{id}"), None)
            .await,
        404,
        "not_found",
    )
    .await;
    let all = json_of(
        api.admin(Method::DELETE, "/admin/users/alice/tokens", None)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(all, json!({"deleted": 1}));
    error_body(
        api.admin(Method::DELETE, "/admin/users/nobody/tokens", None)
            .await,
        404,
        "not_found",
    )
    .await;
    error_body(
        api.alice(Method::GET, "/me", None).await,
        401,
        "invalid_credentials",
    )
    .await;
}

#[tokio::test]
async fn admin_settings_put_validates_everything_and_changes_nothing_on_error() {
    let api = Api::start().await;
    let current = json_of(
        api.admin(Method::GET, "/admin/settings", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        current,
        json!({"max_validity": "never", "ip_allowlist": [], "password_auth": "enabled", "admins_only": false,
            "permissions": {"use_tokens": ["*"], "create_own_tokens": ["*"], "create_tokens_for_others": []},
            "audit_auth_events": {"success": false, "failure": false, "denied": false}})
    );
    let audit_before = api.audit_count().await;
    let bad = json!({"max_validity": "1y", "ip_allowlist": ["127.0.0.1", "10.0.0.300"], "password_auth": "disabled", "admins_only": true});
    let body = error_body(
        api.admin(Method::PUT, "/admin/settings", Some(bad)).await,
        422,
        "invalid_ip_allowlist",
    )
    .await;
    assert!(body["message"].as_str().unwrap().contains("10.0.0.300"));
    let wrong_type = json!({"max_validity": "1y", "ip_allowlist": [], "password_auth": "enabled", "admins_only": "yes"});
    error_body(
        api.admin(Method::PUT, "/admin/settings", Some(wrong_type))
            .await,
        422,
        "invalid_body",
    )
    .await;
    let unknown = json!({"max_validity": "1y", "ip_allowlist": [], "password_auth": "enabled", "admins_only": false, "extra": 1});
    error_body(
        api.admin(Method::PUT, "/admin/settings", Some(unknown))
            .await,
        422,
        "invalid_body",
    )
    .await;
    assert_eq!(
        api.app.store.settings().await.unwrap(),
        tokengate_core::model::Settings::default()
    );
    assert_eq!(api.audit_count().await, audit_before);
    let good = json!({"max_validity": "1y", "ip_allowlist": ["127.0.0.0/8"], "password_auth": "disabled", "admins_only": false});
    assert_eq!(
        json_of(
            api.admin(Method::PUT, "/admin/settings", Some(good.clone()))
                .await,
            StatusCode::OK
        )
        .await,
        json!({"max_validity": "1y", "ip_allowlist": ["127.0.0.0/8"], "password_auth": "disabled",
            "admins_only": false,
            "permissions": {"use_tokens": ["*"], "create_own_tokens": ["*"], "create_tokens_for_others": []},
            "audit_auth_events": {"success": false, "failure": false, "denied": false}}),
        "a PUT without permissions keeps them"
    );
    error_body(
        api.app
            .get_basic("/tokengate/whoami", "alice", "alice-pw")
            .await,
        403,
        "password_auth_disabled",
    )
    .await;
    error_body(
        api.admin(Method::PUT, "/admin/settings", None).await,
        415,
        "unsupported_media_type",
    )
    .await;
    error_body(
        api.alice(Method::GET, "/admin/settings", None).await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn admin_settings_put_refuses_to_lock_out_the_caller_unless_forced() {
    let api = Api::start().await;
    let outside = json!({"max_validity": "never", "ip_allowlist": ["10.0.0.0/8"], "password_auth": "enabled", "admins_only": false});
    let body = error_body(
        api.admin(Method::PUT, "/admin/settings", Some(outside.clone()))
            .await,
        409,
        "would_lock_out_caller",
    )
    .await;
    assert!(body["message"].as_str().unwrap().contains("127.0.0.1"));
    assert!(
        api.app
            .store
            .settings()
            .await
            .unwrap()
            .ip_allowlist
            .is_empty()
    );
    assert_eq!(
        api.admin(Method::PUT, "/admin/settings?force=true", Some(outside))
            .await
            .status(),
        StatusCode::OK
    );
    error_body(
        api.admin(Method::GET, "/admin/settings", None).await,
        403,
        "ip_not_allowed",
    )
    .await;
}

#[tokio::test]
async fn admin_users_are_listed_created_changed_and_reset() {
    let api = Api::start().await;
    let users = json_of(
        api.admin(Method::GET, "/admin/users", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        users
            .as_array()
            .unwrap()
            .iter()
            .map(|user| user["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["alice", "root"]
    );
    assert!(users[0].get("password_hash").is_none());
    // Through a token an admin sets no password and makes no admin: the password can.
    let bobs_body = json!({"name": "bob", "password": "bob-pw", "display_name": "Bob B."});
    for (method, path, body) in [
        (Method::POST, "/admin/users", bobs_body.clone()),
        (
            Method::POST,
            "/admin/users",
            json!({"name": "eve", "admin": true}),
        ),
        (
            Method::PATCH,
            "/admin/users/alice",
            json!({"password": "taken-over"}),
        ),
        (Method::PATCH, "/admin/users/alice", json!({"admin": true})),
    ] {
        let refused = api.admin(method, path, Some(body)).await;
        error_body(refused, 403, "token_exceeds_caller").await;
    }
    let alice = api.app.store.user("alice").await.unwrap().unwrap();
    assert!(!alice.admin && api.app.store.user("eve").await.unwrap().is_none());
    let bob = json_of(
        api.with_password("root", Method::POST, "/admin/users", Some(bobs_body))
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        bob,
        json!({"name": "bob", "display_name": "Bob B.", "email": null, "source": "local", "groups": [],
            "admin": false, "disabled": false, "failed_logins": 0, "locked_until": null})
    );
    error_body(
        api.admin(Method::POST, "/admin/users", Some(json!({"name": "bob"})))
            .await,
        409,
        "conflict",
    )
    .await;
    error_body(
        api.admin(Method::POST, "/admin/users", Some(json!({"name": "b o b"})))
            .await,
        422,
        "invalid_user_name",
    )
    .await;
    error_body(
        api.with_password(
            "root",
            Method::POST,
            "/admin/users",
            Some(json!({"name": "carol", "password": ""})),
        )
        .await,
        422,
        "invalid_password",
    )
    .await;
    let promoted = json_of(
        api.with_password(
            "root",
            Method::PATCH,
            "/admin/users/bob",
            Some(json!({"admin": true})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(promoted["admin"], true);
    error_body(
        api.admin(
            Method::PATCH,
            "/admin/users/nobody",
            Some(json!({"admin": false})),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    for _ in 0..2 {
        api.app.get_basic("/tokengate/whoami", "bob", "wrong").await;
    }
    assert_eq!(
        api.app
            .store
            .user("bob")
            .await
            .unwrap()
            .unwrap()
            .failed_logins,
        2
    );
    assert_eq!(
        api.admin(Method::DELETE, "/admin/users/bob/failed-logins", None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.app
            .store
            .user("bob")
            .await
            .unwrap()
            .unwrap()
            .failed_logins,
        0
    );
    error_body(
        api.admin(Method::DELETE, "/admin/users/nobody/failed-logins", None)
            .await,
        404,
        "not_found",
    )
    .await;
    json_of(
        api.admin(
            Method::PATCH,
            "/admin/users/alice",
            Some(json!({"disabled": true})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    error_body(
        api.alice(Method::GET, "/me", None).await,
        403,
        "user_disabled",
    )
    .await;
    let nul = json!({"display_name": "Bob\u{0}B."});
    error_body(
        api.admin(Method::PATCH, "/admin/users/bob", Some(nul))
            .await,
        422,
        "invalid_display_name",
    )
    .await;
    assert_eq!(
        api.app
            .store
            .user("bob")
            .await
            .unwrap()
            .unwrap()
            .display_name,
        "Bob B."
    );
}

#[tokio::test]
async fn admin_audit_filters_and_pages_newest_first() {
    let api = Api::start().await;
    for name in ["a", "b", "c"] {
        api.alice(Method::POST, "/tokens", Some(json!({"name": name})))
            .await;
    }
    let first = json_of(
        api.admin(
            Method::GET,
            "/admin/audit?actor=alice&action=token.created&limit=2",
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let records = first["records"].as_array().unwrap();
    assert_eq!(records.len(), 2);
    assert!(
        records[0]["id"].as_i64() > records[1]["id"].as_i64(),
        "newest first"
    );
    assert_eq!(records[0]["details"]["name"], "c");
    let cursor = first["next_cursor"].as_i64().unwrap();
    let second = json_of(
        api.admin(
            Method::GET,
            &format!("/admin/audit?actor=alice&limit=2&cursor={cursor}"),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(second["records"][0]["details"]["name"], "a");
    let none = json_of(
        api.admin(Method::GET, "/admin/audit?since=2100-01-01T00:00:00Z", None)
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(none["records"].as_array().unwrap().is_empty());
    error_body(
        api.admin(Method::GET, "/admin/audit?action=token.exploded", None)
            .await,
        400,
        "invalid_query",
    )
    .await;
}

#[tokio::test]
async fn admin_explain_gives_the_full_decision_without_side_effects() {
    let api = Api::start().await;
    let basic = format!("Basic {}", base64_of("alice:wrong"));
    let answer = json_of(
        api.admin(
            Method::POST,
            "/admin/explain",
            Some(
                json!({"method": "GET", "path": "/x", "ip": "203.0.113.5", "authorization": basic}),
            ),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(answer["allowed"], false);
    assert_eq!(answer["status"], 401);
    assert_eq!(answer["reason"], "invalid_credentials");
    assert!(
        answer["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|step| step.as_str().unwrap().contains("password is wrong"))
    );
    assert_eq!(
        api.app
            .store
            .user("alice")
            .await
            .unwrap()
            .unwrap()
            .failed_logins,
        0,
        "no failure counted"
    );
    let bearer = format!("Bearer {}", api.alice_token);
    let allowed = json_of(
        api.admin(
            Method::POST,
            "/admin/explain",
            Some(json!({"ip": "203.0.113.5", "authorization": bearer})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (
            allowed["allowed"].clone(),
            allowed["user"].clone(),
            allowed["via"].clone()
        ),
        (json!(true), json!("alice"), json!("token"))
    );
    assert!(!allowed.to_string().contains(&api.alice_token));
    error_body(
        api.alice(
            Method::POST,
            "/admin/explain",
            Some(json!({"ip": "203.0.113.5"})),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
}

fn base64_of(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}
