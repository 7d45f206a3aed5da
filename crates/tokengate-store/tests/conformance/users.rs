//! Conformance cases for `UserStore`: users, their changes, and the failed-login counter and
//! lock.

use super::{SharedStore, add_user, all_audit, at, audit, audit_actions, now, user};
use chrono::TimeDelta;
use serde_json::json;
use tokengate_core::lockout::{LockoutPolicy, locked_forever};
use tokengate_core::model::{AuditAction, UserChange};
use tokengate_core::store::StoreError;

const FIVE_FOR_FIFTEEN: LockoutPolicy = LockoutPolicy {
    max_failed_logins: 5,
    lockout_minutes: 15,
};

pub async fn users_round_trip_and_list_in_name_order(store: SharedStore) {
    let bob = add_user(&store, "bob").await;
    let mut alice = user("alice");
    alice.admin = true;
    alice.password_hash = None;
    store
        .create_user(&alice, &audit(AuditAction::UserCreated).user("alice"))
        .await
        .expect("create alice");

    assert_eq!(
        store.user("alice").await.expect("read"),
        Some(alice.clone())
    );
    assert_eq!(
        store.user("Alice").await.expect("read"),
        None,
        "names are case-sensitive"
    );
    assert_eq!(store.user("nobody").await.expect("read"), None);
    assert_eq!(store.users().await.expect("list"), vec![alice, bob]);
    assert_eq!(store.count_users().await.expect("count"), 2);
    assert_eq!(
        audit_actions(&store).await,
        vec![AuditAction::UserCreated, AuditAction::UserCreated]
    );
}

pub async fn creating_a_user_twice_is_a_conflict_and_writes_no_audit(store: SharedStore) {
    add_user(&store, "alice").await;
    let again = store
        .create_user(
            &user("alice"),
            &audit(AuditAction::UserCreated).user("alice"),
        )
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict("user"))),
        "{again:?}"
    );
    assert_eq!(all_audit(&store).await.len(), 1);
}

pub async fn user_update_changes_only_given_fields_and_is_audited(store: SharedStore) {
    let before = add_user(&store, "alice").await;
    let change = UserChange {
        admin: Some(true),
        disabled: Some(true),
        ..UserChange::default()
    };
    let audit = audit(AuditAction::UserUpdated)
        .user("alice")
        .details(json!({"admin": true, "disabled": true}));
    let updated = store
        .update_user("alice", &change, &audit)
        .await
        .expect("update");
    let expected = tokengate_core::User {
        admin: true,
        disabled: true,
        ..before
    };
    assert_eq!(updated, expected);
    assert_eq!(store.user("alice").await.expect("read"), Some(expected));

    let change = UserChange {
        display_name: Some("Alice A.".into()),
        password_hash: Some("$argon2id$new".into()),
        ..UserChange::default()
    };
    let updated = store
        .update_user("alice", &change, &audit)
        .await
        .expect("update");
    assert_eq!(updated.display_name, "Alice A.");
    assert_eq!(updated.password_hash.as_deref(), Some("$argon2id$new"));
    assert!(updated.admin && updated.disabled, "untouched fields stay");

    let records = all_audit(&store).await;
    assert_eq!(records.len(), 3);
    assert_eq!(records[0].action, AuditAction::UserUpdated);
    assert_eq!(records[0].details, json!({"admin": true, "disabled": true}));
}

pub async fn updating_a_missing_user_is_not_found_and_writes_no_audit(store: SharedStore) {
    let result = store
        .update_user(
            "ghost",
            &UserChange {
                admin: Some(true),
                ..UserChange::default()
            },
            &audit(AuditAction::UserUpdated).user("ghost"),
        )
        .await;
    assert!(
        matches!(result, Err(StoreError::NotFound("user"))),
        "{result:?}"
    );
    assert!(all_audit(&store).await.is_empty());
}

pub async fn failed_logins_lock_at_maximum_and_write_user_locked_audit(store: SharedStore) {
    add_user(&store, "alice").await;
    for expected in 1..=4 {
        let failure = store
            .record_failed_login("alice", now(), FIVE_FOR_FIFTEEN)
            .await
            .expect("record")
            .expect("known user");
        assert_eq!(failure.failed_logins, expected);
        assert_eq!(failure.locked_until, None);
        assert!(!failure.newly_locked);
    }
    let lock_end = now() + TimeDelta::minutes(15);
    let fifth = store
        .record_failed_login("alice", now(), FIVE_FOR_FIFTEEN)
        .await
        .expect("record")
        .expect("known user");
    assert_eq!(fifth.failed_logins, 5);
    assert_eq!(fifth.locked_until, Some(lock_end));
    assert!(fifth.newly_locked);

    let stored = store.user("alice").await.expect("read").expect("alice");
    assert_eq!(
        (stored.failed_logins, stored.locked_until),
        (5, Some(lock_end))
    );

    let records = all_audit(&store).await;
    let locked = &records[0];
    assert_eq!(locked.action, AuditAction::UserLocked);
    assert_eq!(locked.actor, "system");
    assert_eq!(locked.user.as_deref(), Some("alice"));
    assert_eq!(locked.at, now());
    assert_eq!(
        locked.details,
        json!({"failed_logins": 5, "locked_until": lock_end})
    );

    // A further failure while locked is counted but is not a new lock.
    let sixth = store
        .record_failed_login("alice", now(), FIVE_FOR_FIFTEEN)
        .await
        .expect("record")
        .expect("known user");
    assert_eq!(sixth.failed_logins, 6);
    assert!(!sixth.newly_locked);
    assert_eq!(all_audit(&store).await.len(), records.len());
}

