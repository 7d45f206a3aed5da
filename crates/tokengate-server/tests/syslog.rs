//! Forwarding of new audit records to syslog (SPEC §13, `[audit] syslog`) through the running
//! gateway, to a real receiver on loopback that reads every message with a strict RFC 5424
//! parser: the records appended after forwarding began arrive once each, in id order, with
//! their export JSON as the message, over TCP and UDP; a receiver that comes up late gets
//! them; one that stops reading costs dropped (and counted) records, never slow requests;
//! awkward names are framed exactly; two nodes on PostgreSQL send each record once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "syslog/receiver.rs"]
mod receiver;
#[path = "multi_node/schema.rs"]
mod schema;

use chrono::Utc;
use common::{TestApp, test_config};
use receiver::{Receiver, WAIT, parse};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use syslog_rfc5424::SyslogMessage;
use syslog_rfc5424::message::ProcId;
use syslog_rfc5424::{SyslogFacility, SyslogSeverity};
use tokengate_core::model::{Actor, AuditAction, AuditRecord, NewAudit, Origin};
use tokengate_server::config::Config;

const API: &str = "/tokengate/api/v1";

fn forwarding_to(url: &str) -> Config {
    let mut config = test_config();
    config.audit.syslog = Some(url.parse().unwrap());
    config
}

/// A record as the CLI writes one, with `details`.
fn cli_record(details: Value) -> NewAudit {
    NewAudit::new(
        Utc::now(),
        &Actor::Cli,
        AuditAction::UserUpdated,
        &Origin::default(),
    )
    .user("history")
    .details(details)
}

/// Where forwarding has got to, read from the database behind tokengate's back; `None`
/// before the first node began.
async fn cursor(database_url: &str) -> Option<i64> {
    use sqlx::Connection;
    let query = "SELECT forwarded_id FROM audit_forwarding WHERE id = 1";
    if database_url.starts_with("sqlite:") {
        let mut connection = sqlx::SqliteConnection::connect(database_url).await.unwrap();
        sqlx::query_scalar(query)
            .fetch_optional(&mut connection)
            .await
            .unwrap()
    } else {
        let mut connection = sqlx::PgConnection::connect(database_url).await.unwrap();
        sqlx::query_scalar(query)
            .fetch_optional(&mut connection)
            .await
            .unwrap()
    }
}

/// Waits until a node has begun forwarding; where it began.
async fn forwarding_began(database_url: &str) -> i64 {
    let started = Instant::now();
    loop {
        if let Some(at) = cursor(database_url).await {
            return at;
        }
        assert!(started.elapsed() < WAIT, "forwarding never began");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A gateway forwarding to `url` on a database that already holds three records; waits until
/// forwarding began and checks that it began after them. The app and the first id to expect.
async fn app_with_history(config: Config) -> (TestApp, i64) {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("gate.db").display());
    let store = tokengate_store::open(&database_url).await.unwrap();
    let history: Vec<NewAudit> = (0..3).map(|n| cli_record(json!({"n": n}))).collect();
    store.append_audit(&history).await.unwrap();
    let app = TestApp::spawn_on(config, store, database_url, None, dir).await;
    let began = forwarding_began(&app.database_url).await;
    assert_eq!(
        began, 3,
        "forwarding begins at the chain's head, not with the history"
    );
    (app, began)
}

/// The records after `after`, oldest first.
async fn records_after(app: &TestApp, after: i64) -> Vec<AuditRecord> {
    app.store
        .audit_between(after, i64::MAX, 1000)
        .await
        .unwrap()
}

/// `message` is `record`: every header field, the structured data and the export JSON.
fn assert_is_record(message: &SyslogMessage, record: &AuditRecord) {
    let severity = match record.action.as_str() {
        "auth.succeeded" => SyslogSeverity::SEV_INFO,
        "auth.failed" | "auth.denied" => SyslogSeverity::SEV_WARNING,
        _ => SyslogSeverity::SEV_NOTICE,
    };
    assert_eq!(message.facility, SyslogFacility::LOG_AUTHPRIV);
    assert_eq!(message.severity, severity);
    assert_eq!(message.version, 1);
    assert_eq!(message.timestamp, Some(record.at.timestamp()));
    assert_eq!(
        message.timestamp_nanos,
        Some(record.at.timestamp_subsec_millis() * 1_000_000)
    );
    assert!(
        message
            .hostname
            .as_deref()
            .is_some_and(|host| !host.is_empty())
    );
    assert_eq!(message.appname.as_deref(), Some("tokengate"));
    assert_eq!(message.procid, Some(ProcId::PID(std::process::id() as i32)));
    assert_eq!(message.msgid.as_deref(), Some(record.action.as_str()));
    let id = record.id.to_string();
    assert_eq!(message.sd.find_tuple("tokengate@32473", "id"), Some(&id));
    assert_eq!(
        message.sd.find_tuple("tokengate@32473", "hash"),
        Some(&record.hash)
    );
    let body: Value = serde_json::from_str(&message.msg).unwrap();
    assert_eq!(
        body,
        serde_json::to_value(record).unwrap(),
        "{}",
        message.msg
    );
}

/// The messages are exactly `records`, in order.
fn assert_are_records(messages: &[SyslogMessage], records: &[AuditRecord]) {
    let ids = |messages: &[SyslogMessage]| -> Vec<String> {
        messages
            .iter()
            .map(|message| {
                message
                    .sd
                    .find_tuple("tokengate@32473", "id")
                    .cloned()
                    .unwrap()
            })
            .collect()
    };
    let expected: Vec<String> = records.iter().map(|record| record.id.to_string()).collect();
    assert_eq!(ids(messages), expected);
    for (message, record) in messages.iter().zip(records) {
        assert_is_record(message, record);
    }
}

/// The value of the sample `series` (name and labels, as exposed); 0 when absent.
async fn sample(app: &TestApp, series: &str) -> u64 {
    app.metrics()
        .await
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0, |value| value.parse::<f64>().unwrap() as u64)
}

