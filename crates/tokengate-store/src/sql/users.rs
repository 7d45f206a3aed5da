//! Users: lookup, creation and changes with their audit records, and the failed-login counter
//! with its lock. What a failure does is decided by `tokengate_core::lockout`; the store reads
//! the counter and lock, and writes back the outcome (and its `user.locked` record), under a
//! lock that makes concurrent failures count one after another.
//!
//! A new column: add it to the migrations, `user_columns!`, [`user_values`] and
//! [`user_from_row`]. Local group memberships are read with every user (`user_select!`).

use super::audit::{always, insert_audit, with_audit};
use super::{Arg, Columns, Connection, Driver, SqlStore, Statement};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokengate_core::groups::UserSource;
use tokengate_core::lockout::{LockoutPolicy, failed_login, locked_record};
use tokengate_core::model::{NewAudit, User, UserChange};
use tokengate_core::store::{FailedLogin, StoreError, StoreResult, UserStore};

macro_rules! user_columns {
    () => {
        "name, display_name, email, source, admin, disabled, password_hash, failed_logins, \
         locked_until, directory_groups"
    };
}

/// The stored columns of a user, in the order of [`user_values`].
pub(crate) const USER_COLUMNS: &str = user_columns!();

/// What a user is read with: the stored columns and the local groups the user is in.
macro_rules! user_read_columns {
    () => {
        concat!(
            user_columns!(),
            ", (SELECT string_agg(group_name, ',') FROM group_members ",
            "WHERE group_members.user_name = users.name) AS local_groups"
        )
    };
}

macro_rules! user_select {
    () => {
        concat!("SELECT ", user_read_columns!(), " FROM users")
    };
}

/// [`USER_COLUMNS`] and the local groups, for reading ([`user_from_row`]).
pub(crate) const USER_READ_COLUMNS: &str = user_read_columns!();

/// The hot-path lookup, run by SQLite's fast read path and by the pool alike.
pub(crate) const USER_BY_NAME: &str = concat!(user_select!(), " WHERE name = $1");

/// A user as stored, counter and lock included (creation and bulk import). Local group
/// memberships are stored apart (`group_members`).
pub(crate) fn user_values(user: &User) -> Vec<Arg> {
    vec![
        Arg::from(&user.name),
        Arg::from(&user.display_name),
        Arg::from(user.email.as_deref()),
        Arg::from(user.source.as_str()),
        Arg::from(user.admin),
        Arg::from(user.disabled),
        Arg::from(user.password_hash.as_deref()),
        Arg::from(user.failed_logins),
        Arg::from(user.locked_until),
        Arg::from(join_groups(&user.directory_groups)),
    ]
}

/// Group names joined by ',' (they never contain one).
pub(crate) fn join_groups(groups: &[String]) -> String {
    groups.join(",")
}

