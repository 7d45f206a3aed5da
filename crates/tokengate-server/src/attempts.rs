//! The server's machinery for password attempts, behind `tokengate_core::authenticate::
//! PasswordAttempts`: the per-address failure budget (`throttle`), the per-user turn and the
//! fair hash queue (`passwords`), and the effects of a verdict applied before the turn ends.
//! The order of an attempt is core's `run_attempt`; the gateway, the REST API and the web UI
//! sign-in all run it with [`GuardedAttempts`]. Nothing here decides.

use crate::state::AppState;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::net::IpAddr;
use tokengate_core::Decision;
use tokengate_core::Secret;
use tokengate_core::authenticate::{HashRefused, PasswordAttempts, Turn};
use tokengate_core::decision::Effect;
use tokengate_core::decision::password::known_since;

/// Password attempts under every limit: the one implementation for every entrance.
pub struct GuardedAttempts<'a>(pub &'a AppState);

#[async_trait]
impl PasswordAttempts for GuardedAttempts<'_> {
    fn take_failure_unit(&self, client: IpAddr) -> Result<(), u64> {
        self.0.throttle.take(client)
    }

    fn give_back_failure_unit(&self, client: IpAddr) {
        self.0.throttle.give_back(client);
    }

    async fn turn(&self, user: &str) -> Turn {
        Turn::holding(self.0.passwords.turn(user).await)
    }

    async fn hash(
        &self,
        client: IpAddr,
        stored_hash: Option<String>,
        password: Secret,
    ) -> Result<bool, HashRefused> {
        self.0.passwords.check(client, stored_hash, password).await
    }

    /// Applies the user effects now (the next attempt for the user reads them); token use is
    /// left for the caller's batch.
    async fn settle(&self, decision: &mut Decision, now: DateTime<Utc>) {
        let effects = std::mem::take(&mut decision.effects);
        for effect in effects {
            if !apply_user_effect(self.0, &effect, now).await {
                decision.effects.push(effect);
            }
        }
    }
}

/// Applies one effect that concerns a user's password state; `false` for other effects.
/// A failure to store is logged and does not change the answer already decided.
pub async fn apply_user_effect(state: &AppState, effect: &Effect, now: DateTime<Utc>) -> bool {
    let store = &state.store;
    let result = match effect {
        Effect::CountFailedLogin { user } => store
            .record_failed_login(user, now, state.policy.lockout)
            .await
            .map(drop),
        Effect::ResetFailedLogins { user } => store.reset_failed_logins(user, None).await.map(drop),
        Effect::RememberAddress { user, address } => {
            store
                .remember_address(user, *address, now, known_since(now))
                .await
        }
        Effect::TokenUsed { .. } => return false,
    };
    if let Err(error) = result {
        tracing::warn!(%error, "could not store the outcome of a password check");
    }
    true
}
