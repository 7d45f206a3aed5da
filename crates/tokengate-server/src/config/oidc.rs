//! `[oidc]`: signing in to the web UI with an OpenID Connect provider (authorization code flow
//! with PKCE). The client secret is read from `client_secret_file` when the configuration loads
//! and is never written out or printed.

use super::checks::shorten;
use serde::{Deserialize, Serialize};
use tokengate_core::Secret;
use tokengate_core::secret::redacted;

/// Where the provider sends the browser back to, below `public_url`.
pub const CALLBACK_PATH: &str = "/tokengate/oidc/callback";

/// The `[oidc]` section.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcConfig {
    /// The provider's issuer URL (`https://sso.example.com/realms/main`); its discovery document
    /// is `{issuer}/.well-known/openid-configuration`. `http://` only on loopback.
    pub issuer: String,
    /// The client id tokengate is registered under at the provider.
    pub client_id: String,
    /// The client secret, for tests and environment variables; prefer `client_secret_file`.
    #[serde(skip_serializing)]
    pub client_secret: Option<Secret>,
    /// A file holding the client secret (one line), read when the configuration loads.
    pub client_secret_file: String,
    /// Scopes asked for; `openid` is required.
    pub scopes: Vec<String>,
    /// The claim that holds the tokengate user name.
    pub username_claim: String,
    /// The claim that holds the user's groups (an array of strings).
    pub groups_claim: String,
    /// Members of this group are admins; "" = no admin comes from the provider.
    pub admin_group: String,
    /// Whether the sign-in page still offers the password form; false hides it.
    pub password_login: bool,
    /// The provider's name on the sign-in button: "Sign in with {label}".
    pub label: String,
    /// PEM file of the certificates the provider's HTTPS is checked against; "" = the
    /// system's roots.
    pub ca_file: String,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            client_id: String::new(),
            client_secret: None,
            client_secret_file: String::new(),
            scopes: ["openid", "profile", "email", "groups"]
                .map(str::to_owned)
                .to_vec(),
            username_claim: "preferred_username".to_owned(),
            groups_claim: "groups".to_owned(),
            admin_group: String::new(),
            password_login: true,
            label: "single sign-on".to_owned(),
            ca_file: String::new(),
        }
    }
}

/// Written by hand: whether there is a client secret, never what it is.
impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &redacted(self.client_secret.as_ref()))
            .field("client_secret_file", &self.client_secret_file)
            .field("scopes", &self.scopes)
            .field("username_claim", &self.username_claim)
            .field("groups_claim", &self.groups_claim)
            .field("admin_group", &self.admin_group)
            .field("password_login", &self.password_login)
            .field("label", &self.label)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl OidcConfig {
    /// The sign-in button's text.
    pub fn button_text(&self) -> String {
        format!("Sign in with {}", self.label)
    }

    /// The redirect URI registered at the provider: `{public_url}/tokengate/oidc/callback`.
    pub fn redirect_uri(public_url: &str) -> String {
        format!("{}{CALLBACK_PATH}", public_url.trim_end_matches('/'))
    }

    /// Reads `client_secret_file` into `client_secret` (the first line, without its line end).
    /// The message names the key and the file, never the content.
    pub(super) fn read_secret_file(&mut self) -> Result<(), String> {
        super::notify::secret_or_file(
            "oidc.client_secret",
            &mut self.client_secret,
            &self.client_secret_file,
        )
    }

    /// Every check of `[oidc]`; the message starts with the key it is about.
    pub(super) fn check(&self, public_url: &str) -> Result<(), String> {
        if public_url.is_empty() {
            return Err(format!(
                "public_url: needed with [oidc]: the provider sends users back to {{public_url}}{CALLBACK_PATH}"
            ));
        }
        check_issuer(&self.issuer).map_err(|problem| format!("oidc.issuer: {problem}"))?;
        if self.client_id.trim().is_empty() {
            return Err("oidc.client_id: must not be empty".into());
        }
        if self.client_secret.as_ref().is_none_or(Secret::is_empty) {
            return Err(
                "oidc.client_secret_file: no client secret (set client_secret_file or client_secret)"
                    .into(),
            );
        }
        if !self.scopes.iter().any(|scope| scope == "openid") {
            return Err("oidc.scopes: must include \"openid\"".into());
        }
        if let Some(scope) = self.scopes.iter().find(|scope| !is_scope_token(scope)) {
            return Err(format!(
                "oidc.scopes: \"{}\" is not a scope name",
                shorten(scope)
            ));
        }
        for (key, claim) in [
            ("username_claim", &self.username_claim),
            ("groups_claim", &self.groups_claim),
        ] {
            if claim.trim().is_empty() {
                return Err(format!("oidc.{key}: must not be empty"));
            }
        }
        let label = self.label.trim();
        if label.is_empty() || label.chars().count() > 64 || label.chars().any(char::is_control) {
            return Err("oidc.label: 1 to 64 characters, no control characters".into());
        }
        Ok(())
    }
}

