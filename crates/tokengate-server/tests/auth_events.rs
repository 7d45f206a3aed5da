//! Authentication events (SPEC §13) over HTTP: switched on through the REST API, one
//! `auth.succeeded` / `auth.failed` / `auth.denied` record per request of a kind switched on,
//! written in batches off the request path (and by a stop), chained, never holding a secret.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api_support;
mod common;

use api_support::{Api, json_of};
use common::{TestApp, error_body, state, trusting_loopback};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokengate_core::model::{AuditAction, AuditFilter, AuditRecord};
use tokengate_core::restrictions::{Access, Restrictions};

const EVENTS: [AuditAction; 3] = [
    AuditAction::AuthSucceeded,
    AuditAction::AuthFailed,
    AuditAction::AuthDenied,
];

/// root (admin) and alice with a token each, bob with a password, and a real upstream.
async fn start() -> Api {
    let app = TestApp::spawn_with(trusting_loopback(), true).await;
    app.add_user("root", "root-pw", true).await;
    app.add_user("alice", "alice-pw", false).await;
    app.add_user("bob", "bob-pw", false).await;
    let (_, admin_token) = app.add_token("root").await;
    let (_, alice_token) = app.add_token("alice").await;
    Api {
        app,
        admin_token,
        alice_token,
    }
}

async fn switch(api: &Api, events: Value) -> Value {
    let body = json!({"max_validity": "never", "ip_allowlist": [], "password_auth": "enabled",
        "admins_only": false, "audit_auth_events": events});
    json_of(
        api.admin(Method::PUT, "/admin/settings", Some(body)).await,
        StatusCode::OK,
    )
    .await
}

/// Every authentication event stored, oldest first.
async fn events(api: &Api) -> Vec<AuditRecord> {
    let mut records = Vec::new();
    for action in EVENTS {
        let filter = AuditFilter {
            action: Some(action),
            limit: 1000,
            ..AuditFilter::default()
        };
        records.extend(api.app.store.audit(&filter).await.unwrap());
    }
    records.sort_by_key(|record| record.id);
    records
}

