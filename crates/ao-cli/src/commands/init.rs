//! `ao init`: writes the config ao-core composes for a directory, and says what to do next.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use ao_core::blocking::unblock;
use ao_core::config::Config;
use ao_core::home::StateHome;
use ao_core::init::{AgentTemplate, Plan};

use clap::Args;

use crate::cli::Cli;
use crate::UsageError;

/// Write a commented agent-orchestrator.yaml for a directory (default: the current one).
#[derive(Debug, Args)]
#[command(
    after_help = "The project is the git repository the directory is in (its root), else the directory itself, without work trees. Sessions run in tmux when tmux is on PATH, else as processes. An existing file is never replaced.\n\nExamples:\n  ao init\n  ao init ~/code/my-project\n  ao init --agent claude\n  ao init && ao doctor"
)]
pub struct InitArgs {
    /// The directory to write agent-orchestrator.yaml in (default: the current directory).
    pub path: Option<PathBuf>,
    /// The project's agent: opencode (the default), claude, codex, or acp (any ACP agent).
    #[arg(long, value_name = "AGENT")]
    pub agent: Option<String>,
}

/// `ao init [PATH] [--agent AGENT]`: a project of that agent, else of the default one (the
/// registry's first).
pub async fn run(cli: &Cli, args: &InitArgs) -> anyhow::Result<ExitCode> {
    let path = args.path.as_deref();
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let dir = path.map_or_else(|| cwd.clone(), |p| cwd.join(p));
    let home = StateHome::from_env()?;
    let registry = crate::agents::registry(&home);
    let chosen = match &args.agent {
        None => registry.first(),
        Some(wanted) => registry.iter().find(|a| a.name() == wanted.as_str()),
    };
    let Some(chosen) = chosen else {
        let names: Vec<&str> = registry.iter().map(|a| a.name()).collect();
        return Err(anyhow::Error::new(UsageError(format!(
            "no agent {:?}: ao knows {}",
            args.agent.as_deref().unwrap_or_default(),
            names.join(", ")
        ))));
    };
    let agent = AgentTemplate {
        name: chosen.name(),
        config_lines: chosen.config_template(),
    };
    let trust = ao_core::trust::TrustStore::new(&home);
    // git and the file system block: off the async runtime's thread.
    let plan = unblock(move || ao_core::init::init(&dir, agent, &trust)).await;
    let plan = plan.map_err(|e| {
        if e.is_usage() {
            anyhow::Error::new(UsageError(e.to_string()))
        } else {
            anyhow::Error::new(e)
        }
    })?;
    // The commands to run next reach this file only if ao finds it from here; else they say so.
    let found = Config::locate(cli.config.as_deref(), &cwd)
        .ok()
        .and_then(|f| f.canonicalize().ok());
    let config_flag = if found.as_deref() == Some(plan.file.as_path()) {
        String::new()
    } else {
        let file = plan.file.to_string_lossy();
        // A path with a NUL byte cannot be quoted, nor exist: shown as it is.
        let word = shlex::try_quote(&file).unwrap_or_else(|_| file.clone());
        format!(" --config {word}")
    };
    print_next(&mut std::io::stdout().lock(), &plan, &config_flag)?;
    Ok(ExitCode::SUCCESS)
}

fn print_next(out: &mut dyn Write, plan: &Plan, config_flag: &str) -> std::io::Result<()> {
    writeln!(
        out,
        "wrote {}: project {} in {} (runtime {}, workspace {})",
        plan.file.display(),
        plan.name,
        plan.path.display(),
        plan.runtime,
        plan.workspace
    )?;
    writeln!(out, "next: check the set-up, then start a session:")?;
    writeln!(out, "  ao{config_flag} doctor")?;
    writeln!(
        out,
        "  ao{config_flag} spawn {} \"Fix the linting errors\"",
        plan.name
    )?;
    Ok(())
}
