//! `ao spawn`: a new agent session in a project.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use ao_core::manager::SpawnOptions;
use ao_core::session::RuntimeKind;
use clap::Args;
use strum::VariantNames;

use crate::cli::Cli;
use crate::UsageError;

/// Start a new agent session in a project.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  ao spawn my-project \"Fix the linting errors\"\n  ao spawn my-project --prompt-file task.md --runtime process\n  git diff | ao spawn my-project --prompt-file - --name review"
)]
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
    /// The agent's own agent or mode (e.g. build, plan).
    #[arg(long)]
    pub agent: Option<String>,
    /// The session's name (default: <prefix>-<N>).
    #[arg(long)]
    pub name: Option<String>,
}

/// A runtime's name, as `--runtime` takes it (`ao fork` too).
pub fn parse_runtime(s: &str) -> Result<RuntimeKind, String> {
    s.parse()
        .map_err(|_| ao_core::error::unknown_word("runtime", s, RuntimeKind::VARIANTS))
}

impl SpawnArgs {
    /// The prompt from the argument, the file, or standard input.
    fn prompt_text(&self) -> anyhow::Result<Option<String>> {
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

/// `ao spawn`: prints the new session's address; says what was started on standard error.
pub async fn run(cli: &Cli, args: &SpawnArgs) -> anyhow::Result<ExitCode> {
    let prompt = args.prompt_text()?;
    let mgr = super::manager(cli).await?;
    let spinner = crate::progress::Spinner::start(format!("ao spawn {}", args.project));
    let spawned = mgr
        .spawn_with_progress(
            SpawnOptions {
                project: args.project.clone(),
                prompt,
                runtime: args.runtime,
                model: args.model.clone(),
                agent_mode: args.agent.clone(),
                name: args.name.clone(),
            },
            &|step| {
                if let Some(s) = &spinner {
                    s.set(step.to_string());
                }
            },
        )
        .await;
    drop(spinner);
    let spawned =
        spawned.with_context(|| format!("cannot spawn a session in project {}", args.project))?;
    let s = &spawned.session;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", s.address)?;
    eprintln!("ao: {}", ao_core::report::spawned(s));
    Ok(ExitCode::SUCCESS)
}
