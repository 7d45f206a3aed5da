//! The incident button of the token manager (SPEC §11): "Revoke tokens created before …", of
//! one user or of everyone. The first post only counts and asks, naming how many tokens of
//! whom; only the confirmation form, which carries the count it showed, deletes (core's
//! `revoke_before`, the call behind `POST /admin/revoke-before`). A confirmation whose count no
//! longer matches asks again; without one nothing is deleted. Times in the future are refused:
//! tokens made after the question would be deleted without having been counted.

use super::admin_tokens::{TokenQuery, manager_page, token_manager};
use super::context::Visit;
use super::forms::when;
use super::layout::{ConfirmPage, UiError, incomplete_form, render, see_other};
use super::tokens::current_settings;
use crate::effects;
use crate::state::SharedState;
use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde::Deserialize;
use std::collections::BTreeSet;
use tokengate_core::manage;
use tokengate_core::model::TokenFilter;
use tokengate_core::store::Store;

/// Owners named in the question; more are counted.
const OWNERS_NAMED: usize = 10;
const PAGE: u32 = 1000;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RevokeBeforeForm {
    csrf: String,
    before: String,
    user: String,
    confirmed: String,
    /// The count the confirmation page showed.
    expected: String,
}

/// What the incident form on the token manager shows.
#[derive(Debug, Clone, Default)]
pub struct RevokeBeforeView {
    pub before: String,
    pub user: String,
    pub error: Option<String>,
}

/// `2026-12-01T10:00` (the browser's datetime field), with seconds, or RFC 3339; UTC unless
/// an offset is given. Never later than `now`.
fn parse_before(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("Give the time: tokens created before it are revoked.".into());
    }
    let parsed = DateTime::parse_from_rfc3339(text)
        .map(|instant| instant.with_timezone(&Utc))
        .or_else(|_| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
                .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
                .map(|local| local.and_utc())
        })
        .map_err(|_| {
            let shown: String = text.chars().take(40).collect();
            format!("\"{shown}\" is not a time like 2026-12-01T10:00 (UTC).")
        })?;
    if parsed > now {
        return Err(format!(
            "{} is in the future; choose a time up to now ({}).",
            when(parsed),
            when(now)
        ));
    }
    Ok(parsed)
}

/// How many tokens (of `owner`, or of anyone) were created before `before`, and whose.
async fn count_before(
    store: &dyn Store,
    before: DateTime<Utc>,
    owner: Option<&str>,
) -> Result<(u64, BTreeSet<String>), UiError> {
    let (mut count, mut owners, mut after_id) = (0_u64, BTreeSet::new(), None);
    loop {
        let filter = TokenFilter {
            owner: owner.map(str::to_owned),
            after_id,
            limit: PAGE,
            ..TokenFilter::default()
        };
        let page = store
            .tokens(&filter)
            .await
            .map_err(|_| UiError::unavailable())?;
        for token in page.iter().filter(|token| token.created_at < before) {
            count += 1;
            owners.insert(token.owner.clone());
        }
        if page.len() < PAGE as usize {
            return Ok((count, owners));
        }
        after_id = page.last().map(|token| token.id.clone());
    }
}

/// "of alice", or "of 3 users (alice, bob, carol)".
fn whose(owner: Option<&str>, owners: &BTreeSet<String>) -> String {
    if let Some(owner) = owner {
        return format!("of {owner}");
    }
    let mut named: Vec<&str> = owners
        .iter()
        .take(OWNERS_NAMED)
        .map(String::as_str)
        .collect();
    let more = owners.len().saturating_sub(OWNERS_NAMED);
    let more = (more > 0).then(|| format!("{more} more"));
    named.extend(more.as_deref());
    let users = if owners.len() == 1 { "user" } else { "users" };
    format!("of {} {users} ({})", owners.len(), named.join(", "))
}

