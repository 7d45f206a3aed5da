//! LDAP through the whole gateway, against a real OpenLDAP (tests/common/ldap.rs): Basic
//! passwords and the sign-in form checked by search-then-bind, users provisioned with their
//! groups and admin flag, the directory down (503, not counted, tokens still work), the sync
//! disabling a user the directory no longer has and enabling them again, and hostile names.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod ui_support;

use common::ldap::{EXAMPLE, Slapd};
use common::{TestApp, error_body, test_config};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokengate_core::groups::UserSource;
use tokengate_core::model::{AuditAction, AuditFilter};
use ui_support::UiClient;

async fn gateway(slapd: &Slapd, sync: Duration) -> TestApp {
    let mut config = test_config();
    let mut ldap = slapd.config();
    ldap.sync_interval = sync;
    config.ldap = Some(ldap);
    TestApp::spawn_with(config, true).await
}

async fn audited(app: &TestApp, action: AuditAction) -> usize {
    let filter = AuditFilter {
        action: Some(action),
        limit: 100,
        ..AuditFilter::default()
    };
    app.store.audit(&filter).await.unwrap().len()
}

#[tokio::test]
async fn directory_users_sign_in_with_their_password_and_are_provisioned_with_groups() {
    let Some(slapd) = Slapd::start() else { return };
    let app = gateway(&slapd, Duration::from_secs(600)).await;
    let echoed: Value = app
        .get_basic("/anything", "alice", "alice-pw")
        .await
        .json()
        .await
        .unwrap();
    let headers = &echoed["headers"];
    assert_eq!(headers["x-authenticated-user"][0], "alice");
    assert_eq!(headers["x-authenticated-via"][0], "password");
    assert_eq!(
        headers["x-authenticated-groups"][0],
        "developers,tokengate-admins"
    );
    assert_eq!(headers["x-authenticated-email"][0], "alice@example.com");
    let alice = app.store.user("alice").await.unwrap().expect("provisioned");
    assert_eq!(alice.source, UserSource::Ldap);
    assert!(alice.admin, "member of admin_group");
    assert_eq!(alice.display_name, "Alice Liddell");
    assert!(alice.password_hash.is_none(), "no password is stored");
    let bob = app.get_basic("/tokengate/whoami", "bob", "bob-pw").await;
    assert_eq!(bob.status(), 200);
    let bob = app.store.user("bob").await.unwrap().unwrap();
    assert!(!bob.admin);
    assert_eq!(bob.groups, ["developers"]);
    assert_eq!(audited(&app, AuditAction::UserProvisioned).await, 2);
    let again = app.get_basic("/tokengate/whoami", "bob", "bob-pw").await;
    assert_eq!(again.status(), 200);
    assert_eq!(
        audited(&app, AuditAction::UserProvisioned).await,
        2,
        "provisioned once"
    );
    assert_eq!(
        audited(&app, AuditAction::UserUpdated).await,
        0,
        "an unchanged sign-in writes nothing"
    );
}

