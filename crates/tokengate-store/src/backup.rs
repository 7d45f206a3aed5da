//! `tokengate db backup FILE`: an online, consistent copy of a SQLite database (`VACUUM INTO`
//! runs in one read transaction, so a running `serve` may keep writing). The copy holds
//! password hashes and token digests: it is created owner-only before anything is written,
//! and never over an existing file. PostgreSQL installations use `pg_dump`.

use crate::sqlite::SqliteStore;
use crate::{Kind, OpenError, OpenOptions, backend_of};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("backup is for SQLite databases; back up PostgreSQL with pg_dump")]
    NotSqlite,
    #[error("{0} already exists; choose a new file")]
    Exists(String),
    #[error("cannot create {path}: {source}")]
    Create {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the backup failed: {0}")]
    Copy(#[source] sqlx::Error),
}

/// Copies the SQLite database at `database_url` into the new file `target`; its size.
pub async fn backup(database_url: &str, target: &Path) -> Result<u64, BackupError> {
    if backend_of(database_url)? != Kind::Sqlite {
        return Err(BackupError::NotSqlite);
    }
    let shown = target.display().to_string();
    let store = SqliteStore::open_with(database_url, &OpenOptions::default()).await?;
    create_owner_only(target).map_err(|source| match source.kind() {
        std::io::ErrorKind::AlreadyExists => BackupError::Exists(shown.clone()),
        _ => BackupError::Create {
            path: shown.clone(),
            source,
        },
    })?;
    let copied = sqlx::query("VACUUM INTO ?")
        .bind(shown.as_str())
        .execute(store.pool())
        .await;
    store.pool().close().await;
    if let Err(error) = copied {
        // Nothing half-written stays behind.
        let _ = std::fs::remove_file(target);
        return Err(BackupError::Copy(error));
    }
    Ok(std::fs::metadata(target).map_or(0, |metadata| metadata.len()))
}

/// An empty file only its owner can read: `VACUUM INTO` fills an existing empty file.
fn create_owner_only(target: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(target).map(drop)
}
