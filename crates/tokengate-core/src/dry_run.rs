//! The settings dry-run (SPEC §13): which of the recorded requests of the last days proposed
//! settings would have refused — per user, address, via and token, with counts, the caller
//! first. Each recorded request is put to the SPEC §2 decision itself ([`precheck`] and
//! [`decide`]) under the proposed settings, so the dry-run can never disagree with the gate.
//! Pure: the caller reads the usage and the users and passes them in.

use crate::decision::{Evaluation, GatePolicy, Reach, Reason, Records, RequestFacts, Via};
use crate::decision::{decide, precheck};
use crate::model::{Settings, TokenGrant, User};
use crate::usage::UsageRow;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::net::IpAddr;

/// A token in the token format (its checksum is valid) standing for the recorded token: the
/// decision is handed that token's record directly, so this secret is never looked up.
const PROBE_TOKEN: &str = "Bearer tg_DryRunProbe00000000000000000002pZxus";
/// Basic credentials with a password (`u:p`): the password is taken as right, as it was when
/// the request was recorded; only whether it may be checked at all is asked.
const PROBE_PASSWORD: &str = "Basic dTpw";

/// What the proposed settings would have refused of one user's requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedUser {
    pub user: String,
    /// The user asking for the dry-run: these settings would lock them out.
    pub is_caller: bool,
    /// Requests refused, over all the user's refusals.
    pub requests: u64,
    /// By requests, most first.
    pub refusals: Vec<Refusal>,
}

/// Requests from one address, via one way (with one token), refused for one reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub address: IpAddr,
    pub via: Via,
    pub token_id: Option<String>,
    pub reason: Reason,
    pub requests: u64,
}

/// The dry-run's answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DryRunReport {
    /// The caller is among the refused users.
    pub locks_out_caller: bool,
    /// The caller first, then by requests refused, most first, then by name.
    pub users: Vec<RefusedUser>,
    /// Requests refused, over all users.
    pub refused_requests: u64,
    /// Requests looked at, over all users.
    pub recorded_requests: u64,
}

/// Puts every usage row to the decision under `proposed`. `users` are the users as stored
/// now (admin flag, groups, disabled); rows of users that are gone or disabled are left out
/// (they are refused whatever the settings say). `caller` is the user asking.
pub fn dry_run(
    proposed: &Settings,
    usage: &[UsageRow],
    users: &[User],
    caller: &str,
    now: DateTime<Utc>,
) -> DryRunReport {
    let by_name: HashMap<&str, &User> = users
        .iter()
        .map(|user| (user.name.as_str(), user))
        .collect();
    let policy = GatePolicy::default();
    let mut refused: HashMap<(&str, IpAddr, Via, Option<&str>, Reason), u64> = HashMap::new();
    let mut report = DryRunReport::default();
    for row in usage {
        let Some(user) = by_name.get(row.user.as_str()).filter(|user| !user.disabled) else {
            continue;
        };
        report.recorded_requests = report.recorded_requests.saturating_add(row.count);
        if let Some(reason) = refusal(proposed, &policy, row, user, now) {
            let key = (
                row.user.as_str(),
                row.address,
                row.via,
                row.token_id.as_deref(),
                reason,
            );
            let count = refused.entry(key).or_insert(0);
            *count = count.saturating_add(row.count);
        }
    }
    let mut per_user: HashMap<&str, RefusedUser> = HashMap::new();
    for ((user, address, via, token_id, reason), requests) in refused {
        let entry = per_user.entry(user).or_insert_with(|| RefusedUser {
            user: user.to_owned(),
            is_caller: user == caller,
            requests: 0,
            refusals: Vec::new(),
        });
        entry.requests = entry.requests.saturating_add(requests);
        entry.refusals.push(Refusal {
            address,
            via,
            token_id: token_id.map(str::to_owned),
            reason,
            requests,
        });
    }
    report.users = per_user.into_values().collect();
    for user in &mut report.users {
        user.refusals.sort_by(|a, b| {
            b.requests
                .cmp(&a.requests)
                .then_with(|| a.address.cmp(&b.address))
                .then_with(|| a.via.as_str().cmp(b.via.as_str()))
                .then_with(|| a.token_id.cmp(&b.token_id))
        });
    }
    report.users.sort_by(|a, b| {
        b.is_caller
            .cmp(&a.is_caller)
            .then_with(|| b.requests.cmp(&a.requests))
            .then_with(|| a.user.cmp(&b.user))
    });
    report.locks_out_caller = report.users.first().is_some_and(|user| user.is_caller);
    report.refused_requests = report
        .users
        .iter()
        .fold(0, |sum, user| sum.saturating_add(user.requests));
    report
}

/// The reason `settings` would refuse the requests of `row` (made as `user`), if any.
fn refusal(
    settings: &Settings,
    policy: &GatePolicy,
    row: &UsageRow,
    user: &User,
    now: DateTime<Utc>,
) -> Option<Reason> {
    let authorization = match row.via {
        Via::Token => Some(PROBE_TOKEN.as_bytes()),
        Via::Password => Some(PROBE_PASSWORD.as_bytes()),
        // A gateway session presents no credentials: the allow-list decides, then the session.
        Via::Session | Via::Anonymous => None,
    };
    let reach = Reach {
        writes: false,
        method: None,
        path: None,
        route: row.route.as_deref(),
    };
    let facts = RequestFacts {
        peer: row.address,
        forwarded_for: None,
        authorization,
        reach,
    };
    let prechecked = match precheck(&facts, settings, policy) {
        Ok(prechecked) => prechecked,
        Err(decision) => {
            return decision
                .reason()
                .filter(|reason| *reason != Reason::MissingCredentials);
        }
    };
    let grant = TokenGrant {
        id: row.token_id.clone().unwrap_or_default(),
        owner: user.name.clone(),
        expires_at: None,
        restrictions: None,
        grace_until: None,
    };
    let records = Records {
        token: (row.via == Via::Token).then_some(&grant),
        token_owner: Some(user),
    };
    match decide(prechecked, records, &reach, settings, now) {
        Evaluation::Decided(decision) => decision.reason(),
        // The password may be checked: it was right when the request was recorded.
        Evaluation::CheckPassword(_) => None,
        // Not reached: the token's record is given. Were it, the token would be refused.
        Evaluation::TokenRefused(_) => Some(Reason::InvalidCredentials),
    }
}

#[cfg(test)]
#[path = "dry_run/tests.rs"]
mod tests;
