//! `ao`: argument parsing and presentation over ao-core and the agent plugins.
//!
//! Exit codes: 0 success, 1 a runtime failure, 2 bad usage or bad config.

mod agents;
mod cli;
mod dashboard;
mod doctor;
mod init;
mod interact;
mod notify;
mod output;
mod pane;
mod progress;
mod show;
mod status_watch;
mod trust;
mod watch;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use ao_core::agent::Agent;
use ao_core::clock::SystemClock;
use ao_core::config::Config;
use ao_core::home::StateHome;
use ao_core::manager::{AoBinary, KillOptions, SessionManager, SpawnOptions};
use ao_core::runtime::TmuxRuntime;
use ao_core::seen::Seen;

use crate::cli::{Cli, Command, NotifyCommand};

/// An error the user must fix in their command line or config: exit code 2.
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// What `ao status` keeps of its budget for after the observation: composing, the store's note of
/// transitions, the output.
const AFTER_THE_OBSERVATION: std::time::Duration = std::time::Duration::from_millis(150);

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

/// The process that attaches a terminal to a session (`ao attach`, and Enter in `ao watch`).
fn attach_command(cmd: &ao_core::runtime::AttachCommand) -> std::process::Command {
    let mut child = std::process::Command::new(&cmd.program);
    child
        .args(&cmd.args)
        .envs(cmd.env.iter().map(|(k, v)| (k, v)));
    for k in &cmd.env_remove {
        child.env_remove(k);
    }
    child
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

async fn manager(cli: &Cli) -> anyhow::Result<SessionManager> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let home = StateHome::from_env()?;
    let agents = agents::registry(&home);
    let file = Config::locate(cli.config.as_deref(), &cwd).map_err(ao_core::Error::from)?;
    let timed = ao_core::timing::phase(|| "config".into());
    let config = Config::load_in(&file, config_context(&agents)).map_err(ao_core::Error::from)?;
    drop(timed);
    // A pane's view draws on its terminal, and a hook's output is dropped: said elsewhere.
    if !matches!(
        cli.command,
        Command::PaneView { .. } | Command::TmuxHook { .. }
    ) {
        warn_cleartext_servers(&config);
    }
    let _timed = ao_core::timing::phase(|| "store open".into());
    Ok(SessionManager::new(
        config,
        home,
        agents,
        TmuxRuntime::from_env(),
        Arc::new(SystemClock),
    )
    .await?
    .with_ao_binary(this_binary(&file)))
}

/// Says, once per run, of each project whose server's password would cross a network
/// unencrypted (a plain `http://` URL that is not loopback), as `ao dashboard --listen` does of
/// its own.
fn warn_cleartext_servers(config: &Config) {
    for project in &config.projects {
        let ao_core::remote::Location::Url(server) = &project.location else {
            continue;
        };
        if server.sends_password_in_clear() {
            eprintln!(
                "ao: WARNING: project {} reaches its OpenCode server at {} over PLAIN HTTP: its \
                 password and everything the agent says cross the network unencrypted, readable \
                 by anyone on the way.\n\
                 ao: Serve it over https (server.caFile names a private CA), or reach it through \
                 an SSH tunnel: `host:` instead of `server:`, or `ssh -L PORT:127.0.0.1:PORT \
                 HOST` and server.url http://127.0.0.1:PORT.",
                project.name, server.url
            );
        }
    }
}

/// This binary and the arguments that make a program it starts (a monitor, a pane's view) read
/// the same config file (made absolute: those run in other directories).
fn this_binary(config: &std::path::Path) -> AoBinary {
    let config = std::fs::canonicalize(config).unwrap_or_else(|_| config.to_path_buf());
    AoBinary {
        program: std::env::current_exe().unwrap_or_else(|_| "ao".into()),
        global_args: vec!["--config".into(), config.to_string_lossy().into_owned()],
    }
}

