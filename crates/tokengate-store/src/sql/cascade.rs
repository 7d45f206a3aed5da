//! Tokens made by tokens (SPEC §11: a leaked token cannot outlive its revocation): deleting
//! tokens deletes every token they made (`made_by`), transitively, in the same statement, and
//! a token made by a token is stored only while its maker exists.
//!
//! On PostgreSQL a deletion and such a creation could otherwise pass each other: a child
//! committed after the deletion's snapshot would survive its maker. Both therefore lock the
//! rows of the owners concerned first (a token and its maker always share the owner), so they
//! run one after the other, and each then reads, in a new statement, what the other
//! committed. SQLite's write transaction already holds the database's only write lock.

use super::audit::insert_audit;
use super::{Arg, Connection, Driver, SqlStore, Statement};
use crate::records::with_also_deleted;
use tokengate_core::model::{NewAudit, TokenRecord};
use tokengate_core::store::StoreResult;

/// The tokens a deletion starts from: a condition on `tokens` and the values it binds
/// (`$1`, `$2`, … in order).
pub(crate) struct Seed {
    pub condition: &'static str,
    pub args: Vec<Arg>,
}

impl Seed {
    /// `sql` (which names the condition as `{seed}`, as often as it needs) with the values.
    fn statement(&self, sql: &str) -> Statement {
        let text = sql.replace("{seed}", self.condition);
        self.args
            .iter()
            .cloned()
            .fold(Statement::new(text), Statement::bind)
    }
}

/// One deleted token: its id, its owner, and whether the seed chose it (else its maker was
/// deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Deleted {
    pub id: String,
    pub owner: String,
    pub seed: bool,
}

/// How many of the deleted tokens each owner lost, as a JSON object (`{"alice": 2}`).
pub(crate) fn owners(deleted: &[Deleted]) -> serde_json::Value {
    let mut counts = std::collections::BTreeMap::<&str, u64>::new();
    for token in deleted {
        *counts.entry(&token.owner).or_default() += 1;
    }
    serde_json::json!(counts)
}

/// The ids of the tokens deleted only because their maker was, in order.
pub(crate) fn also_deleted(deleted: &[Deleted]) -> Vec<String> {
    let mut ids: Vec<String> = deleted
        .iter()
        .filter(|token| !token.seed)
        .map(|token| token.id.clone())
        .collect();
    ids.sort_unstable();
    ids
}

/// The seed's tokens and every token made by one of them, transitively, deleted in one
/// statement (`UNION` stops at a cycle, which only a hand-edited database could hold).
const DELETE_WITH_MADE: &str = "WITH RECURSIVE doomed (id) AS (\
     SELECT id FROM tokens WHERE {seed} \
     UNION SELECT tokens.id FROM tokens JOIN doomed ON tokens.made_by = doomed.id) \
     DELETE FROM tokens WHERE id IN (SELECT id FROM doomed) \
     RETURNING id, owner, ({seed}) AS seed";

/// Locks the rows of the users the statement `owners` (`SELECT name FROM users …`) selects
/// until the transaction ends, in name order, where the database locks rows.
async fn lock_owners<D: Driver, C: Connection + ?Sized>(
    connection: &mut C,
    mut owners: Statement,
) -> StoreResult<()> {
    if D::FOR_UPDATE.is_empty() {
        return Ok(());
    }
    owners.push(" ORDER BY name").push(D::FOR_UPDATE);
    connection.fetch_all(owners, |row| row.text("name")).await?;
    Ok(())
}

impl<D: Driver> SqlStore<D> {
    /// Deletes the seed's tokens and every token made by one of them, transitively, and writes
    /// the record `audit` makes of what was deleted, its details gaining `"also_deleted"` (the
    /// ids the seed did not choose, in order); one transaction. Returns what was deleted.
    pub(crate) async fn delete_with_made(
        &self,
        seed: &Seed,
        audit: impl FnOnce(&[Deleted]) -> Option<NewAudit> + Send,
    ) -> StoreResult<Vec<Deleted>> {
        let mut transaction = self.driver.begin().await?;
        let owners = seed.statement(
            "SELECT name FROM users WHERE name IN (SELECT owner FROM tokens WHERE {seed})",
        );
        lock_owners::<D, _>(&mut *transaction, owners).await?;
        let deleted = transaction
            .fetch_all(seed.statement(DELETE_WITH_MADE), |row| {
                Ok(Deleted {
                    id: row.text("id")?,
                    owner: row.text("owner")?,
                    seed: row.flag("seed")?,
                })
            })
            .await?;
        if let Some(record) = audit(&deleted) {
            let record = NewAudit {
                details: with_also_deleted(&record.details, &also_deleted(&deleted)),
                ..record
            };
            insert_audit::<D, _>(&mut *transaction, &record).await?;
        }
        D::commit(transaction).await?;
        Ok(deleted)
    }

    /// Stores `insert` (the new `token`) and its record `audit` in one transaction; a token
    /// made by a token only while its maker still exists (else `false`, nothing written).
    pub(crate) async fn insert_while_maker_exists(
        &self,
        token: &TokenRecord,
        insert: Statement,
        audit: &NewAudit,
    ) -> StoreResult<bool> {
        let mut transaction = self.driver.begin().await?;
        if let Some(maker) = &token.made_by {
            let owner = Statement::new("SELECT name FROM users WHERE name = $1").bind(&token.owner);
            lock_owners::<D, _>(&mut *transaction, owner).await?;
            let query = Statement::new("SELECT id FROM tokens WHERE id = $1").bind(maker);
            if transaction
                .fetch_optional(query, |row| row.text("id"))
                .await?
                .is_none()
            {
                // Dropped, the transaction rolls back; it has written nothing.
                return Ok(false);
            }
        }
        transaction.execute(insert).await?;
        insert_audit::<D, _>(&mut *transaction, audit).await?;
        D::commit(transaction).await?;
        Ok(true)
    }
}
