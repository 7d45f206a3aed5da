//! Notifications (SPEC §12) as data: which changes become notices, what a webhook's `data`
//! holds, who is mailed, when expiry notices are due and how long a failed delivery waits.
//! A notice is written to the outbox in the transaction of its change (the store calls
//! [`of_audit`] for every audit record it writes); sending is the server's.

use crate::audit::{AuditAction, NewAudit};
use crate::model::TokenRecord;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::fmt;

/// The events a webhook can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Event {
    #[serde(rename = "token.created")]
    TokenCreated,
    #[serde(rename = "token.deleted")]
    TokenDeleted,
    #[serde(rename = "token.rotated")]
    TokenRotated,
    #[serde(rename = "token.expiring")]
    TokenExpiring,
    #[serde(rename = "token.expired")]
    TokenExpired,
    #[serde(rename = "user.locked")]
    UserLocked,
    #[serde(rename = "user.deprovisioned")]
    UserDeprovisioned,
    #[serde(rename = "settings.changed")]
    SettingsChanged,
}

impl Event {
    pub const ALL: [Event; 8] = [
        Self::TokenCreated,
        Self::TokenDeleted,
        Self::TokenRotated,
        Self::TokenExpiring,
        Self::TokenExpired,
        Self::UserLocked,
        Self::UserDeprovisioned,
        Self::SettingsChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TokenCreated => "token.created",
            Self::TokenDeleted => "token.deleted",
            Self::TokenRotated => "token.rotated",
            Self::TokenExpiring => "token.expiring",
            Self::TokenExpired => "token.expired",
            Self::UserLocked => "user.locked",
            Self::UserDeprovisioned => "user.deprovisioned",
            Self::SettingsChanged => "settings.changed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|event| event.as_str() == text)
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The e-mail a notice sends to the user it concerns (GitLab's set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mail {
    /// `days` (30, 7 or 1) before the token expires.
    Expiring {
        days: u32,
    },
    Expired,
    /// Someone else (an admin, a delegate, the CLI) created a token for the user.
    CreatedForYou {
        by: String,
    },
    /// Someone else deleted one (`count` absent) or several of the user's tokens.
    DeletedForYou {
        by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<u64>,
    },
}

/// A notice to put in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotice {
    pub event: Event,
    pub at: DateTime<Utc>,
    /// The user the notice concerns (a token's owner): the recipient of `mail`.
    pub user: Option<String>,
    pub token_id: Option<String>,
    /// The webhook's `data`: the token, user or settings object; never a secret.
    pub data: Value,
    pub mail: Option<Mail>,
    /// Notices with the same key are one notice (several nodes look for due expiry notices).
    pub key: Option<String>,
}

/// A notice read back from the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredNotice {
    pub id: i64,
    pub event: Event,
    pub at: DateTime<Utc>,
    pub user: Option<String>,
    pub token_id: Option<String>,
    pub data: Value,
    pub mail: Option<Mail>,
}

/// Every notice an audit record makes. The incident button for everyone
/// (`token.revoked_before` without a user, its details naming each owner's count in `owners`)
/// makes one notice per owner whose tokens went: each owner is mailed their own count, and
/// webhooks get one `token.deleted` per owner. Every other record makes at most one.
pub fn notices_of(audit: &NewAudit) -> Vec<NewNotice> {
    let owners = audit
        .details
        .get("owners")
        .and_then(Value::as_object)
        .filter(|owners| !owners.is_empty());
    match owners {
        Some(owners) if audit.action == AuditAction::TokenRevokedBefore && audit.user.is_none() => {
            owners
                .iter()
                .filter_map(|(owner, count)| {
                    let mut one = audit.clone();
                    one.user = Some(owner.clone());
                    one.details =
                        json!({"count": count.as_u64()?, "before": audit.details.get("before")});
                    of_audit(&one)
                })
                .collect()
        }
        _ => of_audit(audit).into_iter().collect(),
    }
}

/// The notice an audit record makes, if its change is one that notifies.
pub fn of_audit(audit: &NewAudit) -> Option<NewNotice> {
    let user = audit.user.clone();
    let someone_else = user.as_deref().is_some_and(|owner| owner != audit.actor);
    let by = || audit.actor.clone();
    let count = audit.details.get("count").and_then(Value::as_u64);
    let (event, data, mail) = match audit.action {
        AuditAction::TokenCreated => (
            Event::TokenCreated,
            json!({"token": token_object(audit)}),
            someone_else.then(|| Mail::CreatedForYou { by: by() }),
        ),
        AuditAction::TokenDeleted => (
            Event::TokenDeleted,
            json!({"token": token_object(audit)}),
            someone_else.then(|| Mail::DeletedForYou { by: by(), count }),
        ),
        AuditAction::TokenDeletedAll | AuditAction::TokenRevokedBefore => (
            Event::TokenDeleted,
            json!({"tokens": merged(json!({"owner": audit.user}), &audit.details)}),
            (someone_else && count.unwrap_or(0) > 0)
                .then(|| Mail::DeletedForYou { by: by(), count }),
        ),
        AuditAction::TokenRotated => (
            Event::TokenRotated,
            json!({"token": token_object(audit)}),
            None,
        ),
        AuditAction::UserLocked => (Event::UserLocked, user_data(audit), None),
        AuditAction::UserDeprovisioned => (Event::UserDeprovisioned, user_data(audit), None),
        AuditAction::SettingsChanged => (
            Event::SettingsChanged,
            json!({"settings": audit.details}),
            None,
        ),
        _ => return None,
    };
    let mut data = data;
    data["actor"] = Value::String(audit.actor.clone());
    Some(NewNotice {
        event,
        at: audit.at,
        user,
        token_id: audit.token_id.clone(),
        data,
        mail,
        key: None,
    })
}

