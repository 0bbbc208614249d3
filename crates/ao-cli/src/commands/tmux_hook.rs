//! The hidden `ao tmux-hook`: what tmux runs when a client detaches.

use std::process::ExitCode;

use clap::Args;

/// Closes the TUI of each lazy tmux session no client is attached to (run by tmux's hook).
#[derive(Debug, Args)]
#[command(hide = true)]
pub struct TmuxHookArgs {
    /// The tmux server's `-L` socket name; none for the default server.
    #[arg(long)]
    pub socket: Option<String>,
    /// Ignored: the hook of a session an older ao made names it, and the hook now sweeps
    /// every session of the server.
    #[arg(long, hide = true)]
    pub session: Option<String>,
}

/// `ao tmux-hook`.
pub async fn run(args: &TmuxHookArgs) -> anyhow::Result<ExitCode> {
    crate::pane::tmux_hook(args.socket.clone()).await?;
    Ok(ExitCode::SUCCESS)
}
