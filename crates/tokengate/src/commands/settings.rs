//! `tokengate settings ...`: show the system-wide settings, or change one of them through
//! `manage::change_settings` (audited with old and new value). The CLI is local, so there is no
//! would-lock-out check here. Prints; decides nothing.

use super::CommandError;
use crate::cli::{SetCommand, SettingsCommand};
use crate::output::{self, print_json, print_line, table};
use tokengate_core::allowlist::IpAllowList;
use tokengate_core::manage::{self, AdminChange};
use tokengate_core::model::Settings;
use tokengate_core::store::Store;

pub async fn run(
    store: &dyn Store,
    change: &AdminChange<'_>,
    command: SettingsCommand,
) -> Result<(), CommandError> {
    match command {
        SettingsCommand::Show { json } => show(store, json).await,
        SettingsCommand::Set(set) => update(store, change, set).await,
    }
}

async fn show(store: &dyn Store, json: bool) -> Result<(), CommandError> {
    let settings = store.settings().await?;
    if json {
        print_json(&settings)?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = Key::ALL
        .into_iter()
        .map(|key| vec![key.name().to_owned(), key.describe(&settings)])
        .collect();
    output::print(&table(&["SETTING", "VALUE"], &rows))?;
    Ok(())
}

/// The four settings, by their command-line names.
#[derive(Debug, Clone, Copy)]
enum Key {
    MaxValidity,
    IpAllowList,
    PasswordAuth,
    AdminsOnly,
}

impl Key {
    const ALL: [Key; 4] = [
        Self::MaxValidity,
        Self::IpAllowList,
        Self::PasswordAuth,
        Self::AdminsOnly,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::MaxValidity => "max-validity",
            Self::IpAllowList => "ip-allowlist",
            Self::PasswordAuth => "password-auth",
            Self::AdminsOnly => "admins-only",
        }
    }

    /// The setting's value as a person reads it.
    fn describe(self, settings: &Settings) -> String {
        match self {
            Self::MaxValidity => settings.max_validity.as_str().to_owned(),
            Self::IpAllowList if settings.ip_allowlist.is_empty() => {
                "(empty: every address is allowed)".to_owned()
            }
            Self::IpAllowList => settings.ip_allowlist.to_strings().join(", "),
            Self::PasswordAuth => settings.password_auth.as_str().to_owned(),
            Self::AdminsOnly => settings.admins_only.to_string(),
        }
    }
}

async fn update(
    store: &dyn Store,
    change: &AdminChange<'_>,
    set: SetCommand,
) -> Result<(), CommandError> {
    let mut settings = store.settings().await?;
    let key = match set {
        SetCommand::MaxValidity { value } => {
            settings.max_validity = value;
            Key::MaxValidity
        }
        SetCommand::IpAllowlist { value } => {
            settings.ip_allowlist = IpAllowList::parse_text(&value)?;
            Key::IpAllowList
        }
        SetCommand::PasswordAuth { value } => {
            settings.password_auth = value.into();
            Key::PasswordAuth
        }
        SetCommand::AdminsOnly { value } => {
            settings.admins_only = value;
            Key::AdminsOnly
        }
    };
    let changed = manage::change_settings(store, change, &settings).await;
    let changed = tokengate_server::effects::in_store(store, changed).await?;
    let (name, value) = (key.name(), key.describe(&settings));
    if changed {
        print_line(&format!("{name} is now {value}."))?;
    } else {
        print_line(&format!("{name} was already {value}; nothing changed."))?;
    }
    Ok(())
}