/// `POST /tokengate/admin/tokens/revoke-before`: asks with the count, then revokes.
pub async fn revoke_before(
    State(state): State<SharedState>,
    visit: Visit,
    form: Result<Form<RevokeBeforeForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(form) = form.map_err(incomplete_form)?;
    let acting = visit.form(&form.csrf)?;
    let admin = acting.admin(&visit.settings)?;
    let before = match parse_before(&form.before, visit.now) {
        Ok(before) => before,
        Err(problem) => return refuse(&state, &visit, &form, problem).await,
    };
    let owner = Some(form.user.trim()).filter(|user| !user.is_empty());
    let store = state.store.as_ref();
    if let Some(owner) = owner {
        let known = store
            .user(owner)
            .await
            .map_err(|_| UiError::unavailable())?;
        if known.is_none() {
            let problem = format!("There is no user named \"{owner}\".");
            return refuse(&state, &visit, &form, problem).await;
        }
    }
    let (count, owners) = count_before(store, before, owner).await?;
    if count == 0 {
        let problem = format!(
            "No token {} was created before {}: there is nothing to revoke.",
            owner.map_or("of any user".to_owned(), |owner| format!("of {owner}")),
            when(before)
        );
        return refuse(&state, &visit, &form, problem).await;
    }
    let confirmed = form.confirmed == "yes";
    if !confirmed || form.expected.trim().parse::<u64>().ok() != Some(count) {
        let question = Question {
            before,
            owner,
            whose: whose(owner, &owners),
            count,
            changed: confirmed,
        };
        return Ok(render(StatusCode::OK, &question.page(&visit, form.csrf)));
    }
    let change = acting.admin_change(&admin);
    let revoked = manage::revoke_before(store, &change, before, owner).await;
    let deleted = effects::on_node(&state, revoked)
        .await
        .map_err(UiError::from_manage)?;
    Ok(see_other(&format!(
        "/tokengate/admin/tokens?done=revoked_before&count={deleted}"
    )))
}

/// The confirmation step: how many tokens of whom, and the form that revokes exactly those.
struct Question<'a> {
    before: DateTime<Utc>,
    owner: Option<&'a str>,
    whose: String,
    count: u64,
    /// The count changed since the admin was last asked.
    changed: bool,
}

impl Question<'_> {
    fn page(&self, visit: &Visit, csrf: String) -> ConfirmPage {
        let changed = if self.changed {
            "The number of tokens changed since you were asked, so nothing was revoked yet. "
        } else {
            ""
        };
        let tokens = if self.count == 1 { "token" } else { "tokens" };
        ConfirmPage {
            nav: visit.nav("admin-tokens"),
            title: "Revoke tokens created before a time",
            message: format!(
                "{changed}Revoke {} {tokens} {} created before {}? Anything using them stops working at once; this cannot be undone.",
                self.count,
                self.whose,
                when(self.before)
            ),
            action: "/tokengate/admin/tokens/revoke-before".into(),
            fields: vec![
                ("csrf", csrf),
                (
                    "before",
                    self.before.to_rfc3339_opts(SecondsFormat::Millis, true),
                ),
                ("user", self.owner.unwrap_or_default().to_owned()),
                ("expected", self.count.to_string()),
            ],
            button: "Revoke them",
            cancel: "/tokengate/admin/tokens",
        }
    }
}

/// The token manager again with the problem beside the incident form; nothing was revoked.
async fn refuse(
    state: &SharedState,
    visit: &Visit,
    form: &RevokeBeforeForm,
    problem: String,
) -> Result<Response, UiError> {
    let manager = manager_page(visit)?;
    let settings = current_settings(state).await?;
    let mut page = token_manager(state, visit, manager, TokenQuery::default(), &settings).await?;
    page.revoke_before = RevokeBeforeView {
        before: form.before.clone(),
        user: form.user.clone(),
        error: Some(problem),
    };
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
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
    fn times_are_read_in_every_offered_spelling_and_the_future_is_refused() {
        let now = at("2026-12-01T12:00:00Z");
        for (typed, meant) in [
            ("2026-12-01T10:00", "2026-12-01T10:00:00Z"),
            (" 2026-12-01T10:00:30 ", "2026-12-01T10:00:30Z"),
            ("2026-12-01T10:00:00.250Z", "2026-12-01T10:00:00.250Z"),
            ("2026-12-01T11:00:00+01:00", "2026-12-01T10:00:00Z"),
        ] {
            assert_eq!(parse_before(typed, now), Ok(at(meant)), "{typed}");
        }
        for bad in ["", "yesterday", "01/12/2026 10:00", "2026-13-01T10:00"] {
            assert!(parse_before(bad, now).is_err(), "{bad}");
        }
        let future = parse_before("2026-12-01T12:01", now).expect_err("future");
        assert!(future.contains("future"), "{future}");
    }

    #[test]
    fn the_question_names_whose_tokens() {
        let owners: BTreeSet<String> = ["bob", "alice"].iter().map(|n| n.to_string()).collect();
        assert_eq!(whose(None, &owners), "of 2 users (alice, bob)");
        assert_eq!(whose(Some("alice"), &owners), "of alice");
        let many: BTreeSet<String> = (0..12).map(|n| format!("u{n:02}")).collect();
        assert!(whose(None, &many).ends_with("u09, 2 more)"));
    }
}
