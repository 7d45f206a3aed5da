//! Where a token comes from (SPEC §11): the token that made it (`made_by`) and its last
//! rotation (`rotated_at`, `rotated_from`) are stored; deleting a token, one by one or with
//! the incident button, deletes every token made by it, transitively, and the audit record
//! names them; a token is never stored after its maker was deleted, also when both happen at
//! once.

use super::{SharedStore, add_token, add_user, all_audit, at, audit, digest, now, token, user};
use chrono::TimeDelta;
use serde_json::json;
use tokengate_core::TokenRecord;
use tokengate_core::model::AuditAction;
use tokengate_core::store::Rotation;

/// A token of alice's made by the token `maker`, created `minutes` after `now()`.
fn made_by(id: &str, maker: &str, minutes: i64) -> TokenRecord {
    let mut record = token(id, "alice", id);
    record.made_by = Some(maker.into());
    record.created_at = now() + TimeDelta::minutes(minutes);
    record
}

async fn exists(store: &SharedStore, id: &str) -> bool {
    store.token(id).await.expect("read").is_some()
}

pub async fn the_maker_and_the_last_rotation_are_stored_and_read_back(store: SharedStore) {
    add_user(&store, "alice").await;
    add_token(&store, token("tok-l", "alice", "maker")).await;
    let child = add_token(&store, made_by("tok-c", "tok-l", 1)).await;
    let read = store.token("tok-c").await.expect("read").expect("token");
    assert_eq!(read, child);
    assert_eq!(read.made_by.as_deref(), Some("tok-l"));
    assert_eq!((read.rotated_at, read.rotated_from), (None, None));
    let rotation = Rotation {
        at: at("2027-03-02T08:00:00.456Z"),
        digest: digest("rotated"),
        hint: "tg_…new1".into(),
        expires_at: Some(at("2027-04-01T08:00:00.456Z")),
        grace_until: None,
    };
    let record = audit(AuditAction::TokenRotated).token("tok-c");
    assert!(
        store
            .rotate_token("tok-c", &rotation, &record)
            .await
            .expect("rotate")
    );
    let rotated = store.token("tok-c").await.expect("read").expect("token");
    assert_eq!(rotated.rotated_at, Some(rotation.at));
    assert_eq!(
        rotated.rotated_from.as_deref(),
        Some("tg_…abcd"),
        "the old hint"
    );
    assert_eq!(rotated.hint, "tg_…new1");
    assert_eq!(rotated.created_at, child.created_at, "creation stays");
    assert_eq!(rotated.made_by.as_deref(), Some("tok-l"), "and the maker");
    let by_digest = store.token_by_digest(&rotation.digest).await.expect("read");
    assert_eq!(by_digest, Some(rotated));
}

pub async fn deleting_a_token_deletes_what_it_made_transitively_and_nothing_else(
    store: SharedStore,
) {
    add_user(&store, "alice").await;
    for record in [
        token("tok-l", "alice", "maker"),
        made_by("tok-c", "tok-l", 1),
        made_by("tok-d", "tok-c", 2),
        made_by("tok-e", "tok-c", 3),
        token("tok-s", "alice", "sibling"),
        made_by("tok-t", "tok-s", 4),
    ] {
        add_token(&store, record).await;
    }
    let counter = store.change_counter().await.expect("counter");
    let delete = audit(AuditAction::TokenDeleted)
        .user("alice")
        .token("tok-c")
        .details(json!({"name": "tok-c"}));
    let also = store.delete_token("tok-c", &delete).await.expect("delete");
    assert_eq!(also, Some(vec!["tok-d".to_owned(), "tok-e".to_owned()]));
    for gone in ["tok-c", "tok-d", "tok-e"] {
        assert!(!exists(&store, gone).await, "{gone} deleted");
    }
    for kept in ["tok-l", "tok-s", "tok-t"] {
        assert!(exists(&store, kept).await, "{kept} kept: not made by tok-c");
    }
    assert!(
        store.change_counter().await.expect("counter") > counter,
        "caches and sockets everywhere follow"
    );
    let record = &all_audit(&store).await[0];
    assert_eq!(record.action, AuditAction::TokenDeleted);
    assert_eq!(
        record.details,
        json!({"name": "tok-c", "also_deleted": ["tok-d", "tok-e"]})
    );
    let delete = audit(AuditAction::TokenDeleted).token("tok-l");
    assert_eq!(
        store.delete_token("tok-l", &delete).await.expect("delete"),
        Some(Vec::new())
    );
    assert_eq!(
        store.delete_token("tok-l", &delete).await.expect("again"),
        None,
        "a missing token: nothing deleted, nothing recorded"
    );
    assert_eq!(
        all_audit(&store).await[0].token_id.as_deref(),
        Some("tok-l")
    );
}

