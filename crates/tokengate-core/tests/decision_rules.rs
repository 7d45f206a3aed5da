//! SPEC §2 rules that the shared vectors do not carry: the per-address failure budget and the
//! order of a password attempt (rule 6), tokens never hashed as passwords (rule 4), the
//! sign-in page on the same attempt path, and failing closed when the store cannot be read
//! (rule 8).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use async_trait::async_trait;
use base64::Engine;
use chrono::{DateTime, Utc};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::Mutex;
use tokengate_core::authenticate::{
    AuthLookup, HashRefused, PasswordAttempts, Turn, authenticate, run_attempt,
};
use tokengate_core::decision::{
    AttemptPlan, Decision, Effect, GatePolicy, PasswordAttempt, RequestFacts,
};
use tokengate_core::lockout::LockoutPolicy;
use tokengate_core::model::{Settings, TokenGrant, User};
use tokengate_core::store::{StoreError, StoreResult};
use tokengate_core::token::{TokenDigest, TokenSecret};
use tokengate_core::{Reason, Secret};

struct Lookup {
    fail: bool,
    locked: bool,
    known: bool,
    /// The `since` of every known-address question asked.
    asked_since: Mutex<Vec<DateTime<Utc>>>,
}

impl Lookup {
    fn new() -> Self {
        Self {
            fail: false,
            locked: false,
            known: false,
            asked_since: Mutex::new(Vec::new()),
        }
    }
}

#[async_trait]
impl AuthLookup for Lookup {
    async fn token_by_digest(&self, _digest: &TokenDigest) -> StoreResult<Option<Arc<TokenGrant>>> {
        if self.fail {
            Err(StoreError::Unavailable("database is down".into()))
        } else {
            Ok(None)
        }
    }
    async fn user(&self, name: &str) -> StoreResult<Option<Arc<User>>> {
        if self.fail {
            return Err(StoreError::Unavailable("database is down".into()));
        }
        Ok(Some(Arc::new(User {
            name: name.to_owned(),
            display_name: name.to_owned(),
            email: None,
            source: Default::default(),
            groups: Vec::new(),
            directory_groups: Vec::new(),
            admin: false,
            disabled: false,
            password_hash: Some(
                "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
            ),
            failed_logins: if self.locked { 5 } else { 0 },
            locked_until: self.locked.then(|| now() + chrono::TimeDelta::minutes(10)),
        })))
    }
    async fn is_known_address(
        &self,
        _user: &str,
        _address: IpAddr,
        since: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.asked_since.lock().unwrap().push(since);
        Ok(self.known)
    }
}

/// Password machinery that records what it is asked, in order, and answers `verdict`.
#[derive(Default)]
struct Recorder {
    throttled: Option<u64>,
    verdict: bool,
    events: Mutex<Vec<String>>,
}

impl Recorder {
    fn note(&self, event: &str) {
        self.events.lock().unwrap().push(event.to_owned());
    }
    fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }
    fn hashes(&self) -> usize {
        self.events()
            .iter()
            .filter(|event| *event == "hash")
            .count()
    }
}

