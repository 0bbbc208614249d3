//! `ao send`: a follow-up message to a session.

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context;
use ao_core::report;
use ao_core::target::Target;
use clap::Args;

use crate::cli::Cli;
use crate::UsageError;

/// Send a follow-up message to a session.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  ao send my-project/agent-1 \"Now add a test\"\n  ao send agent-1 - < notes.md"
)]
pub struct SendArgs {
    /// project/name, or a name unique across projects.
    pub target: Target,
    /// The message; `-` or nothing reads it from standard input.
    pub message: Option<String>,
    /// Send even though the session is over its budget: the turn it starts runs to its end.
    #[arg(long)]
    pub over_budget: bool,
}

/// `ao send`.
pub async fn run(cli: &Cli, args: &SendArgs) -> anyhow::Result<ExitCode> {
    let text = match args.message.as_deref() {
        Some(m) if m != "-" => m.to_string(),
        _ => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("cannot read the message from standard input")?;
            s
        }
    };
    if text.trim().is_empty() {
        return Err(UsageError(
            "the message is empty; give it as an argument or on standard input".into(),
        )
        .into());
    }
    let mgr = super::manager(cli).await?;
    let rec = mgr.send_with(&args.target, &text, args.over_budget).await?;
    eprintln!("ao: {}", report::sent(&rec));
    Ok(ExitCode::SUCCESS)
}
