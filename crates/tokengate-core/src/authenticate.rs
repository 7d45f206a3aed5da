//! Runs the SPEC §2 decision end to end: precheck, record lookups, decide, password verdict.
//! Lookups and password verification come in through traits so the gateway (cache, blocking
//! pool), `explain` (store, inline) and tests share this one sequence. Effects are returned,
//! never applied here.

use crate::decision::{
    Decision, Evaluation, GatePolicy, Outcome, Reason, Records, RequestFacts, Step, decide,
    precheck,
};
use crate::model::{Settings, TokenGrant, User};
use crate::secret::Secret;
use crate::store::StoreResult;
use crate::token::TokenDigest;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
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
    /// Seconds until `client` may retry, when it is over its failure budget.
    fn throttled_for(&self, client: IpAddr) -> Option<u64>;
}

/// Verifies a password against a PHC string (a dummy when `None`). `Err` = could not run.
#[async_trait]
pub trait PasswordCheck: Send + Sync {
    async fn verify(&self, stored_hash: Option<String>, password: Secret) -> Result<bool, ()>;
}

/// Verifies on the calling thread: for the CLI and tests.
pub struct InlinePasswordCheck;

#[async_trait]
impl PasswordCheck for InlinePasswordCheck {
    async fn verify(&self, stored_hash: Option<String>, password: Secret) -> Result<bool, ()> {
        Ok(crate::password::verify_password(
            stored_hash.as_deref(),
            &password,
        ))
    }
}

fn unavailable(client: IpAddr, mut steps: Vec<Step>) -> Decision {
    let outcome = Outcome::Denied {
        reason: Reason::Unavailable,
        retry_after_seconds: None,
    };
    steps.push(Step::StoreUnavailable);
    steps.push(Step::Outcome(outcome.clone()));
    Decision {
        client,
        outcome,
        steps,
        effects: Vec::new(),
    }
}

/// The whole decision for one request. Store failures become `unavailable` (fail closed).
pub async fn authenticate(
    request: &RequestFacts<'_>,
    settings: &Settings,
    policy: &GatePolicy,
    lookup: &dyn AuthLookup,
    passwords: &dyn PasswordCheck,
    now: DateTime<Utc>,
) -> Decision {
    let prechecked = match precheck(request, settings, policy) {
        Ok(prechecked) => prechecked,
        Err(decision) => return *decision,
    };
    let client = prechecked.client;
    let token = match prechecked.token() {
        Some(secret) => match lookup.token_by_digest(&secret.digest()).await {
            Ok(found) => found,
            Err(_) => return unavailable(client, prechecked.steps),
        },
        None => None,
    };
    let token_owner = match token.as_deref() {
        Some(record) => match lookup.token_owner(&record.owner).await {
            Ok(found) => found,
            Err(_) => return unavailable(client, prechecked.steps),
        },
        None => None,
    };
    let basic_user = match prechecked.basic_user() {
        Some(name) if token_owner.as_ref().is_some_and(|owner| owner.name == name) => {
            token_owner.clone()
        }
        Some(name) if crate::model::is_valid_user_name(name) => match lookup.user(name).await {
            Ok(found) => found,
            Err(_) => return unavailable(client, prechecked.steps),
        },
        _ => None,
    };
    // The failure budget only matters when no token decides (`decide` reads it after the
    // token rules): a valid token costs no throttle lookup.
    let throttled_for = match prechecked.matching_token(token.as_deref()) {
        Some(_) => None,
        None => lookup.throttled_for(client),
    };
    let records = Records {
        token: token.as_deref(),
        token_owner: token_owner.as_deref(),
        basic_user: basic_user.as_deref(),
        throttled_for,
    };
    match decide(prechecked, records, settings, now) {
        Evaluation::Decided(decision) => decision,
        Evaluation::CheckPassword(pending) => {
            let stored = pending.stored_hash.clone();
            let secret = pending.secret.clone();
            match passwords.verify(stored, secret).await {
                Ok(correct) => pending.finish(correct),
                Err(()) => unavailable(client, Vec::new()),
            }
        }
    }
}

/// Reads records straight from the store, with no failure budget: for `explain` and the CLI.
pub struct StoreLookup<'a>(pub &'a dyn crate::store::Store);

#[async_trait]
impl AuthLookup for StoreLookup<'_> {
    async fn token_by_digest(&self, digest: &TokenDigest) -> StoreResult<Option<Arc<TokenGrant>>> {
        Ok(self.0.token_grant_by_digest(digest).await?.map(Arc::new))
    }

    async fn user(&self, name: &str) -> StoreResult<Option<Arc<User>>> {
        Ok(self.0.user(name).await?.map(Arc::new))
    }

    fn throttled_for(&self, _client: IpAddr) -> Option<u64> {
        None
    }
}
