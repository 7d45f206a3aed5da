//! Keep-alive HTTP/1 connections to the upstream (hyper's `client::conn::http1`), reused last
//! in, first out. Replaces hyper-util's general-purpose pooled client on the hot path: that one
//! hashes a pool key and races a lazy connect on every request, and spawns a task per response
//! to wait for its connection to become idle again. Here a connection goes back to the pool
//! when its response body ends (or is dropped after its end), and a request that could not be
//! written on a pooled connection (the upstream closed it meanwhile) moves to the next one.
//! Idle connections are kept per serving thread (`crate::worker`): a connection's I/O task
//! runs on the thread that opened it, so a request reuses one of its own thread's.

use axum::body::Body;
use hyper::body::{Body as HttpBody, Bytes, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::client::conn::http2;
use hyper::http::uri::{Authority, PathAndQuery, Scheme};
use hyper::{Request, Response, Uri};
use hyper_util::rt::TokioExecutor;
use hyper_util::rt::TokioIo;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("cannot connect to {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("connecting to {0} timed out")]
    ConnectTimeout(String),
    #[error("TLS with {address} failed: {source}")]
    Tls {
        address: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Http(#[from] hyper::Error),
}

struct Idle {
    sender: SendRequest<Body>,
    since: Instant,
}

/// A connection's byte stream: plain TCP or TLS over it.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// TLS towards an `https://` upstream: the connector and the name its certificate must carry.
pub struct UpstreamTls {
    pub connector: tokio_rustls::TlsConnector,
    pub server_name: rustls::pki_types::ServerName<'static>,
}

/// Where a pool connects, and how.
pub struct Target {
    /// `host:port`.
    pub address: String,
    pub authority: Authority,
    /// HTTP/2 with prior knowledge (`h2c://`).
    pub http2: bool,
    pub tls: Option<UpstreamTls>,
}

pub struct Pool {
    /// `host:port` to connect to.
    address: String,
    /// The upstream's authority, for HTTP/2's absolute request URIs.
    authority: Authority,
    /// Whether requests go over HTTP/2: from the start for `h2c://`, or once an `https://`
    /// upstream chose `h2` by ALPN.
    multiplex: AtomicBool,
    tls: Option<UpstreamTls>,
    /// Idle connections, one list per serving thread.
    idle: Box<[Mutex<Vec<Idle>>]>,
    /// For an HTTP/2 upstream: one multiplexed connection per serving thread.
    multiplexed: Box<[Mutex<Option<http2::SendRequest<Body>>>]>,
    max_idle: usize,
    idle_timeout: Duration,
    connect_timeout: Duration,
}

impl Pool {
    /// A pool for `workers` serving threads, keeping at most `max_idle` idle connections each.
    pub fn new(
        target: Target,
        workers: usize,
        max_idle: usize,
        idle_timeout: Duration,
        connect_timeout: Duration,
    ) -> Self {
        let Target {
            address,
            authority,
            http2,
            tls,
        } = target;
        Self {
            address,
            authority,
            multiplex: AtomicBool::new(http2),
            tls,
            idle: (0..workers.max(1))
                .map(|_| Mutex::new(Vec::new()))
                .collect(),
            multiplexed: (0..workers.max(1)).map(|_| Mutex::new(None)).collect(),
            max_idle,
            idle_timeout,
            connect_timeout,
        }
    }

    /// This thread's idle connections.
    fn idle(&self) -> MutexGuard<'_, Vec<Idle>> {
        let shard = &self.idle[crate::worker::index() % self.idle.len()];
        match shard.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Sends `request` (origin-form URI, `Host` set) on a pooled connection, or a new one.
    pub async fn send(
        self: &Arc<Self>,
        mut request: Request<Body>,
    ) -> Result<Response<PooledBody>, SendError> {
        if self.multiplex.load(Ordering::Relaxed) {
            return Ok(self.unpooled(self.send_h2(request).await?));
        }
        while let Some(mut sender) = self.checkout() {
            if sender.ready().await.is_err() {
                continue;
            }
            match sender.try_send_request(request).await {
                Ok(response) => return Ok(self.attach(response, sender)),
                Err(mut error) => match error.take_message() {
                    // Not written: the connection closed meanwhile. Try the next one.
                    Some(unsent) => request = unsent,
                    None => return Err(SendError::Http(error.into_error())),
                },
            }
        }
        match self.connect().await? {
            Some(mut sender) => {
                let response = sender.send_request(request).await?;
                Ok(self.attach(response, sender))
            }
            // The upstream chose HTTP/2: from now on every request goes that way.
            None => Ok(self.unpooled(self.send_h2(request).await?)),
        }
    }

    /// The most recently used open connection; those idle too long are dropped.
    fn checkout(&self) -> Option<SendRequest<Body>> {
        let mut idle = self.idle();
        while let Some(entry) = idle.pop() {
            if !entry.sender.is_closed() && entry.since.elapsed() < self.idle_timeout {
                return Some(entry.sender);
            }
        }
        None
    }

    fn checkin(&self, sender: SendRequest<Body>) {
        if sender.is_closed() {
            return;
        }
        let now = Instant::now();
        let mut idle = self.idle();
        // Entries are pushed in time order: the expired ones are at the front.
        let expired = idle
            .iter()
            .take_while(|entry| now.duration_since(entry.since) >= self.idle_timeout)
            .count();
        if expired > 0 {
            idle.drain(..expired);
        }
        if idle.len() < self.max_idle {
            idle.push(Idle { sender, since: now });
        }
    }

    /// A new HTTP/1 connection; `None` when the upstream chose HTTP/2 by ALPN instead (that
    /// connection is then this thread's multiplexed one).
    async fn connect(&self) -> Result<Option<SendRequest<Body>>, SendError> {
        let (stream, http2) = self.open().await?;
        if http2 {
            self.multiplex.store(true, Ordering::Relaxed);
            self.keep_multiplexed(stream).await?;
            return Ok(None);
        }
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // With upgrades: a 101 hands the connection over to a WebSocket tunnel.
            if let Err(error) = connection.with_upgrades().await {
                tracing::debug!(%error, "upstream connection ended");
            }
        });
        Ok(Some(sender))
    }

    /// A new connection to the upstream: TCP, then TLS for an `https://` upstream; whether
    /// TLS chose `h2` by ALPN.
    async fn open(&self) -> Result<(Box<dyn Io>, bool), SendError> {
        let stream = match tokio::time::timeout(
            self.connect_timeout,
            TcpStream::connect(self.address.as_str()),
        )
        .await
        {
            Ok(Ok(stream)) => stream,
            Ok(Err(source)) => {
                return Err(SendError::Connect {
                    address: self.address.clone(),
                    source,
                });
            }
            Err(_) => return Err(SendError::ConnectTimeout(self.address.clone())),
        };
        let _ = stream.set_nodelay(true);
        let Some(tls) = &self.tls else {
            return Ok((Box::new(stream), false));
        };
        let handshake = tls.connector.connect(tls.server_name.clone(), stream);
        match tokio::time::timeout(self.connect_timeout, handshake).await {
            Ok(Ok(stream)) => {
                let http2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                Ok((Box::new(stream), http2))
            }
            Ok(Err(source)) => Err(SendError::Tls {
                address: self.address.clone(),
                source,
            }),
            Err(_) => Err(SendError::ConnectTimeout(self.address.clone())),
        }
    }

    /// Sends `request` over this thread's HTTP/2 connection, opening one when there is none
    /// or it closed. One connection carries every request at once. The request becomes HTTP/2's
    /// absolute form, its authority the upstream's.
    async fn send_h2(&self, mut request: Request<Body>) -> Result<Response<Incoming>, SendError> {
        let mut parts = hyper::http::uri::Parts::default();
        parts.scheme = Some(if self.tls.is_some() {
            Scheme::HTTPS
        } else {
            Scheme::HTTP
        });
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(
            request
                .uri()
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
        );
        if let Ok(uri) = Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
        *request.version_mut() = hyper::Version::HTTP_2;
        request.headers_mut().remove(hyper::header::HOST);
        let mut sender = match self.multiplexed_sender() {
            Some(sender) => sender,
            None => {
                let (stream, _) = self.open().await?;
                self.keep_multiplexed(stream).await?
            }
        };
        sender.ready().await?;
        Ok(sender.send_request(request).await?)
    }

    fn multiplexed_slot(&self) -> MutexGuard<'_, Option<http2::SendRequest<Body>>> {
        let shard = &self.multiplexed[crate::worker::index() % self.multiplexed.len()];
        match shard.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn multiplexed_sender(&self) -> Option<http2::SendRequest<Body>> {
        self.multiplexed_slot()
            .clone()
            .filter(|sender| !sender.is_closed())
    }

    /// HTTP/2 over `stream`, kept as this thread's multiplexed connection.
    async fn keep_multiplexed(
        &self,
        stream: Box<dyn Io>,
    ) -> Result<http2::SendRequest<Body>, SendError> {
        let (sender, connection) =
            http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "upstream HTTP/2 connection ended");
            }
        });
        *self.multiplexed_slot() = Some(sender.clone());
        Ok(sender)
    }

    /// A response on a multiplexed connection: nothing to give back when its body ends.
    pub fn unpooled(self: &Arc<Self>, response: Response<Incoming>) -> Response<PooledBody> {
        response.map(|inner| PooledBody {
            inner,
            sender: None,
            pool: self.clone(),
            ended: false,
        })
    }

    fn attach(
        self: &Arc<Self>,
        response: Response<Incoming>,
        sender: SendRequest<Body>,
    ) -> Response<PooledBody> {
        response.map(|inner| PooledBody {
            inner,
            sender: Some(sender),
            pool: self.clone(),
            ended: false,
        })
    }
}

/// A response body that returns its connection to the pool once it has been read to the end.
pub struct PooledBody {
    inner: Incoming,
    sender: Option<SendRequest<Body>>,
    pool: Arc<Pool>,
    ended: bool,
}

impl PooledBody {
    fn release(&mut self) {
        if let Some(sender) = self.sender.take() {
            self.pool.checkin(sender);
        }
    }
}

impl HttpBody for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => this.ended = true,
            // A broken body leaves the connection unusable.
            Poll::Ready(Some(Err(_))) => this.sender = None,
            _ => {}
        }
        if this.ended || this.inner.is_end_stream() {
            this.ended = true;
            this.release();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        // Reusable only if the body was read to its end; otherwise hyper closes it.
        if self.ended || self.inner.is_end_stream() {
            self.release();
        }
    }
}
