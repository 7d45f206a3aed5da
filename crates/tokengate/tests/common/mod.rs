//! Runs the real `tokengate` binary against a database of its own in a temporary directory.

use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};
use tempfile::TempDir;

/// One installation: a temporary directory holding the database.
pub struct Tokengate {
    pub dir: TempDir,
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Tokengate {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tokengate"));
        for (key, _) in std::env::vars() {
            if key.starts_with("TOKENGATE_") || key == "RUST_LOG" {
                command.env_remove(key);
            }
        }
        let database = self.dir.path().join("t.db");
        command
            .args(args)
            .current_dir(self.dir.path())
            .env(
                "TOKENGATE_DATABASE_URL",
                format!("sqlite://{}", database.display()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    pub fn run_with_stdin(&self, args: &[&str], input: &str) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .spawn()
            .expect("start tokengate");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        let output = child.wait_with_output().expect("run tokengate");
        Run {
            code: output.status.code().expect("exit code"),
            stdout: String::from_utf8(output.stdout).expect("utf-8 stdout"),
            stderr: String::from_utf8(output.stderr).expect("utf-8 stderr"),
        }
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, "")
    }

    /// Runs a command that must succeed.
    pub fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert_eq!(run.code, 0, "tokengate {args:?}: {run:?}");
        run
    }

    /// Runs a `--json` command that must succeed and returns its output.
    pub fn json(&self, args: &[&str]) -> Value {
        let run = self.ok(args);
        serde_json::from_str(&run.stdout).expect("JSON output")
    }

    pub fn add_user(&self, name: &str, admin: bool, password: &str) {
        let mut args = vec!["user", "add", name, "--password-stdin"];
        if admin {
            args.push("--admin");
        }
        let run = self.run_with_stdin(&args, &format!("{password}\n"));
        assert_eq!(run.code, 0, "{run:?}");
    }

    pub fn create_token(&self, user: &str, name: &str) -> String {
        let run = self.ok(&["token", "create", "--user", user, "--name", name]);
        run.stdout.trim().to_owned()
    }

    pub fn token_ids(&self) -> Vec<String> {
        self.json(&["token", "list", "--json"])
            .as_array()
            .expect("array")
            .iter()
            .map(|token| token["id"].as_str().expect("id").to_owned())
            .collect()
    }

    pub fn user(&self, name: &str) -> Value {
        self.json(&["user", "list", "--json"])
            .as_array()
            .expect("array")
            .iter()
            .find(|user| user["name"] == name)
            .cloned()
            .expect("user listed")
    }

    pub fn audit(&self) -> Vec<Value> {
        self.json(&["audit", "list", "--json", "--limit", "1000"])
            .as_array()
            .expect("array")
            .clone()
    }
}
