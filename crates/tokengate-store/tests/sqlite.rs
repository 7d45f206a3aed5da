//! The storage conformance suite on SQLite (a fresh temp-file database per case), plus what
//! only SQLite has: URL forms, pragmas, the schema-version guard, the file on disk.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod conformance;

use chrono::Utc;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use tokengate_core::manage::{
    AdminIdentity, Change, Effect, UserUpdate, create_token, update_user,
};
use tokengate_core::model::{Actor, AuditAction, NewAudit, Origin, UserChange};
use tokengate_core::password::hash_password;
use tokengate_core::store::{Store, UserStore};
use tokengate_core::{Secret, Settings, User};
use tokengate_store::{OpenError, OpenOptions, SqliteStore};

/// A new migrated database in its own temp dir (removed when the guard drops).
async fn fresh_store() -> Option<(Arc<dyn Store>, TempDir)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("tokengate.db").display());
    let store = tokengate_store::open(&url)
        .await
        .expect("open fresh database");
    Some((store, dir))
}

conformance_tests!(fresh_store);

fn database_url(dir: &TempDir) -> String {
    format!("sqlite://{}", dir.path().join("tokengate.db").display())
}

#[tokio::test]
async fn database_newer_than_binary_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(&dir);
    let store = SqliteStore::open(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', 1, x'00', 0)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    store.pool().close().await;

    let error = SqliteStore::open(&url).await.expect_err("newer schema");
    let supported = SqliteStore::supported_schema_version();
    assert!(
        matches!(error, OpenError::TooNew { found: 9999, supported: s } if s == supported),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!("database schema version 9999 is newer than this tokengate supports ({supported})")
    );
    assert!(tokengate_store::open(&url).await.is_err());
}

#[tokio::test]
async fn reopening_a_database_keeps_its_data_and_applies_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(&dir);
    let store = tokengate_store::open(&url).await.unwrap();
    conformance::add_user(&store, "alice").await;
    drop(store);
    let reopened = SqliteStore::open(&url).await.unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(reopened.pool())
        .await
        .unwrap();
    // Every migration once (numbers may skip: each is applied by its own number).
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .count();
    assert_eq!(applied, i64::try_from(migrations).unwrap());
    assert!(reopened.user("alice").await.unwrap().is_some());
}

#[tokio::test]
async fn every_sqlite_url_form_opens_a_working_store() {
    let dir = tempfile::tempdir().unwrap();
    let double_slash = format!("sqlite://{}", dir.path().join("a.db").display());
    let single_colon = format!("sqlite:{}", dir.path().join("b.db").display());
    for url in [
        double_slash.as_str(),
        single_colon.as_str(),
        "sqlite::memory:",
    ] {
        let store = tokengate_store::open(url).await.expect(url);
        conformance::add_user(&store, "alice").await;
        assert_eq!(store.count_users().await.unwrap(), 1, "{url}");
    }
    assert!(dir.path().join("a.db").exists());
    assert!(dir.path().join("b.db").exists());
}

#[tokio::test]
async fn memory_database_keeps_its_data_for_the_life_of_the_store() {
    let store = tokengate_store::open("sqlite::memory:").await.unwrap();
    conformance::add_user(&store, "alice").await;
    let save = conformance::audit(AuditAction::SettingsChanged);
    let settings = Settings {
        admins_only: true,
        ..Settings::default()
    };
    store.save_settings(&settings, &save).await.unwrap();
    assert_eq!(store.settings().await.unwrap(), settings);
    assert_eq!(conformance::all_audit(&store).await.len(), 2);
}

