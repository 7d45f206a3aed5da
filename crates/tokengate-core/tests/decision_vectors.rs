//! Runs every case of `vectors/decision.json` (SPEC §2 as data) through the decision, with the
//! records held in memory and real argon2 password checks, then checks the stored effects.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokengate_core::Secret;
use tokengate_core::allowlist::IpAllowList;
use tokengate_core::authenticate::{AuthLookup, HashRefused, PasswordAttempts, authenticate};
use tokengate_core::decision::{Anonymous, Effect, GatePolicy, Reach, RequestFacts};
use tokengate_core::lockout::{LockoutPolicy, after_failure};
use tokengate_core::model::{PasswordAuth, Settings, TokenGrant, TokenRecord, User};
use tokengate_core::password::hash_password;
use tokengate_core::restrictions::Restrictions;
use tokengate_core::store::StoreResult;
use tokengate_core::token::{TokenDigest, TokenSecret};

fn project_vectors() -> PathBuf {
    vectors_file("decision.json")
}

fn vectors_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../vectors")
        .join(name)
}

/// The cases of `restrictions.json` about group permissions (SPEC §10): those whose settings
/// name `permissions`. The others are about token restrictions.
fn is_permission_case(case: &Value) -> bool {
    case["settings"].get("permissions").is_some()
}

fn load(path: &PathBuf) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("vectors readable"))
        .expect("vectors are JSON")
}

fn instant(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().expect("time string"))
        .expect("rfc3339")
        .with_timezone(&Utc)
}

struct World {
    users: Mutex<HashMap<String, User>>,
    /// (user, address) pairs whose password worked lately.
    known: Mutex<Vec<(String, IpAddr)>>,
    tokens: HashMap<TokenDigest, Arc<TokenGrant>>,
    secrets: HashMap<String, String>,
}

#[async_trait]
impl AuthLookup for World {
    async fn token_by_digest(&self, digest: &TokenDigest) -> StoreResult<Option<Arc<TokenGrant>>> {
        Ok(self.tokens.get(digest).cloned())
    }
    async fn user(&self, name: &str) -> StoreResult<Option<Arc<User>>> {
        Ok(self.users.lock().unwrap().get(name).cloned().map(Arc::new))
    }
    async fn is_known_address(
        &self,
        user: &str,
        address: IpAddr,
        _since: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let known = self.known.lock().unwrap();
        Ok(known
            .iter()
            .any(|(name, seen)| name == user && *seen == address))
    }
}

/// The `known_addresses` of the defaults' users with a case's overrides applied.
fn known_of(defaults: &Value, case: &Value) -> Vec<(String, IpAddr)> {
    let mut known = Vec::new();
    for raw in defaults["users"]
        .as_array()
        .unwrap()
        .iter()
        .chain(case["users"].as_array().into_iter().flatten())
    {
        for address in raw["known_addresses"].as_array().into_iter().flatten() {
            let name = raw["name"].as_str().unwrap().to_owned();
            known.push((name, address.as_str().unwrap().parse().unwrap()));
        }
    }
    known
}

/// Real argon2 checks on the calling thread, counted.
#[derive(Default)]
struct CountedHashes(AtomicUsize);

#[async_trait]
impl PasswordAttempts for CountedHashes {
    async fn hash(
        &self,
        _client: IpAddr,
        stored_hash: Option<String>,
        password: Secret,
    ) -> Result<bool, HashRefused> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(tokengate_core::password::verify_password(
            stored_hash.as_deref(),
            &password,
        ))
    }
}

/// Users of the defaults with a case's overrides (by name) applied.
fn users_of(
    defaults: &Value,
    case: &Value,
    hashes: &HashMap<String, String>,
) -> HashMap<String, User> {
    let mut users = HashMap::new();
    for raw in defaults["users"].as_array().unwrap() {
        let mut raw = raw.clone();
        if let Some(overrides) = case["users"].as_array() {
            let own_name = raw["name"].clone();
            for patch in overrides.iter().filter(|patch| patch["name"] == own_name) {
                for (key, value) in patch.as_object().unwrap() {
                    raw[key] = value.clone();
                }
            }
        }
        let name = raw["name"].as_str().unwrap().to_owned();
        let user = User {
            name: name.clone(),
            display_name: name.clone(),
            email: None,
            source: Default::default(),
            groups: serde_json::from_value(raw["groups"].clone()).unwrap_or_default(),
            directory_groups: Vec::new(),
            admin: raw["admin"].as_bool().unwrap(),
            disabled: raw["disabled"].as_bool().unwrap(),
            password_hash: hashes.get(&name).cloned(),
            failed_logins: u32::try_from(raw["failed_logins"].as_u64().unwrap()).unwrap(),
            locked_until: (!raw["locked_until"].is_null()).then(|| instant(&raw["locked_until"])),
        };
        users.insert(name, user);
    }
    users
}

