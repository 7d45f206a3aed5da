//! Start-up wiring for `tokengate serve`: load the TLS files and bind the listeners (before
//! anything is written, so a configuration error leaves no trace), open the store, create the
//! first admin, build the state, start the background watcher and the metrics listener, accept
//! connections (HTTP or HTTPS) until stopped.

use crate::config::Config;
use crate::request_id::with_request_id;
use crate::routes::{FastLane, router};
use crate::state::{AppState, SharedState, StateError};
use crate::tls;
use axum::Router;
use axum::extract::ConnectInfo;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokengate_core::Secret;
use tokengate_core::manage::{AdminIdentity, create_user};
use tokengate_core::model::Origin;
use tokengate_core::store::{Store, StoreError};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::sync::watch;
use tower::ServiceExt;

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
            Self::Tls(_)
                | Self::Config(_)
                | Self::State(StateError::Upstream(_) | StateError::HeaderName(_))
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
    metrics: Option<tokio::task::JoinHandle<()>>,
}

impl RunningServer {
    /// Stops accepting, lets the requests in flight finish, then writes the last-use records
    /// they noted (the watcher's own last flush may come before they end) and returns.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
        if let Some(watcher) = self.watcher.take() {
            let _ = watcher.await;
        }
        if let Some(metrics) = self.metrics.take() {
            let _ = metrics.await;
        }
        if self.state.cache.store_healthy() {
            self.state.usage.flush(&self.state.store).await;
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
    ensure_first_admin(store.as_ref(), first_start).await?;
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

/// SPEC §4 first start: on an empty database, create `admin` with `TOKENGATE_ADMIN_PASSWORD`
/// or a random password printed once to stderr. Audited as made by `first_start`.
pub async fn ensure_first_admin(
    store: &dyn Store,
    first_start: &AdminIdentity,
) -> Result<(), ServeError> {
    if store.count_users().await? > 0 {
        return Ok(());
    }
    let (password, generated) = match std::env::var("TOKENGATE_ADMIN_PASSWORD") {
        Ok(password) if !password.is_empty() => (Secret::new(password), false),
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
        let listener = bind(&config.listen).await?;
        let address = local_address(&listener, &config.listen)?;
        let metrics = match config.metrics_listen.as_str() {
            "" => None,
            metrics_listen => Some(bind(metrics_listen).await?),
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
            address: config.listen.clone(),
            source,
        };
        // Every serving thread's runtime is built before anything runs, so a failure is
        // reported first; a runtime that never ran is let go without blocking.
        let runtimes = (0..config.worker_count())
            .map(|_| ServingRuntime::new().map_err(listen_error))
            .collect::<Result<Vec<_>, _>>()?;
        let state: SharedState = Arc::new(AppState::new(config, store, settings)?);
        let metrics_address = match &self.metrics {
            Some(listener) => Some(local_address(listener, &state.config.metrics_listen)?),
            None => None,
        };
        let (stop, stop_rx) = watch::channel(false);
        let watcher = tokio::spawn(crate::watch::run(
            state.clone(),
            Some(initial_counter),
            stop_rx.clone(),
            notifications,
        ));
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
            metrics,
        })
    }
}

async fn bind(address: &str) -> Result<TcpListener, ServeError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| ServeError::Listen {
            address: address.to_owned(),
            source,
        })
}

fn local_address(listener: &TcpListener, configured: &str) -> Result<SocketAddr, ServeError> {
    listener.local_addr().map_err(|source| ServeError::Listen {
        address: configured.to_owned(),
        source,
    })
}

/// A serving thread's runtime. Dropped without running (start-up failed), it shuts down in
/// the background: a runtime may not be dropped, blocking, inside another one.
struct ServingRuntime(Option<tokio::runtime::Runtime>);

impl ServingRuntime {
    fn new() -> std::io::Result<Self> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|runtime| Self(Some(runtime)))
    }

    /// Runs `serving` to its end on this thread, then drops the runtime, which ends the
    /// connections still open.
    fn run(mut self, serving: impl std::future::Future<Output = ()>) {
        if let Some(runtime) = self.0.take() {
            runtime.block_on(serving);
        }
    }
}

