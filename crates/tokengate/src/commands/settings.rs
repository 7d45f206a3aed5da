//! `tokengate settings ...`: show the system-wide settings, or change one of them through
//! `manage::change_settings` (audited with old and new value). The CLI is local, so there is no
//! would-lock-out check here. Prints; decides nothing.

use super::CommandError;
use crate::cli::{SetCommand, SettingsCommand};
use crate::output::{self, print_json, print_line, table};
use tokengate_core::allowlist::IpAllowList;
use tokengate_core::groups::{GroupList, Permission};
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

/// The settings, by their command-line names.
#[derive(Debug, Clone, Copy)]
enum Key {
    MaxValidity,
    IpAllowList,
    PasswordAuth,
    AdminsOnly,
    Permission(Permission),
    AuditAuthEvents,
}

impl Key {
    const ALL: [Key; 8] = [
        Self::MaxValidity,
        Self::IpAllowList,
        Self::PasswordAuth,
        Self::AdminsOnly,
        Self::Permission(Permission::UseTokens),
        Self::Permission(Permission::CreateOwnTokens),
        Self::Permission(Permission::CreateTokensForOthers),
        Self::AuditAuthEvents,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::MaxValidity => "max-validity",
            Self::IpAllowList => "ip-allowlist",
            Self::PasswordAuth => "password-auth",
            Self::AdminsOnly => "admins-only",
            Self::Permission(Permission::UseTokens) => "use-tokens",
            Self::Permission(Permission::CreateOwnTokens) => "create-own-tokens",
            Self::Permission(Permission::CreateTokensForOthers) => "create-tokens-for-others",
            Self::AuditAuthEvents => "audit-auth-events",
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
            Self::Permission(permission) => {
                let names = settings.permissions.list(permission).names();
                if names.is_empty() {
                    "(empty: administrators only)".to_owned()
                } else {
                    names.join(", ")
                }
            }
            Self::AuditAuthEvents => {
                let events = settings.audit_auth_events;
                let on: Vec<&str> = [
                    (events.success, "success"),
                    (events.failure, "failure"),
                    (events.denied, "denied"),
                ]
                .into_iter()
                .filter_map(|(on, name)| on.then_some(name))
                .collect();
                if on.is_empty() {
                    "none".to_owned()
                } else {
                    on.join(", ")
                }
            }
        }
    }
}

/// A permission's groups as typed: comma-separated, `*` for every user.
fn groups(typed: &str) -> Result<GroupList, CommandError> {
    let entries: Vec<&str> = typed
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .collect();
    GroupList::parse(&entries).map_err(CommandError::InvalidGroups)
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
        SetCommand::UseTokens { value } => {
            settings.permissions.use_tokens = groups(&value)?;
            Key::Permission(Permission::UseTokens)
        }
        SetCommand::CreateOwnTokens { value } => {
            settings.permissions.create_own_tokens = groups(&value)?;
            Key::Permission(Permission::CreateOwnTokens)
        }
        SetCommand::CreateTokensForOthers { value } => {
            settings.permissions.create_tokens_for_others = groups(&value)?;
            Key::Permission(Permission::CreateTokensForOthers)
        }
        SetCommand::AuditAuthEvents { value } => {
            settings.audit_auth_events = value;
            Key::AuditAuthEvents
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
