//! The PostgreSQL backend, for several tokengate nodes sharing one installation: opening a
//! pool sized by [`OpenOptions`], the embedded forward-only migrations (`migrations/postgres`,
//! numbered like SQLite's), the schema-version guard and the change counter. The trait
//! implementations live in the sibling modules, one per trait; `listen` wakes other nodes.

mod audit;
mod codec;
mod known_addresses;
pub(crate) mod listen;
mod sessions;
mod settings;
mod tokens;
pub(crate) mod transfer;
mod users;

use crate::{OpenError, OpenOptions};
use async_trait::async_trait;
use codec::unavailable;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use std::str::FromStr;
use tokengate_core::store::{ChangeCounter, StoreError, StoreResult};

/// Migrations in `migrations/postgres`, embedded at compile time.
static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// The store on one PostgreSQL database (the schema is the connection's `search_path`).
/// Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

/// `host:port/database` of a connection, for messages: never the user's password.
pub(crate) fn describe(options: &PgConnectOptions) -> String {
    format!(
        "\"{}:{}/{}\"",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or_default()
    )
}

/// Parses a `postgres://` URL; the parser's message never repeats the URL.
pub(crate) fn connect_options(url: &str) -> Result<PgConnectOptions, OpenError> {
    PgConnectOptions::from_str(url).map_err(|error| OpenError::InvalidUrl(error.to_string()))
}

impl PostgresStore {
    /// Opens the database at `url` (`postgres://…` or `postgresql://…`) with the default
    /// [`OpenOptions`].
    pub async fn open(url: &str) -> Result<PostgresStore, OpenError> {
        Self::open_with(url, &OpenOptions::default()).await
    }

    /// Connects a pool of at most `options.max_connections`, refuses a database whose schema
    /// is newer than this binary, and applies any pending migrations (concurrent nodes take
    /// turns: the migrator holds an advisory lock).
    pub async fn open_with(url: &str, options: &OpenOptions) -> Result<PostgresStore, OpenError> {
        let connect = connect_options(url)?;
        let target = describe(&connect);
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(|source| OpenError::Open { target, source })?;
        refuse_newer_schema(&pool).await?;
        if let Err(first) = MIGRATOR.run(&pool).await {
            // A node starting beside this one may have applied the same migration a moment
            // earlier; a second run then finds nothing to do. A real failure repeats.
            tracing::warn!(error = %first, "database migration failed once; retrying");
            MIGRATOR.run(&pool).await?;
        }
        Ok(PostgresStore { pool })
    }

    /// The connection pool, for callers that need PostgreSQL itself (tests, maintenance).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The newest schema version this binary knows.
    pub fn supported_schema_version() -> i64 {
        MIGRATOR
            .iter()
            .map(|migration| migration.version)
            .max()
            .unwrap_or(0)
    }
}

/// Refuses a database that a newer tokengate has migrated: this binary would misread it.
async fn refuse_newer_schema(pool: &PgPool) -> Result<(), OpenError> {
    let has_history: bool =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(pool)
            .await
            .map_err(MigrateError::Execute)?;
    if !has_history {
        return Ok(());
    }
    let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(pool)
        .await
        .map_err(MigrateError::Execute)?;
    let supported = PostgresStore::supported_schema_version();
    match newest {
        Some(found) if found > supported => Err(OpenError::TooNew { found, supported }),
        _ => Ok(()),
    }
}

/// Starts a transaction (READ COMMITTED). Read-modify-write sequences inside it lock what
/// they read (`SELECT … FOR UPDATE`), so concurrent nodes cannot lose each other's updates.
async fn begin(pool: &PgPool) -> StoreResult<Transaction<'static, Postgres>> {
    pool.begin().await.map_err(unavailable)
}

#[async_trait]
impl ChangeCounter for PostgresStore {
    async fn change_counter(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT change_counter FROM meta WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| StoreError::Corrupt("the meta row is missing".into()))
    }
}
