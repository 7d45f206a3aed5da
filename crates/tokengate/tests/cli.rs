//! The `tokengate` command line, run as a new user would: the real binary against its own
//! SQLite database in a temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Tokengate;
use serde_json::Value;

#[test]
fn users_are_added_with_and_without_admin_rights_and_a_password_from_stdin() {
    let tokengate = Tokengate::new();
    tokengate.add_user("alice", true, "correct horse");
    tokengate.add_user("bob", false, "battery staple");
    let tokens_only = tokengate.ok(&["user", "add", "robot"]);
    assert!(
        tokens_only.stderr.contains("API tokens only"),
        "{tokens_only:?}"
    );

    let alice = tokengate.user("alice");
    assert_eq!(alice["admin"], true);
    assert_eq!(alice["disabled"], false);
    assert_eq!(alice["failed_logins"], 0);
    assert_eq!(alice["locked_until"], Value::Null);
    assert_eq!(tokengate.user("bob")["admin"], false);
    assert_eq!(tokengate.user("robot")["admin"], false);

    tokengate.ok(&["user", "set-admin", "bob", "true"]);
    tokengate.ok(&["user", "disable", "robot"]);
    assert_eq!(tokengate.user("bob")["admin"], true);
    assert_eq!(tokengate.user("robot")["disabled"], true);
    tokengate.ok(&["user", "enable", "robot"]);
    assert_eq!(tokengate.user("robot")["disabled"], false);

    let reset = tokengate.ok(&["user", "reset-failed-logins", "bob"]);
    assert!(reset.stdout.contains("reset"), "{reset:?}");
    let last = &tokengate.audit()[0];
    assert_eq!(last["action"], "user.failed_logins_reset");
    assert_eq!(last["user"], "bob");

    let table = tokengate.ok(&["user", "list"]).stdout;
    assert!(table.starts_with("NAME"), "{table}");
    assert_eq!(table.lines().count(), 4, "{table}");
}

#[test]
fn an_empty_password_from_stdin_is_refused_with_exit_status_1() {
    let tokengate = Tokengate::new();
    let run = tokengate.run_with_stdin(&["user", "add", "alice", "--password-stdin"], "\n");
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr.trim(),
        "tokengate: the password must not be empty"
    );
    assert_eq!(
        tokengate.json(&["user", "list", "--json"]),
        Value::Array(vec![])
    );
}

