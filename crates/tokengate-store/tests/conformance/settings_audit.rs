//! Conformance cases for `SettingsStore` and `AuditLog`: settings defaults and round trips,
//! audit filters, ordering, paging and page sizes.

use super::{SharedStore, add_token, add_user, all_audit, at, audit, token};
use serde_json::json;
use tokengate_core::Settings;
use tokengate_core::allowlist::IpAllowList;
use tokengate_core::groups::{GroupList, Permissions};
use tokengate_core::model::{
    AuditAction, AuditFilter, AuthEvents, NewAudit, PasswordAuth, TokenFilter,
};
use tokengate_core::validity::MaxValidity;

pub async fn settings_are_the_defaults_until_first_saved(store: SharedStore) {
    assert_eq!(
        store.settings().await.expect("settings"),
        Settings::default()
    );
}

pub async fn settings_round_trip(store: SharedStore) {
    let settings = Settings {
        max_validity: MaxValidity::OneYear,
        ip_allowlist: IpAllowList::parse(&[
            "10.0.0.0/8",
            "192.168.1.10-192.168.1.50",
            "2001:db8::1",
        ])
        .expect("valid list"),
        password_auth: PasswordAuth::Disabled,
        admins_only: true,
        permissions: Permissions {
            use_tokens: GroupList::parse(&["api-users", "Domain Users"]).expect("valid"),
            create_own_tokens: GroupList::everyone(),
            create_tokens_for_others: GroupList::parse(&["service desk"]).expect("valid"),
        },
        audit_auth_events: AuthEvents {
            success: false,
            failure: true,
            denied: true,
        },
    };
    let change = audit(AuditAction::SettingsChanged)
        .details(json!({"max_validity": {"old": "never", "new": "1y"}}));
    store.save_settings(&settings, &change).await.expect("save");
    assert_eq!(store.settings().await.expect("settings"), settings);

    let back_to_defaults = Settings::default();
    store
        .save_settings(&back_to_defaults, &change)
        .await
        .expect("save again");
    assert_eq!(store.settings().await.expect("settings"), back_to_defaults);

    let records = all_audit(&store).await;
    assert_eq!(records.len(), 2);
    assert!(
        records
            .iter()
            .all(|record| record.action == AuditAction::SettingsChanged)
    );
    assert_eq!(
        records[0].details,
        json!({"max_validity": {"old": "never", "new": "1y"}})
    );
}

/// Seven records: alice's token created/renamed/deleted by cli, bob's by bob, at one-minute
/// steps from 12:00.
async fn seed_audit(store: &SharedStore) {
    let steps = [
        ("cli", "alice", AuditAction::TokenCreated),
        ("cli", "alice", AuditAction::TokenRenamed),
        ("bob", "bob", AuditAction::TokenCreated),
        ("cli", "alice", AuditAction::TokenDeleted),
        ("bob", "bob", AuditAction::TokenRenamed),
        ("bob", "bob", AuditAction::TokenDeleted),
        ("cli", "alice", AuditAction::TokenCreated),
    ];
    add_user(store, "alice").await;
    add_user(store, "bob").await;
    let minute = |index: usize| at(&format!("2027-03-01T12:0{index}:00Z"));
    for (index, (actor, owner, action)) in steps.into_iter().enumerate() {
        let id = format!("tok-{index}");
        let record = NewAudit {
            at: minute(index),
            actor: actor.into(),
            ..audit(action).user(owner).token(&id)
        };
        // Each record rides on a real change so the store's own path writes it.
        let mut new_token = token(&id, owner, "seed");
        new_token.created_at = minute(index);
        store.create_token(&new_token, &record).await.expect("seed");
    }
}

pub async fn audit_filter_and_paging(store: SharedStore) {
    seed_audit(&store).await;
    let tokens_of = |filter: AuditFilter| {
        let store = store.clone();
        async move {
            store
                .audit(&filter)
                .await
                .expect("audit")
                .into_iter()
                .map(|record| record.token_id.unwrap_or_default())
                .collect::<Vec<_>>()
        }
    };
    let all = tokens_of(AuditFilter::default()).await;
    assert_eq!(all.len(), 9, "two user.created plus seven");
    assert_eq!(
        &all[..7],
        [
            "tok-6", "tok-5", "tok-4", "tok-3", "tok-2", "tok-1", "tok-0"
        ]
    );

    let by_actor = AuditFilter {
        actor: Some("bob".into()),
        ..AuditFilter::default()
    };
    assert_eq!(tokens_of(by_actor).await, ["tok-5", "tok-4", "tok-2"]);
    let by_user_and_action = AuditFilter {
        user: Some("alice".into()),
        action: Some(AuditAction::TokenCreated),
        ..AuditFilter::default()
    };
    assert_eq!(tokens_of(by_user_and_action).await, ["tok-6", "tok-0"]);
    let window = AuditFilter {
        since: Some(at("2027-03-01T12:02:00Z")),
        until: Some(at("2027-03-01T12:05:00Z")),
        ..AuditFilter::default()
    };
    assert_eq!(
        tokens_of(window).await,
        ["tok-4", "tok-3", "tok-2"],
        "since inclusive, until exclusive"
    );

    let first_page = store
        .audit(&AuditFilter {
            limit: 3,
            ..AuditFilter::default()
        })
        .await
        .expect("audit");
    assert_eq!(first_page.len(), 3);
    let before_id = first_page.last().map(|record| record.id);
    let second_page = AuditFilter {
        before_id,
        limit: 3,
        ..AuditFilter::default()
    };
    assert_eq!(tokens_of(second_page).await, ["tok-3", "tok-2", "tok-1"]);
}

pub async fn audit_records_round_trip_every_field(store: SharedStore) {
    add_user(&store, "alice").await;
    let details = json!({"name": "CI ✓", "nested": {"list": [1, 2.5, null, true]}, "empty": {}});
    let record = NewAudit {
        at: at("2027-03-01T12:34:56.789Z"),
        ..audit(AuditAction::TokenCreated)
            .user("alice")
            .token("tok-1")
            .details(details.clone())
    };
    store
        .create_token(&token("tok-1", "alice", "CI"), &record)
        .await
        .expect("create");
    let stored = all_audit(&store).await.remove(0);
    assert!(stored.id > 0);
    assert_eq!(stored.at, record.at);
    assert_eq!(stored.actor, "cli");
    assert_eq!(stored.action, AuditAction::TokenCreated);
    assert_eq!(stored.user.as_deref(), Some("alice"));
    assert_eq!(stored.token_id.as_deref(), Some("tok-1"));
    assert_eq!(stored.details, details);
    assert_eq!(stored.ip.as_deref(), Some("192.0.2.7"));
    assert_eq!(stored.request_id.as_deref(), Some("req-1"));
}

pub async fn list_limit_zero_means_a_page_of_a_hundred(store: SharedStore) {
    add_user(&store, "alice").await;
    for index in 0..105 {
        add_token(&store, token(&format!("tok-{index:03}"), "alice", "bulk")).await;
    }
    let tokens = store.tokens(&TokenFilter::default()).await.expect("list");
    assert_eq!(tokens.len(), 100);
    assert_eq!(tokens[99].id, "tok-099");
    let records = store.audit(&AuditFilter::default()).await.expect("audit");
    assert_eq!(records.len(), 100);
}
