//! The PostgreSQL backend, for several tokengate nodes sharing one installation: opening a
//! pool sized by [`OpenOptions`], the embedded forward-only migrations (`migrations/postgres`,
//! numbered like SQLite's), and the [`Driver`] side of PostgreSQL — TIMESTAMPTZ times, row
//! locks for read-modify-writes, `TRUNCATE` and the audit identity for `db copy`. Every
//! statement is in `crate::sql`; `listen` wakes other nodes.
//!
//! **Times** are TIMESTAMPTZ, written truncated to the millisecond (core's
//! `truncate_to_millis`) — exactly what SQLite keeps — so a record reads back the same from
//! either backend, comparisons against a bound instant give the same answers, and
//! `lockout::locked_forever()` (9999-12-31T23:59:59Z) round-trips. Booleans are BOOLEAN,
//! digests BYTEA, JSON is TEXT.

pub(crate) mod listen;

use crate::sql::{Driver, SqlStore, corrupt};
use crate::{OpenError, OpenOptions};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Transaction};
use std::str::FromStr;
use tokengate_core::manage::truncate_to_millis;
use tokengate_core::store::{StoreError, StoreResult};

/// Migrations in `migrations/postgres`, embedded at compile time.
static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// The store on one PostgreSQL database (the schema is the connection's `search_path`).
/// Cheap to clone (the pool is shared).
pub type PostgresStore = SqlStore<PostgresDriver>;

/// PostgreSQL's side of the [`Driver`] seam: the pool.
#[derive(Debug, Clone)]
pub struct PostgresDriver {
    pool: PgPool,
}

fn time_column(row: &PgRow, name: &str) -> StoreResult<Option<DateTime<Utc>>> {
    sqlx::Row::try_get(row, name).map_err(|error| corrupt(name, error))
}

sqlx_driver! {
    backend: "PostgreSQL",
    database: Postgres,
    connection: PgConnection,
    row: PgRow,
    encode_time: truncate_to_millis,
    decode_time: time_column,
}

fn unavailable(error: sqlx::Error) -> StoreError {
    crate::sql::unavailable(error, "PostgreSQL")
}

#[async_trait]
impl Driver for PostgresDriver {
    type Connection = PgConnection;
    type Pooled = PoolConnection<Postgres>;
    type Transaction = Transaction<'static, Postgres>;

    /// An index-only scan of `tokens_grant_by_digest`: the planner picks it by itself.
    const GRANT_BY_DIGEST: &'static str =
        "SELECT id, owner, expires_at, restrictions FROM tokens WHERE digest = $1";
    const CONTAINS: &'static str = "strpos";
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
    /// Milliseconds as an interval (exact), not `to_timestamp` (a float).
    const INSERT_AUDIT_ROWS: &'static str = "INSERT INTO audit (id, at, actor, action, user_name, \
         token_id, details, ip, request_id, prev_hash, hash) \
         SELECT id, TIMESTAMPTZ 'epoch' + at_ms * INTERVAL '1 millisecond', actor, action, \"user\", \
         token_id, details, ip, request_id, prev_hash, hash \
         FROM jsonb_to_recordset($1::text::jsonb) AS r(id BIGINT, at_ms BIGINT, actor TEXT, \
         action TEXT, \"user\" TEXT, token_id TEXT, details TEXT, ip TEXT, request_id TEXT, \
         prev_hash TEXT, hash TEXT)";
    /// TRUNCATE fires no row triggers: move the counter (and wake the nodes) by hand.
    const CLEAR: &'static [&'static str] = &[
        "TRUNCATE deliveries, outbox, known_addresses, usage, group_members, groups, sessions, tokens, users, settings, audit, \
         audit_forwarding RESTART IDENTITY",
        "SELECT tokengate_bump(1)",
        crate::sql::FINISH_CHAIN,
    ];
    const FINISH_IMPORT: &'static [&'static str] = &[
        "SELECT setval(pg_get_serial_sequence('audit', 'id'), \
         COALESCE((SELECT MAX(id) FROM audit), 1), (SELECT MAX(id) FROM audit) IS NOT NULL)",
        crate::sql::FINISH_CHAIN,
    ];

    async fn connection(&self) -> StoreResult<PoolConnection<Postgres>> {
        self.pool.acquire().await.map_err(unavailable)
    }

    /// READ COMMITTED; read-modify-writes lock what they read ([`Driver::FOR_UPDATE`]), so
    /// concurrent nodes cannot lose each other's updates.
    async fn begin(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(unavailable)
    }

    async fn commit(transaction: Transaction<'static, Postgres>) -> StoreResult<()> {
        transaction.commit().await.map_err(unavailable)
    }
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

impl SqlStore<PostgresDriver> {
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
        prepare_schema(
            &pool,
            &MIGRATOR,
            "SELECT 1 WHERE to_regclass('_sqlx_migrations') IS NOT NULL",
        )
        .await?;
        let store = SqlStore::new(PostgresDriver { pool });
        crate::sql::chain_unchained(&store).await?;
        Ok(store)
    }

    /// The connection pool, for callers that need PostgreSQL itself (tests, maintenance).
    pub fn pool(&self) -> &PgPool {
        &self.driver.pool
    }

    /// The newest schema version this binary knows.
    pub fn supported_schema_version() -> i64 {
        crate::sql::newest_known(&MIGRATOR)
    }
}
