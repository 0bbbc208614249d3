//! `ao completions`: a shell's completion script.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, CommandFactory};

use crate::cli::Cli;

/// Print a shell completion script.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  ao completions bash > ~/.local/share/bash-completion/completions/ao\n  ao completions zsh > \"${fpath[1]}/_ao\"\n  ao completions fish > ~/.config/fish/completions/ao.fish"
)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `ao completions`.
pub fn run(args: &CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "ao", &mut script);
    std::io::stdout().lock().write_all(&script)?;
    Ok(ExitCode::SUCCESS)
}
