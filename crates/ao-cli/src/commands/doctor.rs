//! `ao doctor`: what is installed, reachable and misconfigured, each problem with its fix.
//!
//! It works without a config, and with a broken one: every check that can run, runs.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context as _;
use ao_core::config::Config;
use ao_core::doctor::{self, Check, Verdict};
use ao_core::home::StateHome;
use ao_core::session::{RuntimeKind, WorkspaceKind};

use clap::Args;

use crate::cli::Cli;
use crate::output::{paint, use_color};

/// Check what ao needs: tmux, git, each agent's program, the state home, the config, each project's server.
#[derive(Debug, Args)]
#[command(
    after_help = "Each problem comes with how to fix it. Exits 1 when something is wrong.\n\nExamples:\n  ao doctor\n  ao doctor --config ~/work/agent-orchestrator.yaml"
)]
pub struct DoctorArgs {}

/// `ao doctor`: runs every check, prints them, and exits 1 when one failed.
pub async fn run(cli: &Cli, _: &DoctorArgs) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let mut checks = Vec::new();
    let home = StateHome::from_env();
    // Agents use the state home only for what they start, which the doctor never does: with a
    // broken one (reported below, and then no agent is asked anything) the config is still
    // checked against the real plugins.
    let registry = match &home {
        Ok(home) => crate::agents::registry(home),
        Err(_) => crate::agents::registry(&StateHome::at(std::env::temp_dir())),
    };

    let config = match Config::locate(cli.config.as_deref(), &cwd) {
        Err(_) => {
            checks.push(Check::fail(
                "config",
                format!(
                    "no {} in {} or any parent directory, and neither --config nor AO_CONFIG \
                     is given",
                    ao_core::config::CONFIG_FILE_NAME,
                    cwd.display()
                ),
                "write one (ao's repository has commented ones in examples/) or pass --config PATH",
            ));
            None
        }
        Ok(file) => match Config::load_in(&file, super::config_context(&registry)) {
            Ok(c) => {
                let names: Vec<&str> = c.projects.iter().map(|p| p.name.as_str()).collect();
                checks.push(if names.is_empty() {
                    Check::warn(
                        "config",
                        format!("{} has no projects", file.display()),
                        "add one under `projects:` (name and path)",
                    )
                } else {
                    Check::ok(
                        "config",
                        format!("{} (projects: {})", file.display(), names.join(", ")),
                    )
                });
                Some(c)
            }
            Err(e) if e.problems.iter().all(|p| p.location.is_none()) => {
                checks.push(Check::fail(
                    "config",
                    e.to_string(),
                    "pass --config (or set AO_CONFIG to) a config file that exists",
                ));
                None
            }
            Err(e) => {
                let n = e.problems.len();
                checks.push(Check::fail(
                    "config",
                    format!(
                        "{n} problem{} in {}:\n{e}",
                        if n == 1 { "" } else { "s" },
                        file.display()
                    ),
                    "correct the lines above; each says what it expects",
                ));
                None
            }
        },
    };
    if let Some(c) = &config {
        checks.push(doctor::trust(c));
    }
    let top_notifiers = config
        .as_ref()
        .map(|c| c.notifications.clone())
        .unwrap_or_default();
    let projects = config.map(|c| c.projects).unwrap_or_default();

    // Without a usable config, assume the defaults: tmux and work trees.
    let tmux_needed =
        projects.is_empty() || projects.iter().any(|p| p.runtime == RuntimeKind::Tmux);
    checks.push(doctor::tmux(tmux_needed));
    let git_needed = projects.is_empty()
        || projects
            .iter()
            .any(|p| p.workspace == WorkspaceKind::Worktree);
    checks.push(doctor::git(git_needed));

    match home {
        Err(e) => checks.push(Check::fail(
            "state home",
            e.to_string(),
            "set AO_HOME to a writable directory",
        )),
        Ok(home) => {
            let home_check = doctor::state_home(&home);
            let home_ok = home_check.verdict != Verdict::Fail;
            checks.push(home_check);
            if home_ok {
                checks.extend(doctor::agents(&registry, &home, &projects).await);
                let (h, p) = (home.clone(), projects.clone());
                checks.extend(ao_core::blocking::unblock(move || doctor::monitors(&h, &p)).await);
            }
        }
    }
    for p in &projects {
        checks.push(doctor::project(p));
    }
    checks.extend(doctor::containers(&registry, &projects).await);
    checks.extend(doctor::desktop_notifications(&projects, &top_notifiers));

    let color = use_color();
    let mut out = std::io::stdout().lock();
    for c in &checks {
        print_check(&mut out, c, color)?;
    }
    let failed = checks.iter().filter(|c| c.verdict == Verdict::Fail).count();
    let warned = checks.iter().filter(|c| c.verdict == Verdict::Warn).count();
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    match (failed, warned) {
        (0, 0) => writeln!(out, "everything ao needs is in place")?,
        (0, w) => writeln!(out, "{}; nothing is broken", plural(w, "warning"))?,
        (f, w) => writeln!(
            out,
            "{} to fix{}",
            plural(f, "problem"),
            if w > 0 {
                format!(", {}", plural(w, "warning"))
            } else {
                String::new()
            }
        )?,
    }
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn print_check(out: &mut dyn Write, c: &Check, color: bool) -> std::io::Result<()> {
    let (mark, code) = match c.verdict {
        Verdict::Ok => ("ok  ", "32"),
        Verdict::Warn => ("warn", "33;1"),
        Verdict::Fail => ("FAIL", "31;1"),
    };
    // A check's detail may quote a server (its version, its error): shown, not obeyed.
    let detail = ao_core::visible::visible(&c.detail);
    let mut lines = detail.lines();
    writeln!(
        out,
        "{} {}: {}",
        paint(mark, code, color),
        c.subject,
        lines.next().unwrap_or_default()
    )?;
    for line in lines {
        writeln!(out, "     {line}")?;
    }
    if let Some(fix) = &c.fix {
        writeln!(out, "     {} {fix}", paint("fix:", "1", color))?;
    }
    Ok(())
}
