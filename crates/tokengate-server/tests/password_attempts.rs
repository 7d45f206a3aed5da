//! Password attempts under concurrency (SPEC §2.6), over real HTTP against the in-process
//! gateway: the lockout holds against parallel guesses on every entrance, one counter and one
//! budget serve every entrance, and a stranger cannot lock the admin out of an address where the
//! admin's password worked. (The flood test has a binary of its own: `password_flood.rs`.)
//! Client addresses are played through `X-Forwarded-For` from the trusted loopback peer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{TestApp, basic_from, error_body, state, trusting_loopback};
use std::sync::Arc;

/// Every entrance that accepts a Basic password.
const ENTRANCES: [&str; 4] = [
    "/api/things",
    "/tokengate/whoami",
    "/tokengate/auth",
    "/tokengate/api/v1/me",
];

async fn lockout_holds_against_parallel_guesses(from_one_address: bool) {
    let app = Arc::new(TestApp::spawn_with(trusting_loopback(), true).await);
    app.add_user("alice", "alice-pw", false).await;
    let max = state(&app).policy.lockout.max_failed_logins;
    let before = state(&app).passwords.hashes_run();
    let mut guesses = Vec::new();
    for index in 0..40 {
        let app = app.clone();
        let client = if from_one_address {
            "198.51.100.1".to_owned()
        } else {
            format!("198.51.100.{}", index + 1)
        };
        let path = ENTRANCES[index % ENTRANCES.len()];
        guesses.push(tokio::spawn(async move {
            basic_from(&app, path, &client, "alice", &format!("guess-{index}")).await
        }));
    }
    let mut statuses = Vec::new();
    for guess in guesses {
        statuses.push(guess.await.unwrap());
    }
    let hashed = state(&app).passwords.hashes_run() - before;
    let wrong = statuses.iter().filter(|status| **status == 401).count();
    let locked = statuses.iter().filter(|status| **status == 403).count();
    assert!(
        hashed <= u64::from(max) + 1,
        "{hashed} hashes for {max} allowed failures"
    );
    assert!(wrong <= max as usize, "{statuses:?}");
    assert_eq!(
        wrong + locked,
        40,
        "every other guess is refused as locked: {statuses:?}"
    );
    let record = app.store.user("alice").await.unwrap().unwrap();
    assert_eq!(
        record.failed_logins as usize, wrong,
        "each checked failure counted once"
    );
    assert_eq!(state(&app).passwords.users_in_turns(), 0);
    for path in ENTRANCES {
        let response = app
            .client
            .get(app.url(path))
            .basic_auth("alice", Some("alice-pw"))
            .header("x-forwarded-for", "203.0.113.200")
            .header("x-forwarded-uri", "/rest/x")
            .send()
            .await
            .unwrap();
        error_body(response, 403, "user_locked").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_parallel_wrong_passwords_from_forty_addresses_hash_at_most_the_lockout_plus_one() {
    lockout_holds_against_parallel_guesses(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_parallel_wrong_passwords_from_one_address_hash_at_most_the_lockout_plus_one() {
    lockout_holds_against_parallel_guesses(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_cannot_lock_the_admin_out_of_an_address_where_the_admins_password_worked() {
    let app = TestApp::spawn_with(trusting_loopback(), true).await;
    app.add_user("root", "root-pw", true).await;
    let workstation = "10.1.1.1";
    let stranger = "203.0.113.66";
    assert_eq!(
        basic_from(&app, "/api/things", workstation, "root", "root-pw").await,
        200
    );
    for attempt in 0..5 {
        let status = basic_from(
            &app,
            "/api/things",
            stranger,
            "root",
            &format!("x{attempt}"),
        )
        .await;
        assert_eq!(status, 401);
    }
    assert_eq!(
        basic_from(&app, "/api/things", stranger, "root", "root-pw").await,
        403
    );
    assert_eq!(
        basic_from(&app, "/api/things", "10.1.1.2", "root", "root-pw").await,
        403,
        "a neighbouring address is not known"
    );
    for path in ENTRANCES {
        assert_eq!(
            basic_from(&app, path, workstation, "root", "root-pw").await,
            200,
            "{path}"
        );
    }
    let record = app.store.user("root").await.unwrap().unwrap();
    assert_eq!(record.failed_logins, 5, "the counter stays");
    assert!(
        record.locked_until.is_some(),
        "the lock stays for strangers"
    );
    assert_eq!(
        basic_from(&app, "/api/things", workstation, "root", "wrong").await,
        401,
        "a wrong password from the known address is checked"
    );
    let record = app.store.user("root").await.unwrap().unwrap();
    assert_eq!(record.failed_logins, 6, "and counted");
    assert_eq!(
        basic_from(&app, "/api/things", stranger, "root", "root-pw").await,
        403
    );
}

/// Posts the sign-in form as a browser at `client` would.
async fn sign_in_from(app: &TestApp, client: &str, user: &str, password: &str) -> (u16, String) {
    let response = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url("/tokengate/login"))
        .header("origin", &app.base)
        .header("x-forwarded-for", client)
        .form(&[("username", user), ("password", password)])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_cannot_lock_the_admin_out_of_the_web_ui_at_an_address_where_the_password_worked()
 {
    let app = TestApp::spawn_with(trusting_loopback(), false).await;
    app.add_user("root", "root-pw", true).await;
    let workstation = "10.2.2.2";
    let stranger = "203.0.113.67";
    assert_eq!(
        sign_in_from(&app, workstation, "root", "root-pw").await.0,
        303
    );
    for attempt in 0..5 {
        let (status, page) = sign_in_from(&app, stranger, "root", &format!("x{attempt}")).await;
        assert_eq!(status, 200, "the form again");
        assert!(page.contains("Wrong user name or password."));
    }
    let (status, page) = sign_in_from(&app, stranger, "root", "root-pw").await;
    assert_eq!(status, 403);
    assert!(page.contains("locked"), "{page}");
    assert_eq!(
        sign_in_from(&app, workstation, "root", "root-pw").await.0,
        303
    );
    assert_eq!(
        basic_from(&app, "/tokengate/whoami", workstation, "root", "root-pw").await,
        200,
        "an address learned at the sign-in page is known to the gateway too"
    );
    let record = app.store.user("root").await.unwrap().unwrap();
    assert_eq!(record.failed_logins, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_page_shares_the_counter_and_the_budget_with_the_gateway() {
    let mut config = trusting_loopback();
    config.security.failures_per_minute = 4;
    let app = TestApp::spawn_with(config, false).await;
    app.add_user("alice", "alice-pw", false).await;
    let client = "198.51.100.50";
    assert_eq!(
        basic_from(&app, "/tokengate/whoami", client, "alice", "a").await,
        401
    );
    assert_eq!(sign_in_from(&app, client, "alice", "b").await.0, 200);
    assert_eq!(
        basic_from(&app, "/tokengate/whoami", client, "alice", "c").await,
        401
    );
    assert_eq!(sign_in_from(&app, client, "alice", "d").await.0, 200);
    let record = app.store.user("alice").await.unwrap().unwrap();
    assert_eq!(record.failed_logins, 4, "one counter for every entrance");
    let (status, page) = sign_in_from(&app, client, "alice", "alice-pw").await;
    assert_eq!(
        status, 429,
        "the address spent its budget at both doors: {page}"
    );
    assert_eq!(
        basic_from(&app, "/tokengate/whoami", client, "alice", "alice-pw").await,
        429
    );
    assert_eq!(
        sign_in_from(&app, "198.51.100.51", "alice", "alice-pw")
            .await
            .0,
        303
    );
}
