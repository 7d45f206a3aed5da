//! The outbox of notifications: notices written in the transaction of their change
//! ([`insert_notice`], called for every audit record), planned into deliveries by one node,
//! and each delivery sent under a claim with a lease. A claim is an `UPDATE` whose condition
//! is checked again on the row it changes, so two nodes never hold the same delivery at once;
//! PostgreSQL also skips rows another node is claiming (`SKIP LOCKED`) instead of waiting.

use super::columns::json_text;
use super::tokens::TOKEN_COLUMNS;
use super::{Arg, Columns, Connection, Driver, SqlStore, Statement};
use crate::paging::page_size;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokengate_core::model::TokenRecord;
use tokengate_core::notices::{
    Channel, Delivery, DeliveryRecord, DeliveryState, Event, Mail, NewDelivery, NewNotice, Outcome,
    StoredNotice,
};
use tokengate_core::store::{Outbox, StoreError, StoreResult};

const NOTICE_COLUMNS: &str = "id, event, at, user_name, token_id, data, mail";

/// Writes `notice` on `connection` (the transaction of its change) unless a notice with its
/// key exists; the rows written (0 or 1).
pub(crate) async fn insert_notice<C: Connection + ?Sized>(
    connection: &mut C,
    notice: &NewNotice,
) -> StoreResult<u64> {
    let mail = match &notice.mail {
        Some(mail) => Some(
            serde_json::to_string(mail).map_err(|error| StoreError::Corrupt(error.to_string()))?,
        ),
        None => None,
    };
    let mut insert = Statement::insert(
        "outbox",
        "event, at, user_name, token_id, data, mail, notice_key",
        [vec![
            Arg::from(notice.event.as_str()),
            Arg::from(notice.at),
            Arg::from(notice.user.as_deref()),
            Arg::from(notice.token_id.as_deref()),
            Arg::from(json_text(&notice.data)?),
            Arg::from(mail),
            Arg::from(notice.key.as_deref()),
        ]],
    );
    insert.push(" ON CONFLICT (notice_key) DO NOTHING");
    connection.execute(insert).await
}

fn notice_from_row(row: &dyn Columns, id_column: &str) -> StoreResult<StoredNotice> {
    let event = row.text("event")?;
    let data = row.text("data")?;
    let mail = match row.optional_text("mail")? {
        Some(mail) => Some(
            serde_json::from_str::<Mail>(&mail)
                .map_err(|error| StoreError::Corrupt(format!("outbox mail: {error}")))?,
        ),
        None => None,
    };
    Ok(StoredNotice {
        id: row.integer(id_column)?,
        event: Event::parse(&event)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown outbox event {event:?}")))?,
        at: row.time("at")?,
        user: row.optional_text("user_name")?,
        token_id: row.optional_text("token_id")?,
        data: serde_json::from_str(&data)
            .map_err(|error| StoreError::Corrupt(format!("outbox data: {error}")))?,
        mail,
    })
}

fn channel_from_row(row: &dyn Columns) -> StoreResult<Channel> {
    let channel = row.text("channel")?;
    Channel::parse(&channel)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown delivery channel {channel:?}")))
}

fn delivery_from_row(row: &dyn Columns) -> StoreResult<Delivery> {
    Ok(Delivery {
        id: row.text("id")?,
        channel: channel_from_row(row)?,
        destination: row.text("destination")?,
        attempts: row.counter("attempts")?,
        created_at: row.time("created_at")?,
        notice: notice_from_row(row, "notice_id")?,
    })
}

fn record_from_row(row: &dyn Columns) -> StoreResult<DeliveryRecord> {
    let event = row.text("event")?;
    let state = row.text("state")?;
    Ok(DeliveryRecord {
        id: row.text("id")?,
        event: Event::parse(&event)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown outbox event {event:?}")))?,
        channel: channel_from_row(row)?,
        destination: row.text("destination")?,
        state: DeliveryState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown delivery state {state:?}")))?,
        attempts: row.counter("attempts")?,
        last_error: row.optional_text("last_error")?,
        created_at: row.time("created_at")?,
        due_at: row.time("due_at")?,
        finished_at: row.optional_time("finished_at")?,
    })
}

