//! Web UI sessions on PostgreSQL: looked up by the digest of the session id; deleted with
//! their user (foreign key), at sign-out, and when they expire. Shared by every node, so a
//! browser may land on any of them.

use super::PostgresStore;
use super::codec::{column, stored, unavailable, write_error};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use sqlx::postgres::PgRow;
use tokengate_core::store::{SessionRecord, SessionStore, StoreError, StoreResult};
use tokengate_core::token::TokenDigest;

macro_rules! session_columns {
    () => {
        "digest, user_name, csrf_token, created_at, last_seen_at, expires_at"
    };
}
pub(super) use session_columns;

/// A session row read back (also used by the bulk export in `transfer`).
pub(super) fn session_from_row(row: &PgRow) -> StoreResult<SessionRecord> {
    let digest: Vec<u8> = column(row, "digest")?;
    Ok(SessionRecord {
        digest: TokenDigest::from_slice(&digest)
            .ok_or_else(|| StoreError::Corrupt("session digest is not 32 bytes".into()))?,
        user: column(row, "user_name")?,
        csrf_token: column(row, "csrf_token")?,
        created_at: column(row, "created_at")?,
        last_seen_at: column(row, "last_seen_at")?,
        expires_at: column(row, "expires_at")?,
    })
}

/// Inserts `session` on `connection`.
pub(super) async fn insert_session(
    connection: &mut PgConnection,
    session: &SessionRecord,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO sessions (digest, user_name, csrf_token, created_at, last_seen_at, \
         expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(session.digest.as_bytes())
    .bind(&session.user)
    .bind(&session.csrf_token)
    .bind(stored(session.created_at))
    .bind(stored(session.last_seen_at))
    .bind(stored(session.expires_at))
    .execute(connection)
    .await
    .map_err(|error| write_error(error, "session"))?;
    Ok(())
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()> {
        let mut connection = self.pool.acquire().await.map_err(unavailable)?;
        insert_session(&mut connection, session).await
    }

    async fn session(&self, digest: &TokenDigest) -> StoreResult<Option<SessionRecord>> {
        sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE digest = $1"
        ))
        .bind(digest.as_bytes())
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?
        .as_ref()
        .map(session_from_row)
        .transpose()
    }

    async fn touch_session(&self, digest: &TokenDigest, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE digest = $2")
            .bind(stored(at))
            .bind(digest.as_bytes())
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn delete_session(&self, digest: &TokenDigest) -> StoreResult<bool> {
        let result = sqlx::query("DELETE FROM sessions WHERE digest = $1")
            .bind(digest.as_bytes())
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected() > 0)
    }

    async fn delete_sessions_of(&self, user: &str) -> StoreResult<u64> {
        let result = sqlx::query("DELETE FROM sessions WHERE user_name = $1")
            .bind(user)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected())
    }

    async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let result = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(stored(now))
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected())
    }
}
