//! The CLI's commands: each parses nothing (clap did), calls the shared operations in
//! `tokengate_core::manage` or the store, and prints. No rules live here; a refusal comes back
//! as a `CommandError` whose message is the one-line reason printed on stderr (exit 1).

pub mod audit;
pub mod db;
pub mod explain;
pub mod groups;
pub mod settings;
pub mod tokens;
pub mod users;

use std::io::{self, BufRead};
use tokengate_core::allowlist::InvalidEntry;
use tokengate_core::manage::ManageError;
use tokengate_core::secret::Secret;
use tokengate_core::store::StoreError;
use tokengate_server::config::ConfigError;
use tokengate_server::serve::ServeError;
use tokengate_store::OpenError;
use tokengate_store::transfer::CopyError;

/// Why a command did not succeed. Every variant is a refusal (exit 1); usage errors never get
/// here because clap reports them (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error(transparent)]
    Manage(#[from] ManageError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    AllowList(#[from] InvalidEntry),
    #[error(transparent)]
    Copy(#[from] CopyError),
    #[error(transparent)]
    Backup(#[from] tokengate_store::backup::BackupError),
    #[error("--from and --to name the same database")]
    SameDatabase,
    #[error("user \"{0}\" not found")]
    UserNotFound(String),
    #[error(
        "the audit log does not verify: record {0} was altered, or a record before it was removed or inserted"
    )]
    AuditBroken(i64),
    #[error("user \"{0}\" already exists")]
    UserExists(String),
    #[error("token \"{0}\" not found")]
    TokenNotFound(String),
    #[error("{0}")]
    InvalidGroups(String),
    #[error("cannot read stdin: {0}")]
    Input(#[source] io::Error),
    #[error("cannot write output: {0}")]
    Output(#[from] io::Error),
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] io::Error),
    /// `explain` found that the request would be denied (already printed in full).
    #[error("the request would be denied: {0}")]
    Denied(String),
}

impl CommandError {
    /// Whether the configuration is at fault (exit status 2, like a usage error).
    pub fn is_configuration(&self) -> bool {
        match self {
            Self::Config(_) => true,
            Self::Serve(error) => error.is_configuration(),
            _ => false,
        }
    }

    /// The underlying cause of a store failure, for the log (never part of the one-line reason).
    pub fn hidden_cause(&self) -> Option<&(dyn std::error::Error + 'static)> {
        let store_error = match self {
            Self::Manage(ManageError::Unavailable(error))
            | Self::Store(error)
            | Self::Copy(CopyError::Store(error)) => error,
            _ => return None,
        };
        match store_error {
            StoreError::Unavailable(cause) => Some(cause.as_ref()),
            _ => None,
        }
    }
}

/// Maps "user not found" and "user already exists" from a manage call to messages naming the
/// user.
pub fn about_user(name: &str) -> impl FnOnce(ManageError) -> CommandError + '_ {
    move |error| match error {
        ManageError::NotFound("user") => CommandError::UserNotFound(name.to_owned()),
        ManageError::Conflict("user") => CommandError::UserExists(name.to_owned()),
        other => CommandError::Manage(other),
    }
}

/// Reads one line from stdin without its line ending, straight into a `Secret`.
pub fn read_secret_line() -> Result<Secret, CommandError> {
    // Room for the longest accepted password, so the buffer is not reallocated (and a copy of
    // the secret left behind) while reading.
    let mut line = String::with_capacity(tokengate_core::password::MAX_PASSWORD_LEN + 2);
    io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(CommandError::Input)?;
    let kept = line.trim_end_matches(['\n', '\r']).len();
    line.truncate(kept);
    Ok(Secret::new(line))
}
