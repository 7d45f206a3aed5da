//! [`ChangeNotifications`]: how a node learns at once that another node changed something,
//! without polling. Backend-neutral on the outside; only PostgreSQL feeds it (`LISTEN
//! tokengate_changes`, in `postgres::listen`). A wake-up only says "look at the change counter
//! now": notifications are lost while the listener reconnects, so the counter poll stays the
//! safety net, and every reconnect wakes the watcher too.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// What the background listener and its owner share.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) wake: Notify,
    pub(crate) listening: AtomicBool,
}

impl Shared {
    /// Wakes the (single) waiter; a wake-up while nobody waits is kept for the next wait, so
    /// a change that lands while the watcher is busy is not missed.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn set_listening(&self, listening: bool) {
        self.listening.store(listening, Ordering::SeqCst);
    }
}

/// Wake-ups for one watcher. Dropping it stops the background listener.
#[derive(Debug)]
pub struct ChangeNotifications {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl ChangeNotifications {
    pub(crate) fn new(shared: Arc<Shared>, task: JoinHandle<()>) -> Self {
        Self { shared, task }
    }

    /// Resolves when the change counter may have moved (a notification arrived, or the
    /// listener lost or regained its connection). Meant for one waiter.
    pub async fn changed(&self) {
        self.shared.wake.notified().await;
    }

    /// Whether the listener is connected and subscribed right now.
    pub fn is_listening(&self) -> bool {
        self.shared.listening.load(Ordering::SeqCst)
    }
}

impl Drop for ChangeNotifications {
    fn drop(&mut self) {
        self.task.abort();
    }
}
