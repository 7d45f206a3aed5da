//! The vector files of `vectors/` (SPEC §2, §10, §11) as real state: each case's users, tokens
//! and settings seeded into a real store behind a running gateway, with the case's times shifted
//! onto the real clock (so "now" in a case is the moment of the request), and its request's
//! credentials, client address chain, method and path as the case writes them.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::TestApp;
use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
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
use tokengate_server::config::Config;

/// One vectors file, with its users' password hashes computed once for all its cases.
pub struct Vectors {
    value: Value,
    hashes: HashMap<String, String>,
}

impl Vectors {
    /// Loads `vectors/<file>` and checks that it holds `total` cases.
    pub fn load(file: &str, total: usize) -> Self {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../vectors")
            .join(file);
        let value: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(value["cases"].as_array().unwrap().len(), total, "{file}");
        let mut hashes = HashMap::new();
        for raw in value["defaults"]["users"].as_array().unwrap() {
            let password = Secret::new(raw["password"].as_str().unwrap());
            hashes.insert(
                raw["name"].as_str().unwrap().to_owned(),
                hash_password(&password).unwrap(),
            );
        }
        Self { value, hashes }
    }

    pub fn cases(&self) -> impl Iterator<Item = Case<'_>> {
        let defaults = &self.value["defaults"];
        self.value["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(move |case| Case {
                defaults,
                case,
                hashes: &self.hashes,
            })
    }
}

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

/// A vector token's restrictions (`access`, `paths`, `routes`, `ip_allowlist`).
pub fn restrictions_of(raw: &Value) -> Restrictions {
    let strings =
        |key: &str| -> Vec<String> { serde_json::from_value(raw[key].clone()).unwrap_or_default() };
    Restrictions {
        access: serde_json::from_value(raw["access"].clone()).unwrap_or_default(),
        paths: strings("paths"),
        routes: strings("routes"),
        ip_allowlist: IpAllowList::parse(&strings("ip_allowlist")).unwrap(),
    }
}

/// One case of a vectors file.
pub struct Case<'a> {
    defaults: &'a Value,
    pub case: &'a Value,
    hashes: &'a HashMap<String, String>,
}

impl Case<'_> {
    pub fn name(&self) -> &str {
        self.case["name"].as_str().unwrap()
    }

    pub fn request(&self) -> &Value {
        &self.case["request"]
    }

    pub fn expect(&self) -> &Value {
        &self.case["expect"]
    }

    /// The tokens every case starts with (`defaults.tokens`).
    pub fn token_specs(&self) -> &[Value] {
        self.defaults["tokens"].as_array().unwrap()
    }

    /// The request's method (absent: GET).
    pub fn method(&self) -> &str {
        self.request()["method"].as_str().unwrap_or("GET")
    }

    /// The request target exactly as the case writes it.
    pub fn target(&self) -> &str {
        self.request()["path"].as_str().unwrap_or("/api/things?x=1")
    }

    /// The `X-Forwarded-For` a trusted loopback proxy passes on: the case's chain, then its peer.
    pub fn forwarded_for(&self) -> String {
        let request = self.request();
        let peer = request["peer"].as_str().unwrap();
        match request["x_forwarded_for"].as_str() {
            Some(chain) => format!("{chain}, {peer}"),
            None => peer.to_owned(),
        }
    }

    /// The test config with the case's config, and loopback trusted (the peer every request
    /// really comes from, which plays the case's address through `X-Forwarded-For`).
    pub fn config(&self) -> Config {
        let config_raw = merged(self.defaults, self.case, "config");
        let mut config = super::test_config();
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
        config
    }

    /// Creates the case's users, tokens and settings in `app`, with times shifted onto the real
    /// clock; returns the token secrets by ref (plus `unknown` and `bad-checksum`).
    pub async fn seed(&self, app: &TestApp) -> HashMap<String, String> {
        let case_now = instant(self.case.get("now").unwrap_or(&self.defaults["now"]));
        let shift = Utc::now() - case_now;
        let real_now = case_now + shift;
        for raw in self.defaults["users"].as_array().unwrap() {
            self.seed_user(app, raw, shift, real_now).await;
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
                made_by: None,
                rotated_at: None,
                rotated_from: None,
            };
            let created = audit(real_now, AuditAction::TokenCreated).token(&record.id);
            app.store.create_token(&record, &created).await.unwrap();
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

    /// One default user, with the case's patches: groups, failures, lock and known addresses.
    async fn seed_user(&self, app: &TestApp, raw: &Value, shift: TimeDelta, now: DateTime<Utc>) {
        let store = app.store.as_ref();
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
        let created = audit(now, AuditAction::UserCreated).user(&name);
        store.create_user(&user, &created).await.unwrap();
        let failures = u32::try_from(raw["failed_logins"].as_u64().unwrap()).unwrap();
        let policy = self.lockout_policy(&raw, failures);
        let lock_start = instant(&self.defaults["now"]) + shift;
        for _ in 0..failures {
            store
                .record_failed_login(&name, lock_start, policy)
                .await
                .unwrap();
        }
        for group in raw["groups"].as_array().into_iter().flatten() {
            let group = group.as_str().unwrap();
            if store.group(group).await.unwrap().is_none() {
                let empty = Group {
                    name: group.into(),
                    members: Vec::new(),
                    created_at: now,
                };
                let created = audit(now, AuditAction::GroupCreated);
                store.create_group(&empty, &created).await.unwrap();
            }
            let joined = audit(now, AuditAction::GroupChanged);
            store
                .change_members(group, std::slice::from_ref(&name), &[], &joined)
                .await
                .unwrap();
        }
        for address in raw["known_addresses"].as_array().into_iter().flatten() {
            let address = address.as_str().unwrap().parse().unwrap();
            store
                .remember_address(&name, address, now, now - TimeDelta::days(30))
                .await
                .unwrap();
        }
    }

    /// The policy under which `failures` failed logins leave the user as locked as the case says.
    fn lockout_policy(&self, raw: &Value, failures: u32) -> LockoutPolicy {
        match raw["locked_until"].is_null() {
            true => LockoutPolicy {
                max_failed_logins: failures + 1,
                lockout_minutes: 1,
            },
            false if instant(&raw["locked_until"]) == locked_forever() => LockoutPolicy {
                max_failed_logins: failures,
                lockout_minutes: 0,
            },
            false => {
                let minutes =
                    (instant(&raw["locked_until"]) - instant(&self.defaults["now"])).num_minutes();
                LockoutPolicy {
                    max_failed_logins: failures,
                    lockout_minutes: u32::try_from(minutes).unwrap(),
                }
            }
        }
    }

    /// The request's `Authorization` header with the secrets filled in, if it has one.
    pub fn authorization(&self, secrets: &HashMap<String, String>) -> Option<String> {
        let spec = self.request()["authorization"].as_str()?;
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

    /// Asserts the case's `expect.after`: failed-login counters and locks in the store.
    pub async fn check_after(&self, app: &TestApp) {
        let name = self.name();
        let Some(after) = self.expect().get("after") else {
            return;
        };
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
