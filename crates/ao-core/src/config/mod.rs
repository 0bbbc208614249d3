//! `agent-orchestrator.yaml`: found, parsed and validated.
//!
//! The file is found by `--config`, then `AO_CONFIG`, then by searching upward from the current
//! directory. Projects are a list of objects with `name` or a map keyed by name. The whole file is
//! checked before anything runs, and every problem is reported at once, each with file:line:column
//! and what to do: unknown keys (with the key probably meant), wrong types, values that are not one
//! of the allowed ones, duplicate projects or keys, paths that do not exist, models not in
//! `provider/model` form.
//!
//! `~` and `${VAR}` are expanded in paths (an unset variable is an error); a relative path is
//! relative to the config file's directory.

//!
//! The keys every agent understands are read here; an agent's own keys in `agentConfig` are
//! checked by its plugin through [`Agent::check_config`], which sees the
//! value as a [`ConfigValue`] and reports problems at their place in the file too.
//!
//! - [`names`](self): names, models, `~` and `${VAR}`;
//! - `reader`: the walk over the YAML tree, and `fields` the typed reads it shares;
//! - `value`: the view of a value an agent plugin checks;
//! - `notify`: `notifyDebounceMs`, `notifications` and `budget`;
//! - `yaml`: the YAML tree with positions.

mod fields;
mod location;
mod names;
mod notify;
mod reader;
mod value;
mod yaml;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::agent::Agent;
use crate::remote::Location;
use crate::session::{RuntimeKind, WorkspaceKind};
use crate::trust::Trust;
pub use ao_agent::config::AgentConfig;
pub use names::{expand_path_in, validate_model, validate_name};
pub use notify::{
    Budget, Notifier, NotifierAction, DEFAULT_NOTIFIER_TIMEOUT_MS, DEFAULT_NOTIFY_DEBOUNCE_MS,
    NOTIFY_EVENTS,
};
use reader::Reader;
pub use value::{ConfigValue, SettingProblem};
use yaml::Pos;

/// The file name searched for upward from the current directory.
pub const CONFIG_FILE_NAME: &str = "agent-orchestrator.yaml";

/// The default for `readyThresholdMs`: five minutes.
pub const DEFAULT_READY_THRESHOLD_MS: u64 = 300_000;

/// A config file that cannot be used: every problem found in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, when there is one.
    pub file: Option<PathBuf>,
    /// What is wrong, in file order.
    pub problems: Vec<Problem>,
}

/// A project name that the config does not have, with the ones it has; ao-core's error makes it
/// a not-found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NoSuchProject(pub String);

/// One thing wrong in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line and column, when known.
    pub location: Option<(usize, usize)>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl ConfigError {
    fn single(file: Option<&Path>, location: Option<Pos>, message: String) -> ConfigError {
        ConfigError {
            file: file.map(Path::to_path_buf),
            problems: vec![Problem { location, message }],
        }
    }
}

impl fmt::Display for ConfigError {
    /// One line per problem: `file:line:column: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            match (&self.file, p.location) {
                (Some(file), Some((line, col))) => {
                    write!(f, "{}:{line}:{col}: {}", file.display(), p.message)?
                }
                (Some(file), None) => write!(f, "{}: {}", file.display(), p.message)?,
                (None, _) => f.write_str(&p.message)?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// What a config is read against: the environment (for `~` and `${VAR}`) and the agent plugins
/// this `ao` has, so that an unknown `agent` is reported with its position and each agent checks
/// its own keys of `agentConfig`.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// Looks up an environment variable.
    pub var: &'a dyn Fn(&str) -> Option<String>,
    /// The agent plugins, the default first. Empty accepts any agent name and no agent's own keys.
    pub agents: &'a [Arc<dyn Agent>],
}

fn process_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Context<'static> {
    /// The process environment; any agent name.
    pub fn process() -> Context<'static> {
        Context {
            var: &process_var,
            agents: &[],
        }
    }
}

/// The whole configuration, validated and with paths expanded.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from.
    pub file: PathBuf,
    /// Whether the file may run programs and read secrets ([`crate::trust`]).
    pub trust: Trust,
    /// Every key of the file that runs a program or reads a secret, in file order: usable only
    /// when [`trust`](Self::trust) says so.
    pub gated: Vec<GatedKey>,
    /// After how long without activity a `ready` session is shown as `idle`.
    pub ready_threshold_ms: u64,
    /// How long a state must last before it is notified (`notifyDebounceMs`).
    pub notify_debounce_ms: u64,
    /// The top level's `notifications` (each project's list adds to them).
    pub notifications: Vec<Notifier>,
    /// The projects, in file order.
    pub projects: Vec<ProjectConfig>,
}

/// A key that runs a program or reads a secret ([`crate::trust::Gated`]), and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatedKey {
    /// The key: `command`, `webhook`, `server.passwordFile`, `server.passwordEnv`, `host`.
    pub key: String,
    /// 1-based.
    pub line: usize,
    /// 1-based.
    pub column: usize,
}

