//! The storage traits. Implemented by `tokengate-store` for SQLite and PostgreSQL; core only
//! states what it needs. Every state-changing call carries the audit record that must be
//! written in the same transaction.

use crate::groups::Group;
use crate::lockout::LockoutPolicy;
use crate::model::{
    AuditFilter, AuditRecord, NewAudit, Settings, TokenFilter, TokenGrant, TokenRecord, TokenUse,
    User, UserChange,
};
use crate::notices::{
    Delivery, DeliveryRecord, DeliveryState, NewDelivery, NewNotice, Outcome, StoredNotice,
};
use crate::secret::Secret;
use crate::token::TokenDigest;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::net::IpAddr;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The database could not be reached or answered with an error; the cause is logged by the
    /// store and never shown to clients.
    #[error("the store is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

pub use crate::lockout::FailedLogin;

#[async_trait]
pub trait UserStore: Send + Sync {
    async fn user(&self, name: &str) -> StoreResult<Option<User>>;
    async fn users(&self) -> StoreResult<Vec<User>>;
    async fn count_users(&self) -> StoreResult<u64>;
    /// Fails with `Conflict` when the name is taken.
    async fn create_user(&self, user: &User, audit: &NewAudit) -> StoreResult<()>;
    async fn update_user(
        &self,
        name: &str,
        change: &UserChange,
        audit: &NewAudit,
    ) -> StoreResult<User>;
    /// Adds one failure atomically (read, `crate::lockout::failed_login`, write, under a lock)
    /// and writes `crate::lockout::locked_record` when this failure locks. `None` for unknown
    /// users.
    async fn record_failed_login(
        &self,
        name: &str,
        now: DateTime<Utc>,
        policy: LockoutPolicy,
    ) -> StoreResult<Option<FailedLogin>>;
    /// Clears counter and lock. With an audit record (admin reset) it is written; without
    /// (successful password login) nothing is written when there is nothing to clear.
    async fn reset_failed_logins(&self, name: &str, audit: Option<&NewAudit>) -> StoreResult<bool>;
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn token_by_digest(&self, digest: &TokenDigest) -> StoreResult<Option<TokenRecord>>;
    /// What a decision needs of the token with this digest (the hot path's lookup on a cache
    /// miss). A backend can answer it from an index alone.
    async fn token_grant_by_digest(&self, digest: &TokenDigest) -> StoreResult<Option<TokenGrant>> {
        Ok(self.token_by_digest(digest).await?.map(TokenGrant::from))
    }
    async fn token(&self, id: &str) -> StoreResult<Option<TokenRecord>>;
    async fn tokens(&self, filter: &TokenFilter) -> StoreResult<Vec<TokenRecord>>;
    /// Stores a new token with its audit record. A token made by a token (`made_by`) is stored
    /// only while its maker still exists, checked after any deletion of the owner's tokens
    /// running at the same time has committed: `false`, and nothing written, when the maker
    /// is gone (a token cannot outlive its maker's revocation, SPEC §11).
    async fn create_token(&self, token: &TokenRecord, audit: &NewAudit) -> StoreResult<bool>;
    async fn rename_token(&self, id: &str, name: &str, audit: &NewAudit) -> StoreResult<bool>;
    /// Gives the token `id` a new secret (its digest and hint) and expiry, and records the
    /// rotation: `rotated_at` and `rotated_from` (the hint of the secret replaced). With
    /// `grace_until` the old secret keeps working until then; without, it stops at once.
    /// `false` when there is no such token.
    async fn rotate_token(
        &self,
        id: &str,
        rotation: &Rotation,
        audit: &NewAudit,
    ) -> StoreResult<bool>;
    /// Replaces a token's restrictions; `false` when there is no such token.
    async fn restrict_token(
        &self,
        id: &str,
        restrictions: &crate::restrictions::Restrictions,
        audit: &NewAudit,
    ) -> StoreResult<bool>;
    /// Deletes every token created before `before` (of `owner` only, when given) and every
    /// token made by one of them, transitively, in one transaction with its audit record,
    /// whose details gain `"count"` (all deleted) and `"also_deleted"` (the ids of those
    /// deleted only because their maker was). Returns the count.
    async fn delete_tokens_created_before(
        &self,
        before: DateTime<Utc>,
        owner: Option<&str>,
        audit: &NewAudit,
    ) -> StoreResult<u64>;
    /// Deletes the token `id` and every token made by it, transitively (`made_by`), in one
    /// transaction with its audit record, whose details gain `"also_deleted"` (their ids).
    /// Returns those ids; `None` when there is no such token.
    async fn delete_token(&self, id: &str, audit: &NewAudit) -> StoreResult<Option<Vec<String>>>;
    /// Deletes every token of `owner`; the audit record's details gain `"count"`.
    async fn delete_tokens_of(&self, owner: &str, audit: &NewAudit) -> StoreResult<u64>;
    /// Tokens that never expire or expire after `latest` (they exceed a lowered maximum).
    async fn count_tokens_expiring_after(&self, latest: DateTime<Utc>) -> StoreResult<u64>;
    /// Sets the expiry of every token counted above to `latest`; the audit record's details
    /// gain `"count"`.
    async fn clamp_token_expiry(&self, latest: DateTime<Utc>, audit: &NewAudit)
    -> StoreResult<u64>;
    /// Records a batch of last uses (the latest per token wins).
    async fn record_token_uses(&self, uses: &[TokenUse]) -> StoreResult<()>;
}

