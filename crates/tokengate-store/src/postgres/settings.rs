//! The system-wide settings on PostgreSQL: one row (id = 1), absent until first saved, when
//! `Settings::default()` applies. Every save carries its audit record and moves the change
//! counter (a trigger, which also wakes the other nodes).

use super::audit::insert_audit;
use super::codec::{column, json_text, unavailable};
use super::{PostgresStore, begin};
use async_trait::async_trait;
use serde_json::{Value, json};
use sqlx::PgConnection;
use sqlx::postgres::PgRow;
use tokengate_core::model::{NewAudit, Settings};
use tokengate_core::store::{SettingsStore, StoreError, StoreResult};

/// Reads the row through the settings' own JSON shape, so stored values are validated exactly
/// like values arriving over the API (an invalid allow-list entry is reported, not ignored).
fn settings_from_row(row: &PgRow) -> StoreResult<Settings> {
    let max_validity: String = column(row, "max_validity")?;
    let ip_allowlist: String = column(row, "ip_allowlist")?;
    let password_auth: String = column(row, "password_auth")?;
    let admins_only: bool = column(row, "admins_only")?;
    let ip_allowlist: Value = serde_json::from_str(&ip_allowlist)
        .map_err(|error| StoreError::Corrupt(format!("settings ip_allowlist: {error}")))?;
    serde_json::from_value(json!({
        "max_validity": max_validity,
        "ip_allowlist": ip_allowlist,
        "password_auth": password_auth,
        "admins_only": admins_only,
    }))
    .map_err(|error| StoreError::Corrupt(format!("settings: {error}")))
}

/// The saved settings row, or `None` while the defaults apply.
pub(super) async fn stored_settings(store: &PostgresStore) -> StoreResult<Option<Settings>> {
    let row = sqlx::query(
        "SELECT max_validity, ip_allowlist, password_auth, admins_only \
         FROM settings WHERE id = 1",
    )
    .fetch_optional(&store.pool)
    .await
    .map_err(unavailable)?;
    row.as_ref().map(settings_from_row).transpose()
}

/// Inserts or replaces the settings row on `connection`.
pub(super) async fn upsert_settings(
    connection: &mut PgConnection,
    settings: &Settings,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO settings (id, max_validity, ip_allowlist, password_auth, admins_only) \
         VALUES (1, $1, $2, $3, $4) \
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

#[async_trait]
impl SettingsStore for PostgresStore {
    async fn settings(&self) -> StoreResult<Settings> {
        Ok(stored_settings(self).await?.unwrap_or_default())
    }

    async fn save_settings(&self, settings: &Settings, audit: &NewAudit) -> StoreResult<()> {
        let mut transaction = begin(&self.pool).await?;
        upsert_settings(&mut transaction, settings).await?;
        insert_audit(&mut transaction, audit).await?;
        transaction.commit().await.map_err(unavailable)
    }
}
