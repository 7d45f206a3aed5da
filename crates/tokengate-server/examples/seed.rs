//! Seeds (once) and prints a SQLite database holding many tokens, for `bench/memory.sh`:
//!
//!   cargo run --release -p tokengate-server --example seed -- COUNT KEEP
//!
//! Prints the database path and the path of a file with the secrets of KEEP of its tokens,
//! one per line. Both live in `target/bench-cache/` and are reused by later runs.

#![allow(clippy::print_stdout)]

#[path = "../benches/support/seed.rs"]
mod seed;

fn number(argument: Option<String>, default: usize) -> Result<usize, String> {
    match argument {
        None => Ok(default),
        Some(text) => text
            .replace('_', "")
            .parse()
            .map_err(|_| format!("not a count: {text}")),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut arguments = std::env::args().skip(1);
    let count = number(arguments.next(), 1_000_000)?;
    let keep = number(arguments.next(), 100_000)?;
    if keep > count {
        return Err("KEEP cannot exceed COUNT".into());
    }
    let (db, secrets) = seed::cached_database(count, keep).await?;
    println!("{}", db.display());
    println!("{}", db.with_extension("secrets").display());
    eprintln!("{} secrets available", secrets.len());
    Ok(())
}