fn settings_of(defaults: &Value, case: &Value) -> Settings {
    let mut raw = defaults["settings"].clone();
    if let Some(overrides) = case["settings"].as_object() {
        for (key, value) in overrides {
            raw[key] = value.clone();
        }
    }
    let settings: Settings = serde_json::from_value(raw).expect("settings");
    assert!(matches!(
        settings.password_auth,
        PasswordAuth::Enabled | PasswordAuth::Disabled
    ));
    settings
}

fn policy_of(defaults: &Value, case: &Value) -> GatePolicy {
    let mut raw = defaults["config"].clone();
    if let Some(overrides) = case["config"].as_object() {
        for (key, value) in overrides {
            raw[key] = value.clone();
        }
    }
    GatePolicy {
        trusted_proxies: serde_json::from_value(raw["trusted_proxies"].clone()).unwrap(),
        anonymous: serde_json::from_value::<Anonymous>(raw["anonymous"].clone()).unwrap(),
        lockout: LockoutPolicy {
            max_failed_logins: u32::try_from(raw["max_failed_logins"].as_u64().unwrap()).unwrap(),
            lockout_minutes: u32::try_from(raw["lockout_minutes"].as_u64().unwrap()).unwrap(),
        },
        token_user_names: serde_json::from_value(raw["token_user_names"].clone()).unwrap(),
    }
}

/// Replaces `{REF}` placeholders with real secrets.
fn substitute(text: &str, secrets: &HashMap<String, String>) -> String {
    let mut out = text.to_owned();
    for (reference, secret) in secrets {
        out = out.replace(&format!("{{{reference}}}"), secret);
    }
    out
}

fn authorization_header(spec: &str, secrets: &HashMap<String, String>) -> Vec<u8> {
    use base64::Engine;
    let spec = substitute(spec, secrets);
    if let Some(pair) = spec.strip_prefix("basic ") {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
        .into_bytes()
    } else if let Some(secret) = spec.strip_prefix("bearer ") {
        format!("Bearer {secret}").into_bytes()
    } else if let Some(raw) = spec.strip_prefix("raw ") {
        raw.as_bytes().to_vec()
    } else {
        panic!("unknown authorization spec {spec}")
    }
}

/// A vector token's restrictions (`access`, `paths`, `ip_allowlist`; absent = none).
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

fn world(defaults: &Value, case: &Value, hashes: &HashMap<String, String>) -> World {
    let mut secrets = HashMap::new();
    let mut tokens = HashMap::new();
    let created = instant(&defaults["now"]) - chrono::TimeDelta::days(30);
    for raw in defaults["tokens"].as_array().unwrap() {
        let secret = TokenSecret::generate().unwrap();
        let reference = raw["ref"].as_str().unwrap().to_owned();
        let record = TokenRecord {
            restrictions: restrictions_of(raw),
            id: format!("id-{reference}"),
            owner: raw["owner"].as_str().unwrap().to_owned(),
            name: reference.clone(),
            digest: secret.digest(),
            hint: secret.hint(),
            created_at: created,
            created_by: "cli".into(),
            expires_at: (!raw["expires_at"].is_null()).then(|| instant(&raw["expires_at"])),
            last_used_at: None,
            last_used_ip: None,
            made_by: None,
            rotated_at: None,
            rotated_from: None,
        };
        tokens.insert(secret.digest(), Arc::new(record.into()));
        secrets.insert(reference, secret.expose().to_owned());
    }
    secrets.insert(
        "unknown".into(),
        TokenSecret::generate().unwrap().expose().to_owned(),
    );
    let valid = TokenSecret::generate().unwrap().expose().to_owned();
    let last = valid.chars().last().unwrap();
    let bad = format!(
        "{}{}",
        &valid[..valid.len() - 1],
        if last == 'a' { 'b' } else { 'a' }
    );
    assert!(TokenSecret::parse(&bad).is_none());
    secrets.insert("bad-checksum".into(), bad);
    World {
        users: Mutex::new(users_of(defaults, case, hashes)),
        known: Mutex::new(known_of(defaults, case)),
        tokens,
        secrets,
    }
}

