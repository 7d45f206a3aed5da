//! How long `audit verify` takes over a long chain: writes RECORDS audit records (100,000 by
//! default; authentication events, the records that come by the thousand) to a SQLite file (or the PostgreSQL database in TOKENGATE_BENCH_POSTGRES_URL) in
//! batches, then walks the chain five times and prints each time. Run by
//! `bench/audit_verify.sh`: `cargo bench -p tokengate-store --bench audit_verify`.

use std::time::Instant;
use tokengate_core::model::{Actor, AuditAction, NewAudit, Origin};
use tokengate_core::store::verify_audit;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let records: usize = std::env::var("RECORDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(100_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let dir = tempfile::tempdir()?;
        let url = std::env::var("TOKENGATE_BENCH_POSTGRES_URL").unwrap_or_else(|_| {
            format!("sqlite://{}", dir.path().join("audit.db").display())
        });
        let store = tokengate_store::open(&url).await?;
        let started = Instant::now();
        let origin = Origin {
            ip: Some("192.0.2.10".into()),
            request_id: Some("bench".into()),
        };
        for batch in 0..records.div_ceil(1000) {
            let audits: Vec<NewAudit> = (0..1000.min(records - batch * 1000))
                .map(|index| {
                    NewAudit::new(
                        chrono::Utc::now(),
                        &Actor::User("admin".into()),
                        AuditAction::AuthSucceeded,
                        &origin,
                    )
                    .user("alice")
                    .token(&format!("tok{batch}x{index}"))
                    .details(serde_json::json!({"via": "token", "method": "GET", "path": format!("/api/items/{index}"), "route": "default"}))
                })
                .collect();
            store.append_audit(&audits).await?;
        }
        println!("wrote {records} records in {:.2?}", started.elapsed());
        for round in 1..=5 {
            let started = Instant::now();
            let verdict = verify_audit(store.as_ref()).await?;
            println!(
                "verify round {round}: {} records, ok = {}, {:.3?}",
                verdict.records,
                verdict.ok,
                started.elapsed()
            );
            if !verdict.ok {
                return Err("the chain did not verify".into());
            }
        }
        Ok(())
    })
}
