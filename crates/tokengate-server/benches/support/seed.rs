//! Fast seeding of a SQLite database with many tokens, for benchmarks: raw multi-row INSERTs
//! in large transactions through `SqliteStore::pool()`, the owners spread over many users.
//! Only digests are stored (as tokengate does); the secrets of an evenly spread sample are
//! kept so a benchmark can present real tokens. Shared by the criterion benches and
//! `examples/seed.rs` (used by `bench/memory.sh`).

use std::error::Error;
use std::path::{Path, PathBuf};
use tokengate_core::token::TokenSecret;
use tokengate_store::SqliteStore;

pub type SeedResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// Tokens per owner: 1,000,000 tokens belong to 10,000 users.
pub const TOKENS_PER_USER: usize = 100;
/// Rows per INSERT statement (9 parameters each, well under SQLite's limit).
const ROWS_PER_STATEMENT: usize = 200;
/// Rows per transaction.
const ROWS_PER_TRANSACTION: usize = 100_000;

/// The name of the `i`-th seeded user.
pub fn user_name(i: usize) -> String {
    format!("bench-user-{i:06}")
}

fn insert_sql(table_and_columns: &str, params_per_row: usize, rows: usize) -> String {
    let row = format!("({})", vec!["?"; params_per_row].join(", "));
    let mut sql = format!("INSERT INTO {table_and_columns} VALUES ");
    sql.push_str(&vec![row; rows].join(", "));
    sql
}

/// Inserts `count` tokens (and their owners) into the database behind `store`; returns the
/// secrets of `keep` tokens spread evenly over the whole set.
pub async fn seed_tokens(
    store: &SqliteStore,
    count: usize,
    keep: usize,
) -> SeedResult<Vec<String>> {
    let pool = store.pool();
    let users = count.div_ceil(TOKENS_PER_USER).max(1);
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut transaction = pool.begin().await?;
    for chunk_start in (0..users).step_by(ROWS_PER_STATEMENT) {
        let rows = ROWS_PER_STATEMENT.min(users - chunk_start);
        let sql = insert_sql(
            "users (name, display_name, admin, disabled, password_hash, failed_logins, locked_until)",
            7,
            rows,
        );
        // Generated from constants: placeholders only, every value is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for i in chunk_start..chunk_start + rows {
            query = query
                .bind(user_name(i))
                .bind(format!("Bench user {i}"))
                .bind(0_i64)
                .bind(0_i64)
                .bind(None::<String>)
                .bind(0_i64)
                .bind(None::<i64>);
        }
        query.execute(&mut *transaction).await?;
    }
    transaction.commit().await?;

    let keep_every = count
        .checked_div(keep)
        .map_or(usize::MAX, |step| step.max(1));
    let mut kept = Vec::with_capacity(keep);
    let full_sql = insert_sql(
        "tokens (id, owner, name, name_folded, digest, hint, created_at, created_by, expires_at)",
        9,
        ROWS_PER_STATEMENT,
    );
    let mut inserted = 0;
    while inserted < count {
        let mut transaction = pool.begin().await?;
        let end = count.min(inserted + ROWS_PER_TRANSACTION);
        while inserted < end {
            let rows = ROWS_PER_STATEMENT.min(end - inserted);
            let partial_sql;
            let sql = if rows == ROWS_PER_STATEMENT {
                &full_sql
            } else {
                partial_sql = insert_sql(
                    "tokens (id, owner, name, name_folded, digest, hint, created_at, created_by, expires_at)",
                    9,
                    rows,
                );
                &partial_sql
            };
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
            for i in inserted..inserted + rows {
                let secret = TokenSecret::generate()?;
                if i % keep_every == 0 && kept.len() < keep {
                    kept.push(secret.expose().to_owned());
                }
                let name = format!("bench token {i}");
                query = query
                    .bind(format!("bench{i:015}"))
                    .bind(user_name(i / TOKENS_PER_USER))
                    .bind(name.clone())
                    .bind(name)
                    .bind(secret.digest().as_bytes().to_vec())
                    .bind(secret.hint())
                    .bind(now_ms)
                    .bind("cli")
                    .bind(None::<i64>);
            }
            query.execute(&mut *transaction).await?;
            inserted += rows;
        }
        transaction.commit().await?;
    }
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(pool)
        .await?;
    Ok(kept)
}

/// Where seeded databases are kept between runs: `target/bench-cache/`.
pub fn cache_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("bench-cache")
}

/// Secrets kept at seeding time (at most): enough for 100,000 tokens in active use.
const SEED_KEEP: usize = 100_000;

/// Every n-th of `secrets`, so that `keep` of them remain, still spread over the whole set.
fn spread(secrets: Vec<String>, keep: usize) -> Vec<String> {
    let step = (secrets.len() / keep.max(1)).max(1);
    secrets.into_iter().step_by(step).take(keep).collect()
}

/// A database holding `count` tokens and the secrets of `keep` (≤ 100,000) of them, spread
/// over the whole set; seeded once and then reused from `target/bench-cache/tokens-COUNT.db`
/// (+ `.secrets`, written last).
pub async fn cached_database(count: usize, keep: usize) -> SeedResult<(PathBuf, Vec<String>)> {
    let seed_keep = count.min(SEED_KEEP);
    if keep > seed_keep {
        return Err(format!("at most {seed_keep} secrets are kept").into());
    }
    let dir = cache_dir();
    std::fs::create_dir_all(&dir)?;
    let db = dir.join(format!("tokens-{count}.db"));
    let secrets_file = dir.join(format!("tokens-{count}.secrets"));
    if db.exists()
        && let Ok(text) = std::fs::read_to_string(&secrets_file)
    {
        let secrets: Vec<String> = text.lines().map(str::to_owned).collect();
        if secrets.len() == seed_keep {
            // Opening applies any newer migration to the cached file.
            SqliteStore::open(&url_of(&db)).await?.pool().close().await;
            return Ok((db, spread(secrets, keep)));
        }
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut path = db.clone().into_os_string();
        path.push(suffix);
        let _ = std::fs::remove_file(path);
    }
    let _ = std::fs::remove_file(&secrets_file);
    let started = std::time::Instant::now();
    eprintln!(
        "seeding {count} tokens into {} (once; kept for later runs)",
        db.display()
    );
    let store = SqliteStore::open(&url_of(&db)).await?;
    let secrets = seed_tokens(&store, count, seed_keep).await?;
    store.pool().close().await;
    std::fs::write(&secrets_file, secrets.join("\n") + "\n")?;
    eprintln!("seeded in {:.1} s", started.elapsed().as_secs_f64());
    Ok((db, spread(secrets, keep)))
}

/// The `sqlite://` URL of a database file.
pub fn url_of(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}
