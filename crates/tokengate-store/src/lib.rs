//! tokengate storage: the `tokengate_core::store` traits implemented for SQLite (and, later,
//! PostgreSQL), chosen by the database URL. Each backend lives in its own module with its own
//! migrations folder; nothing outside this crate writes SQL.

mod paging;
pub mod sqlite;

pub use paging::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
pub use sqlite::SqliteStore;

use std::sync::Arc;
use tokengate_core::store::Store;

/// Why a database could not be opened. Messages are meant for an operator reading a startup
/// error; none of them repeats a URL that could carry a password.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    #[error("{0} databases are not supported by this tokengate yet; use a sqlite:// database URL")]
    Unsupported(&'static str),
    #[error("cannot open database {target}: {source}")]
    Open {
        target: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("database schema version {found} is newer than this tokengate supports ({supported})")]
    TooNew { found: i64, supported: i64 },
}

/// The database backends a URL can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

fn backend_of(database_url: &str) -> Result<Backend, OpenError> {
    if database_url.starts_with("sqlite:") {
        return Ok(Backend::Sqlite);
    }
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        return Ok(Backend::Postgres);
    }
    // Only the scheme is echoed: the rest of a URL may hold a password.
    let scheme = database_url
        .split_once(':')
        .map_or("(none)", |(scheme, _)| scheme);
    Err(OpenError::InvalidUrl(format!(
        "unknown scheme \"{}\"; expected sqlite://PATH, sqlite::memory: or postgres://…",
        scheme.chars().take(32).collect::<String>()
    )))
}

/// Opens the database named by `database_url`, applies pending migrations and returns it as
/// the store every other crate uses. `sqlite://PATH`, `sqlite:PATH` and `sqlite::memory:` are
/// SQLite; `postgres://…` is refused with [`OpenError::Unsupported`] until that backend exists.
pub async fn open(database_url: &str) -> Result<Arc<dyn Store>, OpenError> {
    match backend_of(database_url)? {
        Backend::Sqlite => Ok(Arc::new(SqliteStore::open(database_url).await?)),
        Backend::Postgres => Err(OpenError::Unsupported("PostgreSQL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_choose_their_backend() {
        for url in [
            "sqlite://tokengate.db",
            "sqlite:tokengate.db",
            "sqlite::memory:",
        ] {
            assert_eq!(backend_of(url).expect(url), Backend::Sqlite);
        }
        assert_eq!(
            backend_of("postgres://u:pw@host/db").expect("postgres"),
            Backend::Postgres
        );
    }

    #[test]
    fn unknown_schemes_are_refused_without_echoing_the_url() {
        let error = backend_of("mysql://root:hunter2@db/tokengate").expect_err("unknown");
        let message = error.to_string();
        assert!(message.contains("\"mysql\""), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        assert!(backend_of("tokengate.db").is_err());
    }
}
