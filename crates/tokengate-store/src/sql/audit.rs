//! The audit log: writing a record inside the transaction of the change it records (its
//! content comes from core: the store adds nothing but the `"count"` of a bulk change),
//! together with the notice it makes (the outbox), and reading records newest first with
//! filters and a `before_id` cursor. Records are only ever added.

use super::columns::json_text;
use super::{Arg, Columns, Connection, Driver, SqlStore, Statement};
use crate::paging::page_size;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokengate_core::model::{AuditAction, AuditFilter, AuditRecord, NewAudit};
use tokengate_core::notices;
use tokengate_core::store::{AuditLog, StoreError, StoreResult};

/// The columns an audit record is read from, and written from ([`record_values`]).
pub(crate) const AUDIT_COLUMNS: &str =
    "id, at, actor, action, user_name, token_id, details, ip, request_id, prev_hash, hash";

/// Points the audit chain's head at the newest record (after emptying or importing a
/// database: the drivers' `CLEAR` and `FINISH_IMPORT`).
pub(crate) const FINISH_CHAIN: &str = "UPDATE audit_chain SET \
     last_id = COALESCE((SELECT MAX(id) FROM audit), 0), \
     last_hash = COALESCE((SELECT hash FROM audit ORDER BY id DESC LIMIT 1), \
     '0000000000000000000000000000000000000000000000000000000000000000') WHERE id = 1";

/// The chain head, locked until the transaction ends: appends wait for each other, on every
/// node, so each record follows the one before it.
async fn lock_head<D: Driver, C: Connection + ?Sized>(
    connection: &mut C,
) -> StoreResult<(i64, String)> {
    let query = Statement::new(format!(
        "SELECT last_id, last_hash FROM audit_chain WHERE id = 1{}",
        D::FOR_UPDATE
    ));
    connection
        .fetch_optional(query, |row| {
            Ok((row.integer("last_id")?, row.text("last_hash")?))
        })
        .await?
        .ok_or_else(|| StoreError::Corrupt("the audit chain head is missing".into()))
}

async fn set_head<C: Connection + ?Sized>(
    connection: &mut C,
    id: i64,
    hash: &str,
) -> StoreResult<()> {
    let update = Statement::new("UPDATE audit_chain SET last_id = $1, last_hash = $2 WHERE id = 1")
        .bind(id)
        .bind(hash);
    connection.execute(update).await?;
    Ok(())
}

/// Writes `audit` on `connection` — always the transaction of the change it records —
/// chained after the newest record, and the notice its change makes, if any (the outbox,
/// SPEC §12).
pub(crate) async fn insert_audit<D: Driver, C: Connection + ?Sized>(
    connection: &mut C,
    audit: &NewAudit,
) -> StoreResult<()> {
    let (last_id, last_hash) = lock_head::<D, C>(connection).await?;
    let record = AuditRecord::chained(last_id + 1, audit, &last_hash);
    let insert = Statement::insert("audit", AUDIT_COLUMNS, [record_values(&record)?]);
    connection.execute(insert).await?;
    set_head(connection, record.id, &record.hash).await?;
    for notice in tokengate_core::notices::notices_of(audit) {
        super::outbox::insert_notice(connection, &notice).await?;
    }
    Ok(())
}

/// Chains the records written before the log had a chain (schema version 9), oldest first,
/// after the chain's head; run when a database is opened. Nothing to do (and no write lock
/// taken) when every record has its hash.
pub(crate) async fn chain_unchained<D: Driver>(store: &SqlStore<D>) -> StoreResult<u64> {
    let waiting = Statement::new("SELECT COUNT(*) AS n FROM audit WHERE hash IS NULL");
    if store.one(waiting, |row| row.count("n")).await?.unwrap_or(0) == 0 {
        return Ok(0);
    }
    let mut transaction = store.driver.begin().await?;
    let (mut last_id, mut last_hash) = lock_head::<D, _>(&mut *transaction).await?;
    let query = Statement::new(format!(
        "SELECT {AUDIT_COLUMNS} FROM audit WHERE hash IS NULL ORDER BY id"
    ));
    let records = transaction.fetch_all(query, audit_from_row).await?;
    for mut record in records {
        record.prev_hash = last_hash.clone();
        record.hash = tokengate_core::chain::chain_hash(&last_hash, &record);
        let update = Statement::new("UPDATE audit SET prev_hash = $1, hash = $2 WHERE id = $3")
            .bind(record.prev_hash.as_str())
            .bind(record.hash.as_str())
            .bind(record.id);
        transaction.execute(update).await?;
        (last_id, last_hash) = (record.id, record.hash);
    }
    set_head(&mut *transaction, last_id, &last_hash).await?;
    D::commit(transaction).await?;
    Ok(u64::try_from(last_id).unwrap_or(0))
}

/// `audit`, whatever the change did (a creation or a save: one row, or an error).
pub(crate) fn always(audit: &NewAudit) -> impl FnOnce(u64) -> Option<NewAudit> + Send + '_ {
    move |_| Some(audit.clone())
}