#[tokio::test]
async fn bad_urls_and_unopenable_files_are_clear_errors() {
    let Err(error) = tokengate_store::open("tokengate.db").await else {
        panic!("a URL without scheme is refused");
    };
    assert!(matches!(error, OpenError::InvalidUrl(_)), "{error:?}");

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir").join("tokengate.db");
    let Err(error) = tokengate_store::open(&format!("sqlite://{}", missing.display())).await else {
        panic!("a file in a missing directory cannot be created");
    };
    assert!(matches!(error, OpenError::Open { .. }), "{error:?}");
    assert!(error.to_string().contains("no-such-dir"), "{error}");

    let not_a_database = dir.path().join("notes.txt");
    std::fs::write(&not_a_database, vec![b'x'; 4096]).unwrap();
    let url = format!("sqlite://{}", not_a_database.display());
    let Err(error) = tokengate_store::open(&url).await else {
        panic!("a file that is not a database is refused");
    };
    assert!(error.to_string().contains("notes.txt"), "{error}");
}

#[tokio::test]
async fn connections_use_wal_busy_timeout_foreign_keys_and_normal_sync() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&database_url(&dir)).await.unwrap();
    let mut connection = store.pool().acquire().await.unwrap();
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut *connection)
        .await
        .unwrap();
    let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(&mut *connection)
        .await
        .unwrap();
    let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(&mut *connection)
        .await
        .unwrap();
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut *connection)
        .await
        .unwrap();
    assert_eq!(journal, "wal");
    assert_eq!(busy, 5000);
    assert_eq!(foreign_keys, 1);
    assert_eq!(synchronous, 1, "NORMAL");
}

#[tokio::test]
async fn token_lookup_by_digest_uses_the_unique_index() {
    let store = SqliteStore::open("sqlite::memory:").await.unwrap();
    let rows = sqlx::query("EXPLAIN QUERY PLAN SELECT id FROM tokens WHERE digest = x'00'")
        .fetch_all(store.pool())
        .await
        .unwrap();
    let plan: Vec<String> = rows
        .iter()
        .map(|row| sqlx::Row::get::<String, _>(row, "detail"))
        .collect();
    let plan = plan.join("\n");
    assert!(plan.contains("USING INDEX"), "{plan}");
    assert!(!plan.contains("SCAN"), "{plan}");
}

#[tokio::test]
async fn deleting_a_user_removes_their_tokens_and_moves_the_counter() {
    let store = SqliteStore::open("sqlite::memory:").await.unwrap();
    let shared: Arc<dyn Store> = Arc::new(store.clone());
    conformance::add_user(&shared, "alice").await;
    conformance::add_token(&shared, conformance::token("tok-1", "alice", "CI")).await;
    let before = conformance::counter(&shared).await;
    sqlx::query("DELETE FROM users WHERE name = 'alice'")
        .execute(store.pool())
        .await
        .unwrap();
    assert_eq!(shared.token("tok-1").await.unwrap(), None);
    assert!(conformance::counter(&shared).await > before);
}

