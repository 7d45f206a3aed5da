//! The SQLite backend: opening the file with the pragmas tokengate relies on (WAL, busy
//! timeout, foreign keys), the embedded forward-only migrations, and the change counter. The
//! trait implementations live in the sibling modules, one per trait; the two lookups on every
//! authenticated request take the synchronous read path in `fast_read` when the database is a
//! WAL-mode file.

/// One optional row for a query with one parameter, decoded by `$decode` (written against
/// `codec::Columns`): on the fast read path when the store has one, else through the pool.
macro_rules! optional_row {
    ($store:expr, $sql:expr, $param:expr, $decode:path) => {
        match &$store.readers {
            Some(readers) => readers.optional_row($sql, [$param], |row| $decode(row)),
            None => sqlx::query($sql)
                .bind($param)
                .fetch_optional(&$store.pool)
                .await
                .map_err(crate::sqlite::codec::unavailable)?
                .as_ref()
                .map($decode)
                .transpose(),
        }
    };
}

mod audit;
mod codec;
mod fast_read;
mod sessions;
mod settings;
mod tokens;
mod transfer;
mod users;

use crate::{OpenError, OpenOptions};
use async_trait::async_trait;
use codec::unavailable;
use fast_read::Readers;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, Sqlite, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokengate_core::store::{ChangeCounter, StoreError, StoreResult};

/// Migrations in `migrations/sqlite`, embedded at compile time.
static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// How long a statement waits for another connection's (or process's) write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The store on one SQLite database. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Read-only connections for the hot-path lookups; `None` for an in-memory database (or
    /// a file that is not in WAL mode), where the pool serves every query.
    readers: Option<Arc<Readers>>,
}

impl SqliteStore {
    /// Opens the database at `url` with the default [`OpenOptions`].
    pub async fn open(url: &str) -> Result<SqliteStore, OpenError> {
        Self::open_with(url, &OpenOptions::default()).await
    }

    /// Opens (creating if missing) the database at `url` (`sqlite://PATH`, `sqlite:PATH` or
    /// `sqlite::memory:`), refuses one whose schema is newer than this binary, and applies any
    /// pending migrations. A file gets a pool of `options.max_connections`.
    pub async fn open_with(url: &str, options: &OpenOptions) -> Result<SqliteStore, OpenError> {
        let Some(location) = url.strip_prefix("sqlite:") else {
            return Err(OpenError::InvalidUrl(
                "a SQLite URL starts with sqlite:".into(),
            ));
        };
        let location = location.strip_prefix("//").unwrap_or(location);
        let in_memory = location.starts_with(":memory:") || location.contains("mode=memory");
        let pool_size = options.max_connections.max(1);
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|error| OpenError::InvalidUrl(error.to_string()))?;
        // URL parameters (vfs, cache, immutable, …) are left to sqlx alone.
        let fast_read_path =
            (!in_memory && !url.contains('?')).then(|| options.get_filename().to_path_buf());
        let options = options
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .synchronous(SqliteSynchronous::Normal);
        let pool = if in_memory {
            // One connection that never closes: an in-memory database lives only as long as
            // its last connection.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await
        } else {
            SqlitePoolOptions::new()
                .max_connections(pool_size)
                // A COMMIT that fails on a full disk lets SQLite roll the transaction back by
                // itself; sqlx's ROLLBACK then fails too and the connection keeps believing it
                // is inside a transaction, refusing every later BEGIN. Such a connection is
                // closed instead of reused, so writes resume once space returns.
                .before_acquire(|connection, _| {
                    Box::pin(async move { Ok(!connection.is_in_transaction()) })
                })
                .connect_with(options.journal_mode(SqliteJournalMode::Wal))
                .await
        }
        .map_err(|source| OpenError::Open {
            target: format!("\"{location}\""),
            source,
        })?;
        refuse_newer_schema(&pool).await?;
        if let Err(first) = MIGRATOR.run(&pool).await {
            // Another process (the CLI beside `serve`) may have applied the same migration a
            // moment earlier; a second run then finds nothing to do. A real failure repeats.
            tracing::warn!(error = %first, "database migration failed once; retrying");
            MIGRATOR.run(&pool).await?;
        }
        let readers = fast_read_path.and_then(|path| match Readers::open(&path) {
            Ok(readers) => Some(Arc::new(readers)),
            Err(error) => {
                tracing::warn!(%error, "SQLite lookups go through the connection pool");
                None
            }
        });
        Ok(SqliteStore { pool, readers })
    }

    /// The connection pool, for callers that need SQLite itself (tests, maintenance).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The newest schema version this binary knows.
    pub fn supported_schema_version() -> i64 {
        MIGRATOR
            .iter()
            .map(|migration| migration.version)
            .max()
            .unwrap_or(0)
    }
}

/// Refuses a database that a newer tokengate has migrated: this binary would misread it.
async fn refuse_newer_schema(pool: &SqlitePool) -> Result<(), OpenError> {
    let has_history: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_optional(pool)
    .await
    .map_err(MigrateError::Execute)?;
    if has_history.is_none() {
        return Ok(());
    }
    let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(pool)
        .await
        .map_err(MigrateError::Execute)?;
    let supported = SqliteStore::supported_schema_version();
    match newest {
        Some(found) if found > supported => Err(OpenError::TooNew { found, supported }),
        _ => Ok(()),
    }
}

/// Starts a transaction that takes the write lock at once (`BEGIN IMMEDIATE`), so a
/// read-modify-write inside it cannot lose an update and never fails on a lock upgrade; a
/// competing writer waits up to the busy timeout.
async fn begin_write(pool: &SqlitePool) -> StoreResult<Transaction<'static, Sqlite>> {
    pool.begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(unavailable)
}

#[async_trait]
impl ChangeCounter for SqliteStore {
    async fn change_counter(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT change_counter FROM meta WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| StoreError::Corrupt("the meta row is missing".into()))
    }
}
