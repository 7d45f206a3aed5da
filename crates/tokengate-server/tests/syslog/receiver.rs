//! A syslog receiver on loopback for the tests: TCP with RFC 6587 octet counting (a frame that
//! is not `LENGTH SP MESSAGE` fails the test) or UDP with one message per datagram. Every
//! message is kept as received; `parsed` reads them with a strict RFC 5424 parser.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use syslog_rfc5424::SyslogMessage;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};

/// How long a test waits for messages it expects.
pub const WAIT: Duration = Duration::from_secs(30);

pub struct Receiver {
    pub address: SocketAddr,
    messages: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Stops listening and closes every connection, as a receiver that is shut down.
    pub async fn stop(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads octet-counted frames from one connection until it closes.
async fn read_frames(stream: TcpStream, messages: Arc<Mutex<Vec<String>>>) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = Vec::new();
        match reader.read_until(b' ', &mut length).await {
            Ok(0) => return,
            Ok(_) => {}
            Err(_) => return,
        }
        let digits = std::str::from_utf8(&length[..length.len() - 1]).unwrap();
        assert!(
            length.ends_with(b" ")
                && !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit()),
            "not an octet-counted frame: {length:?}"
        );
        let mut message = vec![0; digits.parse::<usize>().unwrap()];
        if reader.read_exact(&mut message).await.is_err() {
            return;
        }
        messages
            .lock()
            .unwrap()
            .push(String::from_utf8(message).unwrap());
    }
}

impl Receiver {
    /// A TCP receiver on a free loopback port.
    pub async fn tcp() -> Self {
        Self::tcp_on("127.0.0.1:0".parse().unwrap()).await
    }

    /// A TCP receiver on `address`.
    pub async fn tcp_on(address: SocketAddr) -> Self {
        let listener = TcpListener::bind(address).await.unwrap();
        let address = listener.local_addr().unwrap();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let kept = messages.clone();
        // The connections end with the receiver (the set is dropped with the task).
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                connections.spawn(read_frames(stream, kept.clone()));
            }
        });
        Self {
            address,
            messages,
            task,
        }
    }

    /// A TCP receiver that accepts connections and never reads from them, with a small
    /// receive buffer.
    pub async fn tcp_not_reading() -> (Self, Arc<Mutex<Vec<TcpStream>>>) {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(16).unwrap();
        let address = listener.local_addr().unwrap();
        let held = Arc::new(Mutex::new(Vec::new()));
        let keep = held.clone();
        let task = tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                keep.lock().unwrap().push(stream);
            }
        });
        let receiver = Self {
            address,
            messages: Arc::new(Mutex::new(Vec::new())),
            task,
        };
        (receiver, held)
    }

    /// A UDP receiver on a free loopback port.
    pub async fn udp() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let address = socket.local_addr().unwrap();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let kept = messages.clone();
        let task = tokio::spawn(async move {
            let mut datagram = vec![0; 65_536];
            loop {
                let (length, _) = socket.recv_from(&mut datagram).await.unwrap();
                let message = String::from_utf8(datagram[..length].to_vec()).unwrap();
                kept.lock().unwrap().push(message);
            }
        });
        Self {
            address,
            messages,
            task,
        }
    }

    /// `tcp://ADDRESS` or `udp://ADDRESS`.
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.address)
    }

    /// Every message received so far, as received.
    pub fn raw(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }

    /// Waits until at least `count` messages have arrived (fails after [`WAIT`]); all of them,
    /// parsed.
    pub async fn at_least(&self, count: usize) -> Vec<SyslogMessage> {
        let started = Instant::now();
        loop {
            let raw = self.raw();
            if raw.len() >= count {
                return raw.iter().map(|message| parse(message)).collect();
            }
            assert!(
                started.elapsed() < WAIT,
                "{} of {count} syslog messages after {WAIT:?}",
                raw.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// `message` read by the strict RFC 5424 parser.
pub fn parse(message: &str) -> SyslogMessage {
    syslog_rfc5424::parse_message(message)
        .unwrap_or_else(|error| panic!("not RFC 5424 ({error}): {message}"))
}
