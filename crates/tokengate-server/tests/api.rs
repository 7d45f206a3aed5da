//! The REST API (SPEC §3) through real HTTP: one test per row, including the error rows, bad
//! input that must change nothing, and the committed OpenAPI document.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{TestApp, error_body, test_config};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokengate_core::model::AuditFilter;

const API: &str = "/tokengate/api/v1";

struct Api {
    app: TestApp,
    admin_token: String,
    alice_token: String,
}

impl Api {
    async fn start() -> Self {
        Self::start_with(test_config()).await
    }

    async fn start_with(config: tokengate_server::config::Config) -> Self {
        let app = TestApp::spawn_with(config, false).await;
        app.add_user("root", "root-pw", true).await;
        app.add_user("alice", "alice-pw", false).await;
        let (_, admin_token) = app.add_token("root").await;
        let (_, alice_token) = app.add_token("alice").await;
        Self {
            app,
            admin_token,
            alice_token,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self
            .app
            .client
            .request(method, self.app.url(&format!("{API}{path}")))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        self.call(method, path, &self.admin_token, body).await
    }

    async fn alice(&self, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        self.call(method, path, &self.alice_token, body).await
    }

    async fn token_count(&self) -> usize {
        self.app
            .store
            .tokens(&Default::default())
            .await
            .unwrap()
            .len()
    }

    async fn audit_count(&self) -> usize {
        self.app
            .store
            .audit(&AuditFilter {
                limit: 1000,
                ..AuditFilter::default()
            })
            .await
            .unwrap()
            .len()
    }
}

async fn json_of(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    response.json().await.unwrap()
}

#[tokio::test]
async fn get_me_describes_the_caller_and_the_allowed_validities() {
    let api = Api::start().await;
    let me = json_of(api.alice(Method::GET, "/me", None).await, StatusCode::OK).await;
    assert_eq!(me["user"]["name"], "alice");
    assert_eq!(me["via"], "token");
    assert_eq!(
        me["permissions"],
        json!({"admin": false, "use_tokens": true})
    );
    assert_eq!(me["allowed_validities"], json!(["6m", "1y", "2y", "never"]));
    assert_eq!(me["default_validity"], "1y");
    let anonymous = api
        .app
        .client
        .get(api.app.url(&format!("{API}/me")))
        .send()
        .await
        .unwrap();
    error_body(anonymous, 401, "missing_credentials").await;
}

#[tokio::test]
async fn post_tokens_creates_a_token_whose_secret_is_shown_once_and_works() {
    let api = Api::start().await;
    let created = json_of(
        api.alice(
            Method::POST,
            "/tokens",
            Some(json!({"name": "laptop", "validity": "30d"})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let secret = created["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("tg_") && secret.len() == 39);
    assert_eq!(created["owner"], "alice");
    assert_eq!(created["created_by"], "alice");
    assert!(created["expires_at"].is_string());
    let whoami: Value = api
        .app
        .get_bearer("/tokengate/whoami", &secret)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(whoami["user"], "alice");
    let listed = json_of(
        api.alice(Method::GET, "/tokens", None).await,
        StatusCode::OK,
    )
    .await;
    let text = listed.to_string();
    assert!(!text.contains(&secret), "lists never show secrets");
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|token| token["id"] == created["id"] && token.get("token").is_none())
    );
    let at = json_of(
        api.alice(
            Method::POST,
            "/tokens",
            Some(json!({"name": "until", "expires_at": "2099-01-01T00:00:00Z"})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(at["expires_at"], "2099-01-01T00:00:00Z");
}

#[tokio::test]
async fn post_tokens_refuses_bad_names_validities_above_the_maximum_and_admins_only() {
    let api = Api::start().await;
    let before = (api.token_count().await, api.audit_count().await);
    error_body(
        api.alice(Method::POST, "/tokens", Some(json!({"name": ""})))
            .await,
        422,
        "invalid_name",
    )
    .await;
    error_body(
        api.alice(
            Method::POST,
            "/tokens",
            Some(json!({"name": "x".repeat(101)})),
        )
        .await,
        422,
        "invalid_name",
    )
    .await;
    error_body(
        api.alice(
            Method::POST,
            "/tokens",
            Some(json!({"name": "a", "validity": "7m"})),
        )
        .await,
        422,
        "invalid_validity",
    )
    .await;
    error_body(
        api.alice(
            Method::POST,
            "/tokens",
            Some(json!({"name": "a", "validity": "1y", "expires_at": "2099-01-01T00:00:00Z"})),
        )
        .await,
        422,
        "invalid_validity",
    )
    .await;
    let mut settings = api.app.store.settings().await.unwrap();
    settings.max_validity = tokengate_core::validity::MaxValidity::SixMonths;
    api.app.save_settings(&settings).await;
    api.app.sync().await;
    let before = (before.0, before.1 + 1);
    error_body(
        api.alice(
            Method::POST,
            "/tokens",
            Some(json!({"name": "a", "validity": "1y"})),
        )
        .await,
        422,
        "validity_exceeds_maximum",
    )
    .await;
    error_body(
        api.alice(
            Method::POST,
            "/tokens",
            Some(json!({"name": "a", "validity": "never"})),
        )
        .await,
        422,
        "validity_exceeds_maximum",
    )
    .await;
    settings.admins_only = true;
    api.app.save_settings(&settings).await;
    api.app.sync().await;
    let before = (before.0, before.1 + 1);
    let (_, password_call) = (
        0,
        api.app
            .client
            .post(api.app.url(&format!("{API}/tokens")))
            .basic_auth("alice", Some("alice-pw"))
            .json(&json!({"name": "a"}))
            .send()
            .await
            .unwrap(),
    );
    error_body(password_call, 403, "tokens_not_permitted").await;
    assert_eq!(
        (api.token_count().await, api.audit_count().await),
        before,
        "nothing written"
    );
}

#[tokio::test]
async fn patch_and_delete_tokens_work_on_own_tokens_and_answer_404_for_others() {
    let api = Api::start().await;
    let created = json_of(
        api.alice(Method::POST, "/tokens", Some(json!({"name": "old"})))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let id = created["id"].as_str().unwrap();
    let renamed = json_of(
        api.alice(
            Method::PATCH,
            &format!("/tokens/{id}"),
            Some(json!({"name": "new"})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(renamed["name"], "new");
    let roots = json_of(
        api.admin(Method::POST, "/tokens", Some(json!({"name": "root's"})))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let root_id = roots["id"].as_str().unwrap();
    error_body(
        api.alice(
            Method::PATCH,
            &format!("/tokens/{root_id}"),
            Some(json!({"name": "mine"})),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    error_body(
        api.alice(Method::DELETE, &format!("/tokens/{root_id}"), None)
            .await,
        404,
        "not_found",
    )
    .await;
    error_body(
        api.alice(Method::DELETE, "/tokens/no-such-id", None).await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(
        api.alice(Method::DELETE, &format!("/tokens/{id}"), None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    error_body(
        api.alice(Method::DELETE, &format!("/tokens/{id}"), None)
            .await,
        404,
        "not_found",
    )
    .await;
    assert!(
        api.app.store.token(root_id).await.unwrap().is_some(),
        "root's token untouched"
    );
}

#[tokio::test]
async fn delete_all_own_tokens_reports_the_count() {
    let api = Api::start().await;
    for name in ["a", "b"] {
        api.alice(Method::POST, "/tokens", Some(json!({"name": name})))
            .await;
    }
    let answer = api
        .app
        .client
        .delete(api.app.url(&format!("{API}/tokens")))
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(answer, StatusCode::OK).await, json!({"deleted": 3}));
    error_body(
        api.alice(Method::GET, "/tokens", None).await,
        401,
        "invalid_credentials",
    )
    .await;
}

#[tokio::test]
async fn admin_token_manager_filters_and_pages() {
    let api = Api::start().await;
    for index in 0..5 {
        api.admin(
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
        api.admin(
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
        api.admin(
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
        api.admin(
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
        api.admin(
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
        json!({"max_validity": "never", "ip_allowlist": [], "password_auth": "enabled", "admins_only": false})
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
        good
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
    let bob = json_of(
        api.admin(
            Method::POST,
            "/admin/users",
            Some(json!({"name": "bob", "password": "bob-pw", "display_name": "Bob B."})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        bob,
        json!({"name": "bob", "display_name": "Bob B.", "admin": false, "disabled": false, "failed_logins": 0, "locked_until": null})
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
        api.admin(
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
        api.admin(
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
            Some(json!({"admin": true})),
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

#[tokio::test]
async fn bad_bodies_get_4xx_json_and_write_nothing() {
    let api = Api::start().await;
    let before = (api.token_count().await, api.audit_count().await);
    let url = api.app.url(&format!("{API}/tokens"));
    let send = |body: Vec<u8>| {
        api.app
            .client
            .post(&url)
            .bearer_auth(&api.alice_token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (
            br#"{"name": "a", "colour": "red"}"#.to_vec(),
            422,
            "invalid_body",
        ),
        (br#"{"name": 5}"#.to_vec(), 422, "invalid_body"),
        (
            br#"{"name": "a", "name": "b"}"#.to_vec(),
            422,
            "invalid_body",
        ),
        (b"{\"name\": \"\xff\xfe\"}".to_vec(), 422, "invalid_body"),
        (b"not json".to_vec(), 422, "invalid_body"),
        (
            format!("{{\"name\": \"{}\"}}", "x".repeat(1024 * 1024)).into_bytes(),
            413,
            "body_too_large",
        ),
    ];
    for (body, status, code) in cases {
        error_body(send(body).await.unwrap(), status, code).await;
    }
    assert_eq!(
        (api.token_count().await, api.audit_count().await),
        before,
        "nothing written"
    );
    error_body(
        api.alice(Method::GET, "/no/such/endpoint", None).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn the_openapi_document_is_served_and_matches_the_committed_copy() {
    let api = Api::start_with(test_config()).await;
    let served: Value = api
        .app
        .get("/tokengate/api/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        served["openapi"]
            .as_str()
            .map(|version| version.starts_with("3.")),
        Some(true)
    );
    for path in [
        "/me",
        "/tokens",
        "/tokens/{id}",
        "/admin/tokens",
        "/admin/users/{user}/tokens",
        "/admin/tokens/{id}",
        "/admin/settings",
        "/admin/users",
        "/admin/users/{user}",
        "/admin/users/{user}/failed-logins",
        "/admin/audit",
        "/admin/explain",
    ] {
        assert!(served["paths"].get(path).is_some(), "{path} documented");
    }
    let committed_path =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let generated =
        serde_json::to_string_pretty(&tokengate_server::api::openapi::document()).unwrap() + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&committed_path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    assert_eq!(
        committed, generated,
        "docs/openapi.json is stale: run UPDATE_OPENAPI=1 cargo test -p tokengate-server --test api"
    );
    assert_eq!(serde_json::from_str::<Value>(&committed).unwrap(), served);
}
