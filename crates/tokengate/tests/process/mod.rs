//! Runs the real `tokengate serve` binary as a child process (so it can be killed, stopped with
//! a signal or starved of disk), its CLI against the same database, and a PostgreSQL schema
//! of its own when `TOKENGATE_TEST_POSTGRES_URL` is set.

#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// The database and working directory one test's processes share.
pub struct Installation {
    pub dir: tempfile::TempDir,
    pub database_url: String,
    /// Extra configuration, as `TOKENGATE_*` environment variables.
    pub env: Vec<(String, String)>,
}

impl Installation {
    /// A SQLite database in `directory` (a fresh temporary directory when `None`).
    pub fn sqlite(directory: Option<&Path>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = directory.unwrap_or(dir.path()).join("tokengate.db");
        Self::with_url(dir, format!("sqlite://{}", file.display()))
    }

    pub fn with_url(dir: tempfile::TempDir, database_url: String) -> Self {
        Self {
            dir,
            database_url,
            env: Vec::new(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tokengate"));
        for (key, _) in std::env::vars() {
            if key.starts_with("TOKENGATE_") || key == "RUST_LOG" {
                command.env_remove(key);
            }
        }
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("TOKENGATE_DATABASE_URL", &self.database_url)
            .env("TOKENGATE_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("TOKENGATE_LISTEN", "127.0.0.1:0")
            .env("TOKENGATE_METRICS_LISTEN", "")
            .envs(self.env.iter().map(|(key, value)| (key, value)));
        command
    }

    /// Runs a CLI command that must succeed and returns its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = self
            .command(args)
            .stdin(Stdio::null())
            .output()
            .expect("run tokengate");
        assert!(
            output.status.success(),
            "tokengate {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8")
    }

    pub fn cli_json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.cli(args)).expect("JSON output")
    }

    /// Every token, as `token list --json` shows them.
    pub fn tokens(&self) -> Vec<Value> {
        self.cli_json(&["token", "list", "--json"])
            .as_array()
            .expect("array")
            .clone()
    }

    /// Every audit record of `action`.
    pub fn audit(&self, action: &str) -> Vec<Value> {
        self.cli_json(&[
            "audit", "list", "--json", "--limit", "100000", "--action", action,
        ])
        .as_array()
        .expect("array")
        .clone()
    }

    /// Starts `tokengate serve` and waits until it listens.
    pub fn serve(&self) -> Server {
        let mut child = self
            .command(&["serve"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tokengate serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (found, address) = mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.strip_prefix("tokengate listening on http://") {
                    let _ = found.send(at.parse::<SocketAddr>().ok());
                }
                let mut log = lines.lock().expect("log");
                log.push_str(&line);
                log.push('\n');
            }
        });
        let address = match address.recv_timeout(Duration::from_secs(60)) {
            Ok(Some(address)) => address,
            _ => {
                let _ = child.kill();
                panic!("serve did not start: {}", log.lock().expect("log"));
            }
        };
        Server {
            child,
            address,
            log,
        }
    }
}

/// A running `tokengate serve`.
pub struct Server {
    pub child: Child,
    pub address: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// What the process wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(&mut self) {
        self.child.kill().expect("kill -9");
        let _ = self.child.wait();
    }

    /// SIGTERM: the graceful stop.
    pub fn terminate(&self) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).expect("pid");
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
    }

    /// Waits for the process to end, at most `limit`.
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client that neither pools for long nor follows redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// A PostgreSQL schema of its own, dropped with the value; `None` (and a `skipped:` line) when
/// `TOKENGATE_TEST_POSTGRES_URL` is not set.
pub struct PostgresSchema {
    server: String,
    name: String,
    pub url: String,
}

impl PostgresSchema {
    pub async fn create(test: &str) -> Option<Self> {
        use sqlx::{AssertSqlSafe, Connection, PgConnection};
        let server = match std::env::var("TOKENGATE_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => {
                eprintln!("skipped: TOKENGATE_TEST_POSTGRES_URL is not set");
                return None;
            }
        };
        let name = format!("tg_{test}_{}", std::process::id());
        let mut connection = PgConnection::connect(&server).await.expect("connect");
        for statement in [
            format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"),
            format!("CREATE SCHEMA \"{name}\""),
        ] {
            sqlx::query(AssertSqlSafe(statement))
                .execute(&mut connection)
                .await
                .expect("schema");
        }
        let separator = if server.contains('?') { '&' } else { '?' };
        let url = format!("{server}{separator}options=-c%20search_path%3D{name}");
        Some(Self { server, name, url })
    }

    pub async fn drop_schema(self) {
        use sqlx::{AssertSqlSafe, Connection, PgConnection};
        let mut connection = PgConnection::connect(&self.server).await.expect("connect");
        sqlx::query(AssertSqlSafe(format!(
            "DROP SCHEMA \"{}\" CASCADE",
            self.name
        )))
        .execute(&mut connection)
        .await
        .expect("drop schema");
    }
}

impl Installation {
    /// `PRAGMA integrity_check` of the SQLite database.
    pub async fn sqlite_integrity(&self) -> String {
        use sqlx::Connection;
        let mut connection = sqlx::SqliteConnection::connect(&self.database_url)
            .await
            .expect("open the SQLite database");
        let (result,): (String,) = sqlx::query_as("PRAGMA integrity_check")
            .fetch_one(&mut connection)
            .await
            .expect("integrity_check");
        result
    }
}