fn delivery_values(delivery: &NewDelivery, notice_id: i64, now: DateTime<Utc>) -> Vec<Arg> {
    vec![
        Arg::from(delivery.id.as_str()),
        Arg::from(notice_id),
        Arg::from(delivery.channel.as_str()),
        Arg::from(delivery.destination.as_str()),
        Arg::from(DeliveryState::Pending.as_str()),
        Arg::from(now),
        Arg::from(now),
    ]
}

/// Whether `query` (a `SELECT 1 AS n … LIMIT 1`) finds a row: the cheap look before a write
/// transaction, so an idle outbox never takes SQLite's write lock.
async fn any<D: Driver>(store: &SqlStore<D>, query: Statement) -> StoreResult<bool> {
    Ok(store.one(query, |row| row.integer("n")).await?.is_some())
}

/// A due delivery nobody holds: its condition, with `$N` the time now.
fn due(now: &str) -> String {
    format!(
        "state = 'pending' AND due_at <= {now} AND (claimed_until IS NULL OR claimed_until <= {now})"
    )
}

#[async_trait]
impl<D: Driver> Outbox for SqlStore<D> {
    async fn add_notices(&self, notices: &[NewNotice]) -> StoreResult<u64> {
        if notices.is_empty() {
            return Ok(0);
        }
        let mut transaction = self.driver.begin().await?;
        let mut added = 0;
        for notice in notices {
            added += insert_notice(&mut *transaction, notice).await?;
        }
        D::commit(transaction).await?;
        Ok(added)
    }

    async fn tokens_expiring_between(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<Vec<TokenRecord>> {
        let query = Statement::new(format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE expires_at >= $1 AND expires_at < $2 \
             ORDER BY expires_at, id"
        ));
        self.all(query.bind(from).bind(until), super::tokens::token_from_row)
            .await
    }

