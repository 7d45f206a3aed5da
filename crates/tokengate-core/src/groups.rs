//! Groups and the three permissions that name them (SPEC §1, §10): where a user comes from,
//! which groups they are in, and whether the settings grant them `use_tokens`,
//! `create_own_tokens` or `create_tokens_for_others`.

use crate::model::{Settings, User};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// `[A-Za-z0-9._@ -]{1,128}`, not only spaces. Directory groups whose names do not fit are
/// ignored (they could not be named in the permissions anyway).
pub fn is_valid_group_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && !name.trim().is_empty()
        && name.bytes().all(|byte| {
            byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'@' | b'-' | b' ')
        })
}

/// E-mail addresses as tokengate accepts them: `local@domain`, at most 254 characters, no
/// spaces or control characters. Deliverability is the mail server's business.
pub fn is_valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Where a user comes from: made in tokengate, or provisioned from a directory.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserSource {
    #[default]
    Local,
    Ldap,
    Oidc,
}

impl UserSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Ldap => "ldap",
            Self::Oidc => "oidc",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Local, Self::Ldap, Self::Oidc]
            .into_iter()
            .find(|source| source.as_str() == text)
    }
}

impl fmt::Display for UserSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A local group: managed in tokengate (CLI, REST, UI). Directory groups are not stored as
/// groups; they are read with each user (`User::directory_groups`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    /// Member user names, sorted.
    pub members: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// A group as listed: local (changeable) or read from a directory (read-only).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupView {
    pub name: String,
    /// `local`, or the directory it comes from: `ldap`, `oidc` (`directory` when both).
    pub source: String,
    /// Member user names, sorted.
    pub members: Vec<String>,
}

impl From<Group> for GroupView {
    fn from(group: Group) -> Self {
        Self {
            name: group.name,
            source: "local".into(),
            members: group.members,
        }
    }
}

/// One of the three permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    UseTokens,
    CreateOwnTokens,
    CreateTokensForOthers,
}

/// The groups holding a permission: group names, or `"*"` for every user. Sorted, no
/// duplicates; every name valid.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = Vec<String>, example = json!(["api-users"])))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct GroupList(Vec<String>);

pub const EVERYONE: &str = "*";

impl GroupList {
    pub fn everyone() -> Self {
        Self(vec![EVERYONE.to_owned()])
    }

    /// Checks every entry; the error names the first bad one.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        let mut names = Vec::with_capacity(entries.len());
        for entry in entries {
            let entry = entry.as_ref().trim();
            if entry != EVERYONE && !is_valid_group_name(entry) {
                return Err(format!(
                    "\"{}\" is not a group name (1 to 128 of A-Z a-z 0-9 . _ @ - and space) or \"*\"",
                    entry.escape_debug()
                ));
            }
            names.push(entry.to_owned());
        }
        names.sort();
        names.dedup();
        Ok(Self(names))
    }

    pub fn names(&self) -> &[String] {
        &self.0
    }

    /// Whether a member of `groups` is named by this list.
    pub fn admits(&self, groups: &[String]) -> bool {
        self.0
            .iter()
            .any(|name| name == EVERYONE || groups.contains(name))
    }
}

impl<'de> Deserialize<'de> for GroupList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = Vec::<String>::deserialize(deserializer)?;
        Self::parse(&entries).map_err(serde::de::Error::custom)
    }
}

/// Which groups hold each permission. Admins hold all three regardless.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    pub use_tokens: GroupList,
    pub create_own_tokens: GroupList,
    pub create_tokens_for_others: GroupList,
}

impl Default for Permissions {
    fn default() -> Self {
        Self {
            use_tokens: GroupList::everyone(),
            create_own_tokens: GroupList::everyone(),
            create_tokens_for_others: GroupList::default(),
        }
    }
}

impl Permissions {
    pub fn list(&self, permission: Permission) -> &GroupList {
        match permission {
            Permission::UseTokens => &self.use_tokens,
            Permission::CreateOwnTokens => &self.create_own_tokens,
            Permission::CreateTokensForOthers => &self.create_tokens_for_others,
        }
    }

    /// Every group name the permissions mention (not `"*"`).
    pub fn group_names(&self) -> impl Iterator<Item = &str> {
        [
            &self.use_tokens,
            &self.create_own_tokens,
            &self.create_tokens_for_others,
        ]
        .into_iter()
        .flat_map(|list| list.names().iter().map(String::as_str))
        .filter(|name| *name != EVERYONE)
    }
}

impl Settings {
    /// Whether `user` holds `permission` under these settings: admins hold every permission;
    /// with `admins_only` on nobody else holds any; otherwise the permission's groups decide.
    pub fn grants(&self, user: &User, permission: Permission) -> bool {
        if user.admin {
            return true;
        }
        !self.admins_only && self.permissions.list(permission).admits(&user.groups)
    }

    /// Whether `user`'s tokens may be used (SPEC §2 step 4).
    pub fn permits_tokens(&self, user: &User) -> bool {
        self.grants(user, Permission::UseTokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member_of(groups: &[&str], admin: bool) -> User {
        User {
            admin,
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            ..User::named("u")
        }
    }

    fn limited_to(group: &str) -> Settings {
        let list = GroupList::parse(&[group]).expect("valid");
        Settings {
            permissions: Permissions {
                use_tokens: list.clone(),
                create_own_tokens: list.clone(),
                create_tokens_for_others: list,
            },
            ..Settings::default()
        }
    }

    #[test]
    fn group_names_follow_the_pattern_and_spaces_are_allowed() {
        for good in ["devs", "Domain Users", "a.b_c@d-e", &"g".repeat(128)] {
            assert!(is_valid_group_name(good), "{good}");
        }
        for bad in ["", "   ", "a,b", "R&D", "ümlaut", &"g".repeat(129), "tab\t"] {
            assert!(!is_valid_group_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_group_list_names_its_first_bad_entry_and_sorts_the_rest() {
        let error = GroupList::parse(&["devs", "a,b", "x"]).expect_err("bad entry");
        assert!(error.contains("a,b"), "{error}");
        let list = GroupList::parse(&["ops", "devs", "ops"]).expect("valid");
        assert_eq!(list.names(), ["devs", "ops"]);
    }

    #[test]
    fn the_default_lets_every_user_use_and_create_tokens_but_not_for_others() {
        let settings = Settings::default();
        let user = member_of(&[], false);
        assert!(settings.grants(&user, Permission::UseTokens));
        assert!(settings.grants(&user, Permission::CreateOwnTokens));
        assert!(!settings.grants(&user, Permission::CreateTokensForOthers));
    }

    #[test]
    fn a_member_holds_what_its_group_is_granted_and_others_do_not() {
        let settings = limited_to("api-users");
        assert!(settings.permits_tokens(&member_of(&["api-users"], false)));
        assert!(!settings.permits_tokens(&member_of(&["devs"], false)));
        assert!(!settings.permits_tokens(&member_of(&[], false)));
    }

    #[test]
    fn admins_hold_every_permission_and_admins_only_wins_over_groups() {
        let mut settings = limited_to("api-users");
        assert!(settings.grants(&member_of(&[], true), Permission::CreateTokensForOthers));
        settings.admins_only = true;
        assert!(!settings.permits_tokens(&member_of(&["api-users"], false)));
        assert!(settings.permits_tokens(&member_of(&[], true)));
    }

    #[test]
    fn e_mail_addresses_need_one_at_and_no_spaces() {
        assert!(is_valid_email("alice@example.com"));
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "a b@c",
            "a@b@c",
            "a@b\n",
        ] {
            assert!(!is_valid_email(bad), "{bad:?}");
        }
    }
}
