//! Tokens on PostgreSQL: lookup by digest through the unique index, filtered and paged
//! listing, creation, rename and deletion each with its audit record in the same transaction,
//! and batched last-use updates in one statement. Only digests are stored, never a secret.

use super::audit::insert_audit;
use super::codec::{column, count, optional_stored, stored, unavailable, write_error};
use super::{PostgresStore, begin};
use crate::paging::page_size;
use crate::records::{folded, latest_uses, with_count};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use tokengate_core::model::{NewAudit, TokenFilter, TokenGrant, TokenRecord, TokenUse};
use tokengate_core::store::{StoreError, StoreResult, TokenStore};
use tokengate_core::token::TokenDigest;

macro_rules! token_columns {
    () => {
        "id, owner, name, digest, hint, created_at, created_by, expires_at, last_used_at, \
         last_used_ip"
    };
}
pub(super) use token_columns;

/// A token row read back (also used by the bulk export in `transfer`).
pub(super) fn token_from_row(row: &PgRow) -> StoreResult<TokenRecord> {
    let digest: Vec<u8> = column(row, "digest")?;
    Ok(TokenRecord {
        id: column(row, "id")?,
        owner: column(row, "owner")?,
        name: column(row, "name")?,
        digest: TokenDigest::from_slice(&digest)
            .ok_or_else(|| StoreError::Corrupt("token digest is not 32 bytes".into()))?,
        hint: column(row, "hint")?,
        created_at: column(row, "created_at")?,
        created_by: column(row, "created_by")?,
        expires_at: column(row, "expires_at")?,
        last_used_at: column(row, "last_used_at")?,
        last_used_ip: column(row, "last_used_ip")?,
    })
}

/// Inserts `token` as it is (last use included) on `connection`.
pub(super) async fn insert_token(
    connection: &mut PgConnection,
    token: &TokenRecord,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO tokens (id, owner, name, name_folded, digest, hint, created_at, \
         created_by, expires_at, last_used_at, last_used_ip) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&token.id)
    .bind(&token.owner)
    .bind(&token.name)
    .bind(folded(&token.name))
    .bind(token.digest.as_bytes())
    .bind(&token.hint)
    .bind(stored(token.created_at))
    .bind(&token.created_by)
    .bind(optional_stored(token.expires_at))
    .bind(optional_stored(token.last_used_at))
    .bind(token.last_used_ip.as_deref())
    .execute(connection)
    .await
    .map_err(|error| write_error(error, "token"))?;
    Ok(())
}

#[async_trait]
impl TokenStore for PostgresStore {
    async fn token_by_digest(&self, digest: &TokenDigest) -> StoreResult<Option<TokenRecord>> {
        sqlx::query(concat!(
            "SELECT ",
            token_columns!(),
            " FROM tokens WHERE digest = $1"
        ))
        .bind(digest.as_bytes())
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?
        .as_ref()
        .map(token_from_row)
        .transpose()
    }

    /// An index-only scan of `tokens_grant_by_digest` (migration 0003).
    async fn token_grant_by_digest(&self, digest: &TokenDigest) -> StoreResult<Option<TokenGrant>> {
        let Some(row) = sqlx::query("SELECT id, owner, expires_at FROM tokens WHERE digest = $1")
            .bind(digest.as_bytes())
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?
        else {
            return Ok(None);
        };
        Ok(Some(TokenGrant {
            id: column(&row, "id")?,
            owner: column(&row, "owner")?,
            expires_at: column(&row, "expires_at")?,
        }))
    }

    async fn token(&self, id: &str) -> StoreResult<Option<TokenRecord>> {
        sqlx::query(concat!(
            "SELECT ",
            token_columns!(),
            " FROM tokens WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?
        .as_ref()
        .map(token_from_row)
        .transpose()
    }

    async fn tokens(&self, filter: &TokenFilter) -> StoreResult<Vec<TokenRecord>> {
        let mut query = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            token_columns!(),
            " FROM tokens WHERE TRUE"
        ));
        if let Some(owner) = &filter.owner {
            query.push(" AND owner = ").push_bind(owner.as_str());
        }
        if let Some(name) = &filter.name {
            // strpos, not LIKE: the text is matched literally, `%` and `_` included.
            query
                .push(" AND strpos(name_folded, ")
                .push_bind(folded(name))
                .push(") > 0");
        }
        if let Some(expires_before) = filter.expires_before {
            query
                .push(" AND expires_at IS NOT NULL AND expires_at < ")
                .push_bind(stored(expires_before));
        }
        if let Some(unused_since) = filter.unused_since {
            query
                .push(" AND (last_used_at IS NULL OR last_used_at < ")
                .push_bind(stored(unused_since))
                .push(")");
        }
        if let Some(after_id) = &filter.after_id {
            query.push(" AND id > ").push_bind(after_id.as_str());
        }
        query
            .push(" ORDER BY id LIMIT ")
            .push_bind(page_size(filter.limit));
        let rows = query
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.iter().map(token_from_row).collect()
    }

