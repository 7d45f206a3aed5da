//! Conformance cases for `TokenStore`: creation and deletion with their audit records, lookup
//! by digest, filters and paging, and batched last uses.

use super::{
    SharedStore, add_token, add_user, all_audit, at, audit, audit_actions, digest, now, token,
};
use serde_json::json;
use tokengate_core::model::{AuditAction, TokenFilter, TokenGrant, TokenUse};
use tokengate_core::store::StoreError;
use tokengate_core::token::TokenDigest;

pub async fn token_create_and_audit_commit_together(store: SharedStore) {
    add_user(&store, "alice").await;
    let record = token("tok-1", "alice", "CI");
    let audit = audit(AuditAction::TokenCreated)
        .user("alice")
        .token("tok-1")
        .details(json!({"name": "CI", "hint": "tg_…abcd"}));
    store.create_token(&record, &audit).await.expect("create");

    assert_eq!(store.token("tok-1").await.expect("read"), Some(record));
    let records = all_audit(&store).await;
    let created = &records[0];
    assert_eq!(created.action, AuditAction::TokenCreated);
    assert_eq!(created.token_id.as_deref(), Some("tok-1"));
    assert_eq!(created.user.as_deref(), Some("alice"));
    assert_eq!(created.details, json!({"name": "CI", "hint": "tg_…abcd"}));
}

pub async fn token_for_unknown_owner_is_refused_and_not_audited(store: SharedStore) {
    let result = store
        .create_token(
            &token("tok-1", "ghost", "CI"),
            &audit(AuditAction::TokenCreated),
        )
        .await;
    assert!(
        matches!(result, Err(StoreError::NotFound("user"))),
        "{result:?}"
    );
    assert_eq!(store.token("tok-1").await.expect("read"), None);
    assert!(all_audit(&store).await.is_empty());
}

pub async fn duplicate_token_digest_is_a_conflict_and_not_audited(store: SharedStore) {
    add_user(&store, "alice").await;
    let first = add_token(&store, token("tok-1", "alice", "CI")).await;
    let mut twin = token("tok-2", "alice", "twin");
    twin.digest = first.digest;
    let result = store
        .create_token(&twin, &audit(AuditAction::TokenCreated))
        .await;
    assert!(
        matches!(result, Err(StoreError::Conflict("token"))),
        "{result:?}"
    );
    let same_id = store
        .create_token(
            &token("tok-1", "alice", "again"),
            &audit(AuditAction::TokenCreated),
        )
        .await;
    assert!(
        matches!(same_id, Err(StoreError::Conflict("token"))),
        "{same_id:?}"
    );
    assert_eq!(store.token("tok-2").await.expect("read"), None);
    assert_eq!(
        all_audit(&store).await.len(),
        2,
        "user.created and one token.created"
    );
}

pub async fn token_by_digest_finds_only_exact_digest(store: SharedStore) {
    add_user(&store, "alice").await;
    let one = add_token(&store, token("tok-1", "alice", "one")).await;
    let two = add_token(&store, token("tok-2", "alice", "two")).await;
    assert_eq!(
        store.token_by_digest(&one.digest).await.expect("lookup"),
        Some(one.clone())
    );
    assert_eq!(
        store.token_by_digest(&two.digest).await.expect("lookup"),
        Some(two)
    );
    let mut near = one.digest;
    near.0[31] ^= 1;
    assert_eq!(store.token_by_digest(&near).await.expect("lookup"), None);
    assert_eq!(
        store
            .token_by_digest(&digest("other"))
            .await
            .expect("lookup"),
        None
    );
    assert_eq!(
        store
            .token_by_digest(&TokenDigest([0; 32]))
            .await
            .expect("lookup"),
        None
    );
}

