//! Conformance: web UI sessions.

use super::{SharedStore, at};
use tokengate_core::store::SessionRecord;
use tokengate_core::token::TokenDigest;

fn session(digest_byte: u8, owner: &str, expires: &str) -> SessionRecord {
    SessionRecord {
        digest: TokenDigest([digest_byte; 32]),
        user: owner.to_owned(),
        csrf_token: format!("csrf-{digest_byte}").into(),
        created_at: at("2027-01-01T00:00:00.123Z"),
        last_seen_at: at("2027-01-01T00:00:00.123Z"),
        expires_at: at(expires),
    }
}

pub async fn sessions_round_trip_touch_and_delete(store: SharedStore) {
    super::add_user(&store, "alice").await;
    let first = session(1, "alice", "2027-01-01T12:00:00Z");
    store.create_session(&first).await.expect("create");
    assert_eq!(
        store.session(&first.digest).await.expect("read"),
        Some(first.clone())
    );
    assert_eq!(
        store.session(&TokenDigest([9; 32])).await.expect("read"),
        None
    );
    store
        .touch_session(&first.digest, at("2027-01-01T01:00:00.456Z"))
        .await
        .expect("touch");
    let touched = store
        .session(&first.digest)
        .await
        .expect("read")
        .expect("present");
    assert_eq!(touched.last_seen_at, at("2027-01-01T01:00:00.456Z"));
    assert!(store.delete_session(&first.digest).await.expect("delete"));
    assert!(
        !store
            .delete_session(&first.digest)
            .await
            .expect("delete again")
    );
    assert_eq!(store.session(&first.digest).await.expect("read"), None);
}

pub async fn sessions_of_a_user_and_expired_sessions_are_deleted(store: SharedStore) {
    super::add_user(&store, "alice").await;
    super::add_user(&store, "bob").await;
    store
        .create_session(&session(1, "alice", "2027-01-01T12:00:00Z"))
        .await
        .expect("create");
    store
        .create_session(&session(2, "alice", "2027-01-02T12:00:00Z"))
        .await
        .expect("create");
    store
        .create_session(&session(3, "bob", "2027-01-01T06:00:00Z"))
        .await
        .expect("create");
    assert!(
        store
            .create_session(&session(4, "nobody", "2027-01-01T06:00:00Z"))
            .await
            .is_err()
    );
    assert_eq!(
        store
            .delete_expired_sessions(at("2027-01-01T12:00:00Z"))
            .await
            .expect("expire"),
        2
    );
    assert!(
        store
            .session(&TokenDigest([2; 32]))
            .await
            .expect("read")
            .is_some()
    );
    assert_eq!(store.delete_sessions_of("alice").await.expect("delete"), 1);
    assert_eq!(
        store.session(&TokenDigest([2; 32])).await.expect("read"),
        None
    );
}
