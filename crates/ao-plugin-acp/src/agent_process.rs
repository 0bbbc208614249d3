//! Spawning an ACP agent: a stub in the plugin's branch; the host's branch replaces this file.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::record::AgentIdentity;

/// Starts the agent `command`, runs `initialize`, and ends it: what `ao doctor` asks.
pub async fn probe(
    command: &[String],
    env: &BTreeMap<String, String>,
    cwd: &Path,
    timeout: Duration,
) -> Result<AgentIdentity, String> {
    let _ = (command, env, cwd, timeout);
    Err("not built".to_string())
}
