//! Several gateway nodes on one PostgreSQL database (SPEC §6): what one node (or any client
//! of the store) changes, every other node enforces within a second (tokens made by a deleted
//! token included); failed logins add up
//! across nodes; and when PostgreSQL goes away the nodes fail closed and recover by
//! themselves. The first tests need `TOKENGATE_TEST_POSTGRES_URL` (each uses a schema of its
//! own); the outage test starts a throwaway cluster of its own, since it stops it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "multi_node/cluster.rs"]
mod cluster;
mod common;
#[path = "multi_node/schema.rs"]
mod schema;

use chrono::Utc;
use common::{TestApp, operator_change, test_config};
use std::future::Future;
use std::time::{Duration, Instant};
use tokengate_core::manage::{self, Scope, UserUpdate};
use tokengate_core::model::Settings;
use tokengate_server::config::Config;
use tokengate_server::effects;

const WITHIN: Duration = Duration::from_secs(1);

/// Two nodes on the database at `url`, each with its own store (pool), caches and watcher.
async fn two_nodes(url: &str, config: Config) -> (TestApp, TestApp) {
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let store = tokengate_store::open(url).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        nodes.push(TestApp::spawn_on(config.clone(), store, url.to_owned(), None, dir).await);
    }
    let b = nodes.pop().unwrap();
    let a = nodes.pop().unwrap();
    (a, b)
}

