//! `ao mcp`: ao as an MCP server on standard input and output; the server is the ao-mcp crate's.

use std::process::ExitCode;
use std::sync::Arc;

use ao_core::target::Target;
use clap::Args;

use crate::cli::{parse_seconds, Cli};

/// Serve ao to an agent over the Model Context Protocol (stdio), so that it can spawn sessions,
/// wait for them and read what they did.
#[derive(Debug, Args)]
#[command(
    after_help = "Standard output carries the protocol alone; diagnostics go to standard error. It serves until the client closes standard input.\n\nExamples:\n  ao mcp\n  ao mcp --allow-replies   # the client may also answer sessions' permission requests and questions\n  claude mcp add ao -- ao mcp"
)]
pub struct McpArgs {
    /// Also serve the permit and answer tools: the client may then approve other sessions' tool
    /// calls and answer their questions, which otherwise only a person does.
    #[arg(long)]
    pub allow_replies: bool,
    /// How long to wait for each project's agent, in seconds, before showing what was last
    /// seen of its sessions, marked stale (default 2, or $AO_STATUS_TIMEOUT).
    #[arg(long, value_name = "SECS", env = "AO_STATUS_TIMEOUT", value_parser = parse_seconds)]
    pub timeout: Option<std::time::Duration>,
}

/// `ao mcp`.
pub async fn run(cli: &Cli, args: &McpArgs) -> anyhow::Result<ExitCode> {
    let mut mgr = super::manager(cli).await?;
    if let Some(budget) = args.timeout {
        mgr.set_status_budget(budget);
    }
    // A view records what it sees but starts nothing as it goes: a monitor that died is started
    // again here, once, as `ao status` would.
    mgr.ensure_monitors_of(&Target::All).await;
    let options = ao_mcp::Options {
        allow_replies: args.allow_replies,
        ..ao_mcp::Options::default()
    };
    ao_mcp::serve_stdio(Arc::new(mgr), options).await?;
    Ok(ExitCode::SUCCESS)
}
