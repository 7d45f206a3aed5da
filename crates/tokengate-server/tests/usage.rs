//! Usage (SPEC §13) over HTTP: what the gateway counts per token or user, address, via, route
//! and day, written by a flush (and at shutdown); `GET /tokens/{id}/usage` for the owner and
//! admins; `POST /admin/dry-run` on recorded usage, hostile input included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::Utc;
use common::{TestApp, error_body, state, trusting_loopback};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::IpAddr;
use tokengate_core::Via;
use tokengate_core::usage::{UsageFilter, UsageRow};

const API: &str = "/tokengate/api/v1";

enum Auth<'a> {
    Bearer(&'a str),
    Basic(&'a str, &'a str),
    None,
}

/// One GET of `path` as if from `client` (the loopback peer is a trusted proxy); its status.
async fn send(app: &TestApp, path: &str, client: &str, auth: Auth<'_>) -> u16 {
    let mut request = app
        .client
        .get(app.url(path))
        .header("x-forwarded-for", client)
        .header("x-forwarded-method", "GET")
        .header("x-forwarded-uri", "/rest/x");
    request = match auth {
        Auth::Bearer(token) => request.bearer_auth(token),
        Auth::Basic(user, password) => request.basic_auth(user, Some(password)),
        Auth::None => request,
    };
    request.send().await.unwrap().status().as_u16()
}

async fn send_times(app: &TestApp, times: usize, path: &str, client: &str, auth: Auth<'_>) {
    let auth = &auth;
    for _ in 0..times {
        let again = match auth {
            Auth::Bearer(token) => Auth::Bearer(token),
            Auth::Basic(user, password) => Auth::Basic(user, password),
            Auth::None => Auth::None,
        };
        assert_eq!(
            send(app, path, client, again).await,
            200,
            "{path} from {client}"
        );
    }
}

async fn flush(app: &TestApp) {
    state(app)
        .usage_counts
        .flush(app.store.as_ref(), Utc::now())
        .await;
}

async fn stored(app: &TestApp) -> Vec<UsageRow> {
    let filter = UsageFilter::last_days(1, Utc::now());
    app.store.usage(&filter).await.unwrap()
}

/// (user, token, address, via, route, count) of every stored row, sorted.
type Seen = (String, Option<String>, String, Via, Option<String>, u64);

fn seen(rows: &[UsageRow]) -> Vec<Seen> {
    let today = Utc::now().date_naive();
    let mut seen: Vec<Seen> = rows
        .iter()
        .map(|row| {
            assert_eq!(row.day, today);
            (
                row.user.clone(),
                row.token_id.clone(),
                row.address.to_string(),
                row.via,
                row.route.clone(),
                row.count,
            )
        })
        .collect();
    seen.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    seen
}

fn row(
    user: &str,
    token: Option<&str>,
    address: &str,
    via: Via,
    route: Option<&str>,
    count: u64,
) -> Seen {
    (
        user.into(),
        token.map(str::to_owned),
        address.into(),
        via,
        route.map(str::to_owned),
        count,
    )
}

async fn app_with_users() -> (TestApp, String, String) {
    let app = TestApp::spawn_with(trusting_loopback(), true).await;
    app.add_user("root", "root-pw", true).await;
    app.add_user("alice", "alice-pw", false).await;
    app.add_user("bob", "bob-pw", false).await;
    let (alice_token_id, alice_token) = app.add_token("alice").await;
    (app, alice_token_id, alice_token)
}

