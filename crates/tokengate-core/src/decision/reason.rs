//! What a decision says: how a request was authenticated, the stable reason codes of a
//! refusal (their strings, statuses and messages are part of the contract), and the effects a
//! caller applies afterwards. Data only: the rules that produce them live beside this file.

use super::Step;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    Token,
    Password,
    Anonymous,
    /// A browser's gateway session (single sign-on on a route with `browser_sso`).
    Session,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Password => "password",
            Self::Anonymous => "anonymous",
            Self::Session => "session",
        }
    }
}

/// Stable reason codes of a refusal (SPEC §2); the strings are part of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    IpNotAllowed,
    MissingCredentials,
    MalformedCredentials,
    TokenExpired,
    UserDisabled,
    TokensNotPermitted,
    InvalidCredentials,
    PasswordAuthDisabled,
    UserLocked,
    TooManyFailures,
    Unavailable,
    /// The directory that checks this user's password (LDAP) could not be asked.
    DirectoryUnavailable,
    /// The client address is outside the token's own allow-list.
    TokenIpNotAllowed,
    /// The method, path or route is outside the token's restrictions.
    TokenScopeDenied,
}

impl Reason {
    pub const ALL: [Reason; 14] = [
        Self::IpNotAllowed,
        Self::MissingCredentials,
        Self::MalformedCredentials,
        Self::TokenExpired,
        Self::UserDisabled,
        Self::TokensNotPermitted,
        Self::InvalidCredentials,
        Self::PasswordAuthDisabled,
        Self::UserLocked,
        Self::TooManyFailures,
        Self::Unavailable,
        Self::DirectoryUnavailable,
        Self::TokenIpNotAllowed,
        Self::TokenScopeDenied,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::IpNotAllowed => "ip_not_allowed",
            Self::MissingCredentials => "missing_credentials",
            Self::MalformedCredentials => "malformed_credentials",
            Self::TokenExpired => "token_expired",
            Self::UserDisabled => "user_disabled",
            Self::TokensNotPermitted => "tokens_not_permitted",
            Self::InvalidCredentials => "invalid_credentials",
            Self::PasswordAuthDisabled => "password_auth_disabled",
            Self::UserLocked => "user_locked",
            Self::TooManyFailures => "too_many_failures",
            Self::Unavailable => "unavailable",
            Self::DirectoryUnavailable => "directory_unavailable",
            Self::TokenIpNotAllowed => "token_ip_not_allowed",
            Self::TokenScopeDenied => "token_scope_denied",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            Self::MissingCredentials
            | Self::MalformedCredentials
            | Self::TokenExpired
            | Self::InvalidCredentials => 401,
            Self::IpNotAllowed
            | Self::UserDisabled
            | Self::TokensNotPermitted
            | Self::PasswordAuthDisabled
            | Self::UserLocked => 403,
            Self::TooManyFailures => 429,
            Self::Unavailable | Self::DirectoryUnavailable => 503,
            Self::TokenIpNotAllowed | Self::TokenScopeDenied => 403,
        }
    }

    /// A human sentence for the error body. Never names a user or a secret.
    pub fn message(self) -> &'static str {
        match self {
            Self::IpNotAllowed => {
                "Requests from this address are not allowed by the IP allow-list."
            }
            Self::MissingCredentials => {
                "Authentication is required: send a token or Basic credentials."
            }
            Self::MalformedCredentials => "The Authorization header could not be understood.",
            Self::TokenExpired => "This API token has expired; create a new one.",
            Self::UserDisabled => "This account is disabled.",
            Self::TokensNotPermitted => "API tokens are restricted to administrators.",
            Self::InvalidCredentials => "The credentials are not valid.",
            Self::PasswordAuthDisabled => {
                "Password authentication is disabled for the API; use an API token."
            }
            Self::UserLocked => "Password sign-in is locked after too many failed attempts.",
            Self::TooManyFailures => "Too many failed attempts from this address; try again later.",
            Self::Unavailable => "The authentication service is temporarily unavailable.",
            Self::DirectoryUnavailable => {
                "The user directory cannot be reached; passwords cannot be checked right now (API tokens still work)."
            }
            Self::TokenIpNotAllowed => "This API token may not be used from this address.",
            Self::TokenScopeDenied => {
                "This API token may not be used for this method, path or route."
            }
        }
    }

    /// Failures that count towards the per-address limit.
    pub fn is_credential_failure(self) -> bool {
        matches!(self, Self::InvalidCredentials | Self::MalformedCredentials)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: Option<String>,
    pub via: Via,
    pub token_id: Option<String>,
    /// The user's groups joined by `,` (the `X-Authenticated-Groups` value; empty: none).
    pub groups: String,
    pub email: Option<String>,
    /// Authenticated by a rotated token's old secret, still in its grace: it may reach what
    /// the token reaches, but never make or change tokens.
    pub replaced_secret: bool,
}

impl Identity {
    /// `user` authenticated `via` (with the token `token_id`).
    pub fn of(user: &crate::model::User, via: Via, token_id: Option<String>) -> Self {
        Self {
            user: Some(user.name.clone()),
            via,
            token_id,
            groups: user.groups.join(","),
            email: user.email.clone(),
            replaced_secret: false,
        }
    }

    /// No one: an anonymous request let through.
    pub fn anonymous() -> Self {
        Self {
            user: None,
            via: Via::Anonymous,
            token_id: None,
            groups: String::new(),
            email: None,
            replaced_secret: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Allowed(Identity),
    Denied {
        reason: Reason,
        retry_after_seconds: Option<u64>,
    },
}

/// Stored effects of a decision; applied by the caller (never by `explain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A wrong password for an existing user (SPEC §2.6).
    CountFailedLogin {
        user: String,
    },
    /// A right password: the counter and the lock start again.
    ResetFailedLogins {
        user: String,
    },
    /// A right password from `address`: it is a known address of `user` for 30 days.
    RememberAddress {
        user: String,
        address: IpAddr,
    },
    TokenUsed {
        token_id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub client: IpAddr,
    pub outcome: Outcome,
    pub steps: Vec<Step>,
    pub effects: Vec<Effect>,
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self.outcome, Outcome::Allowed(_))
    }

    pub fn reason(&self) -> Option<Reason> {
        match self.outcome {
            Outcome::Allowed(_) => None,
            Outcome::Denied { reason, .. } => Some(reason),
        }
    }

    pub fn status(&self) -> u16 {
        self.reason().map_or(200, Reason::status)
    }

    pub fn identity(&self) -> Option<&Identity> {
        match &self.outcome {
            Outcome::Allowed(identity) => Some(identity),
            Outcome::Denied { .. } => None,
        }
    }

    /// Set when this decision's failure locked password sign-in: seconds until the lock ends
    /// by itself (`None` inside: until an admin resets it).
    pub fn locked_now(&self) -> Option<Option<u64>> {
        self.steps.iter().find_map(|step| match step {
            Step::LocksPassword {
                retry_after_seconds,
            } => Some(*retry_after_seconds),
            _ => None,
        })
    }

    /// The error message, naming the client address for `ip_not_allowed` (SPEC §2.2).
    pub fn message(&self) -> String {
        match self.reason() {
            Some(Reason::IpNotAllowed) => {
                format!(
                    "Requests from {} are not allowed by the IP allow-list.",
                    self.client
                )
            }
            Some(reason) => reason.message().to_owned(),
            None => "Allowed.".to_owned(),
        }
    }
}
