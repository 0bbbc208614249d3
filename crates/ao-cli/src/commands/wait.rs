//! `ao wait`: until a session reaches a state.

use std::process::ExitCode;
use std::time::Duration;

use ao_core::manager::{parse_until, UNTIL_NOT_ACTIVE, WAIT_POLL_INTERVAL};
use ao_core::session::Activity;
use ao_core::target::Target;
use clap::Args;

use crate::cli::Cli;
use crate::UsageError;

/// Wait until a session reaches a state (default: until it stops working).
#[derive(Debug, Args)]
#[command(
    after_help = "Exits 0 once the state is reached, 1 on timeout or if the session exits first.\n\nExamples:\n  ao wait my-project/agent-1 --until ready --timeout 600\n  ao wait agent-1 --until waiting_input && ao permit agent-1"
)]
pub struct WaitArgs {
    /// project/name, or a name unique across projects.
    pub target: Target,
    /// The state to wait for (repeatable; default: anything but active). `ready` also accepts
    /// `idle`.
    #[arg(long, value_parser = parse_until, value_name = "STATE")]
    pub until: Vec<Activity>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 3600.0, value_name = "SECS")]
    pub timeout: f64,
}

/// `ao wait`: prints the state reached.
pub async fn run(cli: &Cli, args: &WaitArgs) -> anyhow::Result<ExitCode> {
    if !(args.timeout.is_finite() && args.timeout >= 0.0) {
        return Err(UsageError(format!(
            "--timeout {} is not a number of seconds",
            args.timeout
        ))
        .into());
    }
    let until: Vec<Activity> = if args.until.is_empty() {
        UNTIL_NOT_ACTIVE.to_vec()
    } else {
        args.until.clone()
    };
    let mgr = super::manager(cli).await?;
    let status = mgr
        .wait(
            &args.target,
            &until,
            Duration::from_secs_f64(args.timeout),
            WAIT_POLL_INTERVAL,
        )
        .await?;
    println!("{}: {}", status.record.address, status.activity);
    Ok(ExitCode::SUCCESS)
}
