//! Conformance cases for the audit log's hash chain: every record written is chained, batches
//! and pruning keep it verifiable, concurrent writers leave one unbroken chain; and the
//! tampering cases each backend's test file runs with raw SQL ([`tampers`]).

use super::{SharedStore, add_token, add_user, audit, now, token};
use chrono::Duration;
use serde_json::json;
use tokengate_core::chain::{GENESIS, chain_hash};
use tokengate_core::model::{AuditAction, AuditFilter, AuditRecord, NewAudit};
use tokengate_core::store::verify_audit;

/// The records oldest first.
pub async fn oldest_first(store: &SharedStore) -> Vec<AuditRecord> {
    let mut records = store
        .audit(&AuditFilter {
            limit: 1000,
            ..AuditFilter::default()
        })
        .await
        .expect("audit");
    records.reverse();
    records
}

/// Ten records, ids 1 to 10, in one batch.
pub async fn seed_ten(store: &SharedStore) -> Vec<AuditRecord> {
    let batch: Vec<NewAudit> = (1..=10)
        .map(|index| {
            audit(AuditAction::SettingsChanged)
                .details(json!({"step": index, "b": {"y": 1, "x": 2}}))
        })
        .collect();
    store.append_audit(&batch).await.expect("append");
    oldest_first(store).await
}

pub async fn every_change_is_chained_and_the_log_verifies(store: SharedStore) {
    assert_eq!(store.audit_head().await.unwrap(), None);
    assert!(verify_audit(store.as_ref()).await.unwrap().ok);
    add_user(&store, "alice").await;
    add_token(&store, token("tok-1", "alice", "CI")).await;
    store
        .rename_token(
            "tok-1",
            "CD",
            &audit(AuditAction::TokenRenamed).user("alice"),
        )
        .await
        .unwrap();
    let records = oldest_first(&store).await;
    assert_eq!(records.len(), 3);
    assert_eq!(records[0].prev_hash, GENESIS);
    for pair in records.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
        assert_eq!(pair[1].id, pair[0].id + 1);
    }
    for record in &records {
        assert_eq!(record.hash, chain_hash(&record.prev_hash, record));
    }
    let last = records.last().unwrap();
    assert_eq!(
        store.audit_head().await.unwrap(),
        Some((last.id, last.hash.clone()))
    );
    let verdict = verify_audit(store.as_ref()).await.unwrap();
    assert!(verdict.ok, "{verdict:?}");
    assert_eq!(verdict.records, 3);
}

pub async fn batches_and_pruning_keep_the_chain_verifiable(store: SharedStore) {
    let records = seed_ten(&store).await;
    assert_eq!(records.len(), 10);
    let between = store.audit_between(3, 7, 2).await.unwrap();
    assert_eq!(between.iter().map(|r| r.id).collect::<Vec<_>>(), [4, 5]);
    // Nothing is older than the cut: nothing happens, nothing is written.
    let pruned = audit(AuditAction::AuditPruned);
    let cut = now() - Duration::days(1);
    assert_eq!(store.prune_audit(cut, &pruned).await.unwrap(), 0);
    assert_eq!(oldest_first(&store).await.len(), 10);
    let later = now() + Duration::seconds(1);
    assert_eq!(store.prune_audit(later, &pruned).await.unwrap(), 10);
    let left = oldest_first(&store).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].action, AuditAction::AuditPruned);
    assert_eq!(left[0].details["count"], 10);
    assert_eq!(left[0].details["last_pruned_id"], 10);
    assert_eq!(
        left[0].details["last_pruned_hash"],
        records[9].hash.as_str()
    );
    assert_eq!(left[0].id, 11, "ids go on after the pruned ones");
    store
        .append_audit(&[audit(AuditAction::SettingsChanged)])
        .await
        .unwrap();
    let verdict = verify_audit(store.as_ref()).await.unwrap();
    assert!(verdict.ok, "{verdict:?}");
    assert_eq!(verdict.records, 2);
}

