//! The checks behind `ao doctor`: what is installed, reachable and misconfigured, each with what
//! to do about it. Checks never start or change anything (except a probe file in the state home,
//! removed at once).

use std::path::Path;
use std::time::Duration;

pub use ao_agent::doctor::{find_program, program_output, Check, Verdict};

use crate::config::ProjectConfig;
use crate::home::StateHome;
use crate::session::{Lifecycle, WorkspaceKind};

/// tmux: installed, and its version. `needed` says whether a project runs in tmux (then a
/// missing tmux is a failure, else a warning).
pub fn tmux(needed: bool) -> Check {
    let Some(bin) = find_program(Path::new("tmux")) else {
        let detail = "not found on PATH";
        let fix = "install tmux (e.g. `apt-get install tmux` or `brew install tmux`), or set \
                   `runtime: process` for every project";
        return if needed {
            Check::fail("tmux", detail, fix)
        } else {
            Check::warn("tmux", format!("{detail}; no project runs in tmux"), fix)
        };
    };
    match program_output(&bin, &["-V"], Duration::from_secs(5)) {
        Ok(version) => {
            let number = version
                .trim_start_matches("tmux ")
                .trim_start_matches("next-");
            let major: u32 = number
                .split('.')
                .next()
                .and_then(|m| m.parse().ok())
                .unwrap_or(0);
            if major < 3 {
                Check::warn(
                    "tmux",
                    format!("{version} ({}); ao is tested with tmux 3.x", bin.display()),
                    "install tmux 3.0 or newer",
                )
            } else {
                Check::ok("tmux", format!("{version} ({})", bin.display()))
            }
        }
        Err(e) => Check::fail("tmux", e, "reinstall tmux"),
    }
}

/// git: installed (work trees need it).
pub fn git(needed: bool) -> Check {
    let Some(bin) = find_program(Path::new("git")) else {
        let fix = "install git (e.g. `apt-get install git`), or set `workspace: none`";
        return if needed {
            Check::fail("git", "not found on PATH; work trees need it", fix)
        } else {
            Check::warn("git", "not found on PATH", fix)
        };
    };
    match program_output(&bin, &["--version"], Duration::from_secs(5)) {
        Ok(v) => Check::ok("git", format!("{v} ({})", bin.display())),
        Err(e) => Check::fail("git", e, "reinstall git"),
    }
}

/// The state home: there (or creatable), writable, and its store opens.
pub fn state_home(home: &StateHome) -> Check {
    let root = home.root();
    let fix = format!(
        "make {} a writable directory, or set AO_HOME to one",
        root.display()
    );
    if let Err(e) = crate::home::create_home_dir(root) {
        return Check::fail("state home", e.to_string(), fix);
    }
    let probe = root.join(format!(".doctor-{}", std::process::id()));
    if let Err(e) = std::fs::write(&probe, b"probe") {
        return Check::fail(
            "state home",
            format!("{} is not writable: {e}", root.display()),
            fix,
        );
    }
    let _ = std::fs::remove_file(&probe);
    match crate::store::Store::open(&home.store_path()) {
        Ok(_) => Check::ok("state home", format!("{} (writable)", root.display())),
        Err(e) => Check::fail("state home", e.to_string(), fix),
    }
}

/// Each agent's own checks (its program, what it keeps running per project), for the projects
/// that use it; never starts anything.
pub async fn agents(
    agents: &[std::sync::Arc<dyn crate::agent::Agent>],
    home: &StateHome,
    projects: &[ProjectConfig],
) -> Vec<Check> {
    let path = home.store_path();
    let store = match crate::blocking::unblock(move || crate::store::Store::open(&path)).await {
        Ok(store) => store,
        // The state home check has said why already.
        Err(_) => return Vec::new(),
    };
    let mut checks = Vec::new();
    for (i, agent) in agents.iter().enumerate() {
        let state = store.plugin_state(agent.name());
        let seen: Vec<ao_agent::project::Project> = projects
            .iter()
            .filter(|p| match &p.agent {
                Some(name) => name == agent.name(),
                None => i == 0,
            })
            .map(ProjectConfig::for_agent)
            .collect();
        // An agent no project runs needs nothing installed.
        if seen.is_empty() {
            continue;
        }
        let mine: Vec<crate::agent::ProjectContext<'_>> = seen
            .iter()
            .map(|project| crate::agent::ProjectContext {
                project,
                home,
                state: &state,
            })
            .collect();
        checks.extend(agent.doctor(&mine).await);
    }
    checks
}

