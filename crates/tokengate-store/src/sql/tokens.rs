//! Tokens: lookup by digest through the unique index, filtered and paged listing, creation,
//! rename and deletion each with its audit record in the same transaction (deletion takes the
//! tokens made by the deleted ones along, see `cascade`), and batched last-use updates. Only
//! digests are stored, never a secret.
//!
//! A new column: add it to the migrations, [`TOKEN_COLUMNS`], [`token_values`] (and
//! [`TOKEN_VALUES_COLUMNS`]) and [`token_from_row`]; creation, export and import follow.

use super::audit::with_audit;
use super::cascade::{Deleted, Seed, also_deleted, owners};
use super::{Arg, Columns, Connection, Driver, SqlStore, Statement};
use crate::paging::page_size;
use crate::records::{folded, latest_uses, with_count};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokengate_core::model::{NewAudit, TokenFilter, TokenGrant, TokenRecord, TokenUse};
use tokengate_core::restrictions::Restrictions;
use tokengate_core::store::{Rotation, StoreError, StoreResult, TokenStore};
use tokengate_core::token::TokenDigest;

macro_rules! token_columns {
    () => {
        "id, owner, name, digest, hint, created_at, created_by, expires_at, last_used_at, \
         last_used_ip, restrictions, made_by, rotated_at, rotated_from"
    };
}

/// The columns a token is read from.
pub(crate) const TOKEN_COLUMNS: &str = token_columns!();

/// The columns [`token_values`] fills, in its order.
pub(crate) const TOKEN_VALUES_COLUMNS: &str = "id, owner, name, name_folded, digest, hint, \
     created_at, created_by, expires_at, last_used_at, last_used_ip, restrictions, made_by, \
     rotated_at, rotated_from";

/// The hot-path lookup, run by SQLite's fast read path and by the pool alike.
pub(crate) const TOKEN_BY_DIGEST: &str = concat!(
    "SELECT ",
    token_columns!(),
    " FROM tokens WHERE digest = $1"
);

/// Token uses written per statement (three values each).
const USES_PER_STATEMENT: usize = 500;

/// A token as stored, last use included (creation and bulk import).
pub(crate) fn token_values(token: &TokenRecord) -> Vec<Arg> {
    let restrictions = restrictions_text(&token.restrictions);
    vec![
        Arg::from(&token.id),
        Arg::from(&token.owner),
        Arg::from(&token.name),
        Arg::from(folded(&token.name)),
        Arg::from(token.digest.as_bytes()),
        Arg::from(&token.hint),
        Arg::from(token.created_at),
        Arg::from(&token.created_by),
        Arg::from(token.expires_at),
        Arg::from(token.last_used_at),
        Arg::from(token.last_used_ip.as_deref()),
        Arg::from(restrictions),
        Arg::from(token.made_by.as_deref()),
        Arg::from(token.rotated_at),
        Arg::from(token.rotated_from.as_deref()),
    ]
}

/// The stored form of restrictions: JSON, or NULL for none.
pub(crate) fn restrictions_text(restrictions: &Restrictions) -> Option<String> {
    (!restrictions.is_unrestricted())
        .then(|| serde_json::to_string(restrictions).ok())
        .flatten()
}

fn restrictions_from(row: &dyn Columns) -> StoreResult<Restrictions> {
    match row.optional_text("restrictions")? {
        None => Ok(Restrictions::default()),
        Some(text) => serde_json::from_str(&text)
            .map_err(|error| StoreError::Corrupt(format!("token restrictions: {error}"))),
    }
}

/// A token row read back, from any driver.
pub(crate) fn token_from_row(row: &dyn Columns) -> StoreResult<TokenRecord> {
    Ok(TokenRecord {
        restrictions: restrictions_from(row)?,
        id: row.text("id")?,
        owner: row.text("owner")?,
        name: row.text("name")?,
        digest: TokenDigest::from_slice(&row.bytes("digest")?)
            .ok_or_else(|| StoreError::Corrupt("token digest is not 32 bytes".into()))?,
        hint: row.text("hint")?,
        created_at: row.time("created_at")?,
        created_by: row.text("created_by")?,
        expires_at: row.optional_time("expires_at")?,
        last_used_at: row.optional_time("last_used_at")?,
        last_used_ip: row.optional_text("last_used_ip")?,
        made_by: row.optional_text("made_by")?,
        rotated_at: row.optional_time("rotated_at")?,
        rotated_from: row.optional_text("rotated_from")?,
    })
}

fn grant_from_row(row: &dyn Columns) -> StoreResult<TokenGrant> {
    let restrictions = restrictions_from(row)?;
    Ok(TokenGrant {
        id: row.text("id")?,
        owner: row.text("owner")?,
        expires_at: row.optional_time("expires_at")?,
        restrictions: (!restrictions.is_unrestricted()).then(|| Box::new(restrictions)),
        grace_until: None,
    })
}

