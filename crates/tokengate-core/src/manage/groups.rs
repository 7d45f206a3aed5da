//! Local groups (create, delete, change members, set a user's groups) and users provisioned
//! from a directory (LDAP, OIDC): the rules every front end shares. Directory groups are
//! read-only here: only a sign-in or a sync changes them.

use super::{AdminChange, Change, Changed, ManageError};
use crate::groups::{Group, GroupView, UserSource, is_valid_email, is_valid_group_name};
use crate::model::{AuditAction, User, is_valid_user_name};
use crate::store::{DirectoryProfile, Store, StoreError};
use serde_json::json;
use std::collections::BTreeMap;

fn check_group_name(name: &str) -> Result<(), ManageError> {
    if is_valid_group_name(name) {
        Ok(())
    } else {
        Err(ManageError::InvalidGroup(format!(
            "\"{}\" is not a group name: use 1 to 128 of A-Z a-z 0-9 . _ @ - and space",
            name.escape_debug()
        )))
    }
}

fn check_user_names(names: &[String]) -> Result<(), ManageError> {
    match names.iter().find(|name| !is_valid_user_name(name)) {
        Some(_) => Err(ManageError::InvalidUserName),
        None => Ok(()),
    }
}

/// A store error about a missing group or member, as the caller's mistake.
fn missing(error: StoreError) -> ManageError {
    match error {
        StoreError::NotFound("user") => ManageError::NotFound("user"),
        other => other.into(),
    }
}

pub async fn create_group(
    store: &dyn Store,
    change: &AdminChange<'_>,
    name: &str,
    members: &[String],
) -> Result<Changed<Group>, ManageError> {
    check_group_name(name)?;
    check_user_names(members)?;
    let mut members = members.to_vec();
    members.sort();
    members.dedup();
    let group = Group {
        name: name.to_owned(),
        members,
        created_at: change.at(),
    };
    let audit = change
        .audit(AuditAction::GroupCreated)
        .details(json!({"group": name, "members": group.members}));
    store.create_group(&group, &audit).await.map_err(missing)?;
    Ok(Changed::refreshing(group))
}

pub async fn delete_group(
    store: &dyn Store,
    change: &AdminChange<'_>,
    name: &str,
) -> Result<Changed<()>, ManageError> {
    let audit = change
        .audit(AuditAction::GroupDeleted)
        .details(json!({"group": name}));
    if !store.delete_group(name, &audit).await? {
        return Err(ManageError::NotFound("group"));
    }
    Ok(Changed::refreshing(()))
}

/// Adds and removes members in one change (`group.changed`).
pub async fn change_members(
    store: &dyn Store,
    change: &AdminChange<'_>,
    name: &str,
    add: &[String],
    remove: &[String],
) -> Result<Changed<Group>, ManageError> {
    check_user_names(add)?;
    check_user_names(remove)?;
    let audit = change
        .audit(AuditAction::GroupChanged)
        .details(json!({"group": name, "added": add, "removed": remove}));
    let group = store
        .change_members(name, add, remove, &audit)
        .await
        .map_err(missing)?;
    Ok(Changed::refreshing(group))
}

/// Every group: local groups and the groups directories reported for their users.
pub async fn list_groups(store: &dyn Store) -> Result<Vec<GroupView>, ManageError> {
    let mut views: BTreeMap<String, GroupView> = store
        .groups()
        .await?
        .into_iter()
        .map(|group| (group.name.clone(), GroupView::from(group)))
        .collect();
    for user in store.users().await? {
        for name in &user.directory_groups {
            let view = views.entry(name.clone()).or_insert_with(|| GroupView {
                name: name.clone(),
                source: user.source.as_str().to_owned(),
                members: Vec::new(),
            });
            if view.source == "local" {
                // A local group of the same name: the directory's members count too.
                view.members.push(user.name.clone());
                continue;
            }
            if view.source != user.source.as_str() {
                view.source = "directory".into();
            }
            view.members.push(user.name.clone());
        }
    }
    let mut views: Vec<GroupView> = views.into_values().collect();
    for view in &mut views {
        view.members.sort();
        view.members.dedup();
    }
    Ok(views)
}

