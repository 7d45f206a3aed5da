//! Real headless Chromium for the browser tests, driven through chromedriver with fantoccini.
//! Each test starts its own chromedriver on a free loopback port with a fresh profile; at most
//! two browsers run at once (the machines have two cores). When Chromium or chromedriver is
//! missing the tests say so and pass: CI installs Debian's `chromium` and `chromium-driver`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

pub const SKIPPED: &str = "skipped: chromium/chromedriver not installed (CI installs them)";

static BROWSERS_AT_ONCE: Semaphore = Semaphore::const_new(2);

fn program(variable: &str, default: &str) -> PathBuf {
    std::env::var_os(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

fn chromedriver_path() -> PathBuf {
    program("TOKENGATE_CHROMEDRIVER", "/usr/bin/chromedriver")
}

fn chromium_path() -> PathBuf {
    program("TOKENGATE_CHROMIUM", "/usr/bin/chromium")
}

pub fn installed() -> bool {
    chromedriver_path().exists() && chromium_path().exists()
}

/// A chromedriver process, ended when dropped.
struct Driver {
    process: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

async fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn start() -> (Driver, Client) {
    let port = free_port();
    let process = Command::new(chromedriver_path())
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver {
        process,
        _profile: profile,
    };
    wait_for_port(port).await;
    let args = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
        "--lang=en-US",
    ]
    .iter()
    .map(|arg| arg.to_string())
    .chain([format!(
        "--user-data-dir={}",
        driver._profile.path().display()
    )])
    .collect::<Vec<_>>();
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {"binary": chromium_path(), "args": args},
    });
    let serde_json::Value::Object(capabilities) = capabilities else {
        unreachable!("an object");
    };
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session");
    (driver, client)
}

/// Runs `test` with a fresh browser, closing it whatever happens; prints the skip notice and
/// returns when the browser is not installed.
pub async fn with_browser<F, Fut>(test: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = ()>,
{
    if !installed() {
        println!("{SKIPPED}");
        return;
    }
    let _permit = BROWSERS_AT_ONCE.acquire().await.unwrap();
    let (driver, client) = start().await;
    let outcome = AssertUnwindSafe(test(client.clone())).catch_unwind().await;
    let _ = client.close().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Small conveniences over fantoccini for the tests.
pub struct Pages<'a> {
    pub client: &'a Client,
    pub base: &'a str,
}

impl Pages<'_> {
    pub async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    pub async fn css(&self, selector: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(selector))
            .await
            .unwrap_or_else(|error| panic!("{selector}: {error}"))
    }

    pub async fn exists(&self, selector: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(selector))
            .await
            .unwrap()
            .is_empty()
    }

    pub async fn text(&self, selector: &str) -> String {
        self.css(selector).await.text().await.unwrap()
    }

    pub async fn fill(&self, selector: &str, value: &str) {
        let field = self.css(selector).await;
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    pub async fn click(&self, selector: &str) {
        self.css(selector).await.click().await.unwrap();
    }

    pub async fn sign_in(&self, user: &str, password: &str) {
        self.open("/tokengate/").await;
        self.fill("input[name=username]", user).await;
        self.fill("input[name=password]", password).await;
        self.submit("#login button[type=submit]").await;
    }

    pub async fn sign_out(&self) {
        self.submit("#sign-out").await;
        self.css("#login").await;
    }

    /// Marks the page shown now, so that waiting for an unmarked page waits for the next one.
    async fn mark_page(&self) {
        self.client
            .execute("document.body.setAttribute('data-old-page', '1');", vec![])
            .await
            .unwrap();
    }

    async fn wait_for_next_page(&self) {
        self.css("body:not([data-old-page])").await;
    }

    /// Clicks a button that submits a form and waits for the page that answers.
    pub async fn submit(&self, selector: &str) {
        self.mark_page().await;
        self.click(selector).await;
        self.wait_for_next_page().await;
    }

    /// Reloads the page and waits for the new copy.
    pub async fn reload(&self) {
        self.mark_page().await;
        self.client.refresh().await.unwrap();
        self.wait_for_next_page().await;
    }

    /// Clicks a button whose form asks for confirmation, accepts, and waits for the answer.
    pub async fn submit_confirmed(&self, selector: &str) {
        self.mark_page().await;
        self.click(selector).await;
        self.accept_dialog().await;
        self.wait_for_next_page().await;
    }

    /// Picks the option with `value` in a select.
    pub async fn select(&self, selector: &str, value: &str) {
        self.css(selector)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|error| panic!("{selector} = {value}: {error}"));
    }

    /// The option values of a select.
    pub async fn options(&self, select: &str) -> Vec<String> {
        let mut values = Vec::new();
        for option in self
            .client
            .find_all(Locator::Css(&format!("{select} option")))
            .await
            .unwrap()
        {
            values.push(option.attr("value").await.unwrap().unwrap_or_default());
        }
        values
    }

    /// Accepts the confirmation dialog a click opened.
    pub async fn accept_dialog(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.client.accept_alert().await {
                Ok(()) => return,
                Err(error) => {
                    assert!(Instant::now() < deadline, "no dialog appeared: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Saves a screenshot under docs/screenshots when `TOKENGATE_SCREENSHOTS=1`.
    pub async fn screenshot(&self, name: &str) {
        if std::env::var("TOKENGATE_SCREENSHOTS").as_deref() != Ok("1") {
            return;
        }
        let (width, height) = self.client.get_window_size().await.unwrap();
        let content = self
            .client
            .execute("return document.documentElement.scrollHeight;", vec![])
            .await
            .unwrap()
            .as_u64()
            .unwrap_or(height);
        let full = u32::try_from(content.clamp(300, 4000) + 140).unwrap();
        let width = u32::try_from(width).unwrap();
        self.client.set_window_size(width, full).await.unwrap();
        let png = self.client.screenshot().await.unwrap();
        let height = u32::try_from(height).unwrap();
        self.client.set_window_size(width, height).await.unwrap();
        let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join(format!("{name}.png")), png).unwrap();
    }
}
