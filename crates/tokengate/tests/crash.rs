//! SPEC §8 "nothing lost": `kill -9` of the real `tokengate serve` in the middle of a burst of
//! token creations over REST. After a restart on the same database, every token whose 201
//! reached the client exists with its `token.created` audit record, and no token exists
//! without one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod process;

use process::{Installation, PostgresSchema, client};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, Semaphore};

const BURST: usize = 600;
const IN_FLIGHT: usize = 48;
/// The kill comes once this many creations were answered 201.
const KILL_AFTER: usize = 200;

/// What the clients saw of the burst.
struct Burst {
    /// Ids of the tokens whose 201 reached the client.
    confirmed: Vec<String>,
    /// Requests that got no answer (cut by the kill).
    cut: usize,
}

async fn burst_with_kill(installation: &Installation) -> Burst {
    let mut server = installation.serve();
    let caller = installation.cli(&["token", "create", "--user", "admin", "--name", "burst"]);
    let caller = Arc::new(caller.trim().to_owned());
    let url = Arc::new(server.url("/tokengate/api/v1/tokens"));
    let http = client();
    let confirmed = Arc::new(Mutex::new(Vec::new()));
    let cut = Arc::new(AtomicUsize::new(0));
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut requests = Vec::new();
    for index in 0..BURST {
        let (http, url, caller) = (http.clone(), url.clone(), caller.clone());
        let (confirmed, cut, slots) = (confirmed.clone(), cut.clone(), slots.clone());
        requests.push(tokio::spawn(async move {
            let _slot = slots.acquire().await.expect("semaphore");
            let answer = http
                .post(url.as_str())
                .bearer_auth(caller.as_str())
                .json(&serde_json::json!({"name": format!("burst-{index}")}))
                .send()
                .await;
            let body = match answer {
                Ok(response) if response.status() == 201 => {
                    response.json::<serde_json::Value>().await
                }
                Ok(response) => panic!("creation answered {}", response.status()),
                Err(_) => {
                    cut.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            };
            match body {
                Ok(view) => confirmed
                    .lock()
                    .await
                    .push(view["id"].as_str().expect("id").to_owned()),
                Err(_) => {
                    cut.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let started = Instant::now();
    while confirmed.lock().await.len() < KILL_AFTER {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the burst stalled"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.kill();
    for request in requests {
        request.await.expect("request task");
    }
    let confirmed = confirmed.lock().await.clone();
    Burst {
        confirmed,
        cut: cut.load(Ordering::Relaxed),
    }
}

/// Restarts serve on the same database and checks the promise.
async fn check_nothing_lost(installation: &Installation, burst: &Burst) {
    assert!(burst.cut > 0, "the kill came after the burst had ended");
    assert!(burst.confirmed.len() >= KILL_AFTER);
    let server = installation.serve();
    let health = client()
        .get(server.url("/tokengate/healthz"))
        .send()
        .await
        .expect("healthz after restart");
    assert_eq!(health.status(), 200);
    drop(server);

    let tokens: HashSet<String> = installation
        .tokens()
        .iter()
        .map(|token| token["id"].as_str().expect("id").to_owned())
        .collect();
    let audited: HashSet<String> = installation
        .audit("token.created")
        .iter()
        .filter_map(|record| record["token_id"].as_str().map(str::to_owned))
        .collect();
    let deleted: HashSet<String> = installation
        .audit("token.deleted")
        .iter()
        .filter_map(|record| record["token_id"].as_str().map(str::to_owned))
        .collect();
    for id in &burst.confirmed {
        assert!(
            tokens.contains(id),
            "token {id} was confirmed with 201 but is gone"
        );
        assert!(
            audited.contains(id),
            "token {id} has no token.created record"
        );
    }
    for id in &tokens {
        assert!(
            audited.contains(id),
            "token {id} exists without its audit record"
        );
    }
    for id in &audited {
        assert!(
            tokens.contains(id) || deleted.contains(id),
            "token.created for {id}, but no such token and no deletion"
        );
    }
    eprintln!(
        "burst: {} confirmed, {} cut by the kill, {} tokens after restart",
        burst.confirmed.len(),
        burst.cut,
        tokens.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_token_burst_loses_no_confirmed_token_or_audit_record_on_sqlite() {
    let installation = Installation::sqlite(None);
    let burst = burst_with_kill(&installation).await;
    check_nothing_lost(&installation, &burst).await;
    let integrity = installation.sqlite_integrity().await;
    assert_eq!(integrity, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_token_burst_loses_no_confirmed_token_or_audit_record_on_postgres() {
    let Some(schema) = PostgresSchema::create("crash").await else {
        return;
    };
    let installation =
        Installation::with_url(tempfile::tempdir().expect("tempdir"), schema.url.clone());
    let burst = burst_with_kill(&installation).await;
    check_nothing_lost(&installation, &burst).await;
    schema.drop_schema().await;
}
