//! The interface every runtime implements ([`Runtime`]), what attaches a terminal to a session
//! ([`AttachCommand`]), and a runtime's errors.

use std::path::PathBuf;

use ao_agent::runtime::{LaunchSpec, RuntimeHandle};

use crate::session::RuntimeKind;

/// A runtime that failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// tmux is not installed or failed.
    #[error("tmux: {0}")]
    Tmux(String),
    /// A process could not be started or stopped.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The operation does not apply to this runtime.
    #[error("{0}")]
    Unsupported(String),
    /// A program started but ended before it could be used (a TUI that would not start).
    #[error("{0}")]
    Launch(String),
}

/// A command that attaches the user's terminal to a session.
#[derive(Debug, Clone)]
pub struct AttachCommand {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Environment to set.
    pub env: Vec<(String, String)>,
    /// Environment to remove (e.g. `TMUX`, to attach to another tmux server from inside one).
    pub env_remove: Vec<String>,
}

/// Where a session's program runs.
pub trait Runtime: Send + Sync {
    /// `tmux` or `process`.
    fn kind(&self) -> RuntimeKind;

    /// Starts the program; `name` is the session's address, `session_dir` a private directory for
    /// the session's files.
    fn create(
        &self,
        name: &str,
        spec: &LaunchSpec,
        session_dir: &std::path::Path,
    ) -> Result<RuntimeHandle, RuntimeError>;

    /// Whether each program still runs; one answer per handle, in order. Batched so that a status
    /// of many sessions costs one tmux call, not one per session.
    fn alive(&self, handles: &[&RuntimeHandle]) -> Vec<bool>;

    /// Stops the program (no error when it is already gone).
    fn destroy(&self, handle: &RuntimeHandle) -> Result<(), RuntimeError>;

    /// The command that attaches the user's terminal, if this runtime has one of its own.
    fn attach_command(&self, handle: &RuntimeHandle)
        -> Result<Option<AttachCommand>, RuntimeError>;

    /// The pids of the program's processes that still run (the processes they started are found
    /// from these); empty when it has ended.
    fn pids(&self, handle: &RuntimeHandle) -> Vec<u32>;
}

impl From<ao_agent::runtime::process::SpawnError> for RuntimeError {
    fn from(e: ao_agent::runtime::process::SpawnError) -> Self {
        RuntimeError::Io {
            what: e.what,
            source: e.source,
        }
    }
}
