//! The SPEC §2 decision as pure functions: what the request presents (`precheck`), then what
//! the looked-up records say (`decide`), then, only when needed, the password verdict
//! (`PendingPassword::finish`). No I/O here; `crate::authenticate` does the lookups.
//! Every outcome has a stable reason code and the list of steps taken (for `explain`).

use crate::allowlist::client_address;
use crate::credentials::{Credentials, MalformedCredentials, parse_authorization};
use crate::lockout::{LockState, LockoutPolicy, lock_state};
use crate::model::{PasswordAuth, Settings, TokenGrant, User};
use crate::secret::Secret;
use crate::token::TokenSecret;
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use std::net::IpAddr;

mod step;
pub use step::Step;

/// Whether requests without credentials are forwarded (config `gateway.anonymous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Anonymous {
    #[default]
    Deny,
    Allow,
}

/// The node's configuration that the decision depends on (SPEC §5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatePolicy {
    pub trusted_proxies: Vec<IpNet>,
    pub anonymous: Anonymous,
    pub lockout: LockoutPolicy,
}

/// What the HTTP layer saw.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    pub peer: IpAddr,
    /// All `X-Forwarded-For` values joined with commas, in order.
    pub forwarded_for: Option<&'a str>,
    pub authorization: Option<&'a [u8]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    Token,
    Password,
    Anonymous,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Password => "password",
            Self::Anonymous => "anonymous",
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
}

impl Reason {
    pub const ALL: [Reason; 11] = [
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
            Self::Unavailable => 503,
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
    CountFailedLogin { user: String },
    ResetFailedLogins { user: String },
    TokenUsed { token_id: String },
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

/// A secret presented as a token: parsed (checksum valid) or not.
#[derive(Debug, Clone)]
pub enum Presented {
    Basic {
        user: String,
        secret: Secret,
        token: Option<TokenSecret>,
    },
    Bearer {
        token: Option<TokenSecret>,
    },
}

/// The request after the checks that need no records (SPEC §2.1–§2.3).
#[derive(Debug, Clone)]
pub struct Prechecked {
    pub client: IpAddr,
    pub presented: Presented,
    pub steps: Vec<Step>,
}

impl Prechecked {
    /// The token whose record must be looked up, if any.
    pub fn token(&self) -> Option<&TokenSecret> {
        match &self.presented {
            Presented::Basic { token, .. } | Presented::Bearer { token } => token.as_ref(),
        }
    }

    /// `token` if it is the presented one's record and may decide: any for Bearer, only the
    /// Basic user's own for Basic (SPEC §2.4).
    pub fn matching_token<'r>(&self, token: Option<&'r TokenGrant>) -> Option<&'r TokenGrant> {
        match (&self.presented, token) {
            (Presented::Bearer { .. }, Some(token)) => Some(token),
            (Presented::Basic { user, .. }, Some(token)) if token.owner == *user => Some(token),
            _ => None,
        }
    }

    /// The Basic user name whose record must be looked up, if any.
    pub fn basic_user(&self) -> Option<&str> {
        match &self.presented {
            Presented::Basic { user, .. } => Some(user),
            Presented::Bearer { .. } => None,
        }
    }

    fn deny(self, reason: Reason, retry_after_seconds: Option<u64>) -> Decision {
        finish(
            self.client,
            self.steps,
            Outcome::Denied {
                reason,
                retry_after_seconds,
            },
            Vec::new(),
        )
    }
}

fn finish(
    client: IpAddr,
    mut steps: Vec<Step>,
    outcome: Outcome,
    effects: Vec<Effect>,
) -> Decision {
    steps.push(Step::Outcome(outcome.clone()));
    Decision {
        client,
        outcome,
        steps,
        effects,
    }
}

/// Steps a decision takes at most (client, allow-list, credentials, token or user checks,
/// password verdict, outcome), so the list never grows on the hot path.
const STEPS_CAPACITY: usize = 8;

