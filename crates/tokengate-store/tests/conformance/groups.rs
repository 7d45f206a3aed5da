//! Conformance cases for `GroupStore` and `DirectoryStore`: local groups and their members,
//! a user's groups read with the user, directory groups, deprovisioning, and the change
//! counter moving on every membership change.

use super::{SharedStore, add_user, audit, counter, now};
use tokengate_core::groups::{Group, UserSource};
use tokengate_core::model::{AuditAction, AuditFilter, UserChange};
use tokengate_core::store::{DirectoryProfile, StoreError};

fn group(name: &str, members: &[&str]) -> Group {
    Group {
        name: name.into(),
        members: members.iter().map(|member| (*member).to_owned()).collect(),
        created_at: now(),
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|name| (*name).to_owned()).collect()
}

async fn records(store: &SharedStore, action: AuditAction) -> usize {
    let filter = AuditFilter {
        action: Some(action),
        limit: 100,
        ..AuditFilter::default()
    };
    store.audit(&filter).await.expect("audit").len()
}

pub async fn groups_round_trip_with_their_members_and_users_read_their_groups(store: SharedStore) {
    add_user(&store, "alice").await;
    add_user(&store, "bob").await;
    let created = audit(AuditAction::GroupCreated);
    store
        .create_group(&group("devs", &["bob", "alice"]), &created)
        .await
        .expect("create");
    store
        .create_group(&group("Domain Users", &["alice"]), &created)
        .await
        .expect("create with a space");
    let listed = store.groups().await.expect("groups");
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].name, "Domain Users");
    assert_eq!(listed[1].members, names(&["alice", "bob"]));
    assert_eq!(listed[1].created_at, now());
    let alice = store.user("alice").await.expect("read").expect("alice");
    assert_eq!(alice.groups, names(&["Domain Users", "devs"]));
    assert!(alice.directory_groups.is_empty());
    assert_eq!(records(&store, AuditAction::GroupCreated).await, 2);
    let again = store.create_group(&group("devs", &[]), &created).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(records(&store, AuditAction::GroupCreated).await, 2);
}

pub async fn a_group_with_an_unknown_member_is_not_created(store: SharedStore) {
    add_user(&store, "alice").await;
    let created = audit(AuditAction::GroupCreated);
    let refused = store
        .create_group(&group("devs", &["alice", "ghost"]), &created)
        .await;
    assert!(
        matches!(refused, Err(StoreError::NotFound("user"))),
        "{refused:?}"
    );
    assert!(store.group("devs").await.expect("read").is_none());
    assert_eq!(records(&store, AuditAction::GroupCreated).await, 0);
}

pub async fn members_change_in_one_transaction_and_move_the_change_counter(store: SharedStore) {
    add_user(&store, "alice").await;
    add_user(&store, "bob").await;
    let created = audit(AuditAction::GroupCreated);
    store
        .create_group(&group("devs", &["alice"]), &created)
        .await
        .expect("create");
    let start = counter(&store).await;
    let changed = audit(AuditAction::GroupChanged);
    let after = store
        .change_members("devs", &names(&["bob"]), &names(&["alice"]), &changed)
        .await
        .expect("change");
    assert_eq!(after.members, names(&["bob"]));
    assert!(
        counter(&store).await > start,
        "membership decides permissions"
    );
    let refused = store
        .change_members("devs", &names(&["ghost"]), &names(&["bob"]), &changed)
        .await;
    assert!(
        matches!(refused, Err(StoreError::NotFound("user"))),
        "{refused:?}"
    );
    let kept = store.group("devs").await.expect("read").expect("devs");
    assert_eq!(
        kept.members,
        names(&["bob"]),
        "a refused change changes nothing"
    );
    let missing = store.change_members("ops", &[], &[], &changed).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound("group"))),
        "{missing:?}"
    );
    assert_eq!(records(&store, AuditAction::GroupChanged).await, 1);
}

pub async fn deleting_a_group_removes_its_memberships(store: SharedStore) {
    add_user(&store, "alice").await;
    let created = audit(AuditAction::GroupCreated);
    store
        .create_group(&group("devs", &["alice"]), &created)
        .await
        .expect("create");
    let start = counter(&store).await;
    let deleted = audit(AuditAction::GroupDeleted);
    assert!(store.delete_group("devs", &deleted).await.expect("delete"));
    assert!(!store.delete_group("devs", &deleted).await.expect("again"));
    let alice = store.user("alice").await.expect("read").expect("alice");
    assert!(alice.groups.is_empty());
    assert!(counter(&store).await > start);
    assert_eq!(records(&store, AuditAction::GroupDeleted).await, 1);
}

pub async fn a_users_local_groups_are_set_exactly(store: SharedStore) {
    add_user(&store, "alice").await;
    let created = audit(AuditAction::GroupCreated);
    for name in ["a", "b", "c"] {
        store
            .create_group(&group(name, &[]), &created)
            .await
            .expect("create");
    }
    let updated = audit(AuditAction::UserUpdated);
    let alice = store
        .set_local_groups("alice", &names(&["a", "b"]), &updated)
        .await
        .expect("set");
    assert_eq!(alice.groups, names(&["a", "b"]));
    let alice = store
        .set_local_groups("alice", &names(&["c"]), &updated)
        .await
        .expect("set");
    assert_eq!(alice.groups, names(&["c"]));
    let refused = store
        .set_local_groups("alice", &names(&["a", "nope"]), &updated)
        .await;
    assert!(
        matches!(refused, Err(StoreError::NotFound("group"))),
        "{refused:?}"
    );
    let alice = store.user("alice").await.expect("read").expect("alice");
    assert_eq!(alice.groups, names(&["c"]), "nothing half-set");
}