/// Polls `status` until it returns `expected`; returns how long that took (fails after 10 s).
async fn until_status<F, Fut>(expected: u16, mut status: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = u16>,
{
    let started = Instant::now();
    loop {
        if status().await == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still no {expected} after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn whoami_bearer(node: &TestApp, token: &str) -> u16 {
    node.get_bearer("/tokengate/whoami", token)
        .await
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_created_on_one_node_works_on_the_other() {
    let Some(schema) = schema::FreshSchema::create().await else {
        return;
    };
    let (a, b) = two_nodes(&schema.url, test_config()).await;
    a.add_user("alice", "correct horse battery", false).await;
    let (_, secret) = a.add_token("alice").await;
    let response = b.get_bearer("/tokengate/whoami", &secret).await;
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["user"], "alice");
    assert_eq!(whoami_bearer(&a, &secret).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_deleted_on_one_node_is_refused_by_the_other_within_a_second() {
    let Some(schema) = schema::FreshSchema::create().await else {
        return;
    };
    let (a, b) = two_nodes(&schema.url, test_config()).await;
    a.add_user("alice", "correct horse battery", false).await;
    let (id, secret) = a.add_token("alice").await;
    for _ in 0..3 {
        assert_eq!(whoami_bearer(&b, &secret).await, 200, "B caches the token");
    }
    let deleted = manage::delete_token(
        a.store.as_ref(),
        Scope::Admin(&operator_change(Utc::now())),
        &id,
    )
    .await;
    effects::in_store(a.store.as_ref(), deleted).await.unwrap();
    let took = until_status(401, || whoami_bearer(&b, &secret)).await;
    assert!(took < WITHIN, "B refused the deleted token after {took:?}");
}

/// A token of alice's made through `node` by a request authenticated by `maker`: (id, secret).
async fn made_with(node: &TestApp, maker: &str) -> (String, String) {
    let made: serde_json::Value = node
        .client
        .post(node.url("/tokengate/api/v1/tokens"))
        .bearer_auth(maker)
        .json(&serde_json::json!({"name": "made", "validity": "never"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let field = |name: &str| made[name].as_str().unwrap().to_owned();
    (field("id"), field("token"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_made_by_a_token_deleted_on_one_node_are_refused_by_both_within_a_second() {
    let Some(schema) = schema::FreshSchema::create().await else {
        return;
    };
    let (a, b) = two_nodes(&schema.url, test_config()).await;
    a.add_user("alice", "correct horse battery", false).await;
    let (maker, maker_secret) = a.add_token("alice").await;
    let (_, child) = made_with(&a, &maker_secret).await;
    let (_, grandchild) = made_with(&b, &child).await;
    for node in [&a, &b] {
        for secret in [&child, &grandchild] {
            assert_eq!(whoami_bearer(node, secret).await, 200, "cached");
        }
    }
    let deleted = a
        .client
        .delete(a.url(&format!("/tokengate/api/v1/tokens/{maker}")))
        .basic_auth("alice", Some("correct horse battery"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    for node in [&a, &b] {
        for secret in [&child, &grandchild] {
            let took = until_status(401, || whoami_bearer(node, secret)).await;
            assert!(took < WITHIN, "refused after {took:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_settings_change_on_one_node_is_enforced_by_the_other_within_a_second() {
    let Some(schema) = schema::FreshSchema::create().await else {
        return;
    };
    let (a, b) = two_nodes(&schema.url, test_config()).await;
    a.add_user("alice", "correct horse battery", false).await;
    let (_, secret) = a.add_token("alice").await;
    assert_eq!(whoami_bearer(&b, &secret).await, 200);
    let admins_only = Settings {
        admins_only: true,
        ..Settings::default()
    };
    a.save_settings(&admins_only).await;
    let took = until_status(403, || whoami_bearer(&b, &secret)).await;
    assert!(took < WITHIN, "B applied admins_only after {took:?}");
    let response = b.get_bearer("/tokengate/whoami", &secret).await;
    common::error_body(response, 403, "tokens_not_permitted").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_disabled_on_one_node_is_refused_by_the_other_within_a_second() {
    let Some(schema) = schema::FreshSchema::create().await else {
        return;
    };
    let (a, b) = two_nodes(&schema.url, test_config()).await;
    a.add_user("alice", "correct horse battery", false).await;
    let (_, secret) = a.add_token("alice").await;
    for _ in 0..3 {
        assert_eq!(whoami_bearer(&b, &secret).await, 200, "B caches the owner");
    }
    let disable = UserUpdate {
        disabled: Some(true),
        ..UserUpdate::default()
    };
    let change = operator_change(Utc::now());
    let disabled = manage::update_user(a.store.as_ref(), &change, "alice", disable).await;
    effects::in_store(a.store.as_ref(), disabled).await.unwrap();
    let took = until_status(403, || whoami_bearer(&b, &secret)).await;
    assert!(took < WITHIN, "B refused the disabled user after {took:?}");
    let response = b.get_bearer("/tokengate/whoami", &secret).await;
    common::error_body(response, 403, "user_disabled").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_logins_on_both_nodes_add_up_to_one_lockout() {
    let Some(schema) = schema::FreshSchema::create().await else {
        return;
    };
    let mut config = test_config();
    config.security.max_failed_logins = 5;
    let (a, b) = two_nodes(&schema.url, config).await;
    a.add_user("alice", "correct horse battery", false).await;
    for node in [&a, &b, &a, &b, &a] {
        let response = node
            .get_basic("/tokengate/whoami", "alice", "wrong guess")
            .await;
        assert_eq!(response.status().as_u16(), 401);
    }
    let stored = b.store.user("alice").await.unwrap().unwrap();
    assert_eq!(stored.failed_logins, 5);
    assert!(stored.locked_until.is_some(), "the fifth failure locks");
    for node in [&a, &b] {
        let response = node
            .get_basic("/tokengate/whoami", "alice", "correct horse battery")
            .await;
        common::error_body(response, 403, "user_locked").await;
    }
}

/// Status of each request in a loop, per token.
#[derive(Default)]
struct Seen {
    valid: Vec<u16>,
    revoked: Vec<u16>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stopping_postgres_fails_closed_and_service_resumes_when_it_returns() {
    let Some(cluster) = tokio::task::spawn_blocking(cluster::Cluster::start_new)
        .await
        .unwrap()
    else {
        return;
    };
    let cluster = std::sync::Arc::new(cluster);
    let url = cluster.url();
    let (a, b) = two_nodes(&url, test_config()).await;
    a.add_user("alice", "correct horse battery", false).await;
    let (_, valid) = a.add_token("alice").await;
    let (revoked_id, revoked) = a.add_token("alice").await;
    for secret in [&valid, &revoked] {
        assert_eq!(whoami_bearer(&b, secret).await, 200, "B caches both tokens");
    }
    assert_eq!(b.get("/tokengate/readyz").await.status().as_u16(), 200);

    // Revoke one token on A, and stop PostgreSQL right after.
    let deleted = manage::delete_token(
        a.store.as_ref(),
        Scope::Admin(&operator_change(Utc::now())),
        &revoked_id,
    )
    .await;
    effects::in_store(a.store.as_ref(), deleted).await.unwrap();
    let stopping = cluster.clone();
    tokio::task::spawn_blocking(move || stopping.stop())
        .await
        .unwrap();

    let mut seen = Seen::default();
    let outage = Instant::now();
    while outage.elapsed() < Duration::from_secs(15) {
        seen.revoked.push(whoami_bearer(&b, &revoked).await);
        seen.valid.push(whoami_bearer(&b, &valid).await);
        if seen.valid.ends_with(&[503, 503, 503]) {
            break;
        }
    }
    assert!(
        !seen.revoked.contains(&200),
        "a revoked token was accepted during the outage: {:?}",
        seen.revoked
    );
    assert!(
        seen.valid.ends_with(&[503, 503, 503]),
        "protected requests get 503 while the store is down: {:?}",
        seen.valid
    );
    assert!(
        seen.revoked
            .iter()
            .all(|status| [401, 503].contains(status))
    );
    assert_eq!(b.get("/tokengate/readyz").await.status().as_u16(), 503);
    assert_eq!(a.get("/tokengate/readyz").await.status().as_u16(), 503);

    let starting = cluster.clone();
    tokio::task::spawn_blocking(move || starting.start())
        .await
        .unwrap();
    // Both nodes recover on their own (until_status gives up after 10 s).
    for node in [&a, &b] {
        until_status(200, || whoami_bearer(node, &valid)).await;
        assert_eq!(whoami_bearer(node, &revoked).await, 401);
        let ready = || async { node.get("/tokengate/readyz").await.status().as_u16() };
        until_status(200, ready).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_websocket_on_one_node_closes_within_a_second_of_a_revocation_on_the_other() {
    let Some(schema) = schema::FreshSchema::create().await else {
        return;
    };
    let (echo, _identities) = common::websocket::echo_server().await;
    let mut config = test_config();
    config.gateway.upstream = Some(format!("http://{echo}"));
    let (a, b) = two_nodes(&schema.url, config).await;
    a.add_user("alice", "correct horse battery", false).await;
    let (token_id, secret) = a.add_token("alice").await;
    let mut socket = common::websocket::open(&b, Some(&format!("Bearer {secret}")))
        .await
        .unwrap();
    common::websocket::echoes(&mut socket, "through node B").await;
    let deleted = manage::delete_token(
        a.store.as_ref(),
        Scope::Admin(&operator_change(Utc::now())),
        &token_id,
    )
    .await;
    effects::in_store(a.store.as_ref(), deleted).await.unwrap();
    let took = common::websocket::closed_within(&mut socket, Duration::from_secs(1)).await;
    println!("node B closed the socket {took:?} after node A revoked its token");
}