pub async fn failed_logins_restart_from_zero_after_a_lock_ends_by_itself(store: SharedStore) {
    add_user(&store, "alice").await;
    for _ in 0..5 {
        store
            .record_failed_login("alice", now(), FIVE_FOR_FIFTEEN)
            .await
            .expect("record");
    }
    let later = now() + TimeDelta::minutes(20);
    let failure = store
        .record_failed_login("alice", later, FIVE_FOR_FIFTEEN)
        .await
        .expect("record")
        .expect("known user");
    assert_eq!(failure.failed_logins, 1);
    assert_eq!(failure.locked_until, None);
    assert!(!failure.newly_locked);
}

pub async fn locked_forever_round_trips(store: SharedStore) {
    add_user(&store, "alice").await;
    let until_reset = LockoutPolicy {
        max_failed_logins: 1,
        lockout_minutes: 0,
    };
    let failure = store
        .record_failed_login("alice", now(), until_reset)
        .await
        .expect("record")
        .expect("known user");
    assert_eq!(failure.locked_until, Some(locked_forever()));
    let stored = store.user("alice").await.expect("read").expect("alice");
    assert_eq!(stored.locked_until, Some(locked_forever()));
    assert_eq!(
        stored.locked_until.map(|until| until.to_rfc3339()),
        Some("9999-12-31T23:59:59+00:00".to_owned())
    );

    let mut created_locked = user("bob");
    created_locked.failed_logins = 7;
    created_locked.locked_until = Some(locked_forever());
    store
        .create_user(
            &created_locked,
            &audit(AuditAction::UserCreated).user("bob"),
        )
        .await
        .expect("create");
    assert_eq!(store.user("bob").await.expect("read"), Some(created_locked));
}

pub async fn unknown_user_failed_login_returns_none(store: SharedStore) {
    let failure = store
        .record_failed_login("ghost", now(), FIVE_FOR_FIFTEEN)
        .await
        .expect("record");
    assert_eq!(failure, None);
    assert!(all_audit(&store).await.is_empty());
}

pub async fn concurrent_failed_logins_are_not_lost(store: SharedStore) {
    add_user(&store, "alice").await;
    let generous = LockoutPolicy {
        max_failed_logins: 1000,
        lockout_minutes: 15,
    };
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let store = store.clone();
        tasks.spawn(async move {
            store
                .record_failed_login("alice", now(), generous)
                .await
                .expect("record")
                .expect("known user")
                .failed_logins
        });
    }
    let mut counts = tasks.join_all().await;
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=20).collect::<Vec<u32>>(),
        "each failure saw its own count"
    );
    let stored = store.user("alice").await.expect("read").expect("alice");
    assert_eq!(stored.failed_logins, 20);
}

pub async fn reset_after_password_login_writes_only_when_there_is_something_to_clear(
    store: SharedStore,
) {
    add_user(&store, "alice").await;
    assert!(
        !store
            .reset_failed_logins("alice", None)
            .await
            .expect("reset")
    );
    assert!(
        !store
            .reset_failed_logins("ghost", None)
            .await
            .expect("reset")
    );

    store
        .record_failed_login("alice", now(), FIVE_FOR_FIFTEEN)
        .await
        .expect("record");
    assert!(
        store
            .reset_failed_logins("alice", None)
            .await
            .expect("reset")
    );
    let stored = store.user("alice").await.expect("read").expect("alice");
    assert_eq!((stored.failed_logins, stored.locked_until), (0, None));
    assert!(
        !store
            .reset_failed_logins("alice", None)
            .await
            .expect("reset")
    );
    assert_eq!(all_audit(&store).await.len(), 1, "only user.created");
}

pub async fn admin_reset_is_always_audited_and_unknown_user_is_not_found(store: SharedStore) {
    add_user(&store, "alice").await;
    let reset = audit(AuditAction::UserFailedLoginsReset).user("alice");
    assert!(
        store
            .reset_failed_logins("alice", Some(&reset))
            .await
            .expect("reset")
    );

    let locking = LockoutPolicy {
        max_failed_logins: 1,
        lockout_minutes: 0,
    };
    store
        .record_failed_login("alice", at("2027-03-01T12:01:00Z"), locking)
        .await
        .expect("record");
    assert!(
        store
            .reset_failed_logins("alice", Some(&reset))
            .await
            .expect("reset")
    );
    let stored = store.user("alice").await.expect("read").expect("alice");
    assert_eq!((stored.failed_logins, stored.locked_until), (0, None));

    let ghost = audit(AuditAction::UserFailedLoginsReset).user("ghost");
    let result = store.reset_failed_logins("ghost", Some(&ghost)).await;
    assert!(
        matches!(result, Err(StoreError::NotFound("user"))),
        "{result:?}"
    );

    assert_eq!(
        audit_actions(&store).await,
        vec![
            AuditAction::UserFailedLoginsReset,
            AuditAction::UserLocked,
            AuditAction::UserFailedLoginsReset,
            AuditAction::UserCreated,
        ]
    );
}
