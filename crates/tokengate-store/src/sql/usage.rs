//! Usage counts (SPEC §13): one row per UTC day, user, token, client address, via and route,
//! added to by every node's minute flush (`INSERT … ON CONFLICT … DO UPDATE`, the same text
//! on both backends) and pruned after 90 days. Days are stored as `YYYY-MM-DD` text, a
//! missing token or route as `''` (so the key has no NULLs). Not audited, not part of the
//! change counter.

use super::{Arg, Columns, Connection, Driver, SqlStore, Statement, corrupt};
use async_trait::async_trait;
use chrono::NaiveDate;
use std::collections::HashMap;
use std::net::IpAddr;
use tokengate_core::Via;
use tokengate_core::store::{StoreResult, UsageStore};
use tokengate_core::usage::{DayUsage, UsageFilter, UsageRow, via_from_str};

/// Rows per INSERT: seven values each, far below either backend's limit on placeholders.
const ROWS_PER_STATEMENT: usize = 200;
const DAY_FORMAT: &str = "%Y-%m-%d";
const KEY_COLUMNS: &str = "user_name, token_id, address, via, route";

fn day_text(day: NaiveDate) -> String {
    day.format(DAY_FORMAT).to_string()
}

/// Addresses are stored in their canonical text (an IPv4-mapped IPv6 address as IPv4).
fn address_text(address: IpAddr) -> String {
    address.to_canonical().to_string()
}

fn read_day(row: &dyn Columns, name: &str) -> StoreResult<NaiveDate> {
    let text = row.text(name)?;
    NaiveDate::parse_from_str(&text, DAY_FORMAT).map_err(|error| corrupt(name, error))
}

fn read_via(row: &dyn Columns) -> StoreResult<Via> {
    let text = row.text("via")?;
    via_from_str(&text).ok_or_else(|| corrupt("via", format!("unknown via {text:?}")))
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

fn usage_from_row(row: &dyn Columns) -> StoreResult<UsageRow> {
    let address = row.text("address")?;
    Ok(UsageRow {
        day: read_day(row, "day")?,
        user: row.text("user_name")?,
        token_id: non_empty(row.text("token_id")?),
        address: address.parse().map_err(|error| corrupt("address", error))?,
        via: read_via(row)?,
        route: non_empty(row.text("route")?),
        count: row.count("count")?,
    })
}

fn day_usage_from_row(row: &dyn Columns) -> StoreResult<DayUsage> {
    Ok(DayUsage {
        day: read_day(row, "day")?,
        via: read_via(row)?,
        count: row.count("count")?,
    })
}

/// A row's key as stored, and its count.
type Keyed = ([String; 6], i64);

/// The rows with one entry per key (a statement may not touch a row twice), counts summed.
fn merged(rows: &[UsageRow]) -> Vec<Keyed> {
    let mut counts: HashMap<[String; 6], i64> = HashMap::with_capacity(rows.len());
    for row in rows {
        let key = [
            day_text(row.day),
            row.user.clone(),
            row.token_id.clone().unwrap_or_default(),
            address_text(row.address),
            row.via.as_str().to_owned(),
            row.route.clone().unwrap_or_default(),
        ];
        let count = counts.entry(key).or_insert(0);
        *count = count.saturating_add(i64::try_from(row.count).unwrap_or(i64::MAX));
    }
    counts.into_iter().collect()
}

fn upsert(batch: &[Keyed]) -> Statement {
    let rows = batch.iter().map(|(key, count)| {
        let mut values: Vec<Arg> = key.iter().map(Arg::from).collect();
        values.push(Arg::from(*count));
        values
    });
    let mut statement = Statement::insert("usage", &format!("day, {KEY_COLUMNS}, count"), rows);
    statement.push(&format!(
        " ON CONFLICT (day, {KEY_COLUMNS}) DO UPDATE SET count = usage.count + excluded.count"
    ));
    statement
}

fn usage_query(filter: &UsageFilter) -> Statement {
    let mut query = Statement::new(if filter.summed {
        format!("SELECT MAX(day) AS day, {KEY_COLUMNS}, CAST(SUM(count) AS BIGINT) AS count")
    } else {
        format!("SELECT day, {KEY_COLUMNS}, count")
    });
    query.push(" FROM usage WHERE day >= ");
    query.push_bind(day_text(filter.since));
    if let Some(token_id) = &filter.token_id {
        query.push(" AND token_id = ").push_bind(token_id);
    }
    if let Some(user) = &filter.user {
        query.push(" AND user_name = ").push_bind(user);
    }
    if filter.summed {
        query.push(&format!(" GROUP BY {KEY_COLUMNS} ORDER BY {KEY_COLUMNS}"));
    } else {
        query.push(&format!(" ORDER BY day, {KEY_COLUMNS}"));
    }
    query
}

#[async_trait]
impl<D: Driver> UsageStore for SqlStore<D> {
    async fn add_usage(&self, rows: &[UsageRow]) -> StoreResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut keyed = merged(rows);
        // The same order on every node: concurrent flushes lock rows in one order.
        keyed.sort_unstable();
        let mut transaction = self.driver.begin().await?;
        for batch in keyed.chunks(ROWS_PER_STATEMENT) {
            transaction.execute(upsert(batch)).await?;
        }
        D::commit(transaction).await
    }

    async fn usage(&self, filter: &UsageFilter) -> StoreResult<Vec<UsageRow>> {
        self.all(usage_query(filter), usage_from_row).await
    }

    async fn usage_per_day(&self, since: NaiveDate) -> StoreResult<Vec<DayUsage>> {
        let query = Statement::new(
            "SELECT day, via, CAST(SUM(count) AS BIGINT) AS count FROM usage \
             WHERE day >= $1 GROUP BY day, via ORDER BY day, via",
        )
        .bind(day_text(since));
        self.all(query, day_usage_from_row).await
    }

    async fn prune_usage(&self, before: NaiveDate) -> StoreResult<u64> {
        self.run(Statement::new("DELETE FROM usage WHERE day < $1").bind(day_text(before)))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(count: u64) -> UsageRow {
        UsageRow {
            day: NaiveDate::from_ymd_opt(2027, 3, 1).expect("day"),
            user: "alice".into(),
            token_id: None,
            address: "::ffff:10.0.0.1".parse().expect("address"),
            via: Via::Password,
            route: None,
            count,
        }
    }

    #[test]
    fn rows_of_one_key_are_merged_and_keys_have_no_nulls() {
        let merged = merged(&[row(2), row(3)]);
        assert_eq!(
            merged,
            vec![(
                [
                    "2027-03-01".to_owned(),
                    "alice".into(),
                    String::new(),
                    "10.0.0.1".into(),
                    "password".into(),
                    String::new(),
                ],
                5
            )]
        );
    }
}
