//! The SPEC §2 decision as pure functions: what the request presents (`precheck`), then what
//! the looked-up records say (`decide`), then, only when needed, the password attempt
//! (`password::PasswordAttempt`). No I/O here; `crate::authenticate` does the lookups and
//! runs the attempt. Every outcome has a stable reason code and the list of steps taken (for
//! `explain`).

use crate::allowlist::client_address;
use crate::credentials::{Credentials, MalformedCredentials, parse_authorization};
use crate::lockout::LockoutPolicy;
use crate::model::{PasswordAuth, Settings, TokenGrant, User};
pub use crate::restrictions::Reach;
use crate::secret::Secret;
use crate::token::{TOKEN_PREFIX, TokenSecret};
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use std::net::IpAddr;

pub mod budget;
pub mod password;
mod reason;
mod step;
mod token;

pub use password::{AttemptPlan, HashJob, KNOWN_ADDRESS_DAYS, PasswordAttempt};
pub use reason::{Decision, Effect, Identity, Outcome, Reason, Via};
pub use step::Step;
pub use token::TokenRefusal;

/// Whether requests without credentials are forwarded (config `gateway.anonymous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Anonymous {
    #[default]
    Deny,
    Allow,
}

/// The Basic user names that stand for "the owner of this token" (SPEC §2.4): PyPI's
/// `__token__`, GitHub's `x-access-token`, GitLab's `oauth2`, Bitbucket's `x-token-auth`.
pub const DEFAULT_TOKEN_USER_NAMES: [&str; 4] =
    ["__token__", "x-access-token", "oauth2", "x-token-auth"];

/// The node's configuration that the decision depends on (SPEC §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatePolicy {
    pub trusted_proxies: Vec<IpNet>,
    pub anonymous: Anonymous,
    pub lockout: LockoutPolicy,
    /// Basic user names that stand for the token's owner (config `token_user_names`).
    pub token_user_names: Vec<String>,
}

impl Default for GatePolicy {
    fn default() -> Self {
        Self {
            trusted_proxies: Vec::new(),
            anonymous: Anonymous::default(),
            lockout: LockoutPolicy::default(),
            token_user_names: DEFAULT_TOKEN_USER_NAMES.map(str::to_owned).to_vec(),
        }
    }
}

/// What the HTTP layer saw.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    pub peer: IpAddr,
    /// All `X-Forwarded-For` values joined with commas, in order.
    pub forwarded_for: Option<&'a str>,
    pub authorization: Option<&'a [u8]>,
    /// Method, path and route, for the token's restrictions (SPEC §11).
    pub reach: Reach<'a>,
}

/// What the credentials present.
#[derive(Debug, Clone)]
pub enum Presented {
    /// A secret that starts with `tg_`: a token attempt, never a password (SPEC §2.4).
    /// `token` is set when it has the token format (checksum valid).
    Token {
        basic_user: Option<TokenUser>,
        token: Option<TokenSecret>,
    },
    /// Basic credentials whose secret is a password.
    Password { user: String, secret: Secret },
}

/// The user name of Basic credentials that carry a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenUser {
    pub name: String,
    /// The name is one of `token_user_names`: it stands for the token's owner.
    pub stands_for_owner: bool,
}

/// The request after the checks that need no records (SPEC §2.1–§2.3).
#[derive(Debug, Clone)]
pub struct Prechecked {
    pub client: IpAddr,
    pub presented: Presented,
    pub steps: Vec<Step>,
    lockout: LockoutPolicy,
}

impl Prechecked {
    /// The token whose record must be looked up, if any.
    pub fn token(&self) -> Option<&TokenSecret> {
        match &self.presented {
            Presented::Token { token, .. } => token.as_ref(),
            Presented::Password { .. } => None,
        }
    }

