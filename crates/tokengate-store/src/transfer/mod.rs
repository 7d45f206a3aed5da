//! Bulk export and import for moving an installation between databases (`tokengate db
//! copy`): the [`Transfer`] access (implemented once for both backends in `sql::transfer`), and the
//! backend-neutral [`copy`] and [`export`] built on it. Records travel exactly as stored —
//! password hashes, failed-login counters and locks, token digests and last uses, audit
//! records with their ids — and nothing here writes an audit record: a copy is not a change.
//! Kept out of `tokengate_core`'s traits on purpose: only this maintenance path needs it.

mod copy;

pub use copy::{CopyError, CopyOptions, Progress, Stage, copy, export};

use async_trait::async_trait;
use tokengate_core::groups::Group;
use tokengate_core::model::{AuditRecord, Settings, TokenRecord, User};
use tokengate_core::store::{SessionRecord, StoreResult};
use tokengate_core::token::TokenDigest;

/// How many records of each kind a database holds (`settings` is 0 or 1: whether the
/// settings were ever saved).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub users: u64,
    pub tokens: u64,
    pub settings: u64,
    pub audit: u64,
    pub sessions: u64,
    pub groups: u64,
}

impl Counts {
    pub fn is_empty(&self) -> bool {
        *self == Counts::default()
    }
}

/// Everything a database holds, in a stable order (users by name, tokens by id, audit by
/// id, sessions by digest). Two databases holding the same installation export equal values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Export {
    pub users: Vec<User>,
    pub tokens: Vec<TokenRecord>,
    pub settings: Option<Settings>,
    pub audit: Vec<AuditRecord>,
    pub sessions: Vec<SessionRecord>,
    pub groups: Vec<Group>,
}

/// One batch of records to import, written in one transaction.
#[derive(Debug, Clone, Copy)]
pub enum Batch<'a> {
    Users(&'a [User]),
    Tokens(&'a [TokenRecord]),
    Settings(&'a Settings),
    Audit(&'a [AuditRecord]),
    Sessions(&'a [SessionRecord]),
    /// Local groups with their members (after the users).
    Groups(&'a [Group]),
}

/// Bulk access to one database, implemented by each backend. Reads page forward by key;
/// imports insert records as they are (ids, counters and times included).
#[async_trait]
pub trait Transfer: Send + Sync {
    async fn counts(&self) -> StoreResult<Counts>;
    /// The saved settings, or `None` while the defaults apply.
    async fn stored_settings(&self) -> StoreResult<Option<Settings>>;
    /// Users with a name after `after`, in name order.
    async fn users_after(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<User>>;
    /// Tokens with an id after `after`, in id order.
    async fn tokens_after(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<TokenRecord>>;
    /// Audit records with an id above `after_id`, oldest first.
    async fn audit_after(&self, after_id: i64, limit: u32) -> StoreResult<Vec<AuditRecord>>;
    /// Sessions with a digest after `after`, in digest (byte) order.
    async fn sessions_after(
        &self,
        after: Option<&TokenDigest>,
        limit: u32,
    ) -> StoreResult<Vec<SessionRecord>>;
    /// Every local group with its members, by name (few enough for one read).
    async fn all_groups(&self) -> StoreResult<Vec<Group>>;
    /// Deletes every user, token, session, known address, audit record and the settings (for `--force`);
    /// moves the change counter so running nodes drop what they cached.
    async fn clear(&self) -> StoreResult<()>;
    /// Inserts one batch in one transaction.
    async fn import(&self, batch: Batch<'_>) -> StoreResult<()>;
    /// Called once after the last batch: lets new audit records continue after the
    /// imported ids.
    async fn finish_import(&self) -> StoreResult<()>;
}
