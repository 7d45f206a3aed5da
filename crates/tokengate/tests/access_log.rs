//! The access log of the real binary: one JSON (or text) line per request on stderr, with the
//! route, user, via and token id the request had, and never a query string, a password or a
//! token; `access_log = "off"` writes none.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const PASSWORD: &str = "admin-password-9f2c";

/// `serve` on a free port with `access_log = form`; its stderr lines arrive on the receiver.
fn serve(form: &str) -> (Child, SocketAddr, mpsc::Receiver<String>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tokengate"))
        .arg("serve")
        .current_dir(dir.path())
        .env("TOKENGATE_LISTEN", "127.0.0.1:0")
        .env("TOKENGATE_METRICS_LISTEN", "")
        .env("TOKENGATE_DATABASE_URL", "sqlite://t.db")
        .env("TOKENGATE_ADMIN_PASSWORD", PASSWORD)
        .env("TOKENGATE_ACCESS_LOG", form)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = loop {
        let line = lines.next().expect("serve ended early").unwrap();
        if let Some(address) = line.strip_prefix("tokengate listening on http://") {
            break address.parse().unwrap();
        }
    };
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    (child, address, receiver, dir)
}

fn call(address: SocketAddr, head: &str) -> u16 {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .write_all(format!("{head}Host: gateway.test\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer[9..12].parse().unwrap()
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

/// Sends the three requests both tests use.
fn requests(address: SocketAddr) {
    assert_eq!(
        call(
            address,
            "GET /tokengate/healthz?token=tg_secretquery HTTP/1.1\r\n"
        ),
        200
    );
    let good = format!(
        "GET /tokengate/auth HTTP/1.1\r\nAuthorization: Basic {}\r\n",
        basic("admin", PASSWORD)
    );
    assert_eq!(call(address, &good), 200);
    let wrong = format!(
        "GET /tokengate/auth HTTP/1.1\r\nAuthorization: Basic {}\r\n",
        basic("admin", "wrong-password-77")
    );
    assert_eq!(call(address, &wrong), 401);
}

#[test]
fn every_request_is_one_json_line_with_its_identity_and_no_secret() {
    let (mut child, address, lines, _dir) = serve("json");
    requests(address);
    let mut entries = Vec::new();
    while entries.len() < 3 {
        let line = lines
            .recv_timeout(Duration::from_secs(10))
            .expect("an access line within 10 s");
        for secret in ["tg_secretquery", PASSWORD, "wrong-password-77", "Basic "] {
            assert!(!line.contains(secret), "{secret} in {line}");
        }
        if let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line)
            && entry.get("request_id").is_some()
        {
            entries.push(entry);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(entries[0]["path"], "/tokengate/healthz", "{entries:?}");
    assert_eq!(entries[0]["status"], 200);
    assert_eq!(entries[0]["method"], "GET");
    assert_eq!(entries[1]["path"], "/tokengate/auth");
    assert_eq!(entries[1]["user"], "admin");
    assert_eq!(entries[1]["via"], "password");
    assert_eq!(entries[1]["client"], "127.0.0.1");
    assert_eq!(entries[2]["status"], 401);
    assert_eq!(entries[2]["user"], serde_json::Value::Null);
    for entry in &entries {
        assert_eq!(
            entry["request_id"].as_str().map(str::len),
            Some(32),
            "{entry}"
        );
        assert!(entry["duration_ms"].as_f64().is_some(), "{entry}");
        assert!(
            entry["time"]
                .as_str()
                .is_some_and(|time| time.ends_with('Z')),
            "{entry}"
        );
    }
}

#[test]
fn access_log_off_writes_no_line() {
    let (mut child, address, lines, _dir) = serve("off");
    requests(address);
    let _ = child.kill();
    let _ = child.wait();
    // The reader sees the end of stderr once the process is gone.
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(5)) {
        assert!(!line.contains("/tokengate/healthz"), "{line}");
        assert!(!line.contains("status="), "{line}");
    }
}
