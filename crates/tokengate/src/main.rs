//! The `tokengate` binary: parses the command line, loads the configuration, opens the store
//! and hands each command to `commands`. Exit status: 0 success, 1 refused (one line on
//! stderr), 2 usage or configuration error (one line naming the key; nothing is written).
//! Nothing here decides anything.

mod cli;
mod commands;
mod output;

use chrono::{SubsecRound, Utc};
use clap::Parser;
use cli::{Cli, Command};
use commands::CommandError;
use std::process::ExitCode;
use std::sync::Arc;
use tokengate_core::manage::AdminIdentity;
use tokengate_core::model::Origin;
use tokengate_core::store::Store;
use tokengate_server::config::Config;
use tracing_subscriber::EnvFilter;

/// mimalloc instead of the system allocator: the request path allocates a few dozen small
/// objects per request, and glibc's malloc/free were 18–25 % of its instructions
/// (bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Completions and the manual need no configuration: they work on any machine.
    match &cli.command {
        Command::Completions { shell } => return print_completions(*shell),
        Command::Man => return print_manual(),
        _ => {}
    }
    init_logging();
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CommandError::Runtime)
        .and_then(|runtime| runtime.block_on(run(cli)));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if let Some(cause) = error.hidden_cause() {
                tracing::error!(%cause, "store failure");
            }
            // Ignore a failure to write to stderr: there is nowhere left to report it.
            let _ = output::note(&format!("tokengate: {error}"));
            if error.is_configuration() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn print_completions(shell: clap_complete::Shell) -> ExitCode {
    let mut command = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut command, "tokengate", &mut std::io::stdout());
    ExitCode::SUCCESS
}

fn print_manual() -> ExitCode {
    let command = <Cli as clap::CommandFactory>::command();
    match clap_mangen::Man::new(command).render(&mut std::io::stdout()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

/// Logs to stderr; `RUST_LOG` chooses the level (default: warnings and errors).
fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn run(cli: Cli) -> Result<(), CommandError> {
    let config = Config::load(cli.config.as_deref())?;
    // Every command acts as the local operator, audited as `cli`.
    let (operator, origin) = (AdminIdentity::local_operator(), Origin::default());
    // To the millisecond, the precision the store keeps: what a command prints about a new
    // record is then exactly what later reads return.
    let change = operator.change(&origin, Utc::now().trunc_subsecs(3));
    match cli.command {
        Command::Serve => {
            let first_start = AdminIdentity::first_start();
            Ok(tokengate_server::serve::run(config, &first_start).await?)
        }
        Command::User(command) => {
            commands::users::run(open(&config).await?.as_ref(), &change, command).await
        }
        Command::Token(command) => {
            commands::tokens::run(open(&config).await?.as_ref(), &change, command).await
        }
        Command::Settings(command) => {
            commands::settings::run(open(&config).await?.as_ref(), &change, command).await
        }
        Command::Audit(command) => {
            commands::audit::run(open(&config).await?.as_ref(), command).await
        }
        Command::Group(command) => {
            commands::groups::run(open(&config).await?.as_ref(), &change, command).await
        }
        Command::Explain(args) => {
            let store = open(&config).await?;
            commands::explain::run(store.as_ref(), &config, args, change.at()).await
        }
        Command::Db(command) => commands::db::run(command, &config.database_url).await,
        // Answered in `main` before any configuration is read.
        Command::Completions { .. } | Command::Man => Ok(()),
    }
}

/// The database every command except `serve` works on.
async fn open(config: &Config) -> Result<Arc<dyn Store>, CommandError> {
    let options = tokengate_server::serve::store_options(config);
    Ok(tokengate_store::open_with(&config.database_url, &options).await?)
}
