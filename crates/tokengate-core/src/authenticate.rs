//! Runs the SPEC §2 decision end to end: precheck, record lookups, decide, and the password
//! attempt in its one order (`run_attempt`). Lookups come in through [`AuthLookup`]; the
//! attempt's machinery (failure budget, one check per user at a time, the hash queue, applying
//! effects before the next check) through [`PasswordAttempts`], so the gateway (cache, queue,
//! locks), `explain` (store, no side effects) and tests share this one sequence.

use crate::decision::password::HashJob;
use crate::decision::password::known_since;
use crate::decision::{
    AttemptPlan, Decision, Evaluation, GatePolicy, PasswordAttempt, Reason, Records, RequestFacts,
    decide, precheck, unavailable,
};
use crate::groups::UserSource;
use crate::model::{Settings, TokenGrant, User};
use crate::secret::Secret;
use crate::store::StoreResult;
use crate::token::TokenDigest;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::any::Any;
use std::net::IpAddr;
use std::sync::Arc;

/// Where the decision reads records from (a cache in the gateway, the store in `explain`).
#[async_trait]
pub trait AuthLookup: Send + Sync {
    async fn token_by_digest(&self, digest: &TokenDigest) -> StoreResult<Option<Arc<TokenGrant>>>;
    /// A user as it is now (password path: failed-login counter and lock must be current).
    async fn user(&self, name: &str) -> StoreResult<Option<Arc<User>>>;
    /// The owner of a matched token; may come from a cache that is invalidated on change.
    async fn token_owner(&self, name: &str) -> StoreResult<Option<Arc<User>>> {
        self.user(name).await
    }
    /// Whether `user` passed a password check from `address` at or after `since`.
    async fn is_known_address(
        &self,
        user: &str,
        address: IpAddr,
        since: DateTime<Utc>,
    ) -> StoreResult<bool>;
}

/// Why a password hash did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashRefused {
    /// The hash queue is full (429 at once).
    Busy,
    /// The hashing threads are gone (fail closed).
    Unavailable,
}

/// Holds a user's turn for a password check until dropped.
pub struct Turn {
    _held: Option<Box<dyn Any + Send>>,
}

impl Turn {
    /// No turn to hold (a caller that checks one attempt at a time anyway).
    pub fn none() -> Self {
        Self { _held: None }
    }

    pub fn holding(guard: impl Any + Send) -> Self {
        Self {
            _held: Some(Box::new(guard)),
        }
    }
}

/// The machinery of password attempts. Only `hash` is required: the defaults take no budget,
/// hold no turn and apply nothing, which is what `explain`, the CLI and tests want.
#[async_trait]
pub trait PasswordAttempts: Send + Sync {
    /// Takes one unit of `client`'s failure budget; `Err(seconds)` when none is left.
    fn take_failure_unit(&self, _client: IpAddr) -> Result<(), u64> {
        Ok(())
    }
    /// Gives back a unit taken for an attempt that turned out not to be a failure.
    fn give_back_failure_unit(&self, _client: IpAddr) {}
    /// Waits until no other password check for `user` is in flight; the turn lasts until the
    /// returned value is dropped.
    async fn turn(&self, _user: &str) -> Turn {
        Turn::none()
    }
    /// Verifies `password` against `stored_hash` (a dummy hash when `None`).
    async fn hash(
        &self,
        client: IpAddr,
        stored_hash: Option<String>,
        password: Secret,
    ) -> Result<bool, HashRefused>;
    /// Applies the decision's effects while the turn is held, removing those it applied.
    async fn settle(&self, _decision: &mut Decision, _now: DateTime<Utc>) {}
    /// Whether a directory (LDAP) checks the passwords of users tokengate does not hold
    /// locally. Without one (the default), every password is checked against its stored hash.
    fn has_directory(&self) -> bool {
        false
    }
    /// Checks `password` for `name` with the directory and records the sign-in (provisioning
    /// or refreshing the user). Called only when [`Self::has_directory`] says so.
    async fn directory_check(&self, _name: &str, _password: &Secret) -> DirectoryVerdict {
        DirectoryVerdict::Unavailable
    }
}

/// What the directory said about a password.
#[derive(Debug)]
pub enum DirectoryVerdict {
    /// Right: the user as stored now (provisioned or refreshed from the directory).
    Verified(Arc<User>),
    /// Wrong password, or a user the directory does not have.
    Refused,
    /// The directory could not be asked (503, not counted as a failure).
    Unavailable,
}

/// Verifies on the calling thread: for the CLI and tests.
pub struct InlinePasswordCheck;

#[async_trait]
impl PasswordAttempts for InlinePasswordCheck {
    async fn hash(
        &self,
        _client: IpAddr,
        stored_hash: Option<String>,
        password: Secret,
    ) -> Result<bool, HashRefused> {
        Ok(crate::password::verify_password(
            stored_hash.as_deref(),
            &password,
        ))
    }
}

