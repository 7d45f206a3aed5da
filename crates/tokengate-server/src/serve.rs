//! Start-up wiring for `tokengate serve`: load the TLS files and bind the listeners (before
//! anything is written, so a configuration error leaves no trace), open the store, create the
//! first admin, build the state, start the background watcher and the metrics listener, accept
//! connections (HTTP or HTTPS) until stopped (`connections`).

mod connections;

use connections::{ServingRuntime, spawn_serving};

use crate::config::Config;
use crate::state::{AppState, SharedState, StateError};
use crate::tls;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokengate_core::Secret;
use tokengate_core::manage::{AdminIdentity, create_user};
use tokengate_core::model::Origin;
use tokengate_core::store::{Store, StoreError};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How long a stop waits for requests in flight (SPEC §8).
const DRAIN: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot open the database: {0}")]
    Store(#[from] tokengate_store::OpenError),
    #[error("cannot read from the database: {0}")]
    Read(#[from] StoreError),
    #[error("cannot create the first admin user: {0}")]
    FirstAdmin(String),
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A TLS file that cannot be used; the message names `tls.cert` or `tls.key`.
    #[error("{0}")]
    Tls(String),
}

impl ServeError {
    /// Whether the configuration is at fault (the CLI exits with status 2 for these).
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            Self::Tls(_) | Self::Config(_) | Self::State(StateError::Upstream(_))
        )
    }
}

/// A gateway accepting connections in the background.
pub struct RunningServer {
    pub address: SocketAddr,
    /// Where `GET /metrics` answers; `None` when `metrics_listen` is "".
    pub metrics_address: Option<SocketAddr>,
    pub state: SharedState,
    stop: watch::Sender<bool>,
    /// Ends when every serving thread has stopped.
    accept: Option<tokio::task::JoinHandle<()>>,
    watcher: Option<tokio::task::JoinHandle<()>>,
    /// Ends after the delivery it is sending, if any (`crate::notify`).
    notifier: Option<tokio::task::JoinHandle<()>>,
    /// Writes authentication events until stopped (`crate::auth_events`).
    auth_events: Option<tokio::task::JoinHandle<()>>,
    /// Ends after the queue of records for syslog is sent or a few seconds (`crate::syslog`).
    forwarder: Option<tokio::task::JoinHandle<()>>,
    metrics: Option<tokio::task::JoinHandle<()>>,
}

impl RunningServer {
    /// Stops accepting, lets the requests in flight finish, then writes the last-use records
    /// and usage counts they noted (the watcher's own last flush may come before they end)
    /// and returns.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
        if let Some(watcher) = self.watcher.take() {
            let _ = watcher.await;
        }
        if let Some(notifier) = self.notifier.take() {
            let _ = notifier.await;
        }
        if let Some(forwarder) = self.forwarder.take() {
            let _ = forwarder.await;
        }
        if let Some(metrics) = self.metrics.take() {
            let _ = metrics.await;
        }
        if let Some(auth_events) = self.auth_events.take() {
            let _ = auth_events.await;
        }
        // Also when the store looked unhealthy: these are audit records; a failure is logged.
        self.state
            .auth_events
            .write(self.state.store.as_ref())
            .await;
        if self.state.cache.store_healthy() {
            self.state.usage.flush(&self.state.store).await;
            let now = chrono::Utc::now();
            self.state
                .usage_counts
                .flush(self.state.store.as_ref(), now)
                .await;
        }
    }
}

