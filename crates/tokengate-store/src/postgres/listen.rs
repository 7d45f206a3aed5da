//! The PostgreSQL side of [`ChangeNotifications`]: a background task holding one connection
//! that `LISTEN`s on `tokengate_changes` (the change-counter triggers `pg_notify` it at
//! commit, with their schema as payload) and wakes the watcher for every notification from
//! its own schema. When the connection is lost it wakes
//! the watcher (notifications may have been missed; the poll then finds out whether the store
//! still answers), reconnects with a capped backoff, and wakes it again once listening.

use crate::notifications::{ChangeNotifications, Shared};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The channel the triggers of `migrations/postgres/0001_initial.sql` notify.
pub const CHANNEL: &str = "tokengate_changes";

/// Waiting for a connection, and the first and longest pause between reconnects.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LONGEST_RETRY: Duration = Duration::from_secs(2);

/// Starts listening in the background.
pub(crate) fn spawn(options: PgConnectOptions) -> ChangeNotifications {
    let shared = Arc::new(Shared::default());
    let task = tokio::spawn(listen_forever(options, shared.clone()));
    ChangeNotifications::new(shared, task)
}

async fn listen_forever(options: PgConnectOptions, shared: Arc<Shared>) {
    let mut retry = FIRST_RETRY;
    loop {
        let error = listen(&options, &shared, &mut retry).await;
        // One warning when a working subscription is lost, not one per failed attempt.
        if shared.listening.swap(false, Ordering::SeqCst) {
            tracing::warn!(%error, "lost the PostgreSQL change notifications; reconnecting");
        } else {
            tracing::debug!(%error, "cannot listen for PostgreSQL change notifications yet");
        }
        shared.wake();
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(LONGEST_RETRY);
    }
}

/// Connects, subscribes and forwards notifications until the connection fails for good.
async fn listen(options: &PgConnectOptions, shared: &Shared, retry: &mut Duration) -> sqlx::Error {
    let pool = match PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(CONNECT_TIMEOUT)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(options.clone())
        .await
    {
        Ok(pool) => pool,
        Err(error) => return error,
    };
    let mut listener = match PgListener::connect_with(&pool).await {
        Ok(listener) => listener,
        Err(error) => return error,
    };
    // The triggers send their schema: installations in other schemas of the same database
    // (or other tests) do not wake this one.
    let schema: Option<String> = match sqlx::query_scalar("SELECT current_schema()::text")
        .fetch_one(&mut listener)
        .await
    {
        Ok(schema) => schema,
        Err(error) => return error,
    };
    if let Err(error) = listener.listen(CHANNEL).await {
        return error;
    }
    tracing::debug!("listening for PostgreSQL change notifications");
    shared.set_listening(true);
    *retry = FIRST_RETRY;
    // Whatever changed while nobody listened is found by the poll this triggers.
    shared.wake();
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                if schema
                    .as_deref()
                    .is_none_or(|ours| notification.payload() == ours)
                {
                    shared.wake();
                }
            }
            // The connection dropped and the listener re-subscribed on a new one: changes in
            // between were not notified.
            Ok(None) => shared.wake(),
            Err(error) => return error,
        }
    }
}
