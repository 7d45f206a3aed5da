//! `tokengate db backup FILE`: a consistent copy of the SQLite database that another
//! installation reads back whole; owner-only; never over an existing file; PostgreSQL is
//! refused with the tool to use instead.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Tokengate;
use std::os::unix::fs::PermissionsExt;

#[test]
fn a_backup_holds_everything_is_owner_only_and_never_overwrites() {
    let source = Tokengate::new();
    source.add_user("alice", false, "alice-password-1");
    source.create_token("alice", "ci");
    source.ok(&["settings", "set", "max-validity", "1y"]);
    let made = source.ok(&["db", "backup", "backup.db"]);
    assert!(
        made.stdout.starts_with("backed up to backup.db ("),
        "{made:?}"
    );
    let file = source.dir.path().join("backup.db");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode, 0o600,
        "password hashes and token digests are the owner's only"
    );

    let restored = Tokengate::new();
    std::fs::copy(&file, restored.dir.path().join("t.db")).unwrap();
    assert_eq!(restored.token_ids(), source.token_ids());
    assert_eq!(restored.user("alice"), source.user("alice"));
    assert_eq!(restored.audit(), source.audit());
    assert_eq!(
        restored.json(&["settings", "show", "--json"]),
        source.json(&["settings", "show", "--json"])
    );

    let before = std::fs::read(&file).unwrap();
    source.create_token("alice", "later");
    let again = source.run(&["db", "backup", "backup.db"]);
    assert_eq!(again.code, 1, "{again:?}");
    assert!(again.stderr.contains("already exists"), "{again:?}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "the existing file is untouched"
    );
}

#[test]
fn a_postgresql_installation_is_told_to_use_pg_dump() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tokengate"))
        .args(["db", "backup", "out.db"])
        .current_dir(dir.path())
        .env(
            "TOKENGATE_DATABASE_URL",
            "postgres://app:secret-pw@127.0.0.1:1/tokengate",
        )
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("pg_dump"), "{stderr}");
    assert!(!stderr.contains("secret-pw"), "{stderr}");
    assert!(!dir.path().join("out.db").exists());
}
