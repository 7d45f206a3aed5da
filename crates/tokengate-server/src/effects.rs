//! Applies the effects core returns with a change (`tokengate_core::manage::UserEffect`), in
//! one place for the REST API, the web UI and the CLI. Decides nothing: which effects a change
//! has is core's rule. Sessions are read from the store on every request, so ending them here
//! takes effect at once on every node, also when the CLI made the change.

use tokengate_core::User;
use tokengate_core::manage::{self, AdminChange, ManageError, UserEffect, UserUpdate};
use tokengate_core::store::Store;

/// Carries out `effects`. A failure is reported (the change itself is already stored and
/// audited; repeating the request repeats the effects).
pub async fn apply_user_effects(
    store: &dyn Store,
    effects: &[UserEffect],
) -> Result<(), ManageError> {
    for effect in effects {
        match effect {
            UserEffect::EndSessions(user) => {
                store
                    .delete_sessions_of(user)
                    .await
                    .map_err(ManageError::Unavailable)?;
            }
        }
    }
    Ok(())
}

/// [`manage::update_user`] with its effects applied: the way every front end changes a user.
pub async fn update_user(
    store: &dyn Store,
    change: &AdminChange<'_>,
    name: &str,
    update: UserUpdate<'_>,
) -> Result<User, ManageError> {
    let updated = manage::update_user(store, change, name, update).await?;
    apply_user_effects(store, &updated.effects).await?;
    Ok(updated.user)
}
