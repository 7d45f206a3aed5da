//! `tokengate audit list`: audit records newest first, filtered by user and action, one line
//! per record or their JSON shape; `tokengate audit export`: every record as JSON lines;
//! `tokengate audit verify`: the walk of the hash chain.
//! Read-only.

use super::CommandError;
use crate::cli::{AuditCommand, AuditListArgs};
use crate::output::{self, print_json, table};
use tokengate_core::model::{AuditFilter, AuditRecord};
use tokengate_core::store::Store;
use tokengate_store::MAX_PAGE_SIZE;

pub async fn run(store: &dyn Store, command: AuditCommand) -> Result<(), CommandError> {
    match command {
        AuditCommand::List(args) => list(store, args).await,
        AuditCommand::Verify { json } => verify(store, json).await,
        AuditCommand::Export { since, format: _ } => export(store, since).await,
    }
}

/// Every record (at or after `since`), oldest first, one JSON line each, read in pages.
async fn export(
    store: &dyn Store,
    since: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<(), CommandError> {
    const PAGE: u32 = 5000;
    let mut after = 0;
    loop {
        let page = store.audit_between(after, i64::MAX, PAGE).await?;
        let mut lines = String::new();
        for record in page
            .iter()
            .filter(|record| since.is_none_or(|since| record.at >= since))
        {
            lines.push_str(&serde_json::to_string(record).map_err(std::io::Error::other)?);
            lines.push('\n');
        }
        output::print(&lines)?;
        match page.last() {
            Some(last) if page.len() == PAGE as usize => after = last.id,
            _ => return Ok(()),
        }
    }
}

async fn verify(store: &dyn Store, json: bool) -> Result<(), CommandError> {
    let verdict = tokengate_core::store::verify_audit(store).await?;
    if json {
        print_json(&verdict)?;
    } else if verdict.ok {
        output::print_line(&format!(
            "the audit log verifies: {} records, chain intact",
            verdict.records
        ))?;
    }
    match verdict.first_bad_id {
        Some(id) => Err(CommandError::AuditBroken(id)),
        None => Ok(()),
    }
}

/// Up to `filter.limit` records, read in pages of at most `MAX_PAGE_SIZE`.
async fn newest_records(
    store: &dyn Store,
    mut filter: AuditFilter,
) -> Result<Vec<AuditRecord>, CommandError> {
    let wanted = filter.limit as usize;
    let mut records: Vec<AuditRecord> = Vec::new();
    while records.len() < wanted {
        let remaining = u32::try_from(wanted - records.len()).unwrap_or(u32::MAX);
        filter.limit = remaining.min(MAX_PAGE_SIZE);
        let page = store.audit(&filter).await?;
        let full = page.len() >= filter.limit as usize;
        filter.before_id = page.last().map(|record| record.id);
        records.extend(page);
        if !full || filter.before_id.is_none() {
            break;
        }
    }
    Ok(records)
}

async fn list(store: &dyn Store, args: AuditListArgs) -> Result<(), CommandError> {
    let filter = AuditFilter {
        user: args.user,
        action: args.action,
        limit: args.limit,
        ..AuditFilter::default()
    };
    let records = newest_records(store, filter).await?;
    if args.json {
        print_json(&records)?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|record| {
            vec![
                output::time(record.at),
                record.actor.clone(),
                record.action.as_str().to_owned(),
                output::or_dash(record.user.as_deref()),
                output::or_dash(record.token_id.as_deref()),
                record.details.to_string(),
            ]
        })
        .collect();
    output::print(&table(
        &["TIME", "ACTOR", "ACTION", "USER", "TOKEN", "DETAILS"],
        &rows,
    ))?;
    Ok(())
}