fn profile(name: &str, groups: &[&str]) -> DirectoryProfile {
    DirectoryProfile {
        name: name.into(),
        display_name: "Carol Directory".into(),
        email: Some("carol@example.com".into()),
        source: UserSource::Ldap,
        groups: names(groups),
        admin: true,
    }
}

pub async fn directory_users_keep_directory_and_local_groups_apart(store: SharedStore) {
    let mut carol = super::user("carol");
    carol.source = UserSource::Ldap;
    carol.password_hash = None;
    carol.directory_groups = names(&["ldap-devs"]);
    let created = audit(AuditAction::UserProvisioned);
    store
        .create_user(&carol, &created)
        .await
        .expect("provision");
    store
        .create_group(
            &group("local", &["carol"]),
            &audit(AuditAction::GroupCreated),
        )
        .await
        .expect("group");
    let read = store.user("carol").await.expect("read").expect("carol");
    assert_eq!(read.source, UserSource::Ldap);
    assert_eq!(read.groups, names(&["ldap-devs", "local"]));
    assert_eq!(read.directory_groups, names(&["ldap-devs"]));
    let start = counter(&store).await;
    let updated = audit(AuditAction::UserUpdated);
    let (refreshed, changed) = store
        .refresh_directory_user(&profile("carol", &["ops"]), &updated)
        .await
        .expect("refresh");
    assert!(changed);
    assert_eq!(refreshed.groups, names(&["local", "ops"]));
    assert_eq!(refreshed.email.as_deref(), Some("carol@example.com"));
    assert!(refreshed.admin);
    assert!(
        counter(&store).await > start,
        "directory groups decide permissions"
    );
    let moved = counter(&store).await;
    let (_, again) = store
        .refresh_directory_user(&profile("carol", &["ops"]), &updated)
        .await
        .expect("same again");
    assert!(!again, "nothing differs: nothing written");
    assert_eq!(counter(&store).await, moved);
    assert_eq!(records(&store, AuditAction::UserUpdated).await, 1);
    let missing = store
        .refresh_directory_user(&profile("nobody", &[]), &updated)
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound("user"))),
        "{missing:?}"
    );
}

pub async fn deprovisioning_disables_and_a_refresh_enables_only_what_it_disabled(
    store: SharedStore,
) {
    let mut carol = super::user("carol");
    carol.source = UserSource::Oidc;
    store
        .create_user(&carol, &audit(AuditAction::UserProvisioned))
        .await
        .expect("provision");
    add_user(&store, "alice").await;
    let gone = audit(AuditAction::UserDeprovisioned);
    assert!(
        store
            .deprovision_user("carol", &gone)
            .await
            .expect("deprovision")
    );
    assert!(!store.deprovision_user("carol", &gone).await.expect("again"));
    assert!(
        !store.deprovision_user("alice", &gone).await.expect("local"),
        "local users stay"
    );
    assert_eq!(records(&store, AuditAction::UserDeprovisioned).await, 1);
    let carol = store.user("carol").await.expect("read").expect("carol");
    assert!(carol.disabled);
    let updated = audit(AuditAction::UserUpdated);
    let (back, changed) = store
        .refresh_directory_user(&profile("carol", &[]), &updated)
        .await
        .expect("back");
    assert!(changed, "coming back is a change");
    assert!(!back.disabled, "the directory has the user again");

    let by_admin = UserChange {
        disabled: Some(true),
        ..UserChange::default()
    };
    store
        .update_user("carol", &by_admin, &audit(AuditAction::UserUpdated))
        .await
        .expect("disable");
    let (still, _) = store
        .refresh_directory_user(&profile("carol", &[]), &updated)
        .await
        .expect("refresh");
    assert!(
        still.disabled,
        "an admin's disabling is not the directory's to undo"
    );
}

pub async fn e_mail_addresses_are_set_and_cleared(store: SharedStore) {
    add_user(&store, "alice").await;
    let set = UserChange {
        email: Some(Some("alice@example.com".into())),
        ..UserChange::default()
    };
    let updated = audit(AuditAction::UserUpdated);
    let alice = store
        .update_user("alice", &set, &updated)
        .await
        .expect("set");
    assert_eq!(alice.email.as_deref(), Some("alice@example.com"));
    let untouched = UserChange {
        display_name: Some("Alice".into()),
        ..UserChange::default()
    };
    let alice = store
        .update_user("alice", &untouched, &updated)
        .await
        .expect("other field");
    assert_eq!(alice.email.as_deref(), Some("alice@example.com"));
    let clear = UserChange {
        email: Some(None),
        ..UserChange::default()
    };
    let alice = store
        .update_user("alice", &clear, &updated)
        .await
        .expect("clear");
    assert_eq!(alice.email, None);
}
