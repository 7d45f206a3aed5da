//! Known addresses on PostgreSQL (SPEC §2.6): where each user's password worked lately,
//! shared by every node. One row per (user, address) with the last time; a user's stale rows
//! go when a new one is written.

use super::codec::{stored, unavailable};
use super::{PostgresStore, begin};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::net::IpAddr;
use tokengate_core::store::{KnownAddressStore, StoreResult};

#[async_trait]
impl KnownAddressStore for PostgresStore {
    async fn remember_address(
        &self,
        user: &str,
        address: IpAddr,
        at: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut transaction = begin(&self.pool).await?;
        sqlx::query("DELETE FROM known_addresses WHERE user_name = $1 AND last_seen < $2")
            .bind(user)
            .bind(stored(forget_before))
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?;
        // Only for a stored user (no foreign-key error for a name that is gone).
        sqlx::query(
            "INSERT INTO known_addresses (user_name, address, last_seen) \
             SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM users WHERE name = $1) \
             ON CONFLICT (user_name, address) \
             DO UPDATE SET last_seen = GREATEST(known_addresses.last_seen, excluded.last_seen)",
        )
        .bind(user)
        .bind(address.to_canonical().to_string())
        .bind(stored(at))
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
        let found: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM known_addresses \
             WHERE user_name = $1 AND address = $2 AND last_seen >= $3",
        )
        .bind(user)
        .bind(address.to_canonical().to_string())
        .bind(stored(since))
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(found.is_some())
    }
}
