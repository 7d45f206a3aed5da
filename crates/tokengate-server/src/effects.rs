//! Applies the effects core returns with a change (`tokengate_core::manage::Effect`), in one
//! place for the REST API, the web UI and the CLI. Decides nothing: which effects a change has
//! is core's rule. Every door hands the result of a `manage` operation to [`on_node`] (a
//! running server) or [`in_store`] (the CLI) and gets the plain result back.
//!
//! Sessions are read from the store on every request, so ending them takes effect at once on
//! every node, also when the CLI made the change. Caches are refreshed at once on the node that
//! made the change; other nodes, and a server beside the CLI, follow within a poll of the
//! store's change counter (`crate::watch`).

use crate::state::SharedState;
use tokengate_core::manage::{Changed, Effect, ManageError};
use tokengate_core::store::Store;

/// A change made in a running server: its effects carried out, its result returned. A failure
/// is reported (the change itself is already stored and audited; repeating the request repeats
/// the effects).
pub async fn on_node<T>(
    state: &SharedState,
    changed: Result<Changed<T>, ManageError>,
) -> Result<T, ManageError> {
    apply(state.store.as_ref(), Some(state), changed?).await
}

/// A change made outside a running server (the CLI): sessions end in the store; running
/// servers refresh their caches within a poll.
pub async fn in_store<T>(
    store: &dyn Store,
    changed: Result<Changed<T>, ManageError>,
) -> Result<T, ManageError> {
    apply(store, None, changed?).await
}

async fn apply<T>(
    store: &dyn Store,
    node: Option<&SharedState>,
    changed: Changed<T>,
) -> Result<T, ManageError> {
    for effect in &changed.effects {
        match effect {
            Effect::EndSessions(user) => {
                store
                    .delete_sessions_of(user)
                    .await
                    .map_err(ManageError::Unavailable)?;
            }
            Effect::RefreshCaches => {
                if let Some(state) = node {
                    crate::watch::refresh(state, None).await;
                }
            }
        }
    }
    Ok(changed.value)
}
