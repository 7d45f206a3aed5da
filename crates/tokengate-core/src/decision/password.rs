//! Steps 5–7 as pure rules (SPEC §2.5–§2.7): a password attempt judged against the user as
//! stored at the moment its check starts. The order the caller follows — take a unit of the
//! address's failure budget, wait for the user's turn, read the user, `plan`, hash, `finish`,
//! apply the effects, end the turn — is `crate::authenticate::run_attempt`; the gateway, the
//! REST API and the web UI sign-in all go through it.

use super::{Decision, Effect, Identity, Outcome, Reason, Step, Via, denied, finish};
use crate::lockout::{LockState, LockoutPolicy, after_failure, lock_state};
use crate::model::{User, is_valid_user_name};
use crate::secret::{Secret, redacted};
use crate::token::TOKEN_PREFIX;
use chrono::{DateTime, TimeDelta, Utc};
use std::net::IpAddr;

/// How long an address stays known after a successful password check (SPEC §2.6).
pub const KNOWN_ADDRESS_DAYS: i64 = 30;

/// Known addresses last seen before this instant no longer count.
pub fn known_since(now: DateTime<Utc>) -> DateTime<Utc> {
    now - TimeDelta::days(KNOWN_ADDRESS_DAYS)
}

/// A password to check: whose, from where, and the steps so far.
#[derive(Debug)]
pub struct PasswordAttempt {
    user: String,
    secret: Secret,
    client: IpAddr,
    steps: Vec<Step>,
    lockout: LockoutPolicy,
}

/// What the user record says before any hash runs.
#[derive(Debug)]
pub enum AttemptPlan {
    Decided(Decision),
    Hash(HashJob),
}

impl PasswordAttempt {
    pub(super) fn new(
        user: String,
        secret: Secret,
        client: IpAddr,
        steps: Vec<Step>,
        lockout: LockoutPolicy,
    ) -> Self {
        Self {
            user,
            secret,
            client,
            steps,
            lockout,
        }
    }

    /// A sign-in on tokengate's own page: the same attempt rules, without the IP allow-list
    /// and the password switch, which govern the API and the gateway only.
    pub fn sign_in(user: &str, secret: Secret, client: IpAddr, lockout: LockoutPolicy) -> Self {
        let steps = vec![Step::SignIn {
            user: user.to_owned(),
            client,
        }];
        Self::new(user.to_owned(), secret, client, steps, lockout)
    }

    pub fn user_name(&self) -> &str {
        &self.user
    }

    pub fn client(&self) -> IpAddr {
        self.client
    }

    /// Whether the name can belong to a stored user (otherwise it is unknown without a read).
    pub fn may_name_a_user(&self) -> bool {
        is_valid_user_name(&self.user)
    }

    /// Whether the known-address fact matters: only for a user who is locked now.
    pub fn needs_known_address(user: Option<&User>, now: DateTime<Utc>) -> bool {
        user.is_some_and(|user| lock_state(user.locked_until, now) != LockState::Open)
    }

    /// Refused before any hash: the address has no failure budget left.
    pub fn throttled(mut self, retry_after_seconds: u64) -> Decision {
        self.steps.push(Step::Throttled {
            retry_after_seconds,
        });
        let outcome = denied(Reason::TooManyFailures, Some(retry_after_seconds));
        finish(self.client, self.steps, outcome, Vec::new())
    }

    /// The store could not be read: fail closed.
    pub fn unavailable(self) -> Decision {
        super::unavailable(self.client, self.steps)
    }

    /// Judges the attempt against `user` as stored now (`None`: no such user) and whether the
    /// client address is one of the user's known addresses.
    pub fn plan(self, user: Option<&User>, known_address: bool, now: DateTime<Utc>) -> AttemptPlan {
        let Self {
            user: name,
            secret,
            client,
            mut steps,
            lockout,
        } = self;
        if secret.expose().starts_with(TOKEN_PREFIX) {
            // Only the sign-in page gets here with a token: never hashed, never counted.
            steps.push(Step::NotAPassword);
            let outcome = denied(Reason::InvalidCredentials, None);
            return AttemptPlan::Decided(finish(client, steps, outcome, Vec::new()));
        }
        let user = user.filter(|record| record.name == name);
        let mut locked = false;
        match user.map(|record| lock_state(record.locked_until, now)) {
            None => steps.push(Step::UnknownUser),
            Some(LockState::Open) => {}
            Some(LockState::Locked {
                retry_after_seconds,
            }) if !known_address => {
                steps.push(Step::UserLocked {
                    retry_after_seconds,
                });
                let outcome = denied(Reason::UserLocked, retry_after_seconds);
                return AttemptPlan::Decided(finish(client, steps, outcome, Vec::new()));
            }
            Some(LockState::Locked { .. }) => {
                steps.push(Step::KnownAddress);
                locked = true;
            }
        }
        AttemptPlan::Hash(HashJob {
            stored_hash: user.and_then(|record| record.password_hash.clone()),
            secret,
            client,
            steps,
            user: user.map(|record| UserFacts::of(record, locked)),
            lockout,
            now,
        })
    }
}

