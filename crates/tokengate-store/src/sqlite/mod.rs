//! The SQLite backend: opening the file with the pragmas tokengate relies on (WAL, busy
//! timeout, foreign keys), the embedded forward-only migrations (`migrations/sqlite`), and
//! the [`Driver`] side of SQLite — times as INTEGER unix milliseconds, write transactions
//! that take the write lock at once (`BEGIN IMMEDIATE`), and the two lookups on every
//! authenticated request on the synchronous read path in `fast_read` when the database is a
//! WAL-mode file. Every statement is in `crate::sql`.
//!
//! **Times** are stored as INTEGER unix milliseconds, UTC: they round-trip exactly to the
//! millisecond (anything finer is truncated on write), compare and index as plain integers,
//! and cover `lockout::locked_forever()` (9999-12-31T23:59:59Z = 253402300799000).
//! Booleans are INTEGER 0/1; JSON is TEXT.

mod fast_read;
mod fast_write;

use crate::sql::{Arg, Decode, Driver, SqlStore, corrupt, from_millis};
use crate::{OpenError, OpenOptions};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fast_read::Readers;
use fast_write::AuditWriter;
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{Connection, Sqlite, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokengate_core::model::NewAudit;
use tokengate_core::store::StoreResult;

/// Migrations in `migrations/sqlite`, embedded at compile time.
static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// How long a statement waits for another connection's (or process's) write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const BACKEND: &str = "SQLite";

/// The store on one SQLite database. Cheap to clone (the pool is shared).
pub type SqliteStore = SqlStore<SqliteDriver>;

/// SQLite's side of the [`Driver`] seam: the pool, and the fast read path if there is one.
#[derive(Debug, Clone)]
pub struct SqliteDriver {
    pool: SqlitePool,
    /// Read-only connections for the hot-path lookups; `None` for an in-memory database (or
    /// a file that is not in WAL mode), where the pool serves every query.
    readers: Option<Arc<Readers>>,
    /// The connection for batch appends to the audit log; `None` where `readers` is.
    writer: Option<Arc<AuditWriter>>,
}

/// A time as stored: unix milliseconds (floor).
fn millis(instant: DateTime<Utc>) -> i64 {
    instant.timestamp_millis()
}

fn time_column(row: &SqliteRow, name: &str) -> StoreResult<Option<DateTime<Utc>>> {
    let millis = sqlx::Row::try_get(row, name).map_err(|error| corrupt(name, error))?;
    from_millis(name, millis)
}

sqlx_driver! {
    backend: "SQLite",
    database: Sqlite,
    connection: SqliteConnection,
    row: SqliteRow,
    encode_time: millis,
    decode_time: time_column,
}

fn unavailable(error: sqlx::Error) -> tokengate_core::store::StoreError {
    crate::sql::unavailable(error, BACKEND)
}

/// A blocking task that did not finish (it panicked or the runtime is shutting down).
fn unavailable_join(error: tokio::task::JoinError) -> tokengate_core::store::StoreError {
    crate::sql::unavailable(error, BACKEND)
}

#[async_trait]
impl Driver for SqliteDriver {
    type Connection = SqliteConnection;
    type Pooled = PoolConnection<Sqlite>;
    type Transaction = Transaction<'static, Sqlite>;

    /// Named, or SQLite would take the unique index on `digest` and read the table row too.
    const GRANT_BY_DIGEST: &'static str = "SELECT id, owner, expires_at, restrictions FROM tokens \
         INDEXED BY tokens_grant_by_digest WHERE digest = $1";
    const CONTAINS: &'static str = "instr";
    /// `BEGIN IMMEDIATE` already holds the database's write lock.
    const FOR_UPDATE: &'static str = "";
    const SKIP_LOCKED: &'static str = "";
    const INSERT_AUDIT_ROWS: &'static str = "INSERT INTO audit (id, at, actor, action, user_name, \
         token_id, details, ip, request_id, prev_hash, hash) \
         SELECT value->>'id', value->>'at_ms', value->>'actor', value->>'action', value->>'user', \
         value->>'token_id', value->>'details', value->>'ip', value->>'request_id', \
         value->>'prev_hash', value->>'hash' FROM json_each($1)";
    /// Row by row, so the change-counter triggers fire and running processes notice.
    const CLEAR: &'static [&'static str] = &[
        "DELETE FROM deliveries",
        "DELETE FROM outbox",
        "DELETE FROM known_addresses",
        "DELETE FROM usage",
        "DELETE FROM group_members",
        "DELETE FROM groups",
        "DELETE FROM sessions",
        "DELETE FROM tokens",
        "DELETE FROM users",
        "DELETE FROM settings",
        "DELETE FROM audit",
        "DELETE FROM audit_forwarding",
        "DELETE FROM sqlite_sequence WHERE name = 'audit'",
        crate::sql::FINISH_CHAIN,
    ];
    /// AUTOINCREMENT already continues after the largest id inserted; the chain's head moves
    /// to the newest record.
    const FINISH_IMPORT: &'static [&'static str] = &[crate::sql::FINISH_CHAIN];

    async fn connection(&self) -> StoreResult<PoolConnection<Sqlite>> {
        self.pool.acquire().await.map_err(unavailable)
    }

    /// `BEGIN IMMEDIATE`: the transaction takes the write lock at once, so a read-modify-write
    /// inside it cannot lose an update and never fails on a lock upgrade; a competing writer
    /// waits up to the busy timeout.
    async fn begin(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(unavailable)
    }

    async fn commit(transaction: Transaction<'static, Sqlite>) -> StoreResult<()> {
        transaction.commit().await.map_err(unavailable)
    }

    async fn fast_append(&self, records: &[NewAudit]) -> Option<StoreResult<()>> {
        let writer = self.writer.clone()?;
        let records = records.to_vec();
        let appended = tokio::task::spawn_blocking(move || writer.append(&records)).await;
        Some(appended.unwrap_or_else(|error| Err(unavailable_join(error))))
    }

    fn fast_lookup<T>(
        &self,
        sql: &'static str,
        key: &Arg,
        decode: Decode<T>,
    ) -> Option<StoreResult<Option<T>>> {
        let readers = self.readers.as_ref()?;
        Some(readers.optional_row(sql, [key], |row| decode(row)))
    }
}

