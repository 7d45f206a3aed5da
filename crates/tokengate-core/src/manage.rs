//! Managing users, tokens and settings: the rules every front end (CLI, REST, web UI) shares.
//! Each operation takes the acting identity, checks what it may do, and hands the change and
//! its audit record to the store together.
//!
//! Admin operations take an [`AdminChange`], made from the [`AdminIdentity`] that authorised
//! them; the audit actor is that identity, never a separate argument. Only the server's
//! authentication layer makes identities of admin users; the local operator's identity
//! (`AdminIdentity::local_operator`) exists only with the `local-operator` feature, which only
//! the `tokengate` binary enables.

use crate::groups::Permission;
use crate::model::{
    Actor, AuditAction, NewAudit, Origin, Settings, TokenRecord, User, is_valid_token_name,
};
use crate::password::PasswordError;
use crate::restrictions::Restrictions;
use crate::store::{Store, StoreError};
use crate::token::{RandomError, TokenSecret, new_token_id};
use crate::validity::{ValidityError, ValidityRequest, resolve_expiry};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

mod effects;
mod groups;
mod identity;
mod restrict;
mod users;

pub use effects::{Changed, Effect};
pub use groups::{
    change_members, check_local_groups_exist, create_group, delete_group, deprovision, list_groups,
    provision, set_local_groups,
};
pub use identity::{AdminChange, AdminIdentity, refuse_self_lockout};
pub use restrict::{MAX_GRACE, check_maker, restrict_token, revoke_before, rotate_token};
pub use users::{
    NewUser, UserUpdate, create_user, create_user_with, is_valid_display_name, reset_failed_logins,
    set_own_email, update_user,
};

#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error("invalid token name: use 1 to 100 printable characters")]
    InvalidTokenName,
    #[error("invalid user name: use 1 to 128 of A-Z a-z 0-9 . _ @ -")]
    InvalidUserName,
    #[error("invalid display name: use 1 to 200 printable characters")]
    InvalidDisplayName,
    #[error("invalid e-mail address: use name@domain, at most 254 characters")]
    InvalidEmail,
    #[error("{0}")]
    InvalidGroup(String),
    #[error("invalid restrictions: {0}")]
    InvalidRestrictions(String),
    #[error("{0}")]
    NotAllowed(String),
    #[error("{0}")]
    TokenExceedsCaller(String),
    #[error("invalid grace: use a duration from 0 to 7 days, such as 30s, 10m, 24h or 7d")]
    InvalidGrace,
    #[error("the time is in the future: tokens created before a time up to now are revoked")]
    BeforeInFuture,
    #[error("{0}")]
    DirectoryManaged(String),
    #[error(transparent)]
    Validity(#[from] ValidityError),
    #[error("API tokens are restricted to administrators")]
    TokensNotPermitted,
    #[error("user \"{0}\" is disabled")]
    UserDisabled(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(
        "you cannot remove your own admin rights or disable yourself; ask another administrator"
    )]
    WouldLockOutCaller,
    #[error("the store is unavailable")]
    Unavailable(#[source] StoreError),
    #[error("the operating system's random number generator failed")]
    Random,
}

impl ManageError {
    /// Stable error code for REST bodies and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidTokenName => "invalid_name",
            Self::InvalidUserName => "invalid_user_name",
            Self::InvalidDisplayName => "invalid_display_name",
            Self::InvalidEmail => "invalid_email",
            Self::InvalidGroup(_) => "invalid_group",
            Self::InvalidRestrictions(_) => "invalid_restrictions",
            Self::NotAllowed(_) => "forbidden",
            Self::TokenExceedsCaller(_) => "token_exceeds_caller",
            Self::InvalidGrace => "invalid_grace",
            Self::BeforeInFuture => "before_in_future",
            Self::DirectoryManaged(_) => "directory_managed",
            Self::Validity(ValidityError::ExceedsMaximum { .. }) => "validity_exceeds_maximum",
            Self::Validity(ValidityError::InPast) => "expiry_in_past",
            Self::Validity(ValidityError::Invalid(_)) => "invalid_validity",
            Self::TokensNotPermitted => "tokens_not_permitted",
            Self::UserDisabled(_) => "user_disabled",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::WouldLockOutCaller => "would_lock_out_caller",
            Self::Password(_) => "invalid_password",
            Self::Unavailable(_) | Self::Random => "unavailable",
        }
    }
}

