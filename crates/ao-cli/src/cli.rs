//! The command line, as clap sees it.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use ao_core::session::RuntimeKind;
use clap::{Args, Parser, Subcommand};

use crate::UsageError;

/// Run many coding-agent sessions side by side, and see at a glance which one is working, which
/// one waits for you, which one failed, and what each has cost.
#[derive(Debug, Parser)]
#[command(name = "ao", version, propagate_version = true)]
pub struct Cli {
    /// The config file (default: $AO_CONFIG, else agent-orchestrator.yaml here or in a parent).
    #[arg(short = 'c', long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a new agent session in a project.
    #[command(
        after_help = "Examples:\n  ao spawn my-project \"Fix the linting errors\"\n  ao spawn my-project --prompt-file task.md --runtime process\n  git diff | ao spawn my-project --prompt-file - --name review"
    )]
    Spawn(SpawnArgs),
    /// Show what each session is doing and what it has cost.
    #[command(
        after_help = "TARGET is a project, project/name, or a name unique across projects.\n\nExamples:\n  ao status\n  ao status my-project --json"
    )]
    Status(StatusArgs),
    /// One line per session.
    List,
    /// Attach your terminal to a session (tmux: attach or switch-client; process: OpenCode's TUI).
    Attach {
        /// project/name, or a name unique across projects.
        target: String,
    },
    /// Stop a session; a work tree with uncommitted changes or unmerged commits is kept.
    Kill {
        /// project/name, a unique name, or a project (all its sessions).
        target: String,
        /// Also delete the agent's conversation and forget the session.
        #[arg(long)]
        purge: bool,
    },
    /// Follows an OpenCode session's events into its log (what a process-runtime session runs).
    #[command(name = "opencode-follow", hide = true)]
    OpencodeFollow(FollowArgs),
}

#[derive(Debug, Args)]
pub struct SpawnArgs {
    /// The project, as named in the config.
    pub project: String,
    /// The first prompt (default: the project's agentConfig.prompt).
    #[arg(conflicts_with = "prompt_file")]
    pub prompt: Option<String>,
    /// Read the prompt from a file, or from standard input with `-`.
    #[arg(long, value_name = "FILE")]
    pub prompt_file: Option<PathBuf>,
    /// Where the session runs (default: the project's runtime).
    #[arg(long, value_parser = parse_runtime)]
    pub runtime: Option<RuntimeKind>,
    /// The model, as provider/model.
    #[arg(long, value_name = "P/M")]
    pub model: Option<String>,
    /// The agent's own agent or mode (OpenCode: build, plan, ...).
    #[arg(long)]
    pub agent: Option<String>,
    /// The session's name (default: <prefix>-<N>).
    #[arg(long)]
    pub name: Option<String>,
}

fn parse_runtime(s: &str) -> Result<RuntimeKind, String> {
    s.parse()
}

impl SpawnArgs {
    /// The prompt from the argument, the file, or standard input.
    pub fn prompt_text(&self) -> anyhow::Result<Option<String>> {
        if let Some(p) = &self.prompt {
            return Ok(Some(p.clone()));
        }
        let Some(file) = &self.prompt_file else {
            return Ok(None);
        };
        let text = if file.as_os_str() == "-" {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("cannot read the prompt from standard input")?;
            s
        } else {
            std::fs::read_to_string(file).map_err(|e| {
                UsageError(format!(
                    "cannot read the prompt file {}: {e}",
                    file.display()
                ))
            })?
        };
        Ok(Some(text))
    }
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// A project, project/name, or a name unique across projects (default: all sessions).
    pub target: Option<String>,
    /// Print JSON for scripts.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct FollowArgs {
    #[arg(long)]
    pub url: String,
    #[arg(long)]
    pub session: String,
    #[arg(long)]
    pub password_file: PathBuf,
    #[arg(long, default_value_t = 0)]
    pub since: i64,
}