fn previous_grant_from_row(row: &dyn Columns) -> StoreResult<TokenGrant> {
    Ok(TokenGrant {
        grace_until: Some(row.time("previous_until")?),
        ..grant_from_row(row)?
    })
}

/// A rotated token found by its old secret (the grant carries the grace's end).
const GRANT_BY_PREVIOUS_DIGEST: &str = "SELECT id, owner, expires_at, restrictions, previous_until \
     FROM tokens WHERE previous_digest = $1";

/// The listing query for `filter`: every condition optional, ordered by id, one page.
fn tokens_query(filter: &TokenFilter, contains: &str) -> Statement {
    let mut query = Statement::new(concat!(
        "SELECT ",
        token_columns!(),
        " FROM tokens WHERE 1 = 1"
    ));
    if let Some(owner) = &filter.owner {
        query.push(" AND owner = ").push_bind(owner);
    }
    if let Some(name) = &filter.name {
        // Not LIKE: the text is matched literally, `%` and `_` included.
        query.push(" AND ").push(contains).push("(name_folded, ");
        query.push_bind(folded(name)).push(") > 0");
    }
    if let Some(expires_before) = filter.expires_before {
        query.push(" AND expires_at IS NOT NULL AND expires_at < ");
        query.push_bind(expires_before);
    }
    if let Some(unused_since) = filter.unused_since {
        query.push(" AND (last_used_at IS NULL OR last_used_at < ");
        query.push_bind(unused_since).push(")");
    }
    if let Some(after_id) = &filter.after_id {
        query.push(" AND id > ").push_bind(after_id);
    }
    query.push(" ORDER BY id LIMIT ");
    query.push_bind(page_size(filter.limit));
    query
}

/// One UPDATE for a batch of last uses (ids in order, so two nodes flushing at once lock
/// rows in the same order). A use older than the one already stored (another node's batch)
/// is ignored.
fn uses_update<'a>(uses: impl Iterator<Item = (&'a str, &'a TokenUse)>) -> Statement {
    let mut update =
        Statement::new("UPDATE tokens SET last_used_at = batch.at, last_used_ip = batch.ip FROM (");
    for (index, (token_id, token_use)) in uses.enumerate() {
        update.push(if index == 0 {
            "SELECT "
        } else {
            " UNION ALL SELECT "
        });
        update.push_bind(token_id).push(" AS id, ");
        update.push_bind(token_use.at).push(" AS at, ");
        update.push_bind(&token_use.ip).push(" AS ip");
    }
    update.push(
        ") AS batch WHERE tokens.id = batch.id \
         AND (tokens.last_used_at IS NULL OR tokens.last_used_at <= batch.at)",
    );
    update
}

#[async_trait]
impl<D: Driver> TokenStore for SqlStore<D> {
    async fn token_by_digest(&self, digest: &TokenDigest) -> StoreResult<Option<TokenRecord>> {
        let key = Arg::from(digest.as_bytes());
        self.lookup(TOKEN_BY_DIGEST, key, token_from_row).await
    }

    async fn token_grant_by_digest(&self, digest: &TokenDigest) -> StoreResult<Option<TokenGrant>> {
        let key = Arg::from(digest.as_bytes());
        if let Some(grant) = self.lookup(D::GRANT_BY_DIGEST, key, grant_from_row).await? {
            return Ok(Some(grant));
        }
        // Only a miss pays for the second lookup: an old secret within its grace.
        let key = Arg::from(digest.as_bytes());
        self.lookup(GRANT_BY_PREVIOUS_DIGEST, key, previous_grant_from_row)
            .await
    }

    async fn rotate_token(
        &self,
        id: &str,
        rotation: &Rotation,
        audit: &NewAudit,
    ) -> StoreResult<bool> {
        // `rotated_from` and `previous_digest` read the row as it was: the secret replaced.
        let update = Statement::new(
            "UPDATE tokens SET previous_digest = CASE WHEN $1 THEN digest ELSE NULL END, \
             previous_until = $2, digest = $3, hint = $4, expires_at = $5, \
             rotated_from = hint, rotated_at = $7 WHERE id = $6",
        )
        .bind(rotation.grace_until.is_some())
        .bind(rotation.grace_until)
        .bind(rotation.digest.as_bytes())
        .bind(rotation.hint.as_str())
        .bind(rotation.expires_at)
        .bind(id)
        .bind(rotation.at)
        .writes("token");
        Ok(self.write(update, with_audit(audit)).await? > 0)
    }

