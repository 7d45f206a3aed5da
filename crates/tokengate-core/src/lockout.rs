//! Failed-login counting and password lockout (SPEC §2.6), as pure functions of the stored
//! counter, the lock time and `now`: what one more failure makes of them, whether it starts a
//! lock, and what the `user.locked` audit record says. The stores only persist the result.

use crate::model::{Actor, AuditAction, NewAudit, Origin};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

/// What a failed login did to the user's counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedLogin {
    pub failed_logins: u32,
    pub locked_until: Option<DateTime<Utc>>,
    /// This failure started a lock (a `user.locked` record was written).
    pub newly_locked: bool,
}

/// `locked_until` of a lock that only an admin reset ends (`lockout_minutes = 0`).
pub fn locked_forever() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("9999-12-31T23:59:59Z")
        .map(|instant| instant.with_timezone(&Utc))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures that lock password authentication (config `max_failed_logins`, default 5).
    pub max_failed_logins: u32,
    /// Minutes a lock lasts; 0 = until an admin resets it (config `lockout_minutes`).
    pub lockout_minutes: u32,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            max_failed_logins: 5,
            lockout_minutes: 15,
        }
    }
}

/// Whether password authentication is locked, and for how long (`None` inside = until reset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockState {
    Open,
    Locked { retry_after_seconds: Option<u64> },
}

pub fn lock_state(locked_until: Option<DateTime<Utc>>, now: DateTime<Utc>) -> LockState {
    match locked_until {
        Some(until) if until > now => {
            let retry_after_seconds = (until < locked_forever()).then(|| {
                u64::try_from((until - now).num_seconds())
                    .unwrap_or(0)
                    .max(1)
            });
            LockState::Locked {
                retry_after_seconds,
            }
        }
        _ => LockState::Open,
    }
}

/// Counter and lock after one more failure. A lock that ended by itself restarts the count; a
/// failure while locked (a wrong password from a known address) is counted and the lock keeps
/// its end.
pub fn after_failure(
    failed_logins: u32,
    locked_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    policy: LockoutPolicy,
) -> (u32, Option<DateTime<Utc>>) {
    let previous = match locked_until {
        Some(until) if until <= now => 0,
        _ => failed_logins,
    };
    let count = previous.saturating_add(1);
    let locked_until = match locked_until {
        Some(until) if until > now => Some(until),
        _ if count >= policy.max_failed_logins.max(1) => Some(match policy.lockout_minutes {
            0 => locked_forever(),
            minutes => now + TimeDelta::minutes(i64::from(minutes)),
        }),
        _ => None,
    };
    (count, locked_until)
}

/// The outcome of one more failure for a user whose stored counter and lock are
/// `failed_logins` and `locked_until`: the new counter and lock ([`after_failure`]), and
/// whether this failure is the one that locked (the lock was open before and is not now).
pub fn failed_login(
    failed_logins: u32,
    locked_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    policy: LockoutPolicy,
) -> FailedLogin {
    let (count, until) = after_failure(failed_logins, locked_until, now, policy);
    FailedLogin {
        failed_logins: count,
        locked_until: until,
        newly_locked: lock_state(locked_until, now) == LockState::Open
            && lock_state(until, now) != LockState::Open,
    }
}

