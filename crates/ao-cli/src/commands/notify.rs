//! `ao notify test`: presentation and wiring only; the notifiers are ao-core's.

use std::io::Write;
use std::process::ExitCode;

use ao_core::config::Notifier;
use ao_core::manager::SessionManager;
use ao_core::notify::{self, Event};

use clap::Subcommand;

use crate::cli::Cli;
use crate::output::{paint, use_color};

/// `ao notify …`.
#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send a sample event through every configured notifier and say what each did.
    #[command(
        after_help = "Without PROJECT, the notifiers of the top level and of every project.\n\nExamples:\n  ao notify test\n  ao notify test my-project"
    )]
    Test {
        /// Only this project's notifiers (the top level's and its own).
        project: Option<String>,
    },
}

/// `ao notify …`.
pub async fn run(cli: &Cli, command: &NotifyCommand) -> anyhow::Result<ExitCode> {
    match command {
        NotifyCommand::Test { project } => {
            test(&super::manager(cli).await?, project.as_deref()).await
        }
    }
}

/// `ao notify test [PROJECT]`: a sample event through each notifier (whatever its `on`), and what
/// each did. Exits 1 when one failed, 2 when one was refused because its file is not trusted.
pub async fn test(mgr: &SessionManager, project: Option<&str>) -> anyhow::Result<ExitCode> {
    let config = mgr.config();
    // Each project's list starts with the top level's: without a project, those once, then what
    // each project adds.
    let mut groups: Vec<(String, Vec<Notifier>)> = Vec::new();
    match project {
        Some(name) => {
            let p = config.project(name)?;
            groups.push((p.name.clone(), p.notifications.clone()));
        }
        None => {
            let top = config.notifications.len();
            let sample_project = config
                .projects
                .first()
                .map(|p| p.name.clone())
                .unwrap_or_else(|| "example".into());
            groups.push((sample_project, config.notifications.clone()));
            for p in &config.projects {
                groups.push((p.name.clone(), p.notifications[top..].to_vec()));
            }
        }
    }
    let color = use_color();
    let http = notify::http_client().await;
    let mut out = std::io::stdout().lock();
    let (mut fired, mut failed, mut untrusted) = (0, 0, 0);
    for (project, notifiers) in groups.iter().filter(|(_, n)| !n.is_empty()) {
        let event = Event::sample(project, mgr.now_ms());
        for o in notify::fire(notifiers, &event, true, &http).await {
            fired += 1;
            untrusted += usize::from(o.untrusted);
            match o.result {
                Ok(done) => writeln!(out, "{} {}: {done}", paint("ok  ", "32", color), o.notifier)?,
                Err(why) => {
                    failed += 1;
                    writeln!(
                        out,
                        "{} {}: {why}",
                        paint("FAIL", "31;1", color),
                        o.notifier
                    )?
                }
            }
        }
    }
    if fired == 0 {
        writeln!(
            out,
            "no notifiers in {}; add `notifications:` (see the README)",
            config.file.display()
        )?;
    }
    // A refused notifier is the person's to decide (`ao trust`), like a mistake in the config.
    Ok(if untrusted > 0 {
        ExitCode::from(2)
    } else if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
