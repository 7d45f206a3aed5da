//! Users on SQLite: lookup, creation and changes with their audit records, and the failed-login
//! counter with its lock, updated atomically under the rules of `tokengate_core::lockout`.

use super::audit::insert_audit;
use super::codec::{
    Columns, column, counter, optional_instant, optional_millis, unavailable, write_error,
};
use super::{SqliteStore, begin_write};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;
use tokengate_core::lockout::{LockState, LockoutPolicy, after_failure, lock_state};
use tokengate_core::model::{Actor, AuditAction, NewAudit, Origin, User, UserChange};
use tokengate_core::store::{FailedLogin, StoreError, StoreResult, UserStore};

macro_rules! user_columns {
    () => {
        "name, display_name, admin, disabled, password_hash, failed_logins, locked_until"
    };
}

/// The hot-path lookup, run by the fast read path and by the pool alike.
const USER_BY_NAME: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE name = ?");

/// A user row read back, from either driver.
pub(super) fn user_from_row(row: &impl Columns) -> StoreResult<User> {
    Ok(User {
        name: column(row, "name")?,
        display_name: column(row, "display_name")?,
        admin: column(row, "admin")?,
        disabled: column(row, "disabled")?,
        password_hash: column(row, "password_hash")?,
        failed_logins: counter(row, "failed_logins")?,
        locked_until: optional_instant(column(row, "locked_until")?)?,
    })
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn user(&self, name: &str) -> StoreResult<Option<User>> {
        optional_row!(self, USER_BY_NAME, name, user_from_row)
    }

    async fn users(&self) -> StoreResult<Vec<User>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn count_users(&self) -> StoreResult<u64> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn create_user(&self, user: &User, audit: &NewAudit) -> StoreResult<()> {
        let mut transaction = begin_write(&self.pool).await?;
        sqlx::query(concat!(
            "INSERT INTO users (",
            user_columns!(),
            ") VALUES (?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&user.name)
        .bind(&user.display_name)
        .bind(user.admin)
        .bind(user.disabled)
        .bind(user.password_hash.as_deref())
        .bind(i64::from(user.failed_logins))
        .bind(optional_millis(user.locked_until))
        .execute(&mut *transaction)
        .await
        .map_err(|error| write_error(error, "user"))?;
        insert_audit(&mut transaction, audit).await?;
        transaction.commit().await.map_err(unavailable)
    }

    async fn update_user(
        &self,
        name: &str,
        change: &UserChange,
        audit: &NewAudit,
    ) -> StoreResult<User> {
        let mut transaction = begin_write(&self.pool).await?;
        // Unchanged values are written back as they are; the change-counter triggers compare
        // old and new, so only a real change of admin/disabled/password moves the counter.
        let row = sqlx::query(concat!(
            "UPDATE users SET display_name = COALESCE(?, display_name), ",
            "admin = COALESCE(?, admin), disabled = COALESCE(?, disabled), ",
            "password_hash = COALESCE(?, password_hash) WHERE name = ? RETURNING ",
            user_columns!()
        ))
        .bind(change.display_name.as_deref())
        .bind(change.admin)
        .bind(change.disabled)
        .bind(change.password_hash.as_deref())
        .bind(name)
        .fetch_optional(&mut *transaction)
        .await
        .map_err(|error| write_error(error, "user"))?;
        let Some(row) = row else {
            return Err(StoreError::NotFound("user"));
        };
        let user = user_from_row(&row)?;
        insert_audit(&mut transaction, audit).await?;
        transaction.commit().await.map_err(unavailable)?;
        Ok(user)
    }

    async fn record_failed_login(
        &self,
        name: &str,
        now: DateTime<Utc>,
        policy: LockoutPolicy,
    ) -> StoreResult<Option<FailedLogin>> {
        // BEGIN IMMEDIATE: the read below already holds the write lock, so concurrent
        // failures are counted one after another and none is lost.
        let mut transaction = begin_write(&self.pool).await?;
        let row = sqlx::query("SELECT failed_logins, locked_until FROM users WHERE name = ?")
            .bind(name)
            .fetch_optional(&mut *transaction)
            .await
            .map_err(unavailable)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let previous_count = counter(&row, "failed_logins")?;
        let previous_lock = optional_instant(column(&row, "locked_until")?)?;
        let (failed_logins, locked_until) =
            after_failure(previous_count, previous_lock, now, policy);
        sqlx::query("UPDATE users SET failed_logins = ?, locked_until = ? WHERE name = ?")
            .bind(i64::from(failed_logins))
            .bind(optional_millis(locked_until))
            .bind(name)
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?;
        let newly_locked = lock_state(previous_lock, now) == LockState::Open
            && lock_state(locked_until, now) != LockState::Open;
        if newly_locked {
            let audit = NewAudit::new(
                now,
                &Actor::System,
                AuditAction::UserLocked,
                &Origin::default(),
            )
            .user(name)
            .details(json!({"failed_logins": failed_logins, "locked_until": locked_until}));
            insert_audit(&mut transaction, &audit).await?;
        }
        transaction.commit().await.map_err(unavailable)?;
        Ok(Some(FailedLogin {
            failed_logins,
            locked_until,
            newly_locked,
        }))
    }

    async fn reset_failed_logins(&self, name: &str, audit: Option<&NewAudit>) -> StoreResult<bool> {
        let Some(audit) = audit else {
            // A successful password login: one statement that writes only when there is
            // something to clear (the common case writes nothing).
            let result = sqlx::query(
                "UPDATE users SET failed_logins = 0, locked_until = NULL \
                 WHERE name = ? AND (failed_logins <> 0 OR locked_until IS NOT NULL)",
            )
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
            return Ok(result.rows_affected() > 0);
        };
        let mut transaction = begin_write(&self.pool).await?;
        let result =
            sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE name = ?")
                .bind(name)
                .execute(&mut *transaction)
                .await
                .map_err(unavailable)?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound("user"));
        }
        insert_audit(&mut transaction, audit).await?;
        transaction.commit().await.map_err(unavailable)?;
        Ok(true)
    }
}
