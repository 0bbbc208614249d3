//! `ao init`: a commented `agent-orchestrator.yaml` for a directory, from what is there.
//!
//! The project is the git repository the directory is in (its root, so that every session sees
//! the whole repository), or the directory itself when it is in none (then sessions share it:
//! `workspace: none`). The runtime is tmux when `tmux` is on `PATH`, else process. ao-core names
//! no agent: the caller passes the agent's name and the lines of its settings
//! ([`AgentTemplate`]).
//!
//! The file is written whole or not at all: a temporary file in the same directory, flushed to
//! disk, then given the final name only if that name is free (tempfile's `persist_noclobber`),
//! so an existing config, even one that appeared in the meantime, is never overwritten.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::config::{validate_name, CONFIG_FILE_NAME};
use crate::doctor::find_program;
use crate::session::{RuntimeKind, WorkspaceKind};
use crate::trust::TrustStore;

/// The agent a new config names, as the caller (the CLI, which knows the plugins) describes it.
#[derive(Debug, Clone, Copy)]
pub struct AgentTemplate<'a> {
    /// The agent's name, as `agent:` in the config takes it.
    pub name: &'a str,
    /// Lines for the project's `agentConfig`, usually commented-out examples with what each key
    /// does; written as given, indented under `agentConfig:`. None: no `agentConfig` at all.
    pub config_lines: &'a [&'a str],
}

/// What `ao init` found out about a directory: everything the file it writes says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The file to write: `agent-orchestrator.yaml` in the directory given, absolute.
    pub file: PathBuf,
    /// The project's directory: the root of the git work tree the directory is in, else the
    /// directory itself.
    pub path: PathBuf,
    /// The project's name: the project directory's name, made a valid name.
    pub name: String,
    /// The runtime sessions get: tmux when it is on `PATH`, else process.
    pub runtime: RuntimeKind,
    /// Work trees in a git repository; the directory itself otherwise.
    pub workspace: WorkspaceKind,
    /// Why the directory is taken as it is (no git repository found), for the file's comment.
    pub not_git: Option<String>,
}

/// Why `ao init` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The directory given does not exist, or is a file.
    #[error("{} {why}; give `ao init` the project's directory", path.display())]
    NotADirectory {
        /// The path given.
        path: PathBuf,
        /// "does not exist", "is not a directory".
        why: &'static str,
    },
    /// A config file is there already; it is left as it is.
    #[error(
        "{} already exists, and ao init does not replace it; edit it (`ao doctor` checks it), or \
         move it aside and run `ao init` again",
        .0.display()
    )]
    Exists(PathBuf),
    /// The project's path cannot be written so that ao reads the same path back.
    #[error(
        "the path {} {why}, so ao cannot write it into a config; use a directory whose path \
         has no such characters",
        path.display()
    )]
    Unwritable {
        /// The project's path.
        path: PathBuf,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A file system call failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What ao was doing, e.g. "cannot write".
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The file was written, but its trust could not be recorded in the state home.
    #[error("wrote {}, but cannot trust it: {source}; run `ao trust` there once the state home is fixed", file.display())]
    Trust {
        /// The file written.
        file: PathBuf,
        /// Why the record failed.
        #[source]
        source: Box<crate::Error>,
    },
}

impl InitError {
    /// True when the person must change what they asked for (exit code 2), rather than retry.
    pub fn is_usage(&self) -> bool {
        !matches!(self, InitError::Io { .. } | InitError::Trust { .. })
    }