#[tokio::test]
async fn usage_counts_match_what_was_sent_per_token_address_via_and_day_after_a_flush() {
    let (app, alice_id, alice) = app_with_users().await;
    send_times(&app, 3, "/rest/x", "10.0.0.1", Auth::Bearer(&alice)).await;
    send_times(&app, 2, "/rest/x", "10.0.0.2", Auth::Bearer(&alice)).await;
    send_times(&app, 2, "/tokengate/auth", "10.0.0.2", Auth::Bearer(&alice)).await;
    send_times(
        &app,
        1,
        "/tokengate/whoami",
        "2001:db8::5",
        Auth::Bearer(&alice),
    )
    .await;
    send_times(&app, 4, "/rest/x", "10.0.0.1", Auth::Basic("bob", "bob-pw")).await;
    // Refused requests are not usage.
    assert_eq!(
        send(&app, "/rest/x", "10.0.0.1", Auth::Basic("bob", "wrong")).await,
        401
    );
    assert_eq!(
        send(&app, "/rest/x", "10.0.0.1", Auth::Bearer("tg_nonsense")).await,
        401
    );
    assert_eq!(send(&app, "/rest/x", "10.0.0.3", Auth::None).await, 401);
    assert!(
        stored(&app).await.is_empty(),
        "nothing is written before the flush"
    );
    flush(&app).await;
    let token = Some(alice_id.as_str());
    assert_eq!(seen(&stored(&app).await), {
        let mut expected = vec![
            row("alice", token, "10.0.0.1", Via::Token, Some("default"), 3),
            row("alice", token, "10.0.0.2", Via::Token, Some("default"), 2),
            row("alice", token, "10.0.0.2", Via::Token, None, 2),
            row(
                "alice",
                token,
                "2001:db8::5",
                Via::Token,
                Some("tokengate"),
                1,
            ),
            row("bob", None, "10.0.0.1", Via::Password, Some("default"), 4),
        ];
        expected.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        expected
    });
    // A second flush adds what came since to the same rows.
    send_times(&app, 5, "/rest/x", "10.0.0.1", Auth::Bearer(&alice)).await;
    flush(&app).await;
    flush(&app).await;
    let rows = stored(&app).await;
    let busiest = rows
        .iter()
        .find(|row| row.address == "10.0.0.1".parse::<IpAddr>().unwrap() && row.via == Via::Token)
        .unwrap();
    assert_eq!(busiest.count, 8);
}

#[tokio::test]
async fn shutdown_writes_the_usage_counted_since_the_last_flush() {
    let (mut app, _, alice) = app_with_users().await;
    send_times(&app, 6, "/rest/x", "10.0.0.9", Auth::Bearer(&alice)).await;
    app.server.take().unwrap().shutdown().await;
    let rows = stored(&app).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].count, 6);
    assert_eq!(rows[0].address.to_string(), "10.0.0.9");
}

async fn api_get(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("{API}{path}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_owner_and_admins_read_a_tokens_usage_per_day_and_address() {
    let (app, alice_id, alice) = app_with_users().await;
    let (_, root) = app.add_token("root").await;
    let (bob_id, _) = app.add_token("bob").await;
    send_times(&app, 3, "/rest/x", "10.0.0.1", Auth::Bearer(&alice)).await;
    send_times(&app, 1, "/rest/x", "10.0.0.2", Auth::Bearer(&alice)).await;
    flush(&app).await;
    let path = format!("/tokens/{alice_id}/usage");
    let response = api_get(&app, &path, &alice).await;
    assert_eq!(response.status(), StatusCode::OK);
    let usage: Value = response.json().await.unwrap();
    let today = Utc::now().date_naive().to_string();
    assert_eq!(usage["token_id"], alice_id.as_str());
    assert_eq!(usage["days"], 30);
    assert_eq!(usage["requests"], 4);
    assert_eq!(
        usage["per_day"],
        json!([{"day": today, "requests": 4, "addresses": [
            {"address": "10.0.0.1", "requests": 3},
            {"address": "10.0.0.2", "requests": 1},
        ]}])
    );
    assert_eq!(
        usage["addresses"][0],
        json!({"address": "10.0.0.1", "requests": 3})
    );
    // An admin may read any token's usage.
    let by_admin: Value = api_get(&app, &format!("{path}?days=1"), &root)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_admin["requests"], 4);
    assert_eq!(by_admin["since"], today.as_str());
    // Another user's token and a missing one read the same: 404.
    for other in [
        format!("/tokens/{bob_id}/usage"),
        "/tokens/nope/usage".to_owned(),
    ] {
        error_body(api_get(&app, &other, &alice).await, 404, "not_found").await;
    }
    let anonymous = app
        .client
        .get(app.url(&format!("{API}{path}")))
        .send()
        .await
        .unwrap();
    error_body(anonymous, 401, "missing_credentials").await;
}

#[tokio::test]
async fn a_usage_window_outside_one_to_ninety_days_or_not_a_number_is_refused() {
    let (app, alice_id, alice) = app_with_users().await;
    for days in [
        "0",
        "-1",
        "91",
        "100000000000000000000000",
        "abc",
        "1.5",
        "",
        "%31%30%30",
        "30&days=31",
    ] {
        let path = format!("/tokens/{alice_id}/usage?days={days}");
        error_body(api_get(&app, &path, &alice).await, 400, "invalid_query").await;
    }
    let unknown = format!("/tokens/{alice_id}/usage?weeks=2");
    error_body(api_get(&app, &unknown, &alice).await, 400, "invalid_query").await;
    let encoded_ok = format!("/tokens/{alice_id}/usage?days=%39%30");
    assert_eq!(
        api_get(&app, &encoded_ok, &alice).await.status(),
        StatusCode::OK
    );
}