/// Each project with `container:`: its engine (once per engine), what it runs from (the image,
/// or the root file system), and that the agent's program runs in it and prints its version.
/// That last check runs one throw-away container (`--rm`, no network): the only thing `ao doctor`
/// starts.
pub async fn containers(
    agents: &[std::sync::Arc<dyn crate::agent::Agent>],
    projects: &[ProjectConfig],
) -> Vec<Check> {
    use crate::container::Engine;
    let mut checks = Vec::new();
    let mut engines_checked = Vec::new();
    for (p, settings) in projects
        .iter()
        .filter_map(|p| p.container.as_ref().map(|c| (p, c.clone())))
    {
        let subject = format!("container {}", p.name);
        let found = crate::blocking::unblock({
            let (wanted, runtime) = (settings.engine, settings.runtime.clone());
            move || Engine::on_path(wanted).map(|e| e.with_runtime(runtime))
        })
        .await;
        let engine = match found {
            Ok(engine) => engine,
            Err(e) => {
                checks.push(Check::fail(
                    subject,
                    e.to_string(),
                    "install podman (and runc), or docker",
                ));
                continue;
            }
        };
        if !engines_checked.contains(&engine.kind()) {
            engines_checked.push(engine.kind());
            let e = engine.clone();
            let version = crate::blocking::unblock(move || e.version()).await;
            let what = format!("container engine {}", engine.kind());
            checks.push(match version {
                Ok(v) => Check::ok(what, format!("{v} ({})", engine.program().display())),
                Err(e) => Check::fail(what, e.to_string(), "see the engine's message"),
            });
        }
        let agent = match &p.agent {
            Some(name) => agents.iter().find(|a| a.name() == name),
            None => agents.first(),
        };
        let command = agent.and_then(|a| a.container_version_command(&p.for_agent()));
        let runs_inside = agent.is_some_and(|a| a.runs_in_container(&p.for_agent()));
        let source = settings.source.clone();
        let probe = crate::blocking::unblock({
            let engine = engine.clone();
            move || {
                engine.check_source(&source)?;
                match command {
                    Some(argv) => engine
                        .run_once(&source, settings.ulimits, &argv, Duration::from_secs(60))
                        .map(|v| Some((argv, v))),
                    None => Ok(None),
                }
            }
        })
        .await;
        let source = &settings.source;
        checks.push(match probe {
            Ok(Some((argv, version))) => Check::ok(
                subject,
                format!("{source}: `{}` prints {version:?}", argv.join(" ")),
            ),
            Ok(None) if runs_inside => Check::ok(subject, format!("{source} is here")),
            // The agent runs nothing in a container: `ao spawn` refuses the project.
            Ok(None) => Check::fail(
                subject,
                format!(
                    "{source} is here, but the {} agent runs nothing in a container, so `ao \
                     spawn` refuses this project",
                    p.agent.as_deref().unwrap_or("default")
                ),
                "use an agent that runs in a container (docs/containers.md names them), or remove \
                 `container:`",
            ),
            Err(e @ crate::container::ContainerError::ImageMissing { .. }) => Check::fail(
                subject,
                e.to_string(),
                "pull the image, or build it (docs/containers.md has a Dockerfile)",
            ),
            Err(e) => Check::fail(
                subject,
                format!("{source}: {e}"),
                "the image must hold the agent's program and git (docs/containers.md); on a \
                 machine whose runtime refuses the defaults, see container.runtime and \
                 container.ulimits there",
            ),
        });
    }
    checks
}

/// Each project's monitor: running, not needed (nothing live), or down (the next `ao` call
/// restarts it); and the last notifier failure one met.
pub fn monitors(home: &StateHome, projects: &[ProjectConfig]) -> Vec<Check> {
    let Ok(store) = crate::store::Store::open(&home.store_path()) else {
        // The state home check has said why already.
        return Vec::new();
    };
    let (Ok(records), Ok(monitors)) = (store.list(), store.monitors()) else {
        return Vec::new();
    };
    projects
        .iter()
        .map(|p| {
            let subject = format!("monitor {}", p.name);
            let m = monitors.iter().find(|m| m.project == p.name);
            let failure = m
                .and_then(|m| m.last_failure.as_deref())
                .map(|f| format!("; last notifier failure: {f}"))
                .unwrap_or_default();
            let live = records
                .iter()
                .any(|r| r.address.project == p.name && r.lifecycle == Lifecycle::Live);
            match m {
                Some(m) if m.process.is_alive() => {
                    let detail = format!("running (pid {}){failure}", m.process.pid);
                    if failure.is_empty() {
                        Check::ok(subject, detail)
                    } else {
                        Check::warn(
                            subject,
                            detail,
                            "see the monitor's log under the state home (monitors/)",
                        )
                    }
                }
                _ if live => Check::warn(
                    subject,
                    format!("not running though the project has live sessions{failure}"),
                    "the next `ao status` (or any ao call about the project) restarts it",
                ),
                _ => Check::ok(subject, format!("not running (no live session){failure}")),
            }
        })
        .collect()
}

