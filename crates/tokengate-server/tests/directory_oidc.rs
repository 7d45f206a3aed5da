//! OpenID Connect sign-in and browser single sign-on through the whole gateway, against a real
//! provider (tests/common/oidc.rs): the sign-in button, provisioning from claims (groups,
//! admin group), a forged `state` refused, the provider down shown as a clear page, a browser
//! reaching an upstream page after the provider's sign-in while a script without credentials
//! still gets 401, and return addresses that would leave the gateway refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod ui_support;

use common::oidc::{self, Provider};
use common::upstream::Upstream;
use common::{TestApp, test_config};
use fantoccini::Client;
use std::time::Duration;
use tokengate_core::groups::UserSource;
use tokengate_core::model::{AuditAction, AuditFilter};
use tokengate_server::config::routes::RouteConfig;
use ui_support::browser::{Pages, with_browser};

/// A gateway on a known port (the provider must know the redirect URI), its provider, and an
/// upstream behind the route `app` (`/app/`) with browser single sign-on.
struct World {
    app: TestApp,
    provider: Provider,
    _upstream: Upstream,
}

async fn world() -> Option<World> {
    // The port stays held until just before the gateway takes it, so no other test can.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let public_url = format!("http://127.0.0.1:{port}");
    let redirect = format!("{public_url}/tokengate/oidc/callback");
    let provider = Provider::start_with(0, &[("OIDC_REDIRECT_URI", &redirect)])?;
    let upstream = Upstream::start().await;
    let mut config = test_config();
    config.listen = format!("127.0.0.1:{port}").parse().unwrap();
    config.public_url = public_url;
    config.oidc = Some(provider.config());
    config.routes = vec![RouteConfig {
        name: "app".into(),
        path_prefix: "/app/".into(),
        upstream: upstream.url(),
        browser_sso: true,
        ..RouteConfig::default()
    }];
    drop(held);
    let app = TestApp::spawn_with(config, false).await;
    Some(World {
        app,
        provider,
        _upstream: upstream,
    })
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Starts a sign-in at the gateway; returns the provider's URL (the pending cookie is kept).
async fn begin(client: &reqwest::Client, app: &TestApp, return_to: &str) -> String {
    let started = client
        .get(app.url(&format!("/tokengate/oidc/login?return={return_to}")))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 303, "to the provider");
    started.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_provider_sign_in_provisions_the_user_with_groups_and_admin_and_a_forged_state_is_refused()
 {
    let Some(world) = world().await else { return };
    let app = &world.app;
    let login_page = app.get("/tokengate/login").await.text().await.unwrap();
    assert!(login_page.contains("id=\"oidc-login\""), "{login_page}");
    let client = no_redirects();
    let url = begin(&client, app, "/tokengate/").await;
    assert!(url.starts_with(&world.provider.issuer()), "{url}");
    let callback = oidc::sign_in(&url, "alice", "alice-password").await;
    let forged = client
        .get(app.url(&format!(
            "/tokengate/oidc/callback?code={}&state=forged-{}",
            callback.code, callback.state
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let body = forged.text().await.unwrap();
    assert!(body.contains("could not be verified"), "{body}");
    assert!(
        app.store.user("alice").await.unwrap().is_none(),
        "nobody provisioned"
    );

    let url = begin(&client, app, "/tokengate/").await;
    let callback = oidc::sign_in(&url, "alice", "alice-password").await;
    let done = client
        .get(app.url(&format!(
            "/tokengate/oidc/callback?code={}&state={}",
            callback.code, callback.state
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let cookies: Vec<String> = done
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect();
    assert!(
        cookies.iter().any(|c| c.starts_with("tokengate_session=")),
        "{cookies:?}"
    );
    assert!(
        cookies.iter().any(|c| c.starts_with("tg_gw=")),
        "{cookies:?}"
    );
    let alice = app.store.user("alice").await.unwrap().expect("provisioned");
    assert_eq!(alice.source, UserSource::Oidc);
    assert!(alice.admin, "member of admin_group");
    assert_eq!(alice.groups, ["devs", "tokengate-admins"]);
    assert_eq!(alice.email.as_deref(), Some("alice@example.com"));
    let me = client.get(app.url("/tokengate/")).send().await.unwrap();
    assert!(me.text().await.unwrap().contains("alice"), "signed in");
    let filter = AuditFilter {
        action: Some(AuditAction::UserProvisioned),
        limit: 10,
        ..AuditFilter::default()
    };
    assert_eq!(app.store.audit(&filter).await.unwrap().len(), 1);
    // The same code again: the provider refuses a replay.
    let replay = client
        .get(app.url(&format!(
            "/tokengate/oidc/callback?code={}&state={}",
            callback.code, callback.state
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 403);
}

#[tokio::test]
async fn a_provider_that_is_down_gets_a_clear_page_never_a_500() {
    let Some(mut world) = world().await else {
        return;
    };
    world.provider.stop();
    let page = world.app.get("/tokengate/oidc/login").await;
    assert_eq!(page.status(), 503);
    let body = page.text().await.unwrap();
    assert!(body.contains("cannot be reached"), "{body}");
    assert!(body.contains("id=\"oidc-login\""), "the way to try again");
}

#[tokio::test]
async fn scripts_without_credentials_keep_getting_401_and_browsers_are_sent_to_sign_in() {
    let Some(world) = world().await else { return };
    let app = &world.app;
    let script = no_redirects()
        .get(app.url("/app/page"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 401);
    let json = no_redirects()
        .get(app.url("/app/page"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 401);
    let browser = no_redirects()
        .get(app.url("/app/page?x=1&y=2"))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(browser.status(), 302);
    assert_eq!(
        browser.headers()["location"],
        "/tokengate/login?return=/app/page%3Fx%3D1%26y%3D2"
    );
    let forged_cookie = no_redirects()
        .get(app.url("/app/page"))
        .header(
            "cookie",
            "tg_gw=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        forged_cookie.status(),
        401,
        "an unknown session lets nobody in"
    );
}

#[tokio::test]
async fn return_addresses_outside_the_gateway_are_never_followed() {
    let Some(world) = world().await else { return };
    let app = &world.app;
    app.add_user("root", "root-pw", true).await;
    for hostile in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "%2F%2Fevil.example",
        "javascript:alert(1)",
        "/%0d%0aLocation:%20https://evil.example",
    ] {
        let client = no_redirects();
        let signed_in = client
            .post(app.url("/tokengate/login"))
            .header("origin", &app.base)
            .form(&[
                ("username", "root"),
                ("password", "root-pw"),
                ("return", hostile),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(signed_in.status(), 303, "{hostile}");
        let location = signed_in.headers()["location"].to_str().unwrap().to_owned();
        assert_stays_home(app, hostile, &location);
        let again = client
            .get(app.url(&format!("/tokengate/login?return={hostile}")))
            .send()
            .await
            .unwrap();
        let location = again.headers()["location"].to_str().unwrap().to_owned();
        assert_stays_home(app, hostile, &location);
        let provider = begin(&client, app, hostile).await;
        let callback = oidc::sign_in(&provider, "bob", "bob-password").await;
        let done = client
            .get(app.url(&format!(
                "/tokengate/oidc/callback?code={}&state={}",
                callback.code, callback.state
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(done.status(), 200, "{hostile}");
        let body = done.text().await.unwrap();
        let target = body
            .split("href=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a link onwards");
        assert_stays_home(app, hostile, &target.replace("&amp;", "&"));
    }
}

/// `location`, resolved as a browser would, is on the gateway's own host.
fn assert_stays_home(app: &TestApp, hostile: &str, location: &str) {
    assert!(!location.contains(['\r', '\n']), "{hostile}: {location:?}");
    let base = reqwest::Url::parse(&app.base).unwrap();
    let resolved = base.join(location).unwrap();
    assert_eq!(
        resolved.host_str(),
        base.host_str(),
        "{hostile}: {location}"
    );
    assert_eq!(resolved.port(), base.port(), "{hostile}: {location}");
    assert_eq!(resolved.scheme(), "http", "{hostile}: {location}");
}

async fn browser_tour(client: Client, world: &World) {
    let app = &world.app;
    let pages = Pages {
        client: &client,
        base: &app.base,
    };
    pages.open("/app/reports?month=11").await;
    pages.css("#oidc-login").await;
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .contains("/tokengate/login?return="),
        "sent to sign in"
    );
    pages.click("#oidc-login").await;
    pages.fill("input[name=login]", "bob").await;
    pages.fill("input[name=password]", "bob-password").await;
    pages.submit("form button").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let url = client.current_url().await.unwrap();
        if url.path() == "/app/reports" {
            assert_eq!(url.query(), Some("month=11"), "the page it asked for");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "stuck at {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = pages.text("body").await;
    assert!(text.contains("\"x-authenticated-user\""), "{text}");
    assert!(text.contains("bob"), "{text}");
    assert!(text.contains("session"), "{text}");
    assert!(text.contains("devs"), "groups reach the upstream: {text}");
    assert!(
        !text.contains("tg_gw"),
        "the gateway cookie never goes upstream: {text}"
    );
    pages.screenshot("sso-upstream-page").await;
    pages.open("/tokengate/").await;
    pages.sign_out().await;
    pages.open("/app/reports").await;
    pages.css("#oidc-login").await;
}

#[tokio::test]
async fn a_browser_reaches_an_upstream_page_after_the_providers_sign_in_and_sign_out_ends_it() {
    let Some(world) = world().await else { return };
    with_browser(|client| async move { browser_tour(client, &world).await }).await;
}
