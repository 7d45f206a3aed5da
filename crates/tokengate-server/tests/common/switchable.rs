//! A real store with a switch: while `down` is set every call fails as a dead database's
//! would. Used to test failing closed and recovering.
#![allow(dead_code)]

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokengate_core::lockout::LockoutPolicy;
use tokengate_core::model::*;
use tokengate_core::notices::{
    Delivery, DeliveryRecord, DeliveryState, NewDelivery, NewNotice, Outcome, StoredNotice,
};
use tokengate_core::store::*;
use tokengate_core::token::TokenDigest;

/// The real SQLite store with a switch that makes every call fail, as a dead database would.
pub struct Switchable {
    pub inner: Arc<dyn Store>,
    pub down: AtomicBool,
}

impl Switchable {
    fn check(&self) -> StoreResult<()> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable("switched off".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl UserStore for Switchable {
    async fn user(&self, name: &str) -> StoreResult<Option<User>> {
        self.check()?;
        self.inner.user(name).await
    }
    async fn users(&self) -> StoreResult<Vec<User>> {
        self.check()?;
        self.inner.users().await
    }
    async fn count_users(&self) -> StoreResult<u64> {
        self.check()?;
        self.inner.count_users().await
    }
    async fn create_user(&self, user: &User, audit: &NewAudit) -> StoreResult<()> {
        self.check()?;
        self.inner.create_user(user, audit).await
    }
    async fn update_user(
        &self,
        name: &str,
        change: &UserChange,
        audit: &NewAudit,
    ) -> StoreResult<User> {
        self.check()?;
        self.inner.update_user(name, change, audit).await
    }
    async fn record_failed_login(
        &self,
        name: &str,
        now: DateTime<Utc>,
        policy: LockoutPolicy,
    ) -> StoreResult<Option<FailedLogin>> {
        self.check()?;
        self.inner.record_failed_login(name, now, policy).await
    }
    async fn reset_failed_logins(&self, name: &str, audit: Option<&NewAudit>) -> StoreResult<bool> {
        self.check()?;
        self.inner.reset_failed_logins(name, audit).await
    }
}

#[async_trait]
impl TokenStore for Switchable {
    async fn token_by_digest(&self, digest: &TokenDigest) -> StoreResult<Option<TokenRecord>> {
        self.check()?;
        self.inner.token_by_digest(digest).await
    }
    async fn token(&self, id: &str) -> StoreResult<Option<TokenRecord>> {
        self.check()?;
        self.inner.token(id).await
    }
    async fn tokens(&self, filter: &TokenFilter) -> StoreResult<Vec<TokenRecord>> {
        self.check()?;
        self.inner.tokens(filter).await
    }
    async fn create_token(&self, token: &TokenRecord, audit: &NewAudit) -> StoreResult<bool> {
        self.check()?;
        self.inner.create_token(token, audit).await
    }
    async fn rename_token(&self, id: &str, name: &str, audit: &NewAudit) -> StoreResult<bool> {
        self.check()?;
        self.inner.rename_token(id, name, audit).await
    }
    async fn rotate_token(
        &self,
        id: &str,
        rotation: &Rotation,
        audit: &NewAudit,
    ) -> StoreResult<bool> {
        self.check()?;
        self.inner.rotate_token(id, rotation, audit).await
    }
    async fn restrict_token(
        &self,
        id: &str,
        restrictions: &tokengate_core::restrictions::Restrictions,
        audit: &NewAudit,
    ) -> StoreResult<bool> {
        self.check()?;
        self.inner.restrict_token(id, restrictions, audit).await
    }
    async fn delete_tokens_created_before(
        &self,
        before: DateTime<Utc>,
        owner: Option<&str>,
        audit: &NewAudit,
    ) -> StoreResult<u64> {
        self.check()?;
        self.inner
            .delete_tokens_created_before(before, owner, audit)
            .await
    }
    async fn delete_token(&self, id: &str, audit: &NewAudit) -> StoreResult<Option<Vec<String>>> {
        self.check()?;
        self.inner.delete_token(id, audit).await
    }
    async fn delete_tokens_of(&self, owner: &str, audit: &NewAudit) -> StoreResult<u64> {
        self.check()?;
        self.inner.delete_tokens_of(owner, audit).await
    }
    async fn count_tokens_expiring_after(&self, latest: DateTime<Utc>) -> StoreResult<u64> {
        self.check()?;
        self.inner.count_tokens_expiring_after(latest).await
    }
    async fn clamp_token_expiry(
        &self,
        latest: DateTime<Utc>,
        audit: &NewAudit,
    ) -> StoreResult<u64> {
        self.check()?;
        self.inner.clamp_token_expiry(latest, audit).await
    }
    async fn record_token_uses(&self, uses: &[TokenUse]) -> StoreResult<()> {
        self.check()?;
        self.inner.record_token_uses(uses).await
    }
}

#[async_trait]
impl SettingsStore for Switchable {
    async fn settings(&self) -> StoreResult<Settings> {
        self.check()?;
        self.inner.settings().await
    }
    async fn save_settings(&self, settings: &Settings, audit: &NewAudit) -> StoreResult<()> {
        self.check()?;
        self.inner.save_settings(settings, audit).await
    }
}

#[async_trait]
impl AuditLog for Switchable {
    async fn audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditRecord>> {
        self.check()?;
        self.inner.audit(filter).await
    }
    async fn append_audit(&self, records: &[NewAudit]) -> StoreResult<()> {
        self.check()?;
        self.inner.append_audit(records).await
    }
    async fn audit_head(&self) -> StoreResult<Option<(i64, String)>> {
        self.check()?;
        self.inner.audit_head().await
    }
    async fn audit_between(
        &self,
        after_id: i64,
        until_id: i64,
        limit: u32,
    ) -> StoreResult<Vec<AuditRecord>> {
        self.check()?;
        self.inner.audit_between(after_id, until_id, limit).await
    }
    async fn prune_audit(&self, before: DateTime<Utc>, audit: &NewAudit) -> StoreResult<u64> {
        self.check()?;
        self.inner.prune_audit(before, audit).await
    }
}

#[async_trait]
impl ChangeCounter for Switchable {
    async fn change_counter(&self) -> StoreResult<i64> {
        self.check()?;
        self.inner.change_counter().await
    }
}

#[async_trait]
impl SessionStore for Switchable {
    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()> {
        self.check()?;
        self.inner.create_session(session).await
    }
    async fn session(&self, digest: &TokenDigest) -> StoreResult<Option<SessionRecord>> {
        self.check()?;
        self.inner.session(digest).await
    }
    async fn touch_session(&self, digest: &TokenDigest, at: DateTime<Utc>) -> StoreResult<()> {
        self.check()?;
        self.inner.touch_session(digest, at).await
    }
    async fn delete_session(&self, digest: &TokenDigest) -> StoreResult<bool> {
        self.check()?;
        self.inner.delete_session(digest).await
    }
    async fn delete_sessions_of(&self, user: &str) -> StoreResult<u64> {
        self.check()?;
        self.inner.delete_sessions_of(user).await
    }
    async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        self.check()?;
        self.inner.delete_expired_sessions(now).await
    }
}

#[async_trait]
impl GroupStore for Switchable {
    async fn groups(&self) -> StoreResult<Vec<tokengate_core::groups::Group>> {
        self.check()?;
        self.inner.groups().await
    }
    async fn group(&self, name: &str) -> StoreResult<Option<tokengate_core::groups::Group>> {
        self.check()?;
        self.inner.group(name).await
    }
    async fn create_group(
        &self,
        group: &tokengate_core::groups::Group,
        audit: &NewAudit,
    ) -> StoreResult<()> {
        self.check()?;
        self.inner.create_group(group, audit).await
    }
    async fn delete_group(&self, name: &str, audit: &NewAudit) -> StoreResult<bool> {
        self.check()?;
        self.inner.delete_group(name, audit).await
    }
    async fn change_members(
        &self,
        name: &str,
        add: &[String],
        remove: &[String],
        audit: &NewAudit,
    ) -> StoreResult<tokengate_core::groups::Group> {
        self.check()?;
        self.inner.change_members(name, add, remove, audit).await
    }
    async fn set_local_groups(
        &self,
        user: &str,
        groups: &[String],
        audit: &NewAudit,
    ) -> StoreResult<User> {
        self.check()?;
        self.inner.set_local_groups(user, groups, audit).await
    }
}

#[async_trait]
impl DirectoryStore for Switchable {
    async fn refresh_directory_user(
        &self,
        profile: &DirectoryProfile,
        audit: &NewAudit,
    ) -> StoreResult<(User, bool)> {
        self.check()?;
        self.inner.refresh_directory_user(profile, audit).await
    }
    async fn deprovision_user(&self, name: &str, audit: &NewAudit) -> StoreResult<bool> {
        self.check()?;
        self.inner.deprovision_user(name, audit).await
    }
}

#[async_trait]
impl KnownAddressStore for Switchable {
    async fn remember_address(
        &self,
        user: &str,
        address: std::net::IpAddr,
        at: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.check()?;
        self.inner
            .remember_address(user, address, at, forget_before)
            .await
    }
    async fn is_known_address(
        &self,
        user: &str,
        address: std::net::IpAddr,
        since: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.check()?;
        self.inner.is_known_address(user, address, since).await
    }
}

#[async_trait]
impl Outbox for Switchable {
    async fn add_notices(&self, notices: &[NewNotice]) -> StoreResult<u64> {
        self.check()?;
        self.inner.add_notices(notices).await
    }
    async fn tokens_expiring_between(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<Vec<TokenRecord>> {
        self.check()?;
        self.inner.tokens_expiring_between(from, until).await
    }
    async fn plan_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        plan: &(dyn for<'n> Fn(&'n StoredNotice) -> Vec<NewDelivery> + Send + Sync),
    ) -> StoreResult<u64> {
        self.check()?;
        self.inner.plan_deliveries(now, limit, plan).await
    }
    async fn claim_delivery(
        &self,
        node: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Option<Delivery>> {
        self.check()?;
        self.inner.claim_delivery(node, now, lease_until).await
    }
    async fn finish_delivery(
        &self,
        id: &str,
        node: &str,
        now: DateTime<Utc>,
        outcome: &Outcome,
    ) -> StoreResult<bool> {
        self.check()?;
        self.inner.finish_delivery(id, node, now, outcome).await
    }
    async fn deliveries(
        &self,
        state: DeliveryState,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        self.check()?;
        self.inner.deliveries(state, limit).await
    }
    async fn count_deliveries(&self) -> StoreResult<Vec<(DeliveryState, u64)>> {
        self.check()?;
        self.inner.count_deliveries().await
    }
    async fn retry_delivery(&self, id: &str, now: DateTime<Utc>) -> StoreResult<bool> {
        self.check()?;
        self.inner.retry_delivery(id, now).await
    }
    async fn prune_notices(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.check()?;
        self.inner.prune_notices(before).await
    }
}

/// A gateway without upstream on a real SQLite store behind a switch (set `down` to cut it).
pub async fn spawn_switchable(
    config: tokengate_server::config::Config,
) -> (super::TestApp, Arc<Switchable>) {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("gate.db").display());
    let store = Arc::new(Switchable {
        inner: tokengate_store::open(&database_url).await.unwrap(),
        down: AtomicBool::new(false),
    });
    let app = super::TestApp::spawn_on(config, store.clone(), database_url, None, dir).await;
    (app, store)
}

