//! Web UI sessions: looked up by the digest of the session id; deleted with their user
//! (foreign key), at sign-out, and when they expire. On PostgreSQL every node shares them,
//! so a browser may land on any of them.

use super::{Arg, Columns, Driver, SqlStore, Statement};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokengate_core::store::{SessionRecord, SessionStore, StoreError, StoreResult};
use tokengate_core::token::TokenDigest;

/// The columns a session is read from and written from ([`session_values`]), in that order.
pub(crate) const SESSION_COLUMNS: &str =
    "digest, user_name, csrf_token, created_at, last_seen_at, expires_at";

/// A session as stored (creation and bulk import).
pub(crate) fn session_values(session: &SessionRecord) -> Vec<Arg> {
    vec![
        Arg::from(session.digest.as_bytes()),
        Arg::from(&session.user),
        Arg::from(session.csrf_token.expose()),
        Arg::from(session.created_at),
        Arg::from(session.last_seen_at),
        Arg::from(session.expires_at),
    ]
}

/// A session row read back, from any driver.
pub(crate) fn session_from_row(row: &dyn Columns) -> StoreResult<SessionRecord> {
    Ok(SessionRecord {
        digest: TokenDigest::from_slice(&row.bytes("digest")?)
            .ok_or_else(|| StoreError::Corrupt("session digest is not 32 bytes".into()))?,
        user: row.text("user_name")?,
        csrf_token: row.text("csrf_token")?.into(),
        created_at: row.time("created_at")?,
        last_seen_at: row.time("last_seen_at")?,
        expires_at: row.time("expires_at")?,
    })
}

#[async_trait]
impl<D: Driver> SessionStore for SqlStore<D> {
    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()> {
        let insert = Statement::insert("sessions", SESSION_COLUMNS, [session_values(session)]);
        self.run(insert.writes("session")).await?;
        Ok(())
    }

    async fn session(&self, digest: &TokenDigest) -> StoreResult<Option<SessionRecord>> {
        let query = Statement::new(format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE digest = $1"
        ));
        self.one(query.bind(digest.as_bytes()), session_from_row)
            .await
    }

    async fn touch_session(&self, digest: &TokenDigest, at: DateTime<Utc>) -> StoreResult<()> {
        let touch = Statement::new("UPDATE sessions SET last_seen_at = $1 WHERE digest = $2")
            .bind(at)
            .bind(digest.as_bytes());
        self.run(touch).await?;
        Ok(())
    }

    async fn delete_session(&self, digest: &TokenDigest) -> StoreResult<bool> {
        let delete = Statement::new("DELETE FROM sessions WHERE digest = $1");
        Ok(self.run(delete.bind(digest.as_bytes())).await? > 0)
    }

    async fn delete_sessions_of(&self, user: &str) -> StoreResult<u64> {
        self.run(Statement::new("DELETE FROM sessions WHERE user_name = $1").bind(user))
            .await
    }

    async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        self.run(Statement::new("DELETE FROM sessions WHERE expires_at <= $1").bind(now))
            .await
    }
}
