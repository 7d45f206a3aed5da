//! How values are written to and read from PostgreSQL columns, and how sqlx errors become
//! `StoreError`s.
//!
//! **Times** are TIMESTAMPTZ, written truncated to the millisecond — exactly what SQLite keeps
//! (unix milliseconds) — so a record reads back the same from either backend, comparisons
//! against a bound instant give the same answers, and `lockout::locked_forever()`
//! (9999-12-31T23:59:59Z) round-trips. Booleans are BOOLEAN, digests BYTEA, JSON is TEXT.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{Decode, Postgres, Row, Type};
use tokengate_core::store::StoreError;

/// A time as stored: truncated to the millisecond (floor, like SQLite's unix milliseconds).
pub(super) fn stored(instant: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(instant.timestamp_millis()).unwrap_or(instant)
}

pub(super) fn optional_stored(instant: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    instant.map(stored)
}

/// One column of a row, with a decoding problem reported as corrupt data.
pub(super) fn column<'r, T>(row: &'r PgRow, name: &str) -> Result<T, StoreError>
where
    T: Decode<'r, Postgres> + Type<Postgres>,
{
    row.try_get(name)
        .map_err(|error| StoreError::Corrupt(format!("column {name}: {error}")))
}

/// A non-negative counter column (BIGINT).
pub(super) fn counter(row: &PgRow, name: &str) -> Result<u32, StoreError> {
    let value: i64 = column(row, name)?;
    u32::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("column {name}: {value} is not a counter")))
}

/// A `COUNT(*)` or rows-affected figure as the traits report it.
pub(super) fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// The database could not do what was asked. The cause is logged here (sqlx errors carry
/// statement text and PostgreSQL messages, never bound values, so no secret reaches the log).
pub(super) fn unavailable(error: sqlx::Error) -> StoreError {
    tracing::warn!(error = %error, "PostgreSQL store error");
    StoreError::Unavailable(Box::new(error))
}

/// An error from an INSERT or UPDATE: a unique constraint means `what` already exists; a
/// foreign key (only ever a user: `tokens.owner`, `sessions.user_name`) means the user is
/// missing.
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
    fn times_are_stored_to_the_millisecond_like_sqlite() {
        let instant_with_nanos = DateTime::from_timestamp(1_800_000_000, 123_456_789).expect("t");
        let kept = stored(instant_with_nanos);
        assert_eq!(kept.timestamp_millis(), 1_800_000_000_123);
        assert_eq!(kept.timestamp_subsec_nanos(), 123_000_000);
        assert_eq!(stored(kept), kept);
    }

    #[test]
    fn times_before_1970_are_floored_like_sqlite_milliseconds() {
        let before = DateTime::from_timestamp(-1, 999_999_999).expect("t");
        assert_eq!(stored(before).timestamp_millis(), before.timestamp_millis());
        assert_eq!(stored(before).timestamp_subsec_nanos(), 999_000_000);
    }

    #[test]
    fn locked_forever_is_kept_as_it_is() {
        assert_eq!(stored(locked_forever()), locked_forever());
    }
}