/// A password check to run: `secret` against `stored_hash` (a dummy hash when `None`: the
/// same work for unknown users, SPEC §2.7), then [`HashJob::finish`] with the verdict.
/// `Debug` shows neither the password nor the stored hash.
pub struct HashJob {
    pub stored_hash: Option<String>,
    pub secret: Secret,
    client: IpAddr,
    steps: Vec<Step>,
    user: Option<UserFacts>,
    lockout: LockoutPolicy,
    now: DateTime<Utc>,
}

impl std::fmt::Debug for HashJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            stored_hash,
            secret,
            client,
            steps,
            user,
            lockout,
            now,
        } = self;
        f.debug_struct("HashJob")
            .field("stored_hash", &redacted(stored_hash.as_ref()))
            .field("secret", secret)
            .field("client", client)
            .field("steps", steps)
            .field("user", user)
            .field("lockout", lockout)
            .field("now", now)
            .finish()
    }
}

#[derive(Debug)]
struct UserFacts {
    name: String,
    disabled: bool,
    failed_logins: u32,
    locked_until: Option<DateTime<Utc>>,
    /// Locked, and checked anyway because the address is known.
    locked: bool,
    /// For the identity headers.
    groups: String,
    email: Option<String>,
}

impl UserFacts {
    fn of(record: &User, locked: bool) -> Self {
        Self {
            name: record.name.clone(),
            disabled: record.disabled,
            failed_logins: record.failed_logins,
            locked_until: record.locked_until,
            locked,
            groups: record.groups.join(","),
            email: record.email.clone(),
        }
    }
}

impl HashJob {
    pub fn client(&self) -> IpAddr {
        self.client
    }

    /// The hash queue is full: 429 at once, nothing checked, nothing counted.
    pub fn busy(mut self) -> Decision {
        self.steps.push(Step::HashQueueFull);
        let outcome = denied(Reason::TooManyFailures, Some(1));
        finish(self.client, self.steps, outcome, Vec::new())
    }

    /// The hash could not run: fail closed.
    pub fn unavailable(self) -> Decision {
        super::unavailable(self.client, self.steps)
    }

    /// The name the password was given for.
    pub fn user_name(&self) -> Option<&str> {
        self.user.as_ref().map(|user| user.name.as_str())
    }

    /// The directory could not be asked: 503 `directory_unavailable`, not counted as a failure.
    pub fn directory_unavailable(mut self) -> Decision {
        self.steps.push(Step::DirectoryUnavailable);
        let outcome = denied(Reason::DirectoryUnavailable, None);
        finish(self.client, self.steps, outcome, Vec::new())
    }

    /// The directory verified the password of `user` (as stored after its sign-in was
    /// recorded, possibly just provisioned): decided like a correct password of that user,
    /// so a disabled user is still refused.
    pub fn finish_for_directory_user(mut self, user: &User) -> Decision {
        self.steps.push(Step::DirectoryChecked);
        let locked = self.user.as_ref().is_some_and(|facts| facts.locked);
        self.user = Some(UserFacts::of(user, locked));
        self.finish(true)
    }

    /// The verdict decides (SPEC §2.5, §2.6).
    pub fn finish(self, password_correct: bool) -> Decision {
        let Self {
            client,
            mut steps,
            user,
            lockout,
            now,
            ..
        } = self;
        steps.push(Step::PasswordChecked {
            correct: password_correct && user.is_some(),
        });
        let Some(user) = user else {
            return finish(
                client,
                steps,
                denied(Reason::InvalidCredentials, None),
                Vec::new(),
            );
        };
        if !password_correct {
            let (_, locked_until) =
                after_failure(user.failed_logins, user.locked_until, now, lockout);
            if let (
                false,
                LockState::Locked {
                    retry_after_seconds,
                },
            ) = (user.locked, lock_state(locked_until, now))
            {
                steps.push(Step::LocksPassword {
                    retry_after_seconds,
                });
            }
            let effects = vec![Effect::CountFailedLogin { user: user.name }];
            return finish(
                client,
                steps,
                denied(Reason::InvalidCredentials, None),
                effects,
            );
        }
        if user.disabled {
            return finish(
                client,
                steps,
                denied(Reason::UserDisabled, None),
                Vec::new(),
            );
        }
        let mut effects = Vec::with_capacity(2);
        if !user.locked {
            // From a known address while locked, the counter and the lock stay as they are.
            effects.push(Effect::ResetFailedLogins {
                user: user.name.clone(),
            });
        }
        effects.push(Effect::RememberAddress {
            user: user.name.clone(),
            address: client,
        });
        let identity = Identity {
            user: Some(user.name),
            via: Via::Password,
            token_id: None,
            groups: user.groups,
            email: user.email,
            replaced_secret: false,
        };
        finish(client, steps, Outcome::Allowed(identity), effects)
    }
}
