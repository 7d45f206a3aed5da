//! A real SMTP server for tests: `tests/smtp/server.py` (aiosmtpd from PyPI) in a child
//! process on a free loopback port, storing every mail it accepts in a maildir. Without
//! python3 and aiosmtpd the tests are skipped, except under CI (which installs them).
//! Plain std, so the binary's process tests can include this file too.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct SmtpServer {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("tokengate-server")
        .join("tests")
        .join("smtp")
        .join("server.py")
}

/// How a test SMTP server speaks: its TLS and the login it insists on.
#[derive(Default)]
pub struct Options<'a> {
    /// Seconds to wait after storing each mail before answering.
    pub delay: f64,
    /// `"starttls"` (refusing mail before STARTTLS) or `"implicit"` (smtps), with `cert_key`.
    pub tls: Option<&'a str>,
    /// PEM certificate and key files.
    pub cert_key: Option<(&'a str, &'a str)>,
    /// `user:password`: mail only from a client that logged in with it.
    pub auth: Option<&'a str>,
}

impl SmtpServer {
    /// Starts the server; it waits `delay` seconds after storing each mail before it answers.
    /// `None` (with a `skipped:` line) when aiosmtpd is not installed outside CI.
    pub fn start(delay: f64) -> Option<Self> {
        Self::start_with(&Options {
            delay,
            ..Options::default()
        })
    }

    /// Starts a server speaking as `options` say; `None` as for `start`.
    pub fn start_with(options: &Options) -> Option<Self> {
        let present = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !present {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "aiosmtpd is not installed, and CI must run the mail tests (pip install aiosmtpd)"
            );
            eprintln!("skipped: python3 with aiosmtpd is not installed (pip install aiosmtpd)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new("python3");
        command
            .arg(script())
            .arg(dir.path().join("mail"))
            .args(["--delay", &options.delay.to_string()]);
        if let Some(tls) = options.tls {
            let (cert, key) = options.cert_key.expect("a TLS server needs a certificate");
            command.args(["--tls", tls, "--cert", cert, "--key", key]);
        }
        if let Some(auth) = options.auth {
            command.args(["--auth", auth]);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the test SMTP server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the SMTP server's port");
        Some(Self { child, port, dir })
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every mail received so far, as raw text.
    pub fn messages(&self) -> Vec<String> {
        let mut messages = Vec::new();
        for folder in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.dir.path().join("mail").join(folder)) else {
                continue;
            };
            for entry in entries.flatten() {
                if let Ok(text) = std::fs::read_to_string(entry.path()) {
                    messages.push(text);
                }
            }
        }
        messages
    }

    /// Waits until at least `count` mails arrived (at most `limit`); all of them.
    pub fn wait_for(&self, count: usize, limit: Duration) -> Vec<String> {
        let started = Instant::now();
        loop {
            let messages = self.messages();
            if messages.len() >= count || started.elapsed() > limit {
                return messages;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of header `name` in a raw mail (first occurrence, unfolded).
pub fn header(message: &str, name: &str) -> Option<String> {
    let head = message.split("\n\n").next().unwrap_or_default();
    let prefix = format!("{}:", name.to_ascii_lowercase());
    let mut lines = head.lines().peekable();
    while let Some(line) = lines.next() {
        if line.to_ascii_lowercase().starts_with(&prefix) {
            let mut value = line[prefix.len()..].trim().to_owned();
            while let Some(next) = lines.peek().filter(|next| next.starts_with([' ', '\t'])) {
                value.push(' ');
                value.push_str(next.trim());
                lines.next();
            }
            return Some(value);
        }
    }
    None
}
