//! `ao watch`: the full-screen live view (the view itself is `crate::watch`).

use std::process::ExitCode;

use ao_core::target::Target;
use clap::Args;

use crate::cli::{parse_seconds, Cli};

/// A live, full-screen view of every session: pick one to permit, answer, send, kill, restore or attach.
#[derive(Debug, Args)]
#[command(
    after_help = "Keys: ↑/↓ select, p permit once, P permit always, x reject, a answer, s send, k kill, r restore, l log, Enter attach, q quit.\nScripts use `ao status --watch --json` instead.\n\nExamples:\n  ao watch\n  ao watch my-project"
)]
pub struct WatchArgs {
    /// A project, project/name, or a name unique across projects (default: all sessions).
    pub target: Option<Target>,
    /// How long to wait for each project's agent, in seconds, before showing what was last
    /// seen of its sessions, marked stale (default 2, or $AO_STATUS_TIMEOUT).
    #[arg(long, value_name = "SECS", env = "AO_STATUS_TIMEOUT", value_parser = parse_seconds)]
    pub timeout: Option<std::time::Duration>,
}

/// `ao watch`.
pub async fn run(cli: &Cli, args: &WatchArgs) -> anyhow::Result<ExitCode> {
    // Checked before the config is read: the answer does not depend on it.
    crate::watch::check_terminal()?;
    let mut mgr = super::manager(cli).await?;
    if let Some(budget) = args.timeout {
        mgr.set_status_budget(budget);
    }
    let target = args.target.clone().unwrap_or(Target::All);
    // A view records what it sees but starts nothing as it goes: a monitor that died is started
    // again here, once, as `ao status` would.
    mgr.ensure_monitors_of(&target).await;
    crate::watch::run(mgr, target).await?;
    Ok(ExitCode::SUCCESS)
}
