//! Every case of `vectors/decision.json` (SPEC §2) through real HTTP: a gateway in front of a
//! real upstream, on real SQLite. Client addresses are played through `X-Forwarded-For` from the
//! loopback peer, which the test configuration trusts. Case times are shifted onto the real
//! clock, so "now" in a case is the moment of the request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::TestApp;
use common::raw;
use common::vectors::{Case, Vectors};
use serde_json::Value;

/// Asserts the case's `Retry-After` expectation, if it has one.
fn check_retry_after(case: &Case<'_>, response: &raw::RawResponse) {
    let name = case.name();
    let retry_after = response
        .header("retry-after")
        .map(|value| value.parse::<u64>().unwrap());
    if let Some(expected) = case.expect().get("retry_after_s") {
        match expected.as_u64() {
            Some(seconds) => {
                let got = retry_after.unwrap_or_else(|| panic!("{name}: Retry-After missing"));
                assert!(
                    got <= seconds && got + 5 >= seconds,
                    "{name}: Retry-After {got}, expected {seconds}"
                );
            }
            None => assert_eq!(retry_after, None, "{name}: no Retry-After"),
        }
    }
}

/// Asserts what the upstream saw (an allowed case) or the refusal's code (any other).
fn check_body(case: &Case<'_>, response: &raw::RawResponse) {
    let name = case.name();
    let expect = case.expect();
    let body: Value = response.json();
    if response.status == 200 {
        let headers = &body["headers"];
        let user = headers["x-authenticated-user"][0].as_str();
        assert_eq!(user, expect["user"].as_str(), "{name}: identity forwarded");
        let via = headers["x-authenticated-via"][0].as_str();
        let expected_via = expect["via"].as_str().unwrap();
        assert_eq!(via, Some(expected_via), "{name}: via");
        assert!(
            headers.get("authorization").is_none(),
            "{name}: Authorization stripped"
        );
        return;
    }
    assert_eq!(
        body["error"].as_str(),
        expect["reason"].as_str(),
        "{name}: reason"
    );
    if let Some(reason) = expect["reason"]
        .as_str()
        .filter(|reason| *reason == "ip_not_allowed")
    {
        let client = body["message"].as_str().unwrap();
        assert!(
            client.contains('.') || client.contains(':'),
            "{name}: {reason} names the address"
        );
    }
}

async fn run(case: &Case<'_>) {
    let name = case.name();
    let app = TestApp::spawn_with(case.config(), true).await;
    let secrets = case.seed(&app).await;
    let mut headers = vec![("x-forwarded-for", case.forwarded_for())];
    if let Some(header) = case.authorization(&secrets) {
        headers.push(("authorization", header));
    }
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    // Sent as written: a client library would resolve dot segments first.
    let request = raw::request(case.method(), case.target(), &headers);
    let response = raw::send(app.address, &request).await;
    assert_eq!(
        u64::from(response.status),
        case.expect()["status"].as_u64().unwrap(),
        "{name}: status"
    );
    check_retry_after(case, &response);
    if case.method() != "HEAD" {
        // A HEAD answer has no body to read the forwarded identity or the code from.
        check_body(case, &response);
    }
    case.check_after(&app).await;
}

/// Runs the cases of the vectors file `file` (holding `total`) that `select` picks; returns how
/// many ran.
async fn run_vectors(file: &str, total: usize, select: fn(&Value) -> bool) -> usize {
    let vectors = Vectors::load(file, total);
    let mut ran = 0;
    for case in vectors.cases().filter(|case| select(case.case)) {
        run(&case).await;
        ran += 1;
    }
    ran
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_decision_vector_holds_through_the_reverse_proxy() {
    assert_eq!(run_vectors("decision.json", 52, |_| true).await, 52);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_restriction_vector_holds_through_the_reverse_proxy() {
    assert_eq!(run_vectors("restrictions.json", 33, |_| true).await, 33);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_group_permission_vector_holds_through_the_reverse_proxy() {
    let permission_case = |case: &Value| case["settings"].get("permissions").is_some();
    assert_eq!(
        run_vectors("restrictions.json", 33, permission_case).await,
        9
    );
}
