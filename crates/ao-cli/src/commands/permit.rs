//! `ao permit`: answers a pending permission request.

use std::process::ExitCode;

use ao_core::agent::PermitDecision;
use ao_core::report;
use ao_core::target::Target;
use clap::Args;

use crate::cli::Cli;

/// Answer a pending permission request: allow once (default), always, or reject.
#[derive(Debug, Args)]
#[command(
    after_help = "With several requests pending, name one by its id (`ao status` lists them).\n\nExamples:\n  ao permit my-project/agent-1\n  ao permit agent-1 --always\n  ao permit agent-1 --reject per_1fedf2dcb0015MsLj6Nnz08NsT"
)]
pub struct PermitArgs {
    /// project/name, or a name unique across projects.
    pub target: Target,
    /// The request to answer (needed when several are pending).
    pub request_id: Option<String>,
    /// Allow this one call (the default).
    #[arg(long, conflicts_with_all = ["always", "reject"])]
    pub once: bool,
    /// Allow it and, from now on, calls like it in this project (until its server restarts).
    #[arg(long, conflicts_with = "reject")]
    pub always: bool,
    /// Refuse it; the agent stops its turn.
    #[arg(long)]
    pub reject: bool,
}

/// `ao permit`.
pub async fn run(cli: &Cli, args: &PermitArgs) -> anyhow::Result<ExitCode> {
    let decision = if args.always {
        PermitDecision::Always
    } else if args.reject {
        PermitDecision::Reject
    } else {
        PermitDecision::Once
    };
    let mgr = super::manager(cli).await?;
    let (rec, req) = mgr
        .permit(&args.target, decision, args.request_id.as_deref())
        .await?;
    println!("{}", report::permitted(&rec, &req, decision));
    Ok(ExitCode::SUCCESS)
}
