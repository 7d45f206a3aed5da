//! Conformance cases for `Outbox`: notices written with their change, expiry notices once per
//! key, planning once, claims held by one node at a time, leases that run out, retries,
//! failures and pruning.

use super::{SharedStore, add_token, add_user, audit, now, token};
use chrono::Duration;
use std::collections::BTreeSet;
use std::sync::Arc;
use tokengate_core::model::AuditAction;
use tokengate_core::notices::{
    Channel, DeliveryState, Event, Mail, NewDelivery, Outcome, StoredNotice, expiry_notice,
};
use tokengate_core::store::StoreError;

/// Plans every waiting notice with one e-mail and one webhook delivery each; the notices.
async fn plan_all(store: &SharedStore) -> Vec<StoredNotice> {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = Arc::clone(&seen);
    let plan = move |notice: &StoredNotice| {
        keep.lock().unwrap().push(notice.clone());
        [Channel::Email, Channel::Webhook]
            .into_iter()
            .map(|channel| NewDelivery {
                id: format!("{}-{}", notice.id, channel.as_str()),
                channel,
                destination: "dest".into(),
            })
            .collect()
    };
    store
        .plan_deliveries(now(), 100, &plan)
        .await
        .expect("plan");
    seen.lock().unwrap().clone()
}

pub async fn a_notifying_change_writes_its_notice_in_the_same_transaction(store: SharedStore) {
    add_user(&store, "alice").await;
    let mut by_admin = audit(AuditAction::TokenCreated)
        .user("alice")
        .token("tok-1");
    by_admin.actor = "root".into();
    store
        .create_token(&token("tok-1", "alice", "CI"), &by_admin)
        .await
        .expect("create");
    // A change that fails writes neither its audit record nor its notice.
    let refused = store
        .create_token(
            &token("tok-2", "ghost", "CI"),
            &audit(AuditAction::TokenCreated),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::NotFound("user"))),
        "{refused:?}"
    );
    // A rename notifies nobody.
    store
        .rename_token(
            "tok-1",
            "CD",
            &audit(AuditAction::TokenRenamed).user("alice"),
        )
        .await
        .expect("rename");

    let notices = plan_all(&store).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    let notice = &notices[0];
    assert_eq!(notice.event, Event::TokenCreated);
    assert_eq!(notice.user.as_deref(), Some("alice"));
    assert_eq!(notice.token_id.as_deref(), Some("tok-1"));
    assert_eq!(notice.data["token"]["id"], "tok-1");
    assert_eq!(notice.mail, Some(Mail::CreatedForYou { by: "root".into() }));
    assert_eq!(notice.at, now());
    assert!(
        plan_all(&store).await.is_empty(),
        "a notice is planned once"
    );
}

pub async fn an_expiry_notice_is_added_once_per_key(store: SharedStore) {
    add_user(&store, "alice").await;
    let mut expiring = token("tok-1", "alice", "CI");
    expiring.expires_at = Some(now() + Duration::days(3));
    add_token(&store, expiring.clone()).await;
    let notice = expiry_notice(&expiring, now()).expect("due");
    let later = expiry_notice(&expiring, now() + Duration::hours(1)).expect("due");
    assert_eq!(store.add_notices(&[notice]).await.expect("add"), 1);
    assert_eq!(store.add_notices(&[later]).await.expect("add again"), 0);

    let found = store
        .tokens_expiring_between(now(), now() + Duration::days(30))
        .await
        .expect("expiring");
    assert_eq!(found, vec![expiring]);
    let none = store
        .tokens_expiring_between(now() + Duration::days(4), now() + Duration::days(30))
        .await
        .expect("expiring");
    assert!(none.is_empty());
    let planned = plan_all(&store).await;
    let events: Vec<Event> = planned.iter().map(|notice| notice.event).collect();
    assert_eq!(events, [Event::TokenCreated, Event::TokenExpiring]);
}

pub async fn a_claimed_delivery_belongs_to_one_node_until_it_finishes(store: SharedStore) {
    add_user(&store, "alice").await;
    add_token(&store, token("tok-1", "alice", "CI")).await;
    plan_all(&store).await;
    let lease = now() + Duration::minutes(1);
    let first = store
        .claim_delivery("a", now(), lease)
        .await
        .unwrap()
        .expect("due");
    let second = store
        .claim_delivery("b", now(), lease)
        .await
        .unwrap()
        .expect("due");
    assert_ne!(first.id, second.id);
    assert_eq!(first.attempts, 1);
    assert_eq!(first.notice.event, Event::TokenCreated);
    assert!(
        store
            .claim_delivery("c", now(), lease)
            .await
            .unwrap()
            .is_none()
    );

    let foreign = store
        .finish_delivery(&first.id, "b", now(), &Outcome::Sent)
        .await
        .unwrap();
    assert!(!foreign, "only the claiming node finishes a delivery");
    assert!(
        store
            .finish_delivery(&first.id, "a", now(), &Outcome::Sent)
            .await
            .unwrap()
    );
    let skipped = Outcome::Skipped("no e-mail address".into());
    assert!(
        store
            .finish_delivery(&second.id, "b", now(), &skipped)
            .await
            .unwrap()
    );
    let later = now() + Duration::hours(2);
    assert!(
        store
            .claim_delivery("a", later, later)
            .await
            .unwrap()
            .is_none()
    );
    let counts = store.count_deliveries().await.unwrap();
    assert!(counts.contains(&(DeliveryState::Sent, 1)), "{counts:?}");
    assert!(counts.contains(&(DeliveryState::Skipped, 1)), "{counts:?}");
}