fn split_groups(joined: Option<String>) -> Vec<String> {
    joined
        .map(|joined| {
            joined
                .split(',')
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// A user row read back ([`USER_READ_COLUMNS`]), from any driver.
pub(crate) fn user_from_row(row: &dyn Columns) -> StoreResult<User> {
    let source = row.text("source")?;
    let directory_groups = split_groups(row.optional_text("directory_groups")?);
    let mut groups = split_groups(row.optional_text("local_groups")?);
    groups.extend(directory_groups.iter().cloned());
    groups.sort();
    groups.dedup();
    Ok(User {
        name: row.text("name")?,
        display_name: row.text("display_name")?,
        email: row.optional_text("email")?,
        source: UserSource::parse(&source)
            .ok_or_else(|| StoreError::Corrupt(format!("column source: {source:?}")))?,
        groups,
        directory_groups,
        admin: row.flag("admin")?,
        disabled: row.flag("disabled")?,
        password_hash: row.optional_text("password_hash")?,
        failed_logins: row.counter("failed_logins")?,
        locked_until: row.optional_time("locked_until")?,
    })
}

/// The stored counter and lock.
fn lock_from_row(row: &dyn Columns) -> StoreResult<(u32, Option<DateTime<Utc>>)> {
    Ok((
        row.counter("failed_logins")?,
        row.optional_time("locked_until")?,
    ))
}

#[async_trait]
impl<D: Driver> UserStore for SqlStore<D> {
    async fn user(&self, name: &str) -> StoreResult<Option<User>> {
        self.lookup(USER_BY_NAME, Arg::from(name), user_from_row)
            .await
    }

    async fn users(&self) -> StoreResult<Vec<User>> {
        let query = Statement::new(concat!(user_select!(), " ORDER BY name"));
        self.all(query, user_from_row).await
    }

    async fn count_users(&self) -> StoreResult<u64> {
        let query = Statement::new("SELECT COUNT(*) AS n FROM users");
        Ok(self.one(query, |row| row.count("n")).await?.unwrap_or(0))
    }

    async fn create_user(&self, user: &User, audit: &NewAudit) -> StoreResult<()> {
        let insert = Statement::insert("users", USER_COLUMNS, [user_values(user)]);
        self.write(insert.writes("user"), always(audit)).await?;
        Ok(())
    }

    async fn update_user(
        &self,
        name: &str,
        change: &UserChange,
        audit: &NewAudit,
    ) -> StoreResult<User> {
        // Unchanged values are written back as they are; the change-counter triggers compare
        // old and new, so only a real change of admin/disabled/password moves the counter.
        // An admin enabling a user also ends a directory deprovisioning (the next sync decides
        // again). `$2`/`$3`: whether and to what the e-mail address changes.
        let update = Statement::new(concat!(
            "UPDATE users SET display_name = COALESCE($1, display_name), ",
            "email = CASE WHEN $2 THEN $3 ELSE email END, ",
            "admin = COALESCE($4, admin), disabled = COALESCE($5, disabled), ",
            "deprovisioned = CASE WHEN $5 = FALSE THEN FALSE ELSE deprovisioned END, ",
            "password_hash = COALESCE($6, password_hash) WHERE name = $7"
        ))
        .bind(change.display_name.as_deref())
        .bind(change.email.is_some())
        .bind(change.email.clone().flatten())
        .bind(change.admin)
        .bind(change.disabled)
        .bind(change.password_hash.as_deref())
        .bind(name)
        .writes("user");
        let mut transaction = self.driver.begin().await?;
        if transaction.execute(update).await? == 0 {
            return Err(StoreError::NotFound("user"));
        }
        let read = Statement::new(USER_BY_NAME).bind(name);
        let Some(user) = transaction.fetch_optional(read, user_from_row).await? else {
            return Err(StoreError::NotFound("user"));
        };
        insert_audit::<D, _>(&mut *transaction, audit).await?;
        D::commit(transaction).await?;
        Ok(user)
    }

    async fn record_failed_login(
        &self,
        name: &str,
        now: DateTime<Utc>,
        policy: LockoutPolicy,
    ) -> StoreResult<Option<FailedLogin>> {
        // The read holds the write lock (SQLite's BEGIN IMMEDIATE, PostgreSQL's FOR UPDATE):
        // a failure counted at the same moment, on this node or another, waits for this
        // transaction and then reads its result, so none is lost.
        let read = format!(
            "SELECT failed_logins, locked_until FROM users WHERE name = $1{}",
            D::FOR_UPDATE
        );
        let mut transaction = self.driver.begin().await?;
        let stored = transaction
            .fetch_optional(Statement::new(read).bind(name), lock_from_row)
            .await?;
        let Some((failed_logins, locked_until)) = stored else {
            return Ok(None);
        };
        let failure = failed_login(failed_logins, locked_until, now, policy);
        let update = Statement::new(
            "UPDATE users SET failed_logins = $1, locked_until = $2 WHERE name = $3",
        )
        .bind(failure.failed_logins)
        .bind(failure.locked_until)
        .bind(name);
        transaction.execute(update).await?;
        if let Some(record) = locked_record(name, &failure, now) {
            insert_audit::<D, _>(&mut *transaction, &record).await?;
        }
        D::commit(transaction).await?;
        Ok(Some(failure))
    }

    async fn reset_failed_logins(&self, name: &str, audit: Option<&NewAudit>) -> StoreResult<bool> {
        let Some(audit) = audit else {
            // A successful password login: one statement that writes only when there is
            // something to clear (the common case writes nothing).
            let clear = Statement::new(
                "UPDATE users SET failed_logins = 0, locked_until = NULL \
                 WHERE name = $1 AND (failed_logins <> 0 OR locked_until IS NOT NULL)",
            );
            return Ok(self.run(clear.bind(name)).await? > 0);
        };
        let reset = Statement::new(
            "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE name = $1",
        )
        .bind(name);
        if self.write(reset, with_audit(audit)).await? == 0 {
            return Err(StoreError::NotFound("user"));
        }
        Ok(true)
    }
}
