//! Open WebSockets (upgraded connections) and who opened them. A sweep, every
//! [`SWEEP_INTERVAL`], asks the caches again whether each socket's credentials would still be
//! allowed: a token revoked or expired, an old secret past its grace, restrictions changed so
//! they no longer cover the socket, an owner disabled or no longer allowed by admins-only, and
//! the socket is closed. Revocations on other nodes reach this one through the change
//! counter (`watch.rs`), so every node closes its sockets within a second.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokengate_core::authenticate::AuthLookup;
use tokengate_core::model::Settings;
use tokengate_core::restrictions::Reach;
use tokengate_core::token::TokenDigest;
use tokio::sync::watch;

/// How often open sockets are checked again.
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(250);

/// What a socket was opened with.
#[derive(Debug, Clone)]
pub enum Opener {
    /// A token, by its digest (never the secret), and what the socket reaches: its
    /// restrictions are checked again against these while it is open.
    Token {
        digest: TokenDigest,
        client: IpAddr,
        path: String,
        route: String,
    },
    /// A user's password or browser session.
    Password(String),
}

struct Open {
    opener: Opener,
    stop: watch::Sender<bool>,
}

/// Every socket open on this node.
#[derive(Default)]
pub struct Sockets {
    next: AtomicU64,
    open: Mutex<HashMap<u64, Open>>,
}

/// A registered socket: its stop signal; unregistered when dropped.
pub struct Registered {
    sockets: Arc<Sockets>,
    id: u64,
    pub stopped: watch::Receiver<bool>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.sockets.lock().remove(&self.id);
    }
}

impl Sockets {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Open>> {
        match self.open.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub fn register(self: &Arc<Self>, opener: Opener) -> Registered {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (stop, stopped) = watch::channel(false);
        self.lock().insert(id, Open { opener, stop });
        Registered {
            sockets: self.clone(),
            id,
            stopped,
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops every socket whose opener would be refused now. Fails closed: a lookup that
    /// cannot be answered stops the socket.
    pub async fn sweep(
        &self,
        lookup: &(dyn AuthLookup + Sync),
        settings: &Settings,
        now: DateTime<Utc>,
    ) {
        let openers: Vec<(u64, Opener)> = self
            .lock()
            .iter()
            .map(|(id, open)| (*id, open.opener.clone()))
            .collect();
        for (id, opener) in openers {
            if !still_allowed(lookup, settings, &opener, now).await
                && let Some(open) = self.lock().get(&id)
            {
                let _ = open.stop.send(true);
            }
        }
    }
}

async fn still_allowed(
    lookup: &(dyn AuthLookup + Sync),
    settings: &Settings,
    opener: &Opener,
    now: DateTime<Utc>,
) -> bool {
    let owner = match opener {
        Opener::Token {
            digest,
            client,
            path,
            route,
        } => match lookup.token_by_digest(digest).await {
            Ok(Some(grant)) if !grant.is_expired(now) && !grant.grace_is_over(now) => {
                let reach = Reach {
                    method: Some("GET"),
                    writes: true,
                    path: Some(path),
                    route: Some(route),
                };
                let outside = grant
                    .restrictions
                    .as_deref()
                    .and_then(|restrictions| restrictions.outside(*client, &reach));
                if outside.is_some() {
                    return false;
                }
                grant.owner.clone()
            }
            _ => return false,
        },
        Opener::Password(user) => user.clone(),
    };
    match lookup.token_owner(&owner).await {
        Ok(Some(user)) => {
            let token_refused =
                matches!(opener, Opener::Token { .. }) && !settings.permits_tokens(&user);
            !user.disabled && !token_refused
        }
        _ => false,
    }
}
