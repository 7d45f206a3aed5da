//! The records tokengate keeps (SPEC §1) and their JSON shapes: users, tokens, the system-wide
//! settings, audit records. Plain data: no I/O, no policy.

use crate::allowlist::IpAllowList;
use crate::groups::{Permissions, UserSource};
use crate::restrictions::Restrictions;
use crate::secret::{ShownOnce, redacted};
use crate::token::{TokenDigest, TokenSecret};
use crate::validity::MaxValidity;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

pub use crate::audit::{AuditAction, AuditFilter, AuditRecord, NewAudit, Origin};

/// `[A-Za-z0-9._@-]{1,128}`.
pub fn is_valid_user_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'@' | b'-'))
}

/// Token names: 1..=100 characters, no control characters, not only spaces.
pub fn is_valid_token_name(name: &str) -> bool {
    let count = name.chars().count();
    (1..=100).contains(&count) && !name.trim().is_empty() && !name.chars().any(char::is_control)
}

/// `Debug` is written by hand: it never shows the password hash.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub display_name: String,
    pub email: Option<String>,
    pub source: UserSource,
    /// Every group the user is in: local groups and the directory's, sorted.
    pub groups: Vec<String>,
    /// The groups the directory reported at the last sign-in or sync (part of `groups`;
    /// read-only in tokengate).
    pub directory_groups: Vec<String>,
    pub admin: bool,
    pub disabled: bool,
    /// argon2id PHC string; `None` for users who cannot sign in with a password.
    pub password_hash: Option<String>,
    pub failed_logins: u32,
    pub locked_until: Option<DateTime<Utc>>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured without `..`: a new field must be placed here on purpose.
        let Self {
            name,
            display_name,
            email,
            source,
            groups,
            directory_groups,
            admin,
            disabled,
            password_hash,
            failed_logins,
            locked_until,
        } = self;
        f.debug_struct("User")
            .field("name", name)
            .field("display_name", display_name)
            .field("email", email)
            .field("source", source)
            .field("groups", groups)
            .field("directory_groups", directory_groups)
            .field("admin", admin)
            .field("disabled", disabled)
            .field("password_hash", &redacted(password_hash.as_ref()))
            .field("failed_logins", failed_logins)
            .field("locked_until", locked_until)
            .finish()
    }
}

impl User {
    /// A local user called `name`: enabled, not an admin, no password, no groups.
    pub fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            display_name: name.to_owned(),
            email: None,
            source: UserSource::Local,
            groups: Vec::new(),
            directory_groups: Vec::new(),
            admin: false,
            disabled: false,
            password_hash: None,
            failed_logins: 0,
            locked_until: None,
        }
    }
}

/// The public JSON shape of a user (never the password hash).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub name: String,
    pub display_name: String,
    pub email: Option<String>,
    pub source: UserSource,
    pub groups: Vec<String>,
    pub admin: bool,
    pub disabled: bool,
    pub failed_logins: u32,
    pub locked_until: Option<DateTime<Utc>>,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            name: user.name.clone(),
            display_name: user.display_name.clone(),
            email: user.email.clone(),
            source: user.source,
            groups: user.groups.clone(),
            admin: user.admin,
            disabled: user.disabled,
            failed_logins: user.failed_logins,
            locked_until: user.locked_until,
        }
    }
}

/// A change to a user; `None` fields stay as they are. `Debug` never shows the password hash.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UserChange {
    pub display_name: Option<String>,
    /// `Some(None)` clears the address.
    pub email: Option<Option<String>>,
    pub admin: Option<bool>,
    pub disabled: Option<bool>,
    pub password_hash: Option<String>,
}

impl fmt::Debug for UserChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            display_name,
            email,
            admin,
            disabled,
            password_hash,
        } = self;
        f.debug_struct("UserChange")
            .field("display_name", display_name)
            .field("email", email)
            .field("admin", admin)
            .field("disabled", disabled)
            .field("password_hash", &redacted(password_hash.as_ref()))
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// What the token may reach (SPEC §11); the default restricts nothing.
    pub restrictions: Restrictions,
    pub id: String,
    pub owner: String,
    pub name: String,
    pub digest: TokenDigest,
    pub hint: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_ip: Option<String>,
    /// The id of the token whose request created this one (SPEC §11); `None` when it was made
    /// with a password, a session or the CLI. Deleting the maker deletes this token too.
    pub made_by: Option<String>,
    /// When the secret was last replaced (rotation); `None` for a token never rotated.
    pub rotated_at: Option<DateTime<Utc>>,
    /// The hint of the secret the last rotation replaced.
    pub rotated_from: Option<String>,
}

impl TokenRecord {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|expiry| expiry <= now)
    }
}

/// What deciding on a token needs of its record (SPEC §2): its id, its owner, its expiry. The
/// hot path caches these rather than whole records (name, hint, creator and last use are for
/// people, not for the decision), which keeps memory small with many tokens in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub id: String,
    pub owner: String,
    pub expires_at: Option<DateTime<Utc>>,
    /// `None` for an unrestricted token (most): a pointer's worth of memory in the cache.
    pub restrictions: Option<Box<Restrictions>>,
    /// Set when this grant was found by a rotated token's old secret: it works until then.
    pub grace_until: Option<DateTime<Utc>>,
}

impl TokenGrant {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|expiry| expiry <= now)
    }

    /// Whether this grant, found by a rotated token's old secret, no longer admits it.
    pub fn grace_is_over(&self, now: DateTime<Utc>) -> bool {
        self.grace_until.is_some_and(|until| until <= now)
    }
}

