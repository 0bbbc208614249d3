//! The session host (`ao agent-helper acp host --dir D`): a stub in the plugin's branch; the
//! host's own branch replaces this file.

use std::path::Path;

/// Runs the host of the session whose private directory is `session_dir`.
pub async fn run(session_dir: &Path) -> Result<(), String> {
    Err(format!(
        "the ACP host is not built into this ao (session {})",
        session_dir.display()
    ))
}
