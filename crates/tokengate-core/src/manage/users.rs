//! Users made in tokengate: creation and changes (admin flag, disabled, display name,
//! e-mail, password), checked whole before the one write, and the failed-login reset.

use super::{AdminChange, Change, Changed, Effect, ManageError, refuse_self_lockout};
use crate::groups::{UserSource, is_valid_email};
use crate::model::{Actor, AuditAction, User, UserChange, is_valid_token_name, is_valid_user_name};
use crate::password::hash_password;
use crate::secret::Secret;
use crate::store::Store;
use serde_json::{Map, Value, json};

/// A user to create. Every field is checked before anything is stored.
#[derive(Debug, Clone, Copy)]
pub struct NewUser<'a> {
    pub name: &'a str,
    /// `None`: the name.
    pub display_name: Option<&'a str>,
    pub admin: bool,
    /// `None`: the user can only use tokens.
    pub password: Option<&'a Secret>,
    pub email: Option<&'a str>,
}

pub async fn create_user(
    store: &dyn Store,
    change: &AdminChange<'_>,
    name: &str,
    admin: bool,
    password: Option<&Secret>,
) -> Result<User, ManageError> {
    let new_user = NewUser {
        name,
        display_name: None,
        admin,
        password,
        email: None,
    };
    create_user_with(store, change, &new_user).await
}

/// Creates a user, name, display name and password checked whole before the one write (the
/// user and its `user.created` record together).
pub async fn create_user_with(
    store: &dyn Store,
    change: &AdminChange<'_>,
    new_user: &NewUser<'_>,
) -> Result<User, ManageError> {
    let name = new_user.name;
    if !is_valid_user_name(name) {
        return Err(ManageError::InvalidUserName);
    }
    if new_user
        .display_name
        .is_some_and(|display_name| !is_valid_display_name(display_name))
    {
        return Err(ManageError::InvalidDisplayName);
    }
    if new_user.email.is_some_and(|email| !is_valid_email(email)) {
        return Err(ManageError::InvalidEmail);
    }
    let password_hash = new_user.password.map(hash_password).transpose()?;
    let user = User {
        display_name: new_user.display_name.unwrap_or(name).to_owned(),
        email: new_user.email.map(str::to_owned),
        admin: new_user.admin,
        password_hash,
        ..User::named(name)
    };
    let mut details = json!({"admin": new_user.admin});
    if let Some(display_name) = new_user.display_name {
        details["display_name"] = json!(display_name);
    }
    if let Some(email) = new_user.email {
        details["email"] = json!(email);
    }
    let audit = change
        .audit(AuditAction::UserCreated)
        .user(name)
        .details(details);
    store.create_user(&user, &audit).await?;
    Ok(user)
}

/// Changes admin flag, disabled flag, display name or password, all checked before the one
/// write. The audit details name the fields changed (a password change is recorded as
/// `"password": "changed"`, never the value). A new password or disabling ends the user's web
/// sessions ([`Effect::EndSessions`]). An admin's change that would lock themselves out is
/// refused first ([`refuse_self_lockout`]).
pub async fn update_user(
    store: &dyn Store,
    change: &AdminChange<'_>,
    name: &str,
    update: UserUpdate<'_>,
) -> Result<Changed<User>, ManageError> {
    refuse_self_lockout(change.admin(), name, &update)?;
    refuse_directory_fields(store, name, &update).await?;
    if update
        .display_name
        .is_some_and(|display_name| !is_valid_display_name(display_name))
    {
        return Err(ManageError::InvalidDisplayName);
    }
    if let Some(Some(email)) = update.email
        && !is_valid_email(email)
    {
        return Err(ManageError::InvalidEmail);
    }
    let password_hash = update.password.map(hash_password).transpose()?;
    let mut details = Map::new();
    if let Some(email) = update.email {
        details.insert("email".into(), json!(email));
    }
    if let Some(admin) = update.admin {
        details.insert("admin".into(), json!(admin));
    }
    if let Some(disabled) = update.disabled {
        details.insert("disabled".into(), json!(disabled));
    }
    if let Some(display_name) = update.display_name {
        details.insert("display_name".into(), json!(display_name));
    }
    if password_hash.is_some() {
        details.insert("password".into(), json!("changed"));
    }
    let user_change = UserChange {
        display_name: update.display_name.map(str::to_owned),
        email: update.email.map(|email| email.map(str::to_owned)),
        admin: update.admin,
        disabled: update.disabled,
        password_hash,
    };
    let audit = change
        .audit(AuditAction::UserUpdated)
        .user(name)
        .details(Value::Object(details));
    let user = store.update_user(name, &user_change, &audit).await?;
    let mut changed = Changed::refreshing(user);
    if update.ends_sessions() {
        let name = changed.value.name.clone();
        changed.effects.insert(0, Effect::EndSessions(name));
    }
    Ok(changed)
}

