//! The audit log: writing a record inside the transaction of the change it records (its
//! content comes from core: the store adds nothing but the `"count"` of a bulk change),
//! together with the notice it makes (the outbox), and reading records newest first with
//! filters and a `before_id` cursor. Records are only ever added.

use super::columns::json_text;
use super::{Arg, Columns, Connection, Driver, SqlStore, Statement};
use crate::paging::page_size;
use async_trait::async_trait;
use tokengate_core::model::{AuditAction, AuditFilter, AuditRecord, NewAudit};
use tokengate_core::store::{AuditLog, StoreError, StoreResult};

/// The columns an audit record is read from, and written from on import ([`record_values`]).
pub(crate) const AUDIT_COLUMNS: &str =
    "id, at, actor, action, user_name, token_id, details, ip, request_id";

/// Writes `audit` on `connection` — always the transaction of the change it records — and
/// the notice its change makes, if any (the outbox, SPEC §12).
pub(crate) async fn insert_audit<C: Connection + ?Sized>(
    connection: &mut C,
    audit: &NewAudit,
) -> StoreResult<()> {
    let insert = Statement::insert(
        "audit",
        "at, actor, action, user_name, token_id, details, ip, request_id",
        [vec![
            Arg::from(audit.at),
            Arg::from(&audit.actor),
            Arg::from(audit.action.as_str()),
            Arg::from(audit.user.as_deref()),
            Arg::from(audit.token_id.as_deref()),
            Arg::from(json_text(&audit.details)?),
            Arg::from(audit.ip.as_deref()),
            Arg::from(audit.request_id.as_deref()),
        ]],
    );
    connection.execute(insert).await?;
    if let Some(notice) = tokengate_core::notices::of_audit(audit) {
        super::outbox::insert_notice(connection, &notice).await?;
    }
    Ok(())
}

/// `audit`, whatever the change did (a creation or a save: one row, or an error).
pub(crate) fn always(audit: &NewAudit) -> impl FnOnce(u64) -> Option<NewAudit> + Send + '_ {
    move |_| Some(audit.clone())
}

/// `audit` when the change touched a row; nothing when it changed nothing.
pub(crate) fn with_audit(audit: &NewAudit) -> impl FnOnce(u64) -> Option<NewAudit> + Send + '_ {
    move |changed| (changed > 0).then(|| audit.clone())
}

/// An audit record as stored, id included (bulk import).
pub(crate) fn record_values(record: &AuditRecord) -> StoreResult<Vec<Arg>> {
    Ok(vec![
        Arg::from(record.id),
        Arg::from(record.at),
        Arg::from(&record.actor),
        Arg::from(record.action.as_str()),
        Arg::from(record.user.as_deref()),
        Arg::from(record.token_id.as_deref()),
        Arg::from(json_text(&record.details)?),
        Arg::from(record.ip.as_deref()),
        Arg::from(record.request_id.as_deref()),
    ])
}

/// An audit row read back, from any driver.
pub(crate) fn audit_from_row(row: &dyn Columns) -> StoreResult<AuditRecord> {
    let action = row.text("action")?;
    let details = row.text("details")?;
    Ok(AuditRecord {
        id: row.integer("id")?,
        at: row.time("at")?,
        actor: row.text("actor")?,
        action: AuditAction::parse(&action)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown audit action {action:?}")))?,
        user: row.optional_text("user_name")?,
        token_id: row.optional_text("token_id")?,
        details: serde_json::from_str(&details)
            .map_err(|error| StoreError::Corrupt(format!("audit details: {error}")))?,
        ip: row.optional_text("ip")?,
        request_id: row.optional_text("request_id")?,
    })
}

#[async_trait]
impl<D: Driver> AuditLog for SqlStore<D> {
    /// Newest first. `since` is inclusive, `until` exclusive; `before_id` pages backwards.
    async fn audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditRecord>> {
        let mut query = Statement::new(format!("SELECT {AUDIT_COLUMNS} FROM audit WHERE 1 = 1"));
        if let Some(actor) = &filter.actor {
            query.push(" AND actor = ").push_bind(actor);
        }
        if let Some(user) = &filter.user {
            query.push(" AND user_name = ").push_bind(user);
        }
        if let Some(action) = filter.action {
            query.push(" AND action = ").push_bind(action.as_str());
        }
        if let Some(since) = filter.since {
            query.push(" AND at >= ").push_bind(since);
        }
        if let Some(until) = filter.until {
            query.push(" AND at < ").push_bind(until);
        }
        if let Some(before_id) = filter.before_id {
            query.push(" AND id < ").push_bind(before_id);
        }
        query.push(" ORDER BY id DESC LIMIT ");
        query.push_bind(page_size(filter.limit));
        self.all(query, audit_from_row).await
    }
}
