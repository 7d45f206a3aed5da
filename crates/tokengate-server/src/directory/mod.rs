//! Directories that users come from (LDAP, OpenID Connect): what a directory says about a user, and how asking
//! it fails. Read-only: nothing here writes to the directory or to tokengate's store.

pub mod accounts;
pub mod dn;
pub mod ldap;
pub mod oidc;

pub use ldap::Ldap;

/// A user as the directory describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    /// The user name as the directory spells it (the name attribute's value), which may differ
    /// in case from the name typed at sign-in: provision under this one.
    pub name: String,
    /// The display name attribute, or the name when the entry has none.
    pub display_name: String,
    pub email: Option<String>,
    /// Names (the `cn`) of the user's groups, sorted, without repeats.
    pub groups: Vec<String>,
    /// Member of `admin_group`.
    pub admin: bool,
}

/// Why the directory gave no answer. Never carries a password.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The directory cannot be reached or searched (down, TLS refused, the service account
    /// refused, a timeout): password checks answer 503 `directory_unavailable` and are not
    /// counted as failures.
    #[error("directory unavailable: {0}")]
    Unavailable(String),
    /// The configuration cannot make a client (an unreadable `ca_file`, say).
    #[error("directory configuration: {0}")]
    Config(String),
}
