//! Every case of `vectors/decision.json` (SPEC §2) through real HTTP: a gateway in front of a
//! real upstream, on real SQLite. Client addresses are played through `X-Forwarded-For` from the
//! loopback peer, which the test configuration trusts. Case times are shifted onto the real
//! clock, so "now" in a case is the moment of the request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use common::raw;
use common::{TestApp, test_config};
use serde_json::Value;
use std::collections::HashMap;
use tokengate_core::Secret;
use tokengate_core::allowlist::IpAllowList;
use tokengate_core::groups::Group;
use tokengate_core::lockout::{LockoutPolicy, locked_forever};
use tokengate_core::model::{Actor, AuditAction, NewAudit, Origin, Settings, TokenRecord, User};
use tokengate_core::password::hash_password;
use tokengate_core::restrictions::Restrictions;
use tokengate_core::token::TokenSecret;

fn instant(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

fn merged(defaults: &Value, case: &Value, key: &str) -> Value {
    let mut raw = defaults[key].clone();
    if let Some(overrides) = case[key].as_object() {
        for (name, value) in overrides {
            raw[name] = value.clone();
        }
    }
    raw
}

fn audit(at: DateTime<Utc>, action: AuditAction) -> NewAudit {
    NewAudit::new(at, &Actor::Cli, action, &Origin::default())
}

struct Case<'a> {
    defaults: &'a Value,
    case: &'a Value,
    hashes: &'a HashMap<String, String>,
}

