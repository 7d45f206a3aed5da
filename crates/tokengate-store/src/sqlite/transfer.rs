//! Bulk export and import on SQLite for `tokengate db copy`: keyed pages out, multi-row
//! INSERTs in (one write transaction per batch), audit ids kept as they were.

use super::audit::audit_from_row;
use super::codec::{column, json_text, millis, optional_millis, unavailable, write_error};
use super::sessions::session_from_row;
use super::settings::settings_from_row;
use super::tokens::token_from_row;
use super::users::user_from_row;
use super::{SqliteStore, begin_write};
use crate::records::folded;
use crate::transfer::{Batch, Counts, Transfer};
use async_trait::async_trait;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use tokengate_core::model::{AuditRecord, Settings, TokenRecord, User};
use tokengate_core::store::{SessionRecord, StoreResult};
use tokengate_core::token::TokenDigest;

const USER_COLUMNS: &str =
    "name, display_name, admin, disabled, password_hash, failed_logins, locked_until";
const TOKEN_COLUMNS: &str = "id, owner, name, digest, hint, created_at, created_by, \
                             expires_at, last_used_at, last_used_ip";
const AUDIT_COLUMNS: &str = "id, at, actor, action, user_name, token_id, details, ip, request_id";
const SESSION_COLUMNS: &str = "digest, user_name, csrf_token, created_at, last_seen_at, expires_at";

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

async fn import_users(connection: &mut SqliteConnection, users: &[User]) -> StoreResult<()> {
    let mut query = QueryBuilder::<Sqlite>::new("INSERT INTO users (");
    query.push(USER_COLUMNS).push(") ");
    query.push_values(users, |mut row, user| {
        row.push_bind(&user.name)
            .push_bind(&user.display_name)
            .push_bind(user.admin)
            .push_bind(user.disabled)
            .push_bind(user.password_hash.as_deref())
            .push_bind(i64::from(user.failed_logins))
            .push_bind(optional_millis(user.locked_until));
    });
    query
        .build()
        .execute(connection)
        .await
        .map_err(|error| write_error(error, "user"))?;
    Ok(())
}

async fn import_tokens(
    connection: &mut SqliteConnection,
    tokens: &[TokenRecord],
) -> StoreResult<()> {
    let mut query = QueryBuilder::<Sqlite>::new(
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
            .push_bind(millis(token.created_at))
            .push_bind(&token.created_by)
            .push_bind(optional_millis(token.expires_at))
            .push_bind(optional_millis(token.last_used_at))
            .push_bind(token.last_used_ip.as_deref());
    });
    query
        .build()
        .execute(connection)
        .await
        .map_err(|error| write_error(error, "token"))?;
    Ok(())
}

