//! Audit retention (`[audit] retention_days`): at start-up and every six hours, records older
//! than the retention are deleted in one transaction with an `audit.pruned` record that carries
//! the last deleted record's hash, so the chain still verifies. Several nodes may prune at
//! once: the chain's lock serialises them and the second finds nothing to delete.

use crate::state::SharedState;
use chrono::Utc;
use serde_json::json;
use std::time::Duration;
use tokengate_core::model::{Actor, AuditAction, NewAudit, Origin};
use tokio::sync::watch;

const EVERY: Duration = Duration::from_secs(6 * 3600);

/// Prunes once; how many records were deleted.
pub async fn prune_once(state: &SharedState) -> Result<u64, tokengate_core::store::StoreError> {
    let days = state.config.audit.retention_days;
    if days == 0 {
        return Ok(0);
    }
    let now = Utc::now();
    let before = now - chrono::Duration::days(i64::from(days));
    let audit = NewAudit::new(
        now,
        &Actor::System,
        AuditAction::AuditPruned,
        &Origin::default(),
    )
    .details(json!({"before": before, "retention_days": days}));
    state.store.prune_audit(before, &audit).await
}

/// Runs [`prune_once`] now and every six hours until `stop`.
pub async fn run(state: SharedState, mut stop: watch::Receiver<bool>) {
    if state.config.audit.retention_days == 0 {
        return;
    }
    loop {
        match prune_once(&state).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "old audit records pruned"),
            Err(error) => tracing::warn!(%error, "pruning the audit log failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.changed() => return,
        }
    }
}
