//! Known addresses (SPEC §2.6): per user and address, from the time last seen, the latest time
//! kept, stale ones forgotten, nothing stored for unknown users, no audit record, no change
//! counter move.

use super::{SharedStore, add_user, all_audit, at, counter, now};
use chrono::{DateTime, TimeDelta, Utc};
use std::net::IpAddr;

fn ip(text: &str) -> IpAddr {
    text.parse().expect("address")
}

async fn known(store: &SharedStore, user: &str, address: &str, since: DateTime<Utc>) -> bool {
    store
        .is_known_address(user, ip(address), since)
        .await
        .expect("is known")
}

async fn remember(store: &SharedStore, user: &str, address: &str, seen: DateTime<Utc>) {
    let forget_before = seen - TimeDelta::days(30);
    store
        .remember_address(user, ip(address), seen, forget_before)
        .await
        .expect("remember");
}

pub async fn a_remembered_address_is_known_to_its_user_only_and_from_the_time_seen(
    store: SharedStore,
) {
    add_user(&store, "alice").await;
    add_user(&store, "bob").await;
    let audit_before = all_audit(&store).await.len();
    let counter_before = counter(&store).await;
    remember(&store, "alice", "203.0.113.5", now()).await;
    let month_ago = now() - TimeDelta::days(30);
    assert!(known(&store, "alice", "203.0.113.5", month_ago).await);
    assert!(
        known(&store, "alice", "203.0.113.5", now()).await,
        "at the very instant"
    );
    assert!(
        !known(&store, "bob", "203.0.113.5", month_ago).await,
        "another user's"
    );
    assert!(!known(&store, "alice", "203.0.113.6", month_ago).await);
    assert!(!known(&store, "alice", "2001:db8::5", month_ago).await);
    let later = now() + TimeDelta::milliseconds(1);
    assert!(
        !known(&store, "alice", "203.0.113.5", later).await,
        "older than the window: no longer counts"
    );
    assert_eq!(all_audit(&store).await.len(), audit_before, "not audited");
    assert_eq!(
        counter(&store).await,
        counter_before,
        "no decision cache to drop"
    );
}

pub async fn known_addresses_keep_the_latest_time_and_forget_stale_ones(store: SharedStore) {
    add_user(&store, "alice").await;
    let first = at("2027-01-01T00:00:00.500Z");
    remember(&store, "alice", "203.0.113.5", first).await;
    remember(&store, "alice", "203.0.113.5", first - TimeDelta::days(3)).await;
    assert!(
        known(&store, "alice", "203.0.113.5", first).await,
        "an older sighting does not move the time back"
    );
    remember(&store, "alice", "2001:db8::7", first + TimeDelta::days(31)).await;
    assert!(
        !known(&store, "alice", "203.0.113.5", first - TimeDelta::days(400)).await,
        "a sighting older than 30 days is deleted when a new one is written"
    );
    assert!(known(&store, "alice", "2001:db8::7", first).await);
}

pub async fn an_ipv4_mapped_address_is_the_same_address(store: SharedStore) {
    add_user(&store, "alice").await;
    remember(&store, "alice", "::ffff:198.51.100.9", now()).await;
    assert!(known(&store, "alice", "198.51.100.9", now()).await);
    assert!(known(&store, "alice", "::ffff:198.51.100.9", now()).await);
}

pub async fn remembering_an_address_of_an_unknown_user_stores_nothing(store: SharedStore) {
    remember(&store, "nobody", "203.0.113.5", now()).await;
    assert!(!known(&store, "nobody", "203.0.113.5", now() - TimeDelta::days(1)).await);
    add_user(&store, "nobody").await;
    assert!(
        !known(&store, "nobody", "203.0.113.5", now() - TimeDelta::days(1)).await,
        "a user created later does not inherit it"
    );
}
