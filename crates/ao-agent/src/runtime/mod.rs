//! What a runtime runs for a plugin ([`LaunchSpec`]) and how it finds the program again
//! ([`RuntimeHandle`]), and [`process`]: the detached helper process a plugin may start (a server,
//! a follower). The runtimes themselves (tmux, process) are ao-core's.

pub mod process;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What to run for a session.
#[derive(Debug, Clone, Default)]
pub struct LaunchSpec {
    /// The program.
    pub program: PathBuf,
    /// Its arguments. Never a secret and never the prompt: argv is world-readable.
    pub args: Vec<String>,
    /// Its working directory.
    pub cwd: PathBuf,
    /// Extra environment. Secrets go here (the environment is private to the user).
    pub env: Vec<(String, String)>,
    /// A file whose content becomes the program's standard input (process runtime).
    pub stdin_file: Option<PathBuf>,
}

/// How to find a session's program again, stored in the session store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum RuntimeHandle {
    /// A tmux session.
    Tmux {
        /// The tmux server's `-L` socket name; `None` for the user's default server.
        socket: Option<String>,
        /// The tmux session's name.
        session: String,
    },
    /// A detached process.
    Process {
        /// Its pid, also its process group and session id.
        pid: u32,
        /// Its start time in clock ticks since boot (`/proc/<pid>/stat` field 22), so that a reused
        /// pid is never mistaken for it; 0 on systems without `/proc` (see
        /// [`process::ProcessIdentity::of`]).
        start_time: u64,
        /// Where its standard output and error go.
        log: PathBuf,
    },
}