/// `audit` when the change touched a row; nothing when it changed nothing.
pub(crate) fn with_audit(audit: &NewAudit) -> impl FnOnce(u64) -> Option<NewAudit> + Send + '_ {
    move |changed| (changed > 0).then(|| audit.clone())
}

/// An audit record as stored, id and hashes included.
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
        Arg::from(record.prev_hash.as_str()),
        Arg::from(record.hash.as_str()),
    ])
}

/// An audit record as one element of the JSON array [`Driver::INSERT_AUDIT_ROWS`] reads.
#[derive(serde::Serialize)]
struct AuditRow {
    id: i64,
    at_ms: i64,
    actor: String,
    action: &'static str,
    user: Option<String>,
    token_id: Option<String>,
    /// The details as stored: JSON text.
    details: String,
    ip: Option<String>,
    request_id: Option<String>,
    prev_hash: String,
    hash: String,
}

impl AuditRow {
    fn of(record: AuditRecord) -> StoreResult<Self> {
        Ok(Self {
            id: record.id,
            at_ms: record.at.timestamp_millis(),
            details: json_text(&record.details)?,
            actor: record.actor,
            action: record.action.as_str(),
            user: record.user,
            token_id: record.token_id,
            ip: record.ip,
            request_id: record.request_id,
            prev_hash: record.prev_hash,
            hash: record.hash,
        })
    }
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
        prev_hash: row.optional_text("prev_hash")?.unwrap_or_default(),
        hash: row.optional_text("hash")?.unwrap_or_default(),
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

    async fn append_audit(&self, records: &[NewAudit]) -> StoreResult<()> {
        if records.is_empty() {
            return Ok(());
        }
        let notices = records
            .iter()
            .any(|audit| !notices::notices_of(audit).is_empty());
        if !notices && let Some(appended) = self.driver.fast_append(records).await {
            return appended;
        }
        // One head lock, the records chained in memory, and one statement with one parameter:
        // authentication events arrive by the thousand, and a statement per record (or a
        // parameter per value) costs more than the rest of the write.
        let mut transaction = self.driver.begin().await?;
        let (mut last_id, mut last_hash) = lock_head::<D, _>(&mut *transaction).await?;
        let mut rows = Vec::with_capacity(records.len());
        for audit in records {
            let record = AuditRecord::chained(last_id + 1, audit, &last_hash);
            rows.push(AuditRow::of(record)?);
            last_id = rows.last().map_or(last_id, |row| row.id);
            last_hash = rows.last().map_or(last_hash, |row| row.hash.clone());
        }
        let rows = serde_json::to_string(&rows)
            .map_err(|error| StoreError::Corrupt(format!("audit rows: {error}")))?;
        transaction
            .execute(Statement::new(D::INSERT_AUDIT_ROWS).bind(rows))
            .await?;
        set_head(&mut *transaction, last_id, &last_hash).await?;
        for audit in records {
            for notice in notices::notices_of(audit) {
                super::outbox::insert_notice(&mut *transaction, &notice).await?;
            }
        }
        D::commit(transaction).await
    }

    async fn audit_head(&self) -> StoreResult<Option<(i64, String)>> {
        let query = Statement::new("SELECT last_id, last_hash FROM audit_chain WHERE id = 1");
        let head = self
            .one(query, |row| {
                Ok((row.integer("last_id")?, row.text("last_hash")?))
            })
            .await?;
        Ok(head.filter(|(id, _)| *id > 0))
    }

    async fn audit_between(
        &self,
        after_id: i64,
        until_id: i64,
        limit: u32,
    ) -> StoreResult<Vec<AuditRecord>> {
        let query = Statement::new(format!(
            "SELECT {AUDIT_COLUMNS} FROM audit WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3"
        ))
        .bind(after_id)
        .bind(until_id)
        .bind(i64::from(limit.max(1)));
        self.all(query, audit_from_row).await
    }

    async fn prune_audit(&self, before: DateTime<Utc>, audit: &NewAudit) -> StoreResult<u64> {
        let mut transaction = self.driver.begin().await?;
        lock_head::<D, _>(&mut *transaction).await?;
        let last =
            Statement::new("SELECT id, hash FROM audit WHERE at < $1 ORDER BY id DESC LIMIT 1")
                .bind(before);
        let Some((last_id, last_hash)) = transaction
            .fetch_optional(last, |row| Ok((row.integer("id")?, row.text("hash")?)))
            .await?
        else {
            return Ok(0);
        };
        let delete = Statement::new("DELETE FROM audit WHERE id <= $1").bind(last_id);
        let count = transaction.execute(delete).await?;
        let mut details = audit.details.clone();
        if let Some(object) = details.as_object_mut() {
            object.insert("count".into(), count.into());
            object.insert("last_pruned_id".into(), last_id.into());
            object.insert("last_pruned_hash".into(), last_hash.into());
        }
        let record = NewAudit {
            details,
            ..audit.clone()
        };
        insert_audit::<D, _>(&mut *transaction, &record).await?;
        D::commit(transaction).await?;
        Ok(count)
    }
}