fn apply(world: &World, effects: &[Effect], now: DateTime<Utc>, policy: LockoutPolicy) {
    let mut users = world.users.lock().unwrap();
    for effect in effects {
        match effect {
            Effect::CountFailedLogin { user } => {
                let record = users.get_mut(user).unwrap();
                let (count, until) =
                    after_failure(record.failed_logins, record.locked_until, now, policy);
                record.failed_logins = count;
                record.locked_until = until;
            }
            Effect::ResetFailedLogins { user } => {
                let record = users.get_mut(user).unwrap();
                record.failed_logins = 0;
                record.locked_until = None;
            }
            Effect::RememberAddress { user, address } => {
                world.known.lock().unwrap().push((user.clone(), *address));
            }
            Effect::TokenUsed { .. } => {}
        }
    }
}

/// Runs the cases of `decision.json` whose names are listed (all cases when `names` is
/// `None`).
async fn run_cases(names: Option<&[&str]>) {
    let ran = run_file("decision.json", 52, &|case| {
        names.is_none_or(|names| names.contains(&case["name"].as_str().unwrap()))
    })
    .await;
    assert_eq!(
        ran,
        names.map_or(52, <[&str]>::len),
        "every named case exists"
    );
}

/// Runs the selected cases of the vectors file `file` (which holds `total` cases); returns
/// how many ran.
async fn run_file(file: &str, total: usize, select: &dyn Fn(&Value) -> bool) -> usize {
    let vectors = load(&vectors_file(file));
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
    assert_eq!(cases.len(), total, "{file} holds {total} cases");
    let selected = cases.iter().filter(|case| select(case));
    let mut ran = 0;
    for case in selected {
        ran += 1;
        let name = case["name"].as_str().unwrap();
        let world = world(defaults, case, &hashes);
        let settings = settings_of(defaults, case);
        let policy = policy_of(defaults, case);
        let now = instant(case.get("now").unwrap_or(&defaults["now"]));
        let request = &case["request"];
        let authorization = request["authorization"]
            .as_str()
            .map(|spec| authorization_header(spec, &world.secrets));
        let facts = RequestFacts {
            reach: Reach {
                writes: false,
                method: Some(request["method"].as_str().unwrap_or("GET")),
                path: Some(request["path"].as_str().unwrap_or("/")),
                route: Some("default"),
            },
            peer: request["peer"].as_str().unwrap().parse().unwrap(),
            forwarded_for: request["x_forwarded_for"].as_str(),
            authorization: authorization.as_deref(),
        };
        let hashes = CountedHashes::default();
        let decision = authenticate(&facts, &settings, &policy, &world, &hashes, now).await;
        let secret = request["authorization"]
            .as_str()
            .map(|spec| substitute(spec, &world.secrets))
            .and_then(|spec| {
                spec.strip_prefix("basic ")
                    .and_then(|pair| pair.split_once(':'))
                    .map(|(_, secret)| secret.to_owned())
            });
        if secret.is_some_and(|secret| secret.starts_with("tg_")) {
            assert_eq!(
                hashes.0.load(Ordering::SeqCst),
                0,
                "{name}: a tg_ secret is never hashed as a password"
            );
        }
        let expect = &case["expect"];
        assert_eq!(
            u64::from(decision.status()),
            expect["status"].as_u64().unwrap(),
            "{name}: status"
        );
        assert_eq!(
            decision.reason().map(|reason| reason.code()),
            expect["reason"].as_str(),
            "{name}: reason"
        );
        let identity = decision.identity();
        assert_eq!(
            identity.and_then(|id| id.user.as_deref()),
            expect["user"].as_str(),
            "{name}: user"
        );
        assert_eq!(
            identity.map(|id| id.via.as_str()),
            expect["via"].as_str(),
            "{name}: via"
        );
        assert_eq!(
            identity.is_some(),
            decision.status() == 200,
            "{name}: allowed iff 200"
        );
        if let Some(retry) = expect.get("retry_after_s") {
            let got = match decision.outcome {
                tokengate_core::decision::Outcome::Denied {
                    retry_after_seconds,
                    ..
                } => retry_after_seconds,
                tokengate_core::decision::Outcome::Allowed(_) => None,
            };
            assert_eq!(got, retry.as_u64(), "{name}: retry_after");
        }
        apply(&world, &decision.effects, now, policy.lockout);
        if let Some(after) = expect.get("after") {
            let users = world.users.lock().unwrap();
            if let Some(counts) = after["failed_logins"].as_object() {
                for (user, count) in counts {
                    assert_eq!(
                        u64::from(users[user].failed_logins),
                        count.as_u64().unwrap(),
                        "{name}: {user} count"
                    );
                }
            }
            // `locked` speaks of the users named in `failed_logins`: each is locked iff listed.
            if let (Some(locked), Some(counts)) = (
                after["locked"].as_array(),
                after["failed_logins"].as_object(),
            ) {
                for user in counts.keys() {
                    let is_locked = users[user].locked_until.is_some_and(|until| until > now);
                    let listed = locked
                        .iter()
                        .any(|value| value.as_str() == Some(user.as_str()));
                    assert_eq!(is_locked, listed, "{name}: {user} locked");
                }
            }
        }
        assert!(!decision.steps.is_empty(), "{name}: steps recorded");
        let explained: Vec<String> = decision.steps.iter().map(ToString::to_string).collect();
        for secret in world.secrets.values() {
            assert!(
                explained.iter().all(|step| !step.contains(secret.as_str())),
                "{name}: secret in steps"
            );
        }
    }
    ran
}

