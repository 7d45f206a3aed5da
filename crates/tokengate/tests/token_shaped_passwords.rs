//! A local password may not start with `tg_` (SPEC §1): such a secret is always a token attempt,
//! so the command line refuses it with exit status 1 and creates nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
mod common;

use common::Tokengate;
use serde_json::Value;

#[test]
fn a_password_that_starts_like_a_token_is_refused_with_exit_status_1() {
    let tokengate = Tokengate::new();
    for password in ["tg_", "tg_secret", "tg_AbCdEf0123456789AbCdEf0123456789AbC"] {
        let run = tokengate.run_with_stdin(
            &["user", "add", "alice", "--password-stdin"],
            &format!("{password}\n"),
        );
        assert_eq!(run.code, 1, "{run:?}");
        assert_eq!(
            run.stderr.trim(),
            "tokengate: the password must not start with tg_ (that is how API tokens start)"
        );
        if password.len() > 3 {
            assert!(!run.stderr.contains(password), "the password is not echoed");
        }
    }
    assert_eq!(
        tokengate.json(&["user", "list", "--json"]),
        Value::Array(vec![])
    );
    tokengate.add_user("alice", false, "TG_upper-case-is-a-password");
    assert_eq!(tokengate.user("alice")["name"], "alice");
}
