//! The audit log on PostgreSQL: writing a record inside the caller's transaction, and reading
//! records newest first with filters and a `before_id` cursor. Records are only ever added.

use super::PostgresStore;
use super::codec::{column, json_text, stored, unavailable};
use crate::paging::page_size;
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use tokengate_core::model::{AuditAction, AuditFilter, AuditRecord, NewAudit};
use tokengate_core::store::{AuditLog, StoreError, StoreResult};

macro_rules! audit_columns {
    () => {
        "id, at, actor, action, user_name, token_id, details, ip, request_id"
    };
}
pub(super) use audit_columns;

/// Writes `audit` on `connection` — always the transaction of the change it records.
pub(super) async fn insert_audit(
    connection: &mut PgConnection,
    audit: &NewAudit,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit (at, actor, action, user_name, token_id, details, ip, request_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(stored(audit.at))
    .bind(&audit.actor)
    .bind(audit.action.as_str())
    .bind(audit.user.as_deref())
    .bind(audit.token_id.as_deref())
    .bind(json_text(&audit.details)?)
    .bind(audit.ip.as_deref())
    .bind(audit.request_id.as_deref())
    .execute(connection)
    .await
    .map_err(unavailable)?;
    Ok(())
}

/// An audit row read back (also used by the bulk export in `transfer`).
pub(super) fn audit_from_row(row: &PgRow) -> StoreResult<AuditRecord> {
    let action: String = column(row, "action")?;
    let details: String = column(row, "details")?;
    Ok(AuditRecord {
        id: column(row, "id")?,
        at: column(row, "at")?,
        actor: column(row, "actor")?,
        action: AuditAction::parse(&action)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown audit action {action:?}")))?,
        user: column(row, "user_name")?,
        token_id: column(row, "token_id")?,
        details: serde_json::from_str(&details)
            .map_err(|error| StoreError::Corrupt(format!("audit details: {error}")))?,
        ip: column(row, "ip")?,
        request_id: column(row, "request_id")?,
    })
}

#[async_trait]
impl AuditLog for PostgresStore {
    /// Newest first. `since` is inclusive, `until` exclusive; `before_id` pages backwards.
    async fn audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditRecord>> {
        let mut query = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            audit_columns!(),
            " FROM audit WHERE TRUE"
        ));
        if let Some(actor) = &filter.actor {
            query.push(" AND actor = ").push_bind(actor.as_str());
        }
        if let Some(user) = &filter.user {
            query.push(" AND user_name = ").push_bind(user.as_str());
        }
        if let Some(action) = filter.action {
            query.push(" AND action = ").push_bind(action.as_str());
        }
        if let Some(since) = filter.since {
            query.push(" AND at >= ").push_bind(stored(since));
        }
        if let Some(until) = filter.until {
            query.push(" AND at < ").push_bind(stored(until));
        }
        if let Some(before_id) = filter.before_id {
            query.push(" AND id < ").push_bind(before_id);
        }
        query
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(page_size(filter.limit));
        let rows = query
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.iter().map(audit_from_row).collect()
    }
}
