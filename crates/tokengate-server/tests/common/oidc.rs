//! A real OpenID Connect provider for the tests: `tests/oidc-provider/server.js` (the
//! `oidc-provider` package) run by node on a free loopback port, stopped when dropped. Its
//! packages are installed once with `npm ci` (offline first). Without node, npm or the package
//! the tests say "skipped: …" and pass, except under CI=true, where that is a failure.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;
use tokengate_server::config::oidc::OidcConfig;

/// Where the provider sends browsers back to (tokengate itself is not running in these tests).
pub const PUBLIC_URL: &str = "http://127.0.0.1:8700";
pub const REDIRECT_URI: &str = "http://127.0.0.1:8700/tokengate/oidc/callback";
pub const CLIENT_ID: &str = "tokengate";
pub const CLIENT_SECRET: &str = "tokengate-test-secret";
pub const OTHER_CLIENT_ID: &str = "other-app";
pub const OTHER_CLIENT_SECRET: &str = "other-app-secret";

fn folder() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc-provider")
}

/// `npm ci` once per test process, unless the package is already installed.
fn installed() -> Result<(), String> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let node = Command::new("node").arg("--version").output();
            if !node.is_ok_and(|output| output.status.success()) {
                return Err("node is not installed (CI installs Debian's nodejs and npm)".into());
            }
            if folder().join("node_modules/oidc-provider/package.json").exists() {
                return Ok(());
            }
            for offline in [true, false] {
                let mut npm = Command::new("npm");
                npm.args(["ci", "--no-audit", "--no-fund"]).current_dir(folder());
                if offline {
                    npm.arg("--offline");
                }
                let done = npm.stdout(Stdio::null()).stderr(Stdio::null()).status();
                if done.is_ok_and(|status| status.success()) {
                    return Ok(());
                }
            }
            Err("`npm ci` in tests/oidc-provider failed (npm or the oidc-provider package is unavailable)".into())
        })
        .clone()
}

/// A running provider; killed (by its process id) when dropped.
pub struct Provider {
    child: Child,
    pub port: u16,
}

impl Provider {
    /// A provider on a free port, or `None` after printing why the test is skipped.
    pub fn start() -> Option<Self> {
        Self::start_with(0, &[])
    }

    /// A provider on `port` (0 = a free one) with extra environment variables.
    pub fn start_with(port: u16, env: &[(&str, &str)]) -> Option<Self> {
        if let Err(reason) = installed() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "the OIDC provider is needed under CI: {reason}"
            );
            eprintln!("skipped: {reason}");
            return None;
        }
        // One start at a time: fourteen node processes generating RSA keys at once on a small
        // machine starve each other. A start that hangs is killed and tried again.
        static STARTING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one_at_a_time = STARTING
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut failures = Vec::new();
        for _ in 0..3 {
            match Self::spawn(port, env) {
                Ok(provider) => return Some(provider),
                Err(failure) => failures.push(failure),
            }
        }
        panic!("the OIDC provider did not start: {failures:#?}");
    }

    /// Runs server.js and waits up to 45 s for its "listening PORT" line.
    fn spawn(port: u16, env: &[(&str, &str)]) -> Result<Self, String> {
        let errors = tempfile::NamedTempFile::new().expect("a file for node's stderr");
        let mut child = Command::new("node")
            .arg("server.js")
            .arg(port.to_string())
            .current_dir(folder())
            .env("OIDC_REDIRECT_URI", REDIRECT_URI)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(errors.reopen().expect("node's stderr"))
            .spawn()
            .expect("node starts");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line.strip_prefix("listening ") {
                    let _ = sender.send(port.trim().parse::<u16>().ok());
                }
            }
        });
        match receiver.recv_timeout(Duration::from_secs(45)) {
            Ok(Some(port)) => Ok(Self { child, port }),
            other => {
                let _ = child.kill();
                let _ = child.wait();
                let stderr = std::fs::read_to_string(errors.path()).unwrap_or_default();
                Err(format!("{other:?}; stderr: {stderr}"))
            }
        }
    }

    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `[oidc]` for this provider, as the tests' tokengate client.
    pub fn config(&self) -> OidcConfig {
        OidcConfig {
            issuer: self.issuer(),
            client_id: CLIENT_ID.into(),
            client_secret: Some(CLIENT_SECRET.into()),
            admin_group: "tokengate-admins".into(),
            ..OidcConfig::default()
        }
    }

    /// `[oidc]` for the provider's other client.
    pub fn other_client_config(&self) -> OidcConfig {
        OidcConfig {
            client_id: OTHER_CLIENT_ID.into(),
            client_secret: Some(OTHER_CLIENT_SECRET.into()),
            ..self.config()
        }
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where the provider finally sent the browser: the redirect URI with `code` and `state`.
pub struct Callback {
    pub code: String,
    pub state: String,
    pub url: String,
}

/// Signs `user` in at the provider as a browser would: follows `authorization_url` to the
/// login page, posts the form, follows the redirects back to the redirect URI (not fetched).
pub async fn sign_in(authorization_url: &str, user: &str, password: &str) -> Callback {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login_page = follow(&browser, browser.get(authorization_url)).await;
    let page_url = reqwest::Url::parse(&login_page).unwrap();
    let page = browser.get(page_url.clone()).send().await.unwrap();
    assert_eq!(page.status(), 200, "the login page");
    let html = page.text().await.unwrap();
    let action = html
        .split("action=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a login form");
    let form = browser
        .post(page_url.join(action).unwrap())
        .form(&[("login", user), ("password", password)]);
    let url = follow(&browser, form).await;
    assert!(is_callback(&url), "back at the callback: {url}");
    let query: std::collections::HashMap<String, String> = reqwest::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    Callback {
        code: query.get("code").cloned().expect("a code"),
        state: query.get("state").cloned().expect("a state"),
        url,
    }
}

/// Whether `url` is tokengate's callback (on whichever port the test's gateway has).
fn is_callback(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|url| url.path() == "/tokengate/oidc/callback")
}

