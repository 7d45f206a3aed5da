//! Keeps a node in step with the shared store (SPEC §6): polls the change counter every
//! `POLL` and, on PostgreSQL, also wakes at once when another node's change is notified
//! (`LISTEN/NOTIFY`; notifications are lost while the listener reconnects, so the poll stays
//! as the safety net). When the counter moves it reloads the settings and drops cached
//! records. If the store cannot be read — or does not answer within `POLL_TIMEOUT` — the cache
//! is emptied so nothing is allowed that could not be checked; when it answers again, service
//! resumes by itself. Also flushes batched last-use records and lets the failure throttle
//! forget quiet addresses. Holds no SQL: the store crate owns the listener.

use crate::state::SharedState;
use std::sync::Arc;
use std::time::Duration;
use tokengate_store::ChangeNotifications;
use tokio::sync::{Notify, watch};

pub const POLL: Duration = Duration::from_millis(250);
/// A poll that takes longer than this counts as the store not answering (a hung connection
/// must not keep cached records alive).
pub const POLL_TIMEOUT: Duration = Duration::from_secs(2);
const FLUSH_EVERY: u32 = 4;
const FORGET_EVERY: u32 = 240;
/// Usage counts are written once a minute (SPEC §13).
const COUNT_EVERY: u32 = 240;

/// One poll: returns the counter seen (or the old one when the store did not answer).
pub async fn refresh(state: &SharedState, last_seen: Option<i64>) -> Option<i64> {
    match tokio::time::timeout(POLL_TIMEOUT, poll(state, last_seen)).await {
        Ok(seen) => seen,
        Err(_) => {
            mark_unhealthy(state, &"no answer within the poll timeout");
            last_seen
        }
    }
}

async fn poll(state: &SharedState, last_seen: Option<i64>) -> Option<i64> {
    match state.store.change_counter().await {
        Ok(counter) if Some(counter) == last_seen && state.cache.store_healthy() => last_seen,
        Ok(counter) => match state.store.settings().await {
            Ok(settings) => {
                state.set_settings(settings);
                state.cache.invalidate();
                if !state.cache.store_healthy() {
                    tracing::info!("the store answers again; resuming");
                }
                state.cache.set_store_healthy(true);
                Some(counter)
            }
            Err(error) => {
                mark_unhealthy(state, &error);
                last_seen
            }
        },
        Err(error) => {
            mark_unhealthy(state, &error);
            last_seen
        }
    }
}

fn mark_unhealthy(state: &SharedState, error: &dyn std::fmt::Display) {
    if state.cache.store_healthy() {
        tracing::warn!(%error, "the store does not answer; refusing requests until it does");
    }
    state.cache.set_store_healthy(false);
}

/// Why the watcher woke up.
enum Wake {
    Tick,
    Notified,
    Stop,
}

/// Forgets cached records the moment `notifications` fire (a change, or the subscription
/// lost), on a task of its own: the watcher may be waiting up to `POLL_TIMEOUT` for a store
/// that just went away, and a record revoked right before must not be served from memory
/// meanwhile. Then wakes the watcher to poll.
fn invalidate_on_notification(
    state: &SharedState,
    notifications: ChangeNotifications,
    poke: Arc<Notify>,
) -> tokio::task::JoinHandle<()> {
    let state = state.clone();
    tokio::spawn(async move {
        loop {
            notifications.changed().await;
            state.cache.invalidate();
            poke.notify_one();
        }
    })
}

/// Runs until `stop` turns true.
pub async fn run(
    state: SharedState,
    initial: Option<i64>,
    mut stop: watch::Receiver<bool>,
    notifications: Option<ChangeNotifications>,
) {
    let mut last_seen = initial;
    let mut ticks: u32 = 0;
    let poke = Arc::new(Notify::new());
    let invalidator = notifications
        .map(|notifications| invalidate_on_notification(&state, notifications, poke.clone()));
    let mut interval = tokio::time::interval(POLL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let wake = tokio::select! {
            _ = interval.tick() => Wake::Tick,
            _ = poke.notified() => Wake::Notified,
            _ = stop.changed() => Wake::Stop,
        };
        match wake {
            Wake::Stop => break,
            Wake::Notified => {
                // The cache was already emptied by `invalidate_on_notification`.
                last_seen = refresh(&state, last_seen).await;
            }
            Wake::Tick => {
                last_seen = refresh(&state, last_seen).await;
                if !state.sockets.is_empty() {
                    let settings = state.settings();
                    state
                        .sockets
                        .sweep(&state.cache, &settings, chrono::Utc::now())
                        .await;
                }
                ticks = ticks.wrapping_add(1);
                // Not while the store is down: the batch waits in memory, and the watcher stays
                // free to notice the store coming back.
                if ticks.is_multiple_of(FLUSH_EVERY) && state.cache.store_healthy() {
                    state.usage.flush(&state.store).await;
                }
                if ticks.is_multiple_of(COUNT_EVERY) && state.cache.store_healthy() {
                    let now = chrono::Utc::now();
                    state.usage_counts.flush(state.store.as_ref(), now).await;
                }
                if ticks.is_multiple_of(FORGET_EVERY) {
                    state.throttle.forget_quiet();
                    if state.cache.store_healthy()
                        && let Err(error) = state
                            .store
                            .delete_expired_sessions(chrono::Utc::now())
                            .await
                    {
                        tracing::warn!(%error, "could not delete expired web sessions");
                    }
                }
            }
        }
    }
    if let Some(invalidator) = invalidator {
        invalidator.abort();
    }
    if state.cache.store_healthy() {
        state.usage.flush(&state.store).await;
        let now = chrono::Utc::now();
        state.usage_counts.flush(state.store.as_ref(), now).await;
    }
}
