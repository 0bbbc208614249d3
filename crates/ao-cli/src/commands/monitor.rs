//! The hidden `ao monitor <project>`: wiring only; the monitor is ao-core's.

use std::process::ExitCode;

use clap::Args;

use crate::cli::Cli;

/// Runs the monitor of a project (started by ao itself: it notifies and enforces budgets).
#[derive(Debug, Args)]
#[command(hide = true)]
pub struct MonitorArgs {
    /// The project it watches.
    pub project: String,
}

/// `ao monitor <project>`.
pub async fn run(cli: &Cli, args: &MonitorArgs) -> anyhow::Result<ExitCode> {
    let mgr = super::manager(cli).await?;
    ao_core::monitor::run(mgr, args.project.clone()).await?;
    Ok(ExitCode::SUCCESS)
}