#[path = "decision_vectors/rules.rs"]
mod rules;
use rules::RULES;

fn rule(number: &str) -> &'static [&'static str] {
    RULES
        .iter()
        .find(|(name, _)| name.starts_with(number))
        .map(|(_, cases)| *cases)
        .unwrap()
}

#[tokio::test]
async fn every_decision_vector_passes() {
    run_cases(None).await;
}

#[test]
fn every_vector_is_assigned_to_exactly_one_rule() {
    let vectors = load(&project_vectors());
    for case in vectors["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let owners = RULES
            .iter()
            .filter(|(_, cases)| cases.contains(&name))
            .count();
        assert_eq!(owners, 1, "{name}");
    }
}

#[tokio::test]
async fn rule_1_client_address_is_the_peer_unless_a_trusted_proxy_forwards() {
    run_cases(Some(rule("1 "))).await;
}

#[tokio::test]
async fn rule_2_ip_allow_list_refuses_addresses_outside_it_for_every_kind_of_request() {
    run_cases(Some(rule("2 "))).await;
}

#[tokio::test]
async fn rule_3_missing_or_malformed_credentials_are_refused() {
    run_cases(Some(rule("3 "))).await;
}

#[tokio::test]
async fn rule_4_tg_secrets_are_token_attempts_checked_for_expiry_owner_and_admins_only() {
    run_cases(Some(rule("4 "))).await;
}

#[tokio::test]
async fn rule_5_passwords_follow_the_password_switch_and_the_user_state() {
    run_cases(Some(rule("5 "))).await;
}

#[tokio::test]
async fn rule_6_failed_logins_are_counted_and_lock_passwords_except_from_known_addresses() {
    run_cases(Some(rule("6 "))).await;
}

#[tokio::test]
async fn rule_7_unknown_users_get_the_wrong_password_answer() {
    run_cases(Some(rule("7 "))).await;
}

#[tokio::test]
async fn rule_4_a_tokens_restrictions_bound_its_address_method_and_paths() {
    let ran = run_file("restrictions.json", 33, &|case| !is_permission_case(case)).await;
    assert_eq!(ran, 24, "restrictions.json holds 24 restriction cases");
}

#[tokio::test]
async fn every_restriction_vector_passes() {
    assert_eq!(run_file("restrictions.json", 33, &|_| true).await, 33);
}

#[tokio::test]
async fn rule_4_use_tokens_is_granted_by_group_admins_always_hold_it_and_admins_only_wins() {
    let ran = run_file("restrictions.json", 33, &is_permission_case).await;
    assert_eq!(ran, 9, "restrictions.json holds nine permission cases");
}

#[test]
fn project_copies_of_the_vectors_match_the_shared_ones() {
    for file in ["decision.json", "restrictions.json"] {
        let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/vectors")
            .join(file);
        if !shared.exists() {
            eprintln!(
                "skipped: {} is not present on this machine",
                shared.display()
            );
            continue;
        }
        assert_eq!(
            load(&vectors_file(file)),
            load(&shared),
            "vectors/{file} differs from the shared copy"
        );
    }
}

#[test]
fn ip_allow_list_used_by_vectors_parses() {
    assert!(IpAllowList::parse(&["192.168.1.10-192.168.1.50", "2001:db8::/32"]).is_ok());
}