impl Case<'_> {
    fn name(&self) -> &str {
        self.case["name"].as_str().unwrap()
    }

    async fn app(&self) -> TestApp {
        let config_raw = merged(self.defaults, self.case, "config");
        let mut config = test_config();
        let mut trusted: Vec<String> =
            serde_json::from_value(config_raw["trusted_proxies"].clone()).unwrap();
        trusted.push("127.0.0.1/32".into());
        config.gateway.trusted_proxies = trusted.iter().map(|net| net.parse().unwrap()).collect();
        config.gateway.anonymous = serde_json::from_value(config_raw["anonymous"].clone()).unwrap();
        config.security.max_failed_logins =
            u32::try_from(config_raw["max_failed_logins"].as_u64().unwrap()).unwrap();
        config.security.lockout_minutes =
            u32::try_from(config_raw["lockout_minutes"].as_u64().unwrap()).unwrap();
        config.gateway.token_user_names =
            serde_json::from_value(config_raw["token_user_names"].clone()).unwrap();
        config.security.failures_per_minute = 10_000;
        TestApp::spawn_with(config, true).await
    }

    /// Creates users, tokens and settings, with times shifted by `shift`; returns secrets by ref.
    async fn seed(
        &self,
        app: &TestApp,
        shift: TimeDelta,
        case_now: DateTime<Utc>,
    ) -> HashMap<String, String> {
        let store = app.store.as_ref();
        let real_now = case_now + shift;
        for raw in self.defaults["users"].as_array().unwrap() {
            let mut raw = raw.clone();
            let own = raw["name"].clone();
            for patch in self.case["users"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|patch| patch["name"] == own)
            {
                for (key, value) in patch.as_object().unwrap() {
                    raw[key] = value.clone();
                }
            }
            let name = raw["name"].as_str().unwrap().to_owned();
            let user = User {
                name: name.clone(),
                display_name: name.clone(),
                email: None,
                source: Default::default(),
                groups: Vec::new(),
                directory_groups: Vec::new(),
                admin: raw["admin"].as_bool().unwrap(),
                disabled: raw["disabled"].as_bool().unwrap(),
                password_hash: Some(self.hashes[&name].clone()),
                failed_logins: 0,
                locked_until: None,
            };
            store
                .create_user(
                    &user,
                    &audit(real_now, AuditAction::UserCreated).user(&name),
                )
                .await
                .unwrap();
            let failures = u32::try_from(raw["failed_logins"].as_u64().unwrap()).unwrap();
            let policy = match raw["locked_until"].is_null() {
                true => LockoutPolicy {
                    max_failed_logins: failures + 1,
                    lockout_minutes: 1,
                },
                false if instant(&raw["locked_until"]) == locked_forever() => LockoutPolicy {
                    max_failed_logins: failures,
                    lockout_minutes: 0,
                },
                false => {
                    let minutes = (instant(&raw["locked_until"]) - instant(&self.defaults["now"]))
                        .num_minutes();
                    LockoutPolicy {
                        max_failed_logins: failures,
                        lockout_minutes: u32::try_from(minutes).unwrap(),
                    }
                }
            };
            let lock_start = instant(&self.defaults["now"]) + shift;
            for _ in 0..failures {
                store
                    .record_failed_login(&name, lock_start, policy)
                    .await
                    .unwrap();
            }
            for group in raw["groups"].as_array().into_iter().flatten() {
                let group = group.as_str().unwrap();
                let created = audit(real_now, AuditAction::GroupCreated);
                if store.group(group).await.unwrap().is_none() {
                    let empty = Group {
                        name: group.into(),
                        members: Vec::new(),
                        created_at: real_now,
                    };
                    store.create_group(&empty, &created).await.unwrap();
                }
                let joined = audit(real_now, AuditAction::GroupChanged);
                store
                    .change_members(group, std::slice::from_ref(&name), &[], &joined)
                    .await
                    .unwrap();
            }
            for address in raw["known_addresses"].as_array().into_iter().flatten() {
                let address = address.as_str().unwrap().parse().unwrap();
                store
                    .remember_address(&name, address, real_now, real_now - TimeDelta::days(30))
                    .await
                    .unwrap();
            }
        }
        let mut secrets = HashMap::new();
        for raw in self.defaults["tokens"].as_array().unwrap() {
            let secret = TokenSecret::generate().unwrap();
            let reference = raw["ref"].as_str().unwrap().to_owned();
            let record = TokenRecord {
                restrictions: restrictions_of(raw),
                id: format!("id{reference}"),
                owner: raw["owner"].as_str().unwrap().to_owned(),
                name: reference.clone(),
                digest: secret.digest(),
                hint: secret.hint(),
                created_at: real_now - TimeDelta::days(30),
                created_by: "cli".into(),
                expires_at: (!raw["expires_at"].is_null())
                    .then(|| instant(&raw["expires_at"]) + shift),
                last_used_at: None,
                last_used_ip: None,
            };
            store
                .create_token(
                    &record,
                    &audit(real_now, AuditAction::TokenCreated).token(&record.id),
                )
                .await
                .unwrap();
            secrets.insert(reference, secret.expose().to_owned());
        }
        secrets.insert(
            "unknown".into(),
            TokenSecret::generate().unwrap().expose().to_owned(),
        );
        let valid = TokenSecret::generate().unwrap().expose().to_owned();
        let bad = format!(
            "{}{}",
            &valid[..valid.len() - 1],
            if valid.ends_with('a') { 'b' } else { 'a' }
        );
        secrets.insert("bad-checksum".into(), bad);
        let settings: Settings =
            serde_json::from_value(merged(self.defaults, self.case, "settings")).unwrap();
        app.save_settings(&settings).await;
        app.sync().await;
        secrets
    }

    fn authorization(&self, secrets: &HashMap<String, String>) -> Option<String> {
        let spec = self.case["request"]["authorization"].as_str()?;
        let mut spec = spec.to_owned();
        for (reference, secret) in secrets {
            spec = spec.replace(&format!("{{{reference}}}"), secret);
        }
        Some(if let Some(pair) = spec.strip_prefix("basic ") {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        } else if let Some(secret) = spec.strip_prefix("bearer ") {
            format!("Bearer {secret}")
        } else {
            spec.strip_prefix("raw ").unwrap().to_owned()
        })
    }

    async fn run(&self) {
        let name = self.name().to_owned();
        let app = self.app().await;
        let case_now = instant(self.case.get("now").unwrap_or(&self.defaults["now"]));
        let shift = Utc::now() - case_now;
        let secrets = self.seed(&app, shift, case_now).await;
        let request = &self.case["request"];
        let peer = request["peer"].as_str().unwrap();
        let forwarded = match request["x_forwarded_for"].as_str() {
            Some(chain) => format!("{chain}, {peer}"),
            None => peer.to_owned(),
        };
        let method = request["method"].as_str().unwrap_or("GET");
        let target = request["path"].as_str().unwrap_or("/api/things?x=1");
        let mut headers = vec![("x-forwarded-for", forwarded.clone())];
        if let Some(header) = self.authorization(&secrets) {
            headers.push(("authorization", header));
        }
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        // Sent as written: a client library would resolve dot segments first.
        let response = raw::send(app.address, &raw::request(method, target, &headers)).await;
        let expect = &self.case["expect"];
        let status = response.status;
        assert_eq!(
            u64::from(status),
            expect["status"].as_u64().unwrap(),
            "{name}: status"
        );
        let retry_after = response
            .header("retry-after")
            .map(|value| value.parse::<u64>().unwrap());
        if let Some(expected) = expect.get("retry_after_s") {
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
        if method == "HEAD" {
            return; // no body to read the forwarded identity from
        }
        let body: Value = response.json();
        if status == 200 {
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
        } else {
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
        if let Some(after) = expect.get("after") {
            let counts = after["failed_logins"].as_object().unwrap();
            for (user, count) in counts {
                let record = app.store.user(user).await.unwrap().unwrap();
                assert_eq!(
                    u64::from(record.failed_logins),
                    count.as_u64().unwrap(),
                    "{name}: {user} failed logins"
                );
                if let Some(locked) = after["locked"].as_array() {
                    let is_locked = record.locked_until.is_some_and(|until| until > Utc::now());
                    let listed = locked
                        .iter()
                        .any(|value| value.as_str() == Some(user.as_str()));
                    assert_eq!(is_locked, listed, "{name}: {user} locked");
                }
            }
        }
    }
}

/// A vector token's restrictions (`access`, `paths`, `routes`, `ip_allowlist`).
fn restrictions_of(raw: &Value) -> Restrictions {
    let strings =
        |key: &str| -> Vec<String> { serde_json::from_value(raw[key].clone()).unwrap_or_default() };
    Restrictions {
        access: serde_json::from_value(raw["access"].clone()).unwrap_or_default(),
        paths: strings("paths"),
        routes: strings("routes"),
        ip_allowlist: IpAllowList::parse(&strings("ip_allowlist")).unwrap(),
    }
}

/// Runs the cases of the vectors file `file` (holding `total`) that `select` picks; returns how
/// many ran.
async fn run_vectors(file: &str, total: usize, select: fn(&Value) -> bool) -> usize {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../vectors")
        .join(file);
    let vectors: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let defaults = &vectors["defaults"];
    let mut hashes = HashMap::new();
    for raw in defaults["users"].as_array().unwrap() {
        let password = Secret::new(raw["password"].as_str().unwrap());
        hashes.insert(
            raw["name"].as_str().unwrap().to_owned(),
            hash_password(&password).unwrap(),
        );
    }
    let cases = vectors["cases"].as_array().unwrap();
    assert_eq!(cases.len(), total);
    let mut ran = 0;
    for case in cases.iter().filter(|case| select(case)) {
        Case {
            defaults,
            case,
            hashes: &hashes,
        }
        .run()
        .await;
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