/// Waits until `count` events are stored (they are written every half second).
async fn wait_for(api: &Api, count: usize) -> Vec<AuditRecord> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let stored = events(api).await;
        if stored.len() >= count || Instant::now() > deadline {
            return stored;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A GET of `/rest/x` from `client` (loopback is a trusted proxy); its status.
async fn send(api: &Api, client: &str, auth: Option<(&str, Option<&str>)>) -> u16 {
    send_method(api, "GET", client, auth).await
}

async fn send_method(
    api: &Api,
    method: &str,
    client: &str,
    auth: Option<(&str, Option<&str>)>,
) -> u16 {
    let mut request = api
        .app
        .client
        .request(
            method.parse().unwrap(),
            api.app.url("/rest/x?secret=query-value"),
        )
        .header("x-forwarded-for", client);
    request = match auth {
        Some((token, None)) => request.bearer_auth(token),
        Some((user, Some(password))) => request.basic_auth(user, Some(password)),
        None => request,
    };
    request.send().await.unwrap().status().as_u16()
}

/// The requests the records stand for.
fn counted(records: &[AuditRecord]) -> u64 {
    records
        .iter()
        .map(|record| record.details["count"].as_u64().unwrap())
        .sum()
}

fn summary(record: &AuditRecord) -> (String, Option<String>, Option<String>, String) {
    let reason = record.details["reason"].as_str().unwrap_or("-").to_owned();
    (
        record.action.as_str().to_owned(),
        record.user.clone(),
        record.details["via"].as_str().map(str::to_owned),
        reason,
    )
}

fn row(
    action: &str,
    user: Option<&str>,
    via: Option<&str>,
    reason: &str,
) -> (String, Option<String>, Option<String>, String) {
    (
        action.into(),
        user.map(str::to_owned),
        via.map(str::to_owned),
        reason.into(),
    )
}

#[tokio::test]
async fn with_all_three_on_each_request_becomes_one_event_of_its_kind_without_a_secret() {
    let api = start().await;
    let settings = switch(
        &api,
        json!({"success": true, "failure": true, "denied": true}),
    )
    .await;
    assert_eq!(
        settings["audit_auth_events"],
        json!({"success": true, "failure": true, "denied": true})
    );
    let read_only = Restrictions {
        access: Access::Read,
        ..Restrictions::default()
    };
    let (read_only_id, read_only_token) = api.app.add_restricted_token("bob", &read_only).await;
    let alice = api.alice_token.clone();
    let changed = if alice.ends_with('x') { 'y' } else { 'x' };
    let wrong_token = format!("{}{changed}", &alice[..alice.len() - 1]);

    assert_eq!(send(&api, "10.0.0.1", Some((&alice, None))).await, 200);
    assert_eq!(
        send(&api, "10.0.0.2", Some(("bob", Some("bob-pw")))).await,
        200
    );
    assert_eq!(
        send(&api, "10.0.0.3", Some((&wrong_token, None))).await,
        401
    );
    assert_eq!(
        send(&api, "10.0.0.3", Some(("bob", Some("wrong-pw-1")))).await,
        401
    );
    assert_eq!(
        send(&api, "10.0.0.3", Some(("hunter2-pw-in-name", Some("x")))).await,
        401
    );
    assert_eq!(
        send(&api, "10.0.0.4", None).await,
        401,
        "no attempt, no event"
    );
    assert_eq!(
        send_method(&api, "POST", "10.0.0.5", Some((&read_only_token, None))).await,
        403
    );
    let stored = wait_for(&api, 6).await;
    let seen: Vec<_> = stored.iter().map(summary).collect();
    assert_eq!(
        seen,
        [
            row("auth.succeeded", Some("alice"), Some("token"), "-"),
            row("auth.succeeded", Some("bob"), Some("password"), "-"),
            row("auth.failed", None, Some("token"), "invalid_credentials"),
            row(
                "auth.failed",
                Some("bob"),
                Some("password"),
                "invalid_credentials"
            ),
            row("auth.failed", None, Some("password"), "invalid_credentials"),
            row(
                "auth.denied",
                Some("bob"),
                Some("token"),
                "token_scope_denied"
            ),
        ]
    );
    let addresses: Vec<_> = stored
        .iter()
        .map(|record| record.ip.clone().unwrap())
        .collect();
    assert_eq!(
        addresses,
        [
            "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.3", "10.0.0.3", "10.0.0.5"
        ]
    );
    let denied = stored.last().unwrap();
    assert_eq!(denied.token_id.as_deref(), Some(read_only_id.as_str()));
    assert_eq!(denied.details["restriction"], "access");
    assert_eq!(denied.details["method"], "POST");
    assert_eq!(denied.details["path"], "/rest/x");
    assert_eq!(denied.details["route"], "default");
    assert!(stored.iter().all(|record| record.request_id.is_some()));

    let everything = serde_json::to_string(&stored).unwrap();
    for secret in [
        alice.as_str(),
        wrong_token.as_str(),
        read_only_token.as_str(),
        "bob-pw",
        "wrong-pw-1",
        "hunter2",
        "query-value",
    ] {
        assert!(!everything.contains(secret), "{secret} in {everything}");
    }
    let verified = tokengate_core::store::verify_audit(api.app.store.as_ref())
        .await
        .unwrap();
    assert!(verified.ok, "the events are chained like every record");
}

#[tokio::test]
async fn the_allow_list_refusal_is_a_failure_and_a_disabled_switch_a_denial() {
    let api = start().await;
    let body = json!({"max_validity": "never", "ip_allowlist": ["127.0.0.1", "10.0.0.0/8"],
        "password_auth": "disabled", "admins_only": false,
        "audit_auth_events": {"failure": true, "denied": true}});
    json_of(
        api.admin(Method::PUT, "/admin/settings", Some(body)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        send(&api, "192.0.2.7", Some((&api.alice_token, None))).await,
        403
    );
    assert_eq!(
        send(&api, "10.1.1.1", Some(("bob", Some("bob-pw")))).await,
        403
    );
    assert_eq!(
        send(&api, "10.1.1.1", Some((&api.alice_token, None))).await,
        200
    );
    let stored = wait_for(&api, 2).await;
    let seen: Vec<_> = stored.iter().map(summary).collect();
    assert_eq!(
        seen,
        [
            row("auth.failed", None, None, "ip_not_allowed"),
            row(
                "auth.denied",
                None,
                Some("password"),
                "password_auth_disabled"
            ),
        ],
        "success is off; the refused address is recorded before any credentials are read"
    );
    assert_eq!(stored[0].ip.as_deref(), Some("192.0.2.7"));
    assert_eq!(stored[0].actor, "anonymous");
}

#[tokio::test]
async fn events_are_off_by_default_and_each_switch_records_only_its_kind() {
    let api = start().await;
    let current = json_of(
        api.admin(Method::GET, "/admin/settings", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        current["audit_auth_events"],
        json!({"success": false, "failure": false, "denied": false})
    );
    assert_eq!(
        send(&api, "10.0.0.1", Some((&api.alice_token, None))).await,
        200
    );
    assert_eq!(
        send(&api, "10.0.0.1", Some(("bob", Some("nope")))).await,
        401
    );
    assert_eq!(state(&api.app).auth_events.pending(), 0);

    switch(&api, json!({"denied": true})).await;
    assert_eq!(
        send(&api, "10.0.0.1", Some((&api.alice_token, None))).await,
        200
    );
    assert_eq!(
        send(&api, "10.0.0.1", Some(("bob", Some("nope")))).await,
        401
    );
    let settings = api.app.store.settings().await.unwrap();
    let mut restricted = settings.clone();
    restricted.permissions.use_tokens =
        tokengate_core::groups::GroupList::parse(&["nobody"]).unwrap();
    api.app.save_settings(&restricted).await;
    api.app.sync().await;
    assert_eq!(
        send(&api, "10.0.0.1", Some((&api.alice_token, None))).await,
        403
    );
    let stored = wait_for(&api, 1).await;
    let seen: Vec<_> = stored.iter().map(summary).collect();
    assert_eq!(
        seen,
        [row(
            "auth.denied",
            Some("alice"),
            Some("token"),
            "tokens_not_permitted"
        )]
    );
}

#[tokio::test]
async fn a_put_without_the_switches_keeps_them_and_bad_switches_change_nothing() {
    let api = start().await;
    switch(&api, json!({"success": true})).await;
    let without = json!({"max_validity": "1y", "ip_allowlist": [], "password_auth": "enabled",
        "admins_only": false});
    let answer = json_of(
        api.admin(Method::PUT, "/admin/settings", Some(without))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        answer["audit_auth_events"],
        json!({"success": true, "failure": false, "denied": false})
    );
    let before = api.app.store.settings().await.unwrap();
    for bad in [
        json!({"success": "yes"}),
        json!({"sucess": true}),
        json!(["success"]),
        json!("all"),
        json!({"success": true, "failure": 1}),
    ] {
        let body = json!({"max_validity": "never", "ip_allowlist": [], "password_auth": "enabled",
            "admins_only": false, "audit_auth_events": bad});
        error_body(
            api.admin(Method::PUT, "/admin/settings", Some(body)).await,
            422,
            "invalid_body",
        )
        .await;
    }
    assert_eq!(api.app.store.settings().await.unwrap(), before);
}

#[tokio::test]
async fn a_stop_writes_every_event_noted_by_the_requests_it_let_finish() {
    let mut api = start().await;
    switch(
        &api,
        json!({"success": true, "failure": true, "denied": true}),
    )
    .await;
    let mut requests = Vec::new();
    for index in 0..300 {
        let client = api.app.client.clone();
        let url = api.app.url("/rest/x");
        let token = if index % 3 == 0 {
            "tg_wrong".to_owned()
        } else {
            api.alice_token.clone()
        };
        requests.push(tokio::spawn(async move {
            client
                .get(url)
                // Ten addresses: equal requests share records even when the 300 spread
                // over several half-second writes on a busy machine.
                .header("x-forwarded-for", format!("10.2.0.{}", index % 10))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut answered = 0;
    for request in requests {
        let status = request.await.unwrap();
        assert!(status == 200 || status == 401 || status == 429, "{status}");
        answered += 1;
    }
    api.app.server.take().unwrap().shutdown().await;
    let stored = events(&api).await;
    assert_eq!(answered, 300);
    assert_eq!(
        counted(&stored),
        300,
        "every request counted, none lost by the stop"
    );
    assert!(
        stored.len() < 300,
        "equal requests from one address share a record: {}",
        stored.len()
    );
    let verified = tokengate_core::store::verify_audit(api.app.store.as_ref())
        .await
        .unwrap();
    assert!(verified.ok);
}

#[tokio::test]
async fn equal_requests_within_a_write_are_one_record_with_their_count_and_others_stay_apart() {
    let api = start().await;
    switch(
        &api,
        json!({"success": true, "failure": true, "denied": true}),
    )
    .await;
    let alice = api.alice_token.clone();
    // Noted, not yet written: the next write takes them all at once.
    for _ in 0..40 {
        assert_eq!(send(&api, "10.0.0.1", Some((&alice, None))).await, 200);
    }
    for _ in 0..3 {
        assert_eq!(send(&api, "10.0.0.2", Some((&alice, None))).await, 200);
        assert_eq!(send(&api, "10.0.0.1", Some(("tg_wrong", None))).await, 401);
    }
    state(&api.app)
        .auth_events
        .write(api.app.store.as_ref())
        .await;
    let stored = events(&api).await;
    assert_eq!(counted(&stored), 46);
    let by_address_and_kind = |ip: &str, action: &str| -> u64 {
        stored
            .iter()
            .filter(|record| record.ip.as_deref() == Some(ip) && record.action.as_str() == action)
            .map(|record| record.details["count"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(by_address_and_kind("10.0.0.1", "auth.succeeded"), 40);
    assert_eq!(by_address_and_kind("10.0.0.2", "auth.succeeded"), 3);
    assert_eq!(by_address_and_kind("10.0.0.1", "auth.failed"), 3);
    // The background write every half second may split a run of equal requests in two or
    // three; without coalescing there would be 46 records.
    assert!(
        stored.len() < 20,
        "40 + 3 + 3 equal requests are a few records, not 46: {}",
        stored.len()
    );
    assert!(stored.iter().all(|record| record.request_id.is_some()));
}

#[tokio::test]
async fn events_noted_while_the_database_is_down_are_written_once_it_is_back() {
    let (app, store) = common::switchable::spawn_switchable(trusting_loopback()).await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    let mut settings = app.store.settings().await.unwrap();
    settings.audit_auth_events.success = true;
    app.save_settings(&settings).await;
    app.sync().await;
    // A cached token keeps working while the database is down; its events wait in memory.
    assert_eq!(
        app.get_bearer("/tokengate/whoami", &token).await.status(),
        200
    );
    state(&app).auth_events.write(app.store.as_ref()).await;
    store.down.store(true, std::sync::atomic::Ordering::SeqCst);
    for address in ["10.4.0.1", "10.4.0.2", "10.4.0.3"] {
        let answer = app
            .get_with(
                "/tokengate/whoami",
                &[
                    ("authorization", &format!("Bearer {token}")),
                    ("x-forwarded-for", address),
                ],
            )
            .await;
        assert_eq!(answer.status(), 200, "served from the cache");
    }
    assert_eq!(
        state(&app).auth_events.write(app.store.as_ref()).await,
        0,
        "nothing can be written"
    );
    assert_eq!(state(&app).auth_events.pending(), 3, "and nothing is lost");
    store.down.store(false, std::sync::atomic::Ordering::SeqCst);
    let filter = AuditFilter {
        action: Some(AuditAction::AuthSucceeded),
        limit: 100,
        ..AuditFilter::default()
    };
    let stored_addresses = || async {
        let stored = app.store.audit(&filter).await.unwrap();
        let mut addresses: Vec<String> = stored
            .iter()
            .map(|record| record.ip.clone().unwrap())
            .collect();
        addresses.sort();
        addresses
    };
    // The pending map empties when a write takes the batch, before it commits: wait for the
    // records themselves, then two more writes' time for any repeat to show.
    let deadline = Instant::now() + Duration::from_secs(15);
    while stored_addresses().await.len() < 4 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(state(&app).auth_events.pending(), 0);
    let addresses = stored_addresses().await;
    assert_eq!(
        addresses,
        ["10.4.0.1", "10.4.0.2", "10.4.0.3", "127.0.0.1"],
        "each event once, none lost, none twice"
    );
}
