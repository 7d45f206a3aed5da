//! The storage conformance suite on PostgreSQL — the same cases as on SQLite, each in a fresh
//! schema — when `TOKENGATE_TEST_POSTGRES_URL` is set (every case passes as skipped
//! otherwise), plus what only PostgreSQL has: the schema-version guard, both backends reaching
//! the same schema, counting across pools, and the change notifications.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod conformance;
mod support;

use sqlx::{AssertSqlSafe, Row};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use support::FreshSchema;
use tokengate_core::lockout::LockoutPolicy;
use tokengate_core::model::{AuditAction, UserChange};
use tokengate_core::store::Store;
use tokengate_store::{OpenError, OpenOptions, PostgresStore, SqliteStore};

/// A new migrated store in a schema of its own (dropped with the guard).
async fn fresh_store() -> Option<(Arc<dyn Store>, FreshSchema)> {
    let schema = FreshSchema::create().await?;
    let store = tokengate_store::open(&schema.url)
        .await
        .expect("open fresh schema");
    Some((store, schema))
}

conformance_tests!(fresh_store);

fn migration_names(backend: &str) -> Vec<String> {
    let folder = format!("{}/migrations/{backend}", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Table name → sorted column names, as SQLite sees its schema.
async fn sqlite_tables(store: &SqliteStore) -> BTreeMap<String, Vec<String>> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let mut schema = BTreeMap::new();
    for table in tables {
        let mut columns: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT name FROM pragma_table_info('{table}')"
        )))
        .fetch_all(store.pool())
        .await
        .unwrap();
        columns.sort();
        schema.insert(table, columns);
    }
    schema
}

/// Table name → sorted column names in the schema PostgreSQL resolves first.
async fn postgres_tables(store: &PostgresStore) -> BTreeMap<String, Vec<String>> {
    let rows = sqlx::query(
        "SELECT table_name::text AS table_name, column_name::text AS column_name \
         FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let mut schema: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in rows {
        schema
            .entry(row.get("table_name"))
            .or_default()
            .push(row.get("column_name"));
    }
    for columns in schema.values_mut() {
        columns.sort();
    }
    schema
}

#[test]
fn both_backends_have_the_same_migrations() {
    assert_eq!(migration_names("sqlite"), migration_names("postgres"));
    assert_eq!(
        SqliteStore::supported_schema_version(),
        PostgresStore::supported_schema_version()
    );
}

#[tokio::test]
async fn sqlite_and_postgres_reach_the_same_schema_version_and_tables() {
    let Some(schema) = FreshSchema::create().await else {
        return;
    };
    let postgres = PostgresStore::open(&schema.url).await.unwrap();
    let sqlite = SqliteStore::open("sqlite::memory:").await.unwrap();
    let newest = "SELECT MAX(version) FROM _sqlx_migrations";
    let on_postgres: i64 = sqlx::query_scalar(newest)
        .fetch_one(postgres.pool())
        .await
        .unwrap();
    let on_sqlite: i64 = sqlx::query_scalar(newest)
        .fetch_one(sqlite.pool())
        .await
        .unwrap();
    assert_eq!(on_postgres, on_sqlite);
    assert_eq!(on_postgres, PostgresStore::supported_schema_version());
    assert_eq!(
        postgres_tables(&postgres).await,
        sqlite_tables(&sqlite).await
    );
}

#[tokio::test]
async fn database_newer_than_binary_is_refused() {
    let Some(schema) = FreshSchema::create().await else {
        return;
    };
    let store = PostgresStore::open(&schema.url).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', TRUE, '\\x00', 0)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    store.pool().close().await;

    let error = PostgresStore::open(&schema.url)
        .await
        .expect_err("newer schema");
    let supported = PostgresStore::supported_schema_version();
    assert!(
        matches!(error, OpenError::TooNew { found: 9999, supported: s } if s == supported),
        "{error:?}"
    );
    assert!(tokengate_store::open(&schema.url).await.is_err());
}

