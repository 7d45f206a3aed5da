//! Who may administer tokengate, and the one rule about what an admin may do to their own
//! account.
//!
//! Authorization lives in the types. An [`AdminIdentity`] exists only for an enabled admin user
//! ([`AdminIdentity::for_user`], built by the server's authentication layer) or, with the
//! `local-operator` feature that only the `tokengate` binary enables, for the local operator
//! and for tokengate itself at first start. Every admin operation takes an [`AdminChange`]:
//! the identity that authorised the change together with where and when it was made. The
//! audit actor of the change is read from that identity, so a change cannot be recorded as
//! made by anyone other than who was allowed to make it.

use super::{Change, ManageError, UserUpdate};
use crate::model::{Actor, AuditAction, NewAudit, Origin, User};
use chrono::{DateTime, Utc};

/// An identity allowed to administer tokengate: an enabled admin user, or (binary only) the
/// local operator or tokengate itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminIdentity {
    actor: Actor,
}

impl AdminIdentity {
    /// The local operator: whoever can run the CLI against the database. Audited as `cli`.
    /// Not a user, so the self lock-out rule never refuses it.
    #[cfg(feature = "local-operator")]
    pub fn local_operator() -> Self {
        Self { actor: Actor::Cli }
    }

    /// tokengate itself, creating the first admin on an empty database (SPEC §4). Audited as
    /// `system`.
    #[cfg(feature = "local-operator")]
    pub fn first_start() -> Self {
        Self {
            actor: Actor::System,
        }
    }

    /// The identity of an enabled admin user; `None` for anyone else.
    pub fn for_user(user: &User) -> Option<Self> {
        (user.admin && !user.disabled).then(|| Self {
            actor: Actor::User(user.name.clone()),
        })
    }

    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// A change this identity makes from `origin` at `now`.
    pub fn change<'a>(&'a self, origin: &'a Origin, now: DateTime<Utc>) -> AdminChange<'a> {
        AdminChange {
            admin: self,
            origin,
            now,
        }
    }

    /// Whether this identity is the user named `name`.
    fn is_user(&self, name: &str) -> bool {
        matches!(&self.actor, Actor::User(own) if own == name)
    }
}

/// An admin's change: the identity that authorised it (also its audit actor), from where, when.
#[derive(Debug, Clone, Copy)]
pub struct AdminChange<'a> {
    admin: &'a AdminIdentity,
    origin: &'a Origin,
    now: DateTime<Utc>,
}

impl<'a> AdminChange<'a> {
    pub fn admin(&self) -> &'a AdminIdentity {
        self.admin
    }

    /// The same change as a plain [`Change`], its actor the admin.
    pub fn as_change(&self) -> Change<'a> {
        Change {
            actor: &self.admin.actor,
            origin: self.origin,
            now: self.now,
        }
    }

    /// The instant of the change at the store's precision.
    pub fn at(&self) -> DateTime<Utc> {
        self.as_change().at()
    }

    pub(super) fn audit(&self, action: AuditAction) -> NewAudit {
        self.as_change().audit(action)
    }
}

/// "An admin cannot lock themselves out": an admin may not remove their own admin flag or
/// disable themselves, alone or together with other fields, from any door (REST, web UI).
/// Deleting one's own account falls under the same rule and is refused too, once accounts can
/// be deleted. Another admin may do all of it, and so may the local operator, who is not a
/// user. Making oneself admin again, enabling oneself or changing one's own password or
/// display name is not a lock-out and is allowed.
///
/// Refused with [`ManageError::WouldLockOutCaller`]; nothing is stored.
pub fn refuse_self_lockout(
    admin: &AdminIdentity,
    target: &str,
    update: &UserUpdate<'_>,
) -> Result<(), ManageError> {
    let locks_out = update.admin == Some(false) || update.disabled == Some(true);
    if locks_out && admin.is_user(target) {
        return Err(ManageError::WouldLockOutCaller);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn admin(name: &str) -> AdminIdentity {
        AdminIdentity {
            actor: Actor::User(name.to_owned()),
        }
    }

    fn update(admin: Option<bool>, disabled: Option<bool>) -> UserUpdate<'static> {
        UserUpdate {
            admin,
            disabled,
            ..UserUpdate::default()
        }
    }

    fn refused(result: Result<(), ManageError>) -> bool {
        matches!(result, Err(ManageError::WouldLockOutCaller))
    }

    #[test]
    fn an_admin_cannot_demote_or_disable_themselves_alone_or_together() {
        let alice = admin("alice");
        for (demote, disable) in [
            (Some(false), None),
            (None, Some(true)),
            (Some(false), Some(true)),
            (Some(false), Some(false)),
            (Some(true), Some(true)),
        ] {
            assert!(
                refused(refuse_self_lockout(
                    &alice,
                    "alice",
                    &update(demote, disable)
                )),
                "admin {demote:?} disabled {disable:?}"
            );
        }
    }

    #[test]
    fn a_lock_out_together_with_a_harmless_field_is_still_refused() {
        let password = Secret::new("a new password".to_owned());
        let change = UserUpdate {
            disabled: Some(true),
            display_name: Some("Alice"),
            password: Some(&password),
            ..UserUpdate::default()
        };
        assert!(refused(refuse_self_lockout(
            &admin("alice"),
            "alice",
            &change
        )));
    }

    #[test]
    fn an_admin_may_make_harmless_changes_to_themselves() {
        let alice = admin("alice");
        for harmless in [
            update(Some(true), None),
            update(None, Some(false)),
            update(Some(true), Some(false)),
            UserUpdate::default(),
        ] {
            assert!(refuse_self_lockout(&alice, "alice", &harmless).is_ok());
        }
    }

    #[test]
    fn an_admin_may_demote_and_disable_another_admin() {
        let alice = admin("alice");
        for target in ["bob", "Alice", "alice ", "alic", "alice2", ""] {
            assert!(
                refuse_self_lockout(&alice, target, &update(Some(false), Some(true))).is_ok(),
                "{target:?}"
            );
        }
    }

    #[test]
    fn the_local_operator_and_first_start_are_never_refused() {
        for identity in [
            AdminIdentity { actor: Actor::Cli },
            AdminIdentity {
                actor: Actor::System,
            },
        ] {
            for target in ["cli", "system", "admin"] {
                let both = update(Some(false), Some(true));
                assert!(refuse_self_lockout(&identity, target, &both).is_ok());
            }
        }
    }

    #[test]
    fn the_actor_of_an_admin_change_is_the_identity_that_authorised_it() {
        let alice = admin("alice");
        let origin = Origin::default();
        let change = alice.change(&origin, Utc::now());
        assert_eq!(change.as_change().actor, &Actor::User("alice".into()));
        assert_eq!(change.admin(), &alice);
    }

    #[test]
    fn only_enabled_admins_get_an_identity() {
        let user = |admin, disabled| User {
            name: "alice".into(),
            display_name: "alice".into(),
            email: None,
            source: Default::default(),
            groups: Vec::new(),
            directory_groups: Vec::new(),
            admin,
            disabled,
            password_hash: None,
            failed_logins: 0,
            locked_until: None,
        };
        assert_eq!(
            AdminIdentity::for_user(&user(true, false)),
            Some(admin("alice"))
        );
        assert_eq!(AdminIdentity::for_user(&user(true, true)), None);
        assert_eq!(AdminIdentity::for_user(&user(false, false)), None);
    }
}
