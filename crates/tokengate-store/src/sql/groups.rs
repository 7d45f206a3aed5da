//! Local groups and their members, and the directory's view of a user (its groups, e-mail and
//! admin flag, and deprovisioning). Membership changes move the change counter through the
//! `group_members` triggers; directory groups through the `users` trigger (migration 0005).

use super::audit::insert_audit;
use super::users::{USER_BY_NAME, join_groups, user_from_row};
use super::{Columns, Connection, Driver, SqlStore, Statement};
use async_trait::async_trait;
use tokengate_core::groups::Group;
use tokengate_core::model::{NewAudit, User};
use tokengate_core::store::{
    DirectoryProfile, DirectoryStore, GroupStore, StoreError, StoreResult,
};

/// A group row with its members (`string_agg` over `group_members`, sorted in Rust).
const GROUP_SELECT: &str = "SELECT name, created_at, (SELECT string_agg(user_name, ',') \
     FROM group_members WHERE group_members.group_name = groups.name) AS members FROM groups";

fn group_from_row(row: &dyn Columns) -> StoreResult<Group> {
    let mut members: Vec<String> = row
        .optional_text("members")?
        .map(|joined| joined.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    members.sort();
    Ok(Group {
        name: row.text("name")?,
        members,
        created_at: row.time("created_at")?,
    })
}

fn exists(row: &dyn Columns) -> StoreResult<bool> {
    Ok(row.integer("one")? == 1)
}

/// Fails with `NotFound(what)` unless `table` has a row named `name`.
async fn require<C: Connection + ?Sized>(
    connection: &mut C,
    table: &'static str,
    what: &'static str,
    name: &str,
) -> StoreResult<()> {
    let query = Statement::new(format!(
        "SELECT CAST(1 AS BIGINT) AS one FROM {table} WHERE name = $1"
    ))
    .bind(name);
    match connection.fetch_optional(query, exists).await? {
        Some(true) => Ok(()),
        _ => Err(StoreError::NotFound(what)),
    }
}

async fn add_member<C: Connection + ?Sized>(
    connection: &mut C,
    group: &str,
    user: &str,
) -> StoreResult<()> {
    require(connection, "users", "user", user).await?;
    let insert = Statement::new(
        "INSERT INTO group_members (group_name, user_name) VALUES ($1, $2) \
         ON CONFLICT (group_name, user_name) DO NOTHING",
    )
    .bind(group)
    .bind(user);
    connection.execute(insert).await?;
    Ok(())
}

impl<D: Driver> SqlStore<D> {
    async fn read_group<C: Connection + ?Sized>(
        connection: &mut C,
        name: &str,
    ) -> StoreResult<Option<Group>> {
        let query = Statement::new(format!("{GROUP_SELECT} WHERE name = $1")).bind(name);
        connection.fetch_optional(query, group_from_row).await
    }

    async fn read_user<C: Connection + ?Sized>(
        connection: &mut C,
        name: &str,
    ) -> StoreResult<User> {
        let query = Statement::new(USER_BY_NAME).bind(name);
        connection
            .fetch_optional(query, user_from_row)
            .await?
            .ok_or(StoreError::NotFound("user"))
    }
}

#[async_trait]
impl<D: Driver> GroupStore for SqlStore<D> {
    async fn groups(&self) -> StoreResult<Vec<Group>> {
        let query = Statement::new(format!("{GROUP_SELECT} ORDER BY name"));
        self.all(query, group_from_row).await
    }

    async fn group(&self, name: &str) -> StoreResult<Option<Group>> {
        let mut connection = self.driver.connection().await?;
        Self::read_group(&mut *connection, name).await
    }

    async fn create_group(&self, group: &Group, audit: &NewAudit) -> StoreResult<()> {
        let mut transaction = self.driver.begin().await?;
        let insert = Statement::new("INSERT INTO groups (name, created_at) VALUES ($1, $2)")
            .bind(group.name.as_str())
            .bind(group.created_at)
            .writes("group");
        transaction.execute(insert).await?;
        for member in &group.members {
            add_member(&mut *transaction, &group.name, member).await?;
        }
        insert_audit::<D, _>(&mut *transaction, audit).await?;
        D::commit(transaction).await
    }

    async fn delete_group(&self, name: &str, audit: &NewAudit) -> StoreResult<bool> {
        let delete = Statement::new("DELETE FROM groups WHERE name = $1").bind(name);
        let changed = self
            .write(delete, |changed| (changed > 0).then(|| audit.clone()))
            .await?;
        Ok(changed > 0)
    }

    async fn change_members(
        &self,
        name: &str,
        add: &[String],
        remove: &[String],
        audit: &NewAudit,
    ) -> StoreResult<Group> {
        let mut transaction = self.driver.begin().await?;
        require(&mut *transaction, "groups", "group", name).await?;
        for user in add {
            add_member(&mut *transaction, name, user).await?;
        }
        for user in remove {
            let delete = Statement::new(
                "DELETE FROM group_members WHERE group_name = $1 AND user_name = $2",
            )
            .bind(name)
            .bind(user.as_str());
            transaction.execute(delete).await?;
        }
        let group = Self::read_group(&mut *transaction, name)
            .await?
            .ok_or(StoreError::NotFound("group"))?;
        insert_audit::<D, _>(&mut *transaction, audit).await?;
        D::commit(transaction).await?;
        Ok(group)
    }

    async fn set_local_groups(
        &self,
        user: &str,
        groups: &[String],
        audit: &NewAudit,
    ) -> StoreResult<User> {
        let mut transaction = self.driver.begin().await?;
        require(&mut *transaction, "users", "user", user).await?;
        for group in groups {
            require(&mut *transaction, "groups", "group", group).await?;
        }
        let clear = Statement::new("DELETE FROM group_members WHERE user_name = $1").bind(user);
        transaction.execute(clear).await?;
        for group in groups {
            add_member(&mut *transaction, group, user).await?;
        }
        let user = Self::read_user(&mut *transaction, user).await?;
        insert_audit::<D, _>(&mut *transaction, audit).await?;
        D::commit(transaction).await?;
        Ok(user)
    }
}

#[async_trait]
impl<D: Driver> DirectoryStore for SqlStore<D> {
    async fn refresh_directory_user(
        &self,
        profile: &DirectoryProfile,
        audit: &NewAudit,
    ) -> StoreResult<(User, bool)> {
        // Writes only when something differs, so an unchanged sign-in or sync writes nothing
        // (no audit record, no change-counter move).
        let update = Statement::new(
            "UPDATE users SET display_name = $1, email = $2, admin = $3, directory_groups = $4, \
             source = $5, disabled = CASE WHEN deprovisioned THEN FALSE ELSE disabled END, \
             deprovisioned = FALSE WHERE name = $6 AND (display_name IS DISTINCT FROM $1 \
             OR email IS DISTINCT FROM $2 OR admin IS DISTINCT FROM $3 \
             OR directory_groups IS DISTINCT FROM $4 OR source IS DISTINCT FROM $5 \
             OR deprovisioned)",
        )
        .bind(profile.display_name.as_str())
        .bind(profile.email.as_deref())
        .bind(profile.admin)
        .bind(join_groups(&profile.groups))
        .bind(profile.source.as_str())
        .bind(profile.name.as_str());
        let mut transaction = self.driver.begin().await?;
        let changed = transaction.execute(update).await? > 0;
        let user = Self::read_user(&mut *transaction, &profile.name).await?;
        if changed {
            insert_audit::<D, _>(&mut *transaction, audit).await?;
        }
        D::commit(transaction).await?;
        Ok((user, changed))
    }

    async fn deprovision_user(&self, name: &str, audit: &NewAudit) -> StoreResult<bool> {
        let update = Statement::new(
            "UPDATE users SET disabled = TRUE, deprovisioned = TRUE \
             WHERE name = $1 AND source <> 'local' AND NOT disabled",
        )
        .bind(name);
        let changed = self
            .write(update, |changed| (changed > 0).then(|| audit.clone()))
            .await?;
        Ok(changed > 0)
    }
}
