//! Tokens made by tokens cannot outlive their maker's revocation (SPEC §11): a token created
//! through a request authenticated by token L names L in `made_by`; deleting L (by its owner,
//! an admin or the incident button) deletes every token made by it, transitively, at once,
//! and the audit record names them. Secrets never reach the audit log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api_support;
mod common;

use api_support::{Api, json_of};
use common::websocket::{closed_within, echo_server, open};
use common::{TestApp, test_config};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use tokengate_core::model::{AuditAction, AuditFilter, AuditRecord};
use tokengate_server::config::routes::RouteConfig;

async fn whoami(app: &TestApp, secret: &str) -> u16 {
    app.get_bearer("/tokengate/whoami", secret)
        .await
        .status()
        .as_u16()
}

/// Creates a never-expiring token of alice's through a request authenticated by `secret`.
async fn made_with(api: &Api, secret: &str, name: &str) -> Value {
    let body = json!({"name": name, "validity": "never"});
    json_of(
        api.call(Method::POST, "/tokens", secret, Some(body)).await,
        StatusCode::CREATED,
    )
    .await
}

async fn records(api: &Api, action: AuditAction) -> Vec<AuditRecord> {
    let filter = AuditFilter {
        action: Some(action),
        limit: 100,
        ..AuditFilter::default()
    };
    api.app.store.audit(&filter).await.unwrap()
}

/// L (alice's token) makes C, C makes D: (L's id, C, D) as created.
async fn family(api: &Api) -> (String, Value, Value) {
    let l = api.alice_token_id().await;
    let c = made_with(api, &api.alice_token, "c").await;
    let d = made_with(api, c["token"].as_str().unwrap(), "d").await;
    (l, c, d)
}

/// `POST path` with `user`'s password: the answer's body, after checking its status.
async fn posted(api: &Api, user: &str, path: &str, body: Value, status: StatusCode) -> Value {
    json_of(
        api.with_password(user, Method::POST, path, Some(body))
            .await,
        status,
    )
    .await
}

fn secret(token: &Value) -> &str {
    token["token"].as_str().unwrap()
}

#[tokio::test]
async fn deleting_a_maker_refuses_its_children_and_grandchildren_at_once() {
    let api = Api::start().await;
    let (l, c, d) = family(&api).await;
    assert_eq!(c["made_by"], l.as_str());
    assert_eq!(d["made_by"], c["id"]);
    for token in [&c, &d] {
        assert_eq!(whoami(&api.app, secret(token)).await, 200, "cached");
    }
    let deleted = api
        .with_password("alice", Method::DELETE, &format!("/tokens/{l}"), None)
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    for token in [&api.alice_token.as_str(), &secret(&c), &secret(&d)] {
        assert_eq!(whoami(&api.app, token).await, 401, "refused at once");
    }
    let left = json_of(
        api.with_password("alice", Method::GET, "/tokens", None)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(left, json!([]), "none of the three is listed");
    // The audit log names the maker and the cascade, and holds no secret.
    let deletion = &records(&api, AuditAction::TokenDeleted).await[0];
    assert_eq!(deletion.token_id.as_deref(), Some(l.as_str()));
    assert_eq!(deletion.actor, "alice");
    let mut expected = vec![c["id"].clone(), d["id"].clone()];
    expected.sort_by_key(|id| id.as_str().unwrap().to_owned());
    assert_eq!(deletion.details["also_deleted"], Value::Array(expected));
    let created = records(&api, AuditAction::TokenCreated).await;
    let of = |id: &Value| {
        created
            .iter()
            .find(|record| record.token_id.as_deref() == id.as_str())
            .unwrap()
            .details
            .clone()
    };
    assert_eq!(of(&c["id"])["made_by"], l.as_str());
    assert_eq!(of(&d["id"])["made_by"], c["id"]);
    let log = serde_json::to_string(
        &api.app
            .store
            .audit(&AuditFilter {
                limit: 1000,
                ..AuditFilter::default()
            })
            .await
            .unwrap(),
    )
    .unwrap();
    for token in [&api.alice_token.as_str(), &secret(&c), &secret(&d)] {
        assert!(!log.contains(token), "a secret in the audit log");
    }
}

#[tokio::test]
async fn deleting_a_child_deletes_what_it_made_and_leaves_its_maker() {
    let api = Api::start().await;
    let (l, c, d) = family(&api).await;
    let c_id = c["id"].as_str().unwrap();
    let deleted = api
        .alice(Method::DELETE, &format!("/tokens/{c_id}"), None)
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT, "through L itself");
    assert_eq!(whoami(&api.app, &api.alice_token).await, 200, "L stays");
    assert_eq!(whoami(&api.app, secret(&c)).await, 401);
    assert_eq!(whoami(&api.app, secret(&d)).await, 401);
    let deletion = &records(&api, AuditAction::TokenDeleted).await[0];
    assert_eq!(deletion.token_id.as_deref(), Some(c_id));
    assert_eq!(deletion.details["also_deleted"], json!([d["id"]]));
    // An admin revoking L now finds nothing else to take along.
    let revoked = api
        .with_password("root", Method::DELETE, &format!("/admin/tokens/{l}"), None)
        .await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let deletion = &records(&api, AuditAction::TokenDeleted).await[0];
    assert_eq!(deletion.actor, "root");
    assert_eq!(deletion.details["also_deleted"], json!([]));
}