pub async fn a_token_whose_maker_is_gone_is_not_stored(store: SharedStore) {
    add_user(&store, "alice").await;
    let records = all_audit(&store).await.len();
    let orphan = made_by("tok-c", "tok-ghost", 1);
    let created = audit(AuditAction::TokenCreated).token("tok-c");
    assert!(!store.create_token(&orphan, &created).await.expect("create"));
    assert!(!exists(&store, "tok-c").await);
    assert_eq!(all_audit(&store).await.len(), records, "nothing recorded");
}

pub async fn revoke_before_also_deletes_what_the_revoked_tokens_made_later(store: SharedStore) {
    add_user(&store, "alice").await;
    let bob = user("bob");
    store
        .create_user(&bob, &audit(AuditAction::UserCreated).user("bob"))
        .await
        .expect("bob");
    let mut new_maker = token("tok-new", "alice", "new maker");
    new_maker.created_at = now() + TimeDelta::minutes(30);
    for record in [
        token("tok-l", "alice", "old maker"),
        made_by("tok-c", "tok-l", 60),
        made_by("tok-d", "tok-c", 61),
        new_maker,
        made_by("tok-n", "tok-new", 62),
        token("tok-b", "bob", "bob's old one"),
    ] {
        add_token(&store, record).await;
    }
    let before = now() + TimeDelta::minutes(10);
    let revoke = audit(AuditAction::TokenRevokedBefore)
        .user("alice")
        .details(json!({"before": before}));
    let count = store
        .delete_tokens_created_before(before, Some("alice"), &revoke)
        .await
        .expect("revoke");
    assert_eq!(count, 3, "tok-l and what it made");
    for gone in ["tok-l", "tok-c", "tok-d"] {
        assert!(!exists(&store, gone).await, "{gone} deleted");
    }
    for kept in ["tok-new", "tok-n", "tok-b"] {
        assert!(exists(&store, kept).await, "{kept} kept");
    }
    let record = &all_audit(&store).await[0];
    assert_eq!(
        record.details,
        json!({"before": before, "count": 3, "also_deleted": ["tok-c", "tok-d"]})
    );
    let everyone = audit(AuditAction::TokenRevokedBefore);
    let count = store
        .delete_tokens_created_before(now() + TimeDelta::minutes(31), None, &everyone)
        .await
        .expect("revoke");
    assert_eq!(count, 3, "tok-new with tok-n, and bob's");
    assert_eq!(
        all_audit(&store).await[0].details,
        json!({"count": 3, "also_deleted": ["tok-n"], "owners": {"alice": 2, "bob": 1}}),
        "for everyone, each owner's count: each is told"
    );
}

/// Attack: a leaked token keeps minting children while its owner deletes it. Whatever the
/// interleaving, no token is left whose maker is gone.
pub async fn tokens_made_while_their_maker_is_deleted_never_outlive_it(store: SharedStore) {
    add_user(&store, "alice").await;
    for round in 0..8 {
        let maker = format!("tok-l{round}");
        add_token(&store, token(&maker, "alice", "maker")).await;
        let mut tasks = Vec::new();
        for child in 0..6 {
            let (writer, maker_id) = (store.clone(), maker.clone());
            tasks.push(tokio::spawn(async move {
                let (store, maker) = (writer, maker_id);
                let id = format!("tok-{round}-{child}");
                let mut record = made_by(&id, &maker, 1);
                record.digest = digest(&id);
                let created = audit(AuditAction::TokenCreated).token(&id);
                if store.create_token(&record, &created).await.expect("create") && child % 2 == 0 {
                    // A grandchild, made by the child just made.
                    let grandchild = format!("{id}-g");
                    let mut record = made_by(&grandchild, &id, 2);
                    record.digest = digest(&grandchild);
                    let created = audit(AuditAction::TokenCreated).token(&grandchild);
                    store.create_token(&record, &created).await.expect("create");
                }
            }));
            if child == 2 {
                let (deleter, maker_id) = (store.clone(), maker.clone());
                tasks.push(tokio::spawn(async move {
                    let (store, maker) = (deleter, maker_id);
                    let delete = audit(AuditAction::TokenDeleted).token(&maker);
                    store.delete_token(&maker, &delete).await.expect("delete");
                }));
            }
        }
        for task in tasks {
            task.await.expect("task");
        }
        let left = store.tokens(&Default::default()).await.expect("list");
        for token in &left {
            if let Some(maker) = &token.made_by {
                assert!(
                    left.iter().any(|other| &other.id == maker),
                    "round {round}: {} outlived its maker {maker}",
                    token.id
                );
            }
        }
    }
}