#[tokio::test]
async fn reopening_a_database_keeps_its_data_and_applies_nothing_twice() {
    let Some(schema) = FreshSchema::create().await else {
        return;
    };
    let store = tokengate_store::open(&schema.url).await.unwrap();
    conformance::add_user(&store, "alice").await;
    drop(store);
    let reopened = PostgresStore::open(&schema.url).await.unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(reopened.pool())
        .await
        .unwrap();
    // Every migration once (numbers may skip: each is applied by its own number).
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .unwrap()
        .count();
    assert_eq!(applied, i64::try_from(migrations).unwrap());
    assert!(
        tokengate_core::store::UserStore::user(&reopened, "alice")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_error_without_the_password() {
    let options = OpenOptions {
        max_connections: 1,
        acquire_timeout: Duration::from_millis(300),
    };
    let Err(error) = tokengate_store::open_with(
        "postgres://tokengate:hunter2@127.0.0.1:1/tokengate",
        &options,
    )
    .await
    else {
        panic!("nothing listens on port 1");
    };
    assert!(matches!(error, OpenError::Open { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("127.0.0.1:1/tokengate"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_logins_counted_through_two_pools_at_once_are_not_lost() {
    let Some(schema) = FreshSchema::create().await else {
        return;
    };
    let node_a = tokengate_store::open(&schema.url).await.unwrap();
    let node_b = tokengate_store::open(&schema.url).await.unwrap();
    conformance::add_user(&node_a, "alice").await;
    let generous = LockoutPolicy {
        max_failed_logins: 1000,
        lockout_minutes: 15,
    };
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..30 {
        let store = if index % 2 == 0 {
            node_a.clone()
        } else {
            node_b.clone()
        };
        tasks.spawn(async move {
            store
                .record_failed_login("alice", conformance::now(), generous)
                .await
                .unwrap()
                .unwrap()
                .failed_logins
        });
    }
    let mut counts = tasks.join_all().await;
    counts.sort_unstable();
    assert_eq!(counts, (1..=30).collect::<Vec<u32>>());
    let stored = node_b.user("alice").await.unwrap().unwrap();
    assert_eq!(stored.failed_logins, 30);
}

/// Waits until the listener is subscribed and has delivered its initial wake-up.
async fn listening(notifications: &tokengate_store::ChangeNotifications) {
    tokio::time::timeout(Duration::from_secs(5), async {
        while !notifications.is_listening() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the listener subscribes");
    tokio::time::timeout(Duration::from_secs(1), notifications.changed())
        .await
        .expect("subscribing wakes the watcher once");
}

#[tokio::test]
async fn a_committed_change_wakes_the_listener_at_once() {
    let Some(schema) = FreshSchema::create().await else {
        return;
    };
    let store = tokengate_store::open(&schema.url).await.unwrap();
    conformance::add_user(&store, "alice").await;
    let notifications = tokengate_store::change_notifications(&schema.url)
        .unwrap()
        .expect("PostgreSQL pushes changes");
    listening(&notifications).await;

    let started = std::time::Instant::now();
    let disable = UserChange {
        disabled: Some(true),
        ..UserChange::default()
    };
    let audit = conformance::audit(AuditAction::UserUpdated).user("alice");
    store.update_user("alice", &disable, &audit).await.unwrap();
    tokio::time::timeout(Duration::from_secs(1), notifications.changed())
        .await
        .expect("woken within a second");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn notifications_resume_after_the_listening_connection_is_killed() {
    let Some(schema) = FreshSchema::create().await else {
        return;
    };
    let store = tokengate_store::open(&schema.url).await.unwrap();
    let notifications = tokengate_store::change_notifications(&schema.url)
        .unwrap()
        .unwrap();
    listening(&notifications).await;

    let mut admin = schema.connect().await;
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = $1 AND query LIKE 'LISTEN%'",
    )
    .bind(&schema.name)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(killed, vec![true], "exactly the listener's connection");
    // Losing the connection wakes the watcher (changes may have been missed)…
    tokio::time::timeout(Duration::from_secs(2), notifications.changed())
        .await
        .expect("woken by the loss");
    tokio::time::timeout(Duration::from_secs(5), async {
        while !notifications.is_listening() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("listening again");
    // …and once listening again, changes wake it as before.
    let save = conformance::audit(AuditAction::SettingsChanged);
    tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            store
                .save_settings(&tokengate_core::Settings::default(), &save)
                .await
                .unwrap();
            if tokio::time::timeout(Duration::from_millis(200), notifications.changed())
                .await
                .is_ok()
                && notifications.is_listening()
            {
                break;
            }
        }
    })
    .await
    .expect("a change after the reconnect wakes the listener");
}

#[tokio::test]
async fn changes_in_another_schema_do_not_wake_the_listener() {
    let (Some(ours), Some(theirs)) = (FreshSchema::create().await, FreshSchema::create().await)
    else {
        return;
    };
    let our_store = tokengate_store::open(&ours.url).await.unwrap();
    let their_store = tokengate_store::open(&theirs.url).await.unwrap();
    let notifications = tokengate_store::change_notifications(&ours.url)
        .unwrap()
        .unwrap();
    listening(&notifications).await;

    let save = conformance::audit(AuditAction::SettingsChanged);
    let settings = tokengate_core::Settings::default();
    their_store.save_settings(&settings, &save).await.unwrap();
    let woken = tokio::time::timeout(Duration::from_millis(300), notifications.changed()).await;
    assert!(woken.is_err(), "another installation's change is not ours");
    our_store.save_settings(&settings, &save).await.unwrap();
    tokio::time::timeout(Duration::from_secs(1), notifications.changed())
        .await
        .expect("our own change wakes the listener");
}

/// Ten chained records in a fresh schema, then `statements`: the first bad record verification
/// names (`None` without PostgreSQL… and for an untouched log).
async fn tampered(statements: &[String]) -> Option<Option<i64>> {
    let (store, schema) = fresh_store().await?;
    conformance::chain::seed_ten(&store).await;
    let mut connection = schema.connect().await;
    for statement in statements {
        sqlx::query(AssertSqlSafe(statement.clone()))
            .execute(&mut connection)
            .await
            .unwrap();
    }
    let verdict = tokengate_core::store::verify_audit(store.as_ref())
        .await
        .unwrap();
    Some(verdict.first_bad_id)
}

#[tokio::test]
async fn tampering_with_the_audit_log_is_found_at_the_first_bad_record() {
    let Some((store, _schema)) = fresh_store().await else {
        return;
    };
    let records = conformance::chain::seed_ten(&store).await;
    assert_eq!(tampered(&[]).await, Some(None), "an untouched log verifies");
    for (what, statements, first_bad) in conformance::chain::tampers(&records) {
        assert_eq!(tampered(&statements).await, Some(Some(first_bad)), "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_appending_at_once_leave_one_unbroken_chain() {
    let Some((_, schema)) = fresh_store().await else {
        return;
    };
    // Two stores, each with its own pool: two nodes on one database.
    let nodes = [
        tokengate_store::open(&schema.url).await.unwrap(),
        tokengate_store::open(&schema.url).await.unwrap(),
    ];
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for (node, store) in nodes.iter().enumerate() {
        for writer in 0..4 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for index in 0..250 {
                    let record = conformance::audit(AuditAction::SettingsChanged)
                        .details(serde_json::json!({"node": node, "writer": writer, "n": index}));
                    store.append_audit(&[record]).await.unwrap();
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed();
    let verdict = tokengate_core::store::verify_audit(nodes[0].as_ref())
        .await
        .unwrap();
    eprintln!("2 nodes × 1,000 appends in {elapsed:?}: {verdict:?}");
    assert!(verdict.ok, "{verdict:?}");
    assert_eq!(verdict.records, 2000);
}