    async fn create_token(&self, token: &TokenRecord, audit: &NewAudit) -> StoreResult<()> {
        let mut transaction = begin(&self.pool).await?;
        insert_token(&mut transaction, token).await?;
        insert_audit(&mut transaction, audit).await?;
        transaction.commit().await.map_err(unavailable)
    }

    async fn rename_token(&self, id: &str, name: &str, audit: &NewAudit) -> StoreResult<bool> {
        let mut transaction = begin(&self.pool).await?;
        let result = sqlx::query("UPDATE tokens SET name = $1, name_folded = $2 WHERE id = $3")
            .bind(name)
            .bind(folded(name))
            .bind(id)
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?;
        if result.rows_affected() == 0 {
            return Ok(false);
        }
        insert_audit(&mut transaction, audit).await?;
        transaction.commit().await.map_err(unavailable)?;
        Ok(true)
    }

    async fn delete_token(&self, id: &str, audit: &NewAudit) -> StoreResult<bool> {
        let mut transaction = begin(&self.pool).await?;
        let result = sqlx::query("DELETE FROM tokens WHERE id = $1")
            .bind(id)
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?;
        if result.rows_affected() == 0 {
            return Ok(false);
        }
        insert_audit(&mut transaction, audit).await?;
        transaction.commit().await.map_err(unavailable)?;
        Ok(true)
    }

    async fn delete_tokens_of(&self, owner: &str, audit: &NewAudit) -> StoreResult<u64> {
        let mut transaction = begin(&self.pool).await?;
        let deleted = sqlx::query("DELETE FROM tokens WHERE owner = $1")
            .bind(owner)
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?
            .rows_affected();
        let audit = NewAudit {
            details: with_count(&audit.details, deleted),
            ..audit.clone()
        };
        insert_audit(&mut transaction, &audit).await?;
        transaction.commit().await.map_err(unavailable)?;
        Ok(deleted)
    }

    async fn count_tokens_expiring_after(&self, latest: DateTime<Utc>) -> StoreResult<u64> {
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM tokens WHERE expires_at IS NULL OR expires_at > $1",
        )
        .bind(stored(latest))
        .fetch_one(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(count(total))
    }

    async fn clamp_token_expiry(
        &self,
        latest: DateTime<Utc>,
        audit: &NewAudit,
    ) -> StoreResult<u64> {
        let mut transaction = begin(&self.pool).await?;
        let clamped = sqlx::query(
            "UPDATE tokens SET expires_at = $1 WHERE expires_at IS NULL OR expires_at > $1",
        )
        .bind(stored(latest))
        .execute(&mut *transaction)
        .await
        .map_err(unavailable)?
        .rows_affected();
        let audit = NewAudit {
            details: with_count(&audit.details, clamped),
            ..audit.clone()
        };
        insert_audit(&mut transaction, &audit).await?;
        transaction.commit().await.map_err(unavailable)?;
        Ok(clamped)
    }

    async fn record_token_uses(&self, uses: &[TokenUse]) -> StoreResult<()> {
        if uses.is_empty() {
            return Ok(());
        }
        let latest = latest_uses(uses);
        let mut ids = Vec::with_capacity(latest.len());
        let mut times = Vec::with_capacity(latest.len());
        let mut addresses = Vec::with_capacity(latest.len());
        for (token_id, token_use) in latest {
            ids.push(token_id.to_owned());
            times.push(stored(token_use.at));
            addresses.push(token_use.ip.clone());
        }
        // One statement for the whole batch, rows in id order (so two nodes flushing at once
        // lock rows in the same order). A use older than the one already stored (another
        // node's batch) is ignored.
        sqlx::query(
            "UPDATE tokens SET last_used_at = batch.at, last_used_ip = batch.ip \
             FROM unnest($1::text[], $2::timestamptz[], $3::text[]) AS batch (id, at, ip) \
             WHERE tokens.id = batch.id \
               AND (tokens.last_used_at IS NULL OR tokens.last_used_at <= batch.at)",
        )
        .bind(&ids)
        .bind(&times)
        .bind(&addresses)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }
}
