//! One file per command: its arguments (clap's `Args`, with its help), and `run`, its handler.
//! `main.rs` parses and dispatches; what several commands share (opening the manager) is here.

pub mod agent_helper;
pub mod answer;
pub mod attach;
pub mod completions;
pub mod dashboard;
pub mod diff;
pub mod doctor;
pub mod fork;
pub mod init;
pub mod kill;
pub mod list;
pub mod logs;
pub mod mcp;
pub mod monitor;
pub mod notify;
pub mod pane_view;
pub mod permit;
pub mod restore;
pub mod send;
pub mod show;
pub mod spawn;
pub mod status;
pub mod tmux_hook;
pub mod trust;
pub mod wait;
pub mod watch;

use std::sync::Arc;

use anyhow::Context;

use ao_core::clock::SystemClock;
use ao_core::config::{AgentKeys, Config};
use ao_core::home::StateHome;
use ao_core::manager::{AoBinary, SessionManager};
use ao_core::runtime::TmuxRuntime;

use crate::cli::{Cli, Command};

/// The session manager over the config the command line names, with the store open.
pub async fn manager(cli: &Cli) -> anyhow::Result<SessionManager> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let home = StateHome::from_env()?;
    let agents = crate::agents::registry(&home);
    let file = Config::locate(cli.config.as_deref(), &cwd).map_err(ao_core::Error::from)?;
    let timed = ao_core::timing::phase(|| "config".into());
    let config = Config::load_in(&file, config_context(&agents)).map_err(ao_core::Error::from)?;
    drop(timed);
    // A pane's view draws on its terminal, and a hook's output is dropped: said elsewhere.
    if !matches!(cli.command, Command::PaneView(_) | Command::TmuxHook(_)) {
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
pub fn config_context(agents: &dyn AgentKeys) -> ao_core::config::Context<'_> {
    ao_core::config::Context {
        agents,
        ..ao_core::config::Context::process()
    }
}

/// The process that attaches a terminal to a session (`ao attach`, and Enter in `ao watch`).
pub fn attach_command(cmd: &ao_core::runtime::AttachCommand) -> std::process::Command {
    let mut child = std::process::Command::new(&cmd.program);
    child
        .args(&cmd.args)
        .envs(cmd.env.iter().map(|(k, v)| (k, v)));
    for k in &cmd.env_remove {
        child.env_remove(k);
    }
    child
}
