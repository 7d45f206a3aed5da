//! Notifications (e-mail and webhooks) through the outbox, against a real SMTP server
//! (aiosmtpd) and a real webhook receiver that checks every signature: each notice arrives
//! once, failures are retried with backoff and then listed, users without an address are
//! skipped, expiry notices go out once per stage across restarts, and with two nodes on one
//! PostgreSQL database every notice is sent once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "multi_node/schema.rs"]
mod schema;
mod ui_support;

use chrono::{Duration as Span, Utc};
use common::TestApp;
use common::hooks::Receiver;
use common::notices::{HOOK_SECRET, WAIT, admin, config, people, some_in, token_for_alice, until};
use common::smtp::{SmtpServer, header};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokengate_core::model::{Actor, AuditAction, NewAudit, Origin, TokenRecord};
use tokengate_core::notices::DeliveryState;
use ui_support::UiClient;

fn subjects(messages: &[String]) -> BTreeSet<String> {
    messages
        .iter()
        .map(|message| header(message, "Subject").unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admin_creating_and_deleting_a_token_for_someone_mails_them_once_and_posts_signed_webhooks()
 {
    let Some(smtp) = SmtpServer::start(0.0) else {
        return;
    };
    let hooks = Receiver::start(HOOK_SECRET, 0).await;
    let app = TestApp::spawn_with(config(Some(&smtp), &[(&hooks.url(), &[])]), false).await;
    people(&app, Some("alice@example.com")).await;
    let (id, secret) = token_for_alice(&app, "deploy").await;
    let deleted = admin(
        &app,
        reqwest::Method::DELETE,
        &format!("/admin/tokens/{id}"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(deleted.status(), 204);

    let mails = smtp.wait_for(2, WAIT);
    let received = hooks.wait_for(2, WAIT).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mails_after = smtp.messages();
    let received_after = hooks.all();
    assert_eq!(mails_after.len(), 2, "each mail once: {mails_after:#?}");
    assert_eq!(
        received_after.len(),
        2,
        "each event once: {received_after:#?}"
    );
    assert_eq!(
        subjects(&mails),
        BTreeSet::from([
            "An API token \"deploy\" was created for you".to_owned(),
            "Your API token \"deploy\" was deleted".to_owned(),
        ])
    );
    for mail in &mails {
        assert!(
            header(mail, "To").unwrap().contains("alice@example.com"),
            "{mail}"
        );
        assert!(
            header(mail, "From")
                .unwrap()
                .contains("tokengate@example.com")
        );
        assert!(
            mail.contains("http://tokens.example.com/tokengate/"),
            "{mail}"
        );
        assert!(!mail.contains(&secret), "the secret never leaves in a mail");
    }
    let events: BTreeSet<&str> = received.iter().map(|r| r.event.as_str()).collect();
    assert_eq!(events, BTreeSet::from(["token.created", "token.deleted"]));
    for request in &received {
        assert!(request.signed, "signature checks out: {request:?}");
        assert_eq!(request.body["delivery_id"], request.delivery.as_str());
        assert_eq!(request.body["event"], request.event.as_str());
        assert_eq!(request.body["data"]["token"]["id"], id.as_str());
        assert_eq!(request.body["data"]["token"]["owner"], "alice");
        assert_eq!(request.body["data"]["actor"], "root");
        assert!(request.body["at"].is_string());
        assert!(
            !request.raw.contains(&secret),
            "the secret never leaves in a webhook"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_without_an_e_mail_address_is_skipped_and_owners_get_no_mail_about_their_own_tokens()
{
    let Some(smtp) = SmtpServer::start(0.0) else {
        return;
    };
    let app = TestApp::spawn_with(config(Some(&smtp), &[]), false).await;
    people(&app, None).await;
    token_for_alice(&app, "no-address").await;
    let own = app
        .client
        .post(app.url("/tokengate/api/v1/tokens"))
        .basic_auth("root", Some("root-password"))
        .json(&json!({"name": "mine"}))
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 201);

    let skipped = some_in(&app, DeliveryState::Skipped).await;
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].destination, "alice");
    assert_eq!(
        skipped[0].last_error.as_deref(),
        Some("the user has no e-mail address")
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(smtp.messages().is_empty(), "{:?}", smtp.messages());
    let failed = app
        .store
        .deliveries(DeliveryState::Failed, 10)
        .await
        .unwrap();
    assert!(failed.is_empty(), "{failed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_webhook_is_retried_until_it_answers_and_a_dead_one_is_given_up_and_shown() {
    let hooks = Receiver::start(HOOK_SECRET, 2).await;
    // Nothing listens on a port that was just free: connections are refused.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/gone", listener.local_addr().unwrap())
    };
    let mut config = config(None, &[(&hooks.url(), &[]), (&dead, &["token.created"])]);
    config.notifications.give_up_after = Duration::from_secs(1);
    let app = TestApp::spawn_with(config, false).await;
    people(&app, None).await;
    token_for_alice(&app, "retried").await;

    let received = hooks.wait_for(1, WAIT).await;
    assert_eq!(received.len(), 3, "two 500s, then accepted: {received:#?}");
    assert!(received.iter().all(|r| r.signed));
    assert!(
        received.iter().all(|r| r.raw == received[0].raw),
        "the same body each time"
    );
    assert!(received.iter().all(|r| r.delivery == received[0].delivery));

    let failed = some_in(&app, DeliveryState::Failed).await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].destination, dead);
    assert_eq!(failed[0].last_error.as_deref(), Some("cannot connect"));
    assert!(
        failed[0].attempts >= 2,
        "retried before giving up: {failed:?}"
    );

    let metrics = until(|| async {
        let text = app.metrics().await;
        text.contains("tokengate_notification_deliveries{state=\"failed\"} 1")
            .then_some(text)
    })
    .await;
    assert!(
        metrics.contains(
            "tokengate_notification_attempts_total{channel=\"webhook\",outcome=\"failed\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "tokengate_notification_attempts_total{channel=\"webhook\",outcome=\"retry\"}"
        )
    );

    // The admin page lists it; "Send again" makes it due once more (and it fails again).
    let root = UiClient::new(&app);
    let csrf = root.sign_in("root", "root-password").await;
    let page = root.get("/tokengate/admin/notifications").await;
    assert_eq!(page.status, 200);
    for expected in [
        dead.as_str(),
        "cannot connect",
        "token.created",
        &failed[0].id,
    ] {
        assert!(page.body.contains(expected), "{expected} on the page");
    }
    let alice = UiClient::new(&app);
    alice.sign_in("alice", "alice-password").await;
    assert_eq!(
        alice.get("/tokengate/admin/notifications").await.status,
        403
    );
    let retry = format!("/tokengate/admin/notifications/{}/retry", failed[0].id);
    let forged = root.post(&retry, &[("csrf", "forged")]).await;
    assert_eq!(forged.status, 403);
    let unknown = root
        .post(
            "/tokengate/admin/notifications/nope/retry",
            &[("csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(unknown.status, 404);
    let again = root.post(&retry, &[("csrf", csrf.as_str())]).await;
    assert_eq!(again.status, 303);
    until(|| async {
        let text = app.metrics().await;
        let failed_twice =
            "tokengate_notification_attempts_total{channel=\"webhook\",outcome=\"failed\"} 2";
        text.contains(failed_twice).then_some(())
    })
    .await;
}

/// A token of alice's expiring `in_` from now, as she would have made it (no mail of its own).
async fn seed_token(app: &TestApp, id: &str, in_: Option<Span>) {
    let now = Utc::now();
    let record = TokenRecord {
        restrictions: Default::default(),
        id: id.into(),
        owner: "alice".into(),
        name: id.into(),
        digest: tokengate_core::token::TokenDigest::of(&format!("tg_seed_{id}")),
        hint: "tg_se…ed".into(),
        created_at: now - Span::days(100),
        created_by: "alice".into(),
        expires_at: in_.map(|span| now + span),
        last_used_at: None,
        last_used_ip: None,
        made_by: None,
        rotated_at: None,
        rotated_from: None,
    };
    let audit = NewAudit::new(
        now,
        &Actor::User("alice".into()),
        AuditAction::TokenCreated,
        &Origin::default(),
    )
    .user("alice")
    .token(id);
    app.store.create_token(&record, &audit).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expiry_notices_go_out_once_per_stage_and_not_again_after_a_restart() {
    let Some(smtp) = SmtpServer::start(0.0) else {
        return;
    };
    let hooks = Receiver::start(HOOK_SECRET, 0).await;
    let expiry_events: &[&str] = &["token.expiring", "token.expired"];
    let config = config(Some(&smtp), &[(&hooks.url(), expiry_events)]);
    let mut first = TestApp::spawn_with(config.clone(), false).await;
    people(&first, Some("alice@example.com")).await;
    for (id, in_) in [
        ("in-20-days", Some(Span::days(20))),
        ("in-5-days", Some(Span::days(5))),
        ("in-12-hours", Some(Span::hours(12))),
        ("a-day-ago", Some(-Span::days(1))),
        ("a-month-ago", Some(-Span::days(30))),
        ("in-45-days", Some(Span::days(45))),
        ("never", None),
    ] {
        seed_token(&first, id, in_).await;
    }
    // The running node looks at start-up only; a second node starts and finds them.
    first.server.take().unwrap().shutdown().await;
    let store = tokengate_store::open(&first.database_url).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut second =
        TestApp::spawn_on(config.clone(), store, first.database_url.clone(), None, dir).await;

    let mails = smtp.wait_for(4, WAIT);
    hooks.wait_for(4, WAIT).await;
    assert_eq!(
        subjects(&mails),
        BTreeSet::from([
            "Your API token \"in-20-days\" expires in 30 days".to_owned(),
            "Your API token \"in-5-days\" expires in 7 days".to_owned(),
            "Your API token \"in-12-hours\" expires in 1 day".to_owned(),
            "Your API token \"a-day-ago\" has expired".to_owned(),
        ])
    );
    let by_token: BTreeMap<String, (String, Value)> = hooks
        .all()
        .into_iter()
        .map(|r| {
            let id = r.body["data"]["token"]["id"].as_str().unwrap().to_owned();
            (id, (r.event, r.body["data"]["days"].clone()))
        })
        .collect();
    assert_eq!(
        by_token,
        BTreeMap::from([
            ("in-20-days".into(), ("token.expiring".into(), json!(30))),
            ("in-5-days".into(), ("token.expiring".into(), json!(7))),
            ("in-12-hours".into(), ("token.expiring".into(), json!(1))),
            ("a-day-ago".into(), ("token.expired".into(), json!(0))),
        ])
    );

    // A restart looks again at start-up and finds nothing new to send.
    second.server.take().unwrap().shutdown().await;
    let store = tokengate_store::open(&first.database_url).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let _third = TestApp::spawn_on(config, store, first.database_url.clone(), None, dir).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(smtp.messages().len(), 4);
    assert_eq!(hooks.all().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_two_nodes_on_postgres_every_notice_is_sent_once() {
    let Some(schema) = schema::FreshSchema::create().await else {
        return;
    };
    let Some(smtp) = SmtpServer::start(0.0) else {
        return;
    };
    let hooks = Receiver::start(HOOK_SECRET, 0).await;
    let config = config(Some(&smtp), &[(&hooks.url(), &["token.created"])]);
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let store = tokengate_store::open(&schema.url).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        nodes.push(TestApp::spawn_on(config.clone(), store, schema.url.clone(), None, dir).await);
    }
    people(&nodes[0], Some("alice@example.com")).await;
    const TOKENS: usize = 20;
    let mut ids = BTreeSet::new();
    for index in 0..TOKENS {
        let (id, _) = token_for_alice(&nodes[index % 2], &format!("t{index}")).await;
        ids.insert(id);
    }
    smtp.wait_for(TOKENS, WAIT);
    hooks.wait_for(TOKENS, WAIT).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let mails = smtp.messages();
    let received = hooks.all();
    assert_eq!(mails.len(), TOKENS, "each mail once");
    assert_eq!(received.len(), TOKENS, "each webhook once");
    let delivered: BTreeSet<String> = received
        .iter()
        .map(|r| r.body["data"]["token"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(delivered, ids);
    let deliveries: BTreeSet<&str> = received.iter().map(|r| r.delivery.as_str()).collect();
    assert_eq!(deliveries.len(), TOKENS);
    let names: BTreeSet<String> = subjects(&mails);
    assert_eq!(names.len(), TOKENS, "one mail per token: {names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_send_that_would_outlast_its_claim_is_cut_at_half_the_lease_and_tried_again() {
    // The server answers each mail 3 s after taking it; the claim lasts 2 s.
    let Some(smtp) = SmtpServer::start(3.0) else {
        return;
    };
    let mut config = config(Some(&smtp), &[]);
    config.notifications.lease = Duration::from_secs(2);
    let app = TestApp::spawn_with(config, false).await;
    people(&app, Some("alice@example.com")).await;
    token_for_alice(&app, "slow").await;
    let started = std::time::Instant::now();
    let cut = until(|| async {
        let pending = app
            .store
            .deliveries(DeliveryState::Pending, 10)
            .await
            .unwrap();
        pending
            .into_iter()
            .find(|delivery| delivery.last_error.as_deref() == Some("timed out"))
    })
    .await;
    assert_eq!(cut.attempts, 1, "{cut:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "cut before the server answered: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_incident_button_for_everyone_mails_each_owner_their_count_once() {
    let Some(smtp) = SmtpServer::start(0.0) else {
        return;
    };
    let hooks = Receiver::start(HOOK_SECRET, 0).await;
    let app = TestApp::spawn_with(config(Some(&smtp), &[(&hooks.url(), &[])]), false).await;
    people(&app, Some("alice@example.com")).await;
    app.add_user("bob", "bob-password", false).await;
    let bob = admin(&app, reqwest::Method::PATCH, "/admin/users/bob")
        .json(&json!({"email": "bob@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bob.status(), 200);
    // Their own tokens (no mail for those), two of alice's and one of bob's.
    for (user, password) in [
        ("alice", "alice-password"),
        ("alice", "alice-password"),
        ("bob", "bob-password"),
    ] {
        let created = app
            .client
            .post(app.url("/tokengate/api/v1/tokens"))
            .basic_auth(user, Some(password))
            .json(&json!({"name": "ci"}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
    }
    let pressed = admin(&app, reqwest::Method::POST, "/admin/revoke-before")
        .json(&json!({"before": Utc::now()}))
        .send()
        .await
        .unwrap();
    assert_eq!(pressed.status(), 200);

    smtp.wait_for(2, WAIT);
    // Time for a repeat to show, were there one.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let messages = smtp.messages();
    let mut mailed: Vec<(String, String)> = messages
        .iter()
        .map(|message| {
            (
                header(message, "To").unwrap_or_default(),
                header(message, "Subject").unwrap_or_default(),
            )
        })
        .collect();
    mailed.sort();
    assert_eq!(
        mailed,
        [
            (
                "alice <alice@example.com>".to_owned(),
                "2 of your API tokens were deleted".to_owned()
            ),
            (
                "bob <bob@example.com>".to_owned(),
                "One of your API tokens was deleted".to_owned()
            ),
        ],
        "each owner once, with their own count; root, who pressed it, has no tokens"
    );
    let received = hooks.wait_for(5, WAIT).await;
    let mut deleted: Vec<(String, u64)> = received
        .iter()
        .filter(|hook| hook.event == "token.deleted")
        .map(|hook| {
            let tokens = &hook.body["data"]["tokens"];
            (
                tokens["owner"].as_str().unwrap_or_default().to_owned(),
                tokens["count"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    deleted.sort();
    assert_eq!(deleted, [("alice".to_owned(), 2), ("bob".to_owned(), 1)]);
    assert!(received.iter().all(|hook| hook.signed));
}
