//! How values are written to and read from SQLite columns, and how driver errors become
//! `StoreError`s. Rows are read through [`Columns`], so the sqlx pool and the rusqlite fast
//! read path (`fast_read`) share every conversion.
//!
//! **Times** are stored as INTEGER unix milliseconds, UTC. They round-trip exactly to the
//! millisecond (anything finer is truncated on write), compare and index as plain integers,
//! and cover `lockout::locked_forever()` (9999-12-31T23:59:59Z = 253402300799000).
//! Booleans are INTEGER 0/1 (sqlx's `bool` encoding); JSON is TEXT.

use chrono::{DateTime, Utc};
use rusqlite::types::FromSql;
use sqlx::sqlite::SqliteRow;
use sqlx::{Decode, Row, Sqlite, Type};
use tokengate_core::store::StoreError;

/// A time as stored: unix milliseconds.
pub(super) fn millis(instant: DateTime<Utc>) -> i64 {
    instant.timestamp_millis()
}

pub(super) fn optional_millis(instant: Option<DateTime<Utc>>) -> Option<i64> {
    instant.map(millis)
}

/// A stored time read back.
pub(super) fn instant(millis: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(millis)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {millis} is out of range")))
}

pub(super) fn optional_instant(millis: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    millis.map(instant).transpose()
}

/// A value that both SQLite drivers decode the same way: the column types tokengate's schema
/// uses (`TEXT`, `INTEGER`, `BLOB`, each possibly NULL, and `INTEGER` 0/1 booleans).
pub(super) trait Value: for<'r> Decode<'r, Sqlite> + Type<Sqlite> + FromSql {}

impl<T> Value for T where T: for<'r> Decode<'r, Sqlite> + Type<Sqlite> + FromSql {}

/// A result row, from the sqlx pool or from a fast-path reader (`fast_read`): the row
/// conversions (`token_from_row`, `user_from_row`, …) are written once against this.
pub(super) trait Columns {
    /// The named column, with a decoding problem reported as corrupt data.
    fn value<T: Value>(&self, name: &str) -> Result<T, StoreError>;
}

impl Columns for SqliteRow {
    fn value<T: Value>(&self, name: &str) -> Result<T, StoreError> {
        self.try_get(name)
            .map_err(|error| StoreError::Corrupt(format!("column {name}: {error}")))
    }
}

impl Columns for rusqlite::Row<'_> {
    fn value<T: Value>(&self, name: &str) -> Result<T, StoreError> {
        self.get(name)
            .map_err(|error| StoreError::Corrupt(format!("column {name}: {error}")))
    }
}

/// One column of a row, with a decoding problem reported as corrupt data.
pub(super) fn column<T: Value>(row: &impl Columns, name: &str) -> Result<T, StoreError> {
    row.value(name)
}

/// A non-negative counter column.
pub(super) fn counter(row: &impl Columns, name: &str) -> Result<u32, StoreError> {
    let value: i64 = column(row, name)?;
    u32::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("column {name}: {value} is not a counter")))
}

/// The database could not do what was asked. The cause is logged here (sqlx errors carry
/// statement text and SQLite messages, never bound values, so no secret reaches the log).
pub(super) fn unavailable(error: sqlx::Error) -> StoreError {
    tracing::warn!(error = %error, "SQLite store error");
    StoreError::Unavailable(Box::new(error))
}

/// [`unavailable`] for the fast read path. rusqlite errors likewise carry SQLite messages and
/// column names, never bound values.
pub(super) fn reader_unavailable(error: rusqlite::Error) -> StoreError {
    tracing::warn!(error = %error, "SQLite store error (read path)");
    StoreError::Unavailable(Box::new(error))
}

/// An error from an INSERT or UPDATE: a unique constraint means `what` already exists; a
/// foreign key (the schema's only one is `tokens.owner`) means the user is missing.
pub(super) fn write_error(error: sqlx::Error, what: &'static str) -> StoreError {
    match error.as_database_error() {
        Some(database) if database.is_unique_violation() => StoreError::Conflict(what),
        Some(database) if database.is_foreign_key_violation() => StoreError::NotFound("user"),
        _ => unavailable(error),
    }
}

/// JSON text for a TEXT column.
pub(super) fn json_text<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|error| StoreError::Corrupt(format!("cannot encode JSON: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokengate_core::lockout::locked_forever;

    #[test]
    fn times_round_trip_to_the_millisecond() {
        let instant_with_nanos = DateTime::from_timestamp(1_800_000_000, 123_456_789).expect("t");
        let stored = millis(instant_with_nanos);
        assert_eq!(stored, 1_800_000_000_123);
        let read = instant(stored).expect("read");
        assert_eq!(read.timestamp_subsec_nanos(), 123_000_000);
        assert_eq!(instant(millis(read)).expect("again"), read);
    }

    #[test]
    fn locked_forever_is_representable() {
        let forever = locked_forever();
        assert_eq!(millis(forever), 253_402_300_799_000);
        assert_eq!(instant(millis(forever)).expect("read"), forever);
    }

    #[test]
    fn out_of_range_times_are_corrupt_not_panics() {
        assert!(matches!(instant(i64::MAX), Err(StoreError::Corrupt(_))));
    }
}
