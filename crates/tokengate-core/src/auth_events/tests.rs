use super::*;
use crate::decision::{Identity, Outcome};
use crate::model::User;

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2027-03-01T12:00:00Z")
        .expect("instant")
        .with_timezone(&Utc)
}

const ALL_ON: AuthEvents = AuthEvents {
    success: true,
    failure: true,
    denied: true,
};

fn client() -> IpAddr {
    "10.1.2.3".parse().expect("address")
}

fn refused(reason: Reason, steps: Vec<Step>) -> Decision {
    Decision {
        client: client(),
        outcome: Outcome::Denied {
            reason,
            retry_after_seconds: None,
        },
        steps,
        effects: Vec::new(),
    }
}

fn allowed(via: Via, token: Option<&str>) -> Decision {
    Decision {
        client: client(),
        outcome: Outcome::Allowed(Identity::of(
            &User::named("alice"),
            via,
            token.map(str::to_owned),
        )),
        steps: Vec::new(),
        effects: Vec::new(),
    }
}

fn reach() -> Reach<'static> {
    Reach {
        writes: false,
        method: Some("POST"),
        path: Some("/api/issues"),
        route: Some("jira"),
    }
}

fn event(decision: &Decision, switches: AuthEvents) -> Option<AuthEvent> {
    AuthEvent::of(decision, &reach(), switches, at(), || Some("req-1".into()))
}

fn basic(user: &str) -> Step {
    Step::Basic {
        user: user.into(),
        token_format: false,
    }
}

#[test]
fn refused_credentials_and_the_allow_list_are_failures_permissions_and_restrictions_denials() {
    use AuthEventKind::{Denied, Failed};
    let expected = [
        (Reason::IpNotAllowed, Some(Failed)),
        (Reason::MissingCredentials, None),
        (Reason::MalformedCredentials, Some(Failed)),
        (Reason::TokenExpired, Some(Failed)),
        (Reason::UserDisabled, Some(Denied)),
        (Reason::TokensNotPermitted, Some(Denied)),
        (Reason::InvalidCredentials, Some(Failed)),
        (Reason::PasswordAuthDisabled, Some(Denied)),
        (Reason::UserLocked, Some(Failed)),
        (Reason::TooManyFailures, Some(Failed)),
        (Reason::Unavailable, None),
        (Reason::DirectoryUnavailable, None),
        (Reason::TokenIpNotAllowed, Some(Denied)),
        (Reason::TokenScopeDenied, Some(Denied)),
    ];
    assert_eq!(expected.len(), Reason::ALL.len(), "every reason is sorted");
    for (reason, kind) in expected {
        assert_eq!(
            AuthEventKind::of(&refused(reason, Vec::new())),
            kind,
            "{reason:?}"
        );
    }
}

#[test]
fn token_and_password_requests_succeed_anonymous_and_session_requests_are_no_event() {
    for via in [Via::Token, Via::Password] {
        assert_eq!(
            AuthEventKind::of(&allowed(via, None)),
            Some(AuthEventKind::Succeeded)
        );
    }
    for via in [Via::Anonymous, Via::Session] {
        assert_eq!(AuthEventKind::of(&allowed(via, None)), None);
    }
}

#[test]
fn only_the_kinds_switched_on_become_events() {
    let success = allowed(Via::Token, Some("t1"));
    let failure = refused(Reason::InvalidCredentials, Vec::new());
    let denial = refused(Reason::TokenScopeDenied, Vec::new());
    let only = |success, failure, denied| AuthEvents {
        success,
        failure,
        denied,
    };
    assert!(event(&success, AuthEvents::default()).is_none());
    assert!(event(&failure, AuthEvents::default()).is_none());
    assert!(event(&denial, AuthEvents::default()).is_none());
    assert!(event(&success, only(true, false, false)).is_some());
    assert!(event(&failure, only(true, false, true)).is_none());
    assert!(event(&failure, only(false, true, false)).is_some());
    assert!(event(&denial, only(true, true, false)).is_none());
    assert!(event(&denial, only(false, false, true)).is_some());
}

#[test]
fn a_success_records_the_user_token_via_address_request_and_reach() {
    let record = event(&allowed(Via::Token, Some("t1")), ALL_ON)
        .expect("an event")
        .into_audit(1);
    assert_eq!(record.action, AuditAction::AuthSucceeded);
    assert_eq!(record.actor, "alice");
    assert_eq!(record.user.as_deref(), Some("alice"));
    assert_eq!(record.token_id.as_deref(), Some("t1"));
    assert_eq!(record.ip.as_deref(), Some("10.1.2.3"));
    assert_eq!(record.request_id.as_deref(), Some("req-1"));
    assert_eq!(record.at, at());
    assert_eq!(
        record.details,
        json!({"via": "token", "method": "POST", "path": "/api/issues", "route": "jira", "count": 1})
    );
}

