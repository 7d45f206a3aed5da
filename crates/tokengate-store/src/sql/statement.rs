//! [`Statement`]: one SQL text and its bound values, written once for every backend. Values
//! are numbered `$1`, `$2`, … — PostgreSQL's placeholders, which sqlx's SQLite driver and
//! rusqlite read too — and carried as [`Arg`]s, so the text says nothing about how a backend
//! stores a time: each driver encodes an [`Arg`] its own way (`Driver` in `sql::mod`).

use chrono::{DateTime, Utc};
use std::borrow::Cow;
use std::fmt::Write as _;

/// A value bound to a placeholder. `None` binds SQL NULL of that type.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Text(Option<String>),
    Integer(Option<i64>),
    Flag(Option<bool>),
    Bytes(Option<Vec<u8>>),
    /// Stored to the millisecond: unix milliseconds on SQLite, TIMESTAMPTZ on PostgreSQL.
    Time(Option<DateTime<Utc>>),
}

impl From<&str> for Arg {
    fn from(value: &str) -> Self {
        Arg::Text(Some(value.to_owned()))
    }
}

impl From<&String> for Arg {
    fn from(value: &String) -> Self {
        Arg::Text(Some(value.clone()))
    }
}

impl From<String> for Arg {
    fn from(value: String) -> Self {
        Arg::Text(Some(value))
    }
}

impl From<Option<String>> for Arg {
    fn from(value: Option<String>) -> Self {
        Arg::Text(value)
    }
}

impl From<Option<&str>> for Arg {
    fn from(value: Option<&str>) -> Self {
        Arg::Text(value.map(str::to_owned))
    }
}

impl From<i64> for Arg {
    fn from(value: i64) -> Self {
        Arg::Integer(Some(value))
    }
}

impl From<u32> for Arg {
    fn from(value: u32) -> Self {
        Arg::Integer(Some(i64::from(value)))
    }
}

impl From<bool> for Arg {
    fn from(value: bool) -> Self {
        Arg::Flag(Some(value))
    }
}

impl From<Option<bool>> for Arg {
    fn from(value: Option<bool>) -> Self {
        Arg::Flag(value)
    }
}

impl From<&[u8]> for Arg {
    fn from(value: &[u8]) -> Self {
        Arg::Bytes(Some(value.to_vec()))
    }
}

impl From<DateTime<Utc>> for Arg {
    fn from(value: DateTime<Utc>) -> Self {
        Arg::Time(Some(value))
    }
}

impl From<Option<DateTime<Utc>>> for Arg {
    fn from(value: Option<DateTime<Utc>>) -> Self {
        Arg::Time(value)
    }
}

/// SQL text with its values. Fixed text names its placeholders itself and binds them in
/// order with [`Statement::bind`]; text built piece by piece gets the next placeholder from
/// [`Statement::push_bind`].
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    sql: Cow<'static, str>,
    args: Vec<Arg>,
    writes: Option<&'static str>,
}

impl Statement {
    pub fn new(sql: impl Into<Cow<'static, str>>) -> Statement {
        Statement {
            sql: sql.into(),
            args: Vec::new(),
            writes: None,
        }
    }

    /// `INSERT INTO table (columns) VALUES (…), (…)`, one parenthesised row per item of
    /// `rows` (each as many values as `columns` names).
    pub fn insert(table: &str, columns: &str, rows: impl IntoIterator<Item = Vec<Arg>>) -> Self {
        let mut statement = Statement::new(format!("INSERT INTO {table} ({columns}) VALUES "));
        for (index, row) in rows.into_iter().enumerate() {
            statement.push(if index == 0 { "(" } else { ", (" });
            statement.push_list(row);
            statement.push(")");
        }
        statement
    }

    /// Binds the value of the next placeholder of a fixed text.
    pub fn bind(mut self, arg: impl Into<Arg>) -> Statement {
        self.args.push(arg.into());
        self
    }

    /// Appends SQL text.
    pub fn push(&mut self, sql: &str) -> &mut Statement {
        self.sql.to_mut().push_str(sql);
        self
    }

    /// Appends the next placeholder, bound to `arg`.
    pub fn push_bind(&mut self, arg: impl Into<Arg>) -> &mut Statement {
        self.args.push(arg.into());
        let number = self.args.len();
        // Writing to a String cannot fail.
        let _ = write!(self.sql.to_mut(), "${number}");
        self
    }

    /// Appends placeholders for `args`, separated by commas.
    pub fn push_list(&mut self, args: impl IntoIterator<Item = Arg>) -> &mut Statement {
        for (index, arg) in args.into_iter().enumerate() {
            if index > 0 {
                self.push(", ");
            }
            self.push_bind(arg);
        }
        self
    }

    /// Marks a statement that adds or changes rows of `what`: a unique violation is then a
    /// conflict on `what` and a foreign-key violation a missing user (`write_error`).
    pub fn writes(mut self, what: &'static str) -> Statement {
        self.writes = Some(what);
        self
    }

    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// Text, values and what it writes, for a driver to run.
    pub fn into_parts(self) -> (Cow<'static, str>, Vec<Arg>, Option<&'static str>) {
        (self.sql, self.args, self.writes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_text_numbers_its_placeholders_in_order() {
        let mut statement = Statement::new("SELECT 1 FROM t WHERE 1 = 1");
        statement.push(" AND a = ").push_bind("x");
        statement.push(" AND b < ").push_bind(7_i64);
        assert_eq!(
            statement.sql(),
            "SELECT 1 FROM t WHERE 1 = 1 AND a = $1 AND b < $2"
        );
        let (_, args, writes) = statement.into_parts();
        assert_eq!(args, [Arg::from("x"), Arg::Integer(Some(7))]);
        assert_eq!(writes, None);
    }

    #[test]
    fn multi_row_inserts_number_across_rows() {
        let statement = Statement::insert(
            "t",
            "a, b",
            [
                vec![Arg::from(1_i64), Arg::from("x")],
                vec![Arg::from(2_i64), Arg::from("y")],
            ],
        )
        .writes("thing");
        assert_eq!(
            statement.sql(),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"
        );
        assert_eq!(statement.into_parts().2, Some("thing"));
    }
}
