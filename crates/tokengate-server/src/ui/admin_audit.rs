//! `/tokengate/admin/audit`: the audit log, newest first, filtered by actor, subject user,
//! action and UTC days, paged backwards by record id. Read-only.

use super::context::Visit;
use super::forms::{Choice, end_of, parse_date, query_string, start_of, when};
use super::layout::{Nav, UiError, render};
use crate::state::SharedState;
use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tokengate_core::model::{AuditAction, AuditFilter, AuditRecord};

const PAGE_SIZE: u32 = 50;

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct AuditQuery {
    actor: String,
    user: String,
    action: String,
    since: String,
    until: String,
    before: String,
}

impl AuditQuery {
    fn filter(&self) -> Result<AuditFilter, String> {
        let text = |value: &str| Some(value.trim().to_owned()).filter(|value| !value.is_empty());
        let action = match self.action.trim() {
            "" => None,
            name => Some(
                AuditAction::parse(name).ok_or_else(|| format!("Unknown action \"{name}\"."))?,
            ),
        };
        let before_id = match self.before.trim() {
            "" => None,
            id => Some(
                id.parse::<i64>()
                    .map_err(|_| "The page link is not valid.".to_owned())?,
            ),
        };
        Ok(AuditFilter {
            actor: text(&self.actor),
            user: text(&self.user),
            action,
            since: parse_date(&self.since, "From")?.map(start_of),
            until: parse_date(&self.until, "Until")?.map(end_of),
            before_id,
            limit: PAGE_SIZE + 1,
        })
    }

    fn link(&self, before: &str) -> String {
        let query = query_string(&[
            ("actor", &self.actor),
            ("user", &self.user),
            ("action", &self.action),
            ("since", &self.since),
            ("until", &self.until),
            ("before", before),
        ]);
        if query.is_empty() {
            "/tokengate/admin/audit".into()
        } else {
            format!("/tokengate/admin/audit?{query}")
        }
    }

    fn action_choices(&self) -> Vec<Choice> {
        AuditAction::ALL
            .iter()
            .map(|action| Choice {
                value: action.as_str(),
                label: action.as_str(),
                selected: action.as_str() == self.action.trim(),
            })
            .collect()
    }
}

struct AuditRow {
    id: i64,
    at: String,
    actor: String,
    action: &'static str,
    user: String,
    token_id: String,
    details: Vec<String>,
    ip: String,
    request_id: String,
}

impl From<&AuditRecord> for AuditRow {
    fn from(record: &AuditRecord) -> Self {
        Self {
            id: record.id,
            at: when(record.at),
            actor: record.actor.clone(),
            action: record.action.as_str(),
            user: record.user.clone().unwrap_or_default(),
            token_id: record.token_id.clone().unwrap_or_default(),
            details: detail_lines(&record.details),
            ip: record.ip.clone().unwrap_or_default(),
            request_id: record.request_id.clone().unwrap_or_default(),
        }
    }
}

/// Details as lines a person reads: `key: value`, and `key: old → new` for changes.
fn detail_lines(details: &serde_json::Value) -> Vec<String> {
    let serde_json::Value::Object(map) = details else {
        return vec![details.to_string()];
    };
    map.iter()
        .map(|(key, value)| match (value.get("old"), value.get("new")) {
            (Some(old), Some(new)) => format!("{key}: {old} → {new}"),
            _ => format!("{key}: {value}"),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    nav: Option<Nav>,
    filter: AuditQuery,
    filter_error: Option<String>,
    actions: Vec<Choice>,
    records: Vec<AuditRow>,
    first_page: Option<String>,
    next_page: Option<String>,
}

/// `GET /tokengate/admin/audit`.
pub async fn page(
    State(state): State<SharedState>,
    visit: Visit,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Response, UiError> {
    let (_, nav) = visit.admin_page("audit")?;
    let query = query.map(|Query(query)| query).unwrap_or_default();
    let (records, filter_error) = match query.filter() {
        Ok(filter) => (
            state
                .store
                .audit(&filter)
                .await
                .map_err(|_| UiError::unavailable())?,
            None,
        ),
        Err(problem) => (Vec::new(), Some(problem)),
    };
    let more = records.len() > PAGE_SIZE as usize;
    let rows: Vec<AuditRow> = records
        .iter()
        .take(PAGE_SIZE as usize)
        .map(AuditRow::from)
        .collect();
    let next_page = rows
        .last()
        .filter(|_| more)
        .map(|last| query.link(&last.id.to_string()));
    let first_page = (!query.before.is_empty()).then(|| query.link(""));
    let page = AuditPage {
        nav: Some(nav),
        actions: query.action_choices(),
        filter_error,
        records: rows,
        first_page,
        next_page,
        filter: query,
    };
    Ok(render(StatusCode::OK, &page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_filters_cover_whole_utc_days_and_name_bad_input() {
        let query = AuditQuery {
            action: "token.created".into(),
            since: "2030-01-01".into(),
            until: "2030-01-01".into(),
            ..AuditQuery::default()
        };
        let filter = query.filter().expect("valid");
        assert_eq!(filter.action, Some(AuditAction::TokenCreated));
        let day = filter
            .until
            .zip(filter.since)
            .map(|(end, start)| end - start);
        assert_eq!(day, Some(chrono::TimeDelta::days(1)));
        let bad = AuditQuery {
            action: "token.stolen".into(),
            ..AuditQuery::default()
        };
        assert!(bad.filter().expect_err("refused").contains("token.stolen"));
    }

    #[test]
    fn audit_details_read_as_lines_with_changes_as_arrows() {
        let details = serde_json::json!({"admins_only": {"old": false, "new": true}, "count": 3});
        assert_eq!(
            detail_lines(&details),
            ["admins_only: false → true", "count: 3"]
        );
        assert!(detail_lines(&serde_json::json!({})).is_empty());
    }

    #[test]
    fn audit_paging_links_keep_the_filters() {
        let query = AuditQuery {
            user: "bob".into(),
            before: "90".into(),
            ..AuditQuery::default()
        };
        assert_eq!(
            query.link("40"),
            "/tokengate/admin/audit?user=bob&before=40"
        );
        assert_eq!(query.link(""), "/tokengate/admin/audit?user=bob");
    }
}
