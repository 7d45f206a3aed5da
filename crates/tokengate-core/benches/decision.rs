//! Criterion benchmarks of the pure hot path (SPEC §7): recognising a token (prefix, alphabet,
//! checksum) and its SHA-256 digest, and the SPEC §2 decision (`precheck` + `decide`) for a
//! request whose records are given: Bearer and Basic tokens allowed, and two early refusals.
//!
//!   cargo bench -p tokengate-core --bench decision

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use base64::Engine;
use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use tokengate_core::decision::{Evaluation, GatePolicy, Records, RequestFacts, decide, precheck};
use tokengate_core::model::{Settings, TokenGrant, User};
use tokengate_core::token::{TokenDigest, TokenSecret};

fn user(name: &str) -> User {
    User {
        display_name: "Alice".to_owned(),
        ..User::named(name)
    }
}

fn record(owner: &str) -> TokenGrant {
    TokenGrant {
        restrictions: None,
        grace_until: None,
        id: "AbCdEfGhIjKlMnOpQrSt".to_owned(),
        owner: owner.to_owned(),
        expires_at: Some(Utc::now() + chrono::Duration::days(90)),
    }
}

fn token_benches(c: &mut Criterion) {
    let secret = TokenSecret::generate().expect("csprng");
    let text = secret.expose().to_owned();
    let mut group = c.benchmark_group("token");
    group.bench_function("parse", |b| {
        b.iter(|| TokenSecret::parse(black_box(&text)).is_some())
    });
    group.bench_function("digest", |b| b.iter(|| black_box(&secret).digest()));
    group.bench_function("parse_and_digest", |b| {
        b.iter(|| TokenSecret::parse(black_box(&text)).map(|token| token.digest()))
    });
    group.bench_function("sha256_only", |b| {
        b.iter(|| TokenDigest::of(black_box(&text)))
    });
    group.finish();
}

fn decision_benches(c: &mut Criterion) {
    let secret = TokenSecret::generate().expect("csprng");
    let owner = user("alice");
    let token = record("alice");
    let settings = Settings::default();
    let policy = GatePolicy::default();
    let peer = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3));
    let bearer = format!("Bearer {}", secret.expose());
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("alice:{}", secret.expose()))
    );
    let records = Records {
        token: Some(&token),
        token_owner: Some(&owner),
    };
    let now = Utc::now();

    let run = |header: Option<&str>| {
        let facts = RequestFacts {
            reach: Default::default(),
            peer,
            forwarded_for: None,
            authorization: header.map(str::as_bytes),
        };
        match precheck(black_box(&facts), &settings, &policy) {
            Ok(prechecked) => {
                match decide(prechecked, records, &Default::default(), &settings, now) {
                    Evaluation::Decided(decision) => decision.is_allowed(),
                    Evaluation::TokenRefused(_) | Evaluation::CheckPassword(_) => false,
                }
            }
            Err(decision) => decision.is_allowed(),
        }
    };
    assert!(run(Some(&bearer)), "the Bearer token is allowed");
    assert!(run(Some(&basic)), "the Basic token is allowed");

    let mut group = c.benchmark_group("decision");
    group.bench_function("bearer_token_allowed", |b| {
        b.iter(|| run(black_box(Some(&bearer))))
    });
    group.bench_function("basic_token_allowed", |b| {
        b.iter(|| run(black_box(Some(&basic))))
    });
    group.bench_function("missing_credentials", |b| b.iter(|| run(black_box(None))));
    group.bench_function("malformed_credentials", |b| {
        b.iter(|| run(black_box(Some("Bearer"))))
    });
    group.bench_function("bearer_with_digest", |b| {
        b.iter(|| {
            let facts = RequestFacts {
                reach: Default::default(),
                peer,
                forwarded_for: None,
                authorization: Some(black_box(bearer.as_bytes())),
            };
            let prechecked = precheck(&facts, &settings, &policy).expect("prechecked");
            let digest = prechecked.token().map(TokenSecret::digest);
            black_box(digest);
            matches!(
                decide(prechecked, records, &Default::default(), &settings, now),
                Evaluation::Decided(_)
            )
        })
    });
    group.finish();
}

criterion_group!(benches, token_benches, decision_benches);
criterion_main!(benches);
