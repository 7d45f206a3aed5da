//! SPEC §8 graceful stop: `SIGTERM` to the real `tokengate serve` while token requests are in
//! flight to a slow upstream. The requests in flight finish with 200, the process exits 0,
//! and the last-use batch and the authentication events (SPEC §13, all three switched on)
//! are written before it does: the `auth.succeeded` records count every answered request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod process;

use process::{Installation, client};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long the upstream takes to answer: long enough for the signal to land mid-request.
const UPSTREAM_DELAY: Duration = Duration::from_millis(1500);
const IN_FLIGHT: usize = 24;

/// A real HTTP/1.1 upstream that records each request's path and answers `ok` after a delay.
#[derive(Clone, Default)]
struct SlowUpstream {
    received: Arc<Mutex<HashSet<String>>>,
}

impl SlowUpstream {
    async fn start(&self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let upstream = self.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(upstream.clone().serve(stream));
            }
        });
        format!("http://{address}")
    }

    async fn serve(self, mut stream: TcpStream) {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let Some(end) = find_head_end(&buffer) else {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(read) => buffer.extend_from_slice(&chunk[..read]),
                }
                continue;
            };
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            buffer.drain(..end);
            let path = head.split(' ').nth(1).unwrap_or("").to_owned();
            self.received.lock().expect("received").insert(path);
            tokio::time::sleep(UPSTREAM_DELAY).await;
            let answer = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
            if stream.write_all(answer.as_bytes()).await.is_err() {
                return;
            }
        }
    }

    fn has(&self, path: &str) -> bool {
        self.received.lock().expect("received").contains(path)
    }
}

/// The end of a request head (GETs without bodies only).
fn find_head_end(buffer: &[u8]) -> Option<usize> {
    buffer
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map(|at| at + 4)
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "waited for {what}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_finishes_requests_in_flight_writes_last_use_and_every_event_and_exits_0()
 {
    let upstream = SlowUpstream::default();
    let mut installation = Installation::sqlite(None);
    installation
        .env
        .push(("TOKENGATE_GATEWAY__UPSTREAM".into(), upstream.start().await));
    installation.cli(&[
        "settings",
        "set",
        "audit-auth-events",
        "success,failure,denied",
    ]);
    let mut server = installation.serve();
    let busy = installation.cli(&["token", "create", "--user", "admin", "--name", "busy"]);
    let late = installation.cli(&["token", "create", "--user", "admin", "--name", "late"]);
    let (busy, late) = (busy.trim().to_owned(), late.trim().to_owned());
    let http = client();

    // Requests in flight when the signal comes: every one has reached the upstream.
    let mut in_flight = Vec::new();
    for index in 0..IN_FLIGHT {
        let request = http
            .get(server.url(&format!("/in-flight/{index}")))
            .bearer_auth(&busy)
            .send();
        in_flight.push(tokio::spawn(request));
    }
    // And a steady stream of new ones, before and after the signal.
    let stream_url = server.url("/stream");
    let (stream_http, stream_token) = (http.clone(), busy.clone());
    let stopped = Arc::new(AtomicBool::new(false));
    let steady_stopped = stopped.clone();
    let steady = tokio::spawn(async move {
        let mut statuses = Vec::new();
        while !steady_stopped.load(Ordering::Relaxed) {
            match stream_http
                .get(&stream_url)
                .bearer_auth(&stream_token)
                .send()
                .await
            {
                Ok(response) => statuses.push(response.status().as_u16()),
                // Refused once serve stopped accepting: expected.
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
        statuses
    });
    wait_for("the requests in flight to reach the upstream", || {
        (0..IN_FLIGHT).all(|index| upstream.has(&format!("/in-flight/{index}")))
    })
    .await;
    // A request whose head is only half sent when the signal comes, and completed after
    // the watcher's own last flush: it is in flight, and only a flush after the drain records
    // its use.
    let mut late_connection = TcpStream::connect(server.address).await.expect("connect");
    let head = format!("GET /late HTTP/1.1\r\nhost: gateway\r\nauthorization: Bearer {late}\r\n");
    late_connection
        .write_all(head.as_bytes())
        .await
        .expect("half a request");
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.terminate();
    tokio::time::sleep(Duration::from_millis(500)).await;
    late_connection
        .write_all(b"\r\n")
        .await
        .expect("the rest of the request");
    let late_answer = tokio::spawn(async move {
        let mut answer = Vec::new();
        let _ = late_connection.read_to_end(&mut answer).await;
        String::from_utf8_lossy(&answer).into_owned()
    });

    for request in in_flight {
        let response = request
            .await
            .expect("task")
            .expect("an answer, not a cut connection");
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.expect("body"), "ok");
    }
    let late_answer = late_answer.await.expect("late request");
    assert!(late_answer.starts_with("HTTP/1.1 200"), "{late_answer}");
    assert!(late_answer.ends_with("ok"), "{late_answer}");
    let status = tokio::task::spawn_blocking(move || {
        let status = server.wait(Duration::from_secs(40));
        (status, server.log())
    })
    .await
    .expect("wait");
    let (status, log) = status;
    stopped.store(true, Ordering::Relaxed);
    assert_eq!(status.and_then(|status| status.code()), Some(0), "{log}");
    let statuses = steady.await.expect("steady stream");
    assert!(
        statuses.iter().all(|status| *status == 200),
        "every answer given was 200: {statuses:?}"
    );

    let events = installation.audit("auth.succeeded");
    let answered = (IN_FLIGHT + 1 + statuses.len()) as u64;
    let counted: u64 = events
        .iter()
        .map(|event| event["details"]["count"].as_u64().expect("a count"))
        .sum();
    assert_eq!(
        counted, answered,
        "every answered request is counted in an event, none lost by the stop"
    );
    assert!(
        events
            .iter()
            .any(|event| event["details"]["path"] == "/late"),
        "the request decided after the signal has its event"
    );
    for kind in ["auth.failed", "auth.denied"] {
        assert!(installation.audit(kind).is_empty(), "{kind}");
    }
    let verified = installation.cli(&["audit", "verify"]);
    assert!(
        verified.contains("verified") || verified.contains("intact"),
        "{verified}"
    );

    let tokens = installation.tokens();
    for name in ["busy", "late"] {
        let token = tokens
            .iter()
            .find(|token| token["name"] == name)
            .expect("token listed");
        assert!(
            token["last_used_at"].is_string(),
            "the last use of {name} was not written: {token}"
        );
    }
}
