//! `ao fork`: a new session from another's conversation and work.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;
use ao_core::manager::ForkOptions;
use ao_core::session::RuntimeKind;
use ao_core::target::Target;
use clap::Args;

use crate::cli::Cli;

/// Start a new session from another's conversation and work.
#[derive(Debug, Args)]
#[command(
    after_help = "The fork gets a work tree of its own on a new branch from the source's last commit, with the source's uncommitted changes (new files too) carried over as uncommitted changes; the source is left as it was.\n\nExamples:\n  ao fork my-project/agent-1 \"Try it with a hash map instead\"\n  ao fork agent-1 --name retry --at msg_216086470001JdqdpdDtKS1Ute\n  ao show agent-1 --json | jq -r '.messages[].id'"
)]
pub struct ForkArgs {
    /// The session to fork: project/name, or a name unique across projects.
    pub target: Target,
    /// The fork's first message (none: it waits for `ao send`).
    pub prompt: Option<String>,
    /// A name instead of the next <prefix>-<N>.
    #[arg(long)]
    pub name: Option<String>,
    /// Keep only the messages before this one (a message id, as `ao show` lists them).
    #[arg(long, value_name = "MESSAGE_ID")]
    pub at: Option<String>,
    /// tmux or process (default: the source's runtime).
    #[arg(long, value_parser = super::spawn::parse_runtime)]
    pub runtime: Option<RuntimeKind>,
}

/// `ao fork`: prints the new session's address, as `ao spawn` does.
pub async fn run(cli: &Cli, args: &ForkArgs) -> anyhow::Result<ExitCode> {
    let mgr = super::manager(cli).await?;
    let spinner = crate::progress::Spinner::start(format!("ao fork {}", args.target));
    let forked = mgr
        .fork(
            ForkOptions {
                source: args.target.clone(),
                name: args.name.clone(),
                at: args.at.clone(),
                runtime: args.runtime,
                prompt: args.prompt.clone(),
            },
            &|step| {
                if let Some(s) = &spinner {
                    s.set(step.to_string());
                }
            },
        )
        .await;
    drop(spinner);
    let s = forked.with_context(|| format!("cannot fork {}", args.target))?;
    writeln!(io::stdout().lock(), "{}", s.address)?;
    eprintln!("ao: {}", ao_core::report::forked(&s, &args.target));
    Ok(ExitCode::SUCCESS)
}
