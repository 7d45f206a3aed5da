//! Token validity (SPEC §1): the system-wide maximum, what a user may ask for (presets, day
//! counts, explicit dates), the default, and calendar-month arithmetic. `now` is always a
//! parameter.

use chrono::{DateTime, Months, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The longest validity a token may have, and the preset a user may pick.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MaxValidity {
    #[serde(rename = "6m")]
    SixMonths,
    #[serde(rename = "1y")]
    OneYear,
    #[serde(rename = "2y")]
    TwoYears,
    #[serde(rename = "never")]
    Never,
}

impl MaxValidity {
    pub const ALL: [MaxValidity; 4] = [Self::SixMonths, Self::OneYear, Self::TwoYears, Self::Never];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SixMonths => "6m",
            Self::OneYear => "1y",
            Self::TwoYears => "2y",
            Self::Never => "never",
        }
    }

    fn months(self) -> Option<u32> {
        match self {
            Self::SixMonths => Some(6),
            Self::OneYear => Some(12),
            Self::TwoYears => Some(24),
            Self::Never => None,
        }
    }

    /// The instant this much validity ends when it starts at `now` (calendar months; a day that
    /// does not exist in the target month becomes that month's last day). `None` = never.
    pub fn expiry_from(self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.months().map(|months| {
            now.checked_add_months(Months::new(months))
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
        })
    }

    /// The presets a user may choose under this maximum.
    pub fn allowed_presets(self) -> &'static [MaxValidity] {
        let end = match self {
            Self::SixMonths => 1,
            Self::OneYear => 2,
            Self::TwoYears => 3,
            Self::Never => 4,
        };
        &Self::ALL[..end]
    }
}

impl fmt::Display for MaxValidity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MaxValidity {
    type Err = ValidityError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|preset| preset.as_str() == text)
            .ok_or_else(|| ValidityError::Invalid(text.chars().take(40).collect()))
    }
}

/// What a user asked for when creating a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidityRequest {
    Preset(MaxValidity),
    Days(u32),
    /// Expires at 00:00:00 UTC of this date: the token works until the date begins.
    Until(NaiveDate),
    /// An exact instant (REST `expires_at`).
    At(DateTime<Utc>),
}

/// The longest day count accepted (100 years): beyond it, ask for `never`.
pub const MAX_DAYS: u32 = 36_500;

impl FromStr for ValidityRequest {
    type Err = ValidityError;
    /// `6m`, `1y`, `2y`, `never`, `30d`, or a date `YYYY-MM-DD`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || ValidityError::Invalid(text.chars().take(40).collect());
        if let Ok(preset) = text.parse::<MaxValidity>() {
            return Ok(Self::Preset(preset));
        }
        if let Some(days) = text.strip_suffix('d') {
            let days: u32 = days.parse().map_err(|_| invalid())?;
            if days == 0 || days > MAX_DAYS {
                return Err(invalid());
            }
            return Ok(Self::Days(days));
        }
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(Self::Until)
            .map_err(|_| invalid())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidityError {
    #[error(
        "invalid validity \"{0}\": use 6m, 1y, 2y, never, a day count like 30d, or a date YYYY-MM-DD"
    )]
    Invalid(String),
    #[error("the requested validity exceeds the maximum of {maximum}")]
    ExceedsMaximum { maximum: MaxValidity },
    #[error("the expiry date must be in the future")]
    InPast,
}

impl ValidityRequest {
    fn expiry(self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Self::Preset(preset) => preset.expiry_from(now),
            Self::Days(days) => Some(now + TimeDelta::days(i64::from(days))),
            Self::Until(date) => Some(date.and_time(chrono::NaiveTime::MIN).and_utc()),
            Self::At(instant) => Some(instant),
        }
    }
}

/// The default validity when none is given: the shorter of one year and the maximum.
pub fn default_validity(maximum: MaxValidity) -> MaxValidity {
    maximum.min(MaxValidity::OneYear)
}