async fn import_audit(
    connection: &mut SqliteConnection,
    records: &[AuditRecord],
) -> StoreResult<()> {
    let details = records
        .iter()
        .map(|record| json_text(&record.details))
        .collect::<StoreResult<Vec<String>>>()?;
    let mut query = QueryBuilder::<Sqlite>::new("INSERT INTO audit (");
    query.push(AUDIT_COLUMNS).push(") ");
    query.push_values(records.iter().zip(details), |mut row, (record, details)| {
        row.push_bind(record.id)
            .push_bind(millis(record.at))
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
    connection: &mut SqliteConnection,
    sessions: &[SessionRecord],
) -> StoreResult<()> {
    let mut query = QueryBuilder::<Sqlite>::new("INSERT INTO sessions (");
    query.push(SESSION_COLUMNS).push(") ");
    query.push_values(sessions, |mut row, session| {
        row.push_bind(session.digest.as_bytes())
            .push_bind(&session.user)
            .push_bind(&session.csrf_token)
            .push_bind(millis(session.created_at))
            .push_bind(millis(session.last_seen_at))
            .push_bind(millis(session.expires_at));
    });
    query
        .build()
        .execute(connection)
        .await
        .map_err(|error| write_error(error, "session"))?;
    Ok(())
}

async fn import_settings(
    connection: &mut SqliteConnection,
    settings: &Settings,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO settings (id, max_validity, ip_allowlist, password_auth, admins_only) \
         VALUES (1, ?, ?, ?, ?) \
         ON CONFLICT (id) DO UPDATE SET max_validity = excluded.max_validity, \
         ip_allowlist = excluded.ip_allowlist, password_auth = excluded.password_auth, \
         admins_only = excluded.admins_only",
    )
    .bind(settings.max_validity.as_str())
    .bind(json_text(&settings.ip_allowlist)?)
    .bind(settings.password_auth.as_str())
    .bind(settings.admins_only)
    .execute(connection)
    .await
    .map_err(unavailable)?;
    Ok(())
}

/// `SELECT <columns> FROM <table> WHERE <key> > ? ORDER BY <key> LIMIT ?` (no key condition
/// on the first page).
fn page_query(columns: &str, table: &str, key: &str, first_page: bool) -> QueryBuilder<Sqlite> {
    let mut query = QueryBuilder::<Sqlite>::new("SELECT ");
    query.push(columns).push(" FROM ").push(table);
    if !first_page {
        query.push(" WHERE ").push(key).push(" > ?");
    }
    query.push(" ORDER BY ").push(key).push(" LIMIT ?");
    query
}

#[async_trait]
impl Transfer for SqliteStore {
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
        sqlx::query(
            "SELECT max_validity, ip_allowlist, password_auth, admins_only \
             FROM settings WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?
        .as_ref()
        .map(settings_from_row)
        .transpose()
    }

    async fn users_after(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<User>> {
        let mut query = page_query(USER_COLUMNS, "users", "name", after.is_none());
        let mut built = query.build();
        if let Some(after) = after {
            built = built.bind(after);
        }
        let rows = built
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn tokens_after(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<TokenRecord>> {
        let mut query = page_query(TOKEN_COLUMNS, "tokens", "id", after.is_none());
        let mut built = query.build();
        if let Some(after) = after {
            built = built.bind(after);
        }
        let rows = built
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.iter().map(token_from_row).collect()
    }

    async fn audit_after(&self, after_id: i64, limit: u32) -> StoreResult<Vec<AuditRecord>> {
        let mut query = page_query(AUDIT_COLUMNS, "audit", "id", false);
        let rows = query
            .build()
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
        let mut query = page_query(SESSION_COLUMNS, "sessions", "digest", after.is_none());
        let mut built = query.build();
        if let Some(after) = after {
            built = built.bind(after.as_bytes());
        }
        let rows = built
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.iter().map(session_from_row).collect()
    }

    async fn clear(&self) -> StoreResult<()> {
        let mut transaction = begin_write(&self.pool).await?;
        // Row by row, so the change-counter triggers fire and running processes notice.
        for statement in [
            "DELETE FROM known_addresses",
            "DELETE FROM sessions",
            "DELETE FROM tokens",
            "DELETE FROM users",
            "DELETE FROM settings",
            "DELETE FROM audit",
            "DELETE FROM sqlite_sequence WHERE name = 'audit'",
        ] {
            sqlx::query(statement)
                .execute(&mut *transaction)
                .await
                .map_err(unavailable)?;
        }
        transaction.commit().await.map_err(unavailable)
    }

    async fn import(&self, batch: Batch<'_>) -> StoreResult<()> {
        let mut transaction = begin_write(&self.pool).await?;
        match batch {
            Batch::Users(users) if !users.is_empty() => {
                import_users(&mut transaction, users).await?
            }
            Batch::Tokens(tokens) if !tokens.is_empty() => {
                import_tokens(&mut transaction, tokens).await?
            }
            Batch::Settings(settings) => import_settings(&mut transaction, settings).await?,
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
        // AUTOINCREMENT already continues after the largest id inserted.
        Ok(())
    }
}
