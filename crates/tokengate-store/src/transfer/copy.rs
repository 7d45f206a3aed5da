//! The copy itself, the same for every pair of backends: refuse a non-empty target unless
//! forced, move users, tokens, settings, audit records and (optionally) sessions in batches
//! in that order (tokens and sessions need their users), report progress, and verify the
//! result by counting both sides.

use super::{Batch, Counts, Export, Transfer};
use tokengate_core::store::{StoreError, StoreResult};

/// Records read and written per batch.
const BATCH: u32 = 500;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyOptions {
    /// Empty a non-empty target first instead of refusing.
    pub force: bool,
    /// Copy web UI sessions too (otherwise everyone signs in again on the target).
    pub sessions: bool,
}

/// What is being copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Users,
    Groups,
    Tokens,
    Settings,
    Audit,
    Sessions,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Users => "users",
            Stage::Groups => "groups",
            Stage::Tokens => "tokens",
            Stage::Settings => "settings",
            Stage::Audit => "audit records",
            Stage::Sessions => "sessions",
        }
    }
}

/// Reported after each batch: `done` of `total` records of `stage` are copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub stage: Stage,
    pub done: u64,
    pub total: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(
        "the target database is not empty ({} users, {} tokens, {} audit records); \
         use --force to replace its contents",
        .0.users, .0.tokens, .0.audit
    )]
    TargetNotEmpty(Counts),
    #[error(
        "verification failed: the source has {expected} {what} but the target {found}; was \
         tokengate still running on the source? Stop it and copy again with --force"
    )]
    Mismatch {
        what: &'static str,
        expected: u64,
        found: u64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Copies everything from `source` to `target` and returns what was copied (verified by
/// counting the target). Run it while no tokengate serves the source: records added during
/// the copy would be missed, and the count check then fails.
pub async fn copy(
    source: &dyn Transfer,
    target: &dyn Transfer,
    options: CopyOptions,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Counts, CopyError> {
    let expected = source.counts().await?;
    let present = target.counts().await?;
    if !present.is_empty() {
        if !options.force {
            return Err(CopyError::TargetNotEmpty(present));
        }
        target.clear().await?;
    }
    copy_users(source, target, expected.users, progress).await?;
    target
        .import(Batch::Groups(&source.all_groups().await?))
        .await?;
    progress(Progress {
        stage: Stage::Groups,
        done: expected.groups,
        total: expected.groups,
    });
    copy_tokens(source, target, expected.tokens, progress).await?;
    if let Some(settings) = source.stored_settings().await? {
        target.import(Batch::Settings(&settings)).await?;
    }
    progress(Progress {
        stage: Stage::Settings,
        done: expected.settings,
        total: expected.settings,
    });
    copy_audit(source, target, expected.audit, progress).await?;
    if options.sessions {
        copy_sessions(source, target, expected.sessions, progress).await?;
    }
    target.finish_import().await?;
    let expected = Counts {
        sessions: if options.sessions {
            expected.sessions
        } else {
            0
        },
        ..expected
    };
    verify(expected, target.counts().await?)?;
    Ok(expected)
}

fn verify(expected: Counts, found: Counts) -> Result<(), CopyError> {
    let pairs = [
        ("users", expected.users, found.users),
        ("groups", expected.groups, found.groups),
        ("tokens", expected.tokens, found.tokens),
        ("saved settings", expected.settings, found.settings),
        ("audit records", expected.audit, found.audit),
        ("sessions", expected.sessions, found.sessions),
    ];
    for (what, expected, found) in pairs {
        if expected != found {
            return Err(CopyError::Mismatch {
                what,
                expected,
                found,
            });
        }
    }
    Ok(())
}

async fn copy_users(
    source: &dyn Transfer,
    target: &dyn Transfer,
    total: u64,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> StoreResult<()> {
    let mut done = 0;
    let mut after: Option<String> = None;
    loop {
        let page = source.users_after(after.as_deref(), BATCH).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.name.clone());
        target.import(Batch::Users(&page)).await?;
        done += page.len() as u64;
        progress(Progress {
            stage: Stage::Users,
            done,
            total,
        });
    }
    Ok(())
}

async fn copy_tokens(
    source: &dyn Transfer,
    target: &dyn Transfer,
    total: u64,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> StoreResult<()> {
    let mut done = 0;
    let mut after: Option<String> = None;
    loop {
        let page = source.tokens_after(after.as_deref(), BATCH).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        target.import(Batch::Tokens(&page)).await?;
        done += page.len() as u64;
        progress(Progress {
            stage: Stage::Tokens,
            done,
            total,
        });
    }
    Ok(())
}

async fn copy_audit(
    source: &dyn Transfer,
    target: &dyn Transfer,
    total: u64,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> StoreResult<()> {
    let mut done = 0;
    let mut after_id = 0;
    loop {
        let page = source.audit_after(after_id, BATCH).await?;
        let Some(last) = page.last() else { break };
        after_id = last.id;
        target.import(Batch::Audit(&page)).await?;
        done += page.len() as u64;
        progress(Progress {
            stage: Stage::Audit,
            done,
            total,
        });
    }
    Ok(())
}

async fn copy_sessions(
    source: &dyn Transfer,
    target: &dyn Transfer,
    total: u64,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> StoreResult<()> {
    let mut done = 0;
    let mut after = None;
    loop {
        let page = source.sessions_after(after.as_ref(), BATCH).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.digest);
        target.import(Batch::Sessions(&page)).await?;
        done += page.len() as u64;
        progress(Progress {
            stage: Stage::Sessions,
            done,
            total,
        });
    }
    Ok(())
}

/// Reads everything `store` holds, in the stable order of [`Export`]. For tests and checks
/// on small installations: it holds the whole database in memory.
pub async fn export(store: &dyn Transfer) -> StoreResult<Export> {
    let mut export = Export {
        settings: store.stored_settings().await?,
        groups: store.all_groups().await?,
        ..Export::default()
    };
    loop {
        let after = export.users.last().map(|user| user.name.clone());
        let page = store.users_after(after.as_deref(), BATCH).await?;
        if page.is_empty() {
            break;
        }
        export.users.extend(page);
    }
    loop {
        let after = export.tokens.last().map(|token| token.id.clone());
        let page = store.tokens_after(after.as_deref(), BATCH).await?;
        if page.is_empty() {
            break;
        }
        export.tokens.extend(page);
    }
    loop {
        let after_id = export.audit.last().map_or(0, |record| record.id);
        let page = store.audit_after(after_id, BATCH).await?;
        if page.is_empty() {
            break;
        }
        export.audit.extend(page);
    }
    loop {
        let after = export.sessions.last().map(|session| session.digest);
        let page = store.sessions_after(after.as_ref(), BATCH).await?;
        if page.is_empty() {
            break;
        }
        export.sessions.extend(page);
    }
    Ok(export)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_names_the_first_kind_that_differs() {
        let expected = Counts {
            users: 2,
            tokens: 5,
            settings: 1,
            audit: 9,
            sessions: 0,
            groups: 1,
        };
        assert!(verify(expected, expected).is_ok());
        let short = Counts {
            audit: 8,
            ..expected
        };
        let error = verify(expected, short).expect_err("mismatch");
        assert!(
            matches!(
                error,
                CopyError::Mismatch {
                    what: "audit records",
                    expected: 9,
                    found: 8
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn a_non_empty_target_is_refused_with_what_it_holds() {
        let present = Counts {
            users: 1,
            tokens: 2,
            audit: 3,
            ..Counts::default()
        };
        let message = CopyError::TargetNotEmpty(present).to_string();
        assert!(
            message.contains("1 users, 2 tokens, 3 audit records"),
            "{message}"
        );
        assert!(message.contains("--force"), "{message}");
    }
}