impl Drop for ServingRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Starts one thread per runtime and the task that hands them connections; the returned task
/// ends when every serving thread has stopped.
fn spawn_serving(
    listener: TcpListener,
    runtimes: Vec<ServingRuntime>,
    state: &SharedState,
    tls_acceptor: Option<tokio_rustls::TlsAcceptor>,
    stop_rx: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, ServeError> {
    let app = router(state.clone());
    let mut workers = Vec::new();
    let mut finished = Vec::new();
    for (index, runtime) in runtimes.into_iter().enumerate() {
        let (connections, incoming) = mpsc::unbounded_channel();
        let open = Arc::new(AtomicUsize::new(0));
        let (done, done_rx) = tokio::sync::oneshot::channel::<()>();
        let serving = serve_loop(
            incoming,
            state.clone(),
            app.clone(),
            tls_acceptor.clone(),
            stop_rx.clone(),
            open.clone(),
        );
        std::thread::Builder::new()
            .name(format!("tokengate-{index}"))
            .spawn(move || {
                crate::worker::set_index(index);
                runtime.run(serving);
                let _ = done.send(());
            })
            .map_err(|source| ServeError::Listen {
                address: state.config.listen.clone(),
                source,
            })?;
        workers.push(Worker { connections, open });
        finished.push(done_rx);
    }
    let accepting = tokio::spawn(accept_loop(listener, workers, stop_rx));
    Ok(tokio::spawn(async move {
        let _ = accepting.await;
        for done in finished {
            let _ = done.await;
        }
    }))
}

/// A serving thread, as the accepting task sees it.
struct Worker {
    connections: mpsc::UnboundedSender<(std::net::TcpStream, SocketAddr)>,
    /// Connections it serves now.
    open: Arc<AtomicUsize>,
}

/// Accepts connections and hands each to the least busy serving thread.
async fn accept_loop(listener: TcpListener, workers: Vec<Worker>, mut stop: watch::Receiver<bool>) {
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let Ok(stream) = stream.into_std() else {
            continue;
        };
        let Some(worker) = workers
            .iter()
            .min_by_key(|worker| worker.open.load(Ordering::Relaxed))
        else {
            break;
        };
        worker.open.fetch_add(1, Ordering::Relaxed);
        if worker.connections.send((stream, peer)).is_err() {
            worker.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// One serving thread: serves the connections handed to it until stopped, then lets open
/// ones finish (up to `DRAIN`).
async fn serve_loop(
    mut incoming: mpsc::UnboundedReceiver<(std::net::TcpStream, SocketAddr)>,
    state: SharedState,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
    open: Arc<AtomicUsize>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            received = incoming.recv() => match received {
                Some(received) => received,
                None => break,
            },
            _ = stop.changed() => break,
        };
        let Ok(stream) = TcpStream::from_std(stream) else {
            open.fetch_sub(1, Ordering::Relaxed);
            continue;
        };
        let (app, state) = (app.clone(), state.clone());
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            serve_request(state.clone(), app.clone(), peer, request)
        });
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .max_buf_size(64 * 1024)
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(30));
        let watcher = graceful.watcher();
        let tls = tls.clone();
        let open = open.clone();
        tokio::spawn(async move {
            match tls {
                None => {
                    let connection = builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .into_owned();
                    let _ = watcher.watch(connection).await;
                }
                Some(acceptor) => {
                    if let Ok(Ok(stream)) =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await
                    {
                        let connection = builder
                            .serve_connection_with_upgrades(TokioIo::new(stream), service)
                            .into_owned();
                        let _ = watcher.watch(connection).await;
                    }
                }
            }
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
    let _ = tokio::time::timeout(DRAIN, graceful.shutdown()).await;
}

/// One request: the hot paths (`FastLane`) straight to their handler, everything else through
/// the router; both under the request-id middleware. `crate::transport` then marks the answer
/// for the way the client came (HSTS under TLS; `Secure` on tokengate's own cookies).
async fn serve_request(
    state: SharedState,
    app: Router,
    peer: SocketAddr,
    request: hyper::Request<Incoming>,
) -> Result<Response, Infallible> {
    let mut request = request.map(axum::body::Body::new);
    let https = crate::transport::reached_over_https(&state, peer, request.headers());
    let mut response = match FastLane::of(&state, request.uri().path()) {
        Some(lane) => {
            with_request_id(&state, peer, request, |request| {
                lane.serve(&state, peer, request)
            })
            .await
        }
        None => {
            request.extensions_mut().insert(ConnectInfo(peer));
            let Ok(mut response) = app.oneshot(request).await;
            crate::transport::secure_own_cookies(https, &mut response);
            response
        }
    };
    crate::transport::strict_transport(&state, &mut response);
    Ok(response)
}