#[tokio::test]
async fn wrong_passwords_and_unknown_users_get_401_and_local_users_keep_working() {
    let Some(slapd) = Slapd::start() else { return };
    let app = gateway(&slapd, Duration::from_secs(600)).await;
    app.add_user("root", "root-pw", true).await;
    let local = app.get_basic("/tokengate/whoami", "root", "root-pw").await;
    assert_eq!(local.status(), 200, "the first admin is local");
    app.get_basic("/tokengate/whoami", "bob", "bob-pw").await;
    for (user, password) in [
        ("bob", "wrong"),
        ("bob", ""),
        ("nobody", "x"),
        ("eve", "eve-pw"),
    ] {
        error_body(
            app.get_basic("/tokengate/whoami", user, password).await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    let bob = app.store.user("bob").await.unwrap().unwrap();
    assert_eq!(
        bob.failed_logins, 2,
        "wrong passwords of a known user count"
    );
    assert!(app.store.user("nobody").await.unwrap().is_none());
    assert!(
        app.store.user("eve").await.unwrap().is_none(),
        "AD-disabled"
    );
}

#[tokio::test]
async fn filter_metacharacters_in_a_user_name_never_sign_anyone_in() {
    let Some(slapd) = Slapd::start() else { return };
    let app = gateway(&slapd, Duration::from_secs(600)).await;
    for name in [
        "*",
        "al*",
        "(",
        ")",
        "\\",
        "alice)(uid=*",
        "*)(|(uid=*",
        "alice\\2a",
    ] {
        let status = app
            .get_basic("/tokengate/whoami", name, "alice-pw")
            .await
            .status()
            .as_u16();
        assert_eq!(status, 401, "{name:?}");
    }
    assert_eq!(
        app.store.users().await.unwrap().len(),
        0,
        "nobody provisioned"
    );
}

#[tokio::test]
async fn a_directory_that_is_down_answers_503_uncounted_and_tokens_keep_working() {
    let Some(mut slapd) = Slapd::start() else {
        return;
    };
    let app = gateway(&slapd, Duration::from_secs(600)).await;
    assert_eq!(
        app.get_basic("/tokengate/whoami", "bob", "bob-pw")
            .await
            .status(),
        200
    );
    let (_, token) = app.add_token("bob").await;
    slapd.stop();
    let started = Instant::now();
    error_body(
        app.get_basic("/tokengate/whoami", "bob", "bob-pw").await,
        503,
        "directory_unavailable",
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(6));
    let bob = app.store.user("bob").await.unwrap().unwrap();
    assert_eq!(bob.failed_logins, 0, "an outage is not a failed login");
    let with_token = app.get_bearer("/tokengate/whoami", &token).await;
    assert_eq!(with_token.status(), 200, "tokens keep working");
    let client = UiClient::new(&app);
    let page = client
        .post(
            "/tokengate/login",
            &[("username", "bob"), ("password", "bob-pw")],
        )
        .await;
    assert_eq!(page.status, 503);
    assert!(
        page.body.contains("directory cannot be reached"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn a_user_the_directory_no_longer_has_is_disabled_by_the_sync_and_enabled_when_back() {
    let Some(slapd) = Slapd::start() else { return };
    let interval = Duration::from_secs(1);
    let app = gateway(&slapd, interval).await;
    assert_eq!(
        app.get_basic("/tokengate/whoami", "bob", "bob-pw")
            .await
            .status(),
        200
    );
    let (_, token) = app.add_token("bob").await;
    let bob_dn = format!("uid=bob,ou=people,{EXAMPLE}");
    slapd.delete(&bob_dn);
    let removed = Instant::now();
    let status = loop {
        let status = app.get_bearer("/tokengate/whoami", &token).await.status();
        if status != 200 || removed.elapsed() > Duration::from_secs(10) {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let took = removed.elapsed();
    assert_eq!(status, 403);
    assert!(took <= interval + Duration::from_secs(1), "took {took:?}");
    error_body(
        app.get_bearer("/tokengate/whoami", &token).await,
        403,
        "user_disabled",
    )
    .await;
    assert_eq!(audited(&app, AuditAction::UserDeprovisioned).await, 1);
    slapd.add(&format!(
        "dn: {bob_dn}\nobjectClass: inetOrgPerson\nuid: bob\ncn: Bob Builder\nsn: bob\n\
         userPassword: bob-pw\n"
    ));
    let back = Instant::now();
    while app.get_bearer("/tokengate/whoami", &token).await.status() != 200 {
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "bob never came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.store.tokens(&Default::default()).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn the_sign_in_form_checks_directory_passwords_too() {
    let Some(slapd) = Slapd::start() else { return };
    let app = gateway(&slapd, Duration::from_secs(600)).await;
    let client = UiClient::new(&app);
    let csrf = client.sign_in("carol", "carol-pw").await;
    assert!(!csrf.is_empty());
    let page = client.get("/tokengate/").await;
    assert!(page.body.contains("carol"), "{}", page.body);
    let carol = app.store.user("carol").await.unwrap().unwrap();
    assert_eq!(
        carol.display_name, "Carol Cooper",
        "display_name_attribute is cn"
    );
    assert_eq!(carol.email.as_deref(), Some("carol@example.com"));
    let wrong = client
        .post(
            "/tokengate/login",
            &[("username", "carol"), ("password", "nope")],
        )
        .await;
    assert!(
        wrong.body.contains("Wrong user name or password"),
        "{}",
        wrong.body
    );
}
