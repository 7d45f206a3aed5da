//! A CLI command that is refused for any invalid value stores nothing and writes no audit
//! record: users, tokens and settings alike. The local operator is not a user, so the rule
//! that an admin cannot lock themselves out never refuses it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
mod common;

use common::Tokengate;

/// Users, tokens, settings and the audit log, to compare before and after a refusal.
fn everything(tokengate: &Tokengate) -> [serde_json::Value; 4] {
    [
        tokengate.json(&["user", "list", "--json"]),
        tokengate.json(&["token", "list", "--json"]),
        tokengate.json(&["settings", "show", "--json"]),
        tokengate.json(&["audit", "list", "--json", "--limit", "1000"]),
    ]
}

#[test]
fn refused_cli_commands_store_nothing_and_audit_nothing() {
    let tokengate = Tokengate::new();
    tokengate.add_user("alice", true, "alice-password");
    let before = everything(&tokengate);
    let long_password = format!("{}\n", "p".repeat(1025));
    let refusals: [(&[&str], &str); 9] = [
        (&["user", "add", "car ol", "--password-stdin"], "pw\n"),
        (&["user", "add", "carol/x"], ""),
        (&["user", "add", "carol", "--password-stdin"], "\n"),
        (
            &["user", "add", "carol", "--password-stdin"],
            &long_password,
        ),
        (&["user", "add", "alice"], ""),
        (&["token", "create", "--user", "alice", "--name", ""], ""),
        (
            &[
                "token",
                "create",
                "--user",
                "alice",
                "--name",
                "ci",
                "--expires",
                "2001-01-01",
            ],
            "",
        ),
        (&["token", "create", "--user", "nobody", "--name", "ci"], ""),
        (
            &["settings", "set", "ip-allowlist", "10.0.0.0/8,10.0.0.300"],
            "",
        ),
    ];
    for (args, input) in refusals {
        let run = tokengate.run_with_stdin(args, input);
        assert_ne!(run.code, 0, "{args:?}: {run:?}");
        assert_eq!(
            run.stderr.lines().filter(|line| !line.is_empty()).count(),
            1,
            "{args:?}: {run:?}"
        );
        assert_eq!(everything(&tokengate), before, "after {args:?}");
    }
}

#[test]
fn the_local_operator_is_never_refused_by_the_admin_self_lock_out_rule() {
    let tokengate = Tokengate::new();
    tokengate.add_user("admin", true, "admin-password");
    tokengate.ok(&["user", "set-admin", "admin", "false"]);
    tokengate.ok(&["user", "disable", "admin"]);
    let admin = tokengate.user("admin");
    assert_eq!(admin["admin"], false, "{admin}");
    assert_eq!(admin["disabled"], true, "{admin}");
    tokengate.ok(&["user", "set-admin", "admin", "true"]);
    tokengate.ok(&["user", "enable", "admin"]);
    let admin = tokengate.user("admin");
    assert_eq!(admin["admin"], true, "{admin}");
    assert_eq!(admin["disabled"], false, "{admin}");
}
