//! Tokens on SQLite: lookup by digest through the unique index, filtered and paged listing,
//! creation, rename and deletion each with its audit record in the same transaction, and
//! batched last-use updates. Only digests are stored, never a secret.

use super::audit::insert_audit;
use super::codec::{
    Columns, column, instant, millis, optional_instant, optional_millis, unavailable, write_error,
};
use super::{SqliteStore, begin_write};
use crate::paging::page_size;
use crate::records::{folded, latest_uses, with_count};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite};
use tokengate_core::model::{NewAudit, TokenFilter, TokenGrant, TokenRecord, TokenUse};
use tokengate_core::store::{StoreError, StoreResult, TokenStore};
use tokengate_core::token::TokenDigest;

macro_rules! token_columns {
    () => {
        "id, owner, name, digest, hint, created_at, created_by, expires_at, last_used_at, \
         last_used_ip"
    };
}

/// The hot-path lookup, run by the fast read path and by the pool alike.
const TOKEN_BY_DIGEST: &str = concat!("SELECT ", token_columns!(), " FROM tokens WHERE digest = ?");

/// The grant lookup (id, owner, expiry by digest), answered from the covering index
/// `tokens_grant_by_digest` alone (migration 0003), without reading the table's row.
const GRANT_BY_DIGEST: &str = "SELECT id, owner, expires_at FROM tokens \
     INDEXED BY tokens_grant_by_digest WHERE digest = ?";

fn grant_from_row(row: &impl Columns) -> StoreResult<TokenGrant> {
    Ok(TokenGrant {
        id: column(row, "id")?,
        owner: column(row, "owner")?,
        expires_at: optional_instant(column(row, "expires_at")?)?,
    })
}

/// A token row read back (also used by the bulk export in `transfer`), from either driver.
pub(super) fn token_from_row(row: &impl Columns) -> StoreResult<TokenRecord> {
    let digest: Vec<u8> = column(row, "digest")?;
    Ok(TokenRecord {
        id: column(row, "id")?,
        owner: column(row, "owner")?,
        name: column(row, "name")?,
        digest: TokenDigest::from_slice(&digest)
            .ok_or_else(|| StoreError::Corrupt("token digest is not 32 bytes".into()))?,
        hint: column(row, "hint")?,
        created_at: instant(column(row, "created_at")?)?,
        created_by: column(row, "created_by")?,
        expires_at: optional_instant(column(row, "expires_at")?)?,
        last_used_at: optional_instant(column(row, "last_used_at")?)?,
        last_used_ip: column(row, "last_used_ip")?,
    })
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn token_by_digest(&self, digest: &TokenDigest) -> StoreResult<Option<TokenRecord>> {
        optional_row!(self, TOKEN_BY_DIGEST, digest.as_bytes(), token_from_row)
    }

    async fn token_grant_by_digest(&self, digest: &TokenDigest) -> StoreResult<Option<TokenGrant>> {
        optional_row!(self, GRANT_BY_DIGEST, digest.as_bytes(), grant_from_row)
    }

    async fn token(&self, id: &str) -> StoreResult<Option<TokenRecord>> {
        sqlx::query(concat!(
            "SELECT ",
            token_columns!(),
            " FROM tokens WHERE id = ?"
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
        let mut query = QueryBuilder::<Sqlite>::new(concat!(
            "SELECT ",
            token_columns!(),
            " FROM tokens WHERE 1 = 1"
        ));
        if let Some(owner) = &filter.owner {
            query.push(" AND owner = ").push_bind(owner.as_str());
        }
        if let Some(name) = &filter.name {
            query
                .push(" AND instr(name_folded, ")
                .push_bind(folded(name))
                .push(") > 0");
        }
        if let Some(expires_before) = filter.expires_before {
            query
                .push(" AND expires_at IS NOT NULL AND expires_at < ")
                .push_bind(millis(expires_before));
        }
        if let Some(unused_since) = filter.unused_since {
            query
                .push(" AND (last_used_at IS NULL OR last_used_at < ")
                .push_bind(millis(unused_since))
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
        let mut transaction = begin_write(&self.pool).await?;
        sqlx::query(
            "INSERT INTO tokens (id, owner, name, name_folded, digest, hint, created_at, \
             created_by, expires_at, last_used_at, last_used_ip) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&token.id)
        .bind(&token.owner)
        .bind(&token.name)
        .bind(folded(&token.name))
        .bind(token.digest.as_bytes())
        .bind(&token.hint)
        .bind(millis(token.created_at))
        .bind(&token.created_by)
        .bind(optional_millis(token.expires_at))
        .bind(optional_millis(token.last_used_at))
        .bind(token.last_used_ip.as_deref())
        .execute(&mut *transaction)
        .await
        .map_err(|error| write_error(error, "token"))?;
        insert_audit(&mut transaction, audit).await?;
        transaction.commit().await.map_err(unavailable)
    }

    async fn rename_token(&self, id: &str, name: &str, audit: &NewAudit) -> StoreResult<bool> {
        let mut transaction = begin_write(&self.pool).await?;
        let result = sqlx::query("UPDATE tokens SET name = ?, name_folded = ? WHERE id = ?")
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
        let mut transaction = begin_write(&self.pool).await?;
        let result = sqlx::query("DELETE FROM tokens WHERE id = ?")
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
        let mut transaction = begin_write(&self.pool).await?;
        let count = sqlx::query("DELETE FROM tokens WHERE owner = ?")
            .bind(owner)
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?
            .rows_affected();
        let audit = NewAudit {
            details: with_count(&audit.details, count),
            ..audit.clone()
        };
        insert_audit(&mut transaction, &audit).await?;
        transaction.commit().await.map_err(unavailable)?;
        Ok(count)
    }

    async fn count_tokens_expiring_after(&self, latest: DateTime<Utc>) -> StoreResult<u64> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM tokens WHERE expires_at IS NULL OR expires_at > ?",
        )
        .bind(millis(latest))
        .fetch_one(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn clamp_token_expiry(
        &self,
        latest: DateTime<Utc>,
        audit: &NewAudit,
    ) -> StoreResult<u64> {
        let mut transaction = begin_write(&self.pool).await?;
        let count = sqlx::query(
            "UPDATE tokens SET expires_at = ? WHERE expires_at IS NULL OR expires_at > ?",
        )
        .bind(millis(latest))
        .bind(millis(latest))
        .execute(&mut *transaction)
        .await
        .map_err(unavailable)?
        .rows_affected();
        let audit = NewAudit {
            details: with_count(&audit.details, count),
            ..audit.clone()
        };
        insert_audit(&mut transaction, &audit).await?;
        transaction.commit().await.map_err(unavailable)?;
        Ok(count)
    }

    async fn record_token_uses(&self, uses: &[TokenUse]) -> StoreResult<()> {
        if uses.is_empty() {
            return Ok(());
        }
        let mut transaction = begin_write(&self.pool).await?;
        for (token_id, token_use) in latest_uses(uses) {
            // A use older than the one already stored (another node's batch) is ignored.
            sqlx::query(
                "UPDATE tokens SET last_used_at = ?, last_used_ip = ? \
                 WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)",
            )
            .bind(millis(token_use.at))
            .bind(&token_use.ip)
            .bind(token_id)
            .bind(millis(token_use.at))
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?;
        }
        transaction.commit().await.map_err(unavailable)
    }
}