#[tokio::test]
async fn hot_path_lookups_see_every_committed_change_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(&dir);
    let server_store = SqliteStore::open(&url).await.unwrap();
    let server: Arc<dyn Store> = Arc::new(server_store.clone());
    // A second handle on the same file, as the CLI beside `serve` opens it.
    let cli: Arc<dyn Store> = Arc::new(SqliteStore::open(&url).await.unwrap());
    conformance::add_user(&server, "alice").await;
    conformance::add_user(&cli, "bob").await;

    let first = conformance::token("tok-1", "alice", "CI");
    let second = conformance::token("tok-2", "bob", "laptop");
    // Misses first, so each reader has looked before the writes below.
    for store in [&server, &cli] {
        assert_eq!(store.token_by_digest(&first.digest).await.unwrap(), None);
        assert_eq!(store.token_by_digest(&second.digest).await.unwrap(), None);
    }
    conformance::add_token(&server, first.clone()).await;
    conformance::add_token(&cli, second.clone()).await;
    for store in [&server, &cli] {
        let found = store.token_by_digest(&first.digest).await.unwrap();
        assert_eq!(found.as_ref(), Some(&first));
        let found = store.token_by_digest(&second.digest).await.unwrap();
        assert_eq!(found.as_ref(), Some(&second));
    }
    let deleted = conformance::audit(AuditAction::TokenDeleted);
    assert!(cli.delete_token("tok-1", &deleted).await.unwrap().is_some());
    assert_eq!(server.token_by_digest(&first.digest).await.unwrap(), None);
    assert!(
        server
            .delete_token("tok-2", &deleted)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(server.token_by_digest(&second.digest).await.unwrap(), None);
    assert_eq!(cli.token_by_digest(&second.digest).await.unwrap(), None);

    let updated = conformance::audit(AuditAction::UserUpdated);
    let disable = UserChange {
        disabled: Some(true),
        ..UserChange::default()
    };
    assert!(!server.user("bob").await.unwrap().unwrap().disabled);
    cli.update_user("bob", &disable, &updated).await.unwrap();
    assert!(server.user("bob").await.unwrap().unwrap().disabled);
    server
        .update_user("alice", &disable, &updated)
        .await
        .unwrap();
    assert!(server.user("alice").await.unwrap().unwrap().disabled);
    assert!(cli.user("alice").await.unwrap().unwrap().disabled);
    // A write through the pool in plain SQL, as maintenance would do it.
    sqlx::query("UPDATE users SET disabled = 0 WHERE name = 'bob'")
        .execute(server_store.pool())
        .await
        .unwrap();
    assert!(!server.user("bob").await.unwrap().unwrap().disabled);
    sqlx::query("DELETE FROM users WHERE name = 'bob'")
        .execute(server_store.pool())
        .await
        .unwrap();
    assert_eq!(server.user("bob").await.unwrap(), None);
    assert_eq!(cli.user("bob").await.unwrap(), None);

    // No lookup left a read transaction open: the whole log can be checkpointed.
    let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(server_store.pool())
        .await
        .unwrap();
    assert_eq!(busy, 0);
}

#[tokio::test]
async fn hot_path_lookups_on_a_file_do_not_wait_for_the_pool() {
    let dir = tempfile::tempdir().unwrap();
    let options = OpenOptions {
        max_connections: 1,
        ..OpenOptions::default()
    };
    let store = SqliteStore::open_with(&database_url(&dir), &options)
        .await
        .unwrap();
    let shared: Arc<dyn Store> = Arc::new(store.clone());
    conformance::add_user(&shared, "alice").await;
    let record = conformance::add_token(&shared, conformance::token("tok-1", "alice", "CI")).await;
    // The pool's only connection is taken; the two lookups still answer.
    let held = store.pool().acquire().await.unwrap();
    let lookups = async {
        let token = shared.token_by_digest(&record.digest).await.unwrap();
        let owner = shared.user("alice").await.unwrap();
        (token, owner)
    };
    let (token, owner) = tokio::time::timeout(Duration::from_secs(2), lookups)
        .await
        .expect("lookups do not wait for a pool connection");
    assert_eq!(token, Some(record));
    assert_eq!(owner.map(|user| user.name).as_deref(), Some("alice"));
    drop(held);
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

fn every_file_in(dir: &Path) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            (path.display().to_string(), std::fs::read(&path).unwrap())
        })
        .collect()
}

