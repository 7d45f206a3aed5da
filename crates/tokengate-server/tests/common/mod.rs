//! Test harness: a real upstream HTTP server, a real SQLite store in a temp folder, and the
//! real gateway started in-process on port 0. One method per thing a test does.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod certificate;
pub mod hooks;
pub mod ldap;
pub mod notices;
pub mod oidc;
pub mod proxies;
pub mod raw;
pub mod smtp;
pub mod switchable;
pub mod upstream;
pub mod vectors;
pub mod websocket;

use chrono::{DateTime, Utc};
use std::net::SocketAddr;
use std::sync::Arc;
use tokengate_core::Secret;
use tokengate_core::manage::{AdminChange, AdminIdentity, Change, create_token, create_user};
use tokengate_core::model::{Actor, Origin, Settings, User};
use tokengate_core::store::Store;
use tokengate_server::config::Config;
use tokengate_server::serve::{RunningServer, start};

pub struct TestApp {
    pub address: SocketAddr,
    pub base: String,
    pub store: Arc<dyn Store>,
    pub database_url: String,
    pub upstream: Option<upstream::Upstream>,
    pub client: reqwest::Client,
    pub server: Option<RunningServer>,
    _dir: tempfile::TempDir,
}

static ORIGIN: Origin = Origin {
    ip: None,
    request_id: None,
};

pub fn change(now: DateTime<Utc>) -> Change<'static> {
    Change {
        actor: &Actor::Cli,
        origin: &ORIGIN,
        now,
    }
}

/// A change by the local operator, as the CLI makes them.
pub fn operator_change(now: DateTime<Utc>) -> AdminChange<'static> {
    static OPERATOR: std::sync::LazyLock<AdminIdentity> =
        std::sync::LazyLock::new(AdminIdentity::local_operator);
    OPERATOR.change(&ORIGIN, now)
}

/// A config for tests: port 0 (the gateway and the metrics listener), the loopback peer trusted
/// so tests can play any client address through `X-Forwarded-For`.
pub fn test_config() -> Config {
    Config {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        metrics_listen: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        // The test harness does not capture stderr: no line per request in its output.
        access_log: tokengate_server::config::AccessLog::Off,
        ..Config::default()
    }
}

impl TestApp {
    /// Starts an upstream and a gateway in front of it.
    pub async fn spawn() -> Self {
        Self::spawn_with(test_config(), true).await
    }

    pub async fn spawn_with(mut config: Config, with_upstream: bool) -> Self {
        let upstream = if with_upstream {
            Some(upstream::Upstream::start().await)
        } else {
            None
        };
        if let Some(upstream) = &upstream {
            config.gateway.upstream = Some(upstream.url());
        }
        let dir = tempfile::tempdir().unwrap();
        let database_url = format!("sqlite://{}", dir.path().join("gate.db").display());
        let store = tokengate_store::open(&database_url).await.unwrap();
        Self::spawn_on(config, store, database_url, upstream, dir).await
    }

