//! The state one gateway instance shares between requests: configuration, the store, the
//! in-memory settings and caches, the password pool, the failure throttle, metrics.

use crate::access_log::AccessLogger;
use crate::auth_events::AuthEventLog;
use crate::cache::AuthCache;
use crate::config::Config;
use crate::directory::Ldap;
use crate::directory::oidc::Oidc;
use crate::gateway::headers::IdentityHeaders;
use crate::gateway::upstream::RouteTable;
use crate::metrics::Metrics;
use crate::passwords::PasswordPool;
use crate::sockets::Sockets;
use crate::throttle::FailureThrottle;
use crate::usage::UsageRecorder;
use crate::usage_counts::UsageCounts;
use std::sync::{Arc, RwLock};
use tokengate_core::decision::GatePolicy;
use tokengate_core::model::Settings;
use tokengate_core::store::Store;

pub type SharedState = Arc<AppState>;

pub struct AppState {
    pub config: Config,
    pub policy: GatePolicy,
    pub store: Arc<dyn Store>,
    settings: RwLock<Arc<Settings>>,
    pub cache: AuthCache,
    pub passwords: PasswordPool,
    pub throttle: Arc<FailureThrottle>,
    pub usage: UsageRecorder,
    /// Requests per token or user, address, via, route and day (SPEC §13).
    pub usage_counts: UsageCounts,
    /// Opt-in authentication events waiting to be written (SPEC §13).
    pub auth_events: AuthEventLog,
    pub metrics: Arc<Metrics>,
    /// Where proxied requests go (SPEC §9).
    pub routes: RouteTable,
    /// `None` when `access_log = "off"`.
    pub access_log: Option<AccessLogger>,
    /// Open WebSockets, checked again while they last.
    pub sockets: Arc<Sockets>,
    pub identity_headers: IdentityHeaders,
    /// The LDAP directory that checks passwords of directory users (`[ldap]`).
    pub ldap: Option<Arc<Ldap>>,
    /// The OpenID Connect provider of the web UI's single sign-on (`[oidc]`).
    pub oidc: Option<Arc<Oidc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("gateway.upstream: {0}")]
    Upstream(String),
    #[error("cannot start the password hashing threads: {0}")]
    Threads(#[from] std::io::Error),
    #[error("{0}")]
    Directory(String),
}

impl AppState {
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        settings: Settings,
    ) -> Result<Self, StateError> {
        let metrics = Arc::new(Metrics::new());
        let throttle = Arc::new(FailureThrottle::new(config.security.failures_per_minute));
        let routes = RouteTable::from_config(&config, &metrics).map_err(StateError::Upstream)?;
        let ldap = match &config.ldap {
            Some(ldap) => {
                Some(Arc::new(Ldap::new(ldap).map_err(|error| {
                    StateError::Directory(format!("ldap: {error}"))
                })?))
            }
            None => None,
        };
        let oidc = match &config.oidc {
            Some(oidc) => Some(Arc::new(
                Oidc::new(oidc, &config.public_url).map_err(StateError::Directory)?,
            )),
            None => None,
        };
        Ok(Self {
            ldap,
            oidc,
            policy: config.gate_policy(),
            cache: AuthCache::new(store.clone(), metrics.clone()),
            passwords: PasswordPool::new(config.security.password_concurrency)?,
            identity_headers: config.gateway.identity_headers(),
            settings: RwLock::new(Arc::new(settings)),
            usage: UsageRecorder::default(),
            usage_counts: UsageCounts::default(),
            auth_events: AuthEventLog::default(),
            store,
            throttle,
            metrics,
            routes,
            access_log: AccessLogger::new(config.access_log),
            sockets: Arc::default(),
            config,
        })
    }

    /// The system-wide settings as last read from the store.
    pub fn settings(&self) -> Arc<Settings> {
        match self.settings.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn set_settings(&self, settings: Settings) {
        let settings = Arc::new(settings);
        match self.settings.write() {
            Ok(mut guard) => *guard = settings,
            Err(poisoned) => *poisoned.into_inner() = settings,
        }
    }

    pub fn tls(&self) -> bool {
        self.config.tls.enabled()
    }
}
