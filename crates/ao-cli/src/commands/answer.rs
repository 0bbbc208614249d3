//! `ao answer`: answers (or dismisses) a pending question.

use std::process::ExitCode;

use ao_core::manager::QuestionReply;
use ao_core::report;
use ao_core::target::Target;
use clap::Args;

use crate::cli::Cli;

/// Answer a pending question, or dismiss it with --reject.
#[derive(Debug, Args)]
#[command(
    after_help = "Give one ANSWER per question the request asks (an option\'s label, or your own text).\n\nExamples:\n  ao answer my-project/agent-1 blue\n  ao answer agent-1 --request que_1ff0 \"use PostgreSQL\"\n  ao answer agent-1 --reject"
)]
pub struct AnswerArgs {
    /// project/name, or a name unique across projects.
    pub target: Target,
    /// One answer per question asked.
    #[arg(required_unless_present = "reject")]
    pub answers: Vec<String>,
    /// The question to answer (needed when several are pending).
    #[arg(long, value_name = "ID")]
    pub request: Option<String>,
    /// Dismiss the question instead of answering; the agent stops its turn.
    #[arg(long, conflicts_with = "answers")]
    pub reject: bool,
}

/// `ao answer`.
pub async fn run(cli: &Cli, args: &AnswerArgs) -> anyhow::Result<ExitCode> {
    let reply = if args.reject {
        QuestionReply::Dismiss
    } else {
        QuestionReply::Answers(args.answers.clone())
    };
    let mgr = super::manager(cli).await?;
    let (rec, req) = mgr
        .answer(&args.target, args.request.as_deref(), reply)
        .await?;
    println!("{}", report::answered(&rec, &req, args.reject));
    Ok(ExitCode::SUCCESS)
}
