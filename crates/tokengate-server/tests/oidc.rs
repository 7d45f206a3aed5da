//! The OpenID Connect client against a real provider (`oidc-provider` on loopback): the whole
//! code flow through the provider's login page, and every way a sign-in must be refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::oidc::{
    CLIENT_SECRET, Callback, PUBLIC_URL, Provider, REDIRECT_URI, parts, sign_in, tampered,
};
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokengate_server::directory::oidc::{Login, Oidc, OidcError, PendingLogin, Tokens};

fn client(config: &tokengate_server::config::oidc::OidcConfig) -> Oidc {
    Oidc::new(config, PUBLIC_URL).unwrap()
}

async fn signed_in(oidc: &Oidc, user: &str) -> (Login, Callback) {
    let login = oidc.begin("/tokengate/tokens").await.unwrap();
    let callback = sign_in(&login.url, user, &format!("{user}-password")).await;
    (login, callback)
}

/// A sign-in of `user` whose code was traded for tokens (not yet checked).
async fn redeemed(oidc: &Oidc, user: &str) -> (Login, Tokens) {
    let (login, callback) = signed_in(oidc, user).await;
    let tokens = oidc
        .redeem(&login.pending, &callback.code, &callback.state)
        .await
        .unwrap();
    (login, tokens)
}

