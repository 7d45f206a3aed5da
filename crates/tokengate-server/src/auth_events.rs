//! Authentication events off the request path (SPEC §13): `gate` notes an event in memory
//! (core `auth_events` decides which and what), a task writes what is pending to the audit log
//! in one chained batch every [`WRITE_EVERY`], and a stop writes the rest after the requests in
//! flight have ended (`RunningServer::shutdown`), so a `SIGTERM` loses none.
//!
//! While the store cannot be written the events wait in memory, up to [`MAX_PENDING`]; beyond
//! that new ones are dropped and counted (`tokengate_auth_events_dropped_total`) rather than
//! letting memory grow without bound.

use crate::state::SharedState;
use std::sync::Mutex;
use std::time::Duration;
use tokengate_core::auth_events::AuthEvent;
use tokengate_core::store::Store;
use tokio::sync::watch;

/// How often pending events are written.
pub const WRITE_EVERY: Duration = Duration::from_millis(500);

/// Events kept while the store cannot be written; newer ones are dropped beyond it.
pub const MAX_PENDING: usize = 200_000;

/// Events per write transaction.
const BATCH: usize = 5_000;

#[derive(Default)]
pub struct AuthEventLog {
    pending: Mutex<Vec<AuthEvent>>,
}

impl AuthEventLog {
    /// Keeps `event` for the next write; `false` when it had to be dropped.
    pub fn note(&self, event: AuthEvent) -> bool {
        match self.pending.lock() {
            Ok(mut pending) if pending.len() < MAX_PENDING => {
                pending.push(event);
                true
            }
            _ => false,
        }
    }

    /// How many events wait to be written.
    pub fn pending(&self) -> usize {
        self.pending.lock().map_or(0, |pending| pending.len())
    }

    fn take(&self) -> Vec<AuthEvent> {
        self.pending
            .lock()
            .map(|mut pending| std::mem::take(&mut *pending))
            .unwrap_or_default()
    }

    /// Puts back events that could not be written, ahead of those noted meanwhile.
    fn put_back(&self, mut unwritten: Vec<AuthEvent>) {
        if let Ok(mut pending) = self.pending.lock() {
            unwritten.append(&mut pending);
            unwritten.truncate(MAX_PENDING);
            *pending = unwritten;
        }
    }

    /// Writes every pending event, oldest first, in batches; returns how many were written.
    /// On a failure the rest is kept for the next write.
    pub async fn write(&self, store: &dyn Store) -> usize {
        let mut events = self.take();
        let mut written = 0;
        while !events.is_empty() {
            let rest = events.split_off(events.len().min(BATCH));
            let records: Vec<_> = events.iter().cloned().map(AuthEvent::into_audit).collect();
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
