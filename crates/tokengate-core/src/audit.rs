//! Audit records (SPEC §1): the actions, a record to write with its change, a stored record
//! and the query over them.

use crate::model::Actor;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuditAction {
    #[serde(rename = "token.created")]
    TokenCreated,
    #[serde(rename = "token.renamed")]
    TokenRenamed,
    #[serde(rename = "token.deleted")]
    TokenDeleted,
    #[serde(rename = "token.deleted_all")]
    TokenDeletedAll,
    #[serde(rename = "token.expiry_clamped")]
    TokenExpiryClamped,
    #[serde(rename = "token.restricted")]
    TokenRestricted,
    #[serde(rename = "token.rotated")]
    TokenRotated,
    #[serde(rename = "token.revoked_before")]
    TokenRevokedBefore,
    #[serde(rename = "settings.changed")]
    SettingsChanged,
    #[serde(rename = "user.created")]
    UserCreated,
    #[serde(rename = "user.updated")]
    UserUpdated,
    #[serde(rename = "user.locked")]
    UserLocked,
    #[serde(rename = "user.failed_logins_reset")]
    UserFailedLoginsReset,
    #[serde(rename = "user.provisioned")]
    UserProvisioned,
    #[serde(rename = "user.deprovisioned")]
    UserDeprovisioned,
    #[serde(rename = "group.created")]
    GroupCreated,
    #[serde(rename = "group.deleted")]
    GroupDeleted,
    #[serde(rename = "group.changed")]
    GroupChanged,
    /// Retention deleted the oldest records; carries the last deleted record's hash.
    #[serde(rename = "audit.pruned")]
    AuditPruned,
    /// Opt-in: a request authenticated with credentials (`crate::auth_events`).
    #[serde(rename = "auth.succeeded")]
    AuthSucceeded,
    /// Opt-in: credentials refused, or the address refused by the allow-list.
    #[serde(rename = "auth.failed")]
    AuthFailed,
    /// Opt-in: a permission or a token restriction refused the request.
    #[serde(rename = "auth.denied")]
    AuthDenied,
}

impl AuditAction {
    pub const ALL: [AuditAction; 22] = [
        Self::TokenCreated,
        Self::TokenRenamed,
        Self::TokenDeleted,
        Self::TokenDeletedAll,
        Self::TokenExpiryClamped,
        Self::TokenRestricted,
        Self::TokenRotated,
        Self::TokenRevokedBefore,
        Self::SettingsChanged,
        Self::UserCreated,
        Self::UserUpdated,
        Self::UserLocked,
        Self::UserFailedLoginsReset,
        Self::UserProvisioned,
        Self::UserDeprovisioned,
        Self::GroupCreated,
        Self::GroupDeleted,
        Self::GroupChanged,
        Self::AuditPruned,
        Self::AuthSucceeded,
        Self::AuthFailed,
        Self::AuthDenied,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TokenCreated => "token.created",
            Self::TokenRenamed => "token.renamed",
            Self::TokenDeleted => "token.deleted",
            Self::TokenDeletedAll => "token.deleted_all",
            Self::TokenExpiryClamped => "token.expiry_clamped",
            Self::TokenRestricted => "token.restricted",
            Self::TokenRotated => "token.rotated",
            Self::TokenRevokedBefore => "token.revoked_before",
            Self::SettingsChanged => "settings.changed",
            Self::UserCreated => "user.created",
            Self::UserUpdated => "user.updated",
            Self::UserLocked => "user.locked",
            Self::UserFailedLoginsReset => "user.failed_logins_reset",
            Self::UserProvisioned => "user.provisioned",
            Self::UserDeprovisioned => "user.deprovisioned",
            Self::GroupCreated => "group.created",
            Self::GroupDeleted => "group.deleted",
            Self::GroupChanged => "group.changed",
            Self::AuditPruned => "audit.pruned",
            Self::AuthSucceeded => "auth.succeeded",
            Self::AuthFailed => "auth.failed",
            Self::AuthDenied => "auth.denied",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.as_str() == text)
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a change came from: the client address and request id of the HTTP request, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub ip: Option<String>,
    pub request_id: Option<String>,
}

/// An audit record to be written in the same transaction as its change.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAudit {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: AuditAction,
    pub user: Option<String>,
    pub token_id: Option<String>,
    pub details: serde_json::Value,
    pub ip: Option<String>,
    pub request_id: Option<String>,
}

impl NewAudit {
    pub fn new(at: DateTime<Utc>, actor: &Actor, action: AuditAction, origin: &Origin) -> Self {
        Self {
            at,
            actor: actor.name().to_owned(),
            action,
            user: None,
            token_id: None,
            details: serde_json::Value::Object(serde_json::Map::new()),
            ip: origin.ip.clone(),
            request_id: origin.request_id.clone(),
        }
    }

    pub fn user(mut self, user: &str) -> Self {
        self.user = Some(user.to_owned());
        self
    }

    pub fn token(mut self, token_id: &str) -> Self {
        self.token_id = Some(token_id.to_owned());
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// A stored audit record in its JSON shape.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: AuditAction,
    pub user: Option<String>,
    pub token_id: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: serde_json::Value,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    /// The `hash` of the record before this one (`crate::chain`).
    pub prev_hash: String,
    /// SHA-256 of `prev_hash` and this record's canonical JSON, hex.
    pub hash: String,
}

impl AuditRecord {
    /// The stored form of `audit` as record `id`, chained after `prev_hash`.
    pub fn chained(id: i64, audit: &NewAudit, prev_hash: &str) -> Self {
        let mut record = Self {
            id,
            at: audit.at,
            actor: audit.actor.clone(),
            action: audit.action,
            user: audit.user.clone(),
            token_id: audit.token_id.clone(),
            details: audit.details.clone(),
            ip: audit.ip.clone(),
            request_id: audit.request_id.clone(),
            prev_hash: prev_hash.to_owned(),
            hash: String::new(),
        };
        record.hash = crate::chain::chain_hash(prev_hash, &record);
        record
    }
}

/// Audit query; newest first. `before_id` is the paging cursor (records with a smaller id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub user: Option<String>,
    pub action: Option<AuditAction>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub before_id: Option<i64>,
    pub limit: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_action_names_are_the_spec_names() {
        for action in AuditAction::ALL {
            let json = serde_json::to_value(action).expect("serialise");
            assert_eq!(json, serde_json::Value::String(action.as_str().to_owned()));
            assert_eq!(AuditAction::parse(action.as_str()), Some(action));
        }
    }
}
