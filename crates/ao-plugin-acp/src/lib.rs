//! Any agent that speaks the Agent Client Protocol (ACP: JSON-RPC over the agent's stdio), for ao.
//!
//! It depends on ao's plugin API (`ao-agent`) and the protocol's Rust SDK alone.
//!
//! An ACP agent lives only as long as the client that holds its stdio, and a session outlives
//! every `ao` command. So each session runs a small host (`ao agent-helper acp host …`): the
//! detached process of a process-runtime session, or the process in a tmux session's pane. The
//! host starts the agent, speaks the protocol, answers permission requests as configured, and
//! records what the protocol says in the session's private directory ([`record`]). The plugin
//! reads that record for `ao status` and asks the host nothing; it reaches the host through its
//! control socket ([`control`]) for `ao send`, `ao permit` and `ao kill`.
//!
//! - `agent`: the [`Agent`](ao_agent::agent::Agent) implementation, [`AcpPlugin`];
//! - [`settings`]: `agentConfig`'s `command`, `env` and `price`, checked and typed;
//! - [`files`]: the plugin's reads and writes of the host's files; [`observe`]: the activity rules
//!   over the host's record; [`transcript`]: the conversation file as ao's transcript;
//! - [`client`]: the control socket's client side; [`feed`]: the project's change feed (inotify);
//! - [`view`]: `ao attach`'s live view of the conversation; [`render`]: the conversation for people,
//!   as that view and the host's pane both show it;
//! - [`doctor`]: `ao doctor`'s checks; [`host`] and [`agent_process`]: the host itself.

mod agent;
pub mod agent_process;
mod boxed;
pub mod client;
pub mod control;
pub mod doctor;
pub mod feed;
pub mod files;
pub mod host;
pub mod observe;
pub mod preset;
pub mod record;
pub mod render;
pub mod settings;
pub mod transcript;
pub mod view;

use std::path::{Path, PathBuf};

use ao_agent::home::StateHome;
use ao_agent::runtime::LaunchSpec;

use crate::preset::Defaults;

/// The plugin's name in config and in the store, and the name its helpers run under (every
/// preset's host is `ao agent-helper acp host`).
pub const AGENT_NAME: &str = "acp";

/// The helper that runs a session's host: `ao agent-helper acp host --dir D`.
pub const HOST_HELPER: &str = "host";

/// The helper that shows a session's conversation live: `ao agent-helper acp view --dir D`.
pub const VIEW_HELPER: &str = "view";

/// Any ACP agent, as configured per project (`agent: acp`, `agentConfig.command`), or one of
/// the presets (`agent: claude`, `agent: codex`).
pub struct AcpPlugin {
    home: StateHome,
    ao_exe: PathBuf,
    defaults: Defaults,
}

impl AcpPlugin {
    /// The plugin `agent: acp` over the state home `home`; its helpers (the host, the view) run
    /// as `ao_exe`.
    pub fn new(home: StateHome, ao_exe: PathBuf) -> AcpPlugin {
        AcpPlugin::preset(home, ao_exe, Defaults::acp())
    }

    /// The plugin of a preset (`agent: claude`), with its defaults.
    pub fn preset(home: StateHome, ao_exe: PathBuf, defaults: Defaults) -> AcpPlugin {
        AcpPlugin {
            home,
            ao_exe,
            defaults,
        }
    }

    /// `<ao_exe> agent-helper acp <helper> --dir <session dir>`, in `cwd`.
    fn helper_launch(&self, helper: &str, session_dir: &Path, cwd: PathBuf) -> LaunchSpec {
        LaunchSpec {
            program: self.ao_exe.clone(),
            args: vec![
                ao_agent::agent::AGENT_HELPER_SUBCOMMAND.into(),
                AGENT_NAME.into(),
                helper.into(),
                "--dir".into(),
                session_dir.to_string_lossy().into_owned(),
            ],
            cwd,
            env: Vec::new(),
            stdin_file: None,
        }
    }
}

/// Runs one of the plugin's helper processes, from the arguments after `ao agent-helper acp`:
/// `host --dir D` runs the host of the session whose private directory is `D`; `view --dir D`
/// shows its conversation and follows it.
pub async fn run_helper(args: &[String]) -> Result<(), String> {
    let usage = || {
        format!(
            "usage: ao {} {AGENT_NAME} ({HOST_HELPER} | {VIEW_HELPER}) --dir SESSION_DIR",
            ao_agent::agent::AGENT_HELPER_SUBCOMMAND
        )
    };
    let [helper, flag, dir] = args else {
        return Err(usage());
    };
    if flag != "--dir" {
        return Err(usage());
    }
    let dir = Path::new(dir);
    match helper.as_str() {
        HOST_HELPER => host::run(dir).await,
        VIEW_HELPER => view::run(dir).await,
        _ => Err(usage()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn helpers_take_a_session_directory() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let e = run_helper(&args(&["view"])).await.unwrap_err();
        assert!(e.starts_with("usage: ao agent-helper acp"), "{e}");
        let e = run_helper(&args(&["follow", "--dir", "/x"]))
            .await
            .unwrap_err();
        assert!(e.starts_with("usage:"), "{e}");
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_string_lossy().into_owned();
        let e = run_helper(&args(&["view", "--dir", &dir]))
            .await
            .unwrap_err();
        assert!(e.contains("holds no ACP session's files"), "{e}");
    }
}
