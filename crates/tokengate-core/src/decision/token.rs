//! Step 4, tokens (SPEC §2.4): a matching token decides by its expiry and its owner; a token
//! attempt that matches nothing is refused without touching any user's failed-login counter,
//! spending only the client address's failure budget.

use super::{
    Decision, Effect, Identity, Outcome, Prechecked, Reach, Reason, Step, Via, denied, finish,
};
use crate::model::{Settings, TokenGrant, User};
use crate::restrictions::Outside;
use chrono::{DateTime, Utc};
use std::net::IpAddr;

pub(super) fn token_decision(
    prechecked: Prechecked,
    token: &TokenGrant,
    owner: Option<&User>,
    reach: &Reach<'_>,
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
    let deny = |steps, reason| finish(client, steps, denied(reason, None), Vec::new());
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
    if let Some(outside) = token
        .restrictions
        .as_deref()
        .and_then(|restrictions| restrictions.outside(client, reach))
    {
        steps.push(Step::TokenOutside(outside));
        let reason = match outside {
            Outside::Address => Reason::TokenIpNotAllowed,
            Outside::Method | Outside::Path | Outside::Route => Reason::TokenScopeDenied,
        };
        return deny(steps, reason);
    }
    let mut identity = Identity::of(owner, Via::Token, Some(token.id.clone()));
    identity.replaced_secret = token.grace_until.is_some();
    let effects = vec![Effect::TokenUsed {
        token_id: token.id.clone(),
    }];
    finish(client, steps, Outcome::Allowed(identity), effects)
}

/// A token attempt that matched nothing (unknown, revoked, bad checksum, another user's).
/// The caller takes one unit of the client address's failure budget and hands the result to
/// [`TokenRefusal::finish`].
#[derive(Debug)]
pub struct TokenRefusal {
    client: IpAddr,
    steps: Vec<Step>,
    /// Basic credentials while passwords are disabled: answered 403 like a password.
    password_auth_disabled: bool,
}

impl TokenRefusal {
    pub(super) fn new(client: IpAddr, steps: Vec<Step>, password_auth_disabled: bool) -> Self {
        Self {
            client,
            steps,
            password_auth_disabled,
        }
    }

    pub fn client(&self) -> IpAddr {
        self.client
    }

    /// `budget`: `Ok` when a unit of the failure budget was taken, `Err(seconds)` when the
    /// address has none left (then 429).
    pub fn finish(self, budget: Result<(), u64>) -> Decision {
        let Self {
            client,
            mut steps,
            password_auth_disabled,
        } = self;
        let outcome = match budget {
            Err(retry_after_seconds) => {
                steps.push(Step::Throttled {
                    retry_after_seconds,
                });
                denied(Reason::TooManyFailures, Some(retry_after_seconds))
            }
            Ok(()) if password_auth_disabled => {
                steps.push(Step::PasswordAuthDisabled);
                denied(Reason::PasswordAuthDisabled, None)
            }
            Ok(()) => denied(Reason::InvalidCredentials, None),
        };
        finish(client, steps, outcome, Vec::new())
    }
}
