//! The server's machinery for password attempts, behind `tokengate_core::authenticate::
//! PasswordAttempts`: the per-address failure budget (`throttle`), the per-user turn and the
//! fair hash queue (`passwords`), and the effects of a verdict applied before the turn ends.
//! The order of an attempt is core's `run_attempt`; the gateway, the REST API and the web UI
//! sign-in all run it with [`GuardedAttempts`]. Nothing here decides.

use crate::directory::accounts;
use crate::state::AppState;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::net::IpAddr;
use std::sync::Arc;
use tokengate_core::Decision;
use tokengate_core::Secret;
use tokengate_core::authenticate::{DirectoryVerdict, HashRefused, PasswordAttempts, Turn};
use tokengate_core::decision::Effect;
use tokengate_core::decision::password::known_since;
use tokengate_core::groups::UserSource;
use tokengate_core::manage::ManageError;
use tokengate_core::model::Origin;

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

    fn has_directory(&self) -> bool {
        self.0.ldap.is_some()
    }

    /// Search-then-bind with the directory; a right password provisions or refreshes the user.
    async fn directory_check(&self, name: &str, password: &Secret) -> DirectoryVerdict {
        let Some(ldap) = &self.0.ldap else {
            return DirectoryVerdict::Unavailable;
        };
        match ldap.authenticate(name, password).await {
            Ok(Some(found)) => {
                let profile = accounts::profile(found, UserSource::Ldap);
                match accounts::record_sign_in(self.0, &profile, &Origin::default()).await {
                    Ok(user) => DirectoryVerdict::Verified(Arc::new(user)),
                    // A local user of the same name is never taken over.
                    Err(ManageError::Conflict(_)) => DirectoryVerdict::Refused,
                    Err(error) => {
                        tracing::warn!(%error, "could not record a directory sign-in");
                        DirectoryVerdict::Unavailable
                    }
                }
            }
            Ok(None) => DirectoryVerdict::Refused,
            Err(error) => {
                tracing::warn!(%error, "password check: the directory could not be asked");
                DirectoryVerdict::Unavailable
            }
        }
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