/// A scope is one or more printable ASCII characters other than space, `"` and `\` (RFC 6749).
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope.bytes().all(|byte| {
            byte == b'!' || (b'#'..=b'[').contains(&byte) || (b']'..=b'~').contains(&byte)
        })
}

/// `https://host[:port][/path]`; `http://` only for a loopback host; no query or fragment
/// (the discovery document's URL is built from it).
fn check_issuer(issuer: &str) -> Result<(), String> {
    let example = "is not a URL like https://sso.example.com/realms/main";
    let uri = issuer
        .parse::<http::Uri>()
        .map_err(|_| format!("\"{}\" {example}", shorten(issuer)))?;
    let host = uri.host().unwrap_or_default();
    let scheme = uri.scheme_str().unwrap_or_default().to_ascii_lowercase();
    if host.is_empty() || !["http", "https"].contains(&scheme.as_str()) {
        return Err(format!("\"{}\" {example}", shorten(issuer)));
    }
    if scheme == "http" && !is_loopback(host) {
        return Err("must be https:// (http:// only for a provider on this machine)".into());
    }
    if uri.query().is_some() || issuer.contains('#') {
        return Err("a query or fragment is not allowed in the issuer URL".into());
    }
    Ok(())
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::result_large_err)] // figment's Jail closures return its (large) error type
    use crate::config::Config;
    use figment::Jail;
    use std::path::Path;

    const BASE: &str = "public_url = \"https://tokens.example.com/\"\n[oidc]\nissuer = \"https://sso.example.com/realms/main\"\nclient_id = \"tokengate\"\n";

    #[test]
    fn an_oidc_section_loads_with_its_defaults_and_the_secret_read_from_its_file() {
        Jail::expect_with(|jail| {
            jail.create_file("oidc-secret", "s3cr3t-from-file\n")?;
            jail.create_file(
                "tokengate.toml",
                &format!("{BASE}client_secret_file = \"oidc-secret\"\n"),
            )?;
            let config = Config::load(None).expect("loads");
            let oidc = config.oidc.expect("an [oidc] section");
            assert_eq!(
                oidc.client_secret.as_ref().map(|secret| secret.expose()),
                Some("s3cr3t-from-file")
            );
            assert_eq!(oidc.scopes, ["openid", "profile", "email", "groups"]);
            assert_eq!(oidc.username_claim, "preferred_username");
            assert_eq!(oidc.groups_claim, "groups");
            assert_eq!(oidc.admin_group, "");
            assert!(oidc.password_login);
            assert_eq!(oidc.button_text(), "Sign in with single sign-on");
            assert_eq!(
                super::OidcConfig::redirect_uri(&config.public_url),
                "https://tokens.example.com/tokengate/oidc/callback"
            );
            Ok(())
        });
    }

    #[test]
    fn a_configuration_without_an_oidc_section_has_no_oidc_and_the_environment_can_add_one() {
        Jail::expect_with(|jail| {
            assert_eq!(Config::load(None).expect("defaults").oidc, None);
            jail.set_env("TOKENGATE_PUBLIC_URL", "http://127.0.0.1:8700");
            jail.set_env("TOKENGATE_OIDC__ISSUER", "http://127.0.0.1:5556");
            jail.set_env("TOKENGATE_OIDC__CLIENT_ID", "tokengate");
            jail.set_env("TOKENGATE_OIDC__CLIENT_SECRET", "from-the-environment");
            jail.set_env("TOKENGATE_OIDC__LABEL", "Keycloak");
            jail.set_env("TOKENGATE_OIDC__PASSWORD_LOGIN", "false");
            let oidc = Config::load(None).expect("loads").oidc.expect("oidc");
            assert_eq!(oidc.issuer, "http://127.0.0.1:5556");
            assert_eq!(oidc.button_text(), "Sign in with Keycloak");
            assert!(!oidc.password_login);
            Ok(())
        });
    }

    #[test]
    fn the_client_secret_is_never_printed_or_written_out() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "tokengate.toml",
                &format!("{BASE}client_secret = \"hunter2-oidc\"\n"),
            )?;
            let config = Config::load(None).expect("loads");
            let printed = format!("{config:?} {:?} {config:#?}", config.oidc);
            assert!(!printed.contains("hunter2"), "{printed}");
            assert!(
                printed.contains("client_secret: Some(<redacted>)"),
                "{printed}"
            );
            let written = serde_json::to_string(&config).expect("json");
            assert!(!written.contains("hunter2"), "{written}");
            Ok(())
        });
    }

    #[test]
    fn bad_oidc_settings_are_refused_in_one_line_naming_the_key() {
        let secret = "client_secret = \"x\"\n";
        let cases = [
            (
                "public_url",
                format!(
                    "[oidc]\nissuer = \"https://sso.example.com\"\nclient_id = \"t\"\n{secret}"
                ),
            ),
            (
                "oidc.issuer",
                format!("{BASE}{secret}").replace("https://sso", "http://sso"),
            ),
            (
                "oidc.issuer",
                format!("{BASE}{secret}").replace("/realms/main", "/realms/main?x=1"),
            ),
            (
                "oidc.issuer",
                format!("{BASE}{secret}")
                    .replace("https://sso.example.com/realms/main", "sso.example.com"),
            ),
            (
                "oidc.issuer",
                format!("{BASE}{secret}").replace("https://sso.example.com/realms/main", ""),
            ),
            (
                "oidc.client_id",
                format!("{BASE}{secret}").replace("\"tokengate\"", "\" \""),
            ),
            ("oidc.client_secret_file", BASE.to_owned()),
            (
                "oidc.client_secret_file",
                format!("{BASE}client_secret = \"\"\n"),
            ),
            (
                "oidc.client_secret_file",
                format!("{BASE}{secret}client_secret_file = \"oidc-secret\"\n"),
            ),
            (
                "oidc.client_secret_file",
                format!("{BASE}client_secret_file = \"absent-file\"\n"),
            ),
            (
                "oidc.scopes",
                format!("{BASE}{secret}scopes = [\"profile\"]\n"),
            ),
            (
                "oidc.scopes",
                format!("{BASE}{secret}scopes = [\"openid\", \"a b\"]\n"),
            ),
            ("oidc.label", format!("{BASE}{secret}label = \"  \"\n")),
            (
                "oidc.username_claim",
                format!("{BASE}{secret}username_claim = \"\"\n"),
            ),
            (
                "oidc.clientid",
                format!("{BASE}{secret}clientid = \"typo\"\n"),
            ),
        ];
        Jail::expect_with(|jail| {
            jail.create_file("oidc-secret", "from-file\n")?;
            for (key, text) in &cases {
                jail.create_file("custom.toml", text)?;
                let error = Config::load(Some(Path::new("custom.toml"))).expect_err(text);
                let message = error.to_string();
                assert!(message.contains(key), "{key}: {message}");
                assert!(!message.contains('\n'), "{message}");
                assert!(!message.contains("from-file"), "{message}");
            }
            Ok(())
        });
    }

    #[test]
    fn a_provider_on_loopback_may_use_plain_http() {
        for issuer in [
            "http://127.0.0.1:5556",
            "http://localhost:8080/realms/x",
            "http://[::1]:9000",
        ] {
            assert_eq!(super::check_issuer(issuer), Ok(()), "{issuer}");
        }
        for issuer in [
            "http://127.0.0.1.example.com",
            "http://10.0.0.1",
            "ftp://127.0.0.1",
        ] {
            assert!(super::check_issuer(issuer).is_err(), "{issuer}");
        }
    }
}
