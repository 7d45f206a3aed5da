//! Where forwarding of new audit records to syslog has got to (`audit_forwarding`, one row):
//! a cursor that only moves forward and a lease that lets one node at a time take records.
//! Like the outbox's claims, a claim is an `UPDATE` whose condition is checked again on the
//! row it changes, so two nodes never both hold the lease. Reads no audit record itself.

use super::{Driver, SqlStore, Statement};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokengate_core::store::{AuditForwarding, StoreResult};

#[async_trait]
impl<D: Driver> AuditForwarding for SqlStore<D> {
    async fn claim_audit_forwarding(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Option<i64>> {
        let exists = Statement::new("SELECT forwarded_id FROM audit_forwarding WHERE id = 1");
        if self
            .one(exists, |row| row.integer("forwarded_id"))
            .await?
            .is_none()
        {
            // The first claim ever: forwarding starts after the newest record. Two nodes that
            // start together both try; the second insert does nothing.
            let start = Statement::new(
                "INSERT INTO audit_forwarding (id, forwarded_id) \
                 SELECT 1, last_id FROM audit_chain WHERE id = 1 ON CONFLICT (id) DO NOTHING",
            );
            self.run(start).await?;
        }
        let claim = Statement::new(
            "UPDATE audit_forwarding SET holder = $1, lease_until = $2 WHERE id = 1 \
             AND (holder IS NULL OR holder = $1 OR lease_until IS NULL OR lease_until <= $3) \
             RETURNING forwarded_id",
        )
        .bind(holder)
        .bind(lease_until)
        .bind(now);
        self.one(claim, |row| row.integer("forwarded_id")).await
    }

    async fn advance_audit_forwarding(
        &self,
        holder: &str,
        from: i64,
        to: i64,
    ) -> StoreResult<bool> {
        if to <= from {
            return Ok(false);
        }
        let advance = Statement::new(
            "UPDATE audit_forwarding SET forwarded_id = $1 \
             WHERE id = 1 AND holder = $2 AND forwarded_id = $3",
        )
        .bind(to)
        .bind(holder)
        .bind(from);
        Ok(self.run(advance).await? > 0)
    }

    async fn release_audit_forwarding(&self, holder: &str) -> StoreResult<()> {
        let release = Statement::new(
            "UPDATE audit_forwarding SET holder = NULL, lease_until = NULL \
             WHERE id = 1 AND holder = $1",
        )
        .bind(holder);
        self.run(release).await?;
        Ok(())
    }
}
