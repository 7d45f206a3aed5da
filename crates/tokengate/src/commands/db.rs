//! `tokengate db copy`: moves an installation between databases (SQLite ⇄ PostgreSQL, or
//! between two of a kind) with `tokengate_store::transfer`, showing progress — a bar on a
//! terminal (indicatif), plain lines otherwise — and printing what was copied and verified.
//! The copying, ordering and verification live in the store crate; this is only the front.

use super::CommandError;
use crate::cli::{CopyArgs, DbCommand};
use crate::output;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use tokengate_store::OpenOptions;
use tokengate_store::transfer::{CopyOptions, Counts, Progress, Stage};

pub async fn run(command: DbCommand, database_url: &str) -> Result<(), CommandError> {
    match command {
        DbCommand::Copy(args) => copy(args).await,
        DbCommand::Backup { file } => {
            let bytes = tokengate_store::backup::backup(database_url, &file).await?;
            crate::output::print_line(&format!("backed up to {} ({bytes} bytes)", file.display()))?;
            Ok(())
        }
    }
}

async fn copy(args: CopyArgs) -> Result<(), CommandError> {
    if args.from == args.to {
        return Err(CommandError::SameDatabase);
    }
    let options = OpenOptions::default();
    let source = tokengate_store::open_backend(&args.from, &options).await?;
    let target = tokengate_store::open_backend(&args.to, &options).await?;
    let copy_options = CopyOptions {
        force: args.force,
        sessions: args.sessions,
    };
    let mut reporter = Reporter::new(std::io::stderr().is_terminal());
    let copied = tokengate_store::transfer::copy(
        source.as_ref(),
        target.as_ref(),
        copy_options,
        &mut |progress| reporter.report(progress),
    )
    .await;
    reporter.finish();
    output::print_line(&summary(&copied?, args.sessions))?;
    Ok(())
}

/// The closing line: what was copied, verified by counting the target.
fn summary(counts: &Counts, sessions: bool) -> String {
    let settings = if counts.settings > 0 {
        "settings"
    } else {
        "default settings"
    };
    let sessions = if sessions {
        format!(", {} sessions", counts.sessions)
    } else {
        String::new()
    };
    format!(
        "copied {} users, {} groups, {} tokens, {settings}, {} audit records{sessions}; the target's counts match",
        counts.users, counts.groups, counts.tokens, counts.audit
    )
}

/// Shows progress on stderr: one bar per stage on a terminal, otherwise a line when a stage
/// ends and every `LINE_EVERY` records in between.
struct Reporter {
    terminal: bool,
    bar: Option<(Stage, ProgressBar)>,
    last_line: u64,
}

const LINE_EVERY: u64 = 10_000;

impl Reporter {
    fn new(terminal: bool) -> Self {
        Self {
            terminal,
            bar: None,
            last_line: 0,
        }
    }

    fn report(&mut self, progress: Progress) {
        if self.terminal {
            self.show_bar(progress);
        } else {
            self.show_line(progress);
        }
    }

    fn show_bar(&mut self, progress: Progress) {
        let same_stage = matches!(&self.bar, Some((stage, _)) if *stage == progress.stage);
        if !same_stage {
            self.finish();
            let bar = ProgressBar::new(progress.total);
            if let Ok(style) =
                ProgressStyle::with_template("{msg:>14} [{bar:40}] {pos}/{len} ({eta})")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(progress.stage.as_str());
            self.bar = Some((progress.stage, bar));
        }
        if let Some((_, bar)) = &self.bar {
            bar.set_position(progress.done);
        }
    }

    fn show_line(&mut self, progress: Progress) {
        let stage_done = progress.done >= progress.total;
        if stage_done || progress.done >= self.last_line + LINE_EVERY {
            self.last_line = if stage_done { 0 } else { progress.done };
            // Progress is a courtesy: a closed stderr must not stop the copy.
            let _ = output::note(&format!(
                "copying {}: {}/{}",
                progress.stage.as_str(),
                progress.done,
                progress.total
            ));
        }
    }

    fn finish(&mut self) {
        if let Some((_, bar)) = self.bar.take() {
            bar.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_names_every_kind_copied() {
        let counts = Counts {
            users: 2,
            tokens: 3,
            settings: 1,
            audit: 7,
            sessions: 1,
            groups: 4,
        };
        assert_eq!(
            summary(&counts, true),
            "copied 2 users, 4 groups, 3 tokens, settings, 7 audit records, 1 sessions; the target's counts match"
        );
        let defaults = Counts {
            settings: 0,
            ..counts
        };
        assert!(summary(&defaults, false).contains("default settings, 7 audit records;"));
    }
}