fn token_object(audit: &NewAudit) -> Value {
    merged(
        json!({"id": audit.token_id, "owner": audit.user}),
        &audit.details,
    )
}

fn user_data(audit: &NewAudit) -> Value {
    json!({"user": merged(json!({"name": audit.user}), &audit.details)})
}

/// `base` with the fields of `details` added (a field of `base` wins).
fn merged(base: Value, details: &Value) -> Value {
    let mut object: Map<String, Value> = details.as_object().cloned().unwrap_or_default();
    if let Value::Object(base) = base {
        object.extend(base);
    }
    Value::Object(object)
}

/// How far ahead the first expiry notice goes out.
pub const FIRST_EXPIRY_NOTICE_DAYS: i64 = 30;
/// How long after its expiry a token still gets its "expired" notice (so a first start
/// does not mail about tokens that expired long ago).
pub const EXPIRED_NOTICE_DAYS: i64 = 7;

/// The expiry notice due for `token` at `now`: the nearest stage it has reached (30, 7 or
/// 1 days before, or expired within [`EXPIRED_NOTICE_DAYS`]). Each stage of each expiry is
/// one notice (its key), so looking again, on any node, adds nothing; a new expiry (a
/// rotation) starts over.
pub fn expiry_notice(token: &TokenRecord, now: DateTime<Utc>) -> Option<NewNotice> {
    let expires_at = token.expires_at?;
    let left = expires_at - now;
    let (event, stage, mail) = if left <= Duration::zero() {
        if -left > Duration::days(EXPIRED_NOTICE_DAYS) {
            return None;
        }
        (Event::TokenExpired, 0, Mail::Expired)
    } else {
        let days = [1, 7, 30]
            .into_iter()
            .find(|days| left <= Duration::days(*days))?;
        let days = u32::try_from(days).ok()?;
        (Event::TokenExpiring, days, Mail::Expiring { days })
    };
    let data = json!({
        "token": {"id": token.id, "owner": token.owner, "name": token.name,
                  "hint": token.hint, "expires_at": expires_at},
        "days": stage,
    });
    Some(NewNotice {
        event,
        at: now,
        user: Some(token.owner.clone()),
        token_id: Some(token.id.clone()),
        data,
        mail: Some(mail),
        key: Some(format!(
            "expiry:{}:{}:{}",
            token.id,
            stage,
            expires_at.timestamp_millis()
        )),
    })
}

/// Where a delivery goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// To the e-mail address of the notice's user (read when sending).
    Email,
    /// A `POST` to a configured webhook URL.
    Webhook,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Webhook => "webhook",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Email, Self::Webhook]
            .into_iter()
            .find(|channel| channel.as_str() == text)
    }
}

/// One delivery of a notice, planned when a node first takes the notice up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// Unique; the webhook's delivery id.
    pub id: String,
    pub channel: Channel,
    /// The user name for e-mail, the URL for a webhook.
    pub destination: String,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not sent yet (maybe tried and failed, waiting for its next attempt).
    Pending,
    Sent,
    /// Given up: every attempt failed for the retry period, or the failure was permanent.
    Failed,
    /// Nothing to send (the user has no e-mail address, the webhook is no longer configured).
    Skipped,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Sent, Self::Failed, Self::Skipped]
            .into_iter()
            .find(|state| state.as_str() == text)
    }
}

/// A delivery claimed by a node, with its notice.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: String,
    pub channel: Channel,
    pub destination: String,
    /// Attempts so far, this one included.
    pub attempts: u32,
    /// When the delivery was planned (or an admin asked for it again): the retry period
    /// counts from here.
    pub created_at: DateTime<Utc>,
    pub notice: StoredNotice,
}

/// A delivery as the admin page lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveryRecord {
    pub id: String,
    pub event: Event,
    pub channel: Channel,
    pub destination: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    Skipped(String),
    /// Try again at `at`.
    Retry {
        at: DateTime<Utc>,
        error: String,
    },
    Failed(String),
}

/// When a failed delivery is tried again: after `first`, doubling up to an hour, for
/// `give_up_after` since the notice (SPEC §12: 24 hours).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub first: Duration,
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first: Duration::seconds(30),
            give_up_after: Duration::hours(24),
        }
    }
}

impl RetryPolicy {
    /// The outcome of the `attempts`-th failed attempt (`error`, `permanent` or not) of a
    /// delivery planned at `planned_at`.
    pub fn after_failure(
        &self,
        attempts: u32,
        planned_at: DateTime<Utc>,
        now: DateTime<Utc>,
        error: String,
        permanent: bool,
    ) -> Outcome {
        let doubling = 2_i32.saturating_pow(attempts.saturating_sub(1).min(20));
        let wait = (self.first * doubling).min(Duration::hours(1));
        let at = now + wait;
        if permanent || at > planned_at + self.give_up_after {
            Outcome::Failed(error)
        } else {
            Outcome::Retry { at, error }
        }
    }
}

#[cfg(test)]
#[path = "notices/tests.rs"]
mod tests;