impl SqlStore<SqliteDriver> {
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
        if !in_memory {
            owner_only(options.get_filename()).map_err(|source| OpenError::Open {
                target: format!("\"{location}\""),
                source: sqlx::Error::Io(source),
            })?;
        }
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
        prepare_schema(
            &pool,
            &MIGRATOR,
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .await?;
        let readers = fast_read_path
            .as_ref()
            .and_then(|path| match Readers::open(path) {
                Ok(readers) => Some(Arc::new(readers)),
                Err(error) => {
                    tracing::warn!(%error, "SQLite lookups go through the connection pool");
                    None
                }
            });
        let writer = readers
            .as_ref()
            .and(fast_read_path)
            .map(|path| Arc::new(AuditWriter::new(&path)));
        let store = SqlStore::new(SqliteDriver {
            pool,
            readers,
            writer,
        });
        crate::sql::chain_unchained(&store).await?;
        Ok(store)
    }

    /// The connection pool, for callers that need SQLite itself (tests, maintenance).
    pub fn pool(&self) -> &SqlitePool {
        &self.driver.pool
    }

    /// The newest schema version this binary knows.
    pub fn supported_schema_version() -> i64 {
        crate::sql::newest_known(&MIGRATOR)
    }
}

/// The database holds password hashes, session digests and the audit trail: the file, its WAL
/// and its shared-memory index are for the owner only (0600), whatever the umask. The file is
/// created 0600 before SQLite opens it, and SQLite gives the `-wal` and `-shm` files it creates
/// the database file's mode; files an earlier version left wider are narrowed.
#[cfg(unix)]
fn owner_only(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        // The umask may have taken bits from 0600 too: set it exactly.
        Ok(file) => file.set_permissions(std::fs::Permissions::from_mode(0o600))?,
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(error),
    }
    let mut companion = path.as_os_str().to_owned();
    companion.push("-wal");
    let wal = std::path::PathBuf::from(&companion);
    companion = path.as_os_str().to_owned();
    companion.push("-shm");
    let shm = std::path::PathBuf::from(&companion);
    for file in [path, wal.as_path(), shm.as_path()] {
        if let Ok(metadata) = std::fs::metadata(file)
            && metadata.permissions().mode() & 0o077 != 0
        {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn owner_only(_path: &std::path::Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokengate_core::lockout::locked_forever;

    #[test]
    fn times_are_stored_as_milliseconds_and_locked_forever_fits() {
        let instant_with_nanos = DateTime::from_timestamp(1_800_000_000, 123_456_789).expect("t");
        assert_eq!(millis(instant_with_nanos), 1_800_000_000_123);
        assert_eq!(millis(locked_forever()), 253_402_300_799_000);
        let before_1970 = DateTime::from_timestamp(-1, 999_999_999).expect("t");
        assert_eq!(millis(before_1970), -1);
    }
}
