//! Forward-auth reads the original method and URI from one configured header family and only
//! from a trusted proxy (SPEC §3 `GET /tokengate/auth`): a client that adds its own
//! `X-Original-URI` (Traefik forwards client headers), or talks to tokengate directly, cannot
//! claim a public path for a private one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::raw::{request, send};
use common::{TestApp, test_config};
use tokengate_server::config::{Config, ForwardAuthHeaders};

fn config(trusted: bool, family: ForwardAuthHeaders) -> Config {
    let mut config = test_config();
    config.gateway.public_paths = vec!["/public/".into()];
    config.gateway.forward_auth_headers = family;
    if trusted {
        config.gateway.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    }
    config
}

async fn status(app: &TestApp, headers: &[(&str, &str)]) -> u16 {
    let answer = send(app.address, &request("GET", "/tokengate/auth", headers)).await;
    if answer.status != 200 {
        assert!(answer.header("www-authenticate").is_some() || answer.status != 401);
        assert!(answer.json()["error"].is_string());
    }
    answer.status
}

#[tokio::test]
async fn by_default_only_the_x_forwarded_pair_from_a_trusted_proxy_decides_the_path() {
    let app = TestApp::spawn_with(config(true, ForwardAuthHeaders::XForwarded), false).await;
    assert_eq!(status(&app, &[("X-Forwarded-Uri", "/public/x")]).await, 200);
    let attacks: [&[(&str, &str)]; 7] = [
        &[
            ("X-Forwarded-Uri", "/private/x"),
            ("X-Original-URI", "/public/x"),
        ],
        &[
            ("X-Original-URI", "/public/x"),
            ("X-Forwarded-Uri", "/private/x"),
        ],
        &[("X-Original-URI", "/public/x")],
        &[
            ("X-Original-Uri", "/public/x"),
            ("X-Original-Method", "GET"),
        ],
        &[("X_Forwarded_Uri", "/public/x")],
        &[("x-forwarded_uri", "/public/x")],
        &[
            ("X-Forwarded-Uri", "/private/x"),
            ("X-Forwarded-Uri", "/public/x"),
        ],
    ];
    for headers in attacks {
        assert_eq!(status(&app, headers).await, 401, "{headers:?}");
    }
}

#[tokio::test]
async fn with_x_original_configured_the_x_forwarded_pair_is_ignored() {
    let app = TestApp::spawn_with(config(true, ForwardAuthHeaders::XOriginal), false).await;
    assert_eq!(status(&app, &[("X-Original-URI", "/public/x")]).await, 200);
    assert_eq!(
        status(&app, &[("x-original-uri", "/public/x?y=1")]).await,
        200
    );
    let attacks: [&[(&str, &str)]; 5] = [
        &[
            ("X-Original-URI", "/private/x"),
            ("X-Forwarded-Uri", "/public/x"),
        ],
        &[("X-Forwarded-Uri", "/public/x")],
        &[("X_Original_URI", "/public/x")],
        &[
            ("X-Original-URI", "/private/x"),
            ("X-Original-URI", "/public/x"),
        ],
        &[
            ("X-Original-URI", "/public/x"),
            ("X-Original-URI", "/private/x"),
        ],
    ];
    for headers in attacks {
        assert_eq!(status(&app, headers).await, 401, "{headers:?}");
    }
}

#[tokio::test]
async fn from_an_untrusted_peer_the_original_path_is_unknown_and_nothing_is_public() {
    for family in [
        ForwardAuthHeaders::XForwarded,
        ForwardAuthHeaders::XOriginal,
    ] {
        let app = TestApp::spawn_with(config(false, family), false).await;
        app.add_user("alice", "alice-pw", false).await;
        let (_, token) = app.add_token("alice").await;
        for headers in [
            [
                ("X-Forwarded-Uri", "/public/x"),
                ("X-Forwarded-Method", "GET"),
            ],
            [
                ("X-Original-URI", "/public/x"),
                ("X-Original-Method", "GET"),
            ],
        ] {
            assert_eq!(status(&app, &headers).await, 401, "{family:?} {headers:?}");
        }
        // Credentials still work: only the path is not believed.
        let bearer = format!("Bearer {token}");
        let allowed = status(
            &app,
            &[("X-Forwarded-Uri", "/public/x"), ("Authorization", &bearer)],
        )
        .await;
        assert_eq!(allowed, 200, "{family:?}");
    }
}

#[test]
fn forward_auth_headers_is_configurable_and_refuses_other_values() {
    let parse = |text: &str| toml_gateway(text).map(|config| config.gateway.forward_auth_headers);
    assert_eq!(parse("").unwrap(), ForwardAuthHeaders::XForwarded);
    assert_eq!(
        parse("forward_auth_headers = \"x-original\"").unwrap(),
        ForwardAuthHeaders::XOriginal
    );
    let error = parse("forward_auth_headers = \"x-real\"").unwrap_err();
    assert!(error.contains("x-real"), "{error}");
}

fn toml_gateway(body: &str) -> Result<Config, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokengate.toml");
    std::fs::write(&path, format!("[gateway]\n{body}\n")).unwrap();
    Config::load(Some(&path)).map_err(|error| error.to_string())
}

fn recipe(file: &str) -> String {
    std::fs::read_to_string(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs/deploy")
            .join(file),
    )
    .unwrap()
}

#[test]
fn the_recipes_send_the_default_family_and_never_trust_a_clients_copy() {
    let nginx = recipe("nginx.conf");
    assert!(nginx.contains("proxy_set_header X-Forwarded-Uri $request_uri;"));
    assert!(nginx.contains("proxy_set_header X-Forwarded-Method $request_method;"));
    assert!(!nginx.contains("proxy_set_header X-Original-URI"));
    let traefik = recipe("traefik.yml");
    assert!(traefik.contains("trustForwardHeader: false"));
    assert!(!traefik.contains("trustForwardHeader: true"));
}