    async fn plan_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        plan: &(dyn for<'n> Fn(&'n StoredNotice) -> Vec<NewDelivery> + Send + Sync),
    ) -> StoreResult<u64> {
        let waiting = Statement::new(
            "SELECT CAST(1 AS BIGINT) AS n FROM outbox WHERE planned_at IS NULL LIMIT 1",
        );
        if !any(self, waiting).await? {
            return Ok(0);
        }
        let mut transaction = self.driver.begin().await?;
        let take = Statement::new(format!(
            "UPDATE outbox SET planned_at = $1 WHERE id IN (SELECT id FROM outbox \
             WHERE planned_at IS NULL ORDER BY id LIMIT $2{}) AND planned_at IS NULL \
             RETURNING {NOTICE_COLUMNS}",
            D::SKIP_LOCKED
        ))
        .bind(now)
        .bind(i64::from(limit.max(1)));
        let notices = transaction
            .fetch_all(take, |row| notice_from_row(row, "id"))
            .await?;
        for notice in &notices {
            let deliveries = plan(notice);
            if deliveries.is_empty() {
                continue;
            }
            let insert = Statement::insert(
                "deliveries",
                "id, notice_id, channel, destination, state, created_at, due_at",
                deliveries
                    .iter()
                    .map(|delivery| delivery_values(delivery, notice.id, now)),
            );
            transaction.execute(insert).await?;
        }
        D::commit(transaction).await?;
        Ok(notices.len() as u64)
    }

    async fn claim_delivery(
        &self,
        node: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Option<Delivery>> {
        let waiting = Statement::new(format!(
            "SELECT CAST(1 AS BIGINT) AS n FROM deliveries WHERE {} LIMIT 1",
            due("$1")
        ));
        if !any(self, waiting.bind(now)).await? {
            return Ok(None);
        }
        let mut transaction = self.driver.begin().await?;
        let claim = Statement::new(format!(
            "UPDATE deliveries SET claimed_by = $1, claimed_until = $2, attempts = attempts + 1 \
             WHERE id = (SELECT id FROM deliveries WHERE {due} ORDER BY due_at, id LIMIT 1{skip}) \
             AND {due} RETURNING id",
            due = due("$3"),
            skip = D::SKIP_LOCKED
        ))
        .bind(node)
        .bind(lease_until)
        .bind(now);
        let Some(id) = transaction
            .fetch_optional(claim, |row| row.text("id"))
            .await?
        else {
            return Ok(None);
        };
        let read = Statement::new(
            "SELECT d.id, d.channel, d.destination, d.attempts, d.created_at, \
             n.id AS notice_id, n.event, n.at, n.user_name, n.token_id, n.data, n.mail \
             FROM deliveries d JOIN outbox n ON n.id = d.notice_id WHERE d.id = $1",
        )
        .bind(id);
        let delivery = transaction.fetch_optional(read, delivery_from_row).await?;
        D::commit(transaction).await?;
        Ok(delivery)
    }

    async fn finish_delivery(
        &self,
        id: &str,
        node: &str,
        now: DateTime<Utc>,
        outcome: &Outcome,
    ) -> StoreResult<bool> {
        let (state, due_at, error, finished_at) = match outcome {
            Outcome::Sent => (DeliveryState::Sent, None, None, Some(now)),
            Outcome::Skipped(why) => (DeliveryState::Skipped, None, Some(why), Some(now)),
            Outcome::Retry { at, error } => (DeliveryState::Pending, Some(*at), Some(error), None),
            Outcome::Failed(error) => (DeliveryState::Failed, None, Some(error), Some(now)),
        };
        let update = Statement::new(
            "UPDATE deliveries SET state = $1, due_at = COALESCE($2, due_at), \
             last_error = COALESCE($3, last_error), finished_at = $4, claimed_by = NULL, \
             claimed_until = NULL WHERE id = $5 AND claimed_by = $6",
        )
        .bind(state.as_str())
        .bind(due_at)
        .bind(error.cloned())
        .bind(finished_at)
        .bind(id)
        .bind(node);
        Ok(self.run(update).await? > 0)
    }

    async fn deliveries(
        &self,
        state: DeliveryState,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let query = Statement::new(
            "SELECT d.id, n.event, d.channel, d.destination, d.state, d.attempts, d.last_error, \
             d.created_at, d.due_at, d.finished_at FROM deliveries d \
             JOIN outbox n ON n.id = d.notice_id WHERE d.state = $1 \
             ORDER BY d.created_at DESC, d.id DESC LIMIT $2",
        )
        .bind(state.as_str())
        .bind(page_size(limit));
        self.all(query, record_from_row).await
    }

    async fn count_deliveries(&self) -> StoreResult<Vec<(DeliveryState, u64)>> {
        let query = Statement::new("SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state");
        let rows = self
            .all(query, |row| Ok((row.text("state")?, row.count("n")?)))
            .await?;
        rows.into_iter()
            .map(|(state, count)| {
                DeliveryState::parse(&state)
                    .map(|state| (state, count))
                    .ok_or_else(|| StoreError::Corrupt(format!("unknown delivery state {state:?}")))
            })
            .collect()
    }

    async fn retry_delivery(&self, id: &str, now: DateTime<Utc>) -> StoreResult<bool> {
        let update = Statement::new(
            "UPDATE deliveries SET state = 'pending', attempts = 0, created_at = $1, \
             due_at = $1, finished_at = NULL, claimed_by = NULL, claimed_until = NULL \
             WHERE id = $2 AND state = 'failed'",
        )
        .bind(now)
        .bind(id);
        Ok(self.run(update).await? > 0)
    }

    async fn prune_notices(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let delete = Statement::new(
            "DELETE FROM outbox WHERE at < $1 AND planned_at IS NOT NULL AND NOT EXISTS \
             (SELECT 1 FROM deliveries d WHERE d.notice_id = outbox.id AND d.state = 'pending')",
        )
        .bind(before);
        self.run(delete).await
    }
}
