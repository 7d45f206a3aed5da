//! Keeps a node in step with the shared store (SPEC §6): polls the change counter every
//! `POLL` and, when it moves, reloads the settings and drops cached records. If the store
//! cannot be read, the cache is emptied so nothing is allowed that could not be checked; when
//! it answers again, service resumes by itself. Also flushes batched last-use records and lets
//! the failure throttle forget quiet addresses.

use crate::state::SharedState;
use std::time::Duration;
use tokio::sync::watch;

pub const POLL: Duration = Duration::from_millis(250);
const FLUSH_EVERY: u32 = 4;
const FORGET_EVERY: u32 = 240;

/// One poll: returns the counter seen (or the old one when the store did not answer).
pub async fn refresh(state: &SharedState, last_seen: Option<i64>) -> Option<i64> {
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

/// Runs until `stop` turns true.
pub async fn run(state: SharedState, initial: Option<i64>, mut stop: watch::Receiver<bool>) {
    let mut last_seen = initial;
    let mut ticks: u32 = 0;
    let mut interval = tokio::time::interval(POLL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.changed() => break,
        }
        last_seen = refresh(&state, last_seen).await;
        ticks = ticks.wrapping_add(1);
        if ticks.is_multiple_of(FLUSH_EVERY) {
            state.usage.flush(&state.store).await;
        }
        if ticks.is_multiple_of(FORGET_EVERY) {
            state.throttle.forget_quiet();
        }
    }
    state.usage.flush(&state.store).await;
}