#[tokio::test]
async fn database_file_never_contains_secrets_in_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&database_url(&dir)).await.unwrap();
    let shared: Arc<dyn Store> = Arc::new(store.clone());
    let password = "correct horse battery staple 4711";
    let new_password = "another long passphrase 0815";
    let alice = User {
        name: "alice".into(),
        display_name: "Alice".into(),
        email: None,
        source: Default::default(),
        groups: Vec::new(),
        directory_groups: Vec::new(),
        admin: false,
        disabled: false,
        password_hash: Some(hash_password(&Secret::new(password)).unwrap()),
        failed_logins: 0,
        locked_until: None,
    };
    let created = NewAudit::new(
        Utc::now(),
        &Actor::Cli,
        AuditAction::UserCreated,
        &Origin::default(),
    )
    .user("alice");
    shared.create_user(&alice, &created).await.unwrap();

    let origin = Origin::default();
    let change = Change {
        actor: &Actor::Cli,
        origin: &origin,
        now: Utc::now(),
    };
    let mut secrets = Vec::new();
    for name in ["CI", "laptop", "backup"] {
        let token = create_token(
            &*shared,
            &change,
            &alice,
            &tokengate_core::manage::NewToken::plain(name, None),
            &Settings::default(),
        )
        .await
        .unwrap();
        secrets.push(token.secret.expose().to_owned());
    }
    let new_secret = Secret::new(new_password);
    let update = UserUpdate {
        password: Some(&new_secret),
        ..UserUpdate::default()
    };
    let operator = AdminIdentity::local_operator();
    let updated = update_user(
        &*shared,
        &operator.change(&origin, Utc::now()),
        "alice",
        update,
    )
    .await
    .unwrap();
    assert!(
        matches!(updated.effects.as_slice(), [Effect::EndSessions(user), Effect::RefreshCaches] if user == "alice")
    );
    drop(shared);
    store.pool().close().await;

    let files = every_file_in(dir.path());
    assert!(files.iter().any(|(name, _)| name.ends_with("tokengate.db")));
    for (name, bytes) in &files {
        assert!(!contains(bytes, password), "password in {name}");
        assert!(!contains(bytes, new_password), "new password in {name}");
        for secret in &secrets {
            assert!(!contains(bytes, secret), "token secret in {name}");
            assert!(
                !contains(bytes, &secret[3..33]),
                "token random part in {name}"
            );
        }
    }
}

/// Ten chained records, then `statements` run on the file: the first bad record verification
/// names.
async fn tampered(statements: &[String]) -> Option<i64> {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&database_url(&dir)).await.unwrap();
    let shared: Arc<dyn Store> = Arc::new(store.clone());
    conformance::chain::seed_ten(&shared).await;
    for statement in statements {
        sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
            .execute(store.pool())
            .await
            .unwrap();
    }
    let verdict = tokengate_core::store::verify_audit(shared.as_ref())
        .await
        .unwrap();
    assert_eq!(verdict.ok, verdict.first_bad_id.is_none());
    verdict.first_bad_id
}

#[tokio::test]
async fn tampering_with_the_audit_log_is_found_at_the_first_bad_record() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = tokengate_store::open(&database_url(&dir)).await.unwrap();
    let records = conformance::chain::seed_ten(&store).await;
    assert_eq!(tampered(&[]).await, None, "an untouched log verifies");
    for (what, statements, first_bad) in conformance::chain::tampers(&records) {
        assert_eq!(tampered(&statements).await, Some(first_bad), "{what}");
    }
}

#[tokio::test]
async fn records_written_before_the_chain_are_chained_when_the_database_opens() {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(&dir);
    let store = SqliteStore::open(&url).await.unwrap();
    let shared: Arc<dyn Store> = Arc::new(store.clone());
    conformance::chain::seed_ten(&shared).await;
    // As migration 0009 leaves the records of an older tokengate: no hashes, an empty head.
    let empty_head = format!(
        "UPDATE audit_chain SET last_id = 0, last_hash = '{}'",
        tokengate_core::chain::GENESIS
    );
    for statement in [
        "UPDATE audit SET prev_hash = NULL, hash = NULL".to_owned(),
        empty_head,
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(store.pool())
            .await
            .unwrap();
    }
    store.pool().close().await;
    let reopened: Arc<dyn Store> = tokengate_store::open(&url).await.unwrap();
    let verdict = tokengate_core::store::verify_audit(reopened.as_ref())
        .await
        .unwrap();
    assert!(verdict.ok, "{verdict:?}");
    assert_eq!(verdict.records, 10);
    let head = reopened.audit_head().await.unwrap().unwrap();
    assert_eq!(head.0, 10);
}
