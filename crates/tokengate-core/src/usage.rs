//! Usage (SPEC §13): how many allowed requests each token or user made, per client address,
//! via, route and UTC day. The gateway counts in memory and hands these rows to the store,
//! which adds them up; the usage pages and the dry-run read them back. Data and small pure
//! helpers only: no clock, no I/O.

use crate::decision::Via;
use chrono::{DateTime, Days, NaiveDate, Utc};
use std::net::IpAddr;

/// How long usage rows are kept, in days.
pub const KEEP_DAYS: u64 = 90;
/// How far back the dry-run looks, in days.
pub const DRY_RUN_DAYS: u64 = 30;
/// The most days a usage query may ask for (what is kept).
pub const MAX_DAYS: u64 = KEEP_DAYS;

/// Requests of one user (through one token, or by password or session) from one address,
/// via one way, on one route, on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub day: NaiveDate,
    /// The user the requests were made as (a token's owner).
    pub user: String,
    /// The token, for requests via `token`.
    pub token_id: Option<String>,
    pub address: IpAddr,
    pub via: Via,
    /// The route (SPEC §9; `tokengate` for the own API); `None` for forward-auth checks,
    /// which name no route.
    pub route: Option<String>,
    pub count: u64,
}

/// Which usage rows to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageFilter {
    /// Rows of this day and later.
    pub since: NaiveDate,
    /// Only this token's rows.
    pub token_id: Option<String>,
    /// Only this user's rows.
    pub user: Option<String>,
    /// One row per user, token, address, via and route over all the days, its `day` the
    /// latest day among them (what the dry-run needs), instead of one row per day.
    pub summed: bool,
}

impl UsageFilter {
    /// Every row of the last `days` days (today included), one per day.
    pub fn last_days(days: u64, now: DateTime<Utc>) -> Self {
        Self {
            since: first_day(days, now),
            token_id: None,
            user: None,
            summed: false,
        }
    }
}

/// The total of requests on one day via one way (the per-day chart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayUsage {
    pub day: NaiveDate,
    pub via: Via,
    pub count: u64,
}

/// The first UTC day of a window of `days` days ending today (`days` = 1: today only).
pub fn first_day(days: u64, now: DateTime<Utc>) -> NaiveDate {
    let today = now.date_naive();
    today
        .checked_sub_days(Days::new(days.saturating_sub(1)))
        .unwrap_or(NaiveDate::MIN)
}

/// The day before which rows are pruned: older than [`KEEP_DAYS`].
pub fn prune_before(now: DateTime<Utc>) -> NaiveDate {
    first_day(KEEP_DAYS, now)
}

/// A `via` as stored (`Via::as_str`).
pub fn via_from_str(text: &str) -> Option<Via> {
    [Via::Token, Via::Password, Via::Session, Via::Anonymous]
        .into_iter()
        .find(|via| via.as_str() == text)
}

/// Why a `days` figure is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("days must be a whole number from 1 to {MAX_DAYS}")]
pub struct InvalidDays;

/// A window length as asked for (`None`: `default`), from 1 to [`MAX_DAYS`].
pub fn checked_days(days: Option<i64>, default: u64) -> Result<u64, InvalidDays> {
    match days {
        None => Ok(default),
        Some(days) => u64::try_from(days)
            .ok()
            .filter(|days| (1..=MAX_DAYS).contains(days))
            .ok_or(InvalidDays),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noon(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("instant")
            .with_timezone(&Utc)
    }

    #[test]
    fn a_window_of_days_ends_today() {
        let now = noon("2027-03-01T12:00:00Z");
        assert_eq!(first_day(1, now).to_string(), "2027-03-01");
        assert_eq!(first_day(30, now).to_string(), "2027-01-31");
        assert_eq!(prune_before(now).to_string(), "2026-12-02");
        assert_eq!(first_day(0, now).to_string(), "2027-03-01");
        assert_eq!(first_day(u64::MAX, now), NaiveDate::MIN);
    }

    #[test]
    fn every_via_reads_back_from_its_text() {
        for via in [Via::Token, Via::Password, Via::Session, Via::Anonymous] {
            assert_eq!(via_from_str(via.as_str()), Some(via));
        }
        assert_eq!(via_from_str("Token"), None);
        assert_eq!(via_from_str(""), None);
    }

    #[test]
    fn days_are_one_to_ninety() {
        assert_eq!(checked_days(None, 30), Ok(30));
        assert_eq!(checked_days(Some(1), 30), Ok(1));
        assert_eq!(checked_days(Some(90), 30), Ok(90));
        for bad in [0, -1, 91, i64::MAX, i64::MIN] {
            assert_eq!(checked_days(Some(bad), 30), Err(InvalidDays), "{bad}");
        }
    }
}
