//! The hot path's memory: token records by digest and token owners by name, in bounded caches
//! that are dropped whenever the store's change counter moves (see `watch`). A generation
//! number keeps a lookup that raced with an invalidation from re-inserting a stale record.

use crate::metrics::Metrics;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use moka::sync::Cache;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokengate_core::authenticate::AuthLookup;
use tokengate_core::model::{TokenGrant, User};
use tokengate_core::store::{Store, StoreError, StoreResult};
use tokengate_core::token::TokenDigest;

/// Entries a cache holds at most (tokens in active use; owners).
const TOKEN_CAPACITY: u64 = 200_000;
const OWNER_CAPACITY: u64 = 50_000;

pub struct AuthCache {
    store: Arc<dyn Store>,
    tokens: Cache<TokenDigest, (u64, Arc<TokenGrant>)>,
    owners: Cache<String, (u64, Arc<User>)>,
    generation: AtomicU64,
    /// False while the store cannot be reached: lookups then bypass the cache and fail closed.
    store_healthy: AtomicBool,
    metrics: Arc<Metrics>,
}

impl AuthCache {
    pub fn new(store: Arc<dyn Store>, metrics: Arc<Metrics>) -> Self {
        Self {
            store,
            tokens: Cache::new(TOKEN_CAPACITY),
            owners: Cache::new(OWNER_CAPACITY),
            generation: AtomicU64::new(0),
            store_healthy: AtomicBool::new(true),
            metrics,
        }
    }

    /// Forgets every cached record (a change happened somewhere).
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.tokens.invalidate_all();
        self.owners.invalidate_all();
    }

    /// Marks the store reachable or not. Unreachable empties the cache so nothing cached
    /// outlives what could be checked.
    pub fn set_store_healthy(&self, healthy: bool) {
        if !healthy {
            self.invalidate();
        }
        self.store_healthy.store(healthy, Ordering::SeqCst);
    }

    pub fn store_healthy(&self) -> bool {
        self.store_healthy.load(Ordering::SeqCst)
    }

    fn current(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn unavailable() -> StoreError {
        StoreError::Unavailable("the store did not answer the last change poll".into())
    }
}

#[async_trait]
impl AuthLookup for AuthCache {
    async fn token_by_digest(&self, digest: &TokenDigest) -> StoreResult<Option<Arc<TokenGrant>>> {
        if !self.store_healthy() {
            return Err(Self::unavailable());
        }
        let generation = self.current();
        if let Some((cached_generation, record)) = self.tokens.get(digest)
            && cached_generation == generation
        {
            self.metrics.cache_hit();
            return Ok(Some(record));
        }
        self.metrics.cache_miss();
        let found = self
            .store
            .token_grant_by_digest(digest)
            .await?
            .map(Arc::new);
        if let Some(record) = &found
            && self.current() == generation
        {
            self.tokens.insert(*digest, (generation, record.clone()));
        }
        Ok(found)
    }

    async fn user(&self, name: &str) -> StoreResult<Option<Arc<User>>> {
        Ok(self.store.user(name).await?.map(Arc::new))
    }

    async fn token_owner(&self, name: &str) -> StoreResult<Option<Arc<User>>> {
        if !self.store_healthy() {
            return Err(Self::unavailable());
        }
        let generation = self.current();
        if let Some((cached_generation, user)) = self.owners.get(name)
            && cached_generation == generation
        {
            return Ok(Some(user));
        }
        let found = self.store.user(name).await?.map(Arc::new);
        if let Some(user) = &found
            && self.current() == generation
        {
            self.owners
                .insert(name.to_owned(), (generation, user.clone()));
        }
        Ok(found)
    }

    /// Straight from the store: asked only for a locked user's password attempt.
    async fn is_known_address(
        &self,
        user: &str,
        address: IpAddr,
        since: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.store.is_known_address(user, address, since).await
    }
}
