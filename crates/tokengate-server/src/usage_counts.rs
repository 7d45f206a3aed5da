//! Usage counting (SPEC §13): every allowed request with a user is counted in memory per
//! token (or per user, for passwords and gateway sessions), client address, via, route and
//! UTC day; the watcher adds the counts to the store once a minute (and at shutdown) and
//! prunes rows older than 90 days once a day. The hot path takes one lock and, once a key has
//! been counted, allocates nothing: tokens and users are looked up by `&str`, the rest of the
//! key is `Copy` (routes are numbered).

use chrono::{DateTime, NaiveDate, Utc};
use std::net::IpAddr;
use std::sync::Mutex;
use tokengate_core::decision::{Identity, Via};
use tokengate_core::store::Store;
use tokengate_core::usage::{UsageRow, prune_before};

/// The maps of the hot path hash with foldhash (seeded per map): std's SipHash was most of
/// what counting cost per request. Keys are server-made token ids, user names and the
/// addresses of authenticated clients.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// The route number of a request that names no route (forward-auth).
const NO_ROUTE: u16 = u16::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct CountKey {
    day: NaiveDate,
    address: IpAddr,
    via: Via,
    route: u16,
}

/// The counts of one token or one user.
#[derive(Debug, Default)]
struct Subject {
    /// The user the requests were made as (a token's owner).
    user: Box<str>,
    counts: HashMap<CountKey, u64>,
}

#[derive(Debug, Default)]
struct Pending {
    /// Route names by number; they stay (a handful, from the configuration).
    routes: Vec<Box<str>>,
    by_token: HashMap<Box<str>, Subject>,
    /// Requests by password or gateway session.
    by_user: HashMap<Box<str>, Subject>,
}

impl Pending {
    fn route_number(&mut self, route: Option<&str>) -> u16 {
        let Some(route) = route else {
            return NO_ROUTE;
        };
        if let Some(found) = self.routes.iter().position(|known| &**known == route) {
            return u16::try_from(found).unwrap_or(NO_ROUTE);
        }
        if self.routes.len() >= usize::from(NO_ROUTE) {
            return NO_ROUTE;
        }
        self.routes.push(route.into());
        u16::try_from(self.routes.len() - 1).unwrap_or(NO_ROUTE)
    }

    fn add(&mut self, subject: &str, user: &str, via: Via, key: CountKey, count: u64) {
        let map = if via == Via::Token {
            &mut self.by_token
        } else {
            &mut self.by_user
        };
        let entry = match map.get_mut(subject) {
            Some(entry) => entry,
            None => map.entry(subject.into()).or_insert_with(|| Subject {
                user: user.into(),
                counts: HashMap::default(),
            }),
        };
        let counted = entry.counts.entry(key).or_insert(0);
        *counted = counted.saturating_add(count);
    }

    fn into_rows(self) -> Vec<UsageRow> {
        let Pending {
            routes,
            by_token,
            by_user,
        } = self;
        let route_name = |number: u16| routes.get(usize::from(number)).map(|name| name.to_string());
        let mut rows = Vec::new();
        for (subject, counts, is_token) in by_token
            .into_iter()
            .map(|(id, subject)| (id, subject, true))
            .chain(
                by_user
                    .into_iter()
                    .map(|(name, subject)| (name, subject, false)),
            )
        {
            for (key, count) in counts.counts {
                rows.push(UsageRow {
                    day: key.day,
                    user: counts.user.to_string(),
                    token_id: is_token.then(|| subject.to_string()),
                    address: key.address,
                    via: key.via,
                    route: route_name(key.route),
                    count,
                });
            }
        }
        rows
    }
}

/// The counts not yet written, and the day of the last pruning.
#[derive(Debug, Default)]
pub struct UsageCounts {
    pending: Mutex<Pending>,
    pruned_on: Mutex<Option<NaiveDate>>,
}

