//! The sender: drains the queue of formatted messages to the receiver, one at a time and in
//! order. TCP frames each message by octet counting and reconnects with backoff when the
//! connection breaks or a write stalls; the message being written is written again on the
//! new connection, and the queue waits meanwhile. UDP sends one datagram per message; a
//! message too long for any datagram is dropped and counted, never cut.

use super::format::octet_counted;
use crate::config::syslog::{SyslogTarget, SyslogTransport};
use crate::metrics::Metrics;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;

/// The longest UDP payload over IPv4 (65,535 less the IP and UDP headers).
pub const UDP_LIMIT: usize = 65_507;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const LONGEST_BACKOFF: Duration = Duration::from_secs(5);
/// A write that has not finished by then (a receiver that stopped reading) breaks the
/// connection; the message is written again on the next.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection to the receiver.
enum Link {
    Tcp(TcpStream),
    Udp(UdpSocket),
}

impl Link {
    async fn open(target: &SyslogTarget) -> std::io::Result<Self> {
        let address = (target.host.as_str(), target.port);
        match target.transport {
            SyslogTransport::Tcp => {
                let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address))
                    .await
                    .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
                stream.set_nodelay(true)?;
                Ok(Link::Tcp(stream))
            }
            SyslogTransport::Udp => {
                let peer = tokio::net::lookup_host(address)
                    .await?
                    .next()
                    .ok_or_else(|| std::io::Error::other("the host has no address"))?;
                let local = match peer {
                    std::net::SocketAddr::V4(_) => "0.0.0.0:0",
                    std::net::SocketAddr::V6(_) => "[::]:0",
                };
                let socket = UdpSocket::bind(local).await?;
                socket.connect(peer).await?;
                Ok(Link::Udp(socket))
            }
        }
    }

    async fn send(&mut self, message: &str) -> std::io::Result<()> {
        match self {
            Link::Tcp(stream) => {
                ensure_open(stream)?;
                let frame = octet_counted(message);
                tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&frame))
                    .await
                    .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
            }
            Link::Udp(socket) => socket.send(message.as_bytes()).await.map(|_| ()),
        }
    }
}

/// Fails when the receiver has closed the connection. A receiver never writes, so a readable
/// stream means its end came: writing into it would succeed into the kernel's buffer and the
/// message would be lost with the connection (a receiver restarting), where reconnecting first
/// loses nothing.
fn ensure_open(stream: &TcpStream) -> std::io::Result<()> {
    let mut probe = [0u8; 256];
    match stream.try_read(&mut probe) {
        Ok(0) => Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "the receiver closed the connection",
        )),
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
        Err(error) => Err(error),
    }
}

/// Sends every message of `queue` to `target` until the queue is closed and empty.
pub async fn run(target: SyslogTarget, mut queue: mpsc::Receiver<String>, metrics: Arc<Metrics>) {
    let mut link: Option<Link> = None;
    let mut backoff = FIRST_BACKOFF;
    // Said once when the receiver goes away and once when it is back, not at every retry.
    let mut failing = false;
    while let Some(message) = queue.recv().await {
        if target.transport == SyslogTransport::Udp && message.len() > UDP_LIMIT {
            tracing::warn!(
                bytes = message.len(),
                "an audit record is too long for a syslog datagram and was not sent; use tcp://"
            );
            metrics.syslog_dropped("too_large", 1);
            continue;
        }
        loop {
            let current = match &mut link {
                Some(current) => current,
                None => match Link::open(&target).await {
                    Ok(opened) => {
                        if std::mem::take(&mut failing) {
                            tracing::info!(receiver = %target, "the syslog receiver is reachable again");
                        }
                        link.insert(opened)
                    }
                    Err(error) => {
                        if !std::mem::replace(&mut failing, true) {
                            tracing::warn!(%error, receiver = %target, "cannot reach the syslog receiver; records wait in the queue");
                        }
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(LONGEST_BACKOFF);
                        continue;
                    }
                },
            };
            match current.send(&message).await {
                Ok(()) => {
                    metrics.syslog_sent();
                    backoff = FIRST_BACKOFF;
                    break;
                }
                Err(error) => {
                    if !std::mem::replace(&mut failing, true) {
                        tracing::warn!(%error, receiver = %target, "writing to the syslog receiver failed; reconnecting");
                    }
                    link = None;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(LONGEST_BACKOFF);
                }
            }
        }
    }
}