/// Resolve a request (or the default) against the maximum into an expiry (`None` = never).
pub fn resolve_expiry(
    request: Option<ValidityRequest>,
    maximum: MaxValidity,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, ValidityError> {
    let request = request.unwrap_or(ValidityRequest::Preset(default_validity(maximum)));
    let expiry = request.expiry(now);
    if let Some(expiry) = expiry
        && expiry <= now
    {
        return Err(ValidityError::InPast);
    }
    let exceeds = match (expiry, maximum.expiry_from(now)) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(expiry), Some(limit)) => expiry > limit,
    };
    if exceeds {
        return Err(ValidityError::ExceedsMaximum { maximum });
    }
    Ok(expiry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use MaxValidity::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("valid instant")
            .with_timezone(&Utc)
    }

    fn now() -> DateTime<Utc> {
        at("2027-01-15T10:00:00Z")
    }

    fn check(maximum: MaxValidity, request: &str) -> Result<Option<DateTime<Utc>>, ValidityError> {
        resolve_expiry(Some(request.parse().expect("parses")), maximum, now())
    }

    /// SPEC §1: "with 6m only 6m; with 1y: 6m, 1y; with 2y: 6m, 1y, 2y; with never: any".
    #[test]
    fn max_validity_presets_allowed_under_each_maximum() {
        let table: [(MaxValidity, &[&str], &[&str]); 4] = [
            (SixMonths, &["6m"], &["1y", "2y", "never"]),
            (OneYear, &["6m", "1y"], &["2y", "never"]),
            (TwoYears, &["6m", "1y", "2y"], &["never"]),
            (Never, &["6m", "1y", "2y", "never"], &[]),
        ];
        for (maximum, allowed, refused) in table {
            for request in allowed {
                assert!(check(maximum, request).is_ok(), "{request} under {maximum}");
            }
            for request in refused {
                assert_eq!(
                    check(maximum, request),
                    Err(ValidityError::ExceedsMaximum { maximum }),
                    "{request} under {maximum}"
                );
            }
            let presets: Vec<&str> = maximum
                .allowed_presets()
                .iter()
                .map(|p| p.as_str())
                .collect();
            assert_eq!(presets, allowed.to_vec());
        }
    }

    #[test]
    fn max_validity_day_counts_and_dates_are_accepted_within_the_maximum() {
        assert_eq!(
            check(SixMonths, "30d"),
            Ok(Some(at("2027-02-14T10:00:00Z")))
        );
        assert_eq!(
            check(SixMonths, "90d"),
            Ok(Some(at("2027-04-15T10:00:00Z")))
        );
        assert!(check(SixMonths, "200d").is_err());
        assert_eq!(
            check(SixMonths, "2027-07-15"),
            Ok(Some(at("2027-07-15T00:00:00Z")))
        );
        assert!(check(SixMonths, "2027-07-16").is_err());
        assert!(check(OneYear, "2028-01-15").is_ok());
        assert!(check(Never, "3000-01-01").is_ok());
        assert!(check(Never, "36500d").is_ok());
    }

    #[test]
    fn max_validity_default_is_the_shorter_of_one_year_and_the_maximum() {
        assert_eq!(default_validity(SixMonths), SixMonths);
        assert_eq!(default_validity(OneYear), OneYear);
        assert_eq!(default_validity(TwoYears), OneYear);
        assert_eq!(default_validity(Never), OneYear);
        assert_eq!(
            resolve_expiry(None, Never, now()),
            Ok(Some(at("2028-01-15T10:00:00Z")))
        );
        assert_eq!(
            resolve_expiry(None, SixMonths, now()),
            Ok(Some(at("2027-07-15T10:00:00Z")))
        );
    }

    #[test]
    fn max_validity_uses_calendar_months() {
        let end_of_august = at("2027-08-31T12:00:00Z");
        assert_eq!(
            SixMonths.expiry_from(end_of_august),
            Some(at("2028-02-29T12:00:00Z"))
        );
        assert_eq!(
            OneYear.expiry_from(at("2028-02-29T00:00:00Z")),
            Some(at("2029-02-28T00:00:00Z"))
        );
        assert_eq!(
            TwoYears.expiry_from(now()),
            Some(at("2029-01-15T10:00:00Z"))
        );
        assert_eq!(Never.expiry_from(now()), None);
    }

    #[test]
    fn max_validity_refuses_past_dates_and_nonsense() {
        assert_eq!(check(Never, "2026-01-01"), Err(ValidityError::InPast));
        assert_eq!(check(Never, "2027-01-15"), Err(ValidityError::InPast));
        for bad in ["0d", "-1d", "36501d", "7m", "2027-13-01", "", "forever"] {
            assert!(bad.parse::<ValidityRequest>().is_err(), "{bad}");
        }
    }
}
