//! Bulk copy between databases (`tokengate db copy`): everything arrives — users with
//! password hashes, counters and locks, tokens with digests and last uses, saved settings,
//! audit records with their ids, sessions on request — verified by counts; a non-empty target
//! is refused unless forced. SQLite → SQLite always; SQLite → PostgreSQL → SQLite when
//! `TOKENGATE_TEST_POSTGRES_URL` is set.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(unused_macros)]
mod conformance;
mod support;

use chrono::TimeDelta;
use conformance::{add_token, add_user, at, audit, now, token, user};
use serde_json::json;
use std::sync::Arc;
use support::FreshSchema;
use tempfile::TempDir;
use tokengate_core::allowlist::IpAllowList;
use tokengate_core::groups::{Group, GroupList, Permissions, UserSource};
use tokengate_core::lockout::{LockoutPolicy, locked_forever};
use tokengate_core::model::{AuditAction, PasswordAuth, Settings, TokenUse};
use tokengate_core::store::{SessionRecord, Store};
use tokengate_core::token::TokenDigest;
use tokengate_core::validity::MaxValidity;
use tokengate_store::transfer::{self, CopyError, CopyOptions, Counts, Progress, Stage};
use tokengate_store::{Backend, OpenOptions, SqliteStore};

async fn open(url: &str) -> Arc<dyn Backend> {
    tokengate_store::open_backend(url, &OpenOptions::default())
        .await
        .unwrap()
}

fn sqlite_url(dir: &TempDir, name: &str) -> String {
    format!("sqlite://{}", dir.path().join(name).display())
}

/// An installation with something of every kind, including an audit id gap.
async fn seed(url: &str) {
    let backend = open(url).await;
    let store: Arc<dyn Store> = backend.clone();
    add_user(&store, "alice").await;
    let mut admin = user("root");
    admin.admin = true;
    admin.password_hash = None;
    admin.failed_logins = 7;
    admin.locked_until = Some(locked_forever());
    store
        .create_user(&admin, &audit(AuditAction::UserCreated).user("root"))
        .await
        .unwrap();
    let policy = LockoutPolicy {
        max_failed_logins: 2,
        lockout_minutes: 15,
    };
    for _ in 0..2 {
        store
            .record_failed_login("alice", now(), policy)
            .await
            .unwrap();
    }
    store
        .create_group(
            &Group {
                name: "api users".into(),
                members: vec!["alice".into(), "root".into()],
                created_at: now(),
            },
            &audit(AuditAction::GroupCreated),
        )
        .await
        .unwrap();
    let mut dave = user("dave");
    dave.source = UserSource::Ldap;
    dave.email = Some("dave@example.com".into());
    dave.directory_groups = vec!["ldap devs".into()];
    dave.groups = dave.directory_groups.clone();
    store
        .create_user(&dave, &audit(AuditAction::UserProvisioned))
        .await
        .unwrap();
    let mut full = token("tok-b", "alice", "Deploy ÉCOLE");
    full.expires_at = Some(at("2028-01-01T00:00:00.001Z"));
    full.rotated_at = Some(at("2027-03-01T13:00:00.002Z"));
    full.rotated_from = Some("tg_…wxyz".into());
    add_token(&store, full).await;
    // Made by tok-b, and before it in id order: a copy imports it before its maker.
    let mut made = token("tok-a", "alice", "ci");
    made.made_by = Some("tok-b".into());
    add_token(&store, made).await;
    store
        .record_token_uses(&[TokenUse {
            token_id: "tok-b".into(),
            at: at("2027-03-02T10:00:00.500Z"),
            ip: "2001:db8::1".into(),
        }])
        .await
        .unwrap();
    let settings = Settings {
        max_validity: MaxValidity::TwoYears,
        ip_allowlist: IpAllowList::parse(&["10.0.0.0/8", "192.168.1.10-192.168.1.50"]).unwrap(),
        password_auth: PasswordAuth::Disabled,
        admins_only: true,
        permissions: Permissions {
            use_tokens: GroupList::parse(&["api users"]).unwrap(),
            ..Permissions::default()
        },
        audit_auth_events: tokengate_core::model::AuthEvents {
            success: true,
            failure: false,
            denied: true,
        },
    };
    let save = audit(AuditAction::SettingsChanged)
        .details(json!({"admins_only": {"old": false, "new": true}, "note": "ünïcode ✓"}));
    store.save_settings(&settings, &save).await.unwrap();
    store
        .create_session(&SessionRecord {
            digest: TokenDigest::of("session"),
            user: "alice".into(),
            csrf_token: "csrf".into(),
            created_at: now(),
            last_seen_at: now() + TimeDelta::milliseconds(7),
            expires_at: now() + TimeDelta::hours(12),
        })
        .await
        .unwrap();
}

/// Adds an audit record with id 1000 to a SQLite source (ids need not be dense).
async fn audit_gap(url: &str) {
    let store = SqliteStore::open(url).await.unwrap();
    sqlx::query(
        "INSERT INTO audit (id, at, actor, action, user_name, token_id, details, ip, request_id) \
         VALUES (1000, 1800000000123, 'system', 'user.locked', 'alice', NULL, '{}', NULL, NULL)",
    )
    .execute(store.pool())
    .await
    .unwrap();
}

async fn copy(from: &str, to: &str, options: CopyOptions) -> Result<Counts, CopyError> {
    let (source, target) = (open(from).await, open(to).await);
    transfer::copy(source.as_ref(), target.as_ref(), options, &mut |_| {}).await
}

async fn export(url: &str) -> transfer::Export {
    transfer::export(open(url).await.as_ref()).await.unwrap()
}