/// The whole decision for one request. Store failures become `unavailable` (fail closed).
pub async fn authenticate(
    request: &RequestFacts<'_>,
    settings: &Settings,
    policy: &GatePolicy,
    lookup: &dyn AuthLookup,
    attempts: &dyn PasswordAttempts,
    now: DateTime<Utc>,
) -> Decision {
    let prechecked = match precheck(request, settings, policy) {
        Ok(prechecked) => prechecked,
        Err(decision) => {
            if decision.reason() == Some(Reason::MalformedCredentials) {
                // Counted against the address, answered 401 all the same.
                let _ = attempts.take_failure_unit(decision.client);
            }
            return *decision;
        }
    };
    let client = prechecked.client;
    let token = match prechecked.token() {
        Some(secret) => match lookup.token_by_digest(&secret.digest()).await {
            // A rotated token's old secret after its grace is no token at all.
            Ok(found) => found.filter(|grant| !grant.grace_is_over(now)),
            Err(_) => return unavailable(client, prechecked.steps),
        },
        None => None,
    };
    let token_owner = match prechecked.matching_token(token.as_deref()) {
        Some(record) => match lookup.token_owner(&record.owner).await {
            Ok(found) => found,
            Err(_) => return unavailable(client, prechecked.steps),
        },
        None => None,
    };
    let records = Records {
        token: token.as_deref(),
        token_owner: token_owner.as_deref(),
    };
    match decide(prechecked, records, &request.reach, settings, now) {
        Evaluation::Decided(decision) => decision,
        Evaluation::TokenRefused(refusal) => {
            let budget = attempts.take_failure_unit(refusal.client());
            refusal.finish(budget)
        }
        Evaluation::CheckPassword(attempt) => run_attempt(attempt, lookup, attempts, now).await,
    }
}

/// One password attempt, in the order that makes concurrent guesses count (SPEC §2.6): a unit
/// of the address's failure budget is taken first; then the user's turn (one check per user
/// name at a time); the user is read as stored now; a lock refuses unless the address is
/// known; the hash runs; the verdict's effects are applied before the turn ends, so the next
/// attempt for the same user sees them. The unit is given back unless the attempt failed.
pub async fn run_attempt(
    attempt: PasswordAttempt,
    lookup: &dyn AuthLookup,
    attempts: &dyn PasswordAttempts,
    now: DateTime<Utc>,
) -> Decision {
    let client = attempt.client();
    if let Err(seconds) = attempts.take_failure_unit(client) {
        return attempt.throttled(seconds);
    }
    let turn = attempts.turn(attempt.user_name()).await;
    let mut decision = check_in_turn(attempt, lookup, attempts, now).await;
    attempts.settle(&mut decision, now).await;
    drop(turn);
    if !decision
        .reason()
        .is_some_and(|reason| reason.is_credential_failure())
    {
        attempts.give_back_failure_unit(client);
    }
    decision
}

async fn check_in_turn(
    attempt: PasswordAttempt,
    lookup: &dyn AuthLookup,
    attempts: &dyn PasswordAttempts,
    now: DateTime<Utc>,
) -> Decision {
    let user = if attempt.may_name_a_user() {
        match lookup.user(attempt.user_name()).await {
            Ok(found) => found,
            Err(_) => return attempt.unavailable(),
        }
    } else {
        None
    };
    let user = user.as_deref();
    let known = match user {
        Some(record) if PasswordAttempt::needs_known_address(Some(record), now) => match lookup
            .is_known_address(&record.name, attempt.client(), known_since(now))
            .await
        {
            Ok(known) => known,
            Err(_) => return attempt.unavailable(),
        },
        _ => false,
    };
    let name = attempt.user_name().to_owned();
    let job = match attempt.plan(user, known, now) {
        AttemptPlan::Decided(decision) => return decision,
        AttemptPlan::Hash(job) => job,
    };
    let directory_user = user.is_none_or(|record| record.source == UserSource::Ldap);
    if directory_user && attempts.has_directory() {
        let verdict = attempts
            .directory_check(attempt_name(user, &job, &name), &job.secret)
            .await;
        return match verdict {
            DirectoryVerdict::Verified(user) => job.finish_for_directory_user(&user),
            DirectoryVerdict::Refused => job.finish(false),
            DirectoryVerdict::Unavailable => job.directory_unavailable(),
        };
    }
    let stored = job.stored_hash.clone();
    let secret = job.secret.clone();
    match attempts.hash(job.client(), stored, secret).await {
        Ok(correct) => job.finish(correct),
        Err(HashRefused::Busy) => job.busy(),
        Err(HashRefused::Unavailable) => job.unavailable(),
    }
}

/// The name to ask the directory about: the stored user's, else the name as typed.
fn attempt_name<'a>(user: Option<&'a User>, job: &'a HashJob, typed: &'a str) -> &'a str {
    user.map(|record| record.name.as_str())
        .or(job.user_name())
        .unwrap_or(typed)
}

/// Reads records straight from the store: for `explain` and the CLI.
pub struct StoreLookup<'a>(pub &'a dyn crate::store::Store);

#[async_trait]
impl AuthLookup for StoreLookup<'_> {
    async fn token_by_digest(&self, digest: &TokenDigest) -> StoreResult<Option<Arc<TokenGrant>>> {
        Ok(self.0.token_grant_by_digest(digest).await?.map(Arc::new))
    }

    async fn user(&self, name: &str) -> StoreResult<Option<Arc<User>>> {
        Ok(self.0.user(name).await?.map(Arc::new))
    }

    async fn is_known_address(
        &self,
        user: &str,
        address: IpAddr,
        since: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.0.is_known_address(user, address, since).await
    }
}
