//! A flood of failed attempts from one address (SPEC §2.6), over real HTTP against the
//! in-process gateway: every failure beyond the address's budget is answered 429 before any
//! hash, and a right password from another address is served meanwhile ahead of the flood's
//! queued hashes (the hash queue serves addresses in turn). The test counts hashes, not
//! seconds, so a busy machine cannot fail it; the time itself is measured by
//! `bench/flood.sh`. A binary of its own, so no other test shares the hashing threads.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{TestApp, basic_from, state, trusting_loopback};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_beyond_the_address_budget_gets_429_and_another_address_is_served_ahead_of_it() {
    let mut config = trusting_loopback();
    config.security.failures_per_minute = 60;
    // A pure budget test: no user's lock may end the flood early.
    config.security.max_failed_logins = 1000;
    let threads = 2;
    config.security.password_concurrency = threads;
    let app = Arc::new(TestApp::spawn_with(config, true).await);
    app.add_user("alice", "alice-pw", false).await;
    app.add_user("bob", "bob-pw", false).await;
    let flood_address = "203.0.113.9";
    let status = basic_from(&app, "/api/things", "198.51.100.21", "alice", "alice-pw").await;
    assert_eq!(status, 200);
    let started = Instant::now();
    let mut flood = Vec::new();
    for index in 0..200 {
        let app = app.clone();
        // Unknown names, real names and wrong tokens: all are failures of one address.
        let (user, secret) = match index % 4 {
            0 => (format!("ghost-{index}"), format!("guess-{index}")),
            1 => ("bob".to_owned(), format!("guess-{index}")),
            2 => (format!("nobody{index}"), "pw".to_owned()),
            _ => ("__token__".to_owned(), format!("tg_{index:0>36}")),
        };
        flood.push(tokio::spawn(async move {
            basic_from(&app, "/api/things", flood_address, &user, &secret).await
        }));
    }
    // The flood is under way once the address has spent its budget.
    while state(&app)
        .throttle
        .throttled_for(flood_address.parse().unwrap())
        .is_none()
    {
        tokio::task::yield_now().await;
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the flood never arrived"
        );
    }
    let hashes_before = state(&app).passwords.hashes_run();
    let asked = Instant::now();
    let status = basic_from(&app, "/api/things", "198.51.100.20", "alice", "alice-pw").await;
    let waited = asked.elapsed();
    let hashes_meanwhile = state(&app).passwords.hashes_run() - hashes_before;
    assert_eq!(status, 200);
    // Served in turn: at most the hashes already running, one more of the flood's, and its own
    // (a queue served in arrival order ran the whole budget's worth, 60, first).
    let bound = (threads * 2 + 2) as u64;
    assert!(
        hashes_meanwhile <= bound,
        "{hashes_meanwhile} hashes ran while a right password from another address waited \
         ({waited:?}); at most {bound} may"
    );
    let mut statuses = Vec::new();
    for request in flood {
        statuses.push(request.await.unwrap());
    }
    let elapsed_seconds = started.elapsed().as_secs() as usize;
    let checked = statuses.iter().filter(|status| **status == 401).count();
    let throttled = statuses.iter().filter(|status| **status == 429).count();
    assert_eq!(checked + throttled, 200, "only 401 or 429: {statuses:?}");
    // 60 a minute: the budget plus what refilled while the flood lasted.
    assert!(
        checked <= 60 + elapsed_seconds + 1,
        "{checked} failures answered in {elapsed_seconds} s"
    );
    let bob = app.store.user("bob").await.unwrap().unwrap();
    assert!(
        bob.failed_logins as usize <= checked,
        "bob's failures are among the checked ones"
    );
}