    async fn token(&self, id: &str) -> StoreResult<Option<TokenRecord>> {
        let query = Statement::new(concat!(
            "SELECT ",
            token_columns!(),
            " FROM tokens WHERE id = $1"
        ));
        self.one(query.bind(id), token_from_row).await
    }

    async fn tokens(&self, filter: &TokenFilter) -> StoreResult<Vec<TokenRecord>> {
        self.all(tokens_query(filter, D::CONTAINS), token_from_row)
            .await
    }

    async fn create_token(&self, token: &TokenRecord, audit: &NewAudit) -> StoreResult<bool> {
        let insert = Statement::insert("tokens", TOKEN_VALUES_COLUMNS, [token_values(token)]);
        self.insert_while_maker_exists(token, insert.writes("token"), audit)
            .await
    }

    async fn rename_token(&self, id: &str, name: &str, audit: &NewAudit) -> StoreResult<bool> {
        let update = Statement::new("UPDATE tokens SET name = $1, name_folded = $2 WHERE id = $3")
            .bind(name)
            .bind(folded(name))
            .bind(id);
        Ok(self.write(update, with_audit(audit)).await? > 0)
    }

    async fn restrict_token(
        &self,
        id: &str,
        restrictions: &Restrictions,
        audit: &NewAudit,
    ) -> StoreResult<bool> {
        let update = Statement::new("UPDATE tokens SET restrictions = $1 WHERE id = $2")
            .bind(restrictions_text(restrictions))
            .bind(id);
        Ok(self.write(update, with_audit(audit)).await? > 0)
    }

    async fn delete_tokens_created_before(
        &self,
        before: DateTime<Utc>,
        owner: Option<&str>,
        audit: &NewAudit,
    ) -> StoreResult<u64> {
        let seed = match owner {
            Some(owner) => Seed {
                condition: "created_at < $1 AND owner = $2",
                args: vec![Arg::from(before), Arg::from(owner)],
            },
            None => Seed {
                condition: "created_at < $1",
                args: vec![Arg::from(before)],
            },
        };
        // Recorded even when nothing matched: pressing the incident button is itself news.
        // For everyone, the record names each owner's count: each owner is told (SPEC §12).
        let deleted = self
            .delete_with_made(&seed, |deleted| {
                let mut record = counted(audit)(deleted.len() as u64)?;
                if owner.is_none()
                    && let Some(details) = record.details.as_object_mut()
                {
                    details.insert("owners".into(), owners(deleted));
                }
                Some(record)
            })
            .await?;
        Ok(deleted.len() as u64)
    }

    async fn delete_token(&self, id: &str, audit: &NewAudit) -> StoreResult<Option<Vec<String>>> {
        let seed = Seed {
            condition: "id = $1",
            args: vec![Arg::from(id)],
        };
        let found = |deleted: &[Deleted]| deleted.iter().any(|token| token.seed);
        let deleted = self
            .delete_with_made(&seed, |deleted| found(deleted).then(|| audit.clone()))
            .await?;
        Ok(found(&deleted).then(|| also_deleted(&deleted)))
    }

    async fn delete_tokens_of(&self, owner: &str, audit: &NewAudit) -> StoreResult<u64> {
        let delete = Statement::new("DELETE FROM tokens WHERE owner = $1").bind(owner);
        self.write(delete, counted(audit)).await
    }

    async fn count_tokens_expiring_after(&self, latest: DateTime<Utc>) -> StoreResult<u64> {
        let query = Statement::new(
            "SELECT COUNT(*) AS n FROM tokens WHERE expires_at IS NULL OR expires_at > $1",
        );
        let count = self.one(query.bind(latest), |row| row.count("n")).await?;
        Ok(count.unwrap_or(0))
    }

    async fn clamp_token_expiry(
        &self,
        latest: DateTime<Utc>,
        audit: &NewAudit,
    ) -> StoreResult<u64> {
        let update = Statement::new(
            "UPDATE tokens SET expires_at = $1 WHERE expires_at IS NULL OR expires_at > $1",
        );
        self.write(update.bind(latest), counted(audit)).await
    }

    async fn record_token_uses(&self, uses: &[TokenUse]) -> StoreResult<()> {
        if uses.is_empty() {
            return Ok(());
        }
        let latest: Vec<_> = latest_uses(uses).into_iter().collect();
        let mut transaction = self.driver.begin().await?;
        for batch in latest.chunks(USES_PER_STATEMENT) {
            transaction
                .execute(uses_update(batch.iter().copied()))
                .await?;
        }
        D::commit(transaction).await
    }
}

/// `audit` with the number of rows changed merged into its details, always written.
fn counted(audit: &NewAudit) -> impl FnOnce(u64) -> Option<NewAudit> + Send + '_ {
    move |count| {
        Some(NewAudit {
            details: with_count(&audit.details, count),
            ..audit.clone()
        })
    }
}
