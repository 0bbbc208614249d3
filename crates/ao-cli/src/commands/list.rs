//! `ao list`: one line per session, for scripts.

use ao_core::seen::Seen;
use std::io::Write;
use std::process::ExitCode;

use ao_core::target::Target;
use clap::Args;

use crate::cli::Cli;
use crate::output;

/// One line per session: address, activity, runtime, workspace (tab-separated).
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  ao list\n  ao list | cut -f1")]
pub struct ListArgs {}

/// `ao list`.
pub async fn run(cli: &Cli, _: &ListArgs) -> anyhow::Result<ExitCode> {
    let mgr = super::manager(cli).await?;
    let seen = mgr.status(&Target::All).await?;
    let mut out = output::report_out();
    for s in seen.iter().map(Seen::to_status) {
        writeln!(
            out,
            "{}\t{}\t{}\t{}",
            s.id,
            s.activity,
            s.runtime,
            s.workspace.display()
        )?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
