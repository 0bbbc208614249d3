//! The checks behind `ao doctor`: what is installed, reachable and misconfigured, each with what
//! to do about it. Checks never start or change anything (except a probe file in the state home,
//! removed at once).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::config::ProjectConfig;
use crate::home::StateHome;
use crate::session::{Lifecycle, WorkspaceKind};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Fine.
    Ok,
    /// Works, but worth knowing (an untested version, something only some commands need).
    Warn,
    /// Something ao needs is missing or broken.
    Fail,
}

/// One finding of `ao doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// How it came out.
    pub verdict: Verdict,
    /// What was checked: `tmux`, an agent's program, `state home`, `project demo`, ...
    pub subject: String,
    /// What was found.
    pub detail: String,
    /// What to do about it, when something is wrong.
    pub fix: Option<String>,
}

impl Check {
    /// A check that passed.
    pub fn ok(subject: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            verdict: Verdict::Ok,
            subject: subject.into(),
            detail: detail.into(),
            fix: None,
        }
    }

    /// A finding worth knowing, with what to do.
    pub fn warn(
        subject: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            verdict: Verdict::Warn,
            subject: subject.into(),
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    /// A failure, with what to do.
    pub fn fail(
        subject: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            verdict: Verdict::Fail,
            subject: subject.into(),
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Where `program` is: itself when it names a path (relative ones against the current
/// directory), else the first executable match on `PATH`.
pub fn find_program(program: &Path) -> Option<PathBuf> {
    which::which(program).ok()
}

/// The first line a program prints for `args` (e.g. `--version`), within `timeout`.
pub fn program_output(program: &Path, args: &[&str], timeout: Duration) -> Result<String, String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "`{} {}` did not answer within {}s",
                    program.display(),
                    args.join(" "),
                    timeout.as_secs()
                ));
            }
            Err(e) => return Err(format!("cannot wait for {}: {e}", program.display())),
        }
    };
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut out);
    }
    if !status.success() {
        let mut err = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            let _ = stderr.read_to_string(&mut err);
        }
        return Err(format!(
            "`{} {}` failed ({status}): {}",
            program.display(),
            args.join(" "),
            err.trim()
        ));
    }
    Ok(out.lines().next().unwrap_or_default().trim().to_string())
}

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
        let mine: Vec<crate::agent::ProjectContext<'_>> = projects
            .iter()
            .filter(|p| match &p.agent {
                Some(name) => name == agent.name(),
                None => i == 0,
            })
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
    fn programs_are_found_on_path_or_by_path() {
        assert!(find_program(Path::new("sh")).is_some());
        assert_eq!(find_program(Path::new("/surely/not/here/tmux")), None);
        // A file that cannot be run is not a program.
        let tmp = tempfile::tempdir().unwrap();
        let plain = tmp.path().join("tmux");
        std::fs::write(&plain, "").unwrap();
        assert_eq!(find_program(&plain), None);
        assert_eq!(
            program_output(
                Path::new("/bin/sh"),
                &["-c", "echo one; echo two"],
                Duration::from_secs(5)
            )
            .unwrap(),
            "one"
        );
        assert!(program_output(
            Path::new("/bin/sh"),
            &["-c", "sleep 5"],
            Duration::from_millis(100)
        )
        .unwrap_err()
        .contains("did not answer"));
    }

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