pub async fn token_grant_by_digest_is_the_records_id_owner_and_expiry(store: SharedStore) {
    add_user(&store, "alice").await;
    let mut dated = token("tok-dated", "alice", "dated");
    dated.expires_at = Some(at("2027-03-04T05:06:07.089Z"));
    let dated = add_token(&store, dated).await;
    let open_ended = add_token(&store, token("tok-open", "alice", "open-ended")).await;
    for record in [&dated, &open_ended] {
        assert_eq!(
            store
                .token_grant_by_digest(&record.digest)
                .await
                .expect("lookup"),
            Some(TokenGrant::from(record.clone()))
        );
    }
    let mut near = dated.digest;
    near.0[0] ^= 1;
    assert_eq!(
        store.token_grant_by_digest(&near).await.expect("lookup"),
        None
    );
    let delete = audit(AuditAction::TokenDeleted).token("tok-dated");
    assert!(
        store
            .delete_token("tok-dated", &delete)
            .await
            .expect("delete")
            .is_some()
    );
    assert_eq!(
        store
            .token_grant_by_digest(&dated.digest)
            .await
            .expect("lookup"),
        None
    );
}

pub async fn token_rename_is_audited_and_a_missing_token_reports_false(store: SharedStore) {
    add_user(&store, "alice").await;
    add_token(&store, token("tok-1", "alice", "old name")).await;
    let rename = audit(AuditAction::TokenRenamed)
        .token("tok-1")
        .details(json!({"old": "old name", "new": "new name"}));
    assert!(
        store
            .rename_token("tok-1", "new name", &rename)
            .await
            .expect("rename")
    );
    let stored = store.token("tok-1").await.expect("read").expect("token");
    assert_eq!(stored.name, "new name");
    assert!(
        !store
            .rename_token("ghost", "x", &rename)
            .await
            .expect("rename")
    );
    assert_eq!(
        audit_actions(&store).await,
        vec![
            AuditAction::TokenRenamed,
            AuditAction::TokenCreated,
            AuditAction::UserCreated
        ]
    );
}

pub async fn token_delete_is_audited_and_a_missing_token_reports_false(store: SharedStore) {
    add_user(&store, "alice").await;
    let record = add_token(&store, token("tok-1", "alice", "CI")).await;
    let delete = audit(AuditAction::TokenDeleted).token("tok-1");
    assert_eq!(
        store.delete_token("tok-1", &delete).await.expect("delete"),
        Some(Vec::new()),
        "deleted, nothing else with it"
    );
    assert_eq!(store.token("tok-1").await.expect("read"), None);
    assert_eq!(
        store.token_by_digest(&record.digest).await.expect("read"),
        None
    );
    assert_eq!(
        store
            .delete_token("tok-1", &delete)
            .await
            .expect("delete again"),
        None
    );
    assert_eq!(
        audit_actions(&store).await,
        vec![
            AuditAction::TokenDeleted,
            AuditAction::TokenCreated,
            AuditAction::UserCreated
        ]
    );
}

pub async fn delete_all_counts_and_audits(store: SharedStore) {
    add_user(&store, "alice").await;
    add_user(&store, "bob").await;
    for id in ["a1", "a2", "a3"] {
        add_token(&store, token(id, "alice", id)).await;
    }
    add_token(&store, token("b1", "bob", "b1")).await;
    let delete_all = audit(AuditAction::TokenDeletedAll)
        .user("alice")
        .details(json!({"reason": "left the company"}));
    assert_eq!(
        store
            .delete_tokens_of("alice", &delete_all)
            .await
            .expect("delete"),
        3
    );
    let all = TokenFilter::default();
    let left: Vec<String> = store
        .tokens(&all)
        .await
        .expect("list")
        .into_iter()
        .map(|record| record.id)
        .collect();
    assert_eq!(left, vec!["b1"]);

    let records = all_audit(&store).await;
    assert_eq!(records[0].action, AuditAction::TokenDeletedAll);
    assert_eq!(
        records[0].details,
        json!({"reason": "left the company", "count": 3})
    );

    let none_left = audit(AuditAction::TokenDeletedAll).user("alice");
    assert_eq!(
        store
            .delete_tokens_of("alice", &none_left)
            .await
            .expect("delete"),
        0
    );
    assert_eq!(all_audit(&store).await[0].details, json!({"count": 0}));
}

