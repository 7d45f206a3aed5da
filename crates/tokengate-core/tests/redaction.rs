//! Secrets are types: `Debug` of every record that carries a secret (a password hash, a new
//! token, a CSRF token) shows that there is one, never what it is; the JSON answer that must
//! show a new token still shows it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::DateTime;
use tokengate_core::Secret;
use tokengate_core::decision::{AttemptPlan, PasswordAttempt};
use tokengate_core::lockout::LockoutPolicy;
use tokengate_core::model::{TokenRecord, TokenView, User, UserChange};
use tokengate_core::store::SessionRecord;
use tokengate_core::token::{TokenDigest, TokenSecret};

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$SECRETHASHSECRETHASH";

fn alice() -> User {
    User {
        name: "alice".into(),
        display_name: "Alice".into(),
        email: None,
        source: Default::default(),
        groups: Vec::new(),
        directory_groups: Vec::new(),
        admin: false,
        disabled: false,
        password_hash: Some(HASH.into()),
        failed_logins: 2,
        locked_until: None,
    }
}

/// Both `Debug` forms, plain and pretty.
fn printed<T: std::fmt::Debug>(value: &T) -> [String; 2] {
    [format!("{value:?}"), format!("{value:#?}")]
}

fn assert_hidden<T: std::fmt::Debug>(value: &T, secrets: &[&str]) {
    for text in printed(value) {
        for secret in secrets {
            assert!(!text.contains(secret), "{secret:?} shows in {text}");
        }
        assert!(text.contains("<redacted>"), "{text}");
    }
}

#[test]
fn debug_of_a_user_shows_everything_but_the_password_hash() {
    let user = alice();
    assert_hidden(&user, &[HASH, "SECRETHASH", "argon2", "c2FsdHNhbHQ"]);
    let text = format!("{user:?}");
    for shown in ["alice", "Alice", "failed_logins: 2", "password_hash: Some"] {
        assert!(text.contains(shown), "{shown} missing from {text}");
    }
    let without = User {
        password_hash: None,
        ..alice()
    };
    assert!(format!("{without:?}").contains("password_hash: None"));
}

#[test]
fn debug_of_a_user_change_shows_no_password_hash() {
    let change = UserChange {
        display_name: Some("Alice B.".into()),
        password_hash: Some(HASH.into()),
        ..UserChange::default()
    };
    assert_hidden(&change, &[HASH, "SECRETHASH", "argon2"]);
    assert!(format!("{change:?}").contains("Alice B."));
}

fn view() -> TokenView {
    let record = TokenRecord {
        restrictions: Default::default(),
        id: "tok-1".into(),
        owner: "alice".into(),
        name: "CI".into(),
        digest: TokenDigest([7; 32]),
        hint: "tg_…abcd".into(),
        created_at: DateTime::UNIX_EPOCH,
        created_by: "alice".into(),
        expires_at: None,
        last_used_at: None,
        last_used_ip: None,
        made_by: None,
        rotated_at: None,
        rotated_from: None,
    };
    TokenView::from(&record)
}

#[test]
fn a_new_tokens_view_shows_the_secret_in_json_and_never_in_debug() {
    let secret = TokenSecret::generate().unwrap();
    let shown = view().with_secret(&secret);
    assert_hidden(&shown, &[secret.expose(), &secret.expose()[3..]]);
    let json = serde_json::to_value(&shown).unwrap();
    assert_eq!(json["token"], secret.expose());
    let back: TokenView = serde_json::from_value(json).unwrap();
    assert_eq!(back, shown);
}

#[test]
fn a_listed_tokens_view_has_no_token_member() {
    let json = serde_json::to_value(view()).unwrap();
    assert!(json.get("token").is_none(), "{json}");
    assert_eq!(json["hint"], "tg_…abcd");
}

#[test]
fn debug_of_a_stored_session_shows_no_csrf_token() {
    let session = SessionRecord {
        digest: TokenDigest::of("SESSIONIDSESSIONIDSESSIONID"),
        user: "alice".into(),
        csrf_token: "CSRFSECRETCSRFSECRET".into(),
        created_at: DateTime::UNIX_EPOCH,
        last_seen_at: DateTime::UNIX_EPOCH,
        expires_at: DateTime::UNIX_EPOCH,
    };
    assert_hidden(&session, &["CSRFSECRET", "SESSIONID"]);
    assert_eq!(session.csrf_token.expose(), "CSRFSECRETCSRFSECRET");
}

#[test]
fn debug_of_a_token_secret_is_redacted() {
    let secret = TokenSecret::generate().unwrap();
    for text in printed(&secret) {
        assert!(!text.contains(&secret.expose()[3..]), "{text}");
    }
    for text in printed(&secret.shown_once()) {
        assert!(!text.contains(&secret.expose()[3..]), "{text}");
    }
}

#[test]
fn debug_of_a_password_check_shows_neither_the_password_nor_the_stored_hash() {
    let attempt = PasswordAttempt::sign_in(
        "alice",
        Secret::new("alice-typed-this-password"),
        "192.0.2.7".parse().unwrap(),
        LockoutPolicy::default(),
    );
    assert_hidden(&attempt, &["alice-typed-this-password"]);
    let AttemptPlan::Hash(job) = attempt.plan(Some(&alice()), false, DateTime::UNIX_EPOCH) else {
        panic!("a password of an open account is hashed");
    };
    assert_hidden(
        &job,
        &["alice-typed-this-password", HASH, "SECRETHASH", "argon2"],
    );
    assert!(format!("{job:?}").contains("192.0.2.7"));
    assert_eq!(
        job.stored_hash.as_deref(),
        Some(HASH),
        "the hash is still there to check"
    );
}
