//! The steps a decision took, rendered as sentences by `explain`.

use super::{Anonymous, Outcome};
use crate::credentials::MalformedCredentials;
use std::fmt;
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    ClientAddress {
        client: IpAddr,
        peer: IpAddr,
    },
    AllowList {
        empty: bool,
        allowed: bool,
    },
    NoCredentials {
        anonymous: Anonymous,
    },
    Malformed(MalformedCredentials),
    Basic {
        user: String,
        token_format: bool,
    },
    Bearer {
        token_format: bool,
    },
    TokenOfAnotherUser,
    NotAPassword,
    TokenUserName,
    SignIn {
        user: String,
        client: IpAddr,
    },
    TokenNotFound {
        token_format: bool,
    },
    TokenFound {
        id: String,
        owner: String,
    },
    TokenExpired,
    OwnerMissing,
    OwnerDisabled,
    TokensNotPermitted,
    PasswordAuthDisabled,
    Throttled {
        retry_after_seconds: u64,
    },
    UserLocked {
        retry_after_seconds: Option<u64>,
    },
    UnknownUser,
    KnownAddress,
    HashQueueFull,
    PasswordChecked {
        correct: bool,
    },
    LocksPassword {
        retry_after_seconds: Option<u64>,
    },
    Outcome(Outcome),
    StoreUnavailable,
    /// The request is outside the token's restrictions.
    TokenOutside(crate::restrictions::Outside),
    /// No credentials, but a browser's gateway session of this user.
    GatewaySession {
        user: String,
    },
    /// The password was checked by the directory (LDAP) instead of a stored hash.
    DirectoryChecked,
    DirectoryUnavailable,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ClientAddress { client, peer } if client == peer => {
                write!(f, "client address {client} (the TCP peer)")
            }
            Self::ClientAddress { client, peer } => {
                write!(
                    f,
                    "client address {client} (from X-Forwarded-For via trusted proxy {peer})"
                )
            }
            Self::AllowList { empty: true, .. } => {
                f.write_str("IP allow-list is empty: every address is allowed")
            }
            Self::AllowList { allowed: true, .. } => {
                f.write_str("IP allow-list: the address matches an entry")
            }
            Self::AllowList { .. } => f.write_str("IP allow-list: the address matches no entry"),
            Self::NoCredentials {
                anonymous: Anonymous::Allow,
            } => f.write_str("no credentials; anonymous requests are allowed"),
            Self::NoCredentials {
                anonymous: Anonymous::Deny,
            } => f.write_str("no credentials"),
            Self::Malformed(problem) => write!(f, "malformed credentials: {problem}"),
            Self::Basic { user, token_format } => write!(
                f,
                "Basic credentials for user \"{user}\"; the secret {} a token",
                if *token_format {
                    "has the format of"
                } else {
                    "is not"
                }
            ),
            Self::Bearer { token_format: true } => {
                f.write_str("Bearer token with a valid checksum")
            }
            Self::Bearer {
                token_format: false,
            } => f.write_str("Bearer secret is not a well-formed token"),
            Self::TokenOfAnotherUser => f.write_str(
                "the token belongs to another user: refused, not counted against anyone's password",
            ),
            Self::NotAPassword => f.write_str(
                "the secret starts with tg_ but is not a well-formed token: a token attempt, never checked as a password",
            ),
            Self::TokenUserName => {
                f.write_str("the user name is a token user name: it stands for the token's owner")
            }
            Self::SignIn { user, client } => {
                write!(f, "sign-in to the web UI as \"{user}\" from {client}")
            }
            Self::TokenNotFound { token_format: true } => {
                f.write_str("no stored token has this digest")
            }
            Self::TokenNotFound {
                token_format: false,
            } => f.write_str("the secret is not a well-formed token (length or checksum)"),
            Self::TokenFound { id, owner } => write!(f, "token {id} of user \"{owner}\" found"),
            Self::TokenExpired => f.write_str("the token has expired"),
            Self::OwnerMissing => f.write_str("the token's owner does not exist"),
            Self::OwnerDisabled => f.write_str("the token's owner is disabled"),
            Self::TokensNotPermitted => {
                f.write_str("admins-only is on and the owner is not an admin")
            }
            Self::PasswordAuthDisabled => f.write_str("password authentication is disabled"),
            Self::Throttled {
                retry_after_seconds,
            } => {
                write!(
                    f,
                    "too many failures from this address; retry in {retry_after_seconds} s"
                )
            }
            Self::UserLocked {
                retry_after_seconds: Some(seconds),
            } => {
                write!(f, "password sign-in is locked for another {seconds} s")
            }
            Self::UserLocked {
                retry_after_seconds: None,
            } => f.write_str("password sign-in is locked until an admin resets it"),
            Self::UnknownUser => f.write_str("no such user (checked against a dummy hash)"),
            Self::KnownAddress => f.write_str(
                "password sign-in is locked, but the password worked from this address in the last 30 days: checked anyway",
            ),
            Self::HashQueueFull => {
                f.write_str("the password check queue is full: refused without checking")
            }
            Self::LocksPassword {
                retry_after_seconds: Some(seconds),
            } => write!(f, "this failure locks password sign-in for {seconds} s"),
            Self::LocksPassword {
                retry_after_seconds: None,
            } => f.write_str("this failure locks password sign-in until an admin resets it"),
            Self::PasswordChecked { correct: true } => f.write_str("the password is correct"),
            Self::PasswordChecked { correct: false } => f.write_str("the password is wrong"),
            Self::Outcome(Outcome::Allowed(identity)) => {
                write!(f, "allowed via {}", identity.via.as_str())
            }
            Self::Outcome(Outcome::Denied { reason, .. }) => {
                write!(f, "denied: {} ({})", reason.code(), reason.status())
            }
            Self::StoreUnavailable => f.write_str("the store could not be read: fail closed"),
            Self::DirectoryChecked => f.write_str("the password was checked by the directory"),
            Self::TokenOutside(outside) => write!(
                f,
                "the request is outside the token's restrictions ({})",
                match outside {
                    crate::restrictions::Outside::Address => "its IP allow-list",
                    crate::restrictions::Outside::Method => "read-only access",
                    crate::restrictions::Outside::Path => "its paths",
                    crate::restrictions::Outside::Route => "its routes",
                }
            ),
            Self::GatewaySession { user } => {
                write!(f, "a browser session of user {user} (single sign-on)")
            }
            Self::DirectoryUnavailable => {
                f.write_str("the directory could not be reached: fail closed, not counted")
            }
        }
    }
}
