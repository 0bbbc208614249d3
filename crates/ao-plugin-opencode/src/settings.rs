//! How the OpenCode plugin finds its binary and what it hands OpenCode.

use std::path::PathBuf;

use ao_agent::home::StateHome;
use ao_agent::project::Project;
use serde_json::{json, Value};

/// The plugin's settings, from the environment.
#[derive(Debug, Clone)]
pub struct OpenCodeSettings {
    /// The `opencode` binary: `AO_OPENCODE_BIN`, else `opencode` on PATH.
    pub bin: PathBuf,
    /// The `ao` binary, which runs the event follower of process-runtime sessions.
    pub ao_exe: PathBuf,
    /// Run OpenCode without external plugins (`AO_OPENCODE_PURE=1`).
    pub pure: bool,
    /// Follow the server's event stream to notice changes at once (`ao wait`, `ao logs -f`);
    /// `AO_OPENCODE_EVENTS=off` polls only, for an OpenCode whose stream is broken.
    pub events: bool,
    /// How long an event stream may say nothing before it is closed and opened again:
    /// [`feed_silence`].
    pub feed_silence: std::time::Duration,
    /// The state home.
    pub home: StateHome,
}

/// How long an event stream may say nothing (not even OpenCode's heartbeat) before ao closes it
/// and connects again: [`crate::events::DEFAULT_SILENCE`] (three heartbeats), or, for tests only,
/// `AO_OPENCODE_FEED_SILENCE_MS` (so that a test of a silent stream need not wait 30 s; below
/// OpenCode's 10-s heartbeat, a quiet feed is reopened every time it runs out).
pub fn feed_silence() -> std::time::Duration {
    std::env::var("AO_OPENCODE_FEED_SILENCE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map_or(
            crate::events::DEFAULT_SILENCE,
            std::time::Duration::from_millis,
        )
}

/// Environment variables passed on to every OpenCode program ao starts, so that a TUI in a tmux
/// pane (whose environment is the tmux server's) sees the same OpenCode data as the server.
const PASSED_ENV: &[&str] = &[
    "XDG_DATA_HOME",
    "XDG_CONFIG_HOME",
    "XDG_STATE_HOME",
    "XDG_CACHE_HOME",
    "OPENCODE_DISABLE_MODELS_FETCH",
    "OPENCODE_DISABLE_LSP_DOWNLOAD",
    "OPENCODE_DISABLE_DEFAULT_PLUGINS",
];

impl OpenCodeSettings {
    /// Settings from `AO_OPENCODE_BIN`, `AO_OPENCODE_PURE` and `AO_OPENCODE_EVENTS`.
    pub fn from_env(home: StateHome, ao_exe: PathBuf) -> OpenCodeSettings {
        let bin = std::env::var_os("AO_OPENCODE_BIN")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("opencode"));
        let pure = std::env::var("AO_OPENCODE_PURE").is_ok_and(|v| v == "1" || v == "true");
        let events = !std::env::var("AO_OPENCODE_EVENTS").is_ok_and(|v| v == "off" || v == "0");
        OpenCodeSettings {
            bin,
            ao_exe,
            pure,
            events,
            feed_silence: feed_silence(),
            home,
        }
    }

    /// The environment every OpenCode program gets (the password is added per program).
    pub fn client_env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = PASSED_ENV
            .iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
            .collect();
        // ao pins the OpenCode version; an update behind its back would change the API under it.
        env.push(("OPENCODE_DISABLE_AUTOUPDATE".into(), "1".into()));
        env
    }
}

/// The OpenCode config of a project's server: `agentConfig.opencodeConfig`, with `model` and
/// `permission` from `agentConfig` on top.
pub fn server_config(project: &Project) -> Value {
    let ac = &project.agent_config;
    let mut cfg = match ac.settings.get(crate::agent::OPENCODE_CONFIG_KEY) {
        Some(Value::Object(m)) => Value::Object(m.clone()),
        _ => json!({}),
    };
    if let Some(model) = &ac.model {
        cfg["model"] = json!(model);
    }
    if let Some(permission) = &ac.permission {
        cfg["permission"] = permission.clone();
    }
    cfg
}

/// `NO_PROXY` and `no_proxy` for a server: the person's own list with the loopback names added, so
/// that the server's calls to the provider keep the person's proxy while its calls to itself and
/// to a model on this machine never go through it.
pub fn loopback_no_proxy() -> Vec<(String, String)> {
    let mut hosts: Vec<String> = Vec::new();
    let persons = ["NO_PROXY", "no_proxy"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .flat_map(|v| {
            v.split(',')
                .map(|h| h.trim().to_string())
                .collect::<Vec<_>>()
        });
    let loopback = ["127.0.0.1", "localhost", "::1"].map(String::from);
    for host in persons.chain(loopback) {
        if !host.is_empty() && !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    let list = hosts.join(",");
    vec![("NO_PROXY".into(), list.clone()), ("no_proxy".into(), list)]
}
