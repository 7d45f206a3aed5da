//! Two gateway nodes on one PostgreSQL database (SPEC §6, §10): a permission change, a group
//! membership change and a directory deprovisioning made through one node are enforced by the
//! other within the stated times. Needs `TOKENGATE_TEST_POSTGRES_URL`; the deprovisioning test
//! also a real OpenLDAP (tests/common/ldap.rs).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "multi_node/schema.rs"]
mod schema;

use chrono::Utc;
use common::ldap::{EXAMPLE, Slapd};
use common::{TestApp, operator_change, test_config};
use std::time::{Duration, Instant};
use tokengate_core::groups::{GroupList, Permissions};
use tokengate_core::manage;
use tokengate_core::model::Settings;
use tokengate_server::config::Config;
use tokengate_server::effects;

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

async fn whoami(node: &TestApp, token: &str) -> u16 {
    node.get_bearer("/tokengate/whoami", token)
        .await
        .status()
        .as_u16()
}

/// How long until `node` answers `expected` for `token` (fails after 10 s).
async fn until(node: &TestApp, token: &str, expected: u16) -> Duration {
    let started = Instant::now();
    while whoami(node, token).await != expected {
        assert!(started.elapsed() < Duration::from_secs(10), "no {expected}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_permission_and_a_membership_changed_on_one_node_apply_on_the_other_within_a_second() {
    let Some(schema) = schema::FreshSchema::create().await else {
        return;
    };
    let (a, b) = two_nodes(&schema.url, test_config()).await;
    a.add_user("alice", "correct horse battery", false).await;
    let (_, token) = a.add_token("alice").await;
    for _ in 0..3 {
        assert_eq!(whoami(&b, &token).await, 200, "B caches the owner");
    }
    let limited = Settings {
        permissions: Permissions {
            use_tokens: GroupList::parse(&["api-users"]).unwrap(),
            ..Permissions::default()
        },
        ..Settings::default()
    };
    a.save_settings(&limited).await;
    let took = until(&b, &token, 403).await;
    assert!(
        took < Duration::from_secs(1),
        "B applied use_tokens after {took:?}"
    );
    eprintln!("measured: use_tokens change applied on B after {took:?}");
    common::error_body(
        b.get_bearer("/tokengate/whoami", &token).await,
        403,
        "tokens_not_permitted",
    )
    .await;
    let change = operator_change(Utc::now());
    let created =
        manage::create_group(a.store.as_ref(), &change, "api-users", &["alice".into()]).await;
    effects::in_store(a.store.as_ref(), created).await.unwrap();
    let took = until(&b, &token, 200).await;
    assert!(
        took < Duration::from_secs(1),
        "B saw the membership after {took:?}"
    );
    eprintln!("measured: membership applied on B after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_deprovisioned_by_the_sync_is_refused_on_every_node_within_the_interval_and_a_second()
 {
    let Some(schema) = schema::FreshSchema::create().await else {
        return;
    };
    let Some(slapd) = Slapd::start() else { return };
    let interval = Duration::from_secs(1);
    let mut config = test_config();
    let mut ldap = slapd.config();
    ldap.sync_interval = interval;
    config.ldap = Some(ldap);
    let (a, b) = two_nodes(&schema.url, config).await;
    let signed_in = a.get_basic("/tokengate/whoami", "bob", "bob-pw").await;
    assert_eq!(signed_in.status(), 200, "provisioned through A");
    let (_, token) = a.add_token("bob").await;
    for _ in 0..3 {
        assert_eq!(whoami(&b, &token).await, 200, "B caches the owner");
    }
    slapd.delete(&format!("uid=bob,ou=people,{EXAMPLE}"));
    let removed = Instant::now();
    until(&b, &token, 403).await;
    until(&a, &token, 403).await;
    let took = removed.elapsed();
    assert!(took <= interval + Duration::from_secs(1), "took {took:?}");
    eprintln!("measured: deprovisioned on both nodes {took:?} after the directory removal");
    common::error_body(
        b.get_bearer("/tokengate/whoami", &token).await,
        403,
        "user_disabled",
    )
    .await;
}
