//! A fresh PostgreSQL schema per test in the database named by `TOKENGATE_TEST_POSTGRES_URL`
//! (its `search_path` set through the URL), dropped again with the guard.

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::sync::atomic::{AtomicU32, Ordering};

pub struct FreshSchema {
    pub url: String,
    name: String,
    server_url: String,
}

impl FreshSchema {
    /// `None` (with the skip message) when no PostgreSQL is configured.
    pub async fn create() -> Option<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let server_url = match std::env::var("TOKENGATE_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => {
                eprintln!("skipped: TOKENGATE_TEST_POSTGRES_URL is not set");
                return None;
            }
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "tg_nodes_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let mut connection = PgConnection::connect(&server_url).await.unwrap();
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA \"{name}\"")))
            .execute(&mut connection)
            .await
            .unwrap();
        let separator = if server_url.contains('?') { '&' } else { '?' };
        let url = format!("{server_url}{separator}options=-c%20search_path%3D{name}");
        Some(Self {
            url,
            name,
            server_url,
        })
    }
}

impl Drop for FreshSchema {
    fn drop(&mut self) {
        let server_url = self.server_url.clone();
        let statement = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name);
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