#[test]
fn unknown_users_and_tokens_are_refused_with_exit_status_1() {
    let tokengate = Tokengate::new();
    for args in [
        &["user", "disable", "ghost"][..],
        &["user", "set-admin", "ghost", "false"],
        &["user", "reset-failed-logins", "ghost"],
        &["token", "create", "--user", "ghost", "--name", "ci"],
        &["token", "delete-all", "--user", "ghost"],
    ] {
        let run = tokengate.run(args);
        assert_eq!(run.code, 1, "{args:?}: {run:?}");
        assert_eq!(run.stderr.trim(), "tokengate: user \"ghost\" not found");
    }
    let run = tokengate.run(&["token", "delete", "no-such-id"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("\"no-such-id\" not found"), "{run:?}");
    let duplicate = Tokengate::new();
    duplicate.ok(&["user", "add", "alice"]);
    let run = duplicate.run(&["user", "add", "alice"]);
    assert_eq!(run.code, 1, "{run:?}");
}

#[test]
fn each_setting_can_be_changed_and_settings_show_reflects_it() {
    let tokengate = Tokengate::new();
    assert_eq!(
        tokengate.json(&["settings", "show", "--json"]),
        serde_json::json!({"max_validity": "never", "ip_allowlist": [],
            "password_auth": "enabled", "admins_only": false,
            "permissions": {"use_tokens": ["*"], "create_own_tokens": ["*"], "create_tokens_for_others": []},
            "audit_auth_events": {"success": false, "failure": false, "denied": false}})
    );
    tokengate.ok(&["settings", "set", "max-validity", "6m"]);
    tokengate.ok(&["settings", "set", "ip-allowlist", "10.0.0.0/8,192.168.1.5"]);
    tokengate.ok(&["settings", "set", "password-auth", "disabled"]);
    tokengate.ok(&["settings", "set", "admins-only", "true"]);
    tokengate.ok(&["settings", "set", "use-tokens", "api users, devs"]);
    tokengate.ok(&["settings", "set", "create-own-tokens", ""]);
    tokengate.ok(&["settings", "set", "create-tokens-for-others", "*"]);
    let said = tokengate.ok(&["settings", "set", "audit-auth-events", "failure, denied"]);
    assert!(
        said.stdout
            .contains("audit-auth-events is now failure, denied."),
        "{said:?}"
    );
    assert_eq!(
        tokengate.json(&["settings", "show", "--json"]),
        serde_json::json!({"max_validity": "6m", "ip_allowlist": ["10.0.0.0/8", "192.168.1.5"],
            "password_auth": "disabled", "admins_only": true,
            "permissions": {"use_tokens": ["api users", "devs"], "create_own_tokens": [],
                "create_tokens_for_others": ["*"]},
            "audit_auth_events": {"success": false, "failure": true, "denied": true}})
    );
    let shown = tokengate.ok(&["settings", "show"]).stdout;
    assert!(shown.contains("audit-auth-events"), "{shown}");
    tokengate.ok(&["settings", "set", "audit-auth-events", "none"]);
    assert_eq!(
        tokengate.json(&["settings", "show", "--json"])["audit_auth_events"],
        serde_json::json!({"success": false, "failure": false, "denied": false})
    );
    let refused = tokengate.run(&["settings", "set", "use-tokens", "a;b"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("\"a;b\""), "{refused:?}");
    let shown = tokengate.ok(&["settings", "show"]).stdout;
    assert!(shown.contains("10.0.0.0/8, 192.168.1.5"), "{shown}");

    tokengate.ok(&["settings", "set", "ip-allowlist", ""]);
    assert_eq!(
        tokengate.json(&["settings", "show", "--json"])["ip_allowlist"],
        serde_json::json!([])
    );
}

#[test]
fn local_groups_are_managed_from_the_command_line_and_audited_as_cli() {
    let tokengate = Tokengate::new();
    tokengate.ok(&["user", "add", "alice"]);
    tokengate.ok(&["group", "add", "api users"]);
    tokengate.ok(&["group", "add-member", "api users", "alice"]);
    let listed = tokengate.json(&["group", "list", "--json"]);
    assert_eq!(
        listed,
        serde_json::json!([{"name": "api users", "source": "local", "members": ["alice"]}])
    );
    let users = tokengate.json(&["user", "list", "--json"]);
    assert_eq!(users[0]["groups"], serde_json::json!(["api users"]));
    for (args, reason) in [
        (&["group", "add", "api users"][..], "already exists"),
        (&["group", "add", "a,b"], "not a group name"),
        (&["group", "add-member", "api users", "ghost"], "not found"),
        (&["group", "add-member", "nope", "alice"], "not found"),
        (&["group", "delete", "nope"], "not found"),
    ] {
        let run = tokengate.run(args);
        assert_eq!(run.code, 1, "{args:?}: {run:?}");
        assert!(run.stderr.contains(reason), "{args:?}: {run:?}");
    }
    tokengate.ok(&["group", "remove-member", "api users", "alice"]);
    tokengate.ok(&["group", "delete", "api users"]);
    assert_eq!(
        tokengate.json(&["group", "list", "--json"]),
        serde_json::json!([])
    );
    let audit = tokengate.json(&["audit", "list", "--json", "--limit", "10"]);
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|record| record["actor"] == "cli")
        .map(|record| record["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions[..4],
        [
            "group.deleted",
            "group.changed",
            "group.changed",
            "group.created"
        ]
    );
}

#[test]
fn tokens_are_restricted_at_creation_and_later_and_revoked_before_a_time() {
    let tokengate = Tokengate::new();
    tokengate.ok(&["user", "add", "alice"]);
    let created = tokengate.json(&[
        "token",
        "create",
        "--user",
        "alice",
        "--name",
        "ci",
        "--access",
        "read",
        "--paths",
        "/rest/api,/status",
        "--ip-allowlist",
        "10.0.0.0/8",
        "--json",
    ]);
    assert_eq!(created["access"], "read");
    assert_eq!(
        created["paths"],
        serde_json::json!(["/rest/api", "/status"])
    );
    assert_eq!(created["ip_allowlist"], serde_json::json!(["10.0.0.0/8"]));
    let id = created["id"].as_str().unwrap();
    let run = tokengate.ok(&["token", "restrict", id, "--routes", "jira"]);
    assert!(run.stdout.contains("write access; routes jira"), "{run:?}");
    let bad = tokengate.run(&["token", "restrict", id, "--paths", "no-slash"]);
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(bad.stderr.contains("no-slash"), "{bad:?}");
    let listed = tokengate.json(&["token", "list", "--json"]);
    assert_eq!(listed[0]["routes"], serde_json::json!(["jira"]));
    let rotated = tokengate.json(&["token", "rotate", id, "--grace", "1h", "--json"]);
    assert_eq!(rotated["id"], id);
    assert_eq!(
        rotated["routes"],
        serde_json::json!(["jira"]),
        "restrictions kept"
    );
    assert_ne!(rotated["token"], created["token"]);
    let bad = tokengate.run(&["token", "rotate", id, "--grace", "8d"]);
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(bad.stderr.contains("invalid grace"), "{bad:?}");
    let ahead = tokengate.run(&["token", "revoke-before", "--before", "2999-01-01"]);
    assert_eq!(ahead.code, 1, "a time in the future: {ahead:?}");
    assert!(ahead.stderr.contains("in the future"), "{ahead:?}");
    let now = chrono::Utc::now().to_rfc3339();
    let run = tokengate.ok(&["token", "revoke-before", "--before", &now]);
    assert!(run.stdout.contains("Deleted 1 token(s)"), "{run:?}");
    assert_eq!(
        tokengate.json(&["token", "list", "--json"]),
        serde_json::json!([])
    );
    let ghost = tokengate.run(&[
        "token",
        "revoke-before",
        "--before",
        "2020-01-01",
        "--user",
        "ghost",
    ]);
    assert_eq!(ghost.code, 1, "{ghost:?}");
}

#[test]
fn an_invalid_allow_list_entry_is_named_and_leaves_the_settings_unchanged() {
    let tokengate = Tokengate::new();
    tokengate.ok(&["settings", "set", "ip-allowlist", "192.168.1.5"]);
    let before = tokengate.json(&["settings", "show", "--json"]);
    let audited = tokengate.audit().len();

    let run = tokengate.run(&["settings", "set", "ip-allowlist", "10.0.0.0/8,10.0.0.300"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("10.0.0.300"), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    assert_eq!(tokengate.json(&["settings", "show", "--json"]), before);
    assert_eq!(tokengate.audit().len(), audited);
}

#[test]
fn a_token_within_the_maximum_validity_is_created_and_its_secret_printed_once() {
    let tokengate = Tokengate::new();
    tokengate.add_user("bob", false, "battery staple");
    tokengate.ok(&["settings", "set", "max-validity", "6m"]);

    let run = tokengate.ok(&[
        "token",
        "create",
        "--user",
        "bob",
        "--name",
        "CI build",
        "--validity",
        "6m",
    ]);
    let secret = run.stdout.trim_end_matches('\n');
    assert!(secret.starts_with("tg_"), "{run:?}");
    assert_eq!(secret.len(), 39, "{run:?}");
    assert_eq!(
        run.stdout.lines().count(),
        1,
        "the secret alone on stdout: {run:?}"
    );
    assert!(
        run.stderr
            .contains("Store this token now; it will not be shown again."),
        "{run:?}"
    );

    let created = tokengate.json(&[
        "token",
        "create",
        "--user",
        "bob",
        "--name",
        "deploy",
        "--validity",
        "30d",
        "--json",
    ]);
    assert_eq!(created["owner"], "bob");
    assert_eq!(created["name"], "deploy");
    assert_eq!(created["created_by"], "cli");
    assert!(
        created["token"]
            .as_str()
            .expect("secret")
            .starts_with("tg_")
    );
    assert!(created["expires_at"].is_string());
    let listed = tokengate.json(&["token", "list", "--user", "bob", "--json"]);
    let same = listed
        .as_array()
        .expect("array")
        .iter()
        .find(|token| token["id"] == created["id"])
        .expect("created token listed");
    assert_eq!(same["expires_at"], created["expires_at"]);
    assert_eq!(same["created_at"], created["created_at"]);
}

#[test]
fn a_token_above_the_maximum_validity_is_refused_and_nothing_is_stored() {
    let tokengate = Tokengate::new();
    tokengate.add_user("bob", false, "battery staple");
    tokengate.ok(&["settings", "set", "max-validity", "6m"]);
    tokengate.create_token("bob", "kept");
    let before = tokengate.token_ids();

    for validity in [
        &["--validity", "1y"][..],
        &["--validity", "never"],
        &["--expires", "2999-01-01"],
    ] {
        let mut args = vec!["token", "create", "--user", "bob", "--name", "too long"];
        args.extend_from_slice(validity);
        let run = tokengate.run(&args);
        assert_eq!(run.code, 1, "{validity:?}: {run:?}");
        assert_eq!(
            run.stderr.trim(),
            "tokengate: the requested validity exceeds the maximum of 6m"
        );
        assert!(run.stdout.is_empty(), "{run:?}");
    }
    assert_eq!(tokengate.token_ids(), before);
}

#[test]
fn token_list_never_shows_secrets() {
    let tokengate = Tokengate::new();
    tokengate.add_user("bob", false, "battery staple");
    let secret = tokengate.create_token("bob", "CI build");

    let table = tokengate.ok(&["token", "list"]).stdout;
    let json = tokengate.ok(&["token", "list", "--json"]).stdout;
    let by_user = tokengate
        .ok(&["token", "list", "--user", "bob", "--json"])
        .stdout;
    for output in [&table, &json, &by_user] {
        assert!(!output.contains(&secret), "{output}");
        assert!(
            output.contains(&secret[secret.len() - 4..]),
            "hint shown: {output}"
        );
    }
    assert!(table.contains("CI build"), "{table}");
    let listed: Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(listed[0]["token"], Value::Null);
    assert_eq!(
        listed[0]["hint"],
        format!("tg_…{}", &secret[secret.len() - 4..])
    );
}

#[test]
fn tokens_can_be_deleted_one_by_one_or_all_at_once() {
    let tokengate = Tokengate::new();
    tokengate.add_user("alice", true, "correct horse");
    tokengate.add_user("bob", false, "battery staple");
    tokengate.create_token("alice", "laptop");
    for name in ["one", "two", "three"] {
        tokengate.create_token("bob", name);
    }
    let alice_token = tokengate.json(&["token", "list", "--user", "alice", "--json"])[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    tokengate.ok(&["token", "delete", &alice_token]);
    assert!(!tokengate.token_ids().contains(&alice_token));
    assert_eq!(tokengate.run(&["token", "delete", &alice_token]).code, 1);

    let run = tokengate.ok(&["token", "delete-all", "--user", "bob"]);
    assert!(run.stdout.contains("Deleted 3 tokens"), "{run:?}");
    assert!(tokengate.token_ids().is_empty());
}

#[test]
fn every_change_is_audited_with_actor_cli_and_the_subject_user() {
    let tokengate = Tokengate::new();
    tokengate.add_user("alice", true, "correct horse");
    tokengate.add_user("bob", false, "battery staple");
    tokengate.ok(&["user", "set-admin", "bob", "true"]);
    tokengate.ok(&["settings", "set", "max-validity", "1y"]);
    tokengate.create_token("bob", "one");
    tokengate.create_token("bob", "two");
    let id = tokengate.token_ids()[0].clone();
    tokengate.ok(&["token", "delete", &id]);
    tokengate.ok(&["token", "delete-all", "--user", "bob"]);

    let records = tokengate.audit();
    let actions: Vec<&str> = records
        .iter()
        .map(|record| record["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        actions,
        [
            "token.deleted_all",
            "token.deleted",
            "token.created",
            "token.created",
            "settings.changed",
            "user.updated",
            "user.created",
            "user.created",
        ],
        "newest first"
    );
    for record in &records {
        assert_eq!(record["actor"], "cli", "{record}");
        let expected_user = match record["action"].as_str() {
            Some("settings.changed") => Value::Null,
            Some("user.created") => record["user"].clone(),
            _ => Value::from("bob"),
        };
        assert_eq!(record["user"], expected_user, "{record}");
    }
    assert_eq!(records[1]["token_id"], Value::from(id.as_str()));
    assert_eq!(records[0]["details"]["count"], 1);
    assert_eq!(
        records[4]["details"]["max_validity"],
        serde_json::json!({"old": "never", "new": "1y"})
    );
    let audit_text = serde_json::to_string(&records).expect("JSON");
    assert!(!audit_text.contains("correct horse") && !audit_text.contains("battery staple"));
}

#[test]
fn audit_list_filters_by_user_and_action_and_honours_the_limit() {
    let tokengate = Tokengate::new();
    tokengate.add_user("alice", true, "correct horse");
    tokengate.add_user("bob", false, "battery staple");
    tokengate.create_token("bob", "one");
    tokengate.ok(&["settings", "set", "admins-only", "true"]);

    let bob = tokengate.json(&["audit", "list", "--json", "--user", "bob"]);
    assert_eq!(bob.as_array().expect("array").len(), 2);
    let created = tokengate.json(&["audit", "list", "--json", "--action", "user.created"]);
    assert_eq!(created.as_array().expect("array").len(), 2);
    let newest = tokengate.json(&["audit", "list", "--json", "--limit", "1"]);
    assert_eq!(newest[0]["action"], "settings.changed");
    assert_eq!(newest.as_array().expect("array").len(), 1);

    let table = tokengate.ok(&["audit", "list"]).stdout;
    let line = table.lines().nth(1).expect("one record per line");
    for field in ["cli", "settings.changed", "admins_only"] {
        assert!(line.contains(field), "{line}");
    }
}

#[test]
fn explain_allows_a_correct_password_and_denies_a_wrong_one_without_side_effects() {
    let tokengate = Tokengate::new();
    tokengate.add_user("bob", false, "battery staple");

    let allowed = tokengate.run_with_stdin(
        &["explain", "--user", "bob", "--secret-stdin"],
        "battery staple\n",
    );
    assert_eq!(allowed.code, 0, "{allowed:?}");
    assert!(allowed.stdout.starts_with("allowed\n"), "{allowed:?}");
    assert!(allowed.stdout.contains("via: password"), "{allowed:?}");
    assert!(
        allowed.stdout.contains("  - the password is correct"),
        "{allowed:?}"
    );
    assert!(!allowed.stdout.contains("battery staple"));

    for _ in 0..3 {
        let denied = tokengate.run_with_stdin(
            &["explain", "--user", "bob", "--secret-stdin", "--json"],
            "wrong guess\n",
        );
        assert_eq!(denied.code, 1, "{denied:?}");
        let answer: Value = serde_json::from_str(&denied.stdout).expect("JSON");
        assert_eq!(answer["allowed"], false);
        assert_eq!(answer["status"], 401);
        assert_eq!(answer["reason"], "invalid_credentials");
        assert!(answer["steps"].as_array().expect("steps").len() >= 3);
        assert!(!denied.stdout.contains("wrong guess"));
        assert!(!denied.stderr.contains("wrong guess"));
    }
    let bob = tokengate.user("bob");
    assert_eq!(bob["failed_logins"], 0, "explain applies no effects");
    assert_eq!(bob["locked_until"], Value::Null);
}

#[test]
fn explain_without_a_secret_reports_missing_credentials() {
    let tokengate = Tokengate::new();
    tokengate.add_user("bob", false, "battery staple");
    let run = tokengate.run(&["explain", "--user", "bob"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .starts_with("denied: missing_credentials (401)\n"),
        "{run:?}"
    );
    assert!(run.stderr.contains("missing_credentials"), "{run:?}");
}

#[test]
fn explain_follows_the_allow_list_and_accepts_tokens() {
    let tokengate = Tokengate::new();
    tokengate.add_user("bob", false, "battery staple");
    let secret = tokengate.create_token("bob", "ci");
    tokengate.ok(&["settings", "set", "ip-allowlist", "10.0.0.0/8"]);

    let outside =
        tokengate.run_with_stdin(&["explain", "--user", "bob", "--secret-stdin"], &secret);
    assert_eq!(outside.code, 1, "{outside:?}");
    assert!(
        outside.stdout.starts_with("denied: ip_not_allowed (403)"),
        "{outside:?}"
    );

    let inside = tokengate.run_with_stdin(
        &[
            "explain",
            "--user",
            "bob",
            "--ip",
            "10.1.2.3",
            "--secret-stdin",
            "--json",
        ],
        &format!("{secret}\n"),
    );
    assert_eq!(inside.code, 0, "{inside:?}");
    let answer: Value = serde_json::from_str(&inside.stdout).expect("JSON");
    assert_eq!(answer["allowed"], true);
    assert_eq!(answer["user"], "bob");
    assert_eq!(answer["via"], "token");
    assert!(!inside.stdout.contains(&secret));
    let listed = tokengate.json(&["token", "list", "--json"]);
    assert_eq!(
        listed[0]["last_used_at"],
        Value::Null,
        "explain records no use"
    );
}

#[test]
fn usage_errors_exit_with_status_2() {
    let tokengate = Tokengate::new();
    for args in [
        &["token", "create", "--user", "bob"][..],
        &["settings", "set", "max-validity", "7m"],
        &["settings", "set", "admins-only", "yes"],
        &["settings", "set", "audit-auth-events", "success,everything"],
        &["settings", "set", "audit-auth-events", ""],
        &["settings", "set", "password-auth", "maybe"],
        &["user", "set-admin", "bob", "1"],
        &[
            "token",
            "create",
            "--user",
            "bob",
            "--name",
            "x",
            "--validity",
            "forever",
        ],
        &[
            "token",
            "create",
            "--user",
            "bob",
            "--name",
            "x",
            "--validity",
            "6m",
            "--expires",
            "2030-01-01",
        ],
        &["audit", "list", "--action", "token.exploded"],
        &["audit", "list", "--limit", "0"],
        &["explain", "--user", "bob", "--ip", "not-an-address"],
        &["frobnicate"],
    ] {
        let run = tokengate.run(args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stdout.is_empty(), "{args:?}: {run:?}");
    }
    assert!(
        !tokengate.dir.path().join("t.db").exists(),
        "usage errors touch no database"
    );
}

#[test]
fn a_missing_configuration_file_is_a_configuration_error_with_exit_status_2() {
    let tokengate = Tokengate::new();
    let run = tokengate.run(&["--config", "absent.toml", "user", "list"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("absent.toml"), "{run:?}");
    assert!(run.stderr.starts_with("tokengate: "), "{run:?}");
}

#[test]
fn help_documents_the_exit_statuses() {
    let tokengate = Tokengate::new();
    let help = tokengate.ok(&["--help"]).stdout;
    assert!(help.contains("Exit status"), "{help}");
    let explain = tokengate.ok(&["explain", "--help"]).stdout;
    assert!(
        explain.contains("0 when the request would be allowed"),
        "{explain}"
    );
    let add = tokengate.ok(&["user", "add", "--help"]).stdout;
    assert!(add.contains("API tokens"), "{add}");
}

#[test]
fn audit_verify_passes_on_an_untouched_log_and_names_the_first_changed_record() {
    let tg = Tokengate::new();
    tg.add_user("alice", false, "alice-password-1");
    tg.create_token("alice", "ci");
    let run = tg.ok(&["audit", "verify"]);
    assert!(
        run.stdout.contains("the audit log verifies: 2 records"),
        "{run:?}"
    );
    let verdict = tg.json(&["audit", "verify", "--json"]);
    assert_eq!(
        verdict,
        serde_json::json!({"ok": true, "records": 2, "first_bad_id": null})
    );

    let database = tg.dir.path().join("t.db");
    let edit = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); \
             c.execute(\"UPDATE audit SET details = '{}' WHERE id = 2\"); c.commit()",
        ])
        .arg(&database)
        .status();
    let Ok(status) = edit else {
        eprintln!("skipped: python3 is not installed");
        return;
    };
    assert!(status.success());
    let run = tg.run(&["audit", "verify"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("record 2 was altered"),
        "{}",
        run.stderr
    );
}

#[test]
fn audit_export_prints_every_record_oldest_first_as_json_lines_with_their_hashes() {
    let tg = Tokengate::new();
    tg.add_user("alice", false, "alice-password-1");
    tg.create_token("alice", "ci");
    tg.create_token("alice", "cd");
    let run = tg.ok(&["audit", "export"]);
    let records: Vec<Value> = run
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    let actions: Vec<&str> = records
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["user.created", "token.created", "token.created"]);
    assert_eq!(records[1]["prev_hash"], records[0]["hash"]);
    assert_eq!(records[2]["details"]["name"], "cd");
    let none = tg.ok(&["audit", "export", "--since", "2999-01-01"]);
    assert_eq!(none.stdout, "");
    let bad = tg.run(&["audit", "export", "--format", "csv"]);
    assert_eq!(bad.code, 2, "{bad:?}");
}
