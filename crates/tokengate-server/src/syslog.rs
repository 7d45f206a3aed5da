//! Forwarding of new audit records to syslog (SPEC §13, `[audit] syslog`). A reader takes the
//! records appended after forwarding began — by any node or the CLI — in id order, under a
//! lease in the database so one node at a time forwards (`AuditForwarding`), and puts each,
//! formatted as RFC 5424 (`format`), into a bounded queue; a sender (`transport`) drains the
//! queue to the receiver. The reader never waits for the receiver: when the queue is full a
//! record is dropped and counted (`tokengate_syslog_dropped_total`), so a slow or absent
//! receiver costs memory up to the queue's bound and nothing else. A record is taken once:
//! records in the queue of a node that dies are lost, never sent twice by two nodes.
//! Never blocks a request and holds no secret (audit records carry none).

pub mod format;
pub mod transport;

use crate::state::SharedState;
use chrono::Utc;
use format::MessageSource;
use std::sync::Arc;
use std::time::Duration;
use tokengate_core::model::AuditRecord;
use tokengate_core::store::{Store, StoreError};
use tokio::sync::{mpsc, watch};

/// How often the reader looks for new records and renews its lease.
const EVERY: Duration = Duration::from_secs(1);
/// How long the lease lasts: another node takes over this long after this one stops renewing.
const LEASE: chrono::Duration = chrono::Duration::seconds(15);
/// Records read per query.
const BATCH: u32 = 500;
/// Queries per look, so a long backlog is read a queue's worth at a time.
const BATCHES_PER_LOOK: usize = 20;
/// Formatted messages waiting for the sender.
pub const QUEUE: usize = 10_000;
/// How long a stopping node keeps sending what its queue holds.
const DRAIN_AT_STOP: Duration = Duration::from_secs(3);

/// The reader of one node.
struct Reader {
    store: Arc<dyn Store>,
    metrics: Arc<crate::metrics::Metrics>,
    node: String,
    source: MessageSource,
    queue: mpsc::Sender<String>,
}

impl Reader {
    /// Takes (or renews) the lease and queues what was appended since the cursor; how many
    /// records were dropped because the queue was full.
    async fn look(&self) -> Result<u64, StoreError> {
        let now = Utc::now();
        let Some(mut cursor) = self
            .store
            .claim_audit_forwarding(&self.node, now, now + LEASE)
            .await?
        else {
            return Ok(0);
        };
        let Some((head, _)) = self.store.audit_head().await? else {
            return Ok(0);
        };
        let mut dropped = 0;
        for _ in 0..BATCHES_PER_LOOK {
            let batch = self.store.audit_between(cursor, head, BATCH).await?;
            let Some(last) = batch.last().map(|record| record.id) else {
                break;
            };
            // The cursor moves before the records are queued: if another node took the
            // lease meanwhile, this one sends nothing of the batch (no record twice).
            if !self
                .store
                .advance_audit_forwarding(&self.node, cursor, last)
                .await?
            {
                break;
            }
            cursor = last;
            dropped += batch.iter().filter(|record| !self.enqueue(record)).count() as u64;
            if batch.len() < BATCH as usize {
                break;
            }
        }
        Ok(dropped)
    }

    /// Queues `record`'s message; false when it was dropped.
    fn enqueue(&self, record: &AuditRecord) -> bool {
        let message = match format::message(record, &self.source) {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(id = record.id, %error, "an audit record could not be formatted for syslog");
                return false;
            }
        };
        self.queue.try_send(message).is_ok()
    }
}

/// Forwards new audit records to `[audit] syslog` until `stop`; nothing when it is not set.
pub async fn run(state: SharedState, mut stop: watch::Receiver<bool>) {
    let Some(target) = state.config.audit.syslog.clone() else {
        return;
    };
    let metrics = state.metrics.clone();
    metrics.syslog_dropped("queue_full", 0);
    let (queue, waiting) = mpsc::channel(QUEUE);
    let mut sender = tokio::spawn(transport::run(target, waiting, metrics.clone()));
    let reader = Reader {
        store: state.store.clone(),
        metrics,
        node: uuid::Uuid::new_v4().to_string(),
        source: MessageSource::of_this_process(),
        queue,
    };
    while !*stop.borrow_and_update() {
        match reader.look().await {
            Ok(0) => {}
            Ok(dropped) => {
                reader.metrics.syslog_dropped("queue_full", dropped);
                tracing::warn!(
                    dropped,
                    "the syslog queue is full: audit records were not forwarded"
                );
            }
            Err(error) => tracing::warn!(%error, "reading audit records to forward failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.changed() => {}
        }
    }
    if let Err(error) = reader.store.release_audit_forwarding(&reader.node).await {
        tracing::warn!(%error, "giving up the audit forwarding lease failed");
    }
    let Reader { queue, .. } = reader;
    let left = queue.max_capacity() - queue.capacity();
    drop(queue);
    if tokio::time::timeout(DRAIN_AT_STOP, &mut sender)
        .await
        .is_err()
    {
        sender.abort();
        tracing::warn!(
            queued = left,
            "the syslog receiver did not take every queued audit record before the stop"
        );
    }
}