pub async fn a_lease_that_runs_out_lets_another_node_send(store: SharedStore) {
    add_user(&store, "alice").await;
    let mut one = audit(AuditAction::SettingsChanged);
    one.user = None;
    store
        .save_settings(&Default::default(), &one)
        .await
        .expect("save");
    plan_all(&store).await;
    let first = store
        .claim_delivery("a", now(), now() + Duration::seconds(1))
        .await
        .unwrap()
        .expect("due");
    let after = now() + Duration::seconds(2);
    let mut taken = None;
    for _ in 0..2 {
        let claim = store.claim_delivery("b", after, after + Duration::minutes(1));
        let delivery = claim.await.unwrap().expect("due again");
        if delivery.id == first.id {
            taken = Some(delivery);
        }
    }
    let taken = taken.expect("the expired claim was taken over");
    assert_eq!(taken.attempts, 2, "the lost attempt counts");
    assert!(
        !store
            .finish_delivery(&first.id, "a", after, &Outcome::Sent)
            .await
            .unwrap()
    );
    assert!(
        store
            .finish_delivery(&first.id, "b", after, &Outcome::Sent)
            .await
            .unwrap()
    );
}

pub async fn a_retry_waits_until_due_and_a_failure_can_be_retried(store: SharedStore) {
    add_user(&store, "alice").await;
    add_token(&store, token("tok-1", "alice", "CI")).await;
    plan_all(&store).await;
    let lease = now() + Duration::minutes(1);
    let first = store
        .claim_delivery("a", now(), lease)
        .await
        .unwrap()
        .unwrap();
    let second = store
        .claim_delivery("a", now(), lease)
        .await
        .unwrap()
        .unwrap();
    let retry = Outcome::Retry {
        at: now() + Duration::seconds(60),
        error: "HTTP 500".into(),
    };
    assert!(
        store
            .finish_delivery(&first.id, "a", now(), &retry)
            .await
            .unwrap()
    );
    let failed = Outcome::Failed("550 mailbox unavailable".into());
    assert!(
        store
            .finish_delivery(&second.id, "a", now(), &failed)
            .await
            .unwrap()
    );

    let soon = now() + Duration::seconds(59);
    assert!(
        store
            .claim_delivery("a", soon, soon)
            .await
            .unwrap()
            .is_none()
    );
    let due = now() + Duration::seconds(60);
    let again = store
        .claim_delivery("a", due, due + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(
        again.map(|d| (d.id, d.attempts)),
        Some((first.id.clone(), 2))
    );

    let listed = store.deliveries(DeliveryState::Failed, 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, second.id);
    assert_eq!(
        listed[0].last_error.as_deref(),
        Some("550 mailbox unavailable")
    );
    assert_eq!(listed[0].event, Event::TokenCreated);
    assert!(
        !store.retry_delivery(&first.id, due).await.unwrap(),
        "not failed"
    );
    assert!(store.retry_delivery(&second.id, due).await.unwrap());
    let retried = store
        .claim_delivery("b", due, due + Duration::minutes(1))
        .await
        .unwrap();
    let retried = retried.expect("due again");
    assert_eq!((retried.id, retried.attempts), (second.id, 1));
    assert_eq!(retried.created_at, due);
}

pub async fn pruning_keeps_notices_with_deliveries_still_to_send(store: SharedStore) {
    add_user(&store, "alice").await;
    add_token(&store, token("tok-1", "alice", "CI")).await;
    add_token(&store, token("tok-2", "alice", "CD")).await;
    plan_all(&store).await;
    let lease = now() + Duration::minutes(1);
    let mut sent_for = BTreeSet::new();
    for _ in 0..2 {
        let delivery = store
            .claim_delivery("a", now(), lease)
            .await
            .unwrap()
            .unwrap();
        store
            .finish_delivery(&delivery.id, "a", now(), &Outcome::Sent)
            .await
            .unwrap();
        sent_for.insert(delivery.notice.id);
    }
    let later = now() + Duration::days(31);
    let pruned = store.prune_notices(later).await.unwrap();
    assert_eq!(pruned, 1, "only the notice whose deliveries are all sent");
    assert_eq!(sent_for.len(), 1);
    let left = store
        .claim_delivery("a", later, later + Duration::minutes(1))
        .await;
    assert!(left.unwrap().is_some(), "the other notice is still there");
}

pub async fn concurrent_claimers_never_share_a_delivery(store: SharedStore) {
    add_user(&store, "alice").await;
    for index in 0..20 {
        add_token(&store, token(&format!("tok-{index}"), "alice", "CI")).await;
    }
    plan_all(&store).await;
    let mut tasks = Vec::new();
    for node in ["a", "b", "c", "d"] {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            let lease = now() + Duration::minutes(5);
            loop {
                match store.claim_delivery(node, now(), lease).await {
                    Ok(Some(delivery)) => mine.push(delivery.id),
                    Ok(None) => break,
                    Err(error) => panic!("{error}"),
                }
            }
            mine
        }));
    }
    let mut claimed = Vec::new();
    for task in tasks {
        claimed.extend(task.await.unwrap());
    }
    let unique: BTreeSet<_> = claimed.iter().cloned().collect();
    assert_eq!(unique.len(), claimed.len(), "a delivery was claimed twice");
    assert_eq!(claimed.len(), 40);
}
