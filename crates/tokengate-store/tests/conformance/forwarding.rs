//! Conformance cases for `AuditForwarding`: forwarding starts at the chain's head, one holder
//! at a time (also under concurrent claims), a lease that runs out or is released is taken
//! over, and the cursor only moves forward and only for the holder.

use super::{SharedStore, add_user, now};
use chrono::Duration;
use std::collections::BTreeSet;

pub async fn forwarding_starts_at_the_chain_head_and_reads_only_later_records(store: SharedStore) {
    add_user(&store, "alice").await;
    add_user(&store, "bob").await;
    let head = store.audit_head().await.expect("head").expect("records").0;
    let lease = now() + Duration::seconds(15);
    let cursor = store
        .claim_audit_forwarding("node-a", now(), lease)
        .await
        .expect("claim");
    assert_eq!(
        cursor,
        Some(head),
        "the history before the first claim is not sent"
    );
    add_user(&store, "carol").await;
    let (newest, _) = store.audit_head().await.expect("head").expect("records");
    let later = store.audit_between(head, newest, 500).await.expect("read");
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].user.as_deref(), Some("carol"));
    assert!(
        store
            .advance_audit_forwarding("node-a", head, newest)
            .await
            .expect("advance")
    );
    // A renewal by the holder keeps the cursor where it was moved to.
    let renewed = store
        .claim_audit_forwarding("node-a", now(), lease + Duration::seconds(1))
        .await
        .expect("renew");
    assert_eq!(renewed, Some(newest));
}

pub async fn forwarding_on_an_empty_log_starts_at_zero(store: SharedStore) {
    let lease = now() + Duration::seconds(15);
    let cursor = store
        .claim_audit_forwarding("node-a", now(), lease)
        .await
        .expect("claim");
    assert_eq!(cursor, Some(0));
    add_user(&store, "alice").await;
    let read = store.audit_between(0, i64::MAX, 10).await.expect("read");
    assert_eq!(
        read.len(),
        1,
        "the first record of an empty log is forwarded"
    );
}

pub async fn a_held_forwarding_lease_is_refused_to_another_node_until_it_runs_out(
    store: SharedStore,
) {
    add_user(&store, "alice").await;
    let lease = now() + Duration::seconds(15);
    let cursor = store
        .claim_audit_forwarding("node-a", now(), lease)
        .await
        .expect("claim")
        .expect("held");
    for at in [now(), lease - Duration::milliseconds(1)] {
        let other = store
            .claim_audit_forwarding("node-b", at, at + Duration::seconds(15))
            .await
            .expect("claim");
        assert_eq!(other, None, "node-b took a held lease at {at}");
    }
    // node-b cannot move the cursor either.
    assert!(
        !store
            .advance_audit_forwarding("node-b", cursor, cursor + 1)
            .await
            .expect("advance")
    );
    // Once the lease has run out, node-b takes over where node-a got to; node-a is out.
    let taken = store
        .claim_audit_forwarding("node-b", lease, lease + Duration::seconds(15))
        .await
        .expect("claim");
    assert_eq!(taken, Some(cursor));
    assert_eq!(
        store
            .claim_audit_forwarding("node-a", lease, lease + Duration::seconds(15))
            .await
            .expect("claim"),
        None
    );
    assert!(
        !store
            .advance_audit_forwarding("node-a", cursor, cursor + 1)
            .await
            .expect("advance"),
        "a node whose lease was taken over moved the cursor"
    );
}

pub async fn a_released_forwarding_lease_is_taken_over_at_once(store: SharedStore) {
    let claim = |node: &'static str| {
        let store = store.clone();
        async move {
            store
                .claim_audit_forwarding(node, now(), now() + Duration::minutes(5))
                .await
                .expect("claim")
        }
    };
    assert_eq!(claim("node-a").await, Some(0));
    // Releasing someone else's lease changes nothing.
    store
        .release_audit_forwarding("node-b")
        .await
        .expect("release");
    assert_eq!(claim("node-c").await, None);
    store
        .release_audit_forwarding("node-a")
        .await
        .expect("release");
    assert_eq!(claim("node-c").await, Some(0));
}

pub async fn the_forwarding_cursor_only_moves_forward_from_where_it_is(store: SharedStore) {
    for name in ["alice", "bob", "carol"] {
        add_user(&store, name).await;
    }
    let lease = now() + Duration::seconds(15);
    let start = store
        .claim_audit_forwarding("node-a", now(), lease)
        .await
        .expect("claim")
        .expect("held");
    let advance = |from: i64, to: i64| {
        let store = store.clone();
        async move {
            store
                .advance_audit_forwarding("node-a", from, to)
                .await
                .expect("advance")
        }
    };
    assert!(advance(start, start + 2).await);
    // Back, standing still, and from a stale position are all refused.
    assert!(!advance(start + 2, start + 1).await);
    assert!(!advance(start + 2, start + 2).await);
    assert!(
        !advance(start, start + 5).await,
        "moved from a stale cursor"
    );
    assert!(advance(start + 2, start + 3).await);
    let cursor = store
        .claim_audit_forwarding("node-a", now(), lease)
        .await
        .expect("renew");
    assert_eq!(cursor, Some(start + 3));
}

pub async fn concurrent_claimers_never_both_hold_the_forwarding_lease(store: SharedStore) {
    add_user(&store, "alice").await;
    for round in 0..10 {
        let at = now() + Duration::minutes(round);
        let mut tasks = Vec::new();
        for node in ["a", "b", "c", "d"] {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let held = store
                    .claim_audit_forwarding(node, at, at + Duration::seconds(30))
                    .await
                    .expect("claim");
                held.map(|_| node)
            }));
        }
        let mut holders = BTreeSet::new();
        for task in tasks {
            if let Some(node) = task.await.expect("task") {
                holders.insert(node);
            }
        }
        // Each round starts after the last round's lease ran out: exactly one node wins it.
        assert_eq!(holders.len(), 1, "round {round}: {holders:?}");
    }
}
