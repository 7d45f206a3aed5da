//! The serving threads: one current-thread runtime each, a task that hands accepted
//! connections to the least busy one, hyper on each connection (HTTP/1 and HTTP/2, TLS when
//! configured), and each request sent down its lane (`crate::lanes`).

use crate::entrance::with_request_id;
use crate::lanes::Lane;
use crate::state::SharedState;
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
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::sync::watch;
use tower::ServiceExt;

use super::{DRAIN, ServeError};
use crate::routes::router;

/// A serving thread's runtime. Dropped without running (start-up failed), it shuts down in
/// the background: a runtime may not be dropped, blocking, inside another one.
pub(super) struct ServingRuntime(Option<tokio::runtime::Runtime>);

impl ServingRuntime {
    pub(super) fn new() -> std::io::Result<Self> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|runtime| Self(Some(runtime)))
    }

    /// Runs `serving` to its end on this thread, then drops the runtime, which ends the
    /// connections still open.
    pub(super) fn run(mut self, serving: impl std::future::Future<Output = ()>) {
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
pub(super) fn spawn_serving(
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
                address: state.config.listen.to_string(),
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

/// One request, by its lane (`crate::lanes`): forward-auth and routed paths straight to their
/// handler, tokengate's other paths through the router; all under the entrance. Then
/// `crate::transport` marks the answer for the way the client came (HSTS under TLS; `Secure` on
/// tokengate's own cookies).
async fn serve_request(
    state: SharedState,
    app: Router,
    peer: SocketAddr,
    request: hyper::Request<Incoming>,
) -> Result<Response, Infallible> {
    let mut request = request.map(axum::body::Body::new);
    let mut response = match Lane::of(request.uri().path()) {
        Lane::ForwardAuth => {
            with_request_id(&state, peer, request, |request| {
                crate::gateway::forward_auth::answer(&state, peer, request)
            })
            .await
        }
        Lane::Routed => {
            with_request_id(&state, peer, request, |request| {
                crate::gateway::proxy::serve(&state, peer, request)
            })
            .await
        }
        Lane::Own => {
            let https = crate::transport::reached_over_https(&state, peer, request.headers());
            request.extensions_mut().insert(ConnectInfo(peer));
            let Ok(mut response) = app.oneshot(request).await;
            crate::transport::secure_own_cookies(https, &mut response);
            response
        }
    };
    crate::transport::strict_transport(&state, &mut response);
    Ok(response)
}
