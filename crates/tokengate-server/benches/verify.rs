//! Criterion benchmarks of verifying a token inside the process (SPEC §7): a hit in
//! `AuthCache`, and a miss that reads SQLite holding 1,000 and 1,000,000 tokens (the target:
//! ≤ 2 µs at a hit, ≤ 100 µs at a miss, flat ±20 % from 1,000 to 1,000,000 tokens). Both the
//! bare lookup (`AuthCache::token_by_digest`) and the whole decision (`authenticate`: parse,
//! digest, token and owner lookups, rules) are measured.
//!
//!   cargo bench -p tokengate-server --bench verify
//!
//! The databases are seeded once into `target/bench-cache/` (1,000,000 tokens: about a
//! minute) and reused by later runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

/// The allocator the `tokengate` binary uses, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use chrono::Utc;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use tokengate_core::authenticate::{AuthLookup, InlinePasswordCheck, authenticate};
use tokengate_core::decision::{GatePolicy, RequestFacts};
use tokengate_core::model::Settings;
use tokengate_core::store::Store;
use tokengate_core::token::{TokenDigest, TokenSecret};
use tokengate_server::cache::AuthCache;
use tokengate_server::metrics::Metrics;
use tokengate_store::SqliteStore;
use tokio::runtime::Runtime;

/// Sizes of the token table.
const SIZES: [usize; 2] = [1_000, 1_000_000];
/// Distinct tokens a benchmark cycles through.
const SAMPLE: usize = 1_000;

struct Fixture {
    cache: AuthCache,
    secrets: Vec<String>,
    digests: Vec<TokenDigest>,
}

fn fixture(runtime: &Runtime, count: usize) -> Fixture {
    runtime.block_on(async {
        let (path, secrets) = support::seed::cached_database(count, SAMPLE)
            .await
            .expect("seeded database");
        let store = SqliteStore::open(&support::seed::url_of(&path))
            .await
            .expect("open the seeded database");
        let store: Arc<dyn Store> = Arc::new(store);
        let cache = AuthCache::new(store, Arc::new(Metrics::new()));
        let digests = secrets
            .iter()
            .map(|secret| TokenSecret::parse(secret).expect("a seeded token").digest())
            .collect();
        Fixture {
            cache,
            secrets,
            digests,
        }
    })
}

#[derive(Clone, Copy)]
struct Context<'a> {
    settings: &'a Settings,
    policy: &'a GatePolicy,
    passwords: &'a InlinePasswordCheck,
    peer: IpAddr,
}

/// The whole in-process verification of one request carrying `header`.
async fn verify(context: Context<'_>, header: &str, cache: &AuthCache) -> bool {
    let facts = RequestFacts {
        reach: Default::default(),
        peer: context.peer,
        forwarded_for: None,
        authorization: Some(black_box(header.as_bytes())),
    };
    authenticate(
        &facts,
        context.settings,
        context.policy,
        cache,
        context.passwords,
        Utc::now(),
    )
    .await
    .is_allowed()
}

fn lookups(c: &mut Criterion) {
    let runtime = Runtime::new().expect("tokio runtime");
    let settings = Settings::default();
    let policy = GatePolicy::default();
    let passwords = InlinePasswordCheck;
    let peer = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3));
    let unknown = TokenSecret::generate().expect("csprng").digest();

    let mut lookup = c.benchmark_group("token_lookup");
    let mut whole = Vec::new();
    for count in SIZES {
        let fixture = fixture(&runtime, count);
        // Every sample token is found, and so is its owner.
        runtime.block_on(async {
            for digest in &fixture.digests {
                let found = fixture.cache.token_by_digest(digest).await.expect("lookup");
                assert!(found.is_some(), "a seeded token is found");
            }
        });
        if count == 1_000_000 {
            let mut i = 0;
            lookup.bench_function("cache_hit", |b| {
                b.to_async(&runtime).iter(|| {
                    i = (i + 1) % fixture.digests.len();
                    let digest = fixture.digests[i];
                    let cache = &fixture.cache;
                    async move { cache.token_by_digest(black_box(&digest)).await.is_ok() }
                })
            });
        }
        let mut i = 0;
        lookup.bench_with_input(BenchmarkId::new("cache_miss", count), &count, |b, _| {
            b.to_async(&runtime).iter(|| {
                i = (i + 1) % fixture.digests.len();
                let digest = fixture.digests[i];
                let cache = &fixture.cache;
                cache.invalidate();
                async move { cache.token_by_digest(black_box(&digest)).await.is_ok() }
            })
        });
        lookup.bench_with_input(BenchmarkId::new("unknown_token", count), &count, |b, _| {
            b.to_async(&runtime).iter(|| {
                let cache = &fixture.cache;
                async move { cache.token_by_digest(black_box(&unknown)).await.is_ok() }
            })
        });
        whole.push((count, fixture));
    }
    lookup.finish();

    let mut group = c.benchmark_group("authenticate");
    for (count, fixture) in &whole {
        let headers: Vec<String> = fixture
            .secrets
            .iter()
            .map(|secret| format!("Bearer {secret}"))
            .collect();
        let context = Context {
            settings: &settings,
            policy: &policy,
            passwords: &passwords,
            peer,
        };
        runtime.block_on(async {
            for header in &headers {
                assert!(verify(context, header, &fixture.cache).await, "allowed");
            }
        });
        if *count == 1_000_000 {
            let mut i = 0;
            group.bench_function("bearer_cache_hit", |b| {
                b.to_async(&runtime).iter(|| {
                    i = (i + 1) % headers.len();
                    verify(context, &headers[i], &fixture.cache)
                })
            });
        }
        let mut i = 0;
        group.bench_with_input(
            BenchmarkId::new("bearer_cache_miss", count),
            count,
            |b, _| {
                b.to_async(&runtime).iter(|| {
                    i = (i + 1) % headers.len();
                    fixture.cache.invalidate();
                    verify(context, &headers[i], &fixture.cache)
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, lookups);
criterion_main!(benches);
