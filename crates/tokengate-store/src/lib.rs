//! tokengate storage: the `tokengate_core::store` traits implemented for SQLite and
//! PostgreSQL, chosen by the database URL. Every statement is written once, in `sql`, for
//! both databases ([`SqlStore`]); each backend module holds only what differs (opening,
//! time encoding, locking, maintenance statements) and has its own migrations folder.
//! Nothing outside this crate writes SQL. Also here: wake-ups when another node changes
//! something ([`change_notifications`]) and bulk copy between databases ([`transfer`]).

pub mod backup;
mod notifications;
mod paging;
mod records;
#[macro_use]
mod sql;
pub mod postgres;
pub mod sqlite;
pub mod transfer;

pub use sql::SqlStore;

pub use notifications::ChangeNotifications;
pub use paging::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use std::sync::Arc;
use std::time::Duration;
use tokengate_core::store::Store;
use transfer::Transfer;

/// Why a database could not be opened. Messages are meant for an operator reading a startup
/// error; none of them repeats a URL that could carry a password.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
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
    #[error("cannot chain the existing audit records: {0}")]
    Chain(#[from] tokengate_core::store::StoreError),
}

/// How to open a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    /// The most connections the pool holds (per process; PostgreSQL's `max_connections` must
    /// cover every node's pool). SQLite files use it too; `sqlite::memory:` always has one.
    pub max_connections: u32,
    /// How long a query waits for a free connection — or, while PostgreSQL is down, for a
    /// new one — before the store reports itself unavailable.
    pub acquire_timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

/// A store that also offers bulk [`Transfer`] (what `tokengate db copy` opens).
pub trait Backend: Store + Transfer {}

impl<T: Store + Transfer> Backend for T {}

/// The database backends a URL can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sqlite,
    Postgres,
}

fn backend_of(database_url: &str) -> Result<Kind, OpenError> {
    if database_url.starts_with("sqlite:") {
        return Ok(Kind::Sqlite);
    }
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        return Ok(Kind::Postgres);
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

/// Opens the database named by `database_url` with the default [`OpenOptions`], applies
/// pending migrations and returns it as the store every other crate uses. `sqlite://PATH`,
/// `sqlite:PATH` and `sqlite::memory:` are SQLite; `postgres://…` and `postgresql://…` are
/// PostgreSQL.
pub async fn open(database_url: &str) -> Result<Arc<dyn Store>, OpenError> {
    open_with(database_url, &OpenOptions::default()).await
}

/// [`open`] with a pool sized by `options`.
pub async fn open_with(
    database_url: &str,
    options: &OpenOptions,
) -> Result<Arc<dyn Store>, OpenError> {
    Ok(open_backend(database_url, options).await?)
}

/// Like [`open_with`], keeping the bulk [`Transfer`] access too.
pub async fn open_backend(
    database_url: &str,
    options: &OpenOptions,
) -> Result<Arc<dyn Backend>, OpenError> {
    match backend_of(database_url)? {
        Kind::Sqlite => Ok(Arc::new(
            SqliteStore::open_with(database_url, options).await?,
        )),
        Kind::Postgres => Ok(Arc::new(
            PostgresStore::open_with(database_url, options).await?,
        )),
    }
}

/// Wake-ups whenever another process changes something on the database at `database_url`,
/// for backends that can push them: `Some` for PostgreSQL (a background `LISTEN`, which
/// reconnects by itself; needs a Tokio runtime), `None` for SQLite, where polling the change
/// counter is the mechanism. Fails only on a URL that [`open`] would refuse too.
pub fn change_notifications(database_url: &str) -> Result<Option<ChangeNotifications>, OpenError> {
    match backend_of(database_url)? {
        Kind::Sqlite => Ok(None),
        Kind::Postgres => Ok(Some(postgres::listen::spawn(postgres::connect_options(
            database_url,
        )?))),
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
            assert_eq!(backend_of(url).expect(url), Kind::Sqlite);
        }
        for url in ["postgres://u:pw@host/db", "postgresql://host/db"] {
            assert_eq!(backend_of(url).expect(url), Kind::Postgres);
        }
    }

    #[test]
    fn unknown_schemes_are_refused_without_echoing_the_url() {
        let error = backend_of("mysql://root:hunter2@db/tokengate").expect_err("unknown");
        let message = error.to_string();
        assert!(message.contains("\"mysql\""), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        assert!(backend_of("tokengate.db").is_err());
    }

    #[test]
    fn sqlite_has_no_push_notifications() {
        assert!(
            change_notifications("sqlite::memory:")
                .expect("valid URL")
                .is_none()
        );
        assert!(change_notifications("mysql://db/tokengate").is_err());
    }

    #[test]
    fn default_pool_is_ten_connections() {
        assert_eq!(OpenOptions::default().max_connections, 10);
    }
}
