//! Known addresses (SPEC §2.6): where each user's password worked lately, shared by every node
//! on PostgreSQL. One row per (user, address) with the last time; a user's stale rows go when a
//! new one is written. Not audited and not part of the change counter: they alter no decision
//! but the locked user's own next password check, which reads them from the store.

use super::{Columns, Connection, Driver, SqlStore, Statement};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::net::IpAddr;
use tokengate_core::store::{KnownAddressStore, StoreResult};

/// Addresses are stored in their canonical text (an IPv4-mapped IPv6 address as IPv4).
fn address_text(address: IpAddr) -> String {
    address.to_canonical().to_string()
}

fn found_from_row(row: &dyn Columns) -> StoreResult<u64> {
    row.count("found")
}

#[async_trait]
impl<D: Driver> KnownAddressStore for SqlStore<D> {
    async fn remember_address(
        &self,
        user: &str,
        address: IpAddr,
        at: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> StoreResult<()> {
        let forget =
            Statement::new("DELETE FROM known_addresses WHERE user_name = $1 AND last_seen < $2")
                .bind(user)
                .bind(forget_before);
        // Only for a stored user (no foreign-key error for a name that is gone); the latest
        // time wins when two nodes write at once.
        let remember = Statement::new(
            "INSERT INTO known_addresses (user_name, address, last_seen) \
             SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM users WHERE name = $4) \
             ON CONFLICT (user_name, address) DO UPDATE SET last_seen = \
             CASE WHEN excluded.last_seen > known_addresses.last_seen \
             THEN excluded.last_seen ELSE known_addresses.last_seen END",
        )
        .bind(user)
        .bind(address_text(address))
        .bind(at)
        .bind(user);
        let mut transaction = self.driver.begin().await?;
        transaction.execute(forget).await?;
        transaction.execute(remember).await?;
        D::commit(transaction).await
    }

    async fn is_known_address(
        &self,
        user: &str,
        address: IpAddr,
        since: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let query = Statement::new(
            "SELECT COUNT(*) AS found FROM known_addresses \
             WHERE user_name = $1 AND address = $2 AND last_seen >= $3",
        )
        .bind(user)
        .bind(address_text(address))
        .bind(since);
        let found = self.one(query, found_from_row).await?;
        Ok(found.unwrap_or(0) > 0)
    }
}
