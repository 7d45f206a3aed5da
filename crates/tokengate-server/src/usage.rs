//! Last-use recording in batches (SPEC §2.4): the hot path only notes the use in memory; a
//! background task writes the latest use per token once a second.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokengate_core::model::TokenUse;
use tokengate_core::store::Store;

#[derive(Default)]
pub struct UsageRecorder {
    pending: Mutex<HashMap<String, TokenUse>>,
}

impl UsageRecorder {
    pub fn note(&self, token_id: &str, at: DateTime<Utc>, ip: String) {
        if let Ok(mut pending) = self.pending.lock() {
            match pending.get_mut(token_id) {
                Some(entry) => {
                    entry.at = at;
                    entry.ip = ip;
                }
                None => {
                    pending.insert(
                        token_id.to_owned(),
                        TokenUse {
                            token_id: token_id.to_owned(),
                            at,
                            ip,
                        },
                    );
                }
            }
        }
    }

    fn take(&self) -> Vec<TokenUse> {
        match self.pending.lock() {
            // A fresh map, not `drain`: the old one's capacity (as large as the busiest second
            // ever) is given back instead of being kept for good.
            Ok(mut pending) => std::mem::take(&mut *pending).into_values().collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Writes what is pending; on failure the batch is put back (newer uses win).
    pub async fn flush(&self, store: &Arc<dyn Store>) {
        let batch = self.take();
        if batch.is_empty() {
            return;
        }
        if let Err(error) = store.record_token_uses(&batch).await {
            tracing::warn!(%error, count = batch.len(), "could not record token last use; will retry");
            if let Ok(mut pending) = self.pending.lock() {
                for entry in batch {
                    pending.entry(entry.token_id.clone()).or_insert(entry);
                }
            }
        }
    }
}