impl UsageCounts {
    /// Counts one allowed request of `identity` from `client` on `route` (`None`:
    /// forward-auth). Anonymous requests are not counted: they have no one to count for.
    pub fn count(
        &self,
        identity: &Identity,
        client: IpAddr,
        route: Option<&str>,
        now: DateTime<Utc>,
    ) {
        let Some(user) = identity.user.as_deref() else {
            return;
        };
        let subject = match (identity.via, identity.token_id.as_deref()) {
            (Via::Token, Some(token_id)) => token_id,
            (Via::Password | Via::Session, _) => user,
            _ => return,
        };
        if let Ok(mut pending) = self.pending.lock() {
            let key = CountKey {
                day: now.date_naive(),
                address: client.to_canonical(),
                via: identity.via,
                route: pending.route_number(route),
            };
            pending.add(subject, user, identity.via, key, 1);
        }
    }

    /// Everything counted since the last take, as rows.
    fn take(&self) -> Vec<UsageRow> {
        match self.pending.lock() {
            Ok(mut pending) => {
                let routes = pending.routes.clone();
                let taken = std::mem::take(&mut *pending);
                pending.routes = routes;
                taken.into_rows()
            }
            Err(_) => Vec::new(),
        }
    }

    /// Puts rows that could not be written back, to be added to what comes next.
    fn put_back(&self, rows: Vec<UsageRow>) {
        if let Ok(mut pending) = self.pending.lock() {
            for row in rows {
                let subject = row.token_id.as_deref().unwrap_or(&row.user);
                let key = CountKey {
                    day: row.day,
                    address: row.address,
                    via: row.via,
                    route: pending.route_number(row.route.as_deref()),
                };
                pending.add(subject, &row.user, row.via, key, row.count);
            }
        }
    }

    /// Adds what is counted to the store (on failure it waits for the next flush), and once
    /// a day deletes rows older than 90 days.
    pub async fn flush(&self, store: &dyn Store, now: DateTime<Utc>) {
        let rows = self.take();
        if !rows.is_empty()
            && let Err(error) = store.add_usage(&rows).await
        {
            tracing::warn!(%error, rows = rows.len(), "could not record usage; will retry");
            self.put_back(rows);
            return;
        }
        let today = now.date_naive();
        let due = self
            .pruned_on
            .lock()
            .map(|pruned_on| *pruned_on != Some(today))
            .unwrap_or(false);
        if due {
            match store.prune_usage(prune_before(now)).await {
                Ok(_) => {
                    if let Ok(mut pruned_on) = self.pruned_on.lock() {
                        *pruned_on = Some(today);
                    }
                }
                Err(error) => tracing::warn!(%error, "could not prune old usage"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(user: &str, via: Via, token: Option<&str>) -> Identity {
        Identity {
            user: Some(user.into()),
            via,
            token_id: token.map(str::to_owned),
            groups: String::new(),
            email: None,
            replaced_secret: false,
        }
    }

    #[test]
    fn counts_are_kept_per_token_or_user_address_via_route_and_day() {
        let counts = UsageCounts::default();
        let now = Utc::now();
        let token = identity("alice", Via::Token, Some("t1"));
        let password = identity("alice", Via::Password, None);
        let here: IpAddr = "10.0.0.1".parse().expect("address");
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().expect("address");
        counts.count(&token, here, Some("default"), now);
        counts.count(&token, mapped, Some("default"), now);
        counts.count(&token, here, None, now);
        counts.count(&password, here, Some("default"), now);
        counts.count(&Identity::anonymous(), here, Some("default"), now);
        let mut rows = counts.take();
        rows.sort_by_key(|row| (row.via.as_str(), row.route.clone()));
        let seen: Vec<(Via, Option<&str>, Option<&str>, u64)> = rows
            .iter()
            .map(|row| {
                (
                    row.via,
                    row.token_id.as_deref(),
                    row.route.as_deref(),
                    row.count,
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                (Via::Password, None, Some("default"), 1),
                (Via::Token, Some("t1"), None, 1),
                (Via::Token, Some("t1"), Some("default"), 2),
            ]
        );
        assert!(
            rows.iter()
                .all(|row| row.user == "alice" && row.address == here)
        );
        assert!(counts.take().is_empty(), "taken once");
        counts.put_back(rows);
        assert_eq!(counts.take().iter().map(|row| row.count).sum::<u64>(), 4);
    }
}
