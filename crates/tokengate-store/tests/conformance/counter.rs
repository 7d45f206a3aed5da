//! Conformance cases for `ChangeCounter`: it moves on every change that can alter an
//! authentication decision and stays put on the hot paths that cannot.

use super::{SharedStore, add_token, add_user, at, audit, counter, now, token};
use tokengate_core::Settings;
use tokengate_core::lockout::LockoutPolicy;
use tokengate_core::model::{AuditAction, TokenUse, UserChange};

pub async fn change_counter_moves_on_token_delete_but_not_on_last_use(store: SharedStore) {
    add_user(&store, "alice").await;
    add_token(&store, token("tok-1", "alice", "one")).await;
    add_token(&store, token("tok-2", "alice", "two")).await;
    add_token(&store, token("tok-3", "alice", "three")).await;
    let start = counter(&store).await;
    store
        .record_token_uses(&[TokenUse {
            token_id: "tok-1".into(),
            at: at("2027-03-02T00:00:00Z"),
            ip: "10.0.0.1".into(),
        }])
        .await
        .expect("uses");
    assert_eq!(counter(&store).await, start, "last use is not a change");

    let delete = audit(AuditAction::TokenDeleted);
    store.delete_token("tok-1", &delete).await.expect("delete");
    let after_delete = counter(&store).await;
    assert!(after_delete > start);
    store
        .delete_token("tok-1", &delete)
        .await
        .expect("delete missing");
    assert_eq!(
        counter(&store).await,
        after_delete,
        "nothing deleted, nothing moved"
    );

    let delete_all = audit(AuditAction::TokenDeletedAll);
    store
        .delete_tokens_of("alice", &delete_all)
        .await
        .expect("delete all");
    assert!(counter(&store).await > after_delete);
}

pub async fn change_counter_ignores_token_creation_and_rename(store: SharedStore) {
    add_user(&store, "alice").await;
    let start = counter(&store).await;
    add_token(&store, token("tok-1", "alice", "one")).await;
    let rename = audit(AuditAction::TokenRenamed);
    store
        .rename_token("tok-1", "renamed", &rename)
        .await
        .expect("rename");
    assert_eq!(counter(&store).await, start);
}

pub async fn change_counter_moves_on_user_changes_but_not_on_failed_logins(store: SharedStore) {
    add_user(&store, "alice").await;
    let start = counter(&store).await;
    let policy = LockoutPolicy {
        max_failed_logins: 2,
        lockout_minutes: 15,
    };
    for _ in 0..3 {
        store
            .record_failed_login("alice", now(), policy)
            .await
            .expect("failure");
    }
    store
        .reset_failed_logins("alice", None)
        .await
        .expect("reset");
    let reset = audit(AuditAction::UserFailedLoginsReset).user("alice");
    store
        .reset_failed_logins("alice", Some(&reset))
        .await
        .expect("admin reset");
    assert_eq!(
        counter(&store).await,
        start,
        "failed logins are not a change"
    );

    let changes = [
        UserChange {
            disabled: Some(true),
            ..UserChange::default()
        },
        UserChange {
            admin: Some(true),
            ..UserChange::default()
        },
        UserChange {
            password_hash: Some("$argon2id$other".into()),
            ..UserChange::default()
        },
    ];
    let mut previous = start;
    for change in changes {
        let update = audit(AuditAction::UserUpdated).user("alice");
        store
            .update_user("alice", &change, &update)
            .await
            .expect("update");
        let current = counter(&store).await;
        assert!(current > previous, "{change:?} must move the counter");
        previous = current;
    }
}

pub async fn change_counter_ignores_a_user_update_that_changes_nothing_it_guards(
    store: SharedStore,
) {
    let alice = add_user(&store, "alice").await;
    let start = counter(&store).await;
    let same_flags = UserChange {
        display_name: Some("Alice".into()),
        email: Some(Some("alice@example.com".into())),
        admin: Some(alice.admin),
        disabled: Some(alice.disabled),
        password_hash: None,
    };
    let update = audit(AuditAction::UserUpdated).user("alice");
    store
        .update_user("alice", &same_flags, &update)
        .await
        .expect("update");
    assert_eq!(counter(&store).await, start);
}

pub async fn change_counter_moves_on_every_settings_save(store: SharedStore) {
    let start = counter(&store).await;
    let save = audit(AuditAction::SettingsChanged);
    store
        .save_settings(&Settings::default(), &save)
        .await
        .expect("first save");
    let after_first = counter(&store).await;
    assert!(after_first > start, "the first save inserts");
    let admins_only = Settings {
        admins_only: true,
        ..Settings::default()
    };
    store
        .save_settings(&admins_only, &save)
        .await
        .expect("second save");
    assert!(counter(&store).await > after_first, "later saves update");
}
