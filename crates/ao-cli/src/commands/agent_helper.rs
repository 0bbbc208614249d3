//! The hidden `ao agent-helper`: a helper process of an agent plugin (the registry runs it).

use std::process::ExitCode;

use clap::Args;

/// Runs a helper process of an agent plugin (what a process-runtime session runs).
#[derive(Debug, Args)]
#[command(hide = true)]
pub struct AgentHelperArgs {
    /// The agent plugin.
    pub agent: String,
    /// The helper and its arguments, as the plugin defines them.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// `ao agent-helper`.
pub async fn run(args: &AgentHelperArgs) -> anyhow::Result<ExitCode> {
    crate::agents::run_helper(&args.agent, &args.args).await?;
    Ok(ExitCode::SUCCESS)
}
