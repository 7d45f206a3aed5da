//! SPEC §2 rules that the shared vectors do not carry: the per-address failure limit (rule 6)
//! and failing closed when the store cannot be read (rule 8).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use async_trait::async_trait;
use base64::Engine;
use chrono::{DateTime, Utc};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokengate_core::authenticate::{AuthLookup, PasswordCheck, authenticate};
use tokengate_core::decision::{GatePolicy, RequestFacts};
use tokengate_core::model::{Settings, TokenGrant, User};
use tokengate_core::store::{StoreError, StoreResult};
use tokengate_core::token::{TokenDigest, TokenSecret};
use tokengate_core::{Reason, Secret};

struct Lookup {
    fail: bool,
    throttled: Option<u64>,
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
            admin: false,
            disabled: false,
            password_hash: Some(
                "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
            ),
            failed_logins: 0,
            locked_until: None,
        })))
    }
    fn throttled_for(&self, _client: IpAddr) -> Option<u64> {
        self.throttled
    }
}

#[derive(Default)]
struct CountingCheck(AtomicUsize);

#[async_trait]
impl PasswordCheck for CountingCheck {
    async fn verify(&self, _stored: Option<String>, _password: Secret) -> Result<bool, ()> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(false)
    }
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2027-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

async fn judge(lookup: &Lookup, header: &str, check: &CountingCheck) -> tokengate_core::Decision {
    let facts = RequestFacts {
        peer: "203.0.113.5".parse().unwrap(),
        forwarded_for: None,
        authorization: Some(header.as_bytes()),
    };
    authenticate(
        &facts,
        &Settings::default(),
        &GatePolicy::default(),
        lookup,
        check,
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
        throttled: None,
    };
    let token = TokenSecret::generate().unwrap();
    for header in [
        format!("Bearer {}", token.expose()),
        basic("alice:pw"),
        basic(&format!("alice:{}", token.expose())),
    ] {
        let check = CountingCheck::default();
        let decision = judge(&lookup, &header, &check).await;
        assert_eq!(decision.reason(), Some(Reason::Unavailable));
        assert_eq!(decision.status(), 503);
        assert!(decision.effects.is_empty());
    }
}

#[tokio::test]
async fn rule_6_an_address_over_its_failure_budget_gets_429_before_any_hash() {
    let lookup = Lookup {
        fail: false,
        throttled: Some(42),
    };
    let check = CountingCheck::default();
    let decision = judge(&lookup, &basic("alice:guess"), &check).await;
    assert_eq!(decision.reason(), Some(Reason::TooManyFailures));
    assert_eq!(decision.status(), 429);
    assert_eq!(
        check.0.load(Ordering::SeqCst),
        0,
        "no password hash computed"
    );
    let unknown = judge(&lookup, &basic("nobody:guess"), &check).await;
    assert_eq!(unknown.status(), 429, "unknown users alike");
    let bearer = judge(
        &lookup,
        &format!("Bearer {}", TokenSecret::generate().unwrap().expose()),
        &check,
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
    ];
    assert_eq!(table.len(), Reason::ALL.len());
    for (reason, code, status) in table {
        assert_eq!(reason.code(), code);
        assert_eq!(reason.status(), status);
    }
}
