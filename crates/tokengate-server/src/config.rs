//! Configuration (SPEC §5): one typed struct; defaults, then the TOML file, then `TOKENGATE_`
//! environment variables (nested keys with `__`). Unknown keys are refused with their name.

mod checks;
pub mod ldap;
pub mod notify;
pub mod oidc;
pub mod routes;
pub mod syslog;
pub mod values;

use checks::{check_database_url, check_public_url, check_upstream, one_line, shorten};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use ipnet::IpNet;
use ldap::LdapConfig;
use notify::{NotificationsConfig, SmtpConfig, WebhookConfig};
use oidc::OidcConfig;
use routes::{RouteConfig, check_routes};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tokengate_core::decision::{Anonymous, DEFAULT_TOKEN_USER_NAMES, GatePolicy};
use tokengate_core::lockout::LockoutPolicy;
use values::HeaderNameValue;

/// The whole configuration of a tokengate node.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address and port the gateway listens on.
    #[serde(with = "values::address")]
    pub listen: SocketAddr,
    /// Address and port of the Prometheus listener (`GET /metrics`); "" = no metrics listener.
    /// Never the public port: decision counts by reason are for operators only.
    #[serde(with = "values::optional_address")]
    pub metrics_listen: Option<SocketAddr>,
    /// The address users reach tokengate at (`https://tokens.example.com`), if known: with an
    /// `https://` URL every cookie is `Secure`. "" = unknown.
    pub public_url: String,
    /// `sqlite://FILE` (default, created if missing) or `postgres://user:pw@host/db`.
    pub database_url: String,
    /// Connections this node's database pool holds at most. With PostgreSQL, the server's
    /// `max_connections` must cover every node's pool plus one listener connection per node.
    pub database_max_connections: u32,
    /// Threads accepting and serving connections, each with its own event loop (0 = one per
    /// CPU).
    pub workers: usize,
    /// One line per request on stderr: `text`, `json` or `off`.
    pub access_log: AccessLog,
    pub gateway: GatewayConfig,
    /// Upstreams by host and path prefix (SPEC §9), beside the `[gateway] upstream` shorthand.
    pub routes: Vec<RouteConfig>,
    /// The first admin's password on an empty database (`TOKENGATE_ADMIN_PASSWORD`); without
    /// it a random one is printed once. Never written out.
    #[serde(skip_serializing)]
    pub admin_password: Option<tokengate_core::Secret>,
    pub security: SecurityConfig,
    pub tls: TlsConfig,
    /// A directory whose users sign in with their directory password (SPEC §10); none by
    /// default.
    pub ldap: Option<LdapConfig>,
    /// Sign-in with an OpenID Connect provider (SPEC §10); needs `public_url`.
    pub oidc: Option<OidcConfig>,
    /// The mail server for notices (SPEC §12); without it no e-mail is sent.
    pub smtp: Option<SmtpConfig>,
    /// Receivers of signed webhook events (SPEC §12).
    pub webhooks: Vec<WebhookConfig>,
    /// How the outbox of notices is worked.
    pub notifications: NotificationsConfig,
    /// The audit log: how long records are kept, where new ones are forwarded.
    pub audit: AuditConfig,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Records older than this many days are deleted (an `audit.pruned` record keeps the
    /// chain verifiable); 0 = keep every record.
    pub retention_days: u32,
    /// The syslog receiver new records are forwarded to (RFC 5424): `tcp://host:port` or
    /// `udp://host:port`; "" = none.
    #[serde(with = "syslog::optional")]
    pub syslog: Option<syslog::SyslogTarget>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// The protected API (`http://host:port`). Without it: forward-auth, whoami, UI and API only.
    pub upstream: Option<String>,
    /// Path prefixes forwarded without authentication.
    pub public_paths: Vec<String>,
    /// `deny` (default): requests without credentials get 401; `allow`: forwarded without identity.
    pub anonymous: Anonymous,
    /// CIDR ranges of proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Which headers carry the original method and URI to `/tokengate/auth` (read only from
    /// `trusted_proxies`): `x-forwarded` (`X-Forwarded-Method`/`-Uri`) or `x-original`.
    pub forward_auth_headers: ForwardAuthHeaders,
    /// Header carrying the authenticated user to the upstream.
    pub identity_header: HeaderNameValue,
    /// Header carrying how the user authenticated (`token`, `password` or `session`).
    pub via_header: HeaderNameValue,
    /// Header carrying the user's groups, comma-separated (absent when none).
    pub groups_header: HeaderNameValue,
    /// Header carrying the user's e-mail address (absent when unknown).
    pub email_header: HeaderNameValue,
    /// Forward the client's `Authorization` header to the upstream.
    pub forward_authorization: bool,
    /// Basic user names that stand for the owner of the token sent as the password.
    pub token_user_names: Vec<String>,
    /// Seconds to wait for the upstream's response headers before answering 504.
    pub upstream_timeout_seconds: u64,
}

