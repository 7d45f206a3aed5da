//! The audit log's hash chain through the running gateway: `GET /admin/audit/verify` for
//! admins only, an edit made behind tokengate's back found at its record, and retention that
//! prunes old records while the chain still verifies.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::{Duration, Utc};
use common::{TestApp, test_config};
use serde_json::{Value, json};
use tokengate_core::model::{Actor, AuditAction, NewAudit, Origin};

async fn verify_as(app: &TestApp, user: &str, password: &str) -> (u16, Value) {
    let answer = app
        .client
        .get(app.url("/tokengate/api/v1/admin/audit/verify"))
        .basic_auth(user, Some(password))
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap())
}

#[tokio::test]
async fn an_admin_verifies_the_chain_and_an_edit_behind_tokengates_back_is_named() {
    let app = TestApp::spawn_with(test_config(), false).await;
    app.add_user("root", "root-password", true).await;
    app.add_user("alice", "alice-password", false).await;
    app.add_token("alice").await;
    let (status, verdict) = verify_as(&app, "root", "root-password").await;
    assert_eq!(status, 200);
    assert_eq!(
        verdict,
        json!({"ok": true, "records": 3, "first_bad_id": null})
    );
    let (status, refused) = verify_as(&app, "alice", "alice-password").await;
    assert_eq!(status, 403, "{refused}");

    // Someone with the database file changes who made the token.
    let path = app.database_url.trim_start_matches("sqlite://").to_owned();
    let mut connection =
        <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!("sqlite://{path}"))
            .await
            .unwrap();
    sqlx::query("UPDATE audit SET actor = 'mallory' WHERE id = 3")
        .execute(&mut connection)
        .await
        .unwrap();
    let (_, verdict) = verify_as(&app, "root", "root-password").await;
    assert_eq!(
        verdict,
        json!({"ok": false, "records": 3, "first_bad_id": 3})
    );
}

#[tokio::test]
async fn retention_prunes_old_records_and_the_chain_still_verifies() {
    let mut config = test_config();
    config.audit.retention_days = 30;
    let app = TestApp::spawn_with(config, false).await;
    let old = Utc::now() - Duration::days(40);
    let records: Vec<NewAudit> = (0..5)
        .map(|index| {
            NewAudit::new(
                old + Duration::minutes(index),
                &Actor::Cli,
                AuditAction::SettingsChanged,
                &Origin::default(),
            )
        })
        .collect();
    app.store.append_audit(&records).await.unwrap();
    app.add_user("root", "root-password", true).await;

    // The node prunes at start-up too and may get there first: either way the five old
    // records go in one pruning, and another finds nothing.
    let state = common::state(&app);
    let first = tokengate_server::retention::prune_once(state)
        .await
        .unwrap();
    assert!(first == 5 || first == 0, "{first}");
    assert_eq!(
        tokengate_server::retention::prune_once(state)
            .await
            .unwrap(),
        0
    );
    let (status, verdict) = verify_as(&app, "root", "root-password").await;
    assert_eq!(status, 200);
    assert_eq!(
        verdict,
        json!({"ok": true, "records": 2, "first_bad_id": null})
    );
    let answer = app
        .client
        .get(app.url("/tokengate/api/v1/admin/audit?action=audit.pruned"))
        .basic_auth("root", Some("root-password"))
        .send()
        .await
        .unwrap();
    let page: Value = answer.json().await.unwrap();
    assert_eq!(
        page["records"].as_array().unwrap().len(),
        1,
        "one pruning: {page}"
    );
    let pruned = &page["records"][0];
    assert_eq!(pruned["actor"], "system");
    assert_eq!(pruned["details"]["count"], 5);
    assert_eq!(pruned["details"]["retention_days"], 30);
    assert_eq!(pruned["details"]["last_pruned_id"], 5);
    assert!(
        pruned["details"]["last_pruned_hash"]
            .as_str()
            .unwrap()
            .len()
            == 64
    );
}
