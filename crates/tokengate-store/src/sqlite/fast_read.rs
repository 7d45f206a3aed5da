//! The read path for the two point lookups on every authenticated request (a token by its
//! digest, then its owner by name): the query runs on the calling thread, on a read-only
//! rusqlite connection to the same file, instead of through the sqlx pool.
//!
//! Why: sqlx-sqlite keeps each connection on a worker thread of its own, so every query is a
//! pool acquire plus two hops between threads, which costs far more than the indexed lookup
//! itself (a few µs). A point query on an indexed column is short enough to run inline on an
//! async worker.
//!
//! Only for a file database in WAL mode, where readers never wait for the writer and each
//! statement starts a read transaction that sees everything committed before it (by this
//! process's pool or by another process such as the CLI). No connection holds a read
//! transaction between calls: every statement is reset before its connection is handed back.

use super::{BACKEND, BUSY_TIMEOUT, millis};
use crate::sql::{Arg, Columns, corrupt, from_millis, unavailable};
use chrono::{DateTime, Utc};
use rusqlite::types::{FromSql, ToSqlOutput, Value};
use rusqlite::{Connection, OpenFlags, Params, Row, ToSql};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use tokengate_core::store::{StoreError, StoreResult};

/// How many idle connections are kept for reuse. Lookups run without awaiting, so at most one
/// per thread is in use at a time; extra ones opened under a burst are closed after use.
const MAX_IDLE: usize = 4;

/// Read-only connections to one SQLite file: take an idle one (or open a new one), run one
/// statement, give it back.
pub(super) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl fmt::Debug for Readers {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Readers")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Why the fast read path is not used for a database (the sqlx pool serves every read then).
#[derive(Debug, thiserror::Error)]
pub(super) enum NotAvailable {
    #[error("the database is not in WAL mode (journal mode {0})")]
    NotWal(String),
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

impl Readers {
    /// Readers for the (already migrated, WAL-mode) database file at `path`. Opens one
    /// connection at once, so a file that cannot be read this way is noticed at startup.
    pub(super) fn open(path: &Path) -> Result<Readers, NotAvailable> {
        let readers = Readers {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::with_capacity(MAX_IDLE)),
        };
        let first = readers.connect()?;
        let journal_mode: String =
            first.pragma_query_value(None, "journal_mode", |row| row.get(0))?;
        if !journal_mode.eq_ignore_ascii_case("wal") {
            return Err(NotAvailable::NotWal(journal_mode));
        }
        readers.give_back(first);
        Ok(readers)
    }

    /// A new read-only connection with the pool's busy timeout.
    fn connect(&self) -> rusqlite::Result<Connection> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        connection.pragma_update(None, "query_only", true)?;
        Ok(connection)
    }

    fn take(&self) -> Option<Connection> {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }

    fn give_back(&self, connection: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push(connection);
        }
    }

    /// Runs `sql` (a query for at most one row) with `params` and decodes the row, if any,
    /// with `decode`. Driver errors are [`StoreError::Unavailable`] (and the connection is
    /// closed rather than reused); decoding errors are whatever `decode` returns.
    pub(super) fn optional_row<T>(
        &self,
        sql: &str,
        params: impl Params,
        decode: impl FnOnce(&Row<'_>) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        let connection = match self.take() {
            Some(connection) => connection,
            None => self.connect().map_err(reader_unavailable)?,
        };
        let result = query_optional_row(&connection, sql, params, decode);
        if !matches!(result, Err(StoreError::Unavailable(_))) {
            self.give_back(connection);
        }
        result
    }
}

/// The store's error for a failed read. rusqlite errors carry SQLite messages and column
/// names, never bound values.
fn reader_unavailable(error: rusqlite::Error) -> StoreError {
    unavailable(error, BACKEND)
}

/// A bound value, encoded as `sqlx_driver!` encodes it for SQLite (times as milliseconds).
impl ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Arg::Text(Some(text)) => ToSqlOutput::from(text.as_str()),
            Arg::Integer(Some(integer)) => ToSqlOutput::from(*integer),
            Arg::Flag(Some(flag)) => ToSqlOutput::from(*flag),
            Arg::Bytes(Some(bytes)) => ToSqlOutput::from(bytes.as_slice()),
            Arg::Time(Some(at)) => ToSqlOutput::from(millis(*at)),
            Arg::Text(None)
            | Arg::Integer(None)
            | Arg::Flag(None)
            | Arg::Bytes(None)
            | Arg::Time(None) => ToSqlOutput::Owned(Value::Null),
        })
    }
}

fn get<T: FromSql>(row: &Row<'_>, name: &str) -> StoreResult<Option<T>> {
    row.get(name).map_err(|error| corrupt(name, error))
}

impl Columns for Row<'_> {
    fn optional_text(&self, name: &str) -> StoreResult<Option<String>> {
        get(self, name)
    }

    fn optional_integer(&self, name: &str) -> StoreResult<Option<i64>> {
        get(self, name)
    }

    fn optional_flag(&self, name: &str) -> StoreResult<Option<bool>> {
        get(self, name)
    }

    fn optional_bytes(&self, name: &str) -> StoreResult<Option<Vec<u8>>> {
        get(self, name)
    }

    fn optional_time(&self, name: &str) -> StoreResult<Option<DateTime<Utc>>> {
        from_millis(name, get(self, name)?)
    }
}

fn query_optional_row<T>(
    connection: &Connection,
    sql: &str,
    params: impl Params,
    decode: impl FnOnce(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    let mut statement = connection.prepare_cached(sql).map_err(reader_unavailable)?;
    // Dropping `rows` resets the statement, which ends its read transaction.
    let mut rows = statement.query(params).map_err(reader_unavailable)?;
    match rows.next().map_err(reader_unavailable)? {
        Some(row) => decode(row).map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_not_in_wal_mode_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("plain.db");
        let setup = Connection::open(&path).expect("create");
        setup
            .execute_batch("CREATE TABLE t (x INTEGER)")
            .expect("table");
        drop(setup);
        assert!(matches!(
            Readers::open(&path),
            Err(NotAvailable::NotWal(mode)) if mode == "delete"
        ));
    }

    #[test]
    fn connections_are_read_only_and_reused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("wal.db");
        let setup = Connection::open(&path).expect("create");
        setup
            .execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (7)",
            )
            .expect("setup");
        let readers = Readers::open(&path).expect("readers");
        for _ in 0..3 {
            let x = readers
                .optional_row("SELECT x FROM t WHERE x = ?", [7], |row| {
                    row.get::<_, i64>(0)
                        .map_err(|error| StoreError::Corrupt(error.to_string()))
                })
                .expect("read");
            assert_eq!(x, Some(7));
        }
        assert_eq!(readers.idle.lock().expect("lock").len(), 1);
        let none = readers
            .optional_row("SELECT x FROM t WHERE x = ?", [8], |_| Ok(()))
            .expect("read");
        assert_eq!(none, None);
        let write = readers.optional_row("INSERT INTO t VALUES (?) RETURNING x", [9], |_| Ok(()));
        assert!(
            matches!(write, Err(StoreError::Unavailable(_))),
            "{write:?}"
        );
        // The failed connection was closed, not handed back.
        assert!(readers.idle.lock().expect("lock").is_empty());
        // The writer can still checkpoint the whole log: no reader holds a snapshot.
        let busy: i64 = setup
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))
            .expect("checkpoint");
        assert_eq!(busy, 0);
    }
}