pub async fn token_uses_keep_the_latest_and_ignore_unknown_tokens(store: SharedStore) {
    add_user(&store, "alice").await;
    add_token(&store, token("tok-1", "alice", "one")).await;
    add_token(&store, token("tok-2", "alice", "two")).await;
    let use_of = |id: &str, time: &str, ip: &str| TokenUse {
        token_id: id.into(),
        at: at(time),
        ip: ip.into(),
    };
    store
        .record_token_uses(&[
            use_of("tok-1", "2027-03-02T10:00:00.500Z", "10.0.0.2"),
            use_of("tok-1", "2027-03-02T09:00:00Z", "10.0.0.1"),
            use_of("ghost", "2027-03-02T09:00:00Z", "10.0.0.9"),
            use_of("tok-2", "2027-03-02T08:00:00Z", "2001:db8::1"),
        ])
        .await
        .expect("record uses");
    let one = store.token("tok-1").await.expect("read").expect("token");
    assert_eq!(one.last_used_at, Some(at("2027-03-02T10:00:00.500Z")));
    assert_eq!(one.last_used_ip.as_deref(), Some("10.0.0.2"));
    let two = store.token("tok-2").await.expect("read").expect("token");
    assert_eq!(two.last_used_ip.as_deref(), Some("2001:db8::1"));

    // A later batch carrying an older use (another node's) does not move time backwards.
    store
        .record_token_uses(&[use_of("tok-1", "2027-03-02T09:30:00Z", "10.0.0.3")])
        .await
        .expect("record uses");
    let one = store.token("tok-1").await.expect("read").expect("token");
    assert_eq!(one.last_used_ip.as_deref(), Some("10.0.0.2"));
    store.record_token_uses(&[]).await.expect("empty batch");
    assert_eq!(all_audit(&store).await.len(), 3, "uses are not audited");
}

pub async fn tokens_filter_and_paging(store: SharedStore) {
    add_user(&store, "alice").await;
    add_user(&store, "bob").await;
    let mut deploy = token("t1", "alice", "Deploy ÉCOLE");
    deploy.expires_at = Some(at("2027-06-01T00:00:00Z"));
    deploy.last_used_at = Some(at("2027-03-05T00:00:00Z"));
    let mut ci = token("t2", "alice", "ci runner");
    ci.expires_at = Some(at("2028-01-01T00:00:00Z"));
    let mut laptop = token("t3", "bob", "laptop");
    laptop.last_used_at = Some(at("2027-02-01T00:00:00Z"));
    let backup = token("t4", "bob", "Backup deploy");
    for record in [&laptop, &deploy, &backup, &ci] {
        add_token(&store, record.clone()).await;
    }
    let ids = |filter: TokenFilter| {
        let store = store.clone();
        async move {
            store
                .tokens(&filter)
                .await
                .expect("list")
                .into_iter()
                .map(|record| record.id)
                .collect::<Vec<_>>()
        }
    };

    assert_eq!(ids(TokenFilter::default()).await, ["t1", "t2", "t3", "t4"]);
    let owner = |name: &str| TokenFilter {
        owner: Some(name.into()),
        ..TokenFilter::default()
    };
    assert_eq!(ids(owner("bob")).await, ["t3", "t4"]);
    assert!(ids(owner("Bob")).await.is_empty(), "owner is exact");
    let name = |text: &str| TokenFilter {
        name: Some(text.into()),
        ..TokenFilter::default()
    };
    assert_eq!(ids(name("DEPLOY")).await, ["t1", "t4"]);
    assert_eq!(
        ids(name("école")).await,
        ["t1"],
        "case-insensitive beyond ASCII"
    );
    assert_eq!(ids(name("%")).await, Vec::<String>::new(), "no wildcards");
    let expires_before = TokenFilter {
        expires_before: Some(at("2027-12-31T00:00:00Z")),
        ..TokenFilter::default()
    };
    assert_eq!(
        ids(expires_before).await,
        ["t1"],
        "never-expiring tokens are not listed"
    );
    let unused_since = TokenFilter {
        unused_since: Some(at("2027-03-01T00:00:00Z")),
        ..TokenFilter::default()
    };
    assert_eq!(ids(unused_since).await, ["t2", "t3", "t4"]);
    let combined = TokenFilter {
        owner: Some("alice".into()),
        unused_since: Some(at("2027-04-01T00:00:00Z")),
        ..TokenFilter::default()
    };
    assert_eq!(ids(combined).await, ["t1", "t2"]);

    let page = |after: Option<&str>| TokenFilter {
        after_id: after.map(str::to_owned),
        limit: 3,
        ..TokenFilter::default()
    };
    assert_eq!(ids(page(None)).await, ["t1", "t2", "t3"]);
    assert_eq!(ids(page(Some("t3"))).await, ["t4"]);
    assert!(ids(page(Some("t4"))).await.is_empty());
}

