//! Small pieces the UI pages share: how times are shown, the validity choices under the
//! maximum, date fields, query strings for paging links, and the token row of a table. Pure
//! functions: no store, no session.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use serde::Deserialize;
use tokengate_core::Secret;
use tokengate_core::model::TokenRecord;
use tokengate_core::validity::{MaxValidity, ValidityRequest, default_validity};

/// How the UI shows an instant: `2027-01-15 10:00 UTC`.
pub fn when(instant: DateTime<Utc>) -> String {
    instant.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The human name of a validity preset.
pub fn validity_label(validity: MaxValidity) -> &'static str {
    match validity {
        MaxValidity::SixMonths => "6 months",
        MaxValidity::OneYear => "1 year",
        MaxValidity::TwoYears => "2 years",
        MaxValidity::Never => "Never expires",
    }
}

/// The maximum as a sentence part: "6 months", or "no limit" for never.
pub fn maximum_phrase(maximum: MaxValidity) -> &'static str {
    match maximum {
        MaxValidity::Never => "no limit (tokens may never expire)",
        other => validity_label(other),
    }
}

/// One `<option>` of a select.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

/// The validity presets a user may pick under `maximum`, with `wanted` (or the default)
/// selected.
pub fn validity_choices(maximum: MaxValidity, wanted: Option<&str>) -> Vec<Choice> {
    let default = default_validity(maximum).as_str();
    let wanted = wanted
        .filter(|value| {
            maximum
                .allowed_presets()
                .iter()
                .any(|preset| preset.as_str() == *value)
        })
        .unwrap_or(default);
    maximum
        .allowed_presets()
        .iter()
        .map(|preset| Choice {
            value: preset.as_str(),
            label: validity_label(*preset),
            selected: preset.as_str() == wanted,
        })
        .collect()
}

/// Every maximum, for the settings form.
pub fn maximum_choices(current: MaxValidity) -> Vec<Choice> {
    MaxValidity::ALL
        .iter()
        .map(|preset| Choice {
            value: preset.as_str(),
            label: validity_label(*preset),
            selected: *preset == current,
        })
        .collect()
}

/// A `YYYY-MM-DD` field; empty means not given.
pub fn parse_date(text: &str, field: &str) -> Result<Option<NaiveDate>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| {
            format!(
                "{field}: \"{}\" is not a date like 2027-01-31.",
                shorten(text)
            )
        })
}

/// Midnight UTC at the start of `date`.
pub fn start_of(date: NaiveDate) -> DateTime<Utc> {
    date.and_time(NaiveTime::MIN).and_utc()
}

/// Midnight UTC at the end of `date` (the start of the next day).
pub fn end_of(date: NaiveDate) -> DateTime<Utc> {
    start_of(date) + TimeDelta::days(1)
}

fn shorten(text: &str) -> String {
    text.chars().take(40).collect()
}

/// A form's fields as sent, repeated names included (checkbox lists).
#[derive(Debug, Default)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The first value of `name`, or "".
    pub fn one(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .collect()
    }
}

/// The fields of a token creation form (the user's own, or an admin's on behalf of `user`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreateTokenForm {
    pub csrf: Secret,
    pub user: String,
    pub name: String,
    pub validity: String,
    pub expires_on: String,
}

impl CreateTokenForm {
    /// The creation fields of a form that also carries other ones (the restrictions).
    pub fn from_fields(fields: &Fields) -> Self {
        Self {
            csrf: Secret::from(fields.one("csrf").to_owned()),
            user: fields.one("user").to_owned(),
            name: fields.one("name").to_owned(),
            validity: fields.one("validity").to_owned(),
            expires_on: fields.one("expires_on").to_owned(),
        }
    }

    /// The validity asked for: the date when one is given (it overrides the preset), else the
    /// preset, else none (the default applies).
    pub fn validity_request(&self) -> Result<Option<ValidityRequest>, String> {
        if let Some(date) = parse_date(&self.expires_on, "Expiry date")? {
            return Ok(Some(ValidityRequest::Until(date)));
        }
        let preset = self.validity.trim();
        if preset.is_empty() {
            return Ok(None);
        }
        preset
            .parse::<MaxValidity>()
            .map(|preset| Some(ValidityRequest::Preset(preset)))
            .map_err(|error| error.to_string())
    }
}

