//! The `[ldap]` table: where the directory is, the service account that searches it, which
//! entries are users and which attributes hold their facts. Parsed and checked at load (the
//! password file is read then); the service password is a `Secret`, never written out.

use super::checks::shorten;
use super::values;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokengate_core::Secret;

/// The placeholder in `user_filter` that stands for the (escaped) user name.
pub const USER_PLACEHOLDER: &str = "{user}";

/// A directory whose users sign in with their directory password (LDAP search-then-bind).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LdapConfig {
    /// `ldaps://host[:port]`, or `ldap://host[:port]` with `start_tls = true`. Plain `ldap://`
    /// without StartTLS is accepted only to a loopback address: passwords never cross a
    /// network in clear.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS before anything is sent.
    pub start_tls: bool,
    /// The service account that searches for users and groups ("" = search anonymously).
    pub bind_dn: String,
    /// The service account's password; or `bind_password_file`. Never written out.
    #[serde(skip_serializing)]
    pub bind_password: Option<Secret>,
    /// A file holding the service account's password (read once, at load; a final newline is
    /// dropped).
    pub bind_password_file: String,
    /// Where users are searched (subtree).
    pub user_base: String,
    /// Which entries are users; `{user}` stands for the name signing in.
    pub user_filter: String,
    /// Where groups are searched by member when user entries carry no `memberOf` ("" = only
    /// `memberOf`).
    pub group_base: String,
    /// Members of this group (by its name, the `cn`) are admins ("" = none from the directory).
    pub admin_group: String,
    /// PEM file of the CA that signed the directory's certificate ("" = the system's roots).
    pub ca_file: String,
    /// How often every directory user is read again (`30s`, `10m`, `1h`).
    #[serde(with = "values::duration")]
    pub sync_interval: Duration,
    /// How long connecting, and each request to the directory, may take.
    #[serde(with = "values::duration")]
    pub timeout: Duration,
    /// The attribute holding the user name (`uid`; `sAMAccountName` in Active Directory).
    pub name_attribute: String,
    /// The attribute holding the display name (`cn`, or `displayName`).
    pub display_name_attribute: String,
    /// The attribute holding the e-mail address.
    pub email_attribute: String,
    /// The attribute listing the DNs of the user's groups, when the directory keeps one.
    pub member_of_attribute: String,
}

impl Default for LdapConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            start_tls: false,
            bind_dn: String::new(),
            bind_password: None,
            bind_password_file: String::new(),
            user_base: String::new(),
            user_filter: "(&(objectClass=inetOrgPerson)(uid={user}))".into(),
            group_base: String::new(),
            admin_group: String::new(),
            ca_file: String::new(),
            sync_interval: Duration::from_secs(600),
            timeout: Duration::from_secs(5),
            name_attribute: "uid".into(),
            display_name_attribute: "cn".into(),
            email_attribute: "mail".into(),
            member_of_attribute: "memberOf".into(),
        }
    }
}

impl LdapConfig {
    /// Reads `bind_password_file` into `bind_password`. The message names the key and the
    /// file, never its content.
    pub fn read_password_file(&mut self) -> Result<(), String> {
        if self.bind_password_file.is_empty() {
            return Ok(());
        }
        if self.bind_password.is_some() {
            return Err(
                "ldap.bind_password_file: give either bind_password or bind_password_file".into(),
            );
        }
        let path = &self.bind_password_file;
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("ldap.bind_password_file: cannot read {path}: {error}"))?;
        let password = text.strip_suffix('\n').unwrap_or(&text);
        let password = password.strip_suffix('\r').unwrap_or(password);
        self.bind_password = Some(Secret::new(password));
        Ok(())
    }

    /// Every check of the table; each message starts with the key it is about.
    pub fn validate(&self) -> Result<(), String> {
        check_url(&self.url, self.start_tls).map_err(|problem| format!("ldap.url: {problem}"))?;
        let password_given = self.bind_password.as_ref().is_some_and(|p| !p.is_empty());
        if !self.bind_dn.is_empty() && !password_given {
            return Err(
                "ldap.bind_password: the service account (bind_dn) needs a password \
                        (bind_password or bind_password_file)"
                    .into(),
            );
        }
        if self.bind_dn.is_empty() && password_given {
            return Err("ldap.bind_dn: a bind_password is given but no bind_dn".into());
        }
        if self.user_base.trim().is_empty() {
            return Err("ldap.user_base: missing; where are users searched?".into());
        }
        check_filter(&self.user_filter)
            .map_err(|problem| format!("ldap.user_filter: {problem}"))?;
        let attributes = [
            ("name_attribute", &self.name_attribute),
            ("display_name_attribute", &self.display_name_attribute),
            ("email_attribute", &self.email_attribute),
            ("member_of_attribute", &self.member_of_attribute),
        ];
        for (key, attribute) in attributes {
            if !is_attribute_name(attribute) {
                return Err(format!(
                    "ldap.{key}: \"{}\" is not an attribute name",
                    shorten(attribute)
                ));
            }
        }
        Ok(())
    }
}

/// `ldaps://host[:port]` or `ldap://host[:port]`; plain `ldap://` without StartTLS only to
/// loopback.
fn check_url(url: &str, start_tls: bool) -> Result<(), String> {
    if url.is_empty() {
        return Err("missing; use ldaps://host or ldap://host with start_tls = true".into());
    }
    let like = || {
        format!(
            "\"{}\" is not a URL like ldaps://ldap.example.com",
            shorten(url)
        )
    };
    let uri = url.parse::<http::Uri>().map_err(|_| like())?;
    let scheme = uri.scheme_str().map(str::to_ascii_lowercase);
    let secure = match scheme.as_deref() {
        Some("ldaps") if start_tls => {
            return Err("start_tls is for ldap:// URLs; ldaps:// is TLS from the start".into());
        }
        Some("ldaps") => true,
        Some("ldap") => start_tls,
        Some(other) => {
            return Err(format!(
                "unknown scheme \"{}\"; use ldaps:// or ldap://",
                shorten(other)
            ));
        }
        None => return Err(like()),
    };
    let host = uri
        .host()
        .filter(|host| !host.is_empty())
        .ok_or_else(like)?;
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(format!(
            "\"{}\": give only scheme, host and port; the search base is user_base",
            shorten(url)
        ));
    }
    if !secure && !is_loopback(host) {
        return Err(
            "ldap:// would send passwords in clear; use ldaps:// or start_tls = true \
                    (plain ldap:// is only for a directory on loopback)"
                .into(),
        );
    }
    Ok(())
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

/// A filter the directory client can parse, holding `{user}`.
fn check_filter(filter: &str) -> Result<(), String> {
    if !filter.contains(USER_PLACEHOLDER) {
        return Err(format!(
            "\"{}\" has no {USER_PLACEHOLDER} placeholder for the user name",
            shorten(filter)
        ));
    }
    let parses = |value: &str| ldap3::parse_filter(filter.replace(USER_PLACEHOLDER, value)).is_ok();
    if !filter.starts_with('(') || !parses("x") || !parses("*") {
        return Err(format!(
            "\"{}\" is not an LDAP filter like (uid={USER_PLACEHOLDER})",
            shorten(filter)
        ));
    }
    Ok(())
}

/// An attribute description: letters, digits and `-`, starting with a letter (or an OID).
fn is_attribute_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(first) if first.is_ascii_alphabetic() => {
            bytes.all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
        }
        Some(first) if first.is_ascii_digit() => {
            bytes.all(|byte| byte.is_ascii_digit() || byte == b'.')
        }
        _ => false,
    }
}
