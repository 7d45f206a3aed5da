//! Bulk export and import on PostgreSQL for `tokengate db copy`: keyed pages out, multi-row
//! INSERTs in (one transaction per batch), audit ids kept and the identity moved past them.

use super::audit::{audit_columns, audit_from_row};
use super::codec::{column, count, json_text, optional_stored, stored, unavailable, write_error};
use super::sessions::{session_columns, session_from_row};
use super::settings::{stored_settings, upsert_settings};
use super::tokens::{token_columns, token_from_row};
use super::users::{user_columns, user_from_row};
use super::{PostgresStore, begin};
use crate::records::folded;
use crate::transfer::{Batch, Counts, Transfer};
use async_trait::async_trait;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use tokengate_core::model::{AuditRecord, Settings, TokenRecord, User};
use tokengate_core::store::{SessionRecord, StoreResult};
use tokengate_core::token::TokenDigest;

async fn import_users(connection: &mut PgConnection, users: &[User]) -> StoreResult<()> {
    let mut query =
        QueryBuilder::<Postgres>::new(concat!("INSERT INTO users (", user_columns!(), ") "));
    query.push_values(users, |mut row, user| {
        row.push_bind(&user.name)
            .push_bind(&user.display_name)
            .push_bind(user.admin)
            .push_bind(user.disabled)
            .push_bind(user.password_hash.as_deref())
            .push_bind(i64::from(user.failed_logins))
            .push_bind(optional_stored(user.locked_until));
    });
    query
        .build()
        .execute(connection)
        .await
        .map_err(|error| write_error(error, "user"))?;
    Ok(())
}

async fn import_tokens(connection: &mut PgConnection, tokens: &[TokenRecord]) -> StoreResult<()> {
    let mut query = QueryBuilder::<Postgres>::new(
        "INSERT INTO tokens (id, owner, name, name_folded, digest, hint, created_at, \
         created_by, expires_at, last_used_at, last_used_ip) ",
    );
    query.push_values(tokens, |mut row, token| {
        row.push_bind(&token.id)
            .push_bind(&token.owner)
            .push_bind(&token.name)
            .push_bind(folded(&token.name))
            .push_bind(token.digest.as_bytes())
            .push_bind(&token.hint)
            .push_bind(stored(token.created_at))
            .push_bind(&token.created_by)
            .push_bind(optional_stored(token.expires_at))
            .push_bind(optional_stored(token.last_used_at))
            .push_bind(token.last_used_ip.as_deref());
    });
    query
        .build()
        .execute(connection)
        .await
        .map_err(|error| write_error(error, "token"))?;
    Ok(())
}

async fn import_audit(connection: &mut PgConnection, records: &[AuditRecord]) -> StoreResult<()> {
    let details = records
        .iter()
        .map(|record| json_text(&record.details))
        .collect::<StoreResult<Vec<String>>>()?;
    let mut query =
        QueryBuilder::<Postgres>::new(concat!("INSERT INTO audit (", audit_columns!(), ") "));
    query.push_values(records.iter().zip(details), |mut row, (record, details)| {
        row.push_bind(record.id)
            .push_bind(stored(record.at))
            .push_bind(&record.actor)
            .push_bind(record.action.as_str())
            .push_bind(record.user.as_deref())
            .push_bind(record.token_id.as_deref())
            .push_bind(details)
            .push_bind(record.ip.as_deref())
            .push_bind(record.request_id.as_deref());
    });
    query
        .build()
        .execute(connection)
        .await
        .map_err(|error| write_error(error, "audit record"))?;
    Ok(())
}

async fn import_sessions(
    connection: &mut PgConnection,
    sessions: &[SessionRecord],
) -> StoreResult<()> {
    let mut query =
        QueryBuilder::<Postgres>::new(concat!("INSERT INTO sessions (", session_columns!(), ") "));
    query.push_values(sessions, |mut row, session| {
        row.push_bind(session.digest.as_bytes())
            .push_bind(&session.user)
            .push_bind(&session.csrf_token)
            .push_bind(stored(session.created_at))
            .push_bind(stored(session.last_seen_at))
            .push_bind(stored(session.expires_at));
    });
    query
        .build()
        .execute(connection)
        .await
        .map_err(|error| write_error(error, "session"))?;
    Ok(())
}

#[async_trait]
impl Transfer for PostgresStore {
    async fn counts(&self) -> StoreResult<Counts> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM users) AS users, (SELECT COUNT(*) FROM tokens) AS tokens, \
             (SELECT COUNT(*) FROM settings) AS settings, (SELECT COUNT(*) FROM audit) AS audit, \
             (SELECT COUNT(*) FROM sessions) AS sessions",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(Counts {
            users: count(column(&row, "users")?),
            tokens: count(column(&row, "tokens")?),
            settings: count(column(&row, "settings")?),
            audit: count(column(&row, "audit")?),
            sessions: count(column(&row, "sessions")?),
        })
    }

    async fn stored_settings(&self) -> StoreResult<Option<Settings>> {
        stored_settings(self).await
    }

    async fn users_after(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<User>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE $1::text IS NULL OR name > $1 ORDER BY name LIMIT $2"
        ))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn tokens_after(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<TokenRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            token_columns!(),
            " FROM tokens WHERE $1::text IS NULL OR id > $1 ORDER BY id LIMIT $2"
        ))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(token_from_row).collect()
    }

    async fn audit_after(&self, after_id: i64, limit: u32) -> StoreResult<Vec<AuditRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            audit_columns!(),
            " FROM audit WHERE id > $1 ORDER BY id LIMIT $2"
        ))
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn sessions_after(
        &self,
        after: Option<&TokenDigest>,
        limit: u32,
    ) -> StoreResult<Vec<SessionRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE $1::bytea IS NULL OR digest > $1 ORDER BY digest LIMIT $2"
        ))
        .bind(after.map(TokenDigest::as_bytes))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(session_from_row).collect()
    }

    async fn clear(&self) -> StoreResult<()> {
        let mut transaction = begin(&self.pool).await?;
        // TRUNCATE fires no row triggers: move the counter (and wake the nodes) by hand.
        sqlx::query(
            "TRUNCATE known_addresses, sessions, tokens, users, settings, audit RESTART IDENTITY",
        )
        .execute(&mut *transaction)
        .await
        .map_err(unavailable)?;
        sqlx::query("SELECT tokengate_bump(1)")
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?;
        transaction.commit().await.map_err(unavailable)
    }

    async fn import(&self, batch: Batch<'_>) -> StoreResult<()> {
        let mut transaction = begin(&self.pool).await?;
        match batch {
            Batch::Users(users) if !users.is_empty() => {
                import_users(&mut transaction, users).await?
            }
            Batch::Tokens(tokens) if !tokens.is_empty() => {
                import_tokens(&mut transaction, tokens).await?
            }
            Batch::Settings(settings) => upsert_settings(&mut transaction, settings).await?,
            Batch::Audit(records) if !records.is_empty() => {
                import_audit(&mut transaction, records).await?
            }
            Batch::Sessions(sessions) if !sessions.is_empty() => {
                import_sessions(&mut transaction, sessions).await?
            }
            _ => {}
        }
        transaction.commit().await.map_err(unavailable)
    }

    async fn finish_import(&self) -> StoreResult<()> {
        sqlx::query(
            "SELECT setval(pg_get_serial_sequence('audit', 'id'), \
             COALESCE((SELECT MAX(id) FROM audit), 1), \
             (SELECT MAX(id) FROM audit) IS NOT NULL)",
        )
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }
}