impl From<TokenRecord> for TokenGrant {
    fn from(record: TokenRecord) -> Self {
        Self {
            restrictions: (!record.restrictions.is_unrestricted())
                .then(|| Box::new(record.restrictions)),
            grace_until: None,
            id: record.id,
            owner: record.owner,
            expires_at: record.expires_at,
        }
    }
}

/// The public JSON shape of a token. `token` is the secret, present only in the
/// answer to a creation.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_ip: Option<String>,
    pub hint: String,
    /// The id of the token whose request created this one; null when it was made with a
    /// password, a session or the CLI. Deleting that token deletes this one too.
    #[serde(default)]
    pub made_by: Option<String>,
    /// When the secret was last replaced; null for a token never rotated.
    #[serde(default)]
    pub rotated_at: Option<DateTime<Utc>>,
    /// The hint of the secret the last rotation replaced; null for a token never rotated.
    #[serde(default)]
    pub rotated_from: Option<String>,
    /// `access`, `paths`, `routes`, `ip_allowlist` (SPEC §11).
    #[serde(flatten)]
    pub restrictions: Restrictions,
    // Serialises to the plain secret; `Debug` redacts it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub token: Option<ShownOnce>,
}

impl TokenView {
    /// The answer to a creation: the view of the new token with its secret, shown this once.
    pub fn with_secret(mut self, secret: &TokenSecret) -> Self {
        self.token = Some(secret.shown_once());
        self
    }
}

impl From<&TokenRecord> for TokenView {
    fn from(record: &TokenRecord) -> Self {
        Self {
            id: record.id.clone(),
            name: record.name.clone(),
            owner: record.owner.clone(),
            created_at: record.created_at,
            created_by: record.created_by.clone(),
            expires_at: record.expires_at,
            last_used_at: record.last_used_at,
            last_used_ip: record.last_used_ip.clone(),
            hint: record.hint.clone(),
            made_by: record.made_by.clone(),
            rotated_at: record.rotated_at,
            rotated_from: record.rotated_from.clone(),
            restrictions: record.restrictions.clone(),
            token: None,
        }
    }
}

/// One observed use of a token, recorded in batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenUse {
    pub token_id: String,
    pub at: DateTime<Utc>,
    pub ip: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PasswordAuth {
    #[default]
    Enabled,
    Disabled,
}

impl PasswordAuth {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
        }
    }
}

/// The system-wide settings, shared by every node through the store.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub max_validity: MaxValidity,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>, example = json!(["10.0.0.0/8", "192.168.1.10-192.168.1.50"])))]
    pub ip_allowlist: IpAllowList,
    pub password_auth: PasswordAuth,
    pub admins_only: bool,
    /// Which groups may use tokens, create their own, create them for others (`groups.rs`).
    #[serde(default)]
    pub permissions: Permissions,
    /// Which authentication events are written to the audit log (`crate::auth_events`).
    #[serde(default)]
    pub audit_auth_events: AuthEvents,
}

/// The opt-in authentication events (SPEC §13): all off by default.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthEvents {
    /// `auth.succeeded`: a request authenticated with a token or a password.
    #[serde(default)]
    pub success: bool,
    /// `auth.failed`: credentials refused, or the address refused by the allow-list.
    #[serde(default)]
    pub failure: bool,
    /// `auth.denied`: a permission or a token restriction refused the request.
    #[serde(default)]
    pub denied: bool,
}

impl AuthEvents {
    pub fn any(self) -> bool {
        self.success || self.failure || self.denied
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_validity: MaxValidity::Never,
            ip_allowlist: IpAllowList::default(),
            password_auth: PasswordAuth::Enabled,
            admins_only: false,
            permissions: Permissions::default(),
            audit_auth_events: AuthEvents::default(),
        }
    }
}

/// Who did something: a user, the command line, or tokengate itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    User(String),
    Cli,
    System,
}

impl Actor {
    pub fn name(&self) -> &str {
        match self {
            Self::User(name) => name,
            Self::Cli => "cli",
            Self::System => "system",
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Token query, ordered by id. `after_id` is the paging cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenFilter {
    pub owner: Option<String>,
    /// Case-insensitive substring of the token name.
    pub name: Option<String>,
    pub expires_before: Option<DateTime<Utc>>,
    /// Never used, or last used before this instant.
    pub unused_since: Option<DateTime<Utc>>,
    pub after_id: Option<String>,
    pub limit: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_follow_the_spec_pattern() {
        for good in ["alice", "a.b_c@d-e", "A1", &"x".repeat(128)] {
            assert!(is_valid_user_name(good), "{good}");
        }
        for bad in ["", "with space", "ümlaut", "a/b", &"x".repeat(129), "a:b"] {
            assert!(!is_valid_user_name(bad), "{bad}");
        }
    }

    #[test]
    fn token_names_are_one_to_a_hundred_printable_characters() {
        assert!(is_valid_token_name("CI on build-01"));
        assert!(is_valid_token_name(&"é".repeat(100)));
        for bad in ["", "   ", "tab\there", &"x".repeat(101)] {
            assert!(!is_valid_token_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn settings_json_shape_is_the_spec_shape() {
        let json = serde_json::to_value(Settings::default()).expect("serialise");
        assert_eq!(
            json,
            serde_json::json!({"max_validity": "never", "ip_allowlist": [], "password_auth": "enabled", "admins_only": false,
                "permissions": {"use_tokens": ["*"], "create_own_tokens": ["*"], "create_tokens_for_others": []},
                "audit_auth_events": {"success": false, "failure": false, "denied": false}})
        );
        let bad = serde_json::from_value::<Settings>(serde_json::json!({
            "max_validity": "1y", "ip_allowlist": ["10.0.0.300"], "password_auth": "enabled", "admins_only": false
        }));
        assert!(
            bad.expect_err("invalid entry")
                .to_string()
                .contains("10.0.0.300")
        );
    }
}