/// Makes `user` a member of exactly the local groups `groups` (`user.updated`). Every group
/// must exist; nothing changes otherwise.
pub async fn set_local_groups(
    store: &dyn Store,
    change: &AdminChange<'_>,
    user: &str,
    groups: &[String],
) -> Result<Changed<User>, ManageError> {
    for group in groups {
        check_group_name(group)?;
    }
    let mut groups = groups.to_vec();
    groups.sort();
    groups.dedup();
    check_local_groups_exist(store, &groups).await?;
    let audit = change
        .audit(AuditAction::UserUpdated)
        .user(user)
        .details(json!({"groups": groups}));
    let user = store.set_local_groups(user, &groups, &audit).await?;
    Ok(Changed::refreshing(user))
}

/// Fails with a message naming the first group that is not a local group.
pub async fn check_local_groups_exist(
    store: &dyn Store,
    groups: &[String],
) -> Result<(), ManageError> {
    for group in groups {
        if store.group(group).await?.is_none() {
            return Err(ManageError::InvalidGroup(format!(
                "there is no local group named \"{group}\" (directory groups cannot be assigned)"
            )));
        }
    }
    Ok(())
}

/// What a directory said about a user at sign-in or sync: creates the user when new
/// (`user.provisioned`), otherwise refreshes display name, e-mail, admin flag and directory
/// groups and ends a deprovisioning, writing `user.updated` only when something changed. A local user of the same
/// name is never taken over ([`ManageError::Conflict`]).
pub async fn provision(
    store: &dyn Store,
    change: &Change<'_>,
    profile: &DirectoryProfile,
) -> Result<Changed<User>, ManageError> {
    let profile = clean_profile(profile)?;
    let Some(existing) = store.user(&profile.name).await? else {
        let user = User {
            display_name: profile.display_name.clone(),
            email: profile.email.clone(),
            source: profile.source,
            groups: profile.groups.clone(),
            directory_groups: profile.groups.clone(),
            admin: profile.admin,
            ..User::named(&profile.name)
        };
        let audit = change
            .audit(AuditAction::UserProvisioned)
            .user(&profile.name)
            .details(
                json!({"source": profile.source, "admin": profile.admin, "groups": profile.groups}),
            );
        store.create_user(&user, &audit).await?;
        return Ok(Changed::refreshing(user));
    };
    if existing.source == UserSource::Local {
        return Err(ManageError::Conflict("local user"));
    }
    let audit = change
        .audit(AuditAction::UserUpdated)
        .user(&profile.name)
        .details(json!({"source": profile.source, "admin": profile.admin, "groups": profile.groups, "email": profile.email}));
    let (user, changed) = store.refresh_directory_user(&profile, &audit).await?;
    Ok(if changed {
        Changed::refreshing(user)
    } else {
        Changed::quiet(user)
    })
}

/// Disables a directory user the directory no longer has (`user.deprovisioned`). Local users
/// and users already disabled are left alone.
pub async fn deprovision(
    store: &dyn Store,
    change: &Change<'_>,
    name: &str,
) -> Result<Changed<bool>, ManageError> {
    let audit = change.audit(AuditAction::UserDeprovisioned).user(name);
    if store.deprovision_user(name, &audit).await? {
        let mut changed = Changed::refreshing(true);
        changed
            .effects
            .insert(0, super::Effect::EndSessions(name.to_owned()));
        return Ok(changed);
    }
    Ok(Changed::quiet(false))
}

/// The profile as tokengate stores it: valid names only, groups sorted, a bad e-mail dropped.
fn clean_profile(profile: &DirectoryProfile) -> Result<DirectoryProfile, ManageError> {
    if !is_valid_user_name(&profile.name) {
        return Err(ManageError::InvalidUserName);
    }
    let mut groups: Vec<String> = profile
        .groups
        .iter()
        .filter(|group| is_valid_group_name(group))
        .cloned()
        .collect();
    groups.sort();
    groups.dedup();
    let display_name = if super::is_valid_display_name(&profile.display_name) {
        profile.display_name.clone()
    } else {
        profile.name.clone()
    };
    Ok(DirectoryProfile {
        display_name,
        email: profile.email.clone().filter(|email| is_valid_email(email)),
        groups,
        ..profile.clone()
    })
}
