//! The registry: the agent plugins this `ao` has, the default one first. It is the one place that
//! names a plugin; adding an agent is one crate and one line in [`registry`] (and, if the plugin
//! has helper processes, one arm in [`run_helper`]).

use std::path::PathBuf;
use std::sync::Arc;

use ao_core::agent::Agent;
use ao_core::home::StateHome;
use ao_plugin_acp::preset::{Defaults, Preset};
use ao_plugin_acp::AcpPlugin;
use ao_plugin_opencode::{OpenCodeAgent, OpenCodeSettings};

/// Every agent plugin, the default first, over the state home `home`.
pub fn registry(home: &StateHome) -> Vec<Arc<dyn Agent>> {
    // Helper processes (OpenCode's follower, an ACP session's host) are this same binary.
    let ao_exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("ao"));
    vec![
        Arc::new(OpenCodeAgent::new(OpenCodeSettings::from_env(
            home.clone(),
            ao_exe.clone(),
        ))),
        Arc::new(AcpPlugin::new(home.clone(), ao_exe.clone())),
        Arc::new(AcpPlugin::preset(
            home.clone(),
            ao_exe.clone(),
            Defaults::from_env(Preset::Claude),
        )),
        Arc::new(AcpPlugin::preset(
            home.clone(),
            ao_exe,
            Defaults::from_env(Preset::Codex),
        )),
    ]
}

/// Runs a helper process of the plugin named `agent` (`ao agent-helper <agent> <args…>`).
pub async fn run_helper(agent: &str, args: &[String]) -> anyhow::Result<()> {
    match agent {
        ao_plugin_opencode::AGENT_NAME => {
            let open_state = ao_core::store::open_state(ao_plugin_opencode::AGENT_NAME);
            ao_plugin_opencode::run_helper(args, open_state)
                .await
                .map_err(anyhow::Error::msg)
        }
        ao_plugin_acp::AGENT_NAME => ao_plugin_acp::run_helper(args)
            .await
            .map_err(anyhow::Error::msg),
        other => anyhow::bail!("no agent plugin {other:?} has helper processes"),
    }
}
