//! What narrows tokens (SPEC §11): changing a token's restrictions, the rule that a token
//! cannot make a token that outgrows it, and the incident button that revokes every token
//! created before a time.

use super::{AdminChange, Changed, CreatedToken, ManageError, Scope, check_issue, token_in_scope};
use crate::model::{AuditAction, Settings, TokenRecord};
use crate::restrictions::Restrictions;
use crate::store::{Rotation, Store};
use crate::token::TokenSecret;
use crate::validity::{MaxValidity, ValidityRequest, resolve_expiry};
use chrono::{DateTime, TimeDelta, Utc};
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

/// Through a token, a token's restrictions change only within the calling token's own, and a
/// token that outlives the calling one can only be narrowed: widening it would be making a
/// token that outlives its maker.
fn check_change_by(
    maker: &TokenRecord,
    token: &TokenRecord,
    restrictions: &Restrictions,
) -> Result<(), ManageError> {
    if !restrictions.within(&maker.restrictions) {
        return Err(ManageError::TokenExceedsCaller(
            "the restrictions must be at least as narrow as the calling token's".into(),
        ));
    }
    let outlives = maker
        .expires_at
        .is_some_and(|limit| token.expires_at.is_none_or(|expiry| expiry > limit));
    if outlives && !restrictions.within(&token.restrictions) {
        return Err(ManageError::TokenExceedsCaller(
            "a token that expires later than the calling token can only be narrowed through it"
                .into(),
        ));
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
    if let Some(maker) = maker {
        check_change_by(maker, &token, restrictions)?;
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

/// The longest grace a rotated token's old secret may have.
pub const MAX_GRACE: TimeDelta = TimeDelta::days(7);

/// Gives a token a new secret (SPEC §11): same id, name and restrictions, a new expiry under
/// the current maximum (as long as the token had since it was last issued a secret, or the
/// default for a token that never expired when the maximum no longer allows that), and the
/// old secret working for `grace` (at most seven days; zero = it stops now). A new secret
/// needs what creating a token needs: the owner's own token `create_own_tokens`, anyone's
/// an admin. Through a token (`maker`), only for its owner, within its restrictions, and the
/// new expiry shortened to the maker's. Audited `token.rotated`.
pub async fn rotate_token(
    store: &dyn Store,
    scope: Scope<'_>,
    id: &str,
    grace: TimeDelta,
    settings: &Settings,
    maker: Option<&TokenRecord>,
) -> Result<Changed<CreatedToken>, ManageError> {
    if grace < TimeDelta::zero() || grace > MAX_GRACE {
        return Err(ManageError::InvalidGrace);
    }
    let token = token_in_scope(store, id, scope).await?;
    let owner = store
        .user(&token.owner)
        .await?
        .ok_or(ManageError::NotFound("token"))?;
    check_issue(settings, &owner, matches!(scope, Scope::Own(_)))?;
    let change = scope.change();
    let now = change.at();
    // The length the token had: measured from its last secret, so rotating again and again
    // keeps it rather than adding the time since creation each time.
    let issued_at = token.rotated_at.unwrap_or(token.created_at);
    let wanted = match token.expires_at {
        Some(expiry) => Some(ValidityRequest::At(now + (expiry - issued_at))),
        None if settings.max_validity == MaxValidity::Never => {
            Some(ValidityRequest::Preset(MaxValidity::Never))
        }
        None => None,
    };
    let mut expires_at = match resolve_expiry(wanted, settings.max_validity, now) {
        Ok(expiry) => expiry,
        // Longer than the maximum allows now: the longest it does.
        Err(_) => settings.max_validity.expiry_from(now),
    };
    if let Some(limit) = maker.and_then(|maker| maker.expires_at)
        && expires_at.is_none_or(|expiry| expiry > limit)
    {
        // Through a token: never later than that token (a token rotating itself keeps its end).
        expires_at = Some(limit);
    }
    if let Some(maker) = maker {
        check_maker(maker, &token.owner, &token.restrictions, expires_at)?;
    }
    let secret = TokenSecret::generate()?;
    let grace_until = (grace > TimeDelta::zero()).then(|| now + grace);
    let rotation = Rotation {
        at: now,
        digest: secret.digest(),
        hint: secret.hint(),
        expires_at,
        grace_until,
    };
    let audit = change
        .audit(AuditAction::TokenRotated)
        .user(&token.owner)
        .token(&token.id)
        .details(json!({"old_hint": token.hint, "hint": rotation.hint,
            "expires_at": expires_at, "old_secret_until": grace_until.unwrap_or(now)}));
    if !store.rotate_token(id, &rotation, &audit).await? {
        return Err(ManageError::NotFound("token"));
    }
    let record = TokenRecord {
        digest: rotation.digest,
        rotated_from: Some(token.hint.clone()),
        hint: rotation.hint,
        expires_at,
        rotated_at: Some(now),
        ..token
    };
    Ok(Changed::refreshing(CreatedToken { record, secret }))
}

/// The incident button (SPEC §11): deletes every token created before `before`, of `owner`
/// or of everyone, and every token made by one of them, in one audited transaction
/// (`token.revoked_before` with the count, and the ids of the tokens made by them in
/// `also_deleted`).
pub async fn revoke_before(
    store: &dyn Store,
    change: &AdminChange<'_>,
    before: DateTime<Utc>,
    owner: Option<&str>,
) -> Result<Changed<u64>, ManageError> {
    // A time ahead of now would also take tokens made after the button was pressed: a slip
    // of the clock or the time zone, never what an incident needs.
    if before > change.at() {
        return Err(ManageError::BeforeInFuture);
    }
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