/// One project: a code base that sessions work on.
#[derive(Debug, Clone)]
pub struct ProjectConfig {
    /// The project's name, the first half of a session address `<project>/<name>`.
    pub name: String,
    /// The project's directory, absolute.
    pub path: PathBuf,
    /// Where sessions run unless `ao spawn --runtime` says otherwise.
    pub runtime: RuntimeKind,
    /// The agent plugin named by `agent` (or `defaults.agent`); `None` for the default one (the
    /// first of the registry).
    pub agent: Option<String>,
    /// A git work tree per session, or the project directory itself.
    pub workspace: WorkspaceKind,
    /// The prefix of default session names (`agent` gives `agent-1`, `agent-2`, ...).
    pub session_prefix: String,
    /// The branch new work trees start from; HEAD when unset.
    pub default_branch: Option<String>,
    /// Settings handed to the agent plugin.
    pub agent_config: AgentConfig,
    /// The notifiers of its sessions: the top level's, then its own.
    pub notifications: Vec<Notifier>,
    /// Its cost limits (its own keys, else those of `defaults`).
    pub budget: Budget,
    /// Where its agent server lives (`server:`, `host:`); on another machine, `path` is a
    /// directory there, as written.
    pub location: Location,
    /// When the agent's own TUI runs in a tmux session (`tmux: {tui: …}`, its own, else that of
    /// `defaults`).
    pub tui: TuiMode,
}

/// When a tmux session runs the agent's own TUI (`tmux: {tui: lazy | always}`).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
)]
#[strum(serialize_all = "lowercase")]
pub enum TuiMode {
    /// The pane runs ao's own live view; the TUI only while a person is attached (`ao attach`,
    /// or a key in the pane), and it goes when the last client detaches.
    #[default]
    Lazy,
    /// The pane runs the TUI all the time.
    Always,
}

impl ProjectConfig {
    /// What its agent may know of it: what [`ProjectContext`](crate::agent::ProjectContext)
    /// hands the plugin.
    pub fn for_agent(&self) -> ao_agent::project::Project {
        ao_agent::project::Project {
            name: self.name.clone(),
            path: self.path.clone(),
            agent_config: self.agent_config.clone(),
            location: self.location.clone(),
        }
    }
}

impl Config {
    /// Finds the config file: `explicit` (from `--config`), then `AO_CONFIG`, then upward from `cwd`.
    pub fn locate(explicit: Option<&Path>, cwd: &Path) -> Result<PathBuf, ConfigError> {
        if let Some(path) = explicit {
            return Ok(path.to_path_buf());
        }
        if let Some(env) = std::env::var_os("AO_CONFIG").filter(|v| !v.is_empty()) {
            return Ok(PathBuf::from(env));
        }
        let mut dir = Some(cwd);
        while let Some(d) = dir {
            let candidate = d.join(CONFIG_FILE_NAME);
            if candidate.is_file() {
                return Ok(candidate);
            }
            dir = d.parent();
        }
        Err(ConfigError::single(
            None,
            None,
            format!(
                "no {CONFIG_FILE_NAME} found in {} or any parent directory; \
                 create one (see examples/) or pass --config PATH",
                cwd.display()
            ),
        ))
    }

    /// Reads and validates a config file against the process environment.
    pub fn load(file: &Path) -> Result<Config, ConfigError> {
        Config::load_in(file, Context::process())
    }

    /// Reads and validates a config file against `cx`.
    pub fn load_in(file: &Path, cx: Context<'_>) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|e| {
            let fix = if e.kind() == std::io::ErrorKind::NotFound {
                "; check the path given by --config or AO_CONFIG"
            } else {
                ""
            };
            ConfigError::single(
                Some(file),
                None,
                format!("cannot read the config file: {e}{fix}"),
            )
        })?;
        Config::parse_in(&text, file, cx)
    }

    /// Parses and validates config text against the process environment; `file` names it in
    /// errors and anchors relative paths.
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
        Config::parse_in(text, file, Context::process())
    }

    /// Parses and validates config text against `cx`.
    pub fn parse_in(text: &str, file: &Path, cx: Context<'_>) -> Result<Config, ConfigError> {
        let root = yaml::parse(text).map_err(|e| {
            // YAML forbids tabs in indentation, and the parser's words for it name a place
            // that is not where the tab is.
            let tab = text.lines().enumerate().find_map(|(i, line)| {
                let indent = &line[..line.len() - line.trim_start().len()];
                indent
                    .chars()
                    .position(|c| c == '\t')
                    .map(|col| (i + 1, col + 1))
            });
            match tab {
                Some(pos) => ConfigError::single(
                    Some(file),
                    Some(pos),
                    "a tab indents this line; YAML indents with spaces only".into(),
                ),
                None => ConfigError::single(Some(file), Some(e.pos), e.message),
            }
        })?;
        // A bare file name has the empty path as its parent: that is the current directory.
        let base_dir = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let mut reader = Reader {
            cx,
            base_dir,
            problems: Vec::new(),
            trust: crate::trust::trust_of(file, cx.var),
            file: file.to_path_buf(),
            gated: Vec::new(),
        };
        let mut config = reader.config(root.as_ref(), file);
        config.gated = std::mem::take(&mut reader.gated);
        if reader.problems.is_empty() {
            Ok(config)
        } else {
            // Stable: problems found at one place keep the order they were found in.
            reader.problems.sort_by_key(|p| p.location);
            Err(ConfigError {
                file: Some(file.to_path_buf()),
                problems: reader.problems,
            })
        }
    }

    /// The project with this name, or a not-found error that lists the known ones.
    pub fn project(&self, name: &str) -> Result<&ProjectConfig, NoSuchProject> {
        self.projects
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| {
                let known: Vec<_> = self.projects.iter().map(|p| p.name.as_str()).collect();
                NoSuchProject(format!(
                    "no project {name:?} in {}; known projects: {}",
                    self.file.display(),
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ))
            })
    }
}

#[cfg(test)]
mod input_tests;
#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