impl From<StoreError> for ManageError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => Self::NotFound(what),
            StoreError::Conflict(what) => Self::Conflict(what),
            other => Self::Unavailable(other),
        }
    }
}

impl From<RandomError> for ManageError {
    fn from(_: RandomError) -> Self {
        Self::Random
    }
}

/// The context every change carries: who, from where, when.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    pub actor: &'a Actor,
    pub origin: &'a Origin,
    pub now: DateTime<Utc>,
}

impl Change<'_> {
    /// The instant of the change at the store's precision (milliseconds), so what an operation
    /// returns equals what is read back later.
    pub fn at(&self) -> DateTime<Utc> {
        truncate_to_millis(self.now)
    }

    fn audit(&self, action: AuditAction) -> NewAudit {
        NewAudit::new(self.at(), self.actor, action, self.origin)
    }
}

/// Drops sub-millisecond precision (stored times are milliseconds).
pub fn truncate_to_millis(instant: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(instant.timestamp_millis()).unwrap_or(instant)
}

/// A new token: its record and the secret, shown once.
#[derive(Debug)]
pub struct CreatedToken {
    pub record: TokenRecord,
    pub secret: TokenSecret,
}

/// A token to create: its name, validity and restrictions, and the token that authenticated
/// the request that asks for it, if one did (then the new token may not outgrow it).
#[derive(Debug, Clone, Copy)]
pub struct NewToken<'a> {
    pub name: &'a str,
    pub validity: Option<ValidityRequest>,
    pub restrictions: &'a Restrictions,
    pub maker: Option<&'a TokenRecord>,
}

impl<'a> NewToken<'a> {
    /// A token without restrictions, asked for by a password, session or the CLI.
    pub fn plain(name: &'a str, validity: Option<ValidityRequest>) -> Self {
        static NONE: std::sync::LazyLock<Restrictions> =
            std::sync::LazyLock::new(Restrictions::default);
        Self {
            name,
            validity,
            restrictions: &NONE,
            maker: None,
        }
    }
}

/// Creates a token for `owner` under the settings (admins-only, permissions, maximum
/// validity). The owner must hold `use_tokens`; creating one's own token also needs
/// `create_own_tokens`. Whether the actor may create for someone else is the caller's
/// check ([`may_create_for_others`]).
pub async fn create_token(
    store: &dyn Store,
    change: &Change<'_>,
    owner: &User,
    new: &NewToken<'_>,
    settings: &Settings,
) -> Result<CreatedToken, ManageError> {
    let NewToken {
        name,
        validity,
        restrictions,
        maker,
    } = *new;
    if !is_valid_token_name(name) {
        return Err(ManageError::InvalidTokenName);
    }
    restrictions
        .validate()
        .map_err(ManageError::InvalidRestrictions)?;
    let own = *change.actor == Actor::User(owner.name.clone());
    check_issue(settings, owner, own)?;
    let mut expires_at = resolve_expiry(validity, settings.max_validity, change.at())?;
    if let Some(maker) = maker {
        if validity.is_none()
            && let Some(limit) = maker.expires_at
            && expires_at.is_none_or(|expiry| expiry > limit)
        {
            // No validity asked for: the default, shortened to the maker's own expiry.
            expires_at = Some(limit);
        }
        check_maker(maker, &owner.name, restrictions, expires_at)?;
    }
    let secret = TokenSecret::generate()?;
    let record = TokenRecord {
        restrictions: restrictions.clone(),
        id: new_token_id()?,
        owner: owner.name.clone(),
        name: name.to_owned(),
        digest: secret.digest(),
        hint: secret.hint(),
        created_at: change.at(),
        created_by: change.actor.name().to_owned(),
        expires_at,
        last_used_at: None,
        last_used_ip: None,
        made_by: maker.map(|maker| maker.id.clone()),
        rotated_at: None,
        rotated_from: None,
    };
    let audit = change
        .audit(AuditAction::TokenCreated)
        .user(&owner.name)
        .token(&record.id)
        .details(created_details(&record));
    if !store.create_token(&record, &audit).await? {
        return Err(ManageError::TokenExceedsCaller(
            "the calling token was deleted".into(),
        ));
    }
    Ok(CreatedToken { record, secret })
}