pub async fn concurrent_writers_leave_one_unbroken_chain(store: SharedStore) {
    add_user(&store, "alice").await;
    let mut tasks = Vec::new();
    for writer in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for index in 0..25 {
                let id = format!("tok-{writer}-{index}");
                add_token(&store, token(&id, "alice", "CI")).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let verdict = verify_audit(store.as_ref()).await.unwrap();
    assert!(verdict.ok, "{verdict:?}");
    assert_eq!(verdict.records, 101);
}

/// Authentication events (no notice: SQLite appends them on a connection of its own) in
/// batches, while other writers add tokens: every record lands once, in one chain, ids in order,
/// and reads back as written.
pub async fn event_batches_and_other_writers_share_one_chain(store: SharedStore) {
    add_user(&store, "alice").await;
    let mut tasks = Vec::new();
    for writer in 0..3 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for batch in 0..10 {
                let events: Vec<_> = (0..50)
                    .map(|index| {
                        audit(AuditAction::AuthSucceeded)
                            .user("alice")
                            .token("tok-1")
                            .details(json!({"via": "token", "path": format!("/w{writer}/{batch}/{index}"),
                                "note": "ünï \"quoted\" \\ \n"}))
                    })
                    .collect();
                store.append_audit(&events).await.unwrap();
            }
        }));
    }
    for index in 0..20 {
        add_token(&store, token(&format!("tok-x{index}"), "alice", "CI")).await;
    }
    for task in tasks {
        task.await.unwrap();
    }
    let records = store.audit_between(0, i64::MAX, 5000).await.unwrap();
    assert_eq!(records.len(), 1 + 20 + 1500);
    let ids: Vec<i64> = records.iter().map(|record| record.id).collect();
    assert_eq!(ids, (1..=1521).collect::<Vec<i64>>());
    let events: Vec<_> = records
        .iter()
        .filter(|record| record.action == AuditAction::AuthSucceeded)
        .collect();
    assert_eq!(events.len(), 1500);
    assert_eq!(events[0].details["note"], "ünï \"quoted\" \\ \n");
    assert_eq!(events[0].user.as_deref(), Some("alice"));
    let verdict = verify_audit(store.as_ref()).await.unwrap();
    assert!(verdict.ok, "{verdict:?}");
    assert_eq!(verdict.records, 1521);
}

/// Raw SQL that tampers with a log of ten records ([`seed_ten`]), each with the id
/// verification must name: altered, removed, inserted (with a fitting hash of its own),
/// reordered, and the newest record removed.
pub fn tampers(records: &[AuditRecord]) -> Vec<(&'static str, Vec<String>, i64)> {
    let mut forged = records[4].clone();
    forged.details = json!({"step": "forged"});
    forged.hash = chain_hash(&forged.prev_hash, &forged);
    vec![
        (
            "altered",
            vec!["UPDATE audit SET details = '{\"step\":99}' WHERE id = 5".into()],
            5,
        ),
        ("removed", vec!["DELETE FROM audit WHERE id = 5".into()], 6),
        (
            "inserted",
            vec![
                "UPDATE audit SET id = id + 100 WHERE id >= 5".into(),
                "UPDATE audit SET id = id - 99 WHERE id >= 105".into(),
                format!(
                    "INSERT INTO audit (id, at, actor, action, user_name, token_id, details, ip, \
                     request_id, prev_hash, hash) SELECT 5, at, actor, action, user_name, \
                     token_id, '{}', ip, request_id, prev_hash, '{}' FROM audit WHERE id = 6",
                    forged.details, forged.hash
                ),
            ],
            6,
        ),
        (
            "reordered",
            vec![
                "UPDATE audit SET id = -1 WHERE id = 4".into(),
                "UPDATE audit SET id = 4 WHERE id = 5".into(),
                "UPDATE audit SET id = 5 WHERE id = -1".into(),
            ],
            4,
        ),
        (
            "newest removed",
            vec!["DELETE FROM audit WHERE id = 10".into()],
            10,
        ),
    ]
}
