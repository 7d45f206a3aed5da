//! The LDAP directory client: search-then-bind password checks, one user's facts, every user
//! for the sync. The service account only searches; a user's password is only ever sent in a
//! bind as that user's own DN, on a connection of its own. Never writes to the directory, and
//! never logs or returns a password.
//!
//! A user is an entry under `user_base` that `user_filter` admits, whose name attribute is a
//! valid tokengate user name, and that Active Directory does not mark disabled
//! (`userAccountControl` bit 2, ACCOUNTDISABLE): anything else counts as not found, so the
//! sync deprovisions it. More than one entry for a name counts as not found too.

use super::{DirectoryError, DirectoryUser, dn};
use crate::config::ldap::{LdapConfig, USER_PLACEHOLDER};
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry, ldap_escape};
use std::future::Future;
use std::sync::Arc;
use tokengate_core::Secret;
use tokengate_core::model::is_valid_user_name;

/// Bind result codes that mean "not these credentials" (inappropriateAuthentication,
/// invalidCredentials, insufficientAccessRights, unwillingToPerform); any other failure means
/// the directory could not answer.
const REFUSED_BIND_CODES: [u32; 4] = [48, 49, 50, 53];

/// Active Directory's `userAccountControl` flag ACCOUNTDISABLE.
const AD_ACCOUNT_DISABLED: i64 = 0x2;

/// Entries per page when reading every user (Active Directory answers at most 1000).
const PAGE_SIZE: i32 = 500;

/// A client for one LDAP directory. Cheap to share; each call opens its own connections.
#[derive(Debug)]
pub struct Ldap {
    config: LdapConfig,
    /// TLS for `ldaps://` and StartTLS; `None` for plain `ldap://` (loopback only).
    tls: Option<Arc<rustls::ClientConfig>>,
}

/// A connection bound as the service account.
struct Session<'a> {
    client: &'a Ldap,
    handle: ldap3::Ldap,
}

impl Ldap {
    /// A client for `config` (checked again; `ca_file` read now).
    pub fn new(config: &LdapConfig) -> Result<Self, DirectoryError> {
        config.validate().map_err(DirectoryError::Config)?;
        let ldaps = config
            .url
            .get(..8)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("ldaps://"));
        let tls = if ldaps || config.start_tls {
            let ca_file = crate::tls::ca_file(&config.ca_file);
            let tls = crate::tls::client_config(ca_file)
                .map_err(|problem| DirectoryError::Config(format!("ldap.{problem}")))?;
            Some(Arc::new(tls))
        } else {
            None
        };
        Ok(Self {
            config: config.clone(),
            tls,
        })
    }

    /// Search-then-bind: `Ok(Some(user))` for the right password; `Ok(None)` for an unknown
    /// user, a wrong or empty password, or a name that is not a valid user name;
    /// `Err(Unavailable)` when the directory cannot answer. Provision under `user.name`.
    pub async fn authenticate(
        &self,
        name: &str,
        password: &Secret,
    ) -> Result<Option<DirectoryUser>, DirectoryError> {
        // An empty password would make a bind "unauthenticated" (RFC 4513 §5.1.2), which many
        // servers accept: never send one.
        if password.is_empty() || !is_valid_user_name(name) {
            return Ok(None);
        }
        let mut session = self.service_session().await?;
        let user = session.sign_in(name, password).await;
        session.close().await;
        user
    }

    /// One user as the service account sees them; `None` when not found, outside the filter,
    /// disabled in Active Directory, or not a valid user name.
    pub async fn lookup(&self, name: &str) -> Result<Option<DirectoryUser>, DirectoryError> {
        if !is_valid_user_name(name) {
            return Ok(None);
        }
        let mut session = self.service_session().await?;
        let user = match session.find_user(name).await {
            Ok(Some(entry)) => session.describe(&entry).await.map(Some),
            other => other.map(|_| None),
        };
        session.close().await;
        user
    }

    /// Every user the filter admits (`{user}` read as `*`), for the sync. Entries whose name is
    /// not a valid user name, disabled ones, and names held by more than one entry are left
    /// out (and logged). A list the directory cuts short is an error, never a shorter list.
    pub async fn all_users(&self) -> Result<Vec<DirectoryUser>, DirectoryError> {
        let mut session = self.service_session().await?;
        let users = session.all_users().await;
        session.close().await;
        users
    }

    /// Whether `password` binds as `dn`, on a connection of its own.
    async fn password_binds(&self, dn: &str, password: &Secret) -> Result<bool, DirectoryError> {
        let mut handle = self.connect().await?;
        let result = self
            .timed("the user's bind", handle.simple_bind(dn, password.expose()))
            .await;
        let _ = handle.unbind().await;
        match result? {
            result if result.rc == 0 => Ok(true),
            result if REFUSED_BIND_CODES.contains(&result.rc) => Ok(false),
            result => Err(self.unavailable("the user's bind failed", &result.to_string())),
        }
    }

    /// A connection bound as the service account (or anonymous without `bind_dn`).
    async fn service_session(&self) -> Result<Session<'_>, DirectoryError> {
        let mut handle = self.connect().await?;
        if let Some(password) = &self.config.bind_password
            && !self.config.bind_dn.is_empty()
            && !password.is_empty()
        {
            let bind = handle.simple_bind(&self.config.bind_dn, password.expose());
            let result = self.timed("the service account's bind", bind).await?;
            if result.rc != 0 {
                let _ = handle.unbind().await;
                return Err(self.unavailable(
                    "the service account (bind_dn) was refused",
                    &result.to_string(),
                ));
            }
        }
        Ok(Session {
            client: self,
            handle,
        })
    }

    async fn connect(&self) -> Result<ldap3::Ldap, DirectoryError> {
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(self.config.timeout)
            .set_starttls(self.config.start_tls);
        if let Some(tls) = &self.tls {
            settings = settings.set_config(Arc::clone(tls));
        }
        let (connection, handle) = LdapConnAsync::with_settings(settings, &self.config.url)
            .await
            .map_err(|error| self.unavailable("cannot connect", &describe_error(&error)))?;
        ldap3::drive!(connection);
        Ok(handle)
    }

    /// `operation` given at most `timeout`; a failure or a timeout is `Unavailable`.
    async fn timed<T>(
        &self,
        what: &str,
        operation: impl Future<Output = Result<T, LdapError>>,
    ) -> Result<T, DirectoryError> {
        match tokio::time::timeout(self.config.timeout, operation).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(self.unavailable(what, &describe_error(&error))),
            Err(_) => {
                Err(self.unavailable(what, &format!("no answer within {:?}", self.config.timeout)))
            }
        }
    }

    fn unavailable(&self, what: &str, problem: &str) -> DirectoryError {
        DirectoryError::Unavailable(format!("{} ({what}): {problem}", self.config.url))
    }
}

