//! Known addresses on SQLite (SPEC §2.6): where each user's password worked lately. One row
//! per (user, address) with the last time; a user's stale rows go when a new one is written.

use super::codec::{millis, unavailable};
use super::{SqliteStore, begin_write};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::net::IpAddr;
use tokengate_core::store::{KnownAddressStore, StoreResult};

#[async_trait]
impl KnownAddressStore for SqliteStore {
    async fn remember_address(
        &self,
        user: &str,
        address: IpAddr,
        at: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut transaction = begin_write(&self.pool).await?;
        sqlx::query("DELETE FROM known_addresses WHERE user_name = ? AND last_seen < ?")
            .bind(user)
            .bind(millis(forget_before))
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?;
        // Only for a stored user (no foreign-key error for a name that is gone).
        sqlx::query(
            "INSERT INTO known_addresses (user_name, address, last_seen) \
             SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM users WHERE name = ?1) \
             ON CONFLICT (user_name, address) \
             DO UPDATE SET last_seen = MAX(last_seen, excluded.last_seen)",
        )
        .bind(user)
        .bind(address.to_canonical().to_string())
        .bind(millis(at))
        .execute(&mut *transaction)
        .await
        .map_err(unavailable)?;
        transaction.commit().await.map_err(unavailable)
    }

    async fn is_known_address(
        &self,
        user: &str,
        address: IpAddr,
        since: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM known_addresses WHERE user_name = ? AND address = ? AND last_seen >= ?",
        )
        .bind(user)
        .bind(address.to_canonical().to_string())
        .bind(millis(since))
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(found.is_some())
    }
}
