//! A throwaway PostgreSQL cluster that a test may stop and start again: `initdb` in a
//! temporary folder (as the `postgres` user when running as root, since initdb refuses root),
//! trust authentication, loopback only, a free port. Needs the server binaries: the folder in
//! `TOKENGATE_TEST_PG_BIN`, else `/usr/lib/postgresql/<version>/bin`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

fn server_binaries() -> Option<PathBuf> {
    if let Ok(bin) = std::env::var("TOKENGATE_TEST_PG_BIN") {
        return Some(PathBuf::from(bin));
    }
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    candidates.sort();
    candidates.pop()
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}

fn checked(what: &str, output: std::io::Result<Output>) {
    let output = output.unwrap_or_else(|error| panic!("{what}: {error}"));
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Cluster {
    /// Creates and starts a cluster with a database `tokengate`; `None` (with the reason) when
    /// the server binaries are not installed.
    pub fn start_new() -> Option<Self> {
        let Some(bin) = server_binaries() else {
            eprintln!(
                "skipped: no PostgreSQL server binaries (set TOKENGATE_TEST_PG_BIN or install \
                 Debian's postgresql)"
            );
            return None;
        };
        let as_postgres = running_as_root();
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Self {
            bin,
            dir,
            port,
            as_postgres,
        };
        let home = cluster.home();
        let mut install = Command::new("install");
        install.arg("-d");
        if as_postgres {
            install.args(["-o", "postgres", "-g", "postgres"]);
        }
        checked("install -d", install.arg(&home).output());
        let mut initdb = cluster.owner_command("initdb");
        initdb
            .args(["-U", "app", "--auth=trust", "--no-sync", "-D"])
            .arg(home.join("data"));
        checked("initdb", initdb.output());
        cluster.start();
        checked(
            "createdb",
            Command::new(cluster.bin.join("createdb"))
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "app"])
                .arg("tokengate")
                .output(),
        );
        Some(cluster)
    }

    pub fn url(&self) -> String {
        format!("postgres://app@127.0.0.1:{}/tokengate", self.port)
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("pg")
    }

    /// A server binary, run as the cluster's owner, from a folder the owner may enter.
    fn owner_command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut runuser = Command::new("runuser");
            runuser.args(["-u", "postgres", "--"]).arg(program);
            runuser
        } else {
            Command::new(program)
        };
        command.current_dir(self.dir.path());
        command
    }

    fn pg_ctl(&self, args: &[&str]) -> Command {
        let home = self.home();
        let mut command = self.owner_command("pg_ctl");
        command.arg("-D").arg(home.join("data")).args(args);
        command
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(&self) {
        let home = self.home();
        let options = format!(
            "-h 127.0.0.1 -p {} -k {} -c fsync=off",
            self.port,
            home.display()
        );
        let log = home.join("log");
        checked(
            "pg_ctl start",
            self.pg_ctl(&["-w", "-o", &options, "-l", path_str(&log), "start"])
                .output(),
        );
    }

    /// Stops the server (fast shutdown: open connections are ended).
    pub fn stop(&self) {
        checked(
            "pg_ctl stop",
            self.pg_ctl(&["-w", "-m", "fast", "stop"]).output(),
        );
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["-w", "-m", "immediate", "stop"]).output();
    }
}