#[async_trait]
impl PasswordAttempts for Recorder {
    fn take_failure_unit(&self, _client: IpAddr) -> Result<(), u64> {
        self.note("take");
        self.throttled.map_or(Ok(()), Err)
    }
    fn give_back_failure_unit(&self, _client: IpAddr) {
        self.note("give back");
    }
    async fn turn(&self, _user: &str) -> Turn {
        self.note("turn");
        Turn::none()
    }
    async fn hash(
        &self,
        _client: IpAddr,
        _stored: Option<String>,
        _password: Secret,
    ) -> Result<bool, HashRefused> {
        self.note("hash");
        Ok(self.verdict)
    }
    async fn settle(&self, _decision: &mut Decision, _now: DateTime<Utc>) {
        self.note("settle");
    }
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2027-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

async fn judge(lookup: &Lookup, header: &str, attempts: &Recorder) -> Decision {
    let facts = RequestFacts {
        reach: Default::default(),
        peer: "203.0.113.5".parse().unwrap(),
        forwarded_for: None,
        authorization: Some(header.as_bytes()),
    };
    authenticate(
        &facts,
        &Settings::default(),
        &GatePolicy::default(),
        lookup,
        attempts,
        now(),
    )
    .await
}

fn basic(pair: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

#[tokio::test]
async fn rule_8_store_unreachable_is_unavailable_and_never_allowed() {
    let lookup = Lookup {
        fail: true,
        ..Lookup::new()
    };
    let token = TokenSecret::generate().unwrap();
    for header in [
        format!("Bearer {}", token.expose()),
        basic("alice:pw"),
        basic(&format!("alice:{}", token.expose())),
    ] {
        let attempts = Recorder::default();
        let decision = judge(&lookup, &header, &attempts).await;
        assert_eq!(decision.reason(), Some(Reason::Unavailable));
        assert_eq!(decision.status(), 503);
        assert!(decision.effects.is_empty());
        assert_eq!(attempts.hashes(), 0);
    }
}

#[tokio::test]
async fn rule_6_an_address_over_its_failure_budget_gets_429_before_any_hash() {
    let lookup = Lookup::new();
    let attempts = Recorder {
        throttled: Some(42),
        ..Recorder::default()
    };
    let decision = judge(&lookup, &basic("alice:guess"), &attempts).await;
    assert_eq!(decision.reason(), Some(Reason::TooManyFailures));
    assert_eq!(decision.status(), 429);
    let unknown = judge(&lookup, &basic("nobody:guess"), &attempts).await;
    assert_eq!(unknown.status(), 429, "unknown users alike");
    let bearer = judge(
        &lookup,
        &format!("Bearer {}", TokenSecret::generate().unwrap().expose()),
        &attempts,
    )
    .await;
    assert_eq!(bearer.status(), 429, "guessed tokens alike");
    assert!(matches!(
        bearer.outcome,
        tokengate_core::decision::Outcome::Denied {
            retry_after_seconds: Some(42),
            ..
        }
    ));
    assert_eq!(attempts.hashes(), 0, "no password hash computed");
    assert!(
        !attempts.events().contains(&"turn".to_owned()),
        "a throttled attempt does not even wait for the user's turn"
    );
}

#[tokio::test]
async fn rule_6_a_password_attempt_takes_its_unit_and_turn_before_the_hash_and_settles_inside_the_turn()
 {
    let lookup = Lookup::new();
    let wrong = Recorder::default();
    let decision = judge(&lookup, &basic("alice:guess"), &wrong).await;
    assert_eq!(decision.reason(), Some(Reason::InvalidCredentials));
    assert_eq!(wrong.events(), ["take", "turn", "hash", "settle"]);
    let right = Recorder {
        verdict: true,
        ..Recorder::default()
    };
    let decision = judge(&lookup, &basic("alice:right"), &right).await;
    assert!(decision.is_allowed());
    assert_eq!(
        right.events(),
        ["take", "turn", "hash", "settle", "give back"],
        "a success is not a failure: its unit comes back"
    );
}

#[tokio::test]
async fn rule_6_a_locked_user_is_refused_without_a_hash_unless_the_address_is_known() {
    let stranger = Lookup {
        locked: true,
        ..Lookup::new()
    };
    let attempts = Recorder {
        verdict: true,
        ..Recorder::default()
    };
    let decision = judge(&stranger, &basic("alice:right"), &attempts).await;
    assert_eq!(decision.reason(), Some(Reason::UserLocked));
    assert_eq!(attempts.hashes(), 0);
    assert!(attempts.events().contains(&"give back".to_owned()));
    assert_eq!(
        stranger.asked_since.lock().unwrap().as_slice(),
        [now() - chrono::TimeDelta::days(30)],
        "only addresses seen in the last 30 days count"
    );
    let known = Lookup {
        locked: true,
        known: true,
        ..Lookup::new()
    };
    let decision = judge(&known, &basic("alice:right"), &attempts).await;
    assert!(decision.is_allowed());
    assert!(
        !decision
            .effects
            .iter()
            .any(|effect| matches!(effect, Effect::ResetFailedLogins { .. })),
        "the lock stays: {:?}",
        decision.effects
    );
    assert!(
        decision.effects.iter().any(
            |effect| matches!(effect, Effect::RememberAddress { user, .. } if user == "alice")
        )
    );
}

#[tokio::test]
async fn rule_4_tg_secrets_under_basic_are_never_hashed_nor_counted_but_spend_the_address_budget() {
    let lookup = Lookup::new();
    let valid = TokenSecret::generate().unwrap().expose().to_owned();
    let changed = if valid.ends_with('x') { 'y' } else { 'x' };
    let bad_checksum = format!("{}{changed}", &valid[..valid.len() - 1]);
    for secret in [
        valid.clone(),
        bad_checksum,
        "tg_".to_owned(),
        "tg_short".to_owned(),
    ] {
        for user in ["alice", "__token__", "nobody"] {
            let attempts = Recorder::default();
            let decision = judge(&lookup, &basic(&format!("{user}:{secret}")), &attempts).await;
            assert_eq!(
                decision.reason(),
                Some(Reason::InvalidCredentials),
                "{user}"
            );
            assert!(decision.effects.is_empty(), "{user}: nothing counted");
            assert_eq!(attempts.events(), ["take"], "{user}: one unit, no hash");
        }
    }
}

#[tokio::test]
async fn the_sign_in_page_follows_the_same_attempt_rules_and_never_hashes_a_tg_secret() {
    let lookup = Lookup::new();
    let attempts = Recorder::default();
    let client: IpAddr = "198.51.100.7".parse().unwrap();
    let attempt = PasswordAttempt::sign_in(
        "alice",
        Secret::new("tg_pasted-token"),
        client,
        LockoutPolicy::default(),
    );
    let decision = run_attempt(attempt, &lookup, &attempts, now()).await;
    assert_eq!(decision.reason(), Some(Reason::InvalidCredentials));
    assert_eq!(attempts.hashes(), 0);
    assert!(decision.effects.is_empty());
    let locked = Lookup {
        locked: true,
        ..Lookup::new()
    };
    let attempt = PasswordAttempt::sign_in(
        "alice",
        Secret::new("guess"),
        client,
        LockoutPolicy::default(),
    );
    let decision = run_attempt(attempt, &locked, &attempts, now()).await;
    assert_eq!(decision.reason(), Some(Reason::UserLocked));
}

#[test]
fn a_failure_that_reaches_the_maximum_says_it_locks() {
    let lookup_user = User {
        failed_logins: 4,
        ..User::named("alice")
    };
    let attempt = PasswordAttempt::sign_in(
        "alice",
        Secret::new("guess"),
        "198.51.100.7".parse().unwrap(),
        LockoutPolicy::default(),
    );
    let AttemptPlan::Hash(job) = attempt.plan(Some(&lookup_user), false, now()) else {
        panic!("an open account is checked");
    };
    let decision = job.finish(false);
    assert_eq!(decision.locked_now(), Some(Some(15 * 60)));
}

#[tokio::test]
async fn reason_codes_and_statuses_are_stable() {
    let table = [
        (Reason::IpNotAllowed, "ip_not_allowed", 403),
        (Reason::MissingCredentials, "missing_credentials", 401),
        (Reason::MalformedCredentials, "malformed_credentials", 401),
        (Reason::TokenExpired, "token_expired", 401),
        (Reason::UserDisabled, "user_disabled", 403),
        (Reason::TokensNotPermitted, "tokens_not_permitted", 403),
        (Reason::InvalidCredentials, "invalid_credentials", 401),
        (Reason::PasswordAuthDisabled, "password_auth_disabled", 403),
        (Reason::UserLocked, "user_locked", 403),
        (Reason::TooManyFailures, "too_many_failures", 429),
        (Reason::Unavailable, "unavailable", 503),
        (Reason::DirectoryUnavailable, "directory_unavailable", 503),
        (Reason::TokenIpNotAllowed, "token_ip_not_allowed", 403),
        (Reason::TokenScopeDenied, "token_scope_denied", 403),
    ];
    assert_eq!(table.len(), Reason::ALL.len());
    for (reason, code, status) in table {
        assert_eq!(reason.code(), code);
        assert_eq!(reason.status(), status);
    }
}
