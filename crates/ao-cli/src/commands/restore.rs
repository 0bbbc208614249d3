//! `ao restore`: a killed or exited session back on the same conversation.

use std::process::ExitCode;

use ao_core::report;
use ao_core::target::Target;
use clap::Args;

use crate::cli::Cli;

/// Bring a killed or exited session back on the same agent conversation.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  ao restore my-project/agent-1")]
pub struct RestoreArgs {
    /// project/name, or a name unique across projects.
    pub target: Target,
    /// Restore even though the session is over its budget.
    #[arg(long)]
    pub over_budget: bool,
}

/// `ao restore`.
pub async fn run(cli: &Cli, args: &RestoreArgs) -> anyhow::Result<ExitCode> {
    let mgr = super::manager(cli).await?;
    let rec = mgr.restore_with(&args.target, args.over_budget).await?;
    println!("{}", report::restored(&rec));
    Ok(ExitCode::SUCCESS)
}
