//! Authentication events off the request path (SPEC §13): `gate` notes an event in memory
//! (core `auth_events` decides which and what), a task writes what is pending to the audit log
//! in one chained batch every [`WRITE_EVERY`], and a stop writes the rest after the requests in
//! flight have ended (`RunningServer::shutdown`), so a `SIGTERM` loses none.
//!
//! Equal events within one write (the same kind, user, token, address, method, path, route and
//! reason; only time and request id differ) are one record with their `count`: a client
//! repeating a request a thousand times a second writes two records a second, not a thousand,
//! whether it succeeds or hammers with a wrong token.
//!
//! While the store cannot be written the events wait in memory, up to [`MAX_PENDING`] distinct
//! ones; beyond that new ones are dropped and counted (`tokengate_auth_events_dropped_total`)
//! rather than letting memory grow without bound.

use crate::state::SharedState;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::Duration;
use tokengate_core::auth_events::AuthEvent;
use tokengate_core::model::NewAudit;
use tokengate_core::store::Store;
use tokio::sync::watch;

type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// How often pending events are written.
pub const WRITE_EVERY: Duration = Duration::from_millis(500);

/// Distinct events kept while the store cannot be written; new ones are dropped beyond it.
pub const MAX_PENDING: usize = 200_000;

/// Records per write transaction.
const BATCH: usize = 5_000;

/// An event as a map key: equal to another when only the time and request id differ.
struct Similar(AuthEvent);

impl PartialEq for Similar {
    fn eq(&self, other: &Self) -> bool {
        self.0.key() == other.0.key()
    }
}

impl Eq for Similar {}

impl Hash for Similar {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.key().hash(state);
    }
}

/// Events noted since the last write: each distinct one with how often it happened.
#[derive(Default)]
pub struct AuthEventLog {
    pending: Mutex<HashMap<Similar, u64>>,
}

impl AuthEventLog {
    /// Keeps `event` for the next write (counted with an equal one already kept); `false`
    /// when it had to be dropped.
    pub fn note(&self, event: AuthEvent) -> bool {
        let Ok(mut pending) = self.pending.lock() else {
            return false;
        };
        let event = Similar(event);
        if let Some(count) = pending.get_mut(&event) {
            *count += 1;
            return true;
        }
        if pending.len() >= MAX_PENDING {
            return false;
        }
        pending.insert(event, 1);
        true
    }

    /// How many records wait to be written.
    pub fn pending(&self) -> usize {
        self.pending.lock().map_or(0, |pending| pending.len())
    }

    /// The pending records, oldest first.
    fn take(&self) -> Vec<(AuthEvent, u64)> {
        let taken = self
            .pending
            .lock()
            .map(|mut pending| std::mem::take(&mut *pending))
            .unwrap_or_default();
        let mut events: Vec<(AuthEvent, u64)> = taken
            .into_iter()
            .map(|(event, count)| (event.0, count))
            .collect();
        events.sort_by_key(|(event, _)| event.at);
        events
    }

    /// Puts back events that could not be written (equal ones noted meanwhile add up).
    fn put_back(&self, unwritten: Vec<(AuthEvent, u64)>) {
        if let Ok(mut pending) = self.pending.lock() {
            for (event, count) in unwritten {
                let event = Similar(event);
                if let Some(noted) = pending.get_mut(&event) {
                    *noted += count;
                } else if pending.len() < MAX_PENDING {
                    pending.insert(event, count);
                }
            }
        }
    }

    /// Writes every pending record, oldest first, in batches; returns how many records were
    /// written. On a failure the rest is kept for the next write.
    pub async fn write(&self, store: &dyn Store) -> usize {
        let mut events = self.take();
        let mut written = 0;
        while !events.is_empty() {
            let rest = events.split_off(events.len().min(BATCH));
            let records: Vec<NewAudit> = events
                .iter()
                .map(|(event, count)| event.clone().into_audit(*count))
                .collect();
            if let Err(error) = store.append_audit(&records).await {
                tracing::warn!(%error, waiting = events.len() + rest.len(),
                    "could not write authentication events; will retry");
                events.extend(rest);
                self.put_back(events);
                return written;
            }
            written += records.len();
            events = rest;
        }
        written
    }
}

/// Writes pending events every [`WRITE_EVERY`] until `stop`; the last write is the stop's.
pub async fn run(state: SharedState, mut stop: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(WRITE_EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {
                state.auth_events.write(state.store.as_ref()).await;
            }
            _ = stop.changed() => return,
        }
    }
}
