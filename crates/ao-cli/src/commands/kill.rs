//! `ao kill`: stops sessions, keeping a work tree that holds work.

use std::io::Write;
use std::process::ExitCode;

use ao_core::manager::KillOptions;
use ao_core::target::Target;
use clap::Args;

use crate::cli::Cli;

/// Stop a session; a work tree with uncommitted changes or unmerged commits is kept.
#[derive(Debug, Args)]
#[command(
    after_help = "A clean work tree is removed with its branch ao/<name>. One that holds uncommitted changes or commits on no other branch is kept, and ao says where it is; --force removes it anyway (its uncommitted changes are lost; a branch with commits of its own is kept).\n\nExamples:\n  ao kill my-project/agent-1\n  ao kill my-project            # every session of the project\n  ao kill agent-1 --purge --force"
)]
pub struct KillArgs {
    /// project/name, a unique name, or a project (all its sessions).
    pub target: Target,
    /// Also delete the agent's conversation and forget the session.
    #[arg(long)]
    pub purge: bool,
    /// Remove the work tree even if it holds uncommitted changes.
    #[arg(long)]
    pub force: bool,
}

/// `ao kill`: exits 1 when something asked could not be done.
pub async fn run(cli: &Cli, args: &KillArgs) -> anyhow::Result<ExitCode> {
    let mgr = super::manager(cli).await?;
    let opts = KillOptions {
        purge: args.purge,
        force: args.force,
    };
    let report = mgr.kill(&args.target, opts).await?;
    let mut out = std::io::stdout().lock();
    for k in &report.sessions {
        write!(out, "{}", ao_core::report::killed(k))?;
    }
    let mut err = std::io::stderr().lock();
    for problem in ao_core::report::kill_problems(&report) {
        writeln!(err, "ao: {problem}")?;
    }
    Ok(if report.complete() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
