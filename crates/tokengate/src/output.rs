//! Printing: aligned tables and human times for people, the SPEC §1 JSON shapes for scripts.
//! Writes go through `io::Result` (a closed pipe is an error to report, never a panic). No
//! decisions here: callers choose what to print.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use std::io::{self, Write};

/// Writes `text` to stdout as it is.
pub fn print(text: &str) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

/// Writes one line to stdout.
pub fn print_line(line: &str) -> io::Result<()> {
    print(&format!("{line}\n"))
}

/// Writes one line to stderr (notes and warnings that must not mix with captured output).
pub fn note(line: &str) -> io::Result<()> {
    let mut stderr = io::stderr().lock();
    writeln!(stderr, "{line}")?;
    stderr.flush()
}

/// Writes `value` as pretty JSON on stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
    print_line(&text)
}

/// An RFC 3339 UTC time to the second, as people read it.
pub fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// An optional time, or `fallback` when absent.
pub fn time_or(at: Option<DateTime<Utc>>, fallback: &str) -> String {
    at.map_or_else(|| fallback.to_owned(), time)
}

/// An optional text, or "-" when absent.
pub fn or_dash(text: Option<&str>) -> String {
    text.unwrap_or("-").to_owned()
}

/// Columns separated by two spaces, each as wide as its widest cell; the last is not padded.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers
        .iter()
        .map(|header| header.chars().count())
        .collect();
    for row in rows {
        for (column, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(column) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let header_row: Vec<String> = headers.iter().map(|header| (*header).to_owned()).collect();
    let mut text = String::new();
    for row in std::iter::once(&header_row).chain(rows) {
        let mut line = String::new();
        for (column, cell) in row.iter().enumerate() {
            if column + 1 == row.len() {
                line.push_str(cell);
            } else {
                let width = widths.get(column).copied().unwrap_or(0);
                let padding = width.saturating_sub(cell.chars().count());
                line.push_str(cell);
                line.push_str(&" ".repeat(padding + 2));
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_to_the_widest_cell() {
        let rows = vec![
            vec!["alice".to_owned(), "yes".to_owned(), "0".to_owned()],
            vec![
                "bob-the-builder".to_owned(),
                "no".to_owned(),
                "12".to_owned(),
            ],
        ];
        let text = table(&["NAME", "ADMIN", "FAILED"], &rows);
        assert_eq!(
            text,
            "NAME             ADMIN  FAILED\n\
             alice            yes    0\n\
             bob-the-builder  no     12\n"
        );
    }

    #[test]
    fn times_are_printed_to_the_second_in_utc() {
        let at = DateTime::parse_from_rfc3339("2027-01-15T10:00:00.123+00:00")
            .map(|at| at.with_timezone(&Utc))
            .ok();
        assert_eq!(time_or(at, "never"), "2027-01-15T10:00:00Z");
        assert_eq!(time_or(None, "never"), "never");
    }
}