impl Drop for RunningServer {
    /// The serving threads outlive the runtime that started them: stop them when the handle
    /// goes without `shutdown`.
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Runs the gateway until Ctrl-C or SIGTERM. `first_start` creates the first admin on an empty
/// database; only the binary can make that identity (`AdminIdentity::first_start`).
pub async fn run(config: Config, first_start: &AdminIdentity) -> Result<(), ServeError> {
    let bound = Bound::new(&config).await?;
    let store = tokengate_store::open_with(&config.database_url, &store_options(&config)).await?;
    ensure_first_admin(store.as_ref(), first_start, config.admin_password.as_ref()).await?;
    let server = bound.start(config, store).await?;
    tracing::info!(address = %server.address, "tokengate is listening");
    eprintln!(
        "tokengate listening on {}://{}",
        if server.state.tls() { "https" } else { "http" },
        server.address
    );
    if let Some(metrics) = server.metrics_address {
        eprintln!("metrics on http://{metrics}/metrics");
    }
    shutdown_signal().await;
    server.shutdown().await;
    Ok(())
}

/// The pool the configuration asks for.
pub fn store_options(config: &Config) -> tokengate_store::OpenOptions {
    tokengate_store::OpenOptions {
        max_connections: config.database_max_connections,
        ..tokengate_store::OpenOptions::default()
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// SPEC §4 first start: on an empty database, create `admin` with `admin_password` (the
/// configuration's, from `TOKENGATE_ADMIN_PASSWORD`) or a random password printed once to
/// stderr. Audited as made by `first_start`.
pub async fn ensure_first_admin(
    store: &dyn Store,
    first_start: &AdminIdentity,
    admin_password: Option<&Secret>,
) -> Result<(), ServeError> {
    if store.count_users().await? > 0 {
        return Ok(());
    }
    let (password, generated) = match admin_password {
        Some(password) if !password.expose().is_empty() => (password.clone(), false),
        _ => {
            let random = tokengate_core::token::random_base62(20)
                .map_err(|error| ServeError::FirstAdmin(error.to_string()))?;
            (Secret::new(random), true)
        }
    };
    let origin = Origin::default();
    let change = first_start.change(&origin, chrono::Utc::now());
    create_user(store, &change, "admin", true, Some(&password))
        .await
        .map_err(|error| ServeError::FirstAdmin(error.to_string()))?;
    if generated {
        eprintln!(
            "Created the first admin user \"admin\" with password: {}",
            password.expose()
        );
        eprintln!("This password is shown only once. Sign in at /tokengate/ and keep it safe.");
    } else {
        eprintln!(
            "Created the first admin user \"admin\" with the password from TOKENGATE_ADMIN_PASSWORD."
        );
    }
    Ok(())
}

/// Builds the state and starts accepting on `config.listen` (port 0 picks a free port). One
/// task accepts connections and hands each to the serving thread with the fewest open ones
/// (`config.workers` threads, see `crate::worker`).
pub async fn start(config: Config, store: Arc<dyn Store>) -> Result<RunningServer, ServeError> {
    Bound::new(&config).await?.start(config, store).await
}

/// What `serve` prepares from the configuration alone: the TLS acceptor and the listening
/// sockets. Made before the database is opened, so a refusal here writes nothing.
pub struct Bound {
    listener: TcpListener,
    address: SocketAddr,
    metrics: Option<TcpListener>,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Bound {
    pub async fn new(config: &Config) -> Result<Self, ServeError> {
        config.validate()?;
        let tls = if config.tls.enabled() {
            Some(tls::acceptor(&config.tls.cert, &config.tls.key).map_err(ServeError::Tls)?)
        } else {
            None
        };
        let listener = bind(config.listen).await?;
        let address = local_address(&listener, config.listen)?;
        let metrics = match config.metrics_listen {
            None => None,
            Some(metrics_listen) => Some(bind(metrics_listen).await?),
        };
        Ok(Self {
            listener,
            address,
            metrics,
            tls,
        })
    }

    /// Builds the state on `store` and starts serving.
    pub async fn start(
        self,
        config: Config,
        store: Arc<dyn Store>,
    ) -> Result<RunningServer, ServeError> {
        let settings = store.settings().await?;
        let initial_counter = store.change_counter().await?;
        // PostgreSQL wakes the watcher as soon as another node changes something.
        let notifications = tokengate_store::change_notifications(&config.database_url)?;
        let listen_error = |source| ServeError::Listen {
            address: config.listen.to_string(),
            source,
        };
        // Every serving thread's runtime is built before anything runs, so a failure is
        // reported first; a runtime that never ran is let go without blocking.
        let runtimes = (0..config.worker_count())
            .map(|_| ServingRuntime::new().map_err(listen_error))
            .collect::<Result<Vec<_>, _>>()?;
        let state: SharedState = Arc::new(AppState::new(config, store, settings)?);
        let metrics_address = match (&self.metrics, state.config.metrics_listen) {
            (Some(listener), Some(configured)) => Some(local_address(listener, configured)?),
            _ => None,
        };
        let (stop, stop_rx) = watch::channel(false);
        let watcher = tokio::spawn(crate::watch::run(
            state.clone(),
            Some(initial_counter),
            stop_rx.clone(),
            notifications,
        ));
        if let Some(ldap) = &state.ldap {
            let interval = state
                .config
                .ldap
                .as_ref()
                .map_or(std::time::Duration::from_secs(600), |ldap| {
                    ldap.sync_interval
                });
            tokio::spawn(crate::directory::accounts::run_sync(
                state.clone(),
                ldap.clone(),
                interval,
                stop_rx.clone(),
            ));
        }
        let notifier = tokio::spawn(crate::notify::run(state.clone(), stop_rx.clone()));
        let auth_events = tokio::spawn(crate::auth_events::run(state.clone(), stop_rx.clone()));
        tokio::spawn(crate::retention::run(state.clone(), stop_rx.clone()));
        let forwarder = tokio::spawn(crate::syslog::run(state.clone(), stop_rx.clone()));
        let metrics = self.metrics.map(|listener| {
            tokio::spawn(crate::metrics::serve(
                listener,
                state.metrics.clone(),
                stop_rx.clone(),
            ))
        });
        let accept = spawn_serving(self.listener, runtimes, &state, self.tls, stop_rx)?;
        Ok(RunningServer {
            address: self.address,
            metrics_address,
            state,
            stop,
            accept: Some(accept),
            watcher: Some(watcher),
            notifier: Some(notifier),
            auth_events: Some(auth_events),
            forwarder: Some(forwarder),
            metrics,
        })
    }
}

async fn bind(address: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| ServeError::Listen {
            address: address.to_string(),
            source,
        })
}

fn local_address(listener: &TcpListener, configured: SocketAddr) -> Result<SocketAddr, ServeError> {
    listener.local_addr().map_err(|source| ServeError::Listen {
        address: configured.to_string(),
        source,
    })
}
