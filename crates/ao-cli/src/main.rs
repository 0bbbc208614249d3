//! `ao`: argument parsing and presentation over ao-core and the agent plugins.
//!
//! Exit codes: 0 success, 1 a runtime failure, 2 bad usage or bad config.

mod agents;
mod cli;
mod commands;
mod output;
mod pane;
mod progress;
mod status_watch;
mod watch;

use std::io::Write;
use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// An error the user must fix in their command line or config: exit code 2.
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// When this process started (near enough: the first thing `main` does).
fn process_start() -> std::time::Instant {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *START.get_or_init(std::time::Instant::now)
}

fn main() -> ExitCode {
    process_start();
    let _timed = ao_core::timing::phase(|| "main".into());
    let cli = match cli::parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(2),
            };
        }
    };
    output::set_color_choice(cli.color);
    export_config(&cli);
    let started = ao_core::timing::phase(|| "async runtime start".into());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ao: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    drop(started);
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(err) => report(&err),
    }
}

/// Names the config this `ao` runs under in `AO_CONFIG`, as an absolute path, for every program
/// it starts (a project's server, a session, a monitor) and what they start in turn: an agent's
/// `ao mcp` runs in a work tree under the state home, above which no config is found. Done
/// before the async runtime starts any thread, since changing the environment is safe only while
/// one thread runs.
fn export_config(cli: &Cli) {
    let Ok(cwd) = std::env::current_dir() else {
        return;
    };
    let Ok(file) = ao_core::config::Config::locate(cli.config.as_deref(), &cwd) else {
        return;
    };
    if let Ok(file) = std::fs::canonicalize(file) {
        std::env::set_var("AO_CONFIG", file);
    }
}

fn report(err: &anyhow::Error) -> ExitCode {
    // `ao status | head`: a closed pipe is a normal end, not an error.
    if err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    }) {
        return ExitCode::SUCCESS;
    }
    let usage = err.chain().any(|c| {
        c.downcast_ref::<UsageError>().is_some()
            || c.downcast_ref::<ao_core::Error>()
                .is_some_and(|e| e.is_usage())
            || c.downcast_ref::<ao_core::agent::AgentError>()
                .is_some_and(|e| e.is_usage())
            || c.downcast_ref::<ao_core::error::StateError>()
                .is_some_and(|e| e.is_usage())
    });
    // An error may carry what a server or an agent said (an error body, a title): what would
    // steer the terminal shows as escapes.
    let text = error_text(err);
    let text = ao_core::visible::visible(&text);
    // A config error is one line per problem, each a file:line:column a person can jump to.
    let per_line = err.chain().any(|c| {
        matches!(
            c.downcast_ref::<ao_core::Error>(),
            Some(ao_core::Error::Config(_))
        )
    });
    let mut stderr = std::io::stderr().lock();
    if per_line {
        for line in text.lines() {
            let _ = writeln!(stderr, "ao: {line}");
        }
    } else {
        let _ = writeln!(stderr, "ao: {text}");
    }
    ExitCode::from(if usage { 2 } else { 1 })
}

/// An error and its causes, each said once.
fn error_text(err: &anyhow::Error) -> String {
    let mut text = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text = format!("{text}: {cause}");
        }
    }
    text
}

/// Runs the command the line names.
async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    use commands::*;
    match &cli.command {
        Command::Init(args) => init::run(&cli, args).await,
        Command::Spawn(args) => spawn::run(&cli, args).await,
        Command::Status(args) => status::run(&cli, args).await,
        Command::Watch(args) => watch::run(&cli, args).await,
        Command::Dashboard(args) => dashboard::run(&cli, args).await,
        Command::Mcp(args) => mcp::run(&cli, args).await,
        Command::Show(args) => show::run(&cli, args).await,
        Command::Diff(args) => diff::run(&cli, args).await,
        Command::Fork(args) => fork::run(&cli, args).await,
        Command::List(args) => list::run(&cli, args).await,
        Command::Attach(args) => attach::run(&cli, args).await,
        Command::Kill(args) => kill::run(&cli, args).await,
        Command::Doctor(args) => doctor::run(&cli, args).await,
        Command::Trust(args) => trust::run(&cli, args).await,
        Command::Completions(args) => completions::run(args),
        Command::Send(args) => send::run(&cli, args).await,
        Command::Permit(args) => permit::run(&cli, args).await,
        Command::Answer(args) => answer::run(&cli, args).await,
        Command::Wait(args) => wait::run(&cli, args).await,
        Command::Logs(args) => logs::run(&cli, args).await,
        Command::Restore(args) => restore::run(&cli, args).await,
        Command::Notify(command) => notify::run(&cli, command).await,
        Command::Monitor(args) => monitor::run(&cli, args).await,
        Command::PaneView(args) => pane_view::run(&cli, args).await,
        Command::TmuxHook(args) => tmux_hook::run(args).await,
        Command::AgentHelper(args) => agent_helper::run(args).await,
    }
}