/// Written by hand: the database URL may carry a password, which `Debug` never shows.
impl std::fmt::Debug for Config {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Config")
            .field("listen", &self.listen)
            .field("metrics_listen", &self.metrics_listen)
            .field("public_url", &self.public_url)
            .field(
                "database_url",
                &checks::without_password(&self.database_url),
            )
            .field("database_max_connections", &self.database_max_connections)
            .field("workers", &self.workers)
            .field("access_log", &self.access_log)
            .field("gateway", &self.gateway)
            .field("routes", &self.routes)
            .field("admin_password", &self.admin_password)
            .field("security", &self.security)
            .field("tls", &self.tls)
            .field("ldap", &self.ldap)
            .field("oidc", &self.oidc)
            .field("smtp", &self.smtp)
            .field("webhooks", &self.webhooks)
            .field("notifications", &self.notifications)
            .field("audit", &self.audit)
            .finish()
    }
}

/// The access log's form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessLog {
    #[default]
    Text,
    Json,
    Off,
}

/// The header family a forward-auth proxy sends the original request in (SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ForwardAuthHeaders {
    /// `X-Forwarded-Method` and `X-Forwarded-Uri` (Traefik, Caddy, the nginx recipe).
    #[default]
    #[serde(rename = "x-forwarded")]
    XForwarded,
    /// `X-Original-Method` and `X-Original-URI` (older nginx recipes).
    #[serde(rename = "x-original")]
    XOriginal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Failed logins that lock password authentication.
    pub max_failed_logins: u32,
    /// Minutes a lock lasts; 0 = until an admin resets it.
    pub lockout_minutes: u32,
    /// Failed attempts per client address and minute before answering 429.
    pub failures_per_minute: u32,
    /// Absolute lifetime of a web UI session.
    pub session_hours: u32,
    /// A web UI session ends after this many minutes without a request.
    pub session_idle_minutes: u32,
    /// Password checks (argon2) that may run at once; 0 = the number of CPUs.
    pub password_concurrency: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain; with `key`, tokengate serves HTTPS.
    pub cert: String,
    /// PEM private key.
    pub key: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8700)),
            metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 8701))),
            public_url: String::new(),
            database_url: "sqlite://tokengate.db".into(),
            database_max_connections: 10,
            workers: 0,
            access_log: AccessLog::Text,
            gateway: GatewayConfig::default(),
            routes: Vec::new(),
            admin_password: None,
            security: SecurityConfig::default(),
            tls: TlsConfig::default(),
            ldap: None,
            oidc: None,
            smtp: None,
            webhooks: Vec::new(),
            notifications: NotificationsConfig::default(),
            audit: AuditConfig::default(),
        }
    }
}

impl GatewayConfig {
    /// The identity header names, as the gateway sets and scrubs them.
    pub fn identity_headers(&self) -> crate::gateway::headers::IdentityHeaders {
        crate::gateway::headers::IdentityHeaders {
            user: self.identity_header.header().clone(),
            via: self.via_header.header().clone(),
            groups: self.groups_header.header().clone(),
            email: self.email_header.header().clone(),
        }
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            upstream: None,
            public_paths: Vec::new(),
            anonymous: Anonymous::Deny,
            trusted_proxies: Vec::new(),
            forward_auth_headers: ForwardAuthHeaders::XForwarded,
            identity_header: HeaderNameValue::from_static("x-authenticated-user"),
            via_header: HeaderNameValue::from_static("x-authenticated-via"),
            groups_header: HeaderNameValue::from_static("x-authenticated-groups"),
            email_header: HeaderNameValue::from_static("x-authenticated-email"),
            forward_authorization: false,
            token_user_names: DEFAULT_TOKEN_USER_NAMES.map(str::to_owned).to_vec(),
            upstream_timeout_seconds: 30,
        }
    }
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            max_failed_logins: 5,
            lockout_minutes: 15,
            failures_per_minute: 60,
            session_hours: 12,
            session_idle_minutes: 60,
            password_concurrency: 0,
        }
    }
}

