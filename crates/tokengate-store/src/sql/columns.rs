//! Reading result rows and reporting errors, the same for every backend. Rows are read
//! through [`Columns`], implemented by each driver's row (sqlx's SQLite and PostgreSQL rows,
//! and rusqlite's on SQLite's fast read path), so every row reader (`token_from_row`, …) is
//! written once. A value that cannot be read is corrupt data, never a panic.

use chrono::{DateTime, Utc};
use tokengate_core::store::{StoreError, StoreResult};

/// One result row. Drivers supply the nullable getters; the others are derived from them.
pub trait Columns {
    fn optional_text(&self, name: &str) -> StoreResult<Option<String>>;
    fn optional_integer(&self, name: &str) -> StoreResult<Option<i64>>;
    fn optional_flag(&self, name: &str) -> StoreResult<Option<bool>>;
    fn optional_bytes(&self, name: &str) -> StoreResult<Option<Vec<u8>>>;
    /// A time as the backend stores it (see `Arg::Time`).
    fn optional_time(&self, name: &str) -> StoreResult<Option<DateTime<Utc>>>;

    fn text(&self, name: &str) -> StoreResult<String> {
        required(name, self.optional_text(name)?)
    }

    fn integer(&self, name: &str) -> StoreResult<i64> {
        required(name, self.optional_integer(name)?)
    }

    fn flag(&self, name: &str) -> StoreResult<bool> {
        required(name, self.optional_flag(name)?)
    }

    fn bytes(&self, name: &str) -> StoreResult<Vec<u8>> {
        required(name, self.optional_bytes(name)?)
    }

    fn time(&self, name: &str) -> StoreResult<DateTime<Utc>> {
        required(name, self.optional_time(name)?)
    }

    /// A non-negative counter.
    fn counter(&self, name: &str) -> StoreResult<u32> {
        let value = self.integer(name)?;
        u32::try_from(value)
            .map_err(|_| StoreError::Corrupt(format!("column {name}: {value} is not a counter")))
    }

    /// A `COUNT(*)` figure.
    fn count(&self, name: &str) -> StoreResult<u64> {
        Ok(u64::try_from(self.integer(name)?).unwrap_or(0))
    }
}

/// Turns one row into a value; what every query that returns rows is given.
pub type Decode<T> = fn(&dyn Columns) -> StoreResult<T>;

fn required<T>(name: &str, value: Option<T>) -> StoreResult<T> {
    value.ok_or_else(|| StoreError::Corrupt(format!("column {name}: unexpected NULL")))
}

/// A driver's decoding error for column `name`, as corrupt data.
pub fn corrupt(name: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("column {name}: {error}"))
}

/// A stored unix-milliseconds time read back (SQLite).
pub fn from_millis(name: &str, millis: Option<i64>) -> StoreResult<Option<DateTime<Utc>>> {
    millis
        .map(|millis| {
            DateTime::from_timestamp_millis(millis)
                .ok_or_else(|| corrupt(name, format!("timestamp {millis} is out of range")))
        })
        .transpose()
}

/// The database could not do what was asked. The cause is logged here: driver errors carry
/// statement text and database messages, never bound values, so no secret reaches the log.
pub fn unavailable(
    error: impl std::error::Error + Send + Sync + 'static,
    backend: &str,
) -> StoreError {
    tracing::warn!(error = %error, "{backend} store error");
    StoreError::Unavailable(Box::new(error))
}

/// An error from running a statement. For a statement that writes `what`
/// (`Statement::writes`): a unique violation means `what` already exists; a foreign key (only
/// ever a user: `tokens.owner`, `sessions.user_name`) means the user is missing.
pub fn statement_error(
    error: sqlx::Error,
    writes: Option<&'static str>,
    backend: &str,
) -> StoreError {
    match (writes, error.as_database_error()) {
        (Some(what), Some(database)) if database.is_unique_violation() => {
            StoreError::Conflict(what)
        }
        (Some(_), Some(database)) if database.is_foreign_key_violation() => {
            StoreError::NotFound("user")
        }
        _ => unavailable(error, backend),
    }
}

/// JSON text for a TEXT column.
pub fn json_text<T: serde::Serialize + ?Sized>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value)
        .map_err(|error| StoreError::Corrupt(format!("cannot encode JSON: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokengate_core::lockout::locked_forever;

    #[test]
    fn stored_milliseconds_read_back_and_cover_locked_forever() {
        let forever = locked_forever();
        assert_eq!(
            from_millis("t", Some(forever.timestamp_millis())).expect("read"),
            Some(forever)
        );
        assert_eq!(
            from_millis("t", Some(1_800_000_000_123))
                .expect("read")
                .map(|at| at.timestamp_subsec_nanos()),
            Some(123_000_000)
        );
        assert_eq!(from_millis("t", None).expect("null"), None);
    }

    #[test]
    fn out_of_range_times_are_corrupt_not_panics() {
        assert!(matches!(
            from_millis("t", Some(i64::MAX)),
            Err(StoreError::Corrupt(_))
        ));
    }
}
