//! Helpers for the web UI tests: a cookie-keeping HTTP client that plays a browser's form posts
//! (with the `Origin` a browser sends), and small readers of the rendered HTML.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod browser;

use crate::common::{TestApp, change, test_config};
use reqwest::redirect::Policy;
use tokengate_core::groups::UserSource;
use tokengate_core::model::{AuditAction, AuditFilter, AuditRecord};
use tokengate_core::store::DirectoryProfile;

/// A UI test app: the real server without an upstream.
pub async fn ui_app() -> TestApp {
    TestApp::spawn_with(test_config(), false).await
}

/// A client that keeps cookies and does not follow redirects (tests look at each answer).
pub struct UiClient {
    pub client: reqwest::Client,
    pub base: String,
}

pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    async fn from(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap();
        Self {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|value| value.to_str().unwrap())
            .unwrap_or("")
    }

    pub fn location(&self) -> &str {
        self.header("location")
    }

    /// The CSRF token of the page's forms.
    pub fn csrf(&self) -> String {
        hidden_value(&self.body, "csrf").expect("a csrf field on the page")
    }

    /// The text of the one-time secret box, if the page shows one.
    pub fn new_secret(&self) -> Option<String> {
        let start = self.body.find("id=\"new-token-secret\">")? + "id=\"new-token-secret\">".len();
        let end = self.body[start..].find('<')? + start;
        Some(self.body[start..end].to_owned())
    }
}

/// The value of the first `<input type="hidden" name="NAME" value="...">`.
pub fn hidden_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

impl UiClient {
    pub fn new(app: &TestApp) -> Self {
        let client = reqwest::Client::builder()
            .no_proxy()
            .cookie_store(true)
            .redirect(Policy::none())
            .build()
            .unwrap();
        Self {
            client,
            base: app.base.clone(),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        Page::from(
            self.client
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// A form post as a browser on tokengate's own page sends it.
    pub async fn post<T: serde::Serialize + ?Sized>(&self, path: &str, fields: &T) -> Page {
        self.post_from(path, fields, &self.base.clone()).await
    }

    /// A form post whose `Origin` is `origin`.
    pub async fn post_from<T: serde::Serialize + ?Sized>(
        &self,
        path: &str,
        fields: &T,
        origin: &str,
    ) -> Page {
        Page::from(
            self.client
                .post(format!("{}{path}", self.base))
                .header("origin", origin)
                .form(fields)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Signs in and returns the CSRF token of the session.
    pub async fn sign_in(&self, user: &str, password: &str) -> String {
        let answer = self
            .post(
                "/tokengate/login",
                &[("username", user), ("password", password)],
            )
            .await;
        assert_eq!(answer.status, 303, "sign-in of {user}: {}", answer.body);
        self.get("/tokengate/").await.csrf()
    }
}

/// A signed-in client of a new user.
pub async fn signed_in(app: &TestApp, user: &str, admin: bool) -> (UiClient, String) {
    let password = format!("{user}-password");
    app.add_user(user, &password, admin).await;
    let client = UiClient::new(app);
    let csrf = client.sign_in(user, &password).await;
    (client, csrf)
}

/// The `href` of the link with `id`, unescaped.
pub fn hidden_href(html: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\" href=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].replace("&#38;", "&").replace("&amp;", "&"))
}

/// A form's fields with the CSRF token first.
pub fn with_csrf<'a>(csrf: &'a str, pairs: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all = vec![("csrf", csrf)];
    all.extend_from_slice(pairs);
    all
}

/// The audit records of one action, newest first.
pub async fn audited(app: &TestApp, action: AuditAction) -> Vec<AuditRecord> {
    let filter = AuditFilter {
        action: Some(action),
        limit: 100,
        ..AuditFilter::default()
    };
    app.store.audit(&filter).await.unwrap()
}

/// A user as the LDAP directory reports them: e-mail `NAME@example.com`, in the directory
/// group `ldap-devs`.
pub async fn provision_from_ldap(app: &TestApp, name: &str) {
    let profile = DirectoryProfile {
        name: name.into(),
        display_name: name.into(),
        email: Some(format!("{name}@example.com")),
        source: UserSource::Ldap,
        groups: vec!["ldap-devs".into()],
        admin: false,
    };
    let provisioned = tokengate_core::manage::provision(
        app.store.as_ref(),
        &change(chrono::Utc::now()),
        &profile,
    )
    .await
    .unwrap();
    assert_eq!(provisioned.value.source, UserSource::Ldap);
}