fn refused<T: std::fmt::Debug>(result: Result<T, OidcError>, about: &str) -> String {
    match result {
        Err(OidcError::Refused(reason)) => reason,
        other => panic!("{about}: expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_full_code_flow_through_the_providers_login_gives_the_user_with_groups_and_admin() {
    let Some(provider) = Provider::start() else {
        return;
    };
    let oidc = client(&provider.config());
    let (login, callback) = signed_in(&oidc, "alice").await;
    assert_eq!(login.pending.return_to(), "/tokengate/tokens");
    let alice = oidc
        .finish(&login.pending, &callback.code, &callback.state)
        .await
        .unwrap();
    assert_eq!(alice.name, "alice");
    assert_eq!(alice.display_name, "Alice Example");
    assert_eq!(alice.email.as_deref(), Some("alice@example.com"));
    assert_eq!(alice.groups, ["devs", "tokengate-admins"]);
    assert!(alice.admin);

    let (login, callback) = signed_in(&oidc, "bob").await;
    let bob = oidc
        .finish(&login.pending, &callback.code, &callback.state)
        .await
        .unwrap();
    assert_eq!(
        (bob.name.as_str(), bob.groups.as_slice()),
        ("bob", &["devs".to_owned()][..])
    );
    assert!(!bob.admin);
}

#[tokio::test]
async fn the_authorization_url_carries_s256_pkce_state_nonce_and_the_exact_redirect_uri() {
    let Some(provider) = Provider::start() else {
        return;
    };
    let oidc = client(&provider.config());
    let first = oidc.begin("https://evil.example.com/").await.unwrap();
    let second = oidc.begin("/").await.unwrap();
    assert_eq!(
        first.pending.return_to(),
        "/tokengate/",
        "only local paths are returned to"
    );
    let query = |login: &Login| -> HashMap<String, String> {
        let url = reqwest::Url::parse(&login.url).unwrap();
        assert_eq!(url.origin().ascii_serialization(), provider.issuer());
        url.query_pairs().into_owned().collect()
    };
    let (one, two) = (query(&first), query(&second));
    assert_eq!(one["response_type"], "code");
    assert_eq!(one["client_id"], "tokengate");
    assert_eq!(one["redirect_uri"], REDIRECT_URI);
    assert_eq!(one["code_challenge_method"], "S256");
    assert_eq!(one["code_challenge"].len(), 43);
    assert_eq!(one["state"], first.pending.state());
    let scopes: Vec<&str> = one["scope"].split(' ').collect();
    for scope in ["openid", "profile", "email", "groups"] {
        assert_eq!(
            scopes.iter().filter(|s| **s == scope).count(),
            1,
            "{scope} once"
        );
    }
    for key in ["state", "nonce", "code_challenge"] {
        assert!(one[key].len() >= 22, "{key} is long enough");
        assert_ne!(one[key], two[key], "{key} is new for each sign-in");
    }
    let pending = serde_json::to_string(&first.pending).unwrap();
    assert!(
        pending.contains(&one["nonce"]),
        "the nonce sent is the one kept"
    );
    assert!(!first.url.contains(CLIENT_SECRET) && !pending.contains(CLIENT_SECRET));
}

#[tokio::test]
async fn an_answer_with_a_wrong_state_is_refused_and_leaves_the_code_unused() {
    let Some(provider) = Provider::start() else {
        return;
    };
    let oidc = client(&provider.config());
    let (login, callback) = signed_in(&oidc, "alice").await;
    let other = oidc.begin("/").await.unwrap();
    let state = callback.state.clone();
    let mut last_changed = state.clone();
    let flipped = if last_changed.ends_with('A') {
        'B'
    } else {
        'A'
    };
    last_changed.pop();
    last_changed.push(flipped);
    for wrong in [
        String::new(),
        format!("{state}x"),
        state[..state.len() - 1].to_owned(),
        last_changed,
        state.to_uppercase(),
        format!(" {state}"),
        other.pending.state().to_owned(),
        "x".repeat(5000),
    ] {
        if wrong == state {
            continue;
        }
        let reason = refused(
            oidc.finish(&login.pending, &callback.code, &wrong).await,
            &wrong,
        );
        assert!(reason.contains("state"), "{reason}");
    }
    let user = oidc.finish(&login.pending, &callback.code, &state).await;
    assert_eq!(
        user.unwrap().name,
        "alice",
        "the code was not spent by the refusals"
    );
}

#[tokio::test]
async fn a_code_used_twice_is_refused_the_second_time() {
    let Some(provider) = Provider::start() else {
        return;
    };
    let oidc = client(&provider.config());
    let (login, callback) = signed_in(&oidc, "bob").await;
    oidc.finish(&login.pending, &callback.code, &callback.state)
        .await
        .unwrap();
    let again = oidc
        .finish(&login.pending, &callback.code, &callback.state)
        .await;
    let reason = refused(again, "a replayed code");
    assert!(reason.contains("refused the code"), "{reason}");
    let made_up = oidc
        .finish(&login.pending, "not-a-code", &callback.state)
        .await;
    refused(made_up, "a made-up code");
}

/// `pending` with one of its fields replaced, as a forged or mixed-up sign-in would carry.
fn with_field(pending: &PendingLogin, field: &str, value: &str) -> PendingLogin {
    let mut json = serde_json::to_value(pending).unwrap();
    json[field] = Value::String(value.to_owned());
    serde_json::from_value(json).unwrap()
}

#[tokio::test]
async fn an_id_token_for_another_sign_in_is_refused_by_its_nonce() {
    let Some(provider) = Provider::start() else {
        return;
    };
    let oidc = client(&provider.config());
    let (login, tokens) = redeemed(&oidc, "alice").await;
    let another = oidc.begin("/").await.unwrap();
    let nonce = serde_json::to_value(&login.pending).unwrap()["nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    let another_nonce = serde_json::to_value(&another.pending).unwrap()["nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    for wrong in [
        another_nonce,
        format!("{nonce}x"),
        String::new(),
        nonce.to_uppercase(),
    ] {
        let pending = with_field(&login.pending, "nonce", &wrong);
        let reason = refused(oidc.identify(&pending, &tokens).await, &wrong);
        assert!(reason.contains("nonce"), "{reason}");
    }
    assert_eq!(
        oidc.identify(&login.pending, &tokens).await.unwrap().name,
        "alice"
    );
}

#[tokio::test]
async fn a_sign_in_older_than_ten_minutes_is_refused() {
    let Some(provider) = Provider::start() else {
        return;
    };
    let oidc = client(&provider.config());
    let (login, callback) = signed_in(&oidc, "alice").await;
    let mut json = serde_json::to_value(&login.pending).unwrap();
    let started = json["started_at"].as_i64().unwrap();
    for moved in [started - 601, started + 3600] {
        json["started_at"] = Value::from(moved);
        let pending: PendingLogin = serde_json::from_value(json.clone()).unwrap();
        let reason = refused(
            oidc.finish(&pending, &callback.code, &callback.state).await,
            "old",
        );
        assert!(reason.contains("too long"), "{reason}");
    }
}

#[tokio::test]
async fn a_tampered_id_token_is_refused_in_every_form() {
    let Some(provider) = Provider::start() else {
        return;
    };
    let oidc = client(&provider.config());
    let (login, mut tokens) = redeemed(&oidc, "bob").await;
    let genuine = tokens.id_token.clone();
    for (how, forged) in tampered(&genuine) {
        tokens.id_token = forged;
        let reason = refused(oidc.identify(&login.pending, &tokens).await, how);
        assert!(
            reason.contains("signature") || reason.contains("malformed"),
            "{how}: {reason}"
        );
    }
    tokens.id_token = genuine;
    let bob = oidc.identify(&login.pending, &tokens).await.unwrap();
    assert!(
        !bob.admin,
        "the genuine token still gives bob, not an admin"
    );
}

#[tokio::test]
async fn an_id_token_issued_to_another_client_is_refused() {
    let Some(provider) = Provider::start() else {
        return;
    };
    let ours = client(&provider.config());
    let theirs = client(&provider.other_client_config());
    let (login, tokens) = redeemed(&theirs, "alice").await;
    assert_eq!(parts(&tokens.id_token).1["aud"], "other-app");
    let reason = refused(
        ours.identify(&login.pending, &tokens).await,
        "another audience",
    );
    assert!(reason.contains("another client"), "{reason}");
    assert_eq!(
        theirs.identify(&login.pending, &tokens).await.unwrap().name,
        "alice"
    );
}

#[tokio::test]
async fn a_provider_whose_discovery_names_another_issuer_is_not_used() {
    let Some(provider) = Provider::start() else {
        return;
    };
    let config = tokengate_server::config::oidc::OidcConfig {
        issuer: format!("http://localhost:{}", provider.port),
        ..provider.config()
    };
    match client(&config).begin("/").await {
        Err(OidcError::ProviderUnavailable(reason)) => {
            assert!(reason.contains("issuer"), "{reason}")
        }
        other => panic!("expected the issuer mismatch to stop the sign-in: {other:?}"),
    }
}

#[tokio::test]
async fn a_user_name_claim_that_is_no_tokengate_user_name_is_refused() {
    let Some(provider) = Provider::start() else {
        return;
    };
    let config = tokengate_server::config::oidc::OidcConfig {
        username_claim: "name".into(),
        ..provider.config()
    };
    let oidc = client(&config);
    let (login, callback) = signed_in(&oidc, "alice").await;
    let reason = refused(
        oidc.finish(&login.pending, &callback.code, &callback.state)
            .await,
        "\"Alice Example\" as a user name",
    );
    assert!(reason.contains("not a valid user name"), "{reason}");
}

#[tokio::test]
async fn claims_the_provider_keeps_for_userinfo_are_fetched_from_there() {
    let Some(provider) = Provider::start_with(0, &[("OIDC_CLAIMS_IN_USERINFO", "1")]) else {
        return;
    };
    let oidc = client(&provider.config());
    let (login, tokens) = redeemed(&oidc, "alice").await;
    let (_, claims, _) = parts(&tokens.id_token);
    assert!(claims.get("groups").is_none() && claims.get("preferred_username").is_none());
    let alice = oidc.identify(&login.pending, &tokens).await.unwrap();
    assert_eq!(alice.name, "alice");
    assert_eq!(alice.email.as_deref(), Some("alice@example.com"));
    assert!(alice.admin);
}

async fn unavailable_within_six_seconds<T: std::fmt::Debug>(
    future: impl std::future::Future<Output = Result<T, OidcError>>,
    about: &str,
) {
    let started = Instant::now();
    let result = future.await;
    assert!(
        matches!(result, Err(OidcError::ProviderUnavailable(_))),
        "{about}: {result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{about}: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_stopped_or_silent_provider_is_unavailable_within_seconds() {
    let Some(mut provider) = Provider::start() else {
        return;
    };
    let oidc = client(&provider.config());
    let (login, callback) = signed_in(&oidc, "alice").await;
    let never_used = client(&provider.config());
    provider.stop();
    unavailable_within_six_seconds(
        oidc.finish(&login.pending, &callback.code, &callback.state),
        "the code after the provider stopped",
    )
    .await;
    unavailable_within_six_seconds(never_used.begin("/"), "discovery of a stopped provider").await;

    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = tokengate_server::config::oidc::OidcConfig {
        issuer: format!("http://{}", silent.local_addr().unwrap()),
        ..provider.config()
    };
    unavailable_within_six_seconds(client(&config).begin("/"), "a provider that never answers")
        .await;
}

#[tokio::test]
async fn a_provider_back_after_an_outage_with_new_keys_is_used_again() {
    let Some(mut provider) = Provider::start() else {
        return;
    };
    let oidc = client(&provider.config());
    oidc.begin("/").await.unwrap();
    let port = provider.port;
    provider.stop();
    let during = oidc
        .finish(&oidc.begin("/").await.unwrap().pending, "code", "x")
        .await;
    refused(
        during,
        "a wrong state is refused before the provider is asked",
    );
    let Some(_restarted) = Provider::start_with(port, &[]) else {
        return;
    };
    let (login, tokens) = redeemed(&oidc, "alice").await;
    assert!(parts(&tokens.id_token).0["kid"].is_string());
    let alice = oidc.identify(&login.pending, &tokens).await.unwrap();
    assert_eq!(alice.name, "alice", "the new signing key was fetched");
}

#[tokio::test]
async fn a_provider_first_reached_after_an_outage_is_discovered_then() {
    let Some(mut provider) = Provider::start() else {
        return;
    };
    let port = provider.port;
    let oidc = client(&provider.config());
    provider.stop();
    unavailable_within_six_seconds(oidc.begin("/"), "discovery while down").await;
    let Some(_back) = Provider::start_with(port, &[]) else {
        return;
    };
    let (login, callback) = signed_in(&oidc, "bob").await;
    let bob = oidc
        .finish(&login.pending, &callback.code, &callback.state)
        .await;
    assert_eq!(bob.unwrap().name, "bob");
}