async fn dry_run(app: &TestApp, token: &str, client: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url(&format!("{API}/admin/dry-run")))
        .bearer_auth(token)
        .header("x-forwarded-for", client)
        .json(body)
        .send()
        .await
        .unwrap()
}

fn proposal(allowlist: &[&str], password_auth: &str) -> Value {
    json!({"settings": {
        "max_validity": "never",
        "ip_allowlist": allowlist,
        "password_auth": password_auth,
        "admins_only": false,
    }})
}

#[tokio::test]
async fn a_dry_run_lists_exactly_the_users_an_allow_list_and_the_password_switch_would_refuse() {
    let (app, alice_id, alice) = app_with_users().await;
    let (root_id, root) = app.add_token("root").await;
    send_times(&app, 3, "/rest/x", "10.0.0.1", Auth::Bearer(&alice)).await;
    send_times(&app, 2, "/rest/x", "10.0.0.2", Auth::Bearer(&alice)).await;
    send_times(&app, 4, "/rest/x", "10.0.0.1", Auth::Basic("bob", "bob-pw")).await;
    send_times(&app, 1, "/rest/x", "10.0.0.1", Auth::Bearer(&root)).await;
    flush(&app).await;
    let before = app.store.settings().await.unwrap();

    let response = dry_run(
        &app,
        &root,
        "10.0.0.1",
        &proposal(&["10.0.0.1"], "disabled"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["days"], 30);
    assert_eq!(report["locks_out_caller"], false);
    assert_eq!(report["recorded_requests"], 10);
    assert_eq!(report["refused_requests"], 6);
    assert_eq!(
        report["users"],
        json!([
            {"user": "bob", "is_caller": false, "requests": 4, "refusals": [
                {"address": "10.0.0.1", "via": "password", "token_id": null,
                 "reason": "password_auth_disabled", "requests": 4}]},
            {"user": "alice", "is_caller": false, "requests": 2, "refusals": [
                {"address": "10.0.0.2", "via": "token", "token_id": alice_id,
                 "reason": "ip_not_allowed", "requests": 2}]},
        ])
    );

    // A list without the admin's own address: "you would lock yourself out" comes first.
    let report: Value = dry_run(&app, &root, "10.0.0.1", &proposal(&["10.0.0.2"], "enabled"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["locks_out_caller"], true);
    assert_eq!(report["users"][0]["user"], "root");
    assert_eq!(report["users"][0]["is_caller"], true);
    assert_eq!(
        report["users"][0]["refusals"][0]["token_id"],
        root_id.as_str()
    );
    assert_eq!(
        app.store.settings().await.unwrap(),
        before,
        "a dry-run saves nothing"
    );
}

#[tokio::test]
async fn a_dry_run_is_for_admins_and_refuses_bad_settings_like_a_save() {
    let (app, _, alice) = app_with_users().await;
    let (_, root) = app.add_token("root").await;
    let good = proposal(&[], "enabled");
    error_body(
        dry_run(&app, &alice, "10.0.0.1", &good).await,
        403,
        "forbidden",
    )
    .await;
    let bad_entry = proposal(&["10.0.0.0/8", "10.0.0.300"], "enabled");
    let body = error_body(
        dry_run(&app, &root, "10.0.0.1", &bad_entry).await,
        422,
        "invalid_ip_allowlist",
    )
    .await;
    assert!(body["message"].as_str().unwrap().contains("10.0.0.300"));
    for wrong in [
        json!({"max_validity": "never", "ip_allowlist": [], "password_auth": "enabled", "admins_only": false}),
        json!({"settings": good["settings"], "force": true}),
        json!({"settings": {"ip_allowlist": "10.0.0.1"}}),
        json!({"settings": {"max_validity": "forever", "ip_allowlist": [], "password_auth": "enabled", "admins_only": false}}),
    ] {
        let response = dry_run(&app, &root, "10.0.0.1", &wrong).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{wrong}"
        );
    }
    let not_json = app
        .client
        .post(app.url(&format!("{API}/admin/dry-run")))
        .bearer_auth(&root)
        .header("content-type", "application/json")
        .body("{settings")
        .send()
        .await
        .unwrap();
    error_body(not_json, 400, "invalid_json").await;
    let fine = dry_run(&app, &root, "10.0.0.1", &good).await;
    assert_eq!(fine.status(), StatusCode::OK);
}