/// Sends `request` and follows redirects until one leaves the provider (the redirect URI) or a
/// page answers; returns that URL.
async fn follow(browser: &reqwest::Client, request: reqwest::RequestBuilder) -> String {
    let mut response = request.send().await.unwrap();
    for _ in 0..10 {
        let here = response.url().clone();
        if !response.status().is_redirection() {
            return here.to_string();
        }
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let next = here.join(&location).unwrap();
        if is_callback(next.as_str()) || next.path().starts_with("/interaction/") {
            return next.to_string();
        }
        response = browser.get(next).send().await.unwrap();
    }
    panic!("too many redirects");
}

/// The decoded header and claims of a JWT, and its signature part.
pub fn parts(token: &str) -> (Value, Value, String) {
    let pieces: Vec<&str> = token.split('.').collect();
    let decode =
        |part: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap();
    (decode(pieces[0]), decode(pieces[1]), pieces[2].to_owned())
}

fn encode(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// HMAC-SHA256 (RFC 2104), to forge an HS256 token keyed with the client secret.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let pad = |byte: u8| block.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// Ways an attacker could alter a genuine ID token.
pub fn tampered(token: &str) -> Vec<(&'static str, String)> {
    let (header, claims, signature) = parts(token);
    let mut flipped = URL_SAFE_NO_PAD.decode(&signature).unwrap();
    flipped[10] ^= 0x01;
    let signed_part = |h: &Value, c: &Value| format!("{}.{}", encode(h), encode(c));
    let with_claim = |name: &str, value: Value| {
        let mut changed = claims.clone();
        changed[name] = value;
        format!("{}.{signature}", signed_part(&header, &changed))
    };
    let mut none = header.clone();
    none["alg"] = "none".into();
    let mut hs256 = header.clone();
    hs256["alg"] = "HS256".into();
    let hs256_part = signed_part(&hs256, &claims);
    let hs256_signature =
        URL_SAFE_NO_PAD.encode(hmac_sha256(CLIENT_SECRET.as_bytes(), hs256_part.as_bytes()));
    let mut unknown_kid = header.clone();
    unknown_kid["kid"] = "made-up-key".into();
    let exp = claims["exp"].as_i64().unwrap();
    vec![
        (
            "a flipped signature bit",
            format!(
                "{}.{}",
                signed_part(&header, &claims),
                URL_SAFE_NO_PAD.encode(&flipped)
            ),
        ),
        (
            "another user name",
            with_claim("preferred_username", "mallory".into()),
        ),
        (
            "another group",
            with_claim("groups", serde_json::json!(["tokengate-admins"])),
        ),
        ("a later expiry", with_claim("exp", (exp + 86400).into())),
        (
            "alg none without a signature",
            format!("{}.", signed_part(&none, &claims)),
        ),
        (
            "alg none with the old signature",
            format!("{}.{signature}", signed_part(&none, &claims)),
        ),
        (
            "HS256 keyed with the client secret",
            format!("{hs256_part}.{hs256_signature}"),
        ),
        (
            "an unknown key id",
            format!("{}.{signature}", signed_part(&unknown_kid, &claims)),
        ),
        (
            "no signature",
            format!("{}.", signed_part(&header, &claims)),
        ),
        ("two parts", signed_part(&header, &claims)),
        ("nothing", String::new()),
    ]
}