#[async_trait]
pub trait SettingsStore: Send + Sync {
    async fn settings(&self) -> StoreResult<Settings>;
    async fn save_settings(&self, settings: &Settings, audit: &NewAudit) -> StoreResult<()>;
}

/// The outbox of notifications (SPEC §12). Notices are written with their change (the store
/// adds the notice of each audit record it writes, `crate::notices::of_audit`); a node then
/// plans their deliveries and sends each under a claim with a lease, so one node sends it
/// and a crashed node's claim runs out. At least once: a node that dies after sending and
/// before [`Outbox::finish_delivery`] leaves that one delivery to be sent again.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Adds notices, skipping any whose key is already in the outbox; how many were new.
    async fn add_notices(&self, notices: &[NewNotice]) -> StoreResult<u64>;
    /// Tokens expiring at or after `from` and before `until`.
    async fn tokens_expiring_between(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<Vec<TokenRecord>>;
    /// Takes up to `limit` notices no node has planned yet and writes the deliveries `plan`
    /// gives each, due at `now`, in one transaction; how many notices were planned.
    async fn plan_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        plan: &(dyn for<'n> Fn(&'n StoredNotice) -> Vec<NewDelivery> + Send + Sync),
    ) -> StoreResult<u64>;
    /// Claims the delivery due longest, for `node` until `lease_until`, counting an attempt;
    /// `None` when nothing is due or every due delivery is claimed by a live lease.
    async fn claim_delivery(
        &self,
        node: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Option<Delivery>>;
    /// Records how the attempt of `node` ended; `false` when its claim was lost meanwhile.
    async fn finish_delivery(
        &self,
        id: &str,
        node: &str,
        now: DateTime<Utc>,
        outcome: &Outcome,
    ) -> StoreResult<bool>;
    /// Deliveries in `state`, newest first, at most `limit`.
    async fn deliveries(
        &self,
        state: DeliveryState,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRecord>>;
    /// How many deliveries are in each state.
    async fn count_deliveries(&self) -> StoreResult<Vec<(DeliveryState, u64)>>;
    /// Makes a failed delivery pending again, due at `now`; `false` if it is not failed.
    async fn retry_delivery(&self, id: &str, now: DateTime<Utc>) -> StoreResult<bool>;
    /// Deletes notices older than `before` whose deliveries are all settled.
    async fn prune_notices(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

#[async_trait]
pub trait AuditLog: Send + Sync {
    async fn audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditRecord>>;
    /// Writes `records` in one transaction, chained in order (records that belong to no
    /// other change, such as authentication events).
    async fn append_audit(&self, records: &[NewAudit]) -> StoreResult<()>;
    /// Id and hash of the newest record as the chain keeps them; `None` for an empty log.
    async fn audit_head(&self) -> StoreResult<Option<(i64, String)>>;
    /// Up to `limit` records with `after_id < id <= until_id`, oldest first.
    async fn audit_between(
        &self,
        after_id: i64,
        until_id: i64,
        limit: u32,
    ) -> StoreResult<Vec<AuditRecord>>;
    /// Deletes the records written before `before` and writes `audit` (an `audit.pruned`
    /// record, which gains `count`, `last_pruned_id` and `last_pruned_hash`) in the same
    /// transaction; how many were deleted (0: nothing is written).
    async fn prune_audit(&self, before: DateTime<Utc>, audit: &NewAudit) -> StoreResult<u64>;
}

/// Where forwarding of new audit records (SPEC §13, `[audit] syslog`) has got to: the id of
/// the last record taken, and the node that holds the right to take more until its lease runs
/// out. One node at a time forwards, so every record is taken once whatever the number of
/// nodes; records are read with [`AuditLog::audit_head`] and [`AuditLog::audit_between`].
#[async_trait]
pub trait AuditForwarding: Send + Sync {
    /// Takes the lease for `holder` until `lease_until` when nobody holds it, its lease ran out
    /// by `now`, or `holder` holds it already (a renewal); the cursor (the id of the last
    /// record taken) when `holder` holds the lease afterwards, `None` when another node does.
    /// The very first claim starts the cursor at the chain's head: earlier records are for
    /// `tokengate audit export`, not for forwarding.
    async fn claim_audit_forwarding(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Option<i64>>;
    /// Moves the cursor from `from` to `to` when `holder` still holds the lease, the cursor is
    /// still `from` and `to` is after it; whether it moved. The cursor never moves back.
    async fn advance_audit_forwarding(&self, holder: &str, from: i64, to: i64)
    -> StoreResult<bool>;
    /// Gives the lease up (a node that stops), so another node takes over at once.
    async fn release_audit_forwarding(&self, holder: &str) -> StoreResult<()>;
}

/// Walks the whole audit chain up to its current head (`crate::chain`).
pub async fn verify_audit(log: &dyn AuditLog) -> StoreResult<crate::chain::Verification> {
    const PAGE: u32 = 5000;
    let head = log.audit_head().await?;
    let until = head.as_ref().map_or(i64::MAX, |(id, _)| *id);
    let mut verifier = crate::chain::Verifier::new(head);
    let mut after = 0;
    loop {
        let page = log.audit_between(after, until, PAGE).await?;
        for record in &page {
            verifier.feed(record);
        }
        match page.last() {
            Some(last) if page.len() == PAGE as usize => after = last.id,
            _ => break,
        }
    }
    Ok(verifier.finish())
}

/// A counter bumped by every change that can alter an authentication decision (token deleted
/// or changed, user changed, settings changed). Cheap to poll; other processes watch it.
#[async_trait]
pub trait ChangeCounter: Send + Sync {
    async fn change_counter(&self) -> StoreResult<i64>;
}

/// A web UI session. Only the digest (SHA-256) of the session id is stored; the id itself
/// lives in the browser's cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub digest: TokenDigest,
    pub user: String,
    /// The synchronizer token the session's forms and API calls must echo.
    pub csrf_token: Secret,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// Absolute end of the session.
    pub expires_at: DateTime<Utc>,
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()>;
    async fn session(&self, digest: &TokenDigest) -> StoreResult<Option<SessionRecord>>;
    /// Moves `last_seen_at` (idle timeout); no error when the session is gone.
    async fn touch_session(&self, digest: &TokenDigest, at: DateTime<Utc>) -> StoreResult<()>;
    /// Returns whether a session was deleted.
    async fn delete_session(&self, digest: &TokenDigest) -> StoreResult<bool>;
    async fn delete_sessions_of(&self, user: &str) -> StoreResult<u64>;
    /// Deletes sessions whose absolute end is at or before `now`.
    async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}

/// Known addresses (SPEC §2.6): where a user's password worked lately. A locked user can still
/// sign in from one. Not audited and not part of the change counter: they alter no decision
/// other than the locked user's own next password check, which reads them from the store.
#[async_trait]
pub trait KnownAddressStore: Send + Sync {
    /// Records that `user`'s password worked from `address` at `at` (the latest time is
    /// kept). Entries of `user` last seen before `forget_before` are deleted on the way.
    /// No error for an unknown user: nothing is stored.
    async fn remember_address(
        &self,
        user: &str,
        address: IpAddr,
        at: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Whether `user`'s password worked from `address` at or after `since`.
    async fn is_known_address(
        &self,
        user: &str,
        address: IpAddr,
        since: DateTime<Utc>,
    ) -> StoreResult<bool>;
}

/// A rotation's new secret (digest and hint), new expiry and the old secret's grace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The instant of the rotation (stored as `rotated_at`).
    pub at: DateTime<Utc>,
    pub digest: TokenDigest,
    pub hint: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub grace_until: Option<DateTime<Utc>>,
}

/// Local groups and their members (SPEC §1). Every change carries its audit record and moves
/// the change counter (membership decides permissions).
#[async_trait]
pub trait GroupStore: Send + Sync {
    /// Every local group with its members, by name.
    async fn groups(&self) -> StoreResult<Vec<Group>>;
    async fn group(&self, name: &str) -> StoreResult<Option<Group>>;
    /// Fails with `Conflict` when the name is taken; members must exist (`NotFound("user")`).
    async fn create_group(&self, group: &Group, audit: &NewAudit) -> StoreResult<()>;
    /// Returns whether a group was deleted.
    async fn delete_group(&self, name: &str, audit: &NewAudit) -> StoreResult<bool>;
    /// Adds and removes members in one transaction; the group as it is afterwards.
    /// `NotFound("group")` or `NotFound("user")` change nothing.
    async fn change_members(
        &self,
        name: &str,
        add: &[String],
        remove: &[String],
        audit: &NewAudit,
    ) -> StoreResult<Group>;
    /// Makes `user` a member of exactly the local groups `groups` (which must exist).
    async fn set_local_groups(
        &self,
        user: &str,
        groups: &[String],
        audit: &NewAudit,
    ) -> StoreResult<User>;
}

/// What a directory says about a user at sign-in or sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryProfile {
    pub name: String,
    pub display_name: String,
    pub email: Option<String>,
    pub source: crate::groups::UserSource,
    /// Sorted, valid group names.
    pub groups: Vec<String>,
    pub admin: bool,
}

/// Users provisioned from a directory (LDAP, OIDC).
#[async_trait]
pub trait DirectoryStore: Send + Sync {
    /// Writes what the directory says about an existing user: display name, e-mail, admin
    /// flag, directory groups; enables the user again when a sync had disabled them. Returns
    /// the user as it is afterwards and whether anything changed; `audit` is written only then
    /// (`NotFound` when there is no such user).
    async fn refresh_directory_user(
        &self,
        profile: &DirectoryProfile,
        audit: &NewAudit,
    ) -> StoreResult<(User, bool)>;
    /// Disables a directory user the directory no longer has, marking the disabling as the
    /// directory's so a later sign-in or sync may undo it. Returns whether anything changed.
    async fn deprovision_user(&self, name: &str, audit: &NewAudit) -> StoreResult<bool>;
}

/// Usage counts (SPEC §13): rows added up per user, token, address, via, route and day. Not
/// audited and not part of the change counter: they alter no decision.
#[async_trait]
pub trait UsageStore: Send + Sync {
    /// Adds each row's count to the stored row of the same key (a new key starts at it).
    async fn add_usage(&self, rows: &[crate::usage::UsageRow]) -> StoreResult<()>;
    /// The rows `filter` asks for, by day, user, token, address, via and route.
    async fn usage(
        &self,
        filter: &crate::usage::UsageFilter,
    ) -> StoreResult<Vec<crate::usage::UsageRow>>;
    /// Requests per day and via since `since`, by day.
    async fn usage_per_day(
        &self,
        since: chrono::NaiveDate,
    ) -> StoreResult<Vec<crate::usage::DayUsage>>;
    /// Deletes the rows of days before `before`; how many.
    async fn prune_usage(&self, before: chrono::NaiveDate) -> StoreResult<u64>;
}

/// Everything tokengate stores.
pub trait Store:
    UserStore
    + TokenStore
    + SettingsStore
    + AuditLog
    + ChangeCounter
    + SessionStore
    + KnownAddressStore
    + GroupStore
    + DirectoryStore
    + Outbox
    + UsageStore
    + AuditForwarding
{
}

impl<
    T: UserStore
        + TokenStore
        + SettingsStore
        + AuditLog
        + ChangeCounter
        + SessionStore
        + KnownAddressStore
        + GroupStore
        + DirectoryStore
        + Outbox
        + UsageStore
        + AuditForwarding,
> Store for T
{
}