/// A token as a table row shows it.
#[derive(Debug, Clone)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub created: String,
    pub created_by: String,
    pub expires: String,
    pub expired: bool,
    pub last_used: String,
    pub last_used_ip: String,
    pub hint: String,
    /// When the secret was last replaced; empty for a token never rotated.
    pub rotated: String,
    /// The restrictions in short ("read only · /api/", "full access").
    pub restrictions: String,
    pub restricted: bool,
}

impl TokenRow {
    pub fn new(token: &TokenRecord, now: DateTime<Utc>) -> Self {
        Self {
            id: token.id.clone(),
            name: token.name.clone(),
            owner: token.owner.clone(),
            created: when(token.created_at),
            created_by: token.created_by.clone(),
            expires: token.expires_at.map_or_else(|| "Never".to_owned(), when),
            expired: token.is_expired(now),
            last_used: token.last_used_at.map_or_else(|| "Never".to_owned(), when),
            last_used_ip: token.last_used_ip.clone().unwrap_or_default(),
            hint: token.hint.clone(),
            rotated: token.rotated_at.map(when).unwrap_or_default(),
            restrictions: super::restrictions::summary(&token.restrictions),
            restricted: !token.restrictions.is_unrestricted(),
        }
    }
}

/// A query string (`a=1&b=x%20y`) from the pairs whose value is not empty.
pub fn query_string(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| format!("{}={}", percent_encode(name), percent_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// An `<input type="checkbox">` sends its value only when ticked.
pub fn ticked(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_choices_offer_only_what_the_maximum_allows() {
        let values = |maximum| {
            validity_choices(maximum, None)
                .into_iter()
                .map(|choice| choice.value)
                .collect::<Vec<_>>()
        };
        assert_eq!(values(MaxValidity::SixMonths), ["6m"]);
        assert_eq!(values(MaxValidity::OneYear), ["6m", "1y"]);
        assert_eq!(values(MaxValidity::TwoYears), ["6m", "1y", "2y"]);
        assert_eq!(values(MaxValidity::Never), ["6m", "1y", "2y", "never"]);
    }

    #[test]
    fn validity_choices_select_the_default_or_an_allowed_wish() {
        let selected = |maximum, wanted| {
            validity_choices(maximum, wanted)
                .into_iter()
                .find(|choice| choice.selected)
                .map(|choice| choice.value)
        };
        assert_eq!(selected(MaxValidity::Never, None), Some("1y"));
        assert_eq!(selected(MaxValidity::SixMonths, None), Some("6m"));
        assert_eq!(selected(MaxValidity::Never, Some("never")), Some("never"));
        assert_eq!(selected(MaxValidity::OneYear, Some("never")), Some("1y"));
    }

    #[test]
    fn a_date_overrides_the_preset_and_bad_dates_are_named() {
        let form = CreateTokenForm {
            validity: "1y".into(),
            expires_on: "2030-02-01".into(),
            ..CreateTokenForm::default()
        };
        assert_eq!(
            form.validity_request(),
            Ok(Some(ValidityRequest::Until(
                NaiveDate::from_ymd_opt(2030, 2, 1).expect("date")
            )))
        );
        let bad = CreateTokenForm {
            expires_on: "31/01/2030".into(),
            ..CreateTokenForm::default()
        };
        assert!(
            bad.validity_request()
                .expect_err("refused")
                .contains("31/01/2030")
        );
        assert_eq!(CreateTokenForm::default().validity_request(), Ok(None));
    }

    #[test]
    fn query_strings_encode_values_and_skip_empty_ones() {
        assert_eq!(
            query_string(&[("user", "a b&c"), ("name", ""), ("after", "x1")]),
            "user=a%20b%26c&after=x1"
        );
    }
}
