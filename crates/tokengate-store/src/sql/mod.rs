//! The storage traits implemented once for every SQL backend: [`SqlStore`] runs the
//! statements of the sibling modules (one per trait, each statement written once) through a
//! [`Driver`], the seam that holds what truly differs between SQLite and PostgreSQL — how a
//! time is stored (in the driver's `Arg` encoding and `Columns` decoding), how a write
//! transaction starts (`BEGIN IMMEDIATE` or a row lock with [`Driver::FOR_UPDATE`]), a few
//! statement fragments, and maintenance statements (`clear`, after an import). The drivers
//! live in `crate::sqlite` and `crate::postgres`.

#[macro_use]
mod driver;

mod audit;
mod cascade;
mod columns;
mod forwarding;
mod groups;
mod known_addresses;
mod outbox;
mod schema;
mod sessions;
mod settings;
mod statement;
mod tokens;
pub(crate) mod transfer;
mod usage;
mod users;

pub(crate) use audit::{AUDIT_COLUMNS, FINISH_CHAIN, chain_unchained, record_values};
pub use columns::{Columns, Decode};
pub(crate) use columns::{corrupt, from_millis, statement_error, unavailable};
pub(crate) use schema::newest_known;
pub use statement::{Arg, Statement};

use async_trait::async_trait;
use std::fmt;
use std::ops::DerefMut;
use tokengate_core::model::NewAudit;
use tokengate_core::store::StoreResult;

/// Runs statements: one connection of a driver (pooled or inside a transaction).
#[async_trait]
pub trait Connection: Send {
    /// Runs `statement`; the rows it changed.
    async fn execute(&mut self, statement: Statement) -> StoreResult<u64>;
    async fn fetch_optional<T: Send>(
        &mut self,
        statement: Statement,
        decode: Decode<T>,
    ) -> StoreResult<Option<T>>;
    async fn fetch_all<T: Send>(
        &mut self,
        statement: Statement,
        decode: Decode<T>,
    ) -> StoreResult<Vec<T>>;
}

/// What one database backend supplies to [`SqlStore`]: connections, write transactions, and
/// the little SQL that is not the same on both.
#[async_trait]
pub trait Driver: Clone + fmt::Debug + Send + Sync + 'static {
    type Connection: Connection;
    type Pooled: DerefMut<Target = Self::Connection> + Send;
    type Transaction: DerefMut<Target = Self::Connection> + Send;

    /// The grant lookup (id, owner and expiry by digest), answered from the covering index
    /// `tokens_grant_by_digest` (migration 0003).
    const GRANT_BY_DIGEST: &'static str;
    /// The function `f(haystack, needle)` that is positive when `needle` occurs literally in
    /// `haystack` (no `LIKE` wildcards).
    const CONTAINS: &'static str;
    /// Appended to the read of a read-modify-write, to lock the rows read until commit
    /// (empty where the write transaction already holds the database's write lock).
    const FOR_UPDATE: &'static str;
    /// Appended to the read of a claim, so concurrent claimers pass over each other's rows
    /// instead of waiting for them (empty where one writer at a time is the rule anyway).
    const SKIP_LOCKED: &'static str;
    /// Inserts the audit rows of the JSON array bound to `$1` (see `sql::audit::AuditRow`): a
    /// batch of any size in one statement with one parameter.
    const INSERT_AUDIT_ROWS: &'static str;
    /// Empties every table (for `db copy --force`) and moves the change counter.
    const CLEAR: &'static [&'static str];
    /// Run once after a bulk import, so new audit records continue after the imported ids.
    const FINISH_IMPORT: &'static [&'static str];

    async fn connection(&self) -> StoreResult<Self::Pooled>;
    /// A transaction for a read-modify-write: concurrent writers of the same rows wait for
    /// it, so no update is lost.
    async fn begin(&self) -> StoreResult<Self::Transaction>;
    async fn commit(transaction: Self::Transaction) -> StoreResult<()>;

    /// Appends `records` chained after the head in one write transaction by a faster way than
    /// statements through the pool, for a driver that has one (SQLite: `sqlite::fast_write`);
    /// `None` sends them through the pool.
    async fn fast_append(&self, _records: &[NewAudit]) -> Option<StoreResult<()>> {
        None
    }

    /// A point lookup on the hot path (`sql` has one placeholder, bound to `key`) run
    /// without the pool, for a driver that has a faster way (SQLite's fast read path);
    /// `None` sends it through the pool.
    fn fast_lookup<T>(
        &self,
        _sql: &'static str,
        _key: &Arg,
        _decode: Decode<T>,
    ) -> Option<StoreResult<Option<T>>> {
        None
    }
}

/// The store on one SQL database, generic over its [`Driver`]. Cheap to clone (the pool is
/// shared). Named per backend: `SqliteStore`, `PostgresStore`.
#[derive(Debug, Clone)]
pub struct SqlStore<D> {
    pub(crate) driver: D,
}

impl<D: Driver> SqlStore<D> {
    pub(crate) fn new(driver: D) -> Self {
        SqlStore { driver }
    }

    /// A point lookup on the hot path: [`Driver::fast_lookup`], else through the pool.
    async fn lookup<T: Send>(
        &self,
        sql: &'static str,
        key: Arg,
        decode: Decode<T>,
    ) -> StoreResult<Option<T>> {
        if let Some(found) = self.driver.fast_lookup(sql, &key, decode) {
            return found;
        }
        self.one(Statement::new(sql).bind(key), decode).await
    }

    /// Runs `statement` on a pooled connection; the rows it changed.
    async fn run(&self, statement: Statement) -> StoreResult<u64> {
        self.driver.connection().await?.execute(statement).await
    }

    async fn one<T: Send>(
        &self,
        statement: Statement,
        decode: Decode<T>,
    ) -> StoreResult<Option<T>> {
        let mut connection = self.driver.connection().await?;
        connection.fetch_optional(statement, decode).await
    }

    async fn all<T: Send>(&self, statement: Statement, decode: Decode<T>) -> StoreResult<Vec<T>> {
        let mut connection = self.driver.connection().await?;
        connection.fetch_all(statement, decode).await
    }

    /// Runs `statement` in a write transaction together with the audit record that `audit`
    /// makes of the number of rows it changed (none: nothing is recorded); returns that
    /// number. A change and its record commit together or not at all.
    async fn write(
        &self,
        statement: Statement,
        audit: impl FnOnce(u64) -> Option<NewAudit> + Send,
    ) -> StoreResult<u64> {
        let mut transaction = self.driver.begin().await?;
        let changed = transaction.execute(statement).await?;
        if let Some(record) = audit(changed) {
            audit::insert_audit::<D, _>(&mut *transaction, &record).await?;
        }
        D::commit(transaction).await?;
        Ok(changed)
    }
}
