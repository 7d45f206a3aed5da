//! `tokengate db copy`, run as an operator would: the real binary moving an installation made
//! with the CLI to another database and back; the copies export identically. SQLite → SQLite
//! always; SQLite → PostgreSQL → SQLite when `TOKENGATE_TEST_POSTGRES_URL` is set (in a
//! schema of its own).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
mod common;

use common::{Run, Tokengate};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::process::{Command, Stdio};
use tokengate_store::OpenOptions;
use tokengate_store::transfer::Export;

/// An installation made through the CLI: two users, tokens, a failed-login lock, settings.
fn seeded() -> Tokengate {
    let tokengate = Tokengate::new();
    tokengate.add_user("alice", true, "correct horse");
    tokengate.add_user("bob", false, "battery staple");
    tokengate.create_token("alice", "CI");
    tokengate.create_token("bob", "laptop");
    tokengate.ok(&["settings", "set", "max-validity", "1y"]);
    tokengate.ok(&["settings", "set", "ip-allowlist", "10.0.0.0/8,192.168.1.5"]);
    tokengate.ok(&["user", "disable", "bob"]);
    tokengate
}

fn source_url(tokengate: &Tokengate) -> String {
    format!("sqlite://{}", tokengate.dir.path().join("t.db").display())
}

/// `tokengate db copy ARGS…` with stdin, stdout and stderr not a terminal.
fn db_copy(args: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tokengate"));
    for (key, _) in std::env::vars() {
        if key.starts_with("TOKENGATE_") || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    let output = command
        .args(["db", "copy"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run tokengate");
    Run {
        code: output.status.code().expect("exit code"),
        stdout: String::from_utf8(output.stdout).expect("utf-8"),
        stderr: String::from_utf8(output.stderr).expect("utf-8"),
    }
}

async fn export(url: &str) -> Export {
    let store = tokengate_store::open_backend(url, &OpenOptions::default())
        .await
        .unwrap();
    tokengate_store::transfer::export(store.as_ref())
        .await
        .unwrap()
}

#[tokio::test]
async fn copying_to_a_new_sqlite_database_keeps_everything_and_shows_progress_lines() {
    let source = seeded();
    let target_dir = tempfile::tempdir().unwrap();
    let target = format!("sqlite://{}", target_dir.path().join("copy.db").display());
    let run = db_copy(&["--from", &source_url(&source), "--to", &target]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("copied 2 users, 0 groups, 2 tokens, settings, "),
        "{run:?}"
    );
    for line in [
        "copying users: 2/2",
        "copying tokens: 2/2",
        "copying settings: 1/1",
    ] {
        assert!(run.stderr.contains(line), "plain progress lines: {run:?}");
    }
    assert!(
        !run.stderr.contains('\u{1b}'),
        "no terminal escapes: {run:?}"
    );
    let original = export(&source_url(&source)).await;
    assert_eq!(export(&target).await, original);
    assert!(original.users.iter().any(|user| user.disabled));
    assert!(
        original
            .users
            .iter()
            .all(|user| user.password_hash.is_some())
    );
}

#[tokio::test]
async fn a_non_empty_target_is_refused_unless_forced() {
    let source = seeded();
    let other = seeded();
    other.add_user("carol", false, "another password");
    let refused = db_copy(&["--from", &source_url(&source), "--to", &source_url(&other)]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("not empty"), "{refused:?}");
    assert!(refused.stderr.contains("--force"), "{refused:?}");
    assert!(
        other.user("carol")["name"] == "carol",
        "nothing was touched"
    );

    let forced = db_copy(&[
        "--from",
        &source_url(&source),
        "--to",
        &source_url(&other),
        "--force",
    ]);
    assert_eq!(forced.code, 0, "{forced:?}");
    assert_eq!(
        export(&source_url(&other)).await,
        export(&source_url(&source)).await
    );

    let same = db_copy(&["--from", &source_url(&source), "--to", &source_url(&source)]);
    assert_eq!(same.code, 1, "{same:?}");
    let missing = db_copy(&["--from", &source_url(&source)]);
    assert_eq!(missing.code, 2, "usage error: {missing:?}");
}

/// A schema of its own in the PostgreSQL test database, or `None` when none is configured.
async fn postgres_schema() -> Option<(String, String)> {
    let server = match std::env::var("TOKENGATE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            eprintln!("skipped: TOKENGATE_TEST_POSTGRES_URL is not set");
            return None;
        }
    };
    let name = format!("tg_cli_copy_{}", std::process::id());
    let mut connection = PgConnection::connect(&server).await.unwrap();
    for statement in [
        format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"),
        format!("CREATE SCHEMA \"{name}\""),
    ] {
        sqlx::query(AssertSqlSafe(statement))
            .execute(&mut connection)
            .await
            .unwrap();
    }
    let separator = if server.contains('?') { '&' } else { '?' };
    let url = format!("{server}{separator}options=-c%20search_path%3D{name}");
    Some((url, name))
}

#[tokio::test]
async fn sqlite_to_postgres_and_back_gives_identical_exports() {
    let Some((postgres, schema)) = postgres_schema().await else {
        return;
    };
    let source = seeded();
    let back_dir = tempfile::tempdir().unwrap();
    let back = format!("sqlite://{}", back_dir.path().join("back.db").display());
    let there = db_copy(&[
        "--from",
        &source_url(&source),
        "--to",
        &postgres,
        "--sessions",
    ]);
    assert_eq!(there.code, 0, "{there:?}");
    let home = db_copy(&["--from", &postgres, "--to", &back, "--sessions"]);
    assert_eq!(home.code, 0, "{home:?}");
    let original = export(&source_url(&source)).await;
    assert_eq!(export(&postgres).await, original, "on PostgreSQL");
    assert_eq!(export(&back).await, original, "back on SQLite");

    let server = std::env::var("TOKENGATE_TEST_POSTGRES_URL").unwrap();
    let mut connection = PgConnection::connect(&server).await.unwrap();
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
        .execute(&mut connection)
        .await
        .unwrap();
}
