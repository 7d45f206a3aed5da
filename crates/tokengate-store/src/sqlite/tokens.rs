//! Tokens on SQLite: lookup by digest through the unique index, filtered and paged listing,
//! creation, rename and deletion each with its audit record in the same transaction, and
//! batched last-use updates. Only digests are stored, never a secret.

use super::audit::insert_audit;
use super::codec::{
    column, instant, millis, optional_instant, optional_millis, unavailable, write_error,
};
use super::{SqliteStore, begin_write};
use crate::paging::page_size;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite};
use std::collections::BTreeMap;
use tokengate_core::model::{NewAudit, TokenFilter, TokenRecord, TokenUse};
use tokengate_core::store::{StoreError, StoreResult, TokenStore};
use tokengate_core::token::TokenDigest;

macro_rules! token_columns {
    () => {
        "id, owner, name, digest, hint, created_at, created_by, expires_at, last_used_at, \
         last_used_ip"
    };
}

/// The form of a token name that the case-insensitive name filter searches (Unicode-aware,
/// unlike SQLite's ASCII-only `lower()`).
fn folded(name: &str) -> String {
    name.to_lowercase()
}

fn token_from_row(row: &SqliteRow) -> StoreResult<TokenRecord> {
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

/// `details` with `"count": n` added (a non-object is replaced by `{"count": n}`).
fn with_count(details: &Value, count: u64) -> Value {
    let mut object = match details {
        Value::Object(object) => object.clone(),
        _ => Map::new(),
    };
    object.insert("count".into(), Value::from(count));
    Value::Object(object)
}

/// The latest use of each token in a batch; on equal times the later entry wins.
fn latest_uses(uses: &[TokenUse]) -> BTreeMap<&str, &TokenUse> {
    let mut latest: BTreeMap<&str, &TokenUse> = BTreeMap::new();
    for token_use in uses {
        let entry = latest
            .entry(token_use.token_id.as_str())
            .or_insert(token_use);
        if token_use.at >= entry.at {
            *entry = token_use;
        }
    }
    latest
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn token_by_digest(&self, digest: &TokenDigest) -> StoreResult<Option<TokenRecord>> {
        sqlx::query(concat!(
            "SELECT ",
            token_columns!(),
            " FROM tokens WHERE digest = ?"
        ))
        .bind(digest.as_bytes())
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?
        .as_ref()
        .map(token_from_row)
        .transpose()
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use serde_json::json;

    fn use_of(token_id: &str, seconds: i64, ip: &str) -> TokenUse {
        TokenUse {
            token_id: token_id.into(),
            at: DateTime::<Utc>::from_timestamp(seconds, 0).expect("instant"),
            ip: ip.into(),
        }
    }

    #[test]
    fn latest_use_per_token_wins_and_ties_go_to_the_later_entry() {
        let uses = [
            use_of("a", 20, "10.0.0.2"),
            use_of("a", 10, "10.0.0.1"),
            use_of("b", 5, "10.0.0.3"),
            use_of("b", 5, "10.0.0.4"),
        ];
        let latest = latest_uses(&uses);
        assert_eq!(latest["a"].ip, "10.0.0.2");
        assert_eq!(latest["b"].ip, "10.0.0.4");
    }

    #[test]
    fn count_is_merged_into_the_details_object() {
        assert_eq!(
            with_count(&json!({"reason": "left"}), 3),
            json!({"reason": "left", "count": 3})
        );
        assert_eq!(with_count(&Value::Null, 0), json!({"count": 0}));
    }

    #[test]
    fn name_folding_is_unicode_aware() {
        assert_eq!(folded("ÉCOLE CI"), "école ci");
    }
}
