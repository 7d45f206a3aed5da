//! Bulk export and import for `tokengate db copy`: keyed pages out, multi-row INSERTs in (one
//! write transaction per batch), records exactly as stored, audit ids included. Emptying a
//! database and continuing its audit ids after an import are the driver's own statements
//! (`Driver::CLEAR`, `Driver::FINISH_IMPORT`).

use super::audit::{AUDIT_COLUMNS, audit_from_row, record_values};
use super::sessions::{SESSION_COLUMNS, session_from_row, session_values};
use super::settings::upsert_settings;
use super::tokens::{TOKEN_COLUMNS, TOKEN_VALUES_COLUMNS, token_from_row, token_values};
use super::users::{USER_COLUMNS, USER_READ_COLUMNS, user_from_row, user_values};
use super::{Arg, Columns, Connection, Driver, SqlStore, Statement};
use crate::transfer::{Batch, Counts, Transfer};
use async_trait::async_trait;
use tokengate_core::groups::Group;
use tokengate_core::model::{AuditRecord, Settings, TokenRecord, User};
use tokengate_core::store::{GroupStore, SessionRecord, StoreResult};
use tokengate_core::token::TokenDigest;

/// `SELECT columns FROM table WHERE key > $1 ORDER BY key LIMIT $n` (no key condition on the
/// first page, when `after` is `None`).
fn page(columns: &str, table: &str, key: &str, after: Option<Arg>, limit: u32) -> Statement {
    let mut query = Statement::new(format!("SELECT {columns} FROM {table}"));
    if let Some(after) = after {
        query.push(" WHERE ").push(key).push(" > ").push_bind(after);
    }
    query.push(" ORDER BY ").push(key).push(" LIMIT ");
    query.push_bind(i64::from(limit));
    query
}

fn counts_from_row(row: &dyn Columns) -> StoreResult<Counts> {
    Ok(Counts {
        users: row.count("users")?,
        tokens: row.count("tokens")?,
        settings: row.count("settings")?,
        audit: row.count("audit")?,
        sessions: row.count("sessions")?,
        groups: row.count("groups")?,
    })
}

/// The INSERTs of local groups and their memberships.
fn group_statements(groups: &[Group]) -> Vec<Statement> {
    let rows = groups
        .iter()
        .map(|group| vec![Arg::from(&group.name), Arg::from(group.created_at)]);
    let mut statements =
        vec![Statement::insert("groups", "name, created_at", rows).writes("group")];
    let members: Vec<Vec<Arg>> = groups
        .iter()
        .flat_map(|group| {
            group
                .members
                .iter()
                .map(|member| vec![Arg::from(&group.name), Arg::from(member)])
        })
        .collect();
    if !members.is_empty() {
        statements.push(Statement::insert(
            "group_members",
            "group_name, user_name",
            members,
        ));
    }
    statements
}

/// The INSERTs for one batch; none for an empty one.
fn import_statements(batch: Batch<'_>) -> StoreResult<Vec<Statement>> {
    let insert = match batch {
        Batch::Users([])
        | Batch::Tokens([])
        | Batch::Audit([])
        | Batch::Sessions([])
        | Batch::Groups([]) => {
            return Ok(Vec::new());
        }
        Batch::Groups(groups) => return Ok(group_statements(groups)),
        Batch::Users(users) => {
            Statement::insert("users", USER_COLUMNS, users.iter().map(user_values)).writes("user")
        }
        Batch::Tokens(tokens) => Statement::insert(
            "tokens",
            TOKEN_VALUES_COLUMNS,
            tokens.iter().map(token_values),
        )
        .writes("token"),
        Batch::Settings(settings) => upsert_settings(settings)?,
        Batch::Audit(records) => {
            let rows = records
                .iter()
                .map(record_values)
                .collect::<StoreResult<Vec<_>>>()?;
            Statement::insert("audit", AUDIT_COLUMNS, rows).writes("audit record")
        }
        Batch::Sessions(sessions) => Statement::insert(
            "sessions",
            SESSION_COLUMNS,
            sessions.iter().map(session_values),
        )
        .writes("session"),
    };
    Ok(vec![insert])
}

impl<D: Driver> SqlStore<D> {
    /// Runs `statements` in order in one write transaction.
    async fn run_all(&self, statements: &[&'static str]) -> StoreResult<()> {
        let mut transaction = self.driver.begin().await?;
        for statement in statements {
            transaction.execute(Statement::new(*statement)).await?;
        }
        D::commit(transaction).await
    }
}

#[async_trait]
impl<D: Driver> Transfer for SqlStore<D> {
    async fn counts(&self) -> StoreResult<Counts> {
        let query = Statement::new(
            "SELECT (SELECT COUNT(*) FROM users) AS users, (SELECT COUNT(*) FROM tokens) AS tokens, \
             (SELECT COUNT(*) FROM settings) AS settings, (SELECT COUNT(*) FROM audit) AS audit, \
             (SELECT COUNT(*) FROM sessions) AS sessions, (SELECT COUNT(*) FROM groups) AS groups",
        );
        Ok(self.one(query, counts_from_row).await?.unwrap_or_default())
    }

    async fn stored_settings(&self) -> StoreResult<Option<Settings>> {
        self.stored_settings_row().await
    }

    async fn users_after(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<User>> {
        let query = page(
            USER_READ_COLUMNS,
            "users",
            "name",
            after.map(Arg::from),
            limit,
        );
        self.all(query, user_from_row).await
    }

    async fn tokens_after(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<TokenRecord>> {
        let query = page(TOKEN_COLUMNS, "tokens", "id", after.map(Arg::from), limit);
        self.all(query, token_from_row).await
    }

    async fn audit_after(&self, after_id: i64, limit: u32) -> StoreResult<Vec<AuditRecord>> {
        let query = page(
            AUDIT_COLUMNS,
            "audit",
            "id",
            Some(Arg::from(after_id)),
            limit,
        );
        self.all(query, audit_from_row).await
    }

    async fn sessions_after(
        &self,
        after: Option<&TokenDigest>,
        limit: u32,
    ) -> StoreResult<Vec<SessionRecord>> {
        let after = after.map(|digest| Arg::from(digest.as_bytes()));
        let query = page(SESSION_COLUMNS, "sessions", "digest", after, limit);
        self.all(query, session_from_row).await
    }

    async fn clear(&self) -> StoreResult<()> {
        self.run_all(D::CLEAR).await
    }

    async fn import(&self, batch: Batch<'_>) -> StoreResult<()> {
        let statements = import_statements(batch)?;
        if statements.is_empty() {
            return Ok(());
        }
        let mut transaction = self.driver.begin().await?;
        for statement in statements {
            transaction.execute(statement).await?;
        }
        D::commit(transaction).await
    }

    async fn all_groups(&self) -> StoreResult<Vec<Group>> {
        GroupStore::groups(self).await
    }

    async fn finish_import(&self) -> StoreResult<()> {
        if D::FINISH_IMPORT.is_empty() {
            return Ok(());
        }
        self.run_all(D::FINISH_IMPORT).await
    }
}
