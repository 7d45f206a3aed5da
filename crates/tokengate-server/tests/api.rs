//! The REST API (SPEC §3), the caller's side: `/me` and the caller's own tokens; bad input
//! that must change nothing; the committed OpenAPI document.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api_support;
mod common;

use api_support::{API, Api, json_of};
use common::{error_body, test_config};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn get_me_describes_the_caller_and_the_allowed_validities() {
    let api = Api::start().await;
    let me = json_of(api.alice(Method::GET, "/me", None).await, StatusCode::OK).await;
    assert_eq!(me["user"]["name"], "alice");
    assert_eq!(me["via"], "token");
    assert_eq!(
        me["permissions"],
        json!({"admin": false, "use_tokens": true, "create_own_tokens": true, "create_tokens_for_others": false})
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
        // A number or an object where a restriction's word belongs is a wrong shape too.
        (
            br#"{"name": "a", "access": 1}"#.to_vec(),
            422,
            "invalid_body",
        ),
        (
            br#"{"name": "a", "access": {"read": true}}"#.to_vec(),
            422,
            "invalid_body",
        ),
        (
            br#"{"name": "a", "access": "READ"}"#.to_vec(),
            422,
            "invalid_body",
        ),
        (b"{\"name\": \"\xff\xfe\"}".to_vec(), 400, "invalid_json"),
        (b"{\"name\": \"a\"}}".to_vec(), 400, "invalid_json"),
        (b"not json".to_vec(), 400, "invalid_json"),
        (b"{\"name\": \"a\"".to_vec(), 400, "invalid_json"),
        (Vec::new(), 400, "invalid_json"),
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
    let served = api.openapi().await;
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