impl Session<'_> {
    /// The one entry `user_filter` admits for `name`; `None` when there is none, several, or
    /// an Active Directory account is disabled.
    async fn find_user(&mut self, name: &str) -> Result<Option<SearchEntry>, DirectoryError> {
        let config = &self.client.config;
        let filter = config
            .user_filter
            .replace(USER_PLACEHOLDER, &ldap_escape(name));
        let search = self.handle.search(
            &config.user_base,
            Scope::Subtree,
            &filter,
            self.client.user_attributes(),
        );
        let result = self.client.timed("the user search", search).await?;
        let (entries, _) = result.success().map_err(|error| {
            self.client
                .unavailable("the user search failed", &describe_error(&error))
        })?;
        let mut entries: Vec<SearchEntry> =
            entries.into_iter().map(SearchEntry::construct).collect();
        if entries.len() > 1 {
            tracing::warn!(
                count = entries.len(),
                "ldap: several directory entries match one user name; refused"
            );
            return Ok(None);
        }
        let name_attribute = &self.client.config.name_attribute;
        Ok(entries
            .pop()
            .filter(|entry| !ad_disabled(entry) && user_name(entry, name_attribute).is_some()))
    }

    /// The user `name` if `password` binds as their entry.
    async fn sign_in(
        &mut self,
        name: &str,
        password: &Secret,
    ) -> Result<Option<DirectoryUser>, DirectoryError> {
        let Some(entry) = self.find_user(name).await? else {
            return Ok(None);
        };
        if !self.client.password_binds(&entry.dn, password).await? {
            return Ok(None);
        }
        self.describe(&entry).await.map(Some)
    }

    async fn all_users(&mut self) -> Result<Vec<DirectoryUser>, DirectoryError> {
        let entries = self.all_user_entries().await?;
        let mut users = Vec::new();
        for entry in unique_by_name(&entries, &self.client.config.name_attribute) {
            users.push(self.describe(entry).await?);
        }
        Ok(users)
    }

    /// Every entry the filter admits, page by page.
    async fn all_user_entries(&mut self) -> Result<Vec<SearchEntry>, DirectoryError> {
        let client = self.client;
        let filter = client.config.user_filter.replace(USER_PLACEHOLDER, "*");
        let adapters: Vec<Box<dyn Adapter<'_, String, Vec<String>>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(PAGE_SIZE)),
        ];
        let search = self.handle.streaming_search_with(
            adapters,
            &client.config.user_base,
            Scope::Subtree,
            &filter,
            client.user_attributes(),
        );
        let mut stream = client.timed("the search for every user", search).await?;
        let mut entries = Vec::new();
        while let Some(entry) = client
            .timed("the search for every user", stream.next())
            .await?
        {
            entries.push(SearchEntry::construct(entry));
        }
        let done = client.timed("the search for every user", async {
            Ok::<_, LdapError>(stream.finish().await)
        });
        done.await?.success().map_err(|error| {
            client.unavailable("the search for every user failed", &describe_error(&error))
        })?;
        Ok(entries
            .into_iter()
            .filter(|entry| !ad_disabled(entry))
            .collect())
    }

    /// The user `entry` describes, with their groups.
    async fn describe(&mut self, entry: &SearchEntry) -> Result<DirectoryUser, DirectoryError> {
        let config = &self.client.config;
        let name = user_name(entry, &config.name_attribute).unwrap_or_default();
        let member_of = values(entry, &config.member_of_attribute);
        let mut groups: Vec<String> = if member_of.is_empty() {
            self.groups_by_member(&entry.dn, &name).await?
        } else {
            member_of
                .iter()
                .filter_map(|dn| dn::first_rdn_value(dn))
                .collect()
        };
        groups.sort();
        groups.dedup();
        let admin = !config.admin_group.is_empty()
            && groups
                .iter()
                .any(|group| group.eq_ignore_ascii_case(&config.admin_group));
        Ok(DirectoryUser {
            display_name: first_value(entry, &config.display_name_attribute)
                .unwrap_or_else(|| name.clone()),
            email: first_value(entry, &config.email_attribute),
            name,
            groups,
            admin,
        })
    }

    /// The names of the groups under `group_base` that list `dn` as `member` or
    /// `uniqueMember`, or `name` as `memberUid`; none without a `group_base`.
    async fn groups_by_member(
        &mut self,
        dn: &str,
        name: &str,
    ) -> Result<Vec<String>, DirectoryError> {
        let client = self.client;
        if client.config.group_base.is_empty() {
            return Ok(Vec::new());
        }
        let (dn, name) = (ldap_escape(dn), ldap_escape(name));
        let filter = format!("(|(member={dn})(uniqueMember={dn})(memberUid={name}))");
        let search = self.handle.search(
            &client.config.group_base,
            Scope::Subtree,
            &filter,
            vec!["cn"],
        );
        let result = client.timed("the group search", search).await?;
        let (entries, _) = result.success().map_err(|error| {
            client.unavailable("the group search failed", &describe_error(&error))
        })?;
        Ok(entries
            .into_iter()
            .map(SearchEntry::construct)
            .filter_map(|group| {
                first_value(&group, "cn").or_else(|| dn::first_rdn_value(&group.dn))
            })
            .collect())
    }

    async fn close(mut self) {
        let _ = self.handle.unbind().await;
    }
}