/// Whether `owner` may be given a new secret, by themselves (`own`) or by someone else whom
/// the caller has already let do so ([`check_creator`]): the rule creating a token and
/// rotating one share, since both issue a secret. The owner must be enabled and hold
/// `use_tokens`; their own token also needs `create_own_tokens`.
fn check_issue(settings: &Settings, owner: &User, own: bool) -> Result<(), ManageError> {
    if owner.disabled {
        return Err(ManageError::UserDisabled(owner.name.clone()));
    }
    if !settings.permits_tokens(owner) || (own && !may_create_own(settings, owner)) {
        return Err(ManageError::TokensNotPermitted);
    }
    Ok(())
}

/// The details of a `token.created` record: name, expiry, hint, any restrictions, and the
/// maker when a token made it.
fn created_details(record: &TokenRecord) -> Value {
    let mut details =
        json!({"name": record.name, "expires_at": record.expires_at, "hint": record.hint});
    if !record.restrictions.is_unrestricted() {
        details["restrictions"] = json!(record.restrictions);
    }
    if let Some(maker) = &record.made_by {
        details["made_by"] = json!(maker);
    }
    details
}

/// Who acts on a token, and so whose tokens they may touch: a user their own (the change's
/// actor is the owner), an admin anyone's (the admin is the actor).
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    Own(&'a Change<'a>),
    Admin(&'a AdminChange<'a>),
}

impl<'a> Scope<'a> {
    /// The change, its actor the identity that authorised it.
    fn change(&self) -> Change<'a> {
        match self {
            Self::Own(change) => (*change).clone(),
            Self::Admin(admin) => admin.as_change(),
        }
    }
}

async fn token_in_scope(
    store: &dyn Store,
    id: &str,
    scope: Scope<'_>,
) -> Result<TokenRecord, ManageError> {
    let token = store
        .token(id)
        .await?
        .ok_or(ManageError::NotFound("token"))?;
    match scope {
        Scope::Own(change) if *change.actor != Actor::User(token.owner.clone()) => {
            Err(ManageError::NotFound("token"))
        }
        _ => Ok(token),
    }
}

pub async fn rename_token(
    store: &dyn Store,
    scope: Scope<'_>,
    id: &str,
    name: &str,
) -> Result<TokenRecord, ManageError> {
    if !is_valid_token_name(name) {
        return Err(ManageError::InvalidTokenName);
    }
    let token = token_in_scope(store, id, scope).await?;
    let audit = scope
        .change()
        .audit(AuditAction::TokenRenamed)
        .user(&token.owner)
        .token(&token.id)
        .details(json!({"old": token.name, "new": name}));
    if !store.rename_token(id, name, &audit).await? {
        return Err(ManageError::NotFound("token"));
    }
    Ok(TokenRecord {
        name: name.to_owned(),
        ..token
    })
}

/// A deleted token, and the ids of the tokens deleted with it because it made them.
#[derive(Debug, Clone)]
pub struct DeletedToken {
    pub record: TokenRecord,
    pub also_deleted: Vec<String>,
}

/// Deletes a token and, in the same transaction, every token made by it, transitively (SPEC
/// §11: a token made by a token cannot outlive its maker's revocation). Audited
/// `token.deleted`, whose details name those others in `also_deleted`.
pub async fn delete_token(
    store: &dyn Store,
    scope: Scope<'_>,
    id: &str,
) -> Result<Changed<DeletedToken>, ManageError> {
    let token = token_in_scope(store, id, scope).await?;
    let audit = scope
        .change()
        .audit(AuditAction::TokenDeleted)
        .user(&token.owner)
        .token(&token.id)
        .details(json!({"name": token.name, "hint": token.hint}));
    let Some(also_deleted) = store.delete_token(id, &audit).await? else {
        return Err(ManageError::NotFound("token"));
    };
    Ok(Changed::refreshing(DeletedToken {
        record: token,
        also_deleted,
    }))
}