    fn io(what: &'static str, path: &Path, source: std::io::Error) -> InitError {
        InitError::Io {
            what,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Works out the config for `dir`, then writes it to `dir/agent-orchestrator.yaml`, which must
/// not exist yet, and trusts it in `trust` (the person's own file: its notifier commands and
/// the like, once added, need no `ao trust`). Returns what was written.
pub fn init(dir: &Path, agent: AgentTemplate<'_>, trust: &TrustStore) -> Result<Plan, InitError> {
    let plan = plan(dir)?;
    write_new(&plan.file, &plan.render(agent))?;
    trust.trust(&plan.file).map_err(|e| InitError::Trust {
        file: plan.file.clone(),
        source: Box::new(e.into()),
    })?;
    Ok(plan)
}

/// Works out the config for `dir` without writing anything.
pub fn plan(dir: &Path) -> Result<Plan, InitError> {
    let not_a_dir = |why| InitError::NotADirectory {
        path: dir.to_path_buf(),
        why,
    };
    let meta = std::fs::metadata(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => not_a_dir("does not exist"),
        _ => InitError::io("cannot read", dir, e),
    })?;
    if !meta.is_dir() {
        return Err(not_a_dir("is not a directory"));
    }
    let dir = dir
        .canonicalize()
        .map_err(|e| InitError::io("cannot resolve", dir, e))?;
    let file = dir.join(CONFIG_FILE_NAME);
    // Said before anything else is looked at: it is the one thing the person must act on.
    if file.symlink_metadata().is_ok() {
        return Err(InitError::Exists(file));
    }
    let (path, not_git) = match git_root(&dir) {
        Ok(root) => (root, None),
        Err(why) => (dir.clone(), Some(why)),
    };
    check_writable(&path)?;
    let name = project_name(
        &path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    let runtime = if find_program(Path::new("tmux")).is_some() {
        RuntimeKind::Tmux
    } else {
        RuntimeKind::Process
    };
    let workspace = if not_git.is_some() {
        WorkspaceKind::None
    } else {
        WorkspaceKind::Worktree
    };
    Ok(Plan {
        file,
        path,
        name,
        runtime,
        workspace,
        not_git,
    })
}

/// The root of the git work tree `dir` is in, or why there is none.
fn git_root(dir: &Path) -> Result<PathBuf, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--show-toplevel"])
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(out) if out.status.success() => {
            use std::os::unix::ffi::OsStringExt;
            let mut bytes = out.stdout;
            // Only git's own newline: a directory's name may end in spaces.
            if bytes.last() == Some(&b'\n') {
                bytes.pop();
            }
            Ok(PathBuf::from(std::ffi::OsString::from_vec(bytes)))
        }
        Ok(_) => Err("it is not in a git repository".into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err("git is not on PATH, so ao cannot use it".into())
        }
        Err(e) => Err(format!("git could not be run ({e})")),
    }
}

/// Refuses a path that the config would not read back as itself: YAML text is UTF-8, and the
/// config expands `${VAR}` in paths.
fn check_writable(path: &Path) -> Result<(), InitError> {
    let why = match path.to_str() {
        None => "is not valid UTF-8",
        Some(p) if p.contains("${") => "contains `${`, which the config reads as a variable",
        Some(_) => return Ok(()),
    };
    Err(InitError::Unwritable {
        path: path.to_path_buf(),
        why,
    })
}

/// A valid project name (see [`validate_name`]) from a directory's name: lower case, every run of
/// other characters made one `-`, starting with a letter or digit, at most 64 characters;
/// `project` when nothing is left.
pub fn project_name(dir_name: &str) -> String {
    let mut name = String::new();
    for c in dir_name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            name.push(c);
        } else if !name.ends_with('-') {
            name.push('-');
        }
    }
    let name = name.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    // ASCII only by now, so 64 bytes are 64 characters.
    let name = name[..name.len().min(64)].trim_end_matches('-');
    let name = if name.is_empty() { "project" } else { name };
    debug_assert!(validate_name(name).is_ok(), "{name}");
    name.to_string()
}

