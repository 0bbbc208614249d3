//! The config as ao holds it once read: [`Config`], its projects, and the errors of a file that
//! cannot be used. `load` finds and reads one, `reader` walks its YAML.

use std::fmt;
use std::path::{Path, PathBuf};

use super::notify::{Budget, Notifier};
use super::yaml::Pos;
use crate::remote::Location;
use crate::session::{RuntimeKind, WorkspaceKind};
use crate::trust::Trust;
pub use ao_agent::config::AgentConfig;
use ao_agent::config::{AgentKeys, AnyAgent};

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
    pub(super) fn single(
        file: Option<&Path>,
        location: Option<Pos>,
        message: String,
    ) -> ConfigError {
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
    pub agents: &'a dyn AgentKeys,
}

fn process_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Context<'static> {
    /// The process environment; any agent name.
    pub fn process() -> Context<'static> {
        Context {
            var: &process_var,
            agents: &AnyAgent,
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
    /// The container its agent's server runs in (`container:`, its own, else that of
    /// `defaults`); `None`: on this machine as it is.
    pub container: Option<ao_agent::container::ContainerSettings>,
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
            container: self.container.clone(),
            workspace: self.workspace,
        }
    }
}

impl Config {
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