/// The `user.locked` record (actor `system`) that a failure which started a lock is stored
/// with, in the same transaction; `None` for every other failure.
pub fn locked_record(user: &str, failure: &FailedLogin, now: DateTime<Utc>) -> Option<NewAudit> {
    failure.newly_locked.then(|| {
        NewAudit::new(
            now,
            &Actor::System,
            AuditAction::UserLocked,
            &Origin::default(),
        )
        .user(user)
        .details(json!({
            "failed_logins": failure.failed_logins,
            "locked_until": failure.locked_until,
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("instant")
            .with_timezone(&Utc)
    }

    #[test]
    fn failed_logins_lock_at_the_maximum_for_the_configured_minutes() {
        let now = at("2027-01-01T00:00:00Z");
        let policy = LockoutPolicy::default();
        assert_eq!(after_failure(3, None, now, policy), (4, None));
        assert_eq!(
            after_failure(4, None, now, policy),
            (5, Some(at("2027-01-01T00:15:00Z")))
        );
        let forever = LockoutPolicy {
            lockout_minutes: 0,
            ..policy
        };
        assert_eq!(
            after_failure(4, None, now, forever),
            (5, Some(locked_forever()))
        );
    }

    #[test]
    fn a_failure_while_locked_is_counted_and_the_lock_keeps_its_end() {
        let now = at("2027-01-01T00:00:00Z");
        let until = Some(at("2027-01-01T00:10:00Z"));
        assert_eq!(
            after_failure(5, until, now, LockoutPolicy::default()),
            (6, until)
        );
    }

    #[test]
    fn failed_logins_restart_from_zero_after_a_lock_ends_by_itself() {
        let now = at("2027-01-01T00:20:00Z");
        let expired = Some(at("2027-01-01T00:15:00Z"));
        assert_eq!(
            after_failure(5, expired, now, LockoutPolicy::default()),
            (1, None)
        );
    }

    #[test]
    fn only_the_failure_that_locks_is_newly_locked_and_gets_a_record() {
        let now = at("2027-01-01T00:00:00Z");
        let policy = LockoutPolicy::default();
        let fourth = failed_login(3, None, now, policy);
        assert!(!fourth.newly_locked);
        assert_eq!(locked_record("alice", &fourth, now), None);

        let fifth = failed_login(4, None, now, policy);
        let lock_end = at("2027-01-01T00:15:00Z");
        assert_eq!(
            fifth,
            FailedLogin {
                failed_logins: 5,
                locked_until: Some(lock_end),
                newly_locked: true,
            }
        );
        let record = locked_record("alice", &fifth, now).expect("a lock is recorded");
        assert_eq!(record.action, AuditAction::UserLocked);
        assert_eq!(record.actor, "system");
        assert_eq!(record.user.as_deref(), Some("alice"));
        assert_eq!(record.at, now);
        assert_eq!(
            record.details,
            json!({"failed_logins": 5, "locked_until": lock_end})
        );

        // Failing again while locked counts, but is not a new lock.
        let sixth = failed_login(5, Some(lock_end), now, policy);
        assert_eq!((sixth.failed_logins, sixth.newly_locked), (6, false));
        assert_eq!(locked_record("alice", &sixth, now), None);
    }

    #[test]
    fn a_failure_after_an_expired_lock_locks_anew_only_at_the_maximum() {
        let now = at("2027-01-01T00:20:00Z");
        let expired = Some(at("2027-01-01T00:15:00Z"));
        let once = LockoutPolicy {
            max_failed_logins: 1,
            lockout_minutes: 0,
        };
        let relocked = failed_login(5, expired, now, once);
        assert_eq!(relocked.locked_until, Some(locked_forever()));
        assert!(relocked.newly_locked);
        let counted = failed_login(5, expired, now, LockoutPolicy::default());
        assert_eq!((counted.failed_logins, counted.newly_locked), (1, false));
    }

    #[test]
    fn lock_state_reports_retry_after_only_for_locks_that_end() {
        let now = at("2027-01-01T00:00:00Z");
        assert_eq!(lock_state(None, now), LockState::Open);
        assert_eq!(
            lock_state(Some(at("2026-12-31T00:00:00Z")), now),
            LockState::Open
        );
        assert_eq!(
            lock_state(Some(at("2027-01-01T00:10:00Z")), now),
            LockState::Locked {
                retry_after_seconds: Some(600)
            }
        );
        assert_eq!(
            lock_state(Some(locked_forever()), now),
            LockState::Locked {
                retry_after_seconds: None
            }
        );
    }
}
