//! The system-wide settings on SQLite: one row (id = 1), absent until first saved, when
//! `Settings::default()` applies. Every save carries its audit record and moves the change
//! counter (a trigger).

use super::audit::insert_audit;
use super::codec::{column, json_text, unavailable};
use super::{SqliteStore, begin_write};
use async_trait::async_trait;
use serde_json::{Value, json};
use sqlx::sqlite::SqliteRow;
use tokengate_core::model::{NewAudit, Settings};
use tokengate_core::store::{SettingsStore, StoreError, StoreResult};

/// Reads the row through the settings' own JSON shape, so stored values are validated exactly
/// like values arriving over the API (an invalid allow-list entry is reported, not ignored).
pub(super) fn settings_from_row(row: &SqliteRow) -> StoreResult<Settings> {
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

#[async_trait]
impl SettingsStore for SqliteStore {
    async fn settings(&self) -> StoreResult<Settings> {
        let row = sqlx::query(
            "SELECT max_validity, ip_allowlist, password_auth, admins_only \
             FROM settings WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.as_ref()
            .map_or_else(|| Ok(Settings::default()), settings_from_row)
    }

    async fn save_settings(&self, settings: &Settings, audit: &NewAudit) -> StoreResult<()> {
        let mut transaction = begin_write(&self.pool).await?;
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
        .execute(&mut *transaction)
        .await
        .map_err(unavailable)?;
        insert_audit(&mut transaction, audit).await?;
        transaction.commit().await.map_err(unavailable)
    }
}
