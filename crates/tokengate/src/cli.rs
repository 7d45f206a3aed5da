//! The command line as clap types (SPEC §4). Parsing and value validation only: anything
//! clap refuses here is a usage error (exit 2); what the commands do lives in `commands`.

use chrono::NaiveDate;
use clap::builder::BoolValueParser;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::str::FromStr;
use tokengate_core::model::{AuditAction, AuthEvents, PasswordAuth};
use tokengate_core::validity::{MaxValidity, ValidityRequest};

/// tokengate: API token authentication gateway.
///
/// Every command works on the database named by the configuration (`database_url`), the same
/// one `tokengate serve` uses. Changes made here are audited with actor "cli".
///
/// Exit status: 0 on success, 1 when an operation is refused (the reason is printed on
/// stderr), 2 on usage errors and configuration errors (a missing `--config` file, or one line
/// naming the key of a bad value; nothing is written).
#[derive(Debug, Parser)]
#[command(name = "tokengate", version, about, long_about)]
pub struct Cli {
    /// Configuration file (TOML). Default: ./tokengate.toml when present, else built-in
    /// defaults; TOKENGATE_* environment variables override either.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway, web UI and REST API.
    Serve,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Show or change the system-wide settings.
    #[command(subcommand)]
    Settings(SettingsCommand),
    /// Read the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Manage local groups (directory groups are read from LDAP or OIDC).
    #[command(subcommand)]
    Group(GroupCommand),
    /// Explain why a request by a user would be allowed or denied, without side effects.
    ///
    /// Runs the full authentication decision against the current settings and stored
    /// records, as if the request came from --ip with Basic credentials for --user (the
    /// secret, a password or a token, is read from stdin with --secret-stdin; without it the
    /// request carries no credentials). Nothing is recorded: no failed-login count, no
    /// last-use time. The secret is never printed.
    ///
    /// Exit status: 0 when the request would be allowed, 1 when it would be denied.
    Explain(ExplainArgs),
    /// Maintain databases: move an installation between SQLite and PostgreSQL.
    #[command(subcommand)]
    Db(DbCommand),
    /// Print shell completions for bash, zsh or fish to stdout.
    ///
    /// bash: `tokengate completions bash > /etc/bash_completion.d/tokengate`
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff) to stdout: `tokengate man | man -l -`.
    Man,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy an installation to another database: users (with password hashes, failed-login
    /// counters and locks), tokens (digests, expiry, last use), settings and the audit log
    /// (ids and order kept); web UI sessions with --sessions.
    ///
    /// Stop every `tokengate serve` on the source first: changes made during the copy would
    /// be missed. The result is verified by counting the target. A target that already holds
    /// anything is refused unless --force, which replaces its contents. The configuration's
    /// database_url is not used: both databases are named here.
    Copy(CopyArgs),
    /// Write an online, consistent copy of the configured SQLite database to a new FILE
    /// (owner-only; an existing file is refused). `serve` may keep running. For PostgreSQL,
    /// use pg_dump.
    Backup {
        /// The new file.
        file: std::path::PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The database to copy from (sqlite://PATH or postgres://USER@HOST/DB).
    #[arg(long, value_name = "URL")]
    pub from: String,
    /// The database to copy to; created and migrated if needed.
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// Replace whatever the target holds.
    #[arg(long)]
    pub force: bool,
    /// Copy web UI sessions too (otherwise everyone signs in again).
    #[arg(long)]
    pub sessions: bool,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user.
    ///
    /// Without --password-stdin the user has no password: they cannot sign in to the web UI
    /// or use Basic password authentication, but can use API tokens an admin creates for them.
    Add {
        /// User name: 1 to 128 of A-Z a-z 0-9 . _ @ -
        name: String,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Grant or revoke administrator rights.
    SetAdmin {
        name: String,
        /// true or false
        #[arg(value_parser = BoolValueParser::new(), action = ArgAction::Set, value_name = "true|false")]
        admin: bool,
    },
    /// Set a user's e-mail address (where expiry and token notices go); "" clears it.
    SetEmail {
        name: String,
        /// The address, or "" for none.
        email: String,
    },
    /// Disable a user: their tokens and password stop working.
    Disable { name: String },
    /// Enable a disabled user.
    Enable { name: String },
    /// Reset a user's failed-login counter and lift a password lock.
    ResetFailedLogins { name: String },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token for a user. The secret is printed once on stdout (alone on its line).
    Create(CreateTokenArgs),
    /// List tokens (never their secrets).
    List {
        /// Only the tokens of this user.
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete one token by its id.
    Delete { id: String },
    /// Delete every token of a user.
    DeleteAll {
        #[arg(long, value_name = "NAME")]
        user: String,
    },
    /// Replace what a token may reach (the options given; none = no restriction at all).
    Restrict {
        id: String,
        #[command(flatten)]
        restrictions: RestrictionArgs,
    },
    /// Give a token a new secret (printed once): same id, name and restrictions.
    Rotate {
        id: String,
        /// How long the old secret keeps working: 30s, 10m, 24h, at most 7d; default 0.
        #[arg(long, value_name = "DURATION")]
        grace: Option<String>,
        /// Print JSON (including the new secret, as "token").
        #[arg(long)]
        json: bool,
    },
    /// The incident button: delete every token created before a time (of one user, or all).
    RevokeBefore {
        /// RFC 3339 time (2026-12-01T12:00:00Z) or a date (the day's start, UTC).
        #[arg(long, value_name = "TIME", value_parser = parse_instant)]
        before: chrono::DateTime<chrono::Utc>,
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
    },
}

/// An RFC 3339 instant, or a date (its start, UTC).
fn parse_instant(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(instant) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(instant.with_timezone(&chrono::Utc));
    }
    parse_date(text).map(|date| date.and_time(chrono::NaiveTime::MIN).and_utc())
}

#[derive(Debug, Args)]
pub struct CreateTokenArgs {
    /// Owner of the token.
    #[arg(long, value_name = "NAME")]
    pub user: String,
    /// Name (label) of the token: 1 to 100 characters.
    #[arg(long, value_name = "LABEL")]
    pub name: String,
    /// 6m, 1y, 2y, never or a day count like 30d; at most the system-wide maximum. Default:
    /// the shorter of 1y and the maximum.
    #[arg(long, value_parser = ValidityRequest::from_str, conflicts_with = "expires")]
    pub validity: Option<ValidityRequest>,
    /// Expiry date (the token works until this date begins, UTC).
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    pub expires: Option<NaiveDate>,
    #[command(flatten)]
    pub restrictions: RestrictionArgs,
    /// Print JSON (including the secret, as "token").
    #[arg(long)]
    pub json: bool,
}

/// What a token may reach; nothing given = no restriction.
#[derive(Debug, Args)]
pub struct RestrictionArgs {
    /// read (GET, HEAD, OPTIONS only) or write (every method, the default).
    #[arg(long, value_enum)]
    pub access: Option<AccessArg>,
    /// Comma-separated path prefixes the token may reach, e.g. /rest/api/2/issue,/status.
    #[arg(long, value_name = "PATHS", value_delimiter = ',')]
    pub paths: Vec<String>,
    /// Comma-separated route names the token may reach (tokengate = its own API).
    #[arg(long, value_name = "ROUTES", value_delimiter = ',')]
    pub routes: Vec<String>,
    /// The token's own allow-list: comma-separated addresses, CIDR or dash ranges.
    #[arg(long, value_name = "ENTRIES")]
    pub ip_allowlist: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AccessArg {
    Read,
    Write,
}

#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Show the system-wide settings.
    Show {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change one setting.
    #[command(subcommand)]
    Set(SetCommand),
}

#[derive(Debug, Subcommand)]
pub enum SetCommand {
    /// The longest validity a token may have.
    MaxValidity {
        #[arg(value_parser = parse_max_validity, value_name = "6m|1y|2y|never")]
        value: MaxValidity,
    },
    /// Addresses the API may be called from: comma-separated addresses, CIDR ranges
    /// (10.0.0.0/8) or dash ranges (192.168.1.10-192.168.1.50); "" allows every address.
    IpAllowlist {
        #[arg(value_name = "ENTRIES")]
        value: String,
    },
    /// Whether Basic credentials may carry the user's password.
    PasswordAuth {
        #[arg(value_enum)]
        value: PasswordAuthArg,
    },
    /// Whether only administrators may create and use tokens.
    AdminsOnly {
        #[arg(value_parser = BoolValueParser::new(), action = ArgAction::Set, value_name = "true|false")]
        value: bool,
    },
    /// Groups whose members may use tokens: comma-separated names, "*" for every user, ""
    /// for administrators only.
    UseTokens {
        #[arg(value_name = "GROUPS")]
        value: String,
    },
    /// Groups whose members may create their own tokens (same form as use-tokens).
    CreateOwnTokens {
        #[arg(value_name = "GROUPS")]
        value: String,
    },
    /// Groups whose members may create tokens for other users (same form as use-tokens).
    CreateTokensForOthers {
        #[arg(value_name = "GROUPS")]
        value: String,
    },
    /// Which authentication events are written to the audit log: comma-separated
    /// success, failure, denied; "none" for none.
    AuditAuthEvents {
        #[arg(value_parser = parse_auth_events, value_name = "success,failure,denied|none")]
        value: AuthEvents,
    },
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a local group.
    Add {
        /// Group name: 1 to 128 of A-Z a-z 0-9 . _ @ - and space.
        name: String,
    },
    /// Delete a local group (its members stay users).
    Delete { name: String },
    /// Add a user to a local group.
    AddMember { group: String, user: String },
    /// Remove a user from a local group.
    RemoveMember { group: String, user: String },
    /// List local and directory groups with their members.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PasswordAuthArg {
    Enabled,
    Disabled,
}

impl From<PasswordAuthArg> for PasswordAuth {
    fn from(value: PasswordAuthArg) -> Self {
        match value {
            PasswordAuthArg::Enabled => Self::Enabled,
            PasswordAuthArg::Disabled => Self::Disabled,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List audit records, newest first.
    List(AuditListArgs),
    /// Print audit records oldest first, one JSON object per line (with their hashes), for a
    /// SIEM or an archive.
    Export {
        /// Only records at or after this RFC 3339 time (2026-12-01T12:00:00Z) or date.
        #[arg(long, value_name = "TIME", value_parser = parse_instant)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// The output format; JSON lines is the one there is.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
    },
    /// Walk the audit log's hash chain: exits 1 and names the first record that was altered,
    /// or that follows a removed or inserted one.
    Verify {
        /// Print JSON: {"ok", "records", "first_bad_id"}.
        #[arg(long)]
        json: bool,
    },
}

/// How `audit export` writes records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per line.
    Jsonl,
}

#[derive(Debug, Args)]
pub struct AuditListArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// The most records to show.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
    /// Only records about this user.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Only records of this action (token.created, token.renamed, token.deleted,
    /// token.deleted_all, settings.changed, user.created, user.updated, user.locked,
    /// user.failed_logins_reset).
    #[arg(long, value_parser = parse_action)]
    pub action: Option<AuditAction>,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The user name the request authenticates as.
    #[arg(long, value_name = "NAME")]
    pub user: String,
    /// The client address the request comes from.
    #[arg(long, value_name = "ADDR", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub ip: IpAddr,
    /// Read the secret (password or token) from the first line of stdin.
    #[arg(long)]
    pub secret_stdin: bool,
    /// Print JSON: {"allowed", "status", "reason", "user", "via", "steps"}.
    #[arg(long)]
    pub json: bool,
}

fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| "use a date YYYY-MM-DD".to_owned())
}

fn parse_max_validity(text: &str) -> Result<MaxValidity, String> {
    text.parse()
        .map_err(|_| "use 6m, 1y, 2y or never".to_owned())
}

fn parse_auth_events(text: &str) -> Result<AuthEvents, String> {
    let mut events = AuthEvents::default();
    if text.trim() == "none" {
        return Ok(events);
    }
    for kind in text.split(',').map(str::trim) {
        match kind {
            "success" => events.success = true,
            "failure" => events.failure = true,
            "denied" => events.denied = true,
            _ => {
                return Err(
                    "use a comma-separated list of success, failure, denied, or none".into(),
                );
            }
        }
    }
    Ok(events)
}

fn parse_action(text: &str) -> Result<AuditAction, String> {
    AuditAction::parse(text).ok_or_else(|| {
        let names: Vec<&str> = AuditAction::ALL
            .iter()
            .map(|action| action.as_str())
            .collect();
        format!("use one of {}", names.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