#[tokio::test]
async fn a_token_made_with_a_password_has_no_maker_and_survives_its_owners_other_tokens() {
    let api = Api::start().await;
    let by_password = posted(
        &api,
        "alice",
        "/tokens",
        json!({"name": "pw"}),
        StatusCode::CREATED,
    )
    .await;
    let by_admin = posted(
        &api,
        "root",
        "/admin/users/alice/tokens",
        json!({"name": "for alice"}),
        StatusCode::CREATED,
    )
    .await;
    for token in [&by_password, &by_admin] {
        let object = token.as_object().unwrap();
        for field in ["made_by", "rotated_at", "rotated_from"] {
            assert_eq!(object.get(field), Some(&Value::Null), "{field}");
        }
    }
    let created = &records(&api, AuditAction::TokenCreated).await[0];
    assert!(created.details.get("made_by").is_none());
    let l = api.alice_token_id().await;
    let deleted = api
        .with_password("alice", Method::DELETE, &format!("/tokens/{l}"), None)
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(whoami(&api.app, secret(&by_password)).await, 200);
    assert_eq!(whoami(&api.app, secret(&by_admin)).await, 200);
}

#[tokio::test]
async fn revoke_before_deletes_the_tokens_the_revoked_ones_made_later() {
    let api = Api::start().await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let before = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (_, c, d) = family(&api).await;
    let unrelated = posted(
        &api,
        "alice",
        "/tokens",
        json!({"name": "new"}),
        StatusCode::CREATED,
    )
    .await;
    let revoked = posted(
        &api,
        "root",
        "/admin/revoke-before",
        json!({"before": before, "user": "alice"}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        revoked["deleted"], 3,
        "alice's old token and the two it made"
    );
    for token in [&api.alice_token.as_str(), &secret(&c), &secret(&d)] {
        assert_eq!(whoami(&api.app, token).await, 401);
    }
    assert_eq!(whoami(&api.app, secret(&unrelated)).await, 200);
    assert_eq!(whoami(&api.app, &api.admin_token).await, 200, "root's");
    let record = &records(&api, AuditAction::TokenRevokedBefore).await[0];
    assert_eq!(record.details["count"], 3);
    let mut expected = vec![c["id"].clone(), d["id"].clone()];
    expected.sort_by_key(|id| id.as_str().unwrap().to_owned());
    assert_eq!(record.details["also_deleted"], Value::Array(expected));
}

#[tokio::test]
async fn a_websocket_opened_with_a_grandchild_closes_when_the_first_maker_is_deleted() {
    let (upstream, _identities) = echo_server().await;
    let mut config = test_config();
    config.routes = vec![RouteConfig {
        name: "live".into(),
        upstream: format!("http://{upstream}"),
        websocket: true,
        ..RouteConfig::default()
    }];
    let app = TestApp::spawn_with(config, false).await;
    app.add_user("alice", "alice-pw", false).await;
    let (l, l_secret) = app.add_token("alice").await;
    let api = Api {
        app,
        admin_token: String::new(),
        alice_token: l_secret,
    };
    let c = made_with(&api, &api.alice_token, "c").await;
    let d = made_with(&api, secret(&c), "d").await;
    let mut socket = open(&api.app, Some(&format!("Bearer {}", secret(&d))))
        .await
        .unwrap();
    let deleted = api
        .with_password("alice", Method::DELETE, &format!("/tokens/{l}"), None)
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let took = closed_within(&mut socket, Duration::from_secs(1)).await;
    println!("closed {took:?} after the first maker was deleted");
}
