//! The system-wide settings: one row (id = 1), absent until first saved, when
//! `Settings::default()` applies. Every save carries its audit record and moves the change
//! counter (a trigger, which on PostgreSQL also wakes the other nodes).

use super::audit::always;
use super::columns::json_text;
use super::{Columns, Driver, SqlStore, Statement};
use async_trait::async_trait;
use serde_json::{Value, json};
use tokengate_core::model::{NewAudit, Settings};
use tokengate_core::store::{SettingsStore, StoreError, StoreResult};

/// Reads the row through the settings' own JSON shape, so stored values are validated exactly
/// like values arriving over the API (an invalid allow-list entry is reported, not ignored).
fn settings_from_row(row: &dyn Columns) -> StoreResult<Settings> {
    let json_column = |name: &str| -> StoreResult<Value> {
        serde_json::from_str(&row.text(name)?)
            .map_err(|error| StoreError::Corrupt(format!("settings {name}: {error}")))
    };
    serde_json::from_value(json!({
        "max_validity": row.text("max_validity")?,
        "ip_allowlist": json_column("ip_allowlist")?,
        "password_auth": row.text("password_auth")?,
        "admins_only": row.flag("admins_only")?,
        "permissions": json_column("permissions")?,
        "audit_auth_events": json_column("audit_auth_events")?,
    }))
    .map_err(|error| StoreError::Corrupt(format!("settings: {error}")))
}

/// Inserts or replaces the settings row.
pub(crate) fn upsert_settings(settings: &Settings) -> StoreResult<Statement> {
    Ok(Statement::new(
        "INSERT INTO settings (id, max_validity, ip_allowlist, password_auth, admins_only, \
         permissions, audit_auth_events) VALUES (1, $1, $2, $3, $4, $5, $6) \
         ON CONFLICT (id) DO UPDATE SET max_validity = excluded.max_validity, \
         ip_allowlist = excluded.ip_allowlist, password_auth = excluded.password_auth, \
         admins_only = excluded.admins_only, permissions = excluded.permissions, \
         audit_auth_events = excluded.audit_auth_events",
    )
    .bind(settings.max_validity.as_str())
    .bind(json_text(&settings.ip_allowlist)?)
    .bind(settings.password_auth.as_str())
    .bind(settings.admins_only)
    .bind(json_text(&settings.permissions)?)
    .bind(json_text(&settings.audit_auth_events)?))
}

impl<D: Driver> SqlStore<D> {
    /// The saved settings row, or `None` while the defaults apply.
    pub(crate) async fn stored_settings_row(&self) -> StoreResult<Option<Settings>> {
        let query = Statement::new(
            "SELECT max_validity, ip_allowlist, password_auth, admins_only, permissions, \
             audit_auth_events FROM settings WHERE id = 1",
        );
        self.one(query, settings_from_row).await
    }
}

#[async_trait]
impl<D: Driver> SettingsStore for SqlStore<D> {
    async fn settings(&self) -> StoreResult<Settings> {
        Ok(self.stored_settings_row().await?.unwrap_or_default())
    }

    async fn save_settings(&self, settings: &Settings, audit: &NewAudit) -> StoreResult<()> {
        self.write(upsert_settings(settings)?, always(audit))
            .await?;
        Ok(())
    }
}
