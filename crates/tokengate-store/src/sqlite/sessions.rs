//! Web UI sessions on SQLite: looked up by the digest of the session id; deleted with their
//! user (foreign key), at sign-out, and when they expire.

use super::SqliteStore;
use super::codec::{column, instant, millis, unavailable, write_error};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use tokengate_core::store::{SessionRecord, SessionStore, StoreError, StoreResult};
use tokengate_core::token::TokenDigest;

pub(super) fn session_from_row(row: &SqliteRow) -> StoreResult<SessionRecord> {
    let digest: Vec<u8> = column(row, "digest")?;
    Ok(SessionRecord {
        digest: TokenDigest::from_slice(&digest)
            .ok_or_else(|| StoreError::Corrupt("session digest is not 32 bytes".into()))?,
        user: column(row, "user_name")?,
        csrf_token: column(row, "csrf_token")?,
        created_at: instant(column(row, "created_at")?)?,
        last_seen_at: instant(column(row, "last_seen_at")?)?,
        expires_at: instant(column(row, "expires_at")?)?,
    })
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (digest, user_name, csrf_token, created_at, last_seen_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(session.digest.as_bytes())
        .bind(&session.user)
        .bind(&session.csrf_token)
        .bind(millis(session.created_at))
        .bind(millis(session.last_seen_at))
        .bind(millis(session.expires_at))
        .execute(&self.pool)
        .await
        .map_err(|error| write_error(error, "session"))?;
        Ok(())
    }

    async fn session(&self, digest: &TokenDigest) -> StoreResult<Option<SessionRecord>> {
        sqlx::query(
            "SELECT digest, user_name, csrf_token, created_at, last_seen_at, expires_at \
             FROM sessions WHERE digest = ?",
        )
        .bind(digest.as_bytes())
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?
        .as_ref()
        .map(session_from_row)
        .transpose()
    }

    async fn touch_session(&self, digest: &TokenDigest, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = ? WHERE digest = ?")
            .bind(millis(at))
            .bind(digest.as_bytes())
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn delete_session(&self, digest: &TokenDigest) -> StoreResult<bool> {
        let result = sqlx::query("DELETE FROM sessions WHERE digest = ?")
            .bind(digest.as_bytes())
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected() > 0)
    }

    async fn delete_sessions_of(&self, user: &str) -> StoreResult<u64> {
        let result = sqlx::query("DELETE FROM sessions WHERE user_name = ?")
            .bind(user)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected())
    }

    async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let result = sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
            .bind(millis(now))
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected())
    }
}
