//! What a change does beyond the stored fields and its audit record. Core decides which
//! effects a change has; the server applies them in one place (`tokengate_server::effects`)
//! for the REST API, the web UI and the CLI alike.

/// One effect of a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// End every web session of the user: their password changed, or they were disabled.
    EndSessions(String),
    /// The change alters what the gateway decides (a token, a user or the settings): the node
    /// that made it refreshes its caches at once; other nodes follow within a poll.
    RefreshCaches,
}

/// The result of a change and the effects it must have.
#[derive(Debug, Clone)]
#[must_use = "the effects of a change must be applied"]
pub struct Changed<T> {
    pub value: T,
    pub effects: Vec<Effect>,
}

impl<T> Changed<T> {
    /// A change that alters what the gateway decides, and has no other effect.
    pub fn refreshing(value: T) -> Self {
        Self {
            value,
            effects: vec![Effect::RefreshCaches],
        }
    }

    /// A change with no effect beyond the store (nothing changed, or nothing the gateway
    /// caches).
    pub fn quiet(value: T) -> Self {
        Self {
            value,
            effects: Vec::new(),
        }
    }
}
