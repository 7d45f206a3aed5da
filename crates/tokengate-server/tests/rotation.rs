//! Rotation (SPEC §11): a token gets a new secret with the same id, name and restrictions; the
//! old secret works for the grace period and then gets 401; on one node and across two nodes
//! on PostgreSQL. Rotating keeps the token's length (measured from its last rotation, so it
//! never grows), shows when and from which secret it was rotated, and needs the permission
//! creating a token needs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api_support;
mod common;
#[path = "multi_node/schema.rs"]
mod schema;

use api_support::{Api, json_of};
use chrono::{DateTime, TimeDelta, Utc};
use common::{TestApp, error_body, test_config};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokengate_core::Settings;
use tokengate_core::groups::{GroupList, Permissions};
use tokengate_core::model::{AuditAction, AuditFilter};

async fn whoami(app: &TestApp, secret: &str) -> u16 {
    app.get_bearer("/tokengate/whoami", secret)
        .await
        .status()
        .as_u16()
}

/// Rotates the token `id` of alice (by her password) with `grace`.
async fn rotate(api: &Api, id: &str, grace: Value) -> reqwest::Response {
    api.with_password(
        "alice",
        Method::POST,
        &format!("/tokens/{id}/rotate"),
        Some(grace),
    )
    .await
}

#[tokio::test]
async fn the_old_secret_works_during_the_grace_and_gets_401_after_it() {
    let api = Api::start().await;
    let id = api.alice_token_id().await;
    let rotated = json_of(
        rotate(&api, &id, json!({"grace": "2s"})).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(rotated["id"], id.as_str(), "the same token");
    assert_eq!(rotated["name"], "test token");
    let new_secret = rotated["token"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, api.alice_token);
    assert_eq!(whoami(&api.app, &new_secret).await, 200);
    assert_eq!(
        whoami(&api.app, &api.alice_token).await,
        200,
        "within the grace"
    );
    let started = Instant::now();
    while whoami(&api.app, &api.alice_token).await == 200 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the grace never ended"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    error_body(
        api.app
            .get_bearer("/tokengate/whoami", &api.alice_token)
            .await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(whoami(&api.app, &new_secret).await, 200);
    let filter = AuditFilter {
        action: Some(AuditAction::TokenRotated),
        limit: 5,
        ..AuditFilter::default()
    };
    let records = api.app.store.audit(&filter).await.unwrap();
    assert_eq!(records.len(), 1);
    let details = records[0].details.to_string();
    assert!(!details.contains(&new_secret) && !details.contains(&api.alice_token));
}

#[tokio::test]
async fn without_a_grace_the_old_secret_stops_at_once_and_bad_graces_change_nothing() {
    let api = Api::start().await;
    let id = api.alice_token_id().await;
    for bad in ["8d", "-1s", "soon", "1w", ""] {
        let response = rotate(&api, &id, json!({"grace": bad})).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    assert_eq!(
        whoami(&api.app, &api.alice_token).await,
        200,
        "nothing changed"
    );
    let rotated = json_of(rotate(&api, &id, json!({})).await, StatusCode::CREATED).await;
    assert_eq!(whoami(&api.app, &api.alice_token).await, 401);
    assert_eq!(
        whoami(&api.app, rotated["token"].as_str().unwrap()).await,
        200
    );
    let foreign = api
        .with_password(
            "root",
            Method::POST,
            &format!("/tokens/{id}/rotate"),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        foreign.status(),
        StatusCode::NOT_FOUND,
        "another user's token"
    );
}

#[tokio::test]
async fn a_token_rotated_through_itself_keeps_its_restrictions_and_expiry_bound() {
    let api = Api::start().await;
    let created = json_of(
        api.alice(
            Method::POST,
            "/tokens",
            Some(json!({"name": "30d", "validity": "30d", "access": "write"})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let secret = created["token"].as_str().unwrap();
    let id = created["id"].as_str().unwrap();
    let rotated = json_of(
        api.call(
            Method::POST,
            &format!("/tokens/{id}/rotate"),
            secret,
            Some(json!({"grace": "10m"})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(rotated["id"], id);
    let before = created["expires_at"].as_str().unwrap();
    assert_eq!(
        rotated["expires_at"].as_str().unwrap(),
        before,
        "a token rotating itself keeps its end"
    );
    // Another token of the owner, rotated through a token, ends no later than that token.
    let never = json_of(
        api.alice(
            Method::POST,
            "/tokens",
            Some(json!({"name": "never", "validity": "never"})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let shortened = json_of(
        api.call(
            Method::POST,
            &format!("/tokens/{}/rotate", never["id"].as_str().unwrap()),
            rotated["token"].as_str().unwrap(),
            Some(json!({})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(shortened["expires_at"].as_str().unwrap(), before);
    // A read-only token rotates nothing (a rotation is a POST), and a narrow token cannot
    // rotate a wider one.
    let narrow = json_of(
        api.alice(
            Method::POST,
            "/tokens",
            Some(json!({"name": "narrow", "paths": ["/tokengate/api"]})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let refused = api
        .call(
            Method::POST,
            &format!("/tokens/{}/rotate", never["id"].as_str().unwrap()),
            narrow["token"].as_str().unwrap(),
            Some(json!({})),
        )
        .await;
    error_body(refused, 403, "token_exceeds_caller").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_two_nodes_the_old_secret_works_on_both_during_the_grace_and_on_neither_after() {
    let Some(schema) = schema::FreshSchema::create().await else {
        return;
    };
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let store = tokengate_store::open(&schema.url).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        nodes.push(TestApp::spawn_on(test_config(), store, schema.url.clone(), None, dir).await);
    }
    let (a, b) = (&nodes[0], &nodes[1]);
    a.add_user("alice", "alice-pw", false).await;
    let (id, old) = a.add_token("alice").await;
    for _ in 0..3 {
        assert_eq!(whoami(b, &old).await, 200, "B caches the token");
    }
    let rotated: Value = a
        .client
        .post(a.url(&format!("/tokengate/api/v1/tokens/{id}/rotate")))
        .basic_auth("alice", Some("alice-pw"))
        .json(&json!({"grace": "2s"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new = rotated["token"].as_str().unwrap();
    assert_eq!(whoami(b, new).await, 200, "B knows the new secret at once");
    assert_eq!(
        whoami(b, &old).await,
        200,
        "and the old one within the grace"
    );
    let started = Instant::now();
    while whoami(b, &old).await == 200 || whoami(a, &old).await == 200 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the grace never ended"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "measured: the old secret refused on both nodes {:?} after the rotation",
        started.elapsed()
    );
    assert_eq!(whoami(a, new).await, 200);
    assert_eq!(whoami(b, new).await, 200);
}

#[tokio::test]
async fn an_old_secret_in_its_grace_reaches_what_the_token_reaches_but_makes_and_changes_no_token()
{
    let api = Api::start().await;
    let id = api.alice_token_id().await;
    // A second token of alice's, which the old secret might try to take over.
    let sibling = json_of(
        api.alice(Method::POST, "/tokens", Some(json!({"name": "sibling"})))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let sibling_id = sibling["id"].as_str().unwrap().to_owned();
    let rotated = json_of(
        rotate(&api, &id, json!({"grace": "1h"})).await,
        StatusCode::CREATED,
    )
    .await;
    let new_secret = rotated["token"].as_str().unwrap().to_owned();
    let tokens_before = api.token_count().await;
    let audits_before = api.audit_count().await;

    let old = api.alice_token.clone();
    assert_eq!(whoami(&api.app, &old).await, 200, "within the grace");
    let listed = api.call(Method::GET, "/tokens", &old, None).await;
    assert_eq!(listed.status(), StatusCode::OK, "reading works");
    for (method, path, body) in [
        (
            Method::POST,
            format!("/tokens/{id}/rotate"),
            json!({"grace": "7d"}),
        ),
        (Method::POST, format!("/tokens/{id}/rotate"), json!({})),
        (
            Method::POST,
            format!("/tokens/{sibling_id}/rotate"),
            json!({}),
        ),
        (Method::POST, "/tokens".to_owned(), json!({"name": "child"})),
        (
            Method::POST,
            "/tokens".to_owned(),
            json!({"name": "narrow child", "validity": "1d", "access": "read"}),
        ),
        (
            Method::PATCH,
            format!("/tokens/{sibling_id}"),
            json!({"access": "read"}),
        ),
        (
            Method::PATCH,
            format!("/tokens/{id}"),
            json!({"paths": ["/"]}),
        ),
    ] {
        let refused = api.call(method.clone(), &path, &old, Some(body)).await;
        error_body(refused, 403, "token_exceeds_caller").await;
    }
    assert_eq!(api.token_count().await, tokens_before, "no token made");
    assert_eq!(api.audit_count().await, audits_before, "nothing changed");
    assert_eq!(
        whoami(&api.app, &new_secret).await,
        200,
        "the new secret stands"
    );

    // The new secret makes tokens as any token does.
    let child = api
        .call(
            Method::POST,
            "/tokens",
            &new_secret,
            Some(json!({"name": "child"})),
        )
        .await;
    assert_eq!(child.status(), StatusCode::CREATED);
}

fn instant(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn rotating_again_and_again_keeps_a_thirty_day_token_at_thirty_days() {
    let api = Api::start().await;
    // 30 days long, 29 of them gone.
    let now = Utc::now();
    let expiry = Some(now + TimeDelta::days(1));
    let (id, _) = api
        .app
        .add_token_made_at("alice", now - TimeDelta::days(29), expiry)
        .await;
    let mut hint = api.app.store.token(&id).await.unwrap().unwrap().hint;
    for round in 1..=3 {
        let rotated = json_of(rotate(&api, &id, json!({})).await, StatusCode::CREATED).await;
        let now = Utc::now();
        let length = instant(&rotated["expires_at"]) - now;
        assert!(
            (length - TimeDelta::days(30)).abs() < TimeDelta::minutes(1),
            "rotation {round}: {length} long, not 30 days"
        );
        assert!((now - instant(&rotated["rotated_at"])).abs() < TimeDelta::minutes(1));
        assert_eq!(
            rotated["rotated_from"],
            hint.as_str(),
            "the replaced secret's hint"
        );
        assert!(
            now - instant(&rotated["created_at"]) > TimeDelta::days(28),
            "kept"
        );
        let listed = json_of(
            api.with_password("alice", Method::GET, "/tokens", None)
                .await,
            StatusCode::OK,
        )
        .await;
        let shown = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|token| token["id"] == id.as_str())
            .unwrap();
        for field in ["expires_at", "rotated_at", "rotated_from", "hint"] {
            assert_eq!(shown[field], rotated[field], "{field} as stored");
        }
        hint = rotated["hint"].as_str().unwrap().to_owned();
    }
}

/// A rotation that must be refused: 403 with `code`, and the token exactly as it was.
async fn refused_and_unchanged(api: &Api, id: &str, attempt: reqwest::Response, code: &str) {
    let before = api.app.store.token(id).await.unwrap().unwrap();
    error_body(attempt, 403, code).await;
    assert_eq!(api.app.store.token(id).await.unwrap().unwrap(), before);
}

#[tokio::test]
async fn rotating_needs_the_permission_creating_needs_and_a_refusal_changes_nothing() {
    let api = Api::start().await;
    let id = api.alice_token_id().await;
    api.app
        .save_settings(&Settings {
            permissions: Permissions {
                create_own_tokens: GroupList::default(),
                ..Permissions::default()
            },
            ..Settings::default()
        })
        .await;
    api.app.sync().await;
    let created = api
        .with_password("alice", Method::POST, "/tokens", Some(json!({"name": "x"})))
        .await;
    error_body(created, 403, "tokens_not_permitted").await;
    let path = format!("/tokens/{id}/rotate");
    let by_password = rotate(&api, &id, json!({"grace": "1h"})).await;
    refused_and_unchanged(&api, &id, by_password, "tokens_not_permitted").await;
    let by_itself = api.alice(Method::POST, &path, Some(json!({}))).await;
    refused_and_unchanged(&api, &id, by_itself, "tokens_not_permitted").await;
    assert_eq!(whoami(&api.app, &api.alice_token).await, 200, "still works");
    let filter = AuditFilter {
        action: Some(AuditAction::TokenRotated),
        limit: 5,
        ..AuditFilter::default()
    };
    assert!(api.app.store.audit(&filter).await.unwrap().is_empty());
    // Admins-only: the same refusal for a user, while an admin still rotates their own.
    api.app
        .save_settings(&Settings {
            admins_only: true,
            ..Settings::default()
        })
        .await;
    api.app.sync().await;
    let under_admins_only = rotate(&api, &id, json!({})).await;
    refused_and_unchanged(&api, &id, under_admins_only, "tokens_not_permitted").await;
    let root_token = api.admin(Method::GET, "/tokens", None).await;
    let root_id = json_of(root_token, StatusCode::OK).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rotated = api
        .with_password(
            "root",
            Method::POST,
            &format!("/tokens/{root_id}/rotate"),
            Some(json!({})),
        )
        .await;
    assert_eq!(rotated.status(), StatusCode::CREATED);
}
