//! `ao diff`: a session's changes, by git in its work tree.

use std::process::ExitCode;

use anyhow::Context;
use ao_core::target::Target;
use clap::Args;

use crate::cli::Cli;

/// A session's changes against the commit its work tree started from, committed and not.
#[derive(Debug, Args)]
#[command(
    after_help = "Runs git diff in the session's work tree (paged like git diff); arguments after -- go to git.\n\nExamples:\n  ao diff my-project/agent-1\n  ao diff agent-1 -- --stat\n  ao diff agent-1 -- -- src/"
)]
pub struct DiffArgs {
    /// project/name, or a name unique across projects.
    pub target: Target,
    /// Arguments for git diff, after `--` (e.g. `--stat`, `-- PATH`).
    #[arg(last = true, allow_hyphen_values = true)]
    pub git_args: Vec<String>,
}

/// `ao diff`: exits as git does.
pub async fn run(cli: &Cli, args: &DiffArgs) -> anyhow::Result<ExitCode> {
    let mgr = super::manager(cli).await?;
    let diff = mgr.diff(&args.target, &args.git_args).await?;
    // git pages and colours as it does for `git diff`: it gets the terminal.
    let status = diff
        .to_command()
        .status()
        .context("cannot run git; is it installed?")?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}
