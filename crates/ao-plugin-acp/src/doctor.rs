//! What `ao doctor` checks for ACP agents: for each distinct `agentConfig.command` among the
//! projects, that its program is there and that it answers `initialize` (its name and version).

use std::path::{Path, PathBuf};
use std::time::Duration;

use ao_agent::agent::ProjectContext;
use ao_agent::doctor::{find_program, Check};

use crate::preset::Defaults;
use crate::settings::AcpSettings;

/// How long an agent has to answer `initialize`.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The checks of these projects' ACP agents.
pub async fn checks(projects: &[ProjectContext<'_>], defaults: &Defaults) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut seen: Vec<Vec<String>> = Vec::new();
    for cx in projects {
        let settings = match AcpSettings::of(cx.project, defaults) {
            Ok(s) => s,
            Err(e) => {
                checks.push(Check::fail(
                    format!("project {}", cx.project.name),
                    e.to_string(),
                    "set agentConfig.command to the argv of an ACP agent",
                ));
                continue;
            }
        };
        if seen.contains(&settings.command) {
            continue;
        }
        seen.push(settings.command.clone());
        checks.push(
            check_agent(
                &settings,
                &cx.project.path,
                &defaults.install_hint(&cx.project.name),
            )
            .await,
        );
    }
    checks
}

/// The check of one agent's command, with the environment and directory of a project using it
/// (`install_hint`: how to make a missing program found).
async fn check_agent(settings: &AcpSettings, cwd: &Path, install_hint: &str) -> Check {
    let subject = format!("ACP agent `{}`", settings.command.join(" "));
    let program = PathBuf::from(&settings.command[0]);
    let looked_up = program.clone();
    let Some(found) = ao_agent::blocking::unblock(move || find_program(&looked_up)).await else {
        return Check::fail(
            subject,
            format!("{} is not found", program.display()),
            install_hint,
        );
    };
    let probe = crate::agent_process::probe(&settings.command, &settings.env, cwd, PROBE_TIMEOUT);
    // The probe keeps its own time; this bounds a probe that does not.
    let answer = tokio::time::timeout(PROBE_TIMEOUT + Duration::from_secs(2), probe)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "it did not answer initialize within {}s",
                PROBE_TIMEOUT.as_secs()
            ))
        });
    match answer {
        Ok(agent) => Check::ok(
            subject,
            format!(
                "{} {} ({}) answers initialize",
                agent.name,
                agent.version,
                found.display()
            ),
        ),
        Err(e) => Check::fail(
            subject,
            format!("{} is there but does not speak ACP: {e}", found.display()),
            format!(
                "check that `{}` runs an ACP agent",
                settings.command.join(" ")
            ),
        ),
    }
}
