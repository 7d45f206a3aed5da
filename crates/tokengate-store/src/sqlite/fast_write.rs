//! Batch appends to the audit log (authentication events arrive by the thousand) on a
//! read-write rusqlite connection of their own, on a blocking thread: one `BEGIN IMMEDIATE`
//! transaction reads the chain head, inserts each record with one prepared statement and
//! moves the head.
//!
//! Why: through the sqlx pool every statement is two hops between threads, which cost more
//! than inserting the row; one statement for the whole batch needs either a bound parameter per
//! value (SQLite looks each one up by name: quadratic) or a JSON array, which SQLite parses
//! again for every column. A prepared statement stepped once per row is what SQLite is fast
//! at. The transaction takes the database's write lock like the pool's writers do, so the
//! chain head is read and moved by one writer at a time whichever connection it uses.

use super::{BACKEND, BUSY_TIMEOUT};
use crate::sql::{AUDIT_COLUMNS, record_values, unavailable};
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params, params_from_iter};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use tokengate_core::model::{AuditRecord, NewAudit};
use tokengate_core::store::{StoreError, StoreResult};

/// The one writing connection for batch appends, opened on first use and kept.
pub(super) struct AuditWriter {
    path: PathBuf,
    connection: Mutex<Option<Connection>>,
}

impl fmt::Debug for AuditWriter {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("AuditWriter")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl AuditWriter {
    pub(super) fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            connection: Mutex::new(None),
        }
    }

    /// A connection set up as the pool's are (busy timeout, `synchronous = NORMAL`).
    fn connect(&self) -> rusqlite::Result<Connection> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.pragma_update(None, "foreign_keys", true)?;
        Ok(connection)
    }

    /// Appends `records`, chained after the head, in one transaction. Blocks: run it on a
    /// blocking thread. A connection that failed is closed rather than reused.
    pub(super) fn append(&self, records: &[NewAudit]) -> StoreResult<()> {
        let mut slot = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut connection = match slot.take() {
            Some(connection) => connection,
            None => self.connect().map_err(writer_unavailable)?,
        };
        let result = append_on(&mut connection, records);
        if result.is_ok() {
            *slot = Some(connection);
        }
        result
    }
}

fn writer_unavailable(error: rusqlite::Error) -> StoreError {
    unavailable(error, BACKEND)
}

fn append_on(connection: &mut Connection, records: &[NewAudit]) -> StoreResult<()> {
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(writer_unavailable)?;
    let (mut last_id, mut last_hash): (i64, String) = transaction
        .query_row(
            "SELECT last_id, last_hash FROM audit_chain WHERE id = 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(writer_unavailable)?;
    {
        let sql = format!(
            "INSERT INTO audit ({AUDIT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        );
        let mut insert = transaction
            .prepare_cached(&sql)
            .map_err(writer_unavailable)?;
        for audit in records {
            let record = AuditRecord::chained(last_id + 1, audit, &last_hash);
            insert
                .execute(params_from_iter(record_values(&record)?.iter()))
                .map_err(writer_unavailable)?;
            (last_id, last_hash) = (record.id, record.hash);
        }
    }
    transaction
        .execute(
            "UPDATE audit_chain SET last_id = ?1, last_hash = ?2 WHERE id = 1",
            params![last_id, last_hash],
        )
        .map_err(writer_unavailable)?;
    transaction.commit().map_err(writer_unavailable)
}
