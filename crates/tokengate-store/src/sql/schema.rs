//! What every backend asks of its schema: the change counter, and the newest migration this
//! binary knows (a database migrated further is refused; see `prepare_schema` in the driver
//! glue).

use super::{Driver, SqlStore, Statement};
use async_trait::async_trait;
use sqlx::migrate::Migrator;
use tokengate_core::store::{ChangeCounter, StoreError, StoreResult};

/// The newest schema version in `migrator`.
pub(crate) fn newest_known(migrator: &Migrator) -> i64 {
    migrator
        .iter()
        .map(|migration| migration.version)
        .max()
        .unwrap_or(0)
}

#[async_trait]
impl<D: Driver> ChangeCounter for SqlStore<D> {
    async fn change_counter(&self) -> StoreResult<i64> {
        let query = Statement::new("SELECT change_counter FROM meta WHERE id = 1");
        self.one(query, |row| row.integer("change_counter"))
            .await?
            .ok_or_else(|| StoreError::Corrupt("the meta row is missing".into()))
    }
}