    /// `token` if it is the presented one's record and may decide: any for Bearer; for Basic,
    /// only when the user name is its owner's or one of `token_user_names` (SPEC §2.4).
    pub fn matching_token<'r>(&self, token: Option<&'r TokenGrant>) -> Option<&'r TokenGrant> {
        let Presented::Token { basic_user, .. } = &self.presented else {
            return None;
        };
        let token = token?;
        match basic_user {
            None => Some(token),
            Some(user) if user.stands_for_owner || user.name == token.owner => Some(token),
            Some(_) => None,
        }
    }

    /// Whether a failed token attempt came as Basic credentials (answered like a password
    /// while passwords are disabled).
    fn is_basic(&self) -> bool {
        match &self.presented {
            Presented::Token { basic_user, .. } => basic_user.is_some(),
            Presented::Password { .. } => true,
        }
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

fn denied(reason: Reason, retry_after_seconds: Option<u64>) -> Outcome {
    Outcome::Denied {
        reason,
        retry_after_seconds,
    }
}

impl Decision {
    /// A request without credentials (`missing_credentials`, so the allow-list already
    /// admitted its address) that carries the gateway cookie of `user`'s valid session on a
    /// route with browser single sign-on: allowed, via `session` (SPEC §10).
    pub fn by_session(self, user: &User) -> Decision {
        let Decision {
            client, mut steps, ..
        } = self;
        steps.pop(); // the refusal this replaces
        steps.push(Step::GatewaySession {
            user: user.name.clone(),
        });
        let identity = Identity::of(user, Via::Session, None);
        finish(client, steps, Outcome::Allowed(identity), Vec::new())
    }
}

/// The store (or the hashing) could not answer: fail closed (SPEC §2.8).
pub fn unavailable(client: IpAddr, mut steps: Vec<Step>) -> Decision {
    steps.push(Step::StoreUnavailable);
    finish(client, steps, denied(Reason::Unavailable, None), Vec::new())
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
        let outcome = denied(Reason::IpNotAllowed, None);
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
            Anonymous::Allow => Outcome::Allowed(Identity::anonymous()),
            Anonymous::Deny => denied(Reason::MissingCredentials, None),
        };
        return Err(Box::new(finish(client, steps, outcome, Vec::new())));
    };
    let presented = match parse_authorization(header) {
        Ok(credentials) => present(credentials, policy, &mut steps),
        Err(problem) => {
            steps.push(Step::Malformed(problem));
            let outcome = denied(Reason::MalformedCredentials, None);
            return Err(Box::new(finish(client, steps, outcome, Vec::new())));
        }
    };
    Ok(Prechecked {
        client,
        presented,
        steps,
        lockout: policy.lockout,
    })
}

/// Sorts parsed credentials into a token attempt or a password (SPEC §2.4, §2.5).
fn present(credentials: Credentials, policy: &GatePolicy, steps: &mut Vec<Step>) -> Presented {
    match credentials {
        Credentials::Basic { user, secret } if secret.expose().starts_with(TOKEN_PREFIX) => {
            let token = TokenSecret::parse(secret.expose());
            let stands_for_owner = policy.token_user_names.contains(&user);
            steps.push(Step::Basic {
                user: user.clone(),
                token_format: token.is_some(),
            });
            if token.is_none() {
                steps.push(Step::NotAPassword);
            } else if stands_for_owner {
                steps.push(Step::TokenUserName);
            }
            Presented::Token {
                basic_user: Some(TokenUser {
                    name: user,
                    stands_for_owner,
                }),
                token,
            }
        }
        Credentials::Basic { user, secret } => {
            steps.push(Step::Basic {
                user: user.clone(),
                token_format: false,
            });
            Presented::Password { user, secret }
        }
        Credentials::Bearer { secret } => {
            let token = TokenSecret::parse(secret.expose());
            steps.push(Step::Bearer {
                token_format: token.is_some(),
            });
            Presented::Token {
                basic_user: None,
                token,
            }
        }
    }
}

/// The records looked up for a prechecked request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Records<'a> {
    /// The token whose digest matches the presented token, if any.
    pub token: Option<&'a TokenGrant>,
    /// That token's owner.
    pub token_owner: Option<&'a User>,
}

/// What remains after step 4: a decision, a refused token attempt whose answer depends on the
/// address's failure budget, or a password attempt.
#[derive(Debug)]
pub enum Evaluation {
    Decided(Decision),
    TokenRefused(TokenRefusal),
    CheckPassword(PasswordAttempt),
}

/// Steps 4 and 5 up to the password attempt.
pub fn decide(
    prechecked: Prechecked,
    records: Records<'_>,
    reach: &Reach<'_>,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Evaluation {
    let mut prechecked = prechecked;
    if let Some(token) = prechecked.matching_token(records.token) {
        return Evaluation::Decided(token::token_decision(
            prechecked,
            token,
            records.token_owner,
            reach,
            settings,
            now,
        ));
    }
    let password_disabled = settings.password_auth == PasswordAuth::Disabled;
    match prechecked.presented {
        Presented::Token { ref token, .. } => {
            prechecked.steps.push(if records.token.is_some() {
                // Only Basic credentials can name a token of another user.
                Step::TokenOfAnotherUser
            } else {
                Step::TokenNotFound {
                    token_format: token.is_some(),
                }
            });
            let basic = prechecked.is_basic();
            Evaluation::TokenRefused(TokenRefusal::new(
                prechecked.client,
                prechecked.steps,
                basic && password_disabled,
            ))
        }
        Presented::Password { user, secret } if !password_disabled => {
            Evaluation::CheckPassword(PasswordAttempt::new(
                user,
                secret,
                prechecked.client,
                prechecked.steps,
                prechecked.lockout,
            ))
        }
        Presented::Password { .. } => {
            prechecked.steps.push(Step::PasswordAuthDisabled);
            let outcome = denied(Reason::PasswordAuthDisabled, None);
            Evaluation::Decided(finish(
                prechecked.client,
                prechecked.steps,
                outcome,
                Vec::new(),
            ))
        }
    }
}

/// Malformed-credential problems, for callers that want the detail.
pub type Malformed = MalformedCredentials;
