//! PostgreSQL for tests: each case gets a schema of its own in the database named by
//! `TOKENGATE_TEST_POSTGRES_URL` (its `search_path` set through the URL's `options`), removed
//! again when the guard drops. Without the variable every PostgreSQL case is skipped.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::sync::atomic::{AtomicU32, Ordering};

pub const URL_VARIABLE: &str = "TOKENGATE_TEST_POSTGRES_URL";

/// The server to test against, or `None` (with the skip message) when none is configured.
pub fn postgres_url() -> Option<String> {
    match std::env::var(URL_VARIABLE) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipped: {URL_VARIABLE} is not set");
            None
        }
    }
}

/// A new, empty schema; `url` connects with it as the `search_path` and with the schema's
/// name as `application_name` (so a test can find its own connections).
pub struct FreshSchema {
    pub name: String,
    pub url: String,
    server_url: String,
}

impl FreshSchema {
    pub async fn create() -> Option<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let server_url = postgres_url()?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "tg_test_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let mut connection = PgConnection::connect(&server_url)
            .await
            .expect("connect to TOKENGATE_TEST_POSTGRES_URL");
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA \"{name}\"")))
            .execute(&mut connection)
            .await
            .expect("create schema");
        let separator = if server_url.contains('?') { '&' } else { '?' };
        let url = format!(
            "{server_url}{separator}options=-c%20search_path%3D{name}&application_name={name}"
        );
        Some(Self {
            name,
            url,
            server_url,
        })
    }

    /// A plain connection to the test schema.
    pub async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.url).await.expect("connect")
    }
}

impl Drop for FreshSchema {
    fn drop(&mut self) {
        let server_url = self.server_url.clone();
        let statement = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name);
        // A thread of its own: Drop cannot await, and the test's runtime may be shutting down.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(mut connection) = PgConnection::connect(&server_url).await {
                    let _ = sqlx::query(AssertSqlSafe(statement))
                        .execute(&mut connection)
                        .await;
                }
            });
        })
        .join();
    }
}