/// The config file's trust ([`crate::trust`]): whether its notifier commands, webhooks,
/// passwords and hosts may be used, and which of them there are.
pub fn trust(config: &crate::config::Config) -> Check {
    let file = config.file.display();
    let keys: Vec<String> = config
        .gated
        .iter()
        .map(|k| format!("{} (line {})", k.key, k.line))
        .collect();
    match (config.trust.is_trusted(), keys.is_empty()) {
        (true, true) => Check::ok("trust", format!("{file}: {}", config.trust)),
        (true, false) => Check::ok(
            "trust",
            format!("{file}: {}; it uses {}", config.trust, keys.join(", ")),
        ),
        (false, true) => Check::ok(
            "trust",
            format!("{file}: not trusted, and it needs no trust (no command, webhook, password or host)"),
        ),
        (false, false) => {
            let canonical = std::fs::canonicalize(&config.file).unwrap_or(config.file.clone());
            Check::warn(
                "trust",
                format!(
                    "{file}: {}, so these keys are refused: {}",
                    config.trust,
                    keys.join(", ")
                ),
                crate::trust::remedy(config.trust, &canonical),
            )
        }
    }
}

/// The desktop notifiers: `notify-send` must be installed for them.
pub fn desktop_notifications(
    projects: &[ProjectConfig],
    top: &[crate::config::Notifier],
) -> Option<Check> {
    let wanted = top
        .iter()
        .chain(projects.iter().flat_map(|p| &p.notifications))
        .any(|n| *n.action.shown() == crate::config::NotifierAction::Desktop);
    if !wanted {
        return None;
    }
    Some(match find_program(Path::new("notify-send")) {
        Some(bin) => Check::ok("desktop notifications", format!("notify-send ({})", bin.display())),
        None => Check::warn(
            "desktop notifications",
            "`desktop: true` is configured but notify-send is not installed",
            "install it (e.g. `apt-get install libnotify-bin`), or use a command or webhook notifier",
        ),
    })
}

/// A project's directory: for work trees, a git repository with a commit and the default branch.
pub fn project(p: &ProjectConfig) -> Check {
    let subject = format!("project {}", p.name);
    if p.workspace == WorkspaceKind::None {
        return Check::ok(
            subject,
            format!("{} (sessions work in it directly)", p.path.display()),
        );
    }
    let base = p.default_branch.as_deref().unwrap_or("HEAD");
    let found = crate::workspace::base_exists(&p.path, p.default_branch.as_deref());
    match (found, &p.default_branch) {
        (Ok(true), _) => Check::ok(
            subject,
            format!(
                "{} (a work tree per session, from {base})",
                p.path.display()
            ),
        ),
        (Err(e), _) => Check::fail(subject, format!("cannot run git: {e}"), "install git"),
        (Ok(_), Some(b)) => Check::fail(
            subject,
            format!("defaultBranch {b:?} does not exist in {}", p.path.display()),
            "correct defaultBranch in the config, or create the branch",
        ),
        (Ok(_), None) => Check::fail(
            subject,
            format!("{} has no commit yet to branch from", p.path.display()),
            "commit once (e.g. `git commit --allow-empty -m init`), or set `workspace: none`",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unwritable_state_home_fails_with_a_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("file");
        std::fs::write(&file, "").unwrap();
        let c = state_home(&StateHome::at(file.join("home")));
        assert_eq!(c.verdict, Verdict::Fail);
        assert!(c.fix.unwrap().contains("set AO_HOME"));
        let c = state_home(&StateHome::at(tmp.path().join("home")));
        assert_eq!(c.verdict, Verdict::Ok, "{c:?}");
    }
}
