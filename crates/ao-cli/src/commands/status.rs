//! `ao status`: what each session is doing and what it has cost, once or `--watch`ed.

use ao_core::seen::Seen;
use std::io::Write;
use std::process::ExitCode;

use ao_core::target::Target;
use clap::Args;

use crate::cli::{parse_seconds, Cli};
use crate::output;

/// What `ao status` keeps of its budget for after the observation: composing, the store's note of
/// transitions, the output.
const AFTER_THE_OBSERVATION: std::time::Duration = std::time::Duration::from_millis(150);

/// Show what each session is doing and what it has cost.
#[derive(Debug, Args)]
#[command(
    after_help = "TARGET is a project, project/name, or a name unique across projects.\n\nExamples:\n  ao status\n  ao status my-project --json\n  ao status --watch --json | jq -c '{id, activity, activity_since}'"
)]
pub struct StatusArgs {
    /// A project, project/name, or a name unique across projects (default: all sessions).
    pub target: Option<Target>,
    /// Print JSON for scripts (with --watch: one object per line).
    #[arg(long)]
    pub json: bool,
    /// How long to wait for each project's agent, in seconds, before showing what was last seen
    /// of its sessions, marked stale (default 2, or $AO_STATUS_TIMEOUT).
    #[arg(long, value_name = "SECS", env = "AO_STATUS_TIMEOUT", value_parser = parse_seconds)]
    pub timeout: Option<std::time::Duration>,
    /// Keep watching: redraw the table on each change; with --json, print every session, then a
    /// session again each time any field of it changes (with `activity_since`). Ends on Ctrl-C.
    #[arg(long)]
    pub watch: bool,
}

/// `ao status`.
pub async fn run(cli: &Cli, args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let target = args.target.clone().unwrap_or(Target::All);
    let mut mgr = super::manager(cli).await?;
    if let Some(budget) = args.timeout {
        mgr.set_status_budget(budget);
    }
    if args.watch {
        // A live view records what it sees but starts nothing as it goes: a monitor that died is
        // started again here, once, as the plain `ao status` does.
        mgr.ensure_monitors_of(&target).await;
        crate::status_watch::run(mgr, target, args.json).await?;
        return Ok(ExitCode::SUCCESS);
    }
    // The budget is the whole call's, as the person waiting counts it.
    let budget = args
        .timeout
        .unwrap_or(ao_core::manager::DEFAULT_STATUS_BUDGET);
    mgr.set_status_deadline(crate::process_start() + budget.saturating_sub(AFTER_THE_OBSERVATION));
    let timed = ao_core::timing::phase(|| "status".into());
    let seen = mgr.status(&target).await?;
    drop(timed);
    let statuses: Vec<_> = seen.iter().map(Seen::to_status).collect();
    let _timed = ao_core::timing::phase(|| "output".into());
    let mut out = output::report_out();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &statuses)?;
        writeln!(out)?;
    } else {
        output::status_table(
            &mut out,
            &statuses,
            output::use_color(),
            output::table_width(),
        )?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