/// What configs are read against: the process environment and the agents this binary has.
fn config_context(agents: &[Arc<dyn Agent>]) -> ao_core::config::Context<'_> {
    ao_core::config::Context {
        agents,
        ..ao_core::config::Context::process()
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::PaneView { address } => {
            pane::run(manager(&cli).await?, address).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::TmuxHook { socket, .. } => {
            pane::tmux_hook(socket.clone()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::AgentHelper { agent, args } => {
            agents::run_helper(agent, args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Spawn(args) => {
            let prompt = args.prompt_text()?;
            let mgr = manager(&cli).await?;
            let spinner = progress::Spinner::start(format!("ao spawn {}", args.project));
            let spawned = mgr
                .spawn_with_progress(
                    SpawnOptions {
                        project: args.project.clone(),
                        prompt,
                        runtime: args.runtime,
                        model: args.model.clone(),
                        agent_mode: args.agent.clone(),
                        name: args.name.clone(),
                    },
                    &|step| {
                        if let Some(s) = &spinner {
                            s.set(step.to_string());
                        }
                    },
                )
                .await;
            drop(spinner);
            let spawned = spawned
                .with_context(|| format!("cannot spawn a session in project {}", args.project))?;
            let s = &spawned.session;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", s.address)?;
            eprintln!("ao: {}", ao_core::report::spawned(s));
            Ok(ExitCode::SUCCESS)
        }
        Command::Status(args) => {
            let mut mgr = manager(&cli).await?;
            if let Some(budget) = args.timeout {
                mgr.set_status_budget(budget);
            }
            if args.watch {
                status_watch::run(mgr, args.target.clone(), args.json).await?;
                return Ok(ExitCode::SUCCESS);
            }
            // The budget is the whole call's, as the person waiting counts it.
            let budget = args
                .timeout
                .unwrap_or(ao_core::manager::DEFAULT_STATUS_BUDGET);
            mgr.set_status_deadline(process_start() + budget.saturating_sub(AFTER_THE_OBSERVATION));
            let timed = ao_core::timing::phase(|| "status".into());
            let seen = mgr.status(args.target.as_deref()).await?;
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
        Command::Watch { target, timeout } => {
            // Checked before the config is read: the answer does not depend on it.
            watch::check_terminal()?;
            let mut mgr = manager(&cli).await?;
            if let Some(budget) = timeout {
                mgr.set_status_budget(*budget);
            }
            watch::run(mgr, target.clone()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Dashboard(args) => {
            let mut mgr = manager(&cli).await?;
            if let Some(budget) = args.timeout {
                mgr.set_status_budget(budget);
            }
            dashboard::run(mgr, args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Show { target, json } => {
            let mgr = manager(&cli).await?;
            let view = mgr.show(target).await?;
            let mut out = output::report_out();
            if *json {
                serde_json::to_writer_pretty(&mut out, &view)?;
                writeln!(out)?;
            } else {
                show::show_text(&mut out, &view, output::use_color())?;
            }
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Diff { target, git_args } => {
            let mgr = manager(&cli).await?;
            let diff = mgr.diff(target, git_args).await?;
            // git pages and colours as it does for `git diff`: it gets the terminal.
            let status = diff
                .to_command()
                .status()
                .context("cannot run git; is it installed?")?;
            Ok(match status.code() {
                Some(0) => ExitCode::SUCCESS,
                Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
                None => ExitCode::FAILURE,
            })
        }
        Command::Fork(args) => show::fork(&manager(&cli).await?, args).await,
        Command::List => {
            let mgr = manager(&cli).await?;
            let statuses: Vec<_> = mgr
                .status(None)
                .await?
                .iter()
                .map(Seen::to_status)
                .collect();
            let mut out = output::report_out();
            for s in &statuses {
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
        Command::Attach { target } => {
            let mgr = manager(&cli).await?;
            // Interrupted while a lazy session's TUI starts: it goes again, since nobody will look.
            let cmd = tokio::select! {
                cmd = mgr.attach(target) => cmd?,
                _ = tokio::signal::ctrl_c() => {
                    if let Ok(rec) = mgr.resolve_one(target).await {
                        mgr.close_unwatched_tui(&rec, std::time::Duration::ZERO).await;
                    }
                    return Ok(ExitCode::from(130));
                }
            };
            let mut child = attach_command(&cmd);
            // Hand the terminal over: ao's work is done once the attach starts.
            use std::os::unix::process::CommandExt;
            let err = child.exec();
            Err(anyhow::Error::new(err).context(format!("cannot run {}", cmd.program.display())))
        }
        Command::Send {
            target,
            message,
            over_budget,
        } => {
            let mgr = manager(&cli).await?;
            interact::send(&mgr, target, message.as_deref(), *over_budget).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Permit(args) => {
            interact::permit(&manager(&cli).await?, args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Answer(args) => {
            interact::answer(&manager(&cli).await?, args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Wait(args) => {
            interact::wait(&manager(&cli).await?, args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Logs {
            target,
            follow,
            json,
        } => {
            interact::logs(&manager(&cli).await?, target, *follow, *json).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Restore {
            target,
            over_budget,
        } => {
            interact::restore(&manager(&cli).await?, target, *over_budget).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Notify(NotifyCommand::Test { project }) => {
            notify::test(&manager(&cli).await?, project.as_deref()).await
        }
        Command::Monitor { project } => {
            notify::monitor(manager(&cli).await?, project).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Kill {
            target,
            purge,
            force,
        } => {
            let mgr = manager(&cli).await?;
            let opts = KillOptions {
                purge: *purge,
                force: *force,
            };
            let report = mgr.kill(target, opts).await?;
            let mut out = std::io::stdout().lock();
            for k in &report.sessions {
                write!(out, "{}", ao_core::report::killed(k))?;
            }
            let mut err = std::io::stderr().lock();
            for k in &report.sessions {
                for problem in &k.problems {
                    writeln!(err, "ao: {}: {problem}", k.id)?;
                }
            }
            for problem in &report.release_problems {
                writeln!(err, "ao: {problem}")?;
            }
            Ok(if report.complete() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Init { path } => init::run(&cli, path.as_deref()).await,
        Command::Doctor => doctor::run(&cli).await,
        Command::Trust(args) => trust::run(&cli, args).await,
        Command::Completions { shell } => {
            std::io::stdout()
                .lock()
                .write_all(&cli::completions(*shell))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