impl TlsConfig {
    pub fn enabled(&self) -> bool {
        !self.cert.is_empty() || !self.key.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Top-level keys the environment may set; other `TOKENGATE_*` variables are not
/// configuration keys.
const ENV_KEYS: &[&str] = &[
    "listen",
    "metrics_listen",
    "public_url",
    "database_url",
    "database_max_connections",
    "workers",
    "access_log",
    "admin_password",
    "gateway__",
    "security__",
    "tls__",
    "ldap__",
    "oidc__",
    "smtp__",
    "notifications__",
    "audit__",
];

impl Config {
    /// Loads `file` (or `./tokengate.toml` when present) over the defaults, then the environment,
    /// and checks every value (see [`Config::validate`]). Reads nothing but the configuration
    /// (and the secret files it names) and writes nothing.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) if !path.exists() => return Err(ConfigError::MissingFile(path.to_owned())),
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new("tokengate.toml").exists() => {
                figment = figment.merge(Toml::file_exact("tokengate.toml"))
            }
            None => {}
        }
        let env = Env::prefixed("TOKENGATE_")
            .filter(|key| {
                let key = key.as_str().to_ascii_lowercase();
                ENV_KEYS
                    .iter()
                    .any(|known| key == *known || (known.ends_with("__") && key.starts_with(known)))
            })
            .split("__");
        let mut config: Config = figment
            .merge(env)
            .extract()
            .map_err(|error| ConfigError::Invalid(one_line(&error)))?;
        if let Some(ldap) = &mut config.ldap {
            ldap.read_password_file().map_err(ConfigError::Invalid)?;
        }
        if let Some(oidc) = &mut config.oidc {
            oidc.read_secret_file().map_err(ConfigError::Invalid)?;
        }
        if let Some(smtp) = &mut config.smtp {
            smtp.read_password_file().map_err(ConfigError::Invalid)?;
        }
        for (index, webhook) in config.webhooks.iter_mut().enumerate() {
            let key = format!("webhooks[{index}].secret");
            notify::secret_or_file(&key, &mut webhook.secret, &webhook.secret_file)
                .map_err(ConfigError::Invalid)?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Every check that needs more than the values' types (addresses and header names are
    /// checked as they load): URLs, limits.
    /// Each message starts with the key it is about.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| Err(ConfigError::Invalid(message));
        if let Err(problem) = check_public_url(&self.public_url) {
            return invalid(format!("public_url: {problem}"));
        }
        if let Err(problem) = check_database_url(&self.database_url) {
            return invalid(format!("database_url: {problem}"));
        }
        if let Some(upstream) = &self.gateway.upstream
            && let Err(problem) = check_upstream(upstream)
        {
            return invalid(format!("gateway.upstream: {problem}"));
        }
        check_routes(&self.routes, self.gateway.upstream.is_some())
            .map_err(ConfigError::Invalid)?;
        if self.tls.enabled() && (self.tls.cert.is_empty() || self.tls.key.is_empty()) {
            return invalid("tls: both tls.cert and tls.key are needed".into());
        }
        if self.database_max_connections == 0 {
            return invalid("database_max_connections must be at least 1".into());
        }
        if self.security.max_failed_logins == 0 {
            return invalid("security.max_failed_logins must be at least 1".into());
        }
        if let Some(ldap) = &self.ldap {
            ldap.validate().map_err(ConfigError::Invalid)?;
        }
        if let Some(oidc) = &self.oidc {
            oidc.check(&self.public_url).map_err(ConfigError::Invalid)?;
        }
        if let Some(smtp) = &self.smtp {
            smtp.check().map_err(ConfigError::Invalid)?;
        }
        notify::check_webhooks(&self.webhooks).map_err(ConfigError::Invalid)?;
        self.notifications.check().map_err(ConfigError::Invalid)?;
        Ok(())
    }

    /// Serving threads: `workers`, or one per CPU when 0.
    pub fn worker_count(&self) -> usize {
        match self.workers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            count => count,
        }
    }

    /// Whether `public_url` says users reach tokengate over HTTPS.
    pub fn public_url_is_https(&self) -> bool {
        self.public_url
            .get(..8)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    }

    /// The part of the configuration the SPEC §2 decision depends on.
    pub fn gate_policy(&self) -> GatePolicy {
        GatePolicy {
            trusted_proxies: self.gateway.trusted_proxies.clone(),
            anonymous: self.gateway.anonymous,
            lockout: LockoutPolicy {
                max_failed_logins: self.security.max_failed_logins,
                lockout_minutes: self.security.lockout_minutes,
            },
            token_user_names: self.gateway.token_user_names.clone(),
        }
    }
}

#[cfg(test)]
mod tests;
