//! How the manager starts ao's own programs: a project's monitor, a lazy tmux pane's view, and the
//! hook tmux runs when a client detaches. ao-core does not know its binary: the CLI hands it over
//! once ([`SessionManager::with_ao_binary`](super::SessionManager::with_ao_binary)). Without it (ao-core's own tests) nothing of ao's is
//! launched: no monitor starts, and a tmux pane runs the agent's own program.

use std::path::PathBuf;

use crate::runtime::LaunchSpec;

/// The `ao` binary, and the global arguments that make a program it starts read the same config.
#[derive(Debug, Clone)]
pub struct AoBinary {
    /// The program.
    pub program: PathBuf,
    /// The arguments before a subcommand (`--config FILE`).
    pub global_args: Vec<String>,
}

impl AoBinary {
    /// `program global_args… subcommand args…`, run in `cwd` with `env`.
    pub fn launch(
        &self,
        subcommand: &str,
        args: &[&str],
        cwd: PathBuf,
        env: Vec<(String, String)>,
    ) -> LaunchSpec {
        let mut all = self.global_args.clone();
        all.push(subcommand.to_string());
        all.extend(args.iter().map(|a| a.to_string()));
        LaunchSpec {
            program: self.program.clone(),
            args: all,
            cwd,
            env,
            stdin_file: None,
        }
    }
}
