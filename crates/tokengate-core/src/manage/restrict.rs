//! What narrows tokens (SPEC §11): changing a token's restrictions, the rule that a token
//! cannot make a token that outgrows it, and the incident button that revokes every token
//! created before a time.

use super::{AdminChange, Changed, ManageError, Scope, token_in_scope};
use crate::model::{AuditAction, TokenRecord};
use crate::restrictions::Restrictions;
use crate::store::Store;
use chrono::{DateTime, Utc};
use serde_json::json;

/// A token made by a token cannot outgrow it (SPEC §11): same owner, restrictions at least as
/// narrow, expiry no later. So a leaked token cannot outlive its revocation.
pub fn check_maker(
    maker: &TokenRecord,
    owner: &str,
    restrictions: &Restrictions,
    expires_at: Option<DateTime<Utc>>,
) -> Result<(), ManageError> {
    let exceeds = |what: &str| Err(ManageError::TokenExceedsCaller(what.to_owned()));
    if maker.owner != owner {
        return exceeds("a token can only create tokens for its own owner");
    }
    if !restrictions.within(&maker.restrictions) {
        return exceeds(
            "the new token's restrictions must be at least as narrow as the calling token's",
        );
    }
    if let Some(limit) = maker.expires_at
        && expires_at.is_none_or(|expiry| expiry > limit)
    {
        return exceeds("the new token may not expire later than the calling token");
    }
    Ok(())
}

/// Replaces a token's restrictions (`token.restricted`, with the old and new ones). Through a
/// token (`maker`), only within that token's own restrictions.
pub async fn restrict_token(
    store: &dyn Store,
    scope: Scope<'_>,
    id: &str,
    restrictions: &Restrictions,
    maker: Option<&TokenRecord>,
) -> Result<Changed<TokenRecord>, ManageError> {
    restrictions
        .validate()
        .map_err(ManageError::InvalidRestrictions)?;
    let token = token_in_scope(store, id, scope).await?;
    if let Some(maker) = maker
        && !restrictions.within(&maker.restrictions)
    {
        return Err(ManageError::TokenExceedsCaller(
            "the restrictions must be at least as narrow as the calling token's".into(),
        ));
    }
    let audit = scope
        .change()
        .audit(AuditAction::TokenRestricted)
        .user(&token.owner)
        .token(&token.id)
        .details(json!({"old": token.restrictions, "new": restrictions}));
    if !store.restrict_token(id, restrictions, &audit).await? {
        return Err(ManageError::NotFound("token"));
    }
    Ok(Changed::refreshing(TokenRecord {
        restrictions: restrictions.clone(),
        ..token
    }))
}

/// The incident button (SPEC §11): deletes every token created before `before`, of `owner`
/// or of everyone, in one audited transaction (`token.revoked_before` with the count).
pub async fn revoke_before(
    store: &dyn Store,
    change: &AdminChange<'_>,
    before: DateTime<Utc>,
    owner: Option<&str>,
) -> Result<Changed<u64>, ManageError> {
    if let Some(owner) = owner {
        store
            .user(owner)
            .await?
            .ok_or(ManageError::NotFound("user"))?;
    }
    let mut audit = change
        .audit(AuditAction::TokenRevokedBefore)
        .details(json!({"before": before}));
    if let Some(owner) = owner {
        audit = audit.user(owner);
    }
    let count = store
        .delete_tokens_created_before(before, owner, &audit)
        .await?;
    Ok(Changed::refreshing(count))
}
