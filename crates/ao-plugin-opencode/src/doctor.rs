//! `ao doctor` for OpenCode: the binary and its version, and each server with the projects that
//! use it (a shared server once, however many projects use it).

use std::time::Duration;

use ao_agent::agent::{AgentError, ProjectContext};
use ao_agent::blocking::unblock;
use ao_agent::doctor::{find_program, program_output, Check};

use crate::server::ServerState;
use crate::server_record::ServerRecord;
use crate::OpenCodeAgent;

/// The OpenCode version ao is built and tested against (`scripts/install-opencode` installs it).
pub const TESTED_VERSION: &str = "1.18.33";

/// How to get the OpenCode ao is tested with.
fn install_hint() -> String {
    format!(
        "install it with `npm install -g opencode-ai@{TESTED_VERSION}` (or run \
         scripts/install-opencode in ao's repository), or set AO_OPENCODE_BIN to the opencode \
         binary"
    )
}

impl OpenCodeAgent {
    pub(crate) async fn checks(&self, projects: &[ProjectContext<'_>]) -> Vec<Check> {
        // The binary's cold start and an unresponsive server's health checks take seconds each:
        // all at once, reported in order.
        let (binary, servers) = futures_util::join!(
            self.binary_check(),
            futures_util::future::join_all(projects.iter().map(|p| self.server_check(p)))
        );
        let mut all: Vec<Check> = vec![binary];
        // Projects that share a server give the same check: it is said once.
        for check in servers {
            if !all.iter().any(|c| c.subject == check.subject) {
                all.push(check);
            }
        }
        // Sessions on another machine still run their TUI (tmux) or follower here.
        if projects.iter().any(|p| p.project.location.is_remote()) {
            all.push(Check::ok(
                "remote projects",
                "their sessions run here and follow the server over HTTP: the tmux runtime needs opencode on this machine too (`opencode attach`), the process runtime only ao",
            ));
        }
        if projects
            .iter()
            .any(|p| matches!(p.project.location, ao_agent::remote::Location::Ssh(_)))
        {
            let ssh = unblock(|| find_program(std::path::Path::new("ssh"))).await;
            all.push(match ssh {
                Some(found) => Check::ok(
                    "ssh",
                    format!("{} (for projects with `host:`)", found.display()),
                ),
                None => Check::fail(
                    "ssh",
                    "`ssh` not found on PATH; projects with `host:` are reached through it",
                    "install the OpenSSH client (Debian: apt-get install openssh-client)",
                ),
            });
        }
        all
    }

    async fn binary_check(&self) -> Check {
        let bin = self.servers().settings().bin.clone();
        let looked_up = bin.clone();
        let Some(found) = unblock(move || find_program(&looked_up)).await else {
            let detail = if bin.components().count() > 1 {
                format!(
                    "{} (from AO_OPENCODE_BIN) is not an executable file",
                    bin.display()
                )
            } else {
                format!("`{}` not found on PATH", bin.display())
            };
            return Check::fail("opencode", detail, install_hint());
        };
        // A cold start of the binary can take a few seconds on a loaded machine.
        let version = tokio::task::spawn_blocking(move || {
            program_output(&found, &["--version"], Duration::from_secs(30)).map(|v| (v, found))
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        match version {
            Ok((v, found)) if v == TESTED_VERSION => {
                Check::ok("opencode", format!("{v} ({})", found.display()))
            }
            Ok((v, found)) => Check::warn(
                "opencode",
                format!(
                    "{v} ({}); ao is tested with {TESTED_VERSION}",
                    found.display()
                ),
                format!("install opencode-ai@{TESTED_VERSION} if something misbehaves"),
            ),
            Err(e) => Check::fail("opencode", e, install_hint()),
        }
    }

    async fn server_check(&self, cx: &ProjectContext<'_>) -> Check {
        let project = cx.project;
        let subject = format!("server {}", project.name);
        // A box ao could not reach the server in: said before a spawn says it.
        if let Err(e) = crate::server_boxed::check_boxable(project) {
            return Check::fail(
                subject,
                e.to_string(),
                "set `container.network` to `default` or `host` (docs/containers.md)",
            );
        }
        let state = match self.servers().lookup(cx).await {
            Ok(state) => state,
            // Not looked at: that would read the password, or run ssh.
            Err(AgentError::Untrusted(why)) => {
                return Check::warn(
                    subject,
                    format!("not checked: {why}"),
                    "trust the config file (see `trust` above), then `ao doctor` again",
                )
            }
            Err(e) => {
                return Check::fail(
                    subject,
                    e.to_string(),
                    "see the message; `ao doctor` again once it is fixed",
                )
            }
        };
        match state {
            ServerState::Up {
                record: rec,
                version,
                ..
            } => {
                // A shared server is named once, by its URL, with the projects that use it.
                if let Some(projects) = rec.projects().filter(|p| !p.is_empty()) {
                    let place = match &rec {
                        ServerRecord::Tunnel(tunnel) => format!(
                            "on {} (pid {} there)",
                            tunnel.remote.host, tunnel.remote.pid
                        ),
                        _ => format!("(pid {})", rec.identity().map_or(0, |p| p.pid)),
                    };
                    let used_by: Vec<&str> = projects.iter().map(String::as_str).collect();
                    return Check::ok(
                        format!("server {rec}"),
                        format!(
                            "OpenCode {version} {place} answers, used by {}",
                            used_by.join(", ")
                        ),
                    );
                }
                Check::ok(
                    subject,
                    match &rec {
                        ServerRecord::Tunnel(tunnel) => format!(
                            "OpenCode {version} on {} (pid {} there) answers through {rec}",
                            tunnel.remote.host, tunnel.remote.pid
                        ),
                        ServerRecord::Url(_) => format!("OpenCode {version} at {rec} answers"),
                        ServerRecord::Boxed(boxed) => format!(
                            "OpenCode {version} in container {} ({}) answers at {rec}",
                            boxed.container, boxed.engine
                        ),
                        ServerRecord::Local(local) => format!(
                            "OpenCode {version} at {rec} (pid {}) answers",
                            local.process.pid
                        ),
                    },
                )
            }
            ServerState::Unresponsive(ServerRecord::Boxed(boxed)) => Check::fail(
                subject,
                format!(
                    "the OpenCode server in container {} runs but does not answer at {}",
                    boxed.container,
                    ServerRecord::Boxed(boxed.clone())
                ),
                format!(
                    "the next `ao spawn {p}` or `ao restore` replaces it; if it keeps hanging, \
                     read `{engine} logs {name}`",
                    p = project.name,
                    engine = boxed.engine,
                    name = boxed.container
                ),
            ),
            ServerState::Unresponsive(rec) => {
                // A shared server's log is named by its settings, a project's own by the project;
                // one on a host is there, under the host's state home.
                let servers_dir = self.servers().settings().home.root().join("servers");
                let log = match &rec {
                    ServerRecord::Local(local) if !local.projects.is_empty() => servers_dir
                        .join(format!("shared-{}.log", local.config_fingerprint))
                        .display()
                        .to_string(),
                    ServerRecord::Tunnel(tunnel) => format!(
                        "${{XDG_STATE_HOME:-~/.local/state}}/ao/servers/{}.log on {}",
                        if tunnel.projects.is_empty() {
                            project.name.clone()
                        } else {
                            format!("shared-{}", tunnel.config_fingerprint)
                        },
                        tunnel.remote.host
                    ),
                    _ => servers_dir
                        .join(format!("{}.log", project.name))
                        .display()
                        .to_string(),
                };
                Check::fail(
                    subject,
                    format!(
                        "the OpenCode server at {rec} (pid {}) runs but does not answer",
                        rec.identity().map_or(0, |p| p.pid)
                    ),
                    format!(
                        "the next `ao spawn {p}` or `ao restore` replaces it; if it keeps \
                         hanging, read {log}",
                        p = project.name
                    ),
                )
            }
            ServerState::Gone => Check::ok(
                subject,
                format!(
                    "not running; the next `ao spawn {}` starts it",
                    project.name
                ),
            ),
        }
    }
}