impl Ldap {
    fn user_attributes(&self) -> Vec<String> {
        let config = &self.config;
        vec![
            config.name_attribute.clone(),
            config.display_name_attribute.clone(),
            config.email_attribute.clone(),
            config.member_of_attribute.clone(),
            "userAccountControl".to_owned(),
        ]
    }
}

/// The entries whose name is a valid user name held by no other entry (compared without
/// regard to case, as the directory compares names when one signs in).
fn unique_by_name<'a>(entries: &'a [SearchEntry], attribute: &str) -> Vec<&'a SearchEntry> {
    let mut named: Vec<(String, &SearchEntry)> = Vec::new();
    for entry in entries {
        match user_name(entry, attribute) {
            Some(name) => named.push((name.to_ascii_lowercase(), entry)),
            None => tracing::warn!(
                dn = %entry.dn,
                "ldap: directory entry without a valid user name left out"
            ),
        }
    }
    named.sort_by(|left, right| left.0.cmp(&right.0));
    let mut unique = Vec::new();
    for (index, (name, entry)) in named.iter().enumerate() {
        let same =
            |other: Option<&(String, &SearchEntry)>| other.is_some_and(|(other, _)| other == name);
        if same(index.checked_sub(1).and_then(|before| named.get(before)))
            || same(named.get(index + 1))
        {
            tracing::warn!(user = %name, "ldap: several directory entries hold one user name; left out");
        } else {
            unique.push(*entry);
        }
    }
    unique
}

/// The entry's user name, when it is a valid tokengate user name.
fn user_name(entry: &SearchEntry, attribute: &str) -> Option<String> {
    first_value(entry, attribute).filter(|name| is_valid_user_name(name))
}

/// The values of `attribute` (matched without regard to case, as LDAP does).
fn values<'a>(entry: &'a SearchEntry, attribute: &str) -> &'a [String] {
    entry
        .attrs
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(attribute))
        .map_or(&[], |(_, values)| values.as_slice())
}

fn first_value(entry: &SearchEntry, attribute: &str) -> Option<String> {
    values(entry, attribute)
        .iter()
        .find(|value| !value.trim().is_empty())
        .cloned()
}

/// Active Directory's ACCOUNTDISABLE flag is set.
fn ad_disabled(entry: &SearchEntry) -> bool {
    first_value(entry, "userAccountControl")
        .and_then(|flags| flags.trim().parse::<i64>().ok())
        .is_some_and(|flags| flags & AD_ACCOUNT_DISABLED != 0)
}

/// An ldap3 error in words, with a hint where the cause is likely a missing CA.
fn describe_error(error: &LdapError) -> String {
    let text = error.to_string();
    if text.contains("certificate") || text.contains("UnknownIssuer") {
        format!("{text} (is ldap.ca_file the CA that signed the directory's certificate?)")
    } else {
        text
    }
}