/// A user sets their own e-mail address (`None` clears it). The actor of `change` is the user
/// changed; audited `user.updated` like an admin's change. A
/// directory user's address is the directory's: refused ([`ManageError::DirectoryManaged`]).
///
/// Not through a token (`through_token`): the address is where notices about the user's
/// tokens go, and a leaked token must not be able to send them elsewhere (403
/// `token_exceeds_caller`; the password or the web page can).
pub async fn set_own_email(
    store: &dyn Store,
    change: &Change<'_>,
    email: Option<&str>,
    through_token: bool,
) -> Result<Changed<User>, ManageError> {
    let Actor::User(name) = change.actor else {
        return Err(ManageError::NotAllowed(
            "only a user has an e-mail address of their own".into(),
        ));
    };
    local_user(store, name, |source| {
        format!("your e-mail address comes from the {source} directory: change it there")
    })
    .await?;
    if through_token {
        return Err(ManageError::TokenExceedsCaller(
            "a token cannot change where notices about its owner's tokens go: use the \
             password or the web page"
                .into(),
        ));
    }
    if email.is_some_and(|email| !is_valid_email(email)) {
        return Err(ManageError::InvalidEmail);
    }
    let user_change = UserChange {
        email: Some(email.map(str::to_owned)),
        ..UserChange::default()
    };
    let audit = change
        .audit(AuditAction::UserUpdated)
        .user(name)
        .details(json!({"email": email}));
    let user = store.update_user(name, &user_change, &audit).await?;
    Ok(Changed::refreshing(user))
}

/// A directory user's name, e-mail, admin flag and password belong to the directory: the next
/// sign-in or sync would overwrite a change, so it is refused. Disabling and local groups
/// stay tokengate's.
async fn refuse_directory_fields(
    store: &dyn Store,
    name: &str,
    update: &UserUpdate<'_>,
) -> Result<(), ManageError> {
    let directory_fields = update.display_name.is_some()
        || update.email.is_some()
        || update.admin.is_some()
        || update.password.is_some();
    if !directory_fields {
        return Ok(());
    }
    local_user(store, name, |source| {
        format!(
            "\"{name}\" comes from the {source} directory: change the name, e-mail, admin \
             rights and password there"
        )
    })
    .await?;
    Ok(())
}

/// The user named `name` when tokengate owns their profile; a directory user is refused with
/// the message `refusal` makes from their source.
async fn local_user(
    store: &dyn Store,
    name: &str,
    refusal: impl FnOnce(UserSource) -> String,
) -> Result<User, ManageError> {
    let user = store
        .user(name)
        .await?
        .ok_or(ManageError::NotFound("user"))?;
    if user.source != UserSource::Local {
        return Err(ManageError::DirectoryManaged(refusal(user.source)));
    }
    Ok(user)
}

/// Display names: 1 to 200 characters, not only spaces, no control characters (which some
/// databases cannot store).
pub fn is_valid_display_name(display_name: &str) -> bool {
    is_valid_token_name(display_name) || {
        let count = display_name.chars().count();
        (101..=200).contains(&count) && !display_name.chars().any(char::is_control)
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct UserUpdate<'a> {
    pub display_name: Option<&'a str>,
    /// `Some(None)` clears the address.
    pub email: Option<Option<&'a str>>,
    pub admin: Option<bool>,
    pub disabled: Option<bool>,
    pub password: Option<&'a Secret>,
}

impl UserUpdate<'_> {
    /// Whether any field is set.
    pub fn touches_anything(&self) -> bool {
        self.display_name.is_some()
            || self.email.is_some()
            || self.admin.is_some()
            || self.disabled.is_some()
            || self.password.is_some()
    }

    /// SPEC §3: a new password or disabling ends the user's web sessions (a stolen session
    /// must not outlive the password reset meant to shut its thief out).
    pub fn ends_sessions(&self) -> bool {
        self.password.is_some() || self.disabled == Some(true)
    }
}

pub async fn reset_failed_logins(
    store: &dyn Store,
    change: &AdminChange<'_>,
    name: &str,
) -> Result<Changed<()>, ManageError> {
    store
        .user(name)
        .await?
        .ok_or(ManageError::NotFound("user"))?;
    let audit = change.audit(AuditAction::UserFailedLoginsReset).user(name);
    store.reset_failed_logins(name, Some(&audit)).await?;
    Ok(Changed::refreshing(()))
}