/// Steps 1–3: client address, allow-list, credentials.
/// The `Err` side is a finished decision (boxed: it is the larger, rarer side).
pub fn precheck(
    request: &RequestFacts<'_>,
    settings: &Settings,
    policy: &GatePolicy,
) -> Result<Prechecked, Box<Decision>> {
    let client = client_address(request.peer, request.forwarded_for, &policy.trusted_proxies);
    // Room for every step of the longest path: one allocation per decision.
    let mut steps = Vec::with_capacity(STEPS_CAPACITY);
    steps.push(Step::ClientAddress {
        client,
        peer: request.peer,
    });
    if !settings.ip_allowlist.allows(client) {
        steps.push(Step::AllowList {
            empty: false,
            allowed: false,
        });
        let outcome = Outcome::Denied {
            reason: Reason::IpNotAllowed,
            retry_after_seconds: None,
        };
        return Err(Box::new(finish(client, steps, outcome, Vec::new())));
    }
    steps.push(Step::AllowList {
        empty: settings.ip_allowlist.is_empty(),
        allowed: true,
    });
    let Some(header) = request.authorization else {
        steps.push(Step::NoCredentials {
            anonymous: policy.anonymous,
        });
        let outcome = match policy.anonymous {
            Anonymous::Allow => Outcome::Allowed(Identity {
                user: None,
                via: Via::Anonymous,
                token_id: None,
            }),
            Anonymous::Deny => Outcome::Denied {
                reason: Reason::MissingCredentials,
                retry_after_seconds: None,
            },
        };
        return Err(Box::new(finish(client, steps, outcome, Vec::new())));
    };
    let presented = match parse_authorization(header) {
        Ok(Credentials::Basic { user, secret }) => {
            let token = TokenSecret::parse(secret.expose());
            steps.push(Step::Basic {
                user: user.clone(),
                token_format: token.is_some(),
            });
            Presented::Basic {
                user,
                secret,
                token,
            }
        }
        Ok(Credentials::Bearer { secret }) => {
            let token = TokenSecret::parse(secret.expose());
            steps.push(Step::Bearer {
                token_format: token.is_some(),
            });
            Presented::Bearer { token }
        }
        Err(problem) => {
            steps.push(Step::Malformed(problem));
            let outcome = Outcome::Denied {
                reason: Reason::MalformedCredentials,
                retry_after_seconds: None,
            };
            return Err(Box::new(finish(client, steps, outcome, Vec::new())));
        }
    };
    Ok(Prechecked {
        client,
        presented,
        steps,
    })
}

/// The records looked up for a prechecked request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Records<'a> {
    /// The token whose digest matches the presented token, if any.
    pub token: Option<&'a TokenGrant>,
    /// That token's owner.
    pub token_owner: Option<&'a User>,
    /// The user named in Basic credentials.
    pub basic_user: Option<&'a User>,
    /// Set when the client address is over its failure budget: seconds until it may retry.
    pub throttled_for: Option<u64>,
}

/// What remains after step 4: either a decision, or a password to verify.
#[derive(Debug)]
pub enum Evaluation {
    Decided(Decision),
    CheckPassword(PendingPassword),
}

/// Step 5 waiting for the password verdict. The caller verifies `secret` against
/// `stored_hash` (a dummy hash when `None`: same work for unknown users, SPEC §2.7).
#[derive(Debug)]
pub struct PendingPassword {
    pub stored_hash: Option<String>,
    pub secret: Secret,
    client: IpAddr,
    steps: Vec<Step>,
    user: Option<UserFacts>,
}

#[derive(Debug)]
struct UserFacts {
    name: String,
    disabled: bool,
}

