//! What a directory's answer does to tokengate's users: a sign-in provisions or refreshes the
//! user (`tokengate_core::manage::provision`), and the LDAP sync refreshes every directory user
//! and disables those the directory no longer has. The rules are core's; this runs them with
//! the directory clients and applies their effects on this node (other nodes follow the change
//! counter within a second).

use super::{DirectoryUser, Ldap};
use crate::state::{AppState, SharedState};
use chrono::Utc;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokengate_core::User;
use tokengate_core::groups::UserSource;
use tokengate_core::manage::{self, Change, Changed, Effect, ManageError};
use tokengate_core::model::{Actor, Origin};
use tokengate_core::store::DirectoryProfile;
use tokio::sync::watch;

/// The profile a directory gave, for `source`.
pub fn profile(found: DirectoryUser, source: UserSource) -> DirectoryProfile {
    DirectoryProfile {
        name: found.name,
        display_name: found.display_name,
        email: found.email,
        source,
        groups: found.groups,
        admin: found.admin,
    }
}

/// Records a directory sign-in: the user provisioned on first sign-in, refreshed after. The
/// actor is `system` (tokengate acting on the directory's word).
pub async fn record_sign_in(
    state: &AppState,
    profile: &DirectoryProfile,
    origin: &Origin,
) -> Result<User, ManageError> {
    let change = Change {
        actor: &Actor::System,
        origin,
        now: Utc::now(),
    };
    let changed = manage::provision(state.store.as_ref(), &change, profile).await?;
    Ok(apply_here(state, changed).await)
}

/// Applies a change's effects on this node: sessions end in the store, caches refresh.
async fn apply_here<T>(state: &AppState, changed: Changed<T>) -> T {
    for effect in &changed.effects {
        match effect {
            Effect::EndSessions(user) => {
                if let Err(error) = state.store.delete_sessions_of(user).await {
                    tracing::warn!(%error, "could not end the sessions of a deprovisioned user");
                }
            }
            Effect::RefreshCaches => state.cache.invalidate(),
        }
    }
    changed.value
}

/// What one sync did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SyncReport {
    pub refreshed: usize,
    pub deprovisioned: usize,
}

/// One sync: every LDAP user tokengate knows is refreshed from the directory or, when the
/// directory no longer has them, disabled. A directory that cannot be read changes nothing
/// (a list cut short is an error, never a shorter list).
pub async fn sync_once(state: &AppState, ldap: &Ldap) -> Result<SyncReport, String> {
    let listed = ldap.all_users().await.map_err(|error| error.to_string())?;
    let stored = state
        .store
        .users()
        .await
        .map_err(|error| error.to_string())?;
    let known: HashSet<String> = stored
        .iter()
        .filter(|user| user.source == UserSource::Ldap)
        .map(|user| user.name.clone())
        .collect();
    let origin = Origin::default();
    let mut report = SyncReport::default();
    let mut seen = HashSet::new();
    for found in listed {
        seen.insert(found.name.clone());
        if !known.contains(&found.name) {
            continue; // provisioned at the first sign-in, not before
        }
        let profile = profile(found, UserSource::Ldap);
        match record_sign_in(state, &profile, &origin).await {
            Ok(_) => report.refreshed += 1,
            Err(error) => tracing::warn!(user = %profile.name, %error, "directory sync"),
        }
    }
    let change = Change {
        actor: &Actor::System,
        origin: &origin,
        now: Utc::now(),
    };
    for name in known.difference(&seen) {
        match manage::deprovision(state.store.as_ref(), &change, name).await {
            Ok(changed) => {
                if apply_here(state, changed).await {
                    report.deprovisioned += 1;
                }
            }
            Err(error) => tracing::warn!(user = %name, %error, "directory sync"),
        }
    }
    Ok(report)
}

/// Syncs every `interval` until `stop`; the first sync runs at start.
pub async fn run_sync(
    state: SharedState,
    ldap: Arc<Ldap>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        match sync_once(&state, &ldap).await {
            Ok(report) if report.deprovisioned > 0 => tracing::info!(
                refreshed = report.refreshed,
                deprovisioned = report.deprovisioned,
                "directory sync"
            ),
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "directory sync skipped: the directory could not be read")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
    }
}
