//! `ao attach`: hands the terminal to a session.

use std::process::ExitCode;

use ao_core::target::Target;
use clap::Args;

use crate::cli::Cli;

/// Attach your terminal to a session (tmux: attach or switch-client; process: the agent's own UI).
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  ao attach my-project/agent-1\n  ao attach agent-1")]
pub struct AttachArgs {
    /// project/name, or a name unique across projects.
    pub target: Target,
}

/// `ao attach`: on success, this process becomes the attach.
pub async fn run(cli: &Cli, args: &AttachArgs) -> anyhow::Result<ExitCode> {
    let mgr = super::manager(cli).await?;
    // Interrupted while a lazy session's TUI starts: it goes again, since nobody will look.
    let cmd = tokio::select! {
        cmd = mgr.attach(&args.target) => cmd?,
        _ = tokio::signal::ctrl_c() => {
            if let Ok(rec) = mgr.resolve_one(&args.target).await {
                mgr.close_unwatched_tui(&rec, std::time::Duration::ZERO).await;
            }
            return Ok(ExitCode::from(130));
        }
    };
    let mut child = super::attach_command(&cmd);
    // Hand the terminal over: ao's work is done once the attach starts.
    use std::os::unix::process::CommandExt;
    let err = child.exec();
    Err(anyhow::Error::new(err).context(format!("cannot run {}", cmd.program.display())))
}