/// Steps 4–7 up to the password verdict.
pub fn decide(
    prechecked: Prechecked,
    records: Records<'_>,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Evaluation {
    let mut prechecked = prechecked;
    let matching_token = prechecked.matching_token(records.token);
    if matching_token.is_none() && records.token.is_some() {
        // Only Basic credentials can name a token of another user.
        prechecked.steps.push(Step::TokenOfAnotherUser);
    }
    if let Some(token) = matching_token {
        return Evaluation::Decided(token_decision(
            prechecked,
            token,
            records.token_owner,
            settings,
            now,
        ));
    }
    let failure_budget_spent = records.throttled_for;
    let (user, secret) = match prechecked.presented {
        Presented::Bearer { ref token } => {
            prechecked.steps.push(Step::TokenNotFound {
                token_format: token.is_some(),
            });
            return Evaluation::Decided(match failure_budget_spent {
                Some(seconds) => prechecked.deny(Reason::TooManyFailures, Some(seconds)),
                None => prechecked.deny(Reason::InvalidCredentials, None),
            });
        }
        Presented::Basic {
            ref user,
            ref secret,
            ..
        } => (user.clone(), secret.clone()),
    };
    if settings.password_auth == PasswordAuth::Disabled {
        prechecked.steps.push(Step::PasswordAuthDisabled);
        return Evaluation::Decided(prechecked.deny(Reason::PasswordAuthDisabled, None));
    }
    if let Some(seconds) = failure_budget_spent {
        prechecked.steps.push(Step::Throttled {
            retry_after_seconds: seconds,
        });
        return Evaluation::Decided(prechecked.deny(Reason::TooManyFailures, Some(seconds)));
    }
    let user_record = records.basic_user.filter(|record| record.name == user);
    if let Some(record) = user_record
        && let LockState::Locked {
            retry_after_seconds,
        } = lock_state(record.locked_until, now)
    {
        prechecked.steps.push(Step::UserLocked {
            retry_after_seconds,
        });
        return Evaluation::Decided(prechecked.deny(Reason::UserLocked, retry_after_seconds));
    }
    if user_record.is_none() {
        prechecked.steps.push(Step::UnknownUser);
    }
    Evaluation::CheckPassword(PendingPassword {
        stored_hash: user_record.and_then(|record| record.password_hash.clone()),
        secret,
        client: prechecked.client,
        steps: prechecked.steps,
        user: user_record.map(|record| UserFacts {
            name: record.name.clone(),
            disabled: record.disabled,
        }),
    })
}

fn token_decision(
    prechecked: Prechecked,
    token: &TokenGrant,
    owner: Option<&User>,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Decision {
    let Prechecked {
        client, mut steps, ..
    } = prechecked;
    steps.push(Step::TokenFound {
        id: token.id.clone(),
        owner: token.owner.clone(),
    });
    let deny = |steps, reason| {
        finish(
            client,
            steps,
            Outcome::Denied {
                reason,
                retry_after_seconds: None,
            },
            Vec::new(),
        )
    };
    if token.is_expired(now) {
        steps.push(Step::TokenExpired);
        return deny(steps, Reason::TokenExpired);
    }
    let Some(owner) = owner else {
        // A token without an owner record cannot be vouched for: fail closed.
        steps.push(Step::OwnerMissing);
        return deny(steps, Reason::InvalidCredentials);
    };
    if owner.disabled {
        steps.push(Step::OwnerDisabled);
        return deny(steps, Reason::UserDisabled);
    }
    if !settings.permits_tokens(owner) {
        steps.push(Step::TokensNotPermitted);
        return deny(steps, Reason::TokensNotPermitted);
    }
    let identity = Identity {
        user: Some(owner.name.clone()),
        via: Via::Token,
        token_id: Some(token.id.clone()),
    };
    let effects = vec![Effect::TokenUsed {
        token_id: token.id.clone(),
    }];
    finish(client, steps, Outcome::Allowed(identity), effects)
}

impl PendingPassword {
    /// Step 5's end: the verdict of the password check decides.
    pub fn finish(self, password_correct: bool) -> Decision {
        let Self {
            client,
            mut steps,
            user,
            ..
        } = self;
        steps.push(Step::PasswordChecked {
            correct: password_correct && user.is_some(),
        });
        let denied = |reason| Outcome::Denied {
            reason,
            retry_after_seconds: None,
        };
        match user {
            None => finish(
                client,
                steps,
                denied(Reason::InvalidCredentials),
                Vec::new(),
            ),
            Some(user) if !password_correct => {
                let effects = vec![Effect::CountFailedLogin { user: user.name }];
                finish(client, steps, denied(Reason::InvalidCredentials), effects)
            }
            Some(user) if user.disabled => {
                finish(client, steps, denied(Reason::UserDisabled), Vec::new())
            }
            Some(user) => {
                let effects = vec![Effect::ResetFailedLogins {
                    user: user.name.clone(),
                }];
                let identity = Identity {
                    user: Some(user.name),
                    via: Via::Password,
                    token_id: None,
                };
                finish(client, steps, Outcome::Allowed(identity), effects)
            }
        }
    }
}

/// Malformed-credential problems, for callers that want the detail.
pub type Malformed = MalformedCredentials;