/// Deletes every token of `owner`; returns how many there were.
pub async fn delete_all_tokens(
    store: &dyn Store,
    change: &Change<'_>,
    owner: &str,
) -> Result<Changed<u64>, ManageError> {
    let audit = change.audit(AuditAction::TokenDeletedAll).user(owner);
    let count = store.delete_tokens_of(owner, &audit).await?;
    Ok(Changed::refreshing(count))
}

/// Saves new settings; the audit record lists each changed key with its old and new value.
/// Returns `false` (and writes nothing) when nothing changed.
pub async fn change_settings(
    store: &dyn Store,
    change: &AdminChange<'_>,
    new: &Settings,
) -> Result<Changed<bool>, ManageError> {
    let old = store.settings().await?;
    let (Value::Object(old_map), Value::Object(new_map)) = (
        serde_json::to_value(&old).unwrap_or_default(),
        serde_json::to_value(new).unwrap_or_default(),
    ) else {
        return Err(ManageError::Unavailable(StoreError::Corrupt(
            "settings do not serialise".into(),
        )));
    };
    let mut changed = Map::new();
    for (key, new_value) in &new_map {
        let old_value = old_map.get(key).cloned().unwrap_or(Value::Null);
        if old_value != *new_value {
            changed.insert(key.clone(), json!({"old": old_value, "new": new_value}));
        }
    }
    if changed.is_empty() {
        return Ok(Changed::quiet(false));
    }
    let audit = change
        .audit(AuditAction::SettingsChanged)
        .details(Value::Object(changed));
    store.save_settings(new, &audit).await?;
    Ok(Changed::refreshing(true))
}

/// Whether `user` may create their own tokens: `use_tokens` and `create_own_tokens` (what the
/// UI shows the create form for).
pub fn may_create_own(settings: &Settings, user: &User) -> bool {
    settings.permits_tokens(user) && settings.grants(user, Permission::CreateOwnTokens)
}

/// Whether `actor` may create tokens on behalf of other users: admins, and holders of
/// `create_tokens_for_others` (a team lead, a service desk).
pub fn may_create_for_others(settings: &Settings, actor: &User) -> bool {
    !actor.disabled && settings.grants(actor, Permission::CreateTokensForOthers)
}

/// Whether `actor` may create a token for `owner`: themselves under `create_own_tokens`, an
/// admin for anyone, a holder of `create_tokens_for_others` for anyone but an admin (a token of
/// an admin's would let them act as that admin).
pub fn check_creator(settings: &Settings, actor: &User, owner: &User) -> Result<(), ManageError> {
    if actor.name == owner.name || (actor.admin && !actor.disabled) {
        return Ok(());
    }
    if !may_create_for_others(settings, actor) {
        return Err(ManageError::NotAllowed(
            "creating tokens for other users is for administrators and holders of create_tokens_for_others".into(),
        ));
    }
    if owner.admin {
        return Err(ManageError::NotAllowed(
            "only administrators may create tokens for an administrator".into(),
        ));
    }
    Ok(())
}

/// Tokens that exceed the current maximum validity (never expire, or expire after the longest
/// validity a token created now could have).
pub async fn count_tokens_over_maximum(
    store: &dyn Store,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<u64, ManageError> {
    match settings.max_validity.expiry_from(truncate_to_millis(now)) {
        None => Ok(0),
        Some(latest) => Ok(store.count_tokens_expiring_after(latest).await?),
    }
}

/// Clamps every token that exceeds the current maximum to expire at the longest validity a
/// token created now could have. Audited as `token.expiry_clamped` with the count.
pub async fn clamp_tokens_to_maximum(
    store: &dyn Store,
    change: &AdminChange<'_>,
    settings: &Settings,
) -> Result<Changed<u64>, ManageError> {
    let Some(latest) = settings.max_validity.expiry_from(change.at()) else {
        return Ok(Changed::quiet(0));
    };
    let audit = change
        .audit(AuditAction::TokenExpiryClamped)
        .details(json!({"max_validity": settings.max_validity, "expires_at": latest}));
    let count = store.clamp_token_expiry(latest, &audit).await?;
    Ok(Changed::refreshing(count))
}
