//! `ao init`: writes the config ao-core composes for a directory, and says what to do next.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use ao_core::config::Config;
use ao_core::init::{AgentTemplate, Plan};
use ao_core::session::WorkspaceKind;

use crate::cli::Cli;
use crate::UsageError;

/// OpenCode's settings under `agentConfig`, commented out, with what each does: the plugin's
/// vocabulary, which ao-core does not know.
const OPENCODE_CONFIG_LINES: &[&str] = &[
    "# provider/model, as OpenCode names it; unset: OpenCode's own default. The provider needs",
    "# its credentials as usual (`opencode auth login`, or its API key variable for ao).",
    "# model: anthropic/claude-sonnet-4",
    "# Which tool calls wait for you (`ao permit`): ask | allow | deny, or a map per tool.",
    "# permission: {bash: ask}",
    "# OpenCode's own agent: build, plan, ...",
    "# agent: build",
    "# Anything else OpenCode accepts, merged into the config of the project's OpenCode server.",
    "# opencodeConfig: {}",
];

/// `ao init [PATH]`.
pub fn run(cli: &Cli, path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let dir = path.map_or_else(|| cwd.clone(), |p| cwd.join(p));
    let agent = AgentTemplate {
        name: ao_plugin_opencode::AGENT_NAME,
        config_lines: OPENCODE_CONFIG_LINES,
    };
    let plan = ao_core::init::init(&dir, agent).map_err(|e| {
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
        format!(" --config {}", shell_word(&plan.file.to_string_lossy()))
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
        match plan.workspace {
            WorkspaceKind::Worktree => "worktree",
            WorkspaceKind::None => "none",
        }
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

/// `s` as one shell word: as it is when that is safe, else single-quoted.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:,@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