/// An admin `root` (by the CLI) and changes through the REST API as root: a token made and
/// deleted, the settings saved.
async fn changes_through_the_api(app: &TestApp) {
    app.add_user("root", "root-password", true).await;
    let (_, token) = app.add_token("root").await;
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request = app
            .client
            .request(method, app.url(&format!("{API}{path}")))
            .bearer_auth(&token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    let created = call(
        reqwest::Method::POST,
        "/tokens",
        Some(json!({"name": "ci"})),
    )
    .await
    .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deleted = call(reqwest::Method::DELETE, &format!("/tokens/{id}"), None)
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    let settings = json!({"max_validity": "1y", "ip_allowlist": [], "password_auth": "enabled", "admins_only": false});
    let saved = call(reqwest::Method::PUT, "/admin/settings", Some(settings))
        .await
        .unwrap();
    assert_eq!(saved.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_arrive_over_tcp_once_each_in_id_order_as_rfc_5424_with_the_export_json() {
    let receiver = Receiver::tcp().await;
    let (app, began) = app_with_history(forwarding_to(&receiver.url("tcp"))).await;
    changes_through_the_api(&app).await;
    let records = records_after(&app, began).await;
    let actions: Vec<&str> = records
        .iter()
        .map(|record| record.action.as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "user.created",
            "token.created",
            "token.created",
            "token.deleted",
            "settings.changed"
        ]
    );
    let messages = receiver.at_least(records.len()).await;
    assert_are_records(&messages, &records);
    // Nothing more comes: a later record is the next to arrive, not a repeat.
    app.store
        .append_audit(&[cli_record(json!({}))])
        .await
        .unwrap();
    let messages = receiver.at_least(records.len() + 1).await;
    assert_are_records(&messages, &records_after(&app, began).await);
    assert_eq!(
        sample(&app, "tokengate_syslog_sent_total").await,
        messages.len() as u64
    );
    assert_eq!(
        sample(
            &app,
            "tokengate_syslog_dropped_total{reason=\"queue_full\"}"
        )
        .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_arrive_over_udp_one_datagram_each() {
    let receiver = Receiver::udp().await;
    let (app, began) = app_with_history(forwarding_to(&receiver.url("udp"))).await;
    changes_through_the_api(&app).await;
    let records = records_after(&app, began).await;
    let messages = receiver.at_least(records.len()).await;
    assert_are_records(&messages, &records);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_is_down_at_start_gets_the_records_once_it_listens() {
    // A free port with nothing listening on it yet.
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (app, began) = app_with_history(forwarding_to(&format!("tcp://{address}"))).await;
    changes_through_the_api(&app).await;
    let records = records_after(&app, began).await;
    // The records are taken from the log (the cursor moves) and wait in the queue.
    let started = Instant::now();
    while cursor(&app.database_url).await < records.last().map(|record| record.id) {
        assert!(started.elapsed() < WAIT, "the records were never taken");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sample(&app, "tokengate_syslog_sent_total").await, 0);
    let receiver = Receiver::tcp_on(address).await;
    let messages = receiver.at_least(records.len()).await;
    assert_are_records(&messages, &records);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_restarts_gets_every_record_written_while_it_was_away() {
    let receiver = Receiver::tcp().await;
    let address = receiver.address;
    let (app, began) = app_with_history(forwarding_to(&receiver.url("tcp"))).await;
    app.add_user("alice", "alice-password", false).await;
    let before = records_after(&app, began).await;
    receiver.at_least(before.len()).await;
    receiver.stop().await;
    for _ in 0..3 {
        app.add_token("alice").await;
    }
    let head = app.store.audit_head().await.unwrap().unwrap().0;
    let started = Instant::now();
    while cursor(&app.database_url).await != Some(head) {
        assert!(started.elapsed() < WAIT, "the records were never taken");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let restarted = Receiver::tcp_on(address).await;
    let missed = app
        .store
        .audit_between(before.last().unwrap().id, head, 100)
        .await
        .unwrap();
    assert_eq!(missed.len(), 3);
    let messages = restarted.at_least(missed.len()).await;
    assert_are_records(&messages, &missed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_stops_reading_costs_counted_drops_and_never_slow_requests() {
    let (receiver, _held) = Receiver::tcp_not_reading().await;
    let (app, began) = app_with_history(forwarding_to(&receiver.url("tcp"))).await;
    app.add_user("alice", "alice-password", false).await;
    let (_, token) = app.add_token("alice").await;
    // More records than the queue (10,000) and the sockets' buffers hold, as the CLI writes
    // them.
    let padding = "x".repeat(4000);
    for _ in 0..2 {
        let batch: Vec<NewAudit> = (0..7_000)
            .map(|n| cli_record(json!({"n": n, "padding": padding})))
            .collect();
        app.store.append_audit(&batch).await.unwrap();
    }
    let started = Instant::now();
    let series = "tokengate_syslog_dropped_total{reason=\"queue_full\"}";
    loop {
        // Requests are answered promptly all the while.
        let asked = Instant::now();
        let answer = tokio::time::timeout(
            Duration::from_secs(5),
            app.get_bearer("/tokengate/whoami", &token),
        )
        .await
        .expect("a request waited for the syslog receiver");
        assert_eq!(answer.status().as_u16(), 200);
        assert!(asked.elapsed() < Duration::from_secs(5));
        if sample(&app, series).await > 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "nothing was dropped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Every record was taken: the ones not dropped are queued or on their way.
    let started = Instant::now();
    let head = app.store.audit_head().await.unwrap().unwrap().0;
    while cursor(&app.database_url).await != Some(head) {
        assert!(started.elapsed() < WAIT, "the records were never taken");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let dropped = sample(&app, series).await;
    let sent = sample(&app, "tokengate_syslog_sent_total").await;
    // Each record is sent, dropped, or still queued (or being written): none is counted twice.
    let taken = u64::try_from(head - began).unwrap();
    assert!(dropped + sent <= taken, "dropped {dropped}, sent {sent}");
    assert!(
        dropped + sent + 10_001 >= taken,
        "dropped {dropped}, sent {sent}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awkward_names_and_long_records_are_framed_and_read_back_exactly() {
    let receiver = Receiver::tcp().await;
    let (app, began) = app_with_history(forwarding_to(&receiver.url("tcp"))).await;
    app.add_user("alice", "alice-password", false).await;
    let names = [
        r#"quote " and ] bracket \ backslash"#,
        "ümlaut 名前 🔑",
        "[tokengate@32473 id=\"1\"] 9 <13>1",
    ];
    for name in names {
        let answer = app
            .client
            .post(app.url(&format!("{API}/tokens")))
            .basic_auth("alice", Some("alice-password"))
            .json(&json!({"name": name}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 201, "{name}");
    }
    // What the API may refuse, the CLI's records can still carry: control characters, a
    // line break, and a record longer than 8 KB.
    app.store
        .append_audit(&[
            cli_record(json!({"name": "line\nbreak\r\ttab\u{0}nul ]\"\\"})),
            cli_record(json!({"name": "y".repeat(20_000)})),
        ])
        .await
        .unwrap();
    let records = records_after(&app, began).await;
    assert_eq!(records.len(), 1 + names.len() + 2);
    let messages = receiver.at_least(records.len()).await;
    assert_are_records(&messages, &records);
    for raw in receiver.raw() {
        assert!(raw.is_ascii() && !raw.contains('\n'), "{raw}");
    }
    assert!(receiver.raw().last().unwrap().len() > 20_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_on_postgresql_send_each_record_once_and_one_takes_over_when_the_other_stops() {
    let Some(schema) = schema::FreshSchema::create().await else {
        return;
    };
    let receiver = Receiver::tcp().await;
    let config = forwarding_to(&receiver.url("tcp"));
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let store = tokengate_store::open(&schema.url).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        nodes.push(TestApp::spawn_on(config.clone(), store, schema.url.clone(), None, dir).await);
    }
    let began = forwarding_began(&schema.url).await;
    nodes[0].add_user("alice", "alice-password", false).await;
    for round in 0..10 {
        nodes[round % 2].add_token("alice").await;
    }
    let records = records_after(&nodes[0], began).await;
    assert_eq!(records.len(), 11);
    receiver.at_least(records.len()).await;
    // A stopping node gives its lease up; the other goes on, after the last record sent.
    let mut first = nodes.remove(0);
    first.server.take().unwrap().shutdown().await;
    nodes[0].add_token("alice").await;
    let records = records_after(&nodes[0], began).await;
    receiver.at_least(records.len()).await;
    nodes[0].server.take().unwrap().shutdown().await;
    let messages: Vec<SyslogMessage> = receiver.raw().iter().map(|raw| parse(raw)).collect();
    assert_are_records(&messages, &records);
}