impl Plan {
    /// The config file's text.
    pub fn render(&self, agent: AgentTemplate<'_>) -> String {
        let name = &self.name;
        let mut t = String::new();
        let mut line = |s: &str| {
            t.push_str(s);
            t.push('\n');
        };
        line(
            "# ao's configuration, written by `ao init`. ao finds it by --config, then $AO_CONFIG,",
        );
        line("# then upward from the current directory. `ao doctor` checks it and what it needs;");
        line("# ao's README describes every key (\"The config file\").");
        line("");
        line(
            "# After how long untouched a finished (ready) session shows as idle, in milliseconds.",
        );
        line("# readyThresholdMs: 300000");
        line("");
        line("# Tell you when a session needs you, once per real change (`ao notify test` tries it):");
        line("# notifications:");
        line("#   - on: [waiting_input, blocked, budget]   # also: ready, idle, exited");
        line("#     desktop: true                          # or command: [...], or webhook: http://...");
        line("# Stop a session's turn past a cost, in US dollars (also per project):");
        line("# defaults:");
        line("#   budget: {sessionUsd: 0.50, projectUsd: 20}");
        line("");
        line("projects:");
        line(&format!("  - name: {name}"));
        line(&format!(
            "    # Its sessions are {name}/agent-1, {name}/agent-2, ... (`sessionPrefix: agent`)."
        ));
        match &self.not_git {
            None => line("    # The root of the git repository `ao init` was run for."),
            Some(why) => line(&format!(
                "    # The directory `ao init` was run for: {why}."
            )),
        }
        line(&format!(
            "    path: {}",
            yaml_quote(&self.path.to_string_lossy())
        ));
        match self.workspace {
            WorkspaceKind::Worktree => {
                line("    # Each session works in a git work tree of its own, on branch ao/<session>,");
                line("    # so sessions never see each other's files.");
                line("    workspace: worktree");
                line("    # Where their branches start (default: the repository's HEAD).");
                line("    # defaultBranch: main");
            }
            WorkspaceKind::None => {
                line("    # So sessions work in the directory itself and see each other's changes. In a");
                line("    # git repository with a commit, `workspace: worktree` gives each a work tree.");
                line("    workspace: none");
            }
        }
        match self.runtime {
            RuntimeKind::Tmux => {
                line("    # tmux (found on PATH): each session runs in a tmux session; `ao attach` shows");
                line("    # it live. `process` runs sessions detached instead; `ao logs` shows them.");
            }
            RuntimeKind::Process => {
                line("    # tmux is not on PATH, so sessions run as detached processes; `ao logs` shows");
                line("    # what each does. Install tmux and write `runtime: tmux` to watch them live.");
            }
        }
        line(&format!("    runtime: {}", self.runtime));
        line(&format!("    agent: {}", agent.name));
        if !agent.config_lines.is_empty() {
            line("    agentConfig:");
            for l in agent.config_lines {
                line(&format!("      {l}"));
            }
        }
        t
    }
}

