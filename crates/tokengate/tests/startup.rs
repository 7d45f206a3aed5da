//! The real binary as an operator starts it: a configuration error is one line naming the key,
//! exit status 2, and nothing written (no database file, no first admin); the database, its WAL
//! and shared-memory files are 0600 whatever the umask; a user disabled by the CLI loses the web
//! session a running `serve` gave them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The binary in `dir` with `umask`, a clean environment and a database at `dir/t.db`.
fn tokengate(dir: &Path, umask: &str, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_tokengate"))
        .args(args)
        .current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("TOKENGATE_") || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    command.env(
        "TOKENGATE_DATABASE_URL",
        format!("sqlite://{}", dir.join("t.db").display()),
    );
    for (key, value) in env {
        command.env(key, value);
    }
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs `serve` with `config` (a TOML file) and `env`; it must refuse at once.
fn refused_start(config: &str, env_of_case: &[(&str, &str)]) -> (i32, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tokengate.toml"), config).unwrap();
    // The case's own variables come last, so they win.
    let mut env = vec![
        ("TOKENGATE_LISTEN", "127.0.0.1:0"),
        ("TOKENGATE_METRICS_LISTEN", ""),
    ];
    env.extend_from_slice(env_of_case);
    let mut child = tokengate(dir.path(), "022", &["serve"], &env)
        .spawn()
        .unwrap();
    // A configuration that is wrongly accepted would serve for ever: give up after a while.
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(20) {
            let _ = child.kill();
            panic!("serve accepted {config:?} {env_of_case:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    (output.status.code().unwrap(), stderr, dir)
}

/// A bad start: the configuration file, the environment, and the key the error must name.
type BadStart<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

#[test]
fn configuration_errors_are_one_line_naming_the_key_exit_2_and_write_nothing() {
    let cases: &[BadStart] = &[
        (
            "[gateway]\nupstream = \"https://api.example.com/?debug=1\"\n",
            &[],
            "gateway.upstream",
        ),
        (
            "[[routes]]\nname = \"jira\"\nupstream = \"http://127.0.0.1:9\"\nca_file = \"ca.pem\"\n",
            &[],
            "routes[0]",
        ),
        (
            "[gateway]\nupstream = \"ftp://127.0.0.1:21\"\n",
            &[],
            "gateway.upstream",
        ),
        (
            "[gateway]\nupstream = \"not a url\"\n",
            &[],
            "gateway.upstream",
        ),
        (
            "[gateway]\nupstream = \"http://\"\n",
            &[],
            "gateway.upstream",
        ),
        (
            "",
            &[("TOKENGATE_GATEWAY__UPSTREAM", "ws://x:8443")],
            "gateway.upstream",
        ),
        ("", &[("TOKENGATE_LISTEN", "nowhere")], "listen"),
        ("", &[("TOKENGATE_LISTEN", "127.0.0.1:99999")], "listen"),
        (
            "",
            &[("TOKENGATE_METRICS_LISTEN", "localhost")],
            "metrics_listen",
        ),
        ("public_url = \"tokens.example.com\"\n", &[], "public_url"),
        (
            "[gateway]\nidentity_header = \"X Authenticated\"\n",
            &[],
            "gateway.identity_header",
        ),
        ("[gateway]\nupstreem = \"http://x\"\n", &[], "upstreem"),
        ("colour = \"blue\"\n", &[], "colour"),
        (
            "",
            &[("TOKENGATE_SECURITY__MAX_FAILED_LOGINS", "many")],
            "security.max_failed_logins",
        ),
        (
            "",
            &[("TOKENGATE_GATEWAY__TRUSTED_PROXIES", "[\"nope\"]")],
            "gateway.trusted_proxies",
        ),
        ("[security]\nlockout_minutes = -1\n", &[], "lockout_minutes"),
        ("[gateway\nupstream = 1\n", &[], "tokengate.toml"),
        (
            "[tls]\ncert = \"missing.pem\"\nkey = \"missing-key.pem\"\n",
            &[],
            "tls.cert",
        ),
        ("[tls]\ncert = \"only.pem\"\n", &[], "tls"),
        (
            "",
            &[("TOKENGATE_DATABASE_URL", "mysql://app:hunter2@db/tokens")],
            "database_url",
        ),
        (
            "[audit]\nsyslog = \"tcp://siem.example.com\"\n",
            &[],
            "audit.syslog",
        ),
        (
            "[audit]\nsyslog = \"tls://siem:6514\"\n",
            &[],
            "audit.syslog",
        ),
        (
            "[audit]\nsyslog = \"udp://siem:514/logs\"\n",
            &[],
            "audit.syslog",
        ),
        ("[audit]\nsyslog = \"siem:514\"\n", &[], "audit.syslog"),
        (
            "",
            &[("TOKENGATE_AUDIT__SYSLOG", "udp://:514")],
            "audit.syslog",
        ),
    ];
    for (config, env, key) in cases {
        let (code, stderr, dir) = refused_start(config, env);
        assert_eq!(code, 2, "{config:?} {env:?}: {stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|line| !line.is_empty()).collect();
        assert_eq!(lines.len(), 1, "{config:?} {env:?}: {stderr}");
        // Keys set from the environment may be named in its spelling (upper case).
        let named = lines[0].to_ascii_lowercase().replace("__", ".");
        assert!(named.contains(key), "{key} not named: {stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let written: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .filter(|name| name != "tokengate.toml")
            .collect();
        assert!(written.is_empty(), "{config:?}: wrote {written:?}");
    }
}

#[test]
fn every_command_refuses_a_bad_configuration_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tokengate.toml"),
        "[gateway]\nupstream = \"ftp://api.example.com\"\n",
    )
    .unwrap();
    for args in [
        &["user", "list"][..],
        &["settings", "show"],
        &["token", "list"],
    ] {
        let output = tokengate(dir.path(), "022", args, &[]).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains("gateway.upstream"), "{stderr}");
        assert!(!dir.path().join("t.db").exists());
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn companions(database: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| PathBuf::from(format!("{}{suffix}", database.display()));
    [database.to_owned(), with("-wal"), with("-shm")]
}

/// A running `serve`, stopped when dropped.
struct Serving {
    child: Child,
    address: SocketAddr,
}

impl Serving {
    fn start(dir: &Path, umask: &str) -> Self {
        let env = [
            ("TOKENGATE_LISTEN", "127.0.0.1:0"),
            ("TOKENGATE_METRICS_LISTEN", ""),
            ("TOKENGATE_ADMIN_PASSWORD", "admin-password"),
        ];
        let mut child = tokengate(dir, umask, &["serve"], &env).spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let address = loop {
            let line = lines.next().expect("serve ended early").unwrap();
            if let Some(address) = line.strip_prefix("tokengate listening on http://") {
                break address.parse().unwrap();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Self { child, address }
    }

    /// One HTTP/1.1 exchange; the status and the `Set-Cookie` value, if any.
    fn call(&self, request: &str) -> (u16, Option<String>) {
        let mut stream = TcpStream::connect(self.address).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let status = answer[9..12].parse().unwrap();
        let cookie = answer
            .lines()
            .find_map(|line| line.strip_prefix("set-cookie: "))
            .map(|value| value.split(';').next().unwrap().to_owned());
        (status, cookie)
    }

    fn sign_in(&self, user: &str, password: &str) -> String {
        let body = format!("username={user}&password={password}");
        let (status, cookie) = self.call(&format!(
            "POST /tokengate/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
        assert_eq!(status, 303);
        cookie.expect("a session cookie")
    }

    fn me(&self, cookie: &str) -> u16 {
        self.call(&format!(
            "GET /tokengate/api/v1/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: {cookie}\r\n\r\n"
        ))
        .0
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_database_wal_and_shm_are_owner_only_whatever_the_umask() {
    for umask in ["022", "000"] {
        let dir = tempfile::tempdir().unwrap();
        let serving = Serving::start(dir.path(), umask);
        serving.sign_in("admin", "admin-password");
        for file in companions(&dir.path().join("t.db")) {
            assert!(file.exists(), "{}", file.display());
            assert_eq!(mode(&file), 0o600, "umask {umask}: {}", file.display());
        }
        drop(serving);
        let copy = dir.path().join("copy.db");
        let from = format!("sqlite://{}", dir.path().join("t.db").display());
        let to = format!("sqlite://{}", copy.display());
        let output = tokengate(
            dir.path(),
            umask,
            &["db", "copy", "--from", &from, "--to", &to],
            &[],
        )
        .output()
        .unwrap();
        assert!(output.status.success(), "{output:?}");
        for file in companions(&copy).iter().filter(|file| file.exists()) {
            assert_eq!(mode(file), 0o600, "umask {umask}: {}", file.display());
        }
    }
}

#[test]
fn files_an_earlier_version_left_readable_are_narrowed_to_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("t.db");
    let output = tokengate(dir.path(), "022", &["user", "list"], &[])
        .output()
        .unwrap();
    assert!(output.status.success());
    for file in companions(&database).iter().filter(|file| file.exists()) {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let output = tokengate(dir.path(), "000", &["user", "list"], &[])
        .output()
        .unwrap();
    assert!(output.status.success());
    for file in companions(&database).iter().filter(|file| file.exists()) {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
}

#[test]
fn a_user_disabled_by_the_cli_loses_the_session_a_running_server_gave_them() {
    let dir = tempfile::tempdir().unwrap();
    let serving = Serving::start(dir.path(), "022");
    let mut add = tokengate(
        dir.path(),
        "022",
        &["user", "add", "bob", "--password-stdin"],
        &[],
    )
    .spawn()
    .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(b"bob-password\n")
        .unwrap();
    assert!(add.wait().unwrap().success());
    let bob = serving.sign_in("bob", "bob-password");
    let admin = serving.sign_in("admin", "admin-password");
    assert_eq!(serving.me(&bob), 200);
    let output = tokengate(
        dir.path(),
        "022",
        &["user", "set-admin", "bob", "true"],
        &[],
    )
    .output()
    .unwrap();
    assert!(output.status.success());
    assert_eq!(serving.me(&bob), 200, "other changes keep the session");
    let output = tokengate(dir.path(), "022", &["user", "disable", "bob"], &[])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(serving.me(&bob), 401, "the session ended");
    let output = tokengate(dir.path(), "022", &["user", "enable", "bob"], &[])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(serving.me(&bob), 401, "and stays ended");
    assert_eq!(serving.me(&admin), 200, "other users keep theirs");
}
