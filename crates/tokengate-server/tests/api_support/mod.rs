//! Shared set-up for the REST API tests: a gateway with an admin (`root`) and a user
//! (`alice`), each with a token, and one method per kind of call.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::{TestApp, test_config};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokengate_core::model::AuditFilter;

pub const API: &str = "/tokengate/api/v1";

pub struct Api {
    pub app: TestApp,
    pub admin_token: String,
    pub alice_token: String,
}

impl Api {
    pub async fn start() -> Self {
        Self::start_with(test_config()).await
    }

    pub async fn start_with(config: tokengate_server::config::Config) -> Self {
        let app = TestApp::spawn_with(config, false).await;
        app.add_user("root", "root-pw", true).await;
        app.add_user("alice", "alice-pw", false).await;
        let (_, admin_token) = app.add_token("root").await;
        let (_, alice_token) = app.add_token("alice").await;
        Self {
            app,
            admin_token,
            alice_token,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self
            .app
            .client
            .request(method, self.app.url(&format!("{API}{path}")))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    /// A call with Basic credentials (a password), for what a token may not do: create tokens
    /// for other users.
    pub async fn with_password(
        &self,
        user: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self
            .app
            .client
            .request(method, self.app.url(&format!("{API}{path}")))
            .basic_auth(user, Some(format!("{user}-pw")));
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        self.call(method, path, &self.admin_token, body).await
    }

    pub async fn alice(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        self.call(method, path, &self.alice_token, body).await
    }

    /// The id of `alice_token`, as `whoami` tells it.
    pub async fn alice_token_id(&self) -> String {
        let whoami = self
            .app
            .get_bearer("/tokengate/whoami", &self.alice_token)
            .await;
        let body = json_of(whoami, StatusCode::OK).await;
        body["token_id"].as_str().unwrap().to_owned()
    }

    /// The OpenAPI document as served.
    pub async fn openapi(&self) -> Value {
        self.app
            .get("/tokengate/api/openapi.json")
            .await
            .json()
            .await
            .unwrap()
    }

    pub async fn token_count(&self) -> usize {
        self.app
            .store
            .tokens(&Default::default())
            .await
            .unwrap()
            .len()
    }

    pub async fn audit_count(&self) -> usize {
        self.app
            .store
            .audit(&AuditFilter {
                limit: 1000,
                ..AuditFilter::default()
            })
            .await
            .unwrap()
            .len()
    }
}

pub async fn json_of(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    response.json().await.unwrap()
}
