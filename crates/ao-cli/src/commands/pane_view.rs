//! The hidden `ao pane-view <address>`: what the pane of a lazy tmux session runs (the view is
//! `crate::pane`).

use std::process::ExitCode;

use ao_core::target::Target;
use clap::Args;

use crate::cli::Cli;

/// Runs ao's own live view of a session (what the pane of a lazy tmux session runs).
#[derive(Debug, Args)]
#[command(hide = true)]
pub struct PaneViewArgs {
    /// The session's address.
    pub address: Target,
}

/// `ao pane-view`: runs until SIGTERM or SIGHUP.
pub async fn run(cli: &Cli, args: &PaneViewArgs) -> anyhow::Result<ExitCode> {
    crate::pane::run(super::manager(cli).await?, &args.address).await?;
    Ok(ExitCode::SUCCESS)
}