#[async_trait]
impl UsageStore for Switchable {
    async fn add_usage(&self, rows: &[tokengate_core::usage::UsageRow]) -> StoreResult<()> {
        self.check()?;
        self.inner.add_usage(rows).await
    }
    async fn usage(
        &self,
        filter: &tokengate_core::usage::UsageFilter,
    ) -> StoreResult<Vec<tokengate_core::usage::UsageRow>> {
        self.check()?;
        self.inner.usage(filter).await
    }
    async fn usage_per_day(
        &self,
        since: chrono::NaiveDate,
    ) -> StoreResult<Vec<tokengate_core::usage::DayUsage>> {
        self.check()?;
        self.inner.usage_per_day(since).await
    }
    async fn prune_usage(&self, before: chrono::NaiveDate) -> StoreResult<u64> {
        self.check()?;
        self.inner.prune_usage(before).await
    }
}

#[async_trait]
impl AuditForwarding for Switchable {
    async fn claim_audit_forwarding(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Option<i64>> {
        self.check()?;
        self.inner
            .claim_audit_forwarding(holder, now, lease_until)
            .await
    }
    async fn advance_audit_forwarding(
        &self,
        holder: &str,
        from: i64,
        to: i64,
    ) -> StoreResult<bool> {
        self.check()?;
        self.inner.advance_audit_forwarding(holder, from, to).await
    }
    async fn release_audit_forwarding(&self, holder: &str) -> StoreResult<()> {
        self.check()?;
        self.inner.release_audit_forwarding(holder).await
    }
}