const WITH_SESSIONS: CopyOptions = CopyOptions {
    force: false,
    sessions: true,
};

#[tokio::test]
async fn sqlite_to_sqlite_copies_everything_and_exports_identically() {
    let dir = tempfile::tempdir().unwrap();
    let (from, to) = (sqlite_url(&dir, "a.db"), sqlite_url(&dir, "b.db"));
    seed(&from).await;
    audit_gap(&from).await;
    let counts = copy(&from, &to, WITH_SESSIONS).await.unwrap();
    assert_eq!(
        counts,
        Counts {
            users: 3,
            tokens: 2,
            settings: 1,
            audit: 9,
            sessions: 1,
            groups: 1,
        }
    );
    let original = export(&from).await;
    assert_eq!(export(&to).await, original);
    assert_eq!(original.audit.last().unwrap().id, 1000);
    // The chain comes along: the copy verifies, and its next record continues it.
    let copied: Arc<dyn Store> = tokengate_store::open(&to).await.unwrap();
    let verdict = tokengate_core::store::verify_audit(copied.as_ref())
        .await
        .unwrap();
    assert!(verdict.ok && verdict.records == 9, "{verdict:?}");
    add_user(&copied, "after-the-copy").await;
    let verdict = tokengate_core::store::verify_audit(copied.as_ref())
        .await
        .unwrap();
    assert!(verdict.ok && verdict.records == 10, "{verdict:?}");
    assert_eq!(copied.audit_head().await.unwrap().unwrap().0, 1001);
    assert_eq!(original.users[0].failed_logins, 2);
    assert!(original.users[0].locked_until.is_some());
}

#[tokio::test]
async fn a_non_empty_target_is_refused_unless_forced_and_force_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let (from, to) = (sqlite_url(&dir, "a.db"), sqlite_url(&dir, "b.db"));
    seed(&from).await;
    let target: Arc<dyn Store> = open(&to).await;
    add_user(&target, "someone-else").await;

    let refused = copy(&from, &to, CopyOptions::default()).await;
    assert!(
        matches!(
            refused,
            Err(CopyError::TargetNotEmpty(Counts {
                users: 1,
                audit: 1,
                ..
            }))
        ),
        "{refused:?}"
    );
    assert_eq!(
        target.count_users().await.unwrap(),
        1,
        "nothing was written"
    );

    let counter_before = target.change_counter().await.unwrap();
    let forced = CopyOptions {
        force: true,
        sessions: false,
    };
    let counts = copy(&from, &to, forced).await.unwrap();
    assert_eq!(counts.sessions, 0, "sessions only when asked");
    let copied = export(&to).await;
    assert!(copied.sessions.is_empty());
    assert_eq!(copied.users, export(&from).await.users);
    assert!(
        target.change_counter().await.unwrap() > counter_before,
        "running nodes on the target notice"
    );
}

#[tokio::test]
async fn progress_is_reported_for_every_stage_up_to_its_total() {
    let dir = tempfile::tempdir().unwrap();
    let (from, to) = (sqlite_url(&dir, "a.db"), sqlite_url(&dir, "b.db"));
    seed(&from).await;
    let (source, target) = (open(&from).await, open(&to).await);
    let mut reports: Vec<Progress> = Vec::new();
    transfer::copy(
        source.as_ref(),
        target.as_ref(),
        WITH_SESSIONS,
        &mut |progress| reports.push(progress),
    )
    .await
    .unwrap();
    let finals: Vec<(Stage, u64)> = reports
        .iter()
        .filter(|progress| progress.done == progress.total)
        .map(|progress| (progress.stage, progress.done))
        .collect();
    assert_eq!(
        finals,
        [
            (Stage::Users, 3),
            (Stage::Groups, 1),
            (Stage::Tokens, 2),
            (Stage::Settings, 1),
            (Stage::Audit, 8),
            (Stage::Sessions, 1)
        ]
    );
}

#[tokio::test]
async fn new_audit_records_continue_after_the_copied_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (from, to) = (sqlite_url(&dir, "a.db"), sqlite_url(&dir, "b.db"));
    seed(&from).await;
    audit_gap(&from).await;
    copy(&from, &to, CopyOptions::default()).await.unwrap();
    let target: Arc<dyn Store> = open(&to).await;
    add_user(&target, "carol").await;
    assert_eq!(conformance::all_audit(&target).await[0].id, 1001);
}

#[tokio::test]
async fn sqlite_to_postgres_to_sqlite_gives_identical_exports() {
    let Some(schema) = FreshSchema::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (from, back) = (sqlite_url(&dir, "a.db"), sqlite_url(&dir, "back.db"));
    seed(&from).await;
    audit_gap(&from).await;
    copy(&from, &schema.url, WITH_SESSIONS).await.unwrap();
    copy(&schema.url, &back, WITH_SESSIONS).await.unwrap();
    let original = export(&from).await;
    assert_eq!(export(&schema.url).await, original, "on PostgreSQL");
    assert_eq!(export(&back).await, original, "back on SQLite");

    // The PostgreSQL copy is a working installation: new ids continue after the copied ones,
    // and --force replaces it.
    let on_postgres: Arc<dyn Store> = open(&schema.url).await;
    add_user(&on_postgres, "carol").await;
    assert_eq!(conformance::all_audit(&on_postgres).await[0].id, 1001);
    let forced = CopyOptions {
        force: true,
        sessions: true,
    };
    copy(&from, &schema.url, forced).await.unwrap();
    assert_eq!(export(&schema.url).await, original);
}
