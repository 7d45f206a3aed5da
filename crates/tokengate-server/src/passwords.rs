//! Password checks off the async workers: argon2 runs on the blocking pool, at most
//! `password_concurrency` at once, so a flood of password attempts cannot starve token
//! requests.

use async_trait::async_trait;
use std::sync::Arc;
use tokengate_core::Secret;
use tokengate_core::authenticate::PasswordCheck;
use tokengate_core::password::verify_password;
use tokio::sync::Semaphore;

pub struct PasswordPool {
    permits: Arc<Semaphore>,
}

impl PasswordPool {
    pub fn new(concurrency: usize) -> Self {
        let concurrency = if concurrency == 0 {
            std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(2)
        } else {
            concurrency
        };
        Self {
            permits: Arc::new(Semaphore::new(concurrency)),
        }
    }

    /// Verifies off the async workers; `Err` only if the pool is gone.
    pub async fn check(&self, stored_hash: Option<String>, password: Secret) -> Result<bool, ()> {
        let permit = self.permits.clone().acquire_owned().await.map_err(|_| ())?;
        tokio::task::spawn_blocking(move || {
            let verdict = verify_password(stored_hash.as_deref(), &password);
            drop(permit);
            verdict
        })
        .await
        .map_err(|_| ())
    }
}

#[async_trait]
impl PasswordCheck for PasswordPool {
    async fn verify(&self, stored_hash: Option<String>, password: Secret) -> Result<bool, ()> {
        self.check(stored_hash, password).await
    }
}