/// `s` as a double-quoted YAML scalar, which reads back as exactly `s`.
fn yaml_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes `text` to `file`, which must not exist: whole or not at all, never over another file
/// (a temporary file beside it, synced, then given the name only if the name is free).
pub fn write_new(file: &Path, text: &str) -> Result<(), InitError> {
    let dir = file.parent().unwrap_or(Path::new("."));
    // A config file is the person's to share: mode 0666 less their umask, as any file they make.
    let mut tmp = tempfile::Builder::new()
        .prefix(".ao-init-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(dir)
        .map_err(|e| InitError::io("cannot create a file in", dir, e))?;
    tmp.write_all(text.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| InitError::io("cannot write", tmp.path(), e))?;
    tmp.persist_noclobber(file).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            InitError::Exists(file.to_path_buf())
        } else {
            InitError::io("cannot write", file, e.error)
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const AGENT: AgentTemplate<'static> = AgentTemplate {
        name: "some-agent",
        config_lines: &["# model: provider/model", "# permission: ask"],
    };

    fn plan_for(path: &Path, not_git: Option<&str>, runtime: RuntimeKind) -> Plan {
        Plan {
            file: path.join(CONFIG_FILE_NAME),
            path: path.to_path_buf(),
            name: project_name(&path.file_name().unwrap().to_string_lossy()),
            runtime,
            workspace: if not_git.is_some() {
                WorkspaceKind::None
            } else {
                WorkspaceKind::Worktree
            },
            not_git: not_git.map(str::to_string),
        }
    }

    #[test]
    fn names_are_made_valid() {
        for (dir, name) in [
            ("my-project", "my-project"),
            ("My Project", "my-project"),
            ("  API  (v2) ", "api-v2"),
            ("_private", "private"),
            ("snake_case", "snake_case"),
            ("Café au lait", "caf-au-lait"),
            ("...", "project"),
            ("", "project"),
        ] {
            assert_eq!(project_name(dir), name, "{dir:?}");
        }
        let long = project_name(&"a b".repeat(40));
        assert!(long.len() <= 64 && !long.ends_with('-'), "{long}");
        assert!(validate_name(&long).is_ok());
    }

    #[test]
    fn the_text_loads_back_as_the_plan_says_even_with_an_awkward_path() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp
            .path()
            .join("Odd \"name\" # with: colon\\ and 'quotes' ${not}");
        std::fs::create_dir(&dir).unwrap();
        // `${` would be read as a variable, so only the rest of the name is tried in a config.
        assert!(matches!(
            check_writable(&dir),
            Err(InitError::Unwritable { .. })
        ));
        let dir = tmp
            .path()
            .join("Odd \"name\" # with: colon\\ and 'quotes' $HOME");
        std::fs::create_dir(&dir).unwrap();
        for (not_git, runtime) in [
            (Some("it is not in a git repository"), RuntimeKind::Process),
            (None, RuntimeKind::Tmux),
        ] {
            if not_git.is_none() {
                // Work trees need a repository; the config checks that there is one.
                let git = Command::new("git")
                    .arg("-C")
                    .arg(&dir)
                    .args(["init", "-q"])
                    .status()
                    .expect("run git");
                assert!(git.success());
            }
            let plan = plan_for(&dir, not_git, runtime);
            let text = plan.render(AGENT);
            let config =
                Config::parse(&text, &plan.file).unwrap_or_else(|e| panic!("{e}\n---\n{text}"));
            let p = &config.projects[0];
            assert_eq!(config.projects.len(), 1);
            assert_eq!(p.name, plan.name);
            assert_eq!(p.path, dir);
            assert_eq!(p.runtime, runtime);
            assert_eq!(p.workspace, plan.workspace);
            assert_eq!(p.agent.as_deref(), Some("some-agent"));
            assert!(text.contains("      # model: provider/model\n"), "{text}");
            if let Some(why) = not_git {
                assert!(text.contains(why), "{text}");
            }
        }
    }

    #[test]
    fn a_directory_in_no_repository_is_the_project_with_no_work_trees() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("Plain Dir");
        std::fs::create_dir(&dir).unwrap();
        let plan = plan(&dir).unwrap();
        let dir = dir.canonicalize().unwrap();
        assert_eq!(plan.file, dir.join(CONFIG_FILE_NAME));
        assert_eq!(plan.name, "plain-dir");
        // A temporary directory is in no repository, unless TMPDIR is inside one.
        if plan.not_git.is_some() {
            assert_eq!((plan.path, plan.workspace), (dir, WorkspaceKind::None));
        }
    }

    #[test]
    fn what_is_not_a_directory_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("file");
        std::fs::write(&file, "x").unwrap();
        for (path, why) in [
            (file, "is not a directory"),
            (tmp.path().join("missing"), "does not exist"),
        ] {
            let err = plan(&path).unwrap_err();
            assert!(err.is_usage());
            assert!(err.to_string().contains(why), "{err}");
        }
    }

    #[test]
    fn an_existing_file_is_never_replaced_and_no_temporary_file_stays() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join(CONFIG_FILE_NAME);
        write_new(&file, "first\n").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "first\n");
        let err = write_new(&file, "second\n").unwrap_err();
        assert!(matches!(&err, InitError::Exists(f) if *f == file), "{err}");
        assert!(err.is_usage());
        assert!(err.to_string().contains("move it aside"), "{err}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "first\n");
        let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "{left:?}");
        // Planning says so before anything is looked at.
        assert!(matches!(plan(tmp.path()), Err(InitError::Exists(_))));
    }
}