#[test]
fn a_restricted_tokens_refusal_names_owner_token_and_restriction() {
    let steps = vec![
        Step::Bearer { token_format: true },
        Step::TokenFound {
            id: "t9".into(),
            owner: "bob".into(),
        },
        Step::TokenOutside(Outside::Method),
    ];
    let record = event(&refused(Reason::TokenScopeDenied, steps), ALL_ON)
        .expect("an event")
        .into_audit(1);
    assert_eq!(record.action, AuditAction::AuthDenied);
    assert_eq!(
        (record.actor.as_str(), record.user.as_deref()),
        ("bob", Some("bob"))
    );
    assert_eq!(record.token_id.as_deref(), Some("t9"));
    assert_eq!(record.details["reason"], "token_scope_denied");
    assert_eq!(record.details["status"], 403);
    assert_eq!(record.details["restriction"], "access");
    assert_eq!(record.details["via"], "token");
}

#[test]
fn a_password_user_is_named_only_once_the_attempt_was_judged_against_a_stored_user() {
    let wrong_password_of_alice = vec![basic("alice"), Step::PasswordChecked { correct: false }];
    let record = event(
        &refused(Reason::InvalidCredentials, wrong_password_of_alice),
        ALL_ON,
    )
    .expect("an event")
    .into_audit(1);
    assert_eq!(record.user.as_deref(), Some("alice"));
    assert_eq!(record.details["via"], "password");

    // A password typed into the name field must not end up in the log.
    let unknown = vec![
        basic("hunter2-my-password"),
        Step::UnknownUser,
        Step::PasswordChecked { correct: false },
    ];
    let disabled = vec![basic("hunter2-my-password")];
    for (reason, steps) in [
        (Reason::InvalidCredentials, unknown),
        (Reason::PasswordAuthDisabled, disabled),
    ] {
        let record = event(&refused(reason, steps), ALL_ON)
            .expect("an event")
            .into_audit(1);
        assert_eq!(record.user, None, "{reason:?}");
        assert_eq!(record.actor, "anonymous");
        let text = serde_json::to_string(&record.details).expect("json");
        assert!(!text.contains("hunter2"), "{text}");
    }
}

#[test]
fn an_unknown_token_is_a_failure_by_token_without_user_or_token_id() {
    let steps = vec![
        Step::Bearer { token_format: true },
        Step::TokenNotFound { token_format: true },
    ];
    let record = event(&refused(Reason::InvalidCredentials, steps), ALL_ON)
        .expect("an event")
        .into_audit(1);
    assert_eq!(record.action, AuditAction::AuthFailed);
    assert_eq!((record.user, record.token_id), (None, None));
    assert_eq!(record.details["via"], "token");
    assert_eq!(record.details["status"], 401);
}

#[test]
fn long_and_multibyte_paths_are_cut_on_a_character_boundary() {
    let long = format!("/{}", "ä".repeat(400));
    let long_reach = Reach {
        writes: false,
        method: Some("GET"),
        path: Some(&long),
        route: None,
    };
    let decision = allowed(Via::Password, None);
    let event = AuthEvent::of(&decision, &long_reach, ALL_ON, at(), || None).expect("an event");
    let path = event.path.expect("a path");
    assert!(path.len() <= MAX_PATH + '…'.len_utf8(), "{}", path.len());
    assert!(path.ends_with('…'));
    assert!(long.starts_with(path.trim_end_matches('…')));
    let short = AuthEvent::of(&decision, &reach(), ALL_ON, at(), || None).expect("an event");
    assert_eq!(short.path.as_deref(), Some("/api/issues"));
    assert_eq!(short.into_audit(1).request_id, None);
}

#[test]
fn events_differing_only_in_time_and_request_id_share_a_key_and_others_do_not() {
    let decision = allowed(Via::Token, Some("t1"));
    let first = event(&decision, ALL_ON).expect("an event");
    let mut later = AuthEvent::of(
        &decision,
        &reach(),
        ALL_ON,
        at() + chrono::Duration::milliseconds(300),
        || Some("req-2".into()),
    )
    .expect("an event");
    assert_eq!(first.key(), later.key());
    later.path = Some("/api/other".into());
    assert_ne!(first.key(), later.key());
    let other_address = Decision {
        client: "10.9.9.9".parse().expect("address"),
        ..decision.clone()
    };
    assert_ne!(
        first.key(),
        event(&other_address, ALL_ON).expect("an event").key()
    );
    let record = first.into_audit(7);
    assert_eq!(record.details["count"], 7);
    assert_eq!(record.request_id.as_deref(), Some("req-1"));
}