    pub async fn spawn_on(
        mut config: Config,
        store: Arc<dyn Store>,
        database_url: String,
        upstream: Option<upstream::Upstream>,
        dir: tempfile::TempDir,
    ) -> Self {
        config.database_url = database_url.clone();
        let server = start(config, store.clone()).await.unwrap();
        let address = server.address;
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        Self {
            address,
            base: format!("http://{address}"),
            store,
            database_url,
            upstream,
            client,
            server: Some(server),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn add_user(&self, name: &str, password: &str, admin: bool) -> User {
        let secret = Secret::new(password);
        create_user(
            self.store.as_ref(),
            &operator_change(Utc::now()),
            name,
            admin,
            Some(&secret),
        )
        .await
        .unwrap()
    }

    /// Creates a token (validity: never) and returns (id, secret).
    pub async fn add_token(&self, owner: &str) -> (String, String) {
        self.add_restricted_token(owner, &Default::default()).await
    }

    /// Creates a token (validity: never) with `restrictions`; returns (id, secret).
    pub async fn add_restricted_token(
        &self,
        owner: &str,
        restrictions: &tokengate_core::restrictions::Restrictions,
    ) -> (String, String) {
        let user = self.store.user(owner).await.unwrap().unwrap();
        let settings = self.store.settings().await.unwrap();
        let new = tokengate_core::manage::NewToken {
            name: "test token",
            validity: Some(tokengate_core::validity::ValidityRequest::Preset(
                tokengate_core::validity::MaxValidity::Never,
            )),
            restrictions,
            maker: None,
        };
        let created = create_token(
            self.store.as_ref(),
            &change(Utc::now()),
            &user,
            &new,
            &settings,
        )
        .await
        .unwrap();
        (created.record.id, created.secret.expose().to_owned())
    }

    /// Stores a token of `owner`'s as if it had been made at `created_at` (audited as made by
    /// the CLI then), and makes the gateway see it: (id, secret).
    pub async fn add_token_made_at(
        &self,
        owner: &str,
        created_at: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> (String, String) {
        let secret = tokengate_core::token::TokenSecret::generate().unwrap();
        let record = tokengate_core::TokenRecord {
            restrictions: Default::default(),
            id: tokengate_core::token::new_token_id().unwrap(),
            owner: owner.into(),
            name: "made earlier".into(),
            digest: secret.digest(),
            hint: secret.hint(),
            created_at: tokengate_core::manage::truncate_to_millis(created_at),
            created_by: "cli".into(),
            expires_at: expires_at.map(tokengate_core::manage::truncate_to_millis),
            last_used_at: None,
            last_used_ip: None,
            made_by: None,
            rotated_at: None,
            rotated_from: None,
        };
        let audit = tokengate_core::model::NewAudit::new(
            created_at,
            &Actor::Cli,
            tokengate_core::model::AuditAction::TokenCreated,
            &ORIGIN,
        )
        .user(owner)
        .token(&record.id);
        assert!(self.store.create_token(&record, &audit).await.unwrap());
        self.sync().await;
        (record.id, secret.expose().to_owned())
    }

    /// Saves settings as the CLI does (running servers follow within a poll).
    pub async fn save_settings(&self, settings: &Settings) {
        let store = self.store.as_ref();
        let changed =
            tokengate_core::manage::change_settings(store, &operator_change(Utc::now()), settings)
                .await;
        tokengate_server::effects::in_store(store, changed)
            .await
            .unwrap();
    }

    /// Waits until the running gateway has picked up the store's current state.
    pub async fn sync(&self) {
        let state = &self.server.as_ref().unwrap().state;
        tokengate_server::watch::refresh(state, None).await;
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_bearer(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_basic(&self, path: &str, user: &str, secret: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .basic_auth(user, Some(secret))
            .send()
            .await
            .unwrap()
    }

    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.client.get(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    /// The text of `GET /metrics` on the metrics listener.
    pub async fn metrics(&self) -> String {
        let address = self.server.as_ref().unwrap().metrics_address.unwrap();
        let answer = reqwest::get(format!("http://{address}/metrics"))
            .await
            .unwrap();
        answer.text().await.unwrap()
    }
}

/// Asserts the SPEC §1 error body and returns it.
pub async fn error_body(response: reqwest::Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let request_id = response
        .headers()
        .get("x-request-id")
        .map(|value| value.to_str().unwrap().to_owned());
    if status == 401 {
        let challenge = response
            .headers()
            .get("www-authenticate")
            .expect("every 401 carries WWW-Authenticate")
            .to_str()
            .unwrap();
        assert!(
            challenge == "Basic realm=\"tokengate\""
                || challenge.starts_with("Bearer realm=\"tokengate\", error=\"invalid_token\""),
            "{challenge}"
        );
    }
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|message| !message.is_empty())
    );
    assert_eq!(
        body["request_id"].as_str(),
        request_id.as_deref(),
        "request id in body and header"
    );
    body
}

/// [`test_config`] with the loopback peer as a trusted proxy, so a test can play any client
/// address through `X-Forwarded-For`.
pub fn trusting_loopback() -> Config {
    let mut config = test_config();
    config.gateway.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    config
}

/// The running gateway's state.
pub fn state(app: &TestApp) -> &Arc<tokengate_server::state::AppState> {
    &app.server.as_ref().unwrap().state
}

/// One Basic request to `path` as if from `client` (through a trusted proxy; the forward-auth
/// headers name a protected path, for requests to `/tokengate/auth`).
pub async fn basic_from(app: &TestApp, path: &str, client: &str, user: &str, secret: &str) -> u16 {
    app.client
        .get(app.url(path))
        .basic_auth(user, Some(secret))
        .header("x-forwarded-for", client)
        .header("x-forwarded-method", "GET")
        .header("x-forwarded-uri", "/rest/x")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}