pub async fn token_times_round_trip_to_the_millisecond(store: SharedStore) {
    add_user(&store, "alice").await;
    let mut record = token("tok-1", "alice", "times");
    record.created_at = at("2027-03-01T12:00:00.001Z");
    record.expires_at = Some(at("2029-12-31T23:59:59.999Z"));
    record.last_used_at = Some(at("1999-01-01T00:00:00.010Z"));
    record.last_used_ip = Some("198.51.100.4".into());
    add_token(&store, record.clone()).await;
    assert_eq!(store.token("tok-1").await.expect("read"), Some(record));
    assert_eq!(now().timestamp_subsec_millis(), 123);
}

pub async fn tokens_over_a_maximum_are_counted_and_clamped_with_an_audit_record(
    store: SharedStore,
) {
    super::add_user(&store, "alice").await;
    let limit = at("2027-07-01T00:00:00Z");
    let mut never = token("never", "alice", "never expires");
    never.expires_at = None;
    let mut late = token("late", "alice", "expires late");
    late.expires_at = Some(at("2028-01-01T00:00:00Z"));
    let mut early = token("early", "alice", "expires early");
    early.expires_at = Some(at("2027-02-01T00:00:00Z"));
    for record in [&never, &late, &early] {
        store
            .create_token(
                record,
                &super::audit(AuditAction::TokenCreated).token(&record.id),
            )
            .await
            .expect("create");
    }
    assert_eq!(
        store
            .count_tokens_expiring_after(limit)
            .await
            .expect("count"),
        2
    );
    let clamped = store
        .clamp_token_expiry(limit, &super::audit(AuditAction::TokenExpiryClamped))
        .await
        .expect("clamp");
    assert_eq!(clamped, 2);
    assert_eq!(
        store
            .count_tokens_expiring_after(limit)
            .await
            .expect("count"),
        0
    );
    for record in [&never, &late] {
        let stored = store
            .token(&record.id)
            .await
            .expect("read")
            .expect("present");
        assert_eq!(stored.expires_at, Some(limit), "{}", record.id);
        // The hot path's lookup sees the new expiry too.
        let grant = store
            .token_grant_by_digest(&record.digest)
            .await
            .expect("grant")
            .expect("present");
        assert_eq!(grant.expires_at, Some(limit), "{}", record.id);
    }
    let untouched = store.token("early").await.expect("read").expect("present");
    assert_eq!(untouched.expires_at, Some(at("2027-02-01T00:00:00Z")));
    let records = super::all_audit(&store).await;
    let newest = records.first().expect("audit record");
    assert_eq!(newest.action, AuditAction::TokenExpiryClamped);
    assert_eq!(newest.details["count"], 2);
}
