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

mod yaml;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::session::{RuntimeKind, WorkspaceKind};
use yaml::{Kind, Node, Pos, Scalar};

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
/// this `ao` has, so that an unknown `agent` is reported with its position.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// Looks up an environment variable.
    pub var: &'a dyn Fn(&str) -> Option<String>,
    /// The agent names accepted; empty accepts any.
    pub agents: &'a [&'a str],
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
    /// After how long without activity a `ready` session is shown as `idle`.
    pub ready_threshold_ms: u64,
    /// The projects, in file order.
    pub projects: Vec<ProjectConfig>,
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
    /// The coding agent (`opencode`).
    pub agent: String,
    /// A git work tree per session, or the project directory itself.
    pub workspace: WorkspaceKind,
    /// The prefix of default session names (`agent` gives `agent-1`, `agent-2`, ...).
    pub session_prefix: String,
    /// The branch new work trees start from; HEAD when unset.
    pub default_branch: Option<String>,
    /// Settings handed to the agent plugin.
    pub agent_config: AgentConfig,
}

/// The `agentConfig` of a project.
#[derive(Debug, Clone, Default)]
pub struct AgentConfig {
    /// `provider/model`.
    pub model: Option<String>,
    /// The prompt used when `ao spawn` is given none.
    pub prompt: Option<String>,
    /// The agent's own agent or mode name (OpenCode: `build`, `plan`, ...).
    pub agent: Option<String>,
    /// The permission policy: `ask`, `allow`, `deny`, or a map per tool, as JSON.
    pub permission: Option<serde_json::Value>,
    /// Extra OpenCode configuration merged into the project's server config.
    pub opencode_config: Option<serde_json::Value>,
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
                indent.find('\t').map(|col| (i + 1, col + 1))
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
        };
        let config = reader.config(root.as_ref(), file);
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

    /// The project with this name, or a usage error that lists the known ones.
    pub fn project(&self, name: &str) -> Result<&ProjectConfig, crate::Error> {
        self.projects
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| {
                let known: Vec<_> = self.projects.iter().map(|p| p.name.as_str()).collect();
                crate::Error::Usage(format!(
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

/// Checks that a project or session name is safe as a tmux session name, a git branch component
/// and a file name: ASCII letters, digits, `-` and `_`, starting with a letter or digit.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err("must be 1 to 64 characters".into());
    }
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(
            "use only letters, digits, '-' and '_', starting with a letter or digit \
             (it names tmux sessions, git branches and directories)"
                .into(),
        );
    }
    Ok(())
}

/// Checks the `provider/model` form.
pub fn validate_model(model: &str) -> Result<(), String> {
    match model.split_once('/') {
        Some((provider, id))
            if !provider.is_empty() && !id.is_empty() && !model.contains(char::is_whitespace) =>
        {
            Ok(())
        }
        _ => Err(format!(
            "model {model:?} is not in provider/model form, e.g. anthropic/claude-sonnet-4"
        )),
    }
}

/// Expands a leading `~` (`$HOME`) and every `${VAR}` with `var`; an unset variable is an error.
pub fn expand_path_in(raw: &str, var: &dyn Fn(&str) -> Option<String>) -> Result<PathBuf, String> {
    let mut out = String::new();
    let mut rest = raw;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("path {raw:?} has a `${{` without its `}}`"))?;
        let name = &after[..end];
        let value = var(name).filter(|v| !v.is_empty()).ok_or_else(|| {
            format!("path {raw:?} uses ${{{name}}}, which is not set; set it in the environment or write the path out")
        })?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    if out == "~" || out.starts_with("~/") {
        let home = var("HOME")
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("path {raw:?} starts with ~ but HOME is not set"))?;
        out = format!("{home}{}", &out[1..]);
    } else if out.starts_with('~') {
        return Err(format!(
            "path {raw:?}: ~user is not supported; write the path out"
        ));
    }
    Ok(PathBuf::from(out))
}

/// The known name closest to `word`, if one is close enough to be what was meant.
fn did_you_mean<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    let squash = |s: &str| {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect::<String>()
    };
    let w = squash(word);
    // Same letters but for case and separators: agent_config, readythresholdms.
    if let Some(k) = known.iter().find(|k| squash(k) == w) {
        return Some(k);
    }
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(&w, &squash(k)), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

const TOP_KEYS: &[&str] = &["readyThresholdMs", "defaults", "plugins", "projects"];
const DEFAULTS_KEYS: &[&str] = &["runtime", "agent", "workspace"];
const PLUGINS_KEYS: &[&str] = &["agent", "runtime"];
const PROJECT_KEYS: &[&str] = &[
    "name",
    "path",
    "runtime",
    "agent",
    "workspace",
    "sessionPrefix",
    "defaultBranch",
    "agentConfig",
];
const AGENT_CONFIG_KEYS: &[&str] = &["model", "prompt", "agent", "permission", "opencodeConfig"];
const RUNTIMES: &[&str] = &["tmux", "process"];
const WORKSPACES: &[&str] = &["worktree", "none"];
const PERMISSIONS: &[&str] = &["ask", "allow", "deny"];

/// The keys of one mapping, checked against the known ones.
struct Fields<'n> {
    entries: Vec<(&'n str, &'n Node, &'n Node)>,
    /// Known keys suggested for unknown ones (a missing key then needs no message of its own).
    suggested: Vec<String>,
}

impl<'n> Fields<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, _, v)| *v)
    }
}

/// Walks the YAML tree, building the config and collecting every problem.
struct Reader<'c> {
    cx: Context<'c>,
    base_dir: PathBuf,
    problems: Vec<Problem>,
}

impl Reader<'_> {
    fn problem(&mut self, pos: Pos, message: String) {
        self.problems.push(Problem {
            location: Some(pos),
            message,
        });
    }

    /// The entries of a mapping whose keys must be among `known`; `None` (and a problem) when the
    /// node is not a mapping. An empty value counts as an empty mapping.
    fn fields<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        known: &[&str],
        expected: &str,
    ) -> Option<Fields<'n>> {
        let entries = match &node.kind {
            Kind::Map(entries) => entries,
            _ if node.scalar() == Some(Scalar::Null) => {
                return Some(Fields {
                    entries: vec![],
                    suggested: vec![],
                })
            }
            _ => {
                self.problem(
                    node.pos,
                    format!("{what} must be {expected}, not {}", node.describe()),
                );
                return None;
            }
        };
        let mut out: Vec<(&str, &Node, &Node)> = Vec::new();
        let mut suggested = Vec::new();
        for (k, v) in entries {
            let Kind::Scalar { text, .. } = &k.kind else {
                self.problem(
                    k.pos,
                    format!("a key in {what} is {}; keys are names", k.describe()),
                );
                continue;
            };
            if !known.contains(&text.as_str()) {
                let hint = match did_you_mean(text, known) {
                    Some(s) => {
                        suggested.push(s.to_string());
                        format!("did you mean `{s}`?")
                    }
                    None => format!("known keys: {}", known.join(", ")),
                };
                self.problem(k.pos, format!("unknown key `{text}` in {what}; {hint}"));
                continue;
            }
            if let Some((_, first, _)) = out.iter().find(|(name, _, _)| *name == text) {
                let line = first.pos.0;
                self.problem(
                    k.pos,
                    format!("`{text}` is set twice in {what} (first on line {line}); keep one"),
                );
                continue;
            }
            out.push((text.as_str(), k, v));
        }
        Some(Fields {
            entries: out,
            suggested,
        })
    }

    /// A string value; `None` (and a problem) for anything else. Empty counts as unset.
    fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match node.scalar() {
            Some(Scalar::Str(s)) => Some(s.to_string()),
            Some(Scalar::Null) => None,
            Some(_) => {
                let text = match &node.kind {
                    Kind::Scalar { text, .. } => text.as_str(),
                    _ => "",
                };
                self.problem(
                    node.pos,
                    format!(
                        "{what} must be a string, not {}; write it in quotes (\"{text}\") if you \
                         mean the text",
                        node.describe()
                    ),
                );
                None
            }
            None => {
                self.problem(
                    node.pos,
                    format!("{what} must be a string, not {}", node.describe()),
                );
                None
            }
        }
    }

    /// One of `options`; `None` (and a problem) otherwise.
    fn choice<'o>(
        &mut self,
        node: &Node,
        what: &str,
        ctx: &str,
        options: &[&'o str],
    ) -> Option<&'o str> {
        let value = match node.scalar() {
            Some(Scalar::Str(s)) => s.to_string(),
            Some(Scalar::Null) => {
                self.problem(
                    node.pos,
                    format!("{what}{ctx} is empty; use one of: {}", options.join(", ")),
                );
                return None;
            }
            _ => {
                self.problem(
                    node.pos,
                    format!(
                        "{what}{ctx} must be one of: {}, not {}",
                        options.join(", "),
                        node.describe()
                    ),
                );
                return None;
            }
        };
        if let Some(o) = options.iter().find(|o| **o == value) {
            return Some(o);
        }
        let message = match did_you_mean(&value, options) {
            Some(s) => format!(
                "unknown {what} {value:?}{ctx}; did you mean {s}? (one of: {})",
                options.join(", ")
            ),
            None => format!(
                "unknown {what} {value:?}{ctx}; use one of: {}",
                options.join(", ")
            ),
        };
        self.problem(node.pos, message);
        None
    }

    fn runtime(&mut self, node: Option<&Node>) -> Option<RuntimeKind> {
        match self.choice(node?, "runtime", "", RUNTIMES)? {
            "tmux" => Some(RuntimeKind::Tmux),
            _ => Some(RuntimeKind::Process),
        }
    }

    /// The workspace kind a node gives, with where it was given.
    fn workspace(&mut self, node: Option<&Node>) -> Option<(WorkspaceKind, Pos)> {
        let node = node?;
        let kind = match self.choice(node, "workspace", "", WORKSPACES)? {
            "worktree" => WorkspaceKind::Worktree,
            _ => WorkspaceKind::None,
        };
        Some((kind, node.pos))
    }

    fn agent(&mut self, node: Option<&Node>) -> Option<String> {
        let node = node?;
        if self.cx.agents.is_empty() {
            return self.string(node, "agent");
        }
        let agents = self.cx.agents;
        self.choice(node, "agent", "", agents).map(str::to_string)
    }

    fn config(&mut self, root: Option<&Node>, file: &Path) -> Config {
        let mut config = Config {
            file: file.to_path_buf(),
            ready_threshold_ms: DEFAULT_READY_THRESHOLD_MS,
            projects: Vec::new(),
        };
        let Some(root) = root else {
            return config;
        };
        let Some(top) = self.fields(
            root,
            "the config",
            TOP_KEYS,
            "a map with `projects` (see examples/)",
        ) else {
            return config;
        };
        if let Some(node) = top.get("readyThresholdMs") {
            match node.scalar() {
                Some(Scalar::Int(ms)) if ms > 0 => config.ready_threshold_ms = ms as u64,
                _ => self.problem(
                    node.pos,
                    format!(
                        "readyThresholdMs must be a positive whole number of milliseconds \
                         (e.g. 300000 for 5 minutes), not {}",
                        match node.scalar() {
                            Some(Scalar::Int(i)) => i.to_string(),
                            _ => node.describe().to_string(),
                        }
                    ),
                ),
            }
        }
        let defaults = top
            .get("defaults")
            .and_then(|n| self.fields(n, "defaults", DEFAULTS_KEYS, "a map"));
        let plugins = top
            .get("plugins")
            .and_then(|n| self.fields(n, "plugins", PLUGINS_KEYS, "a map"));
        let default_runtime = self
            .runtime(defaults.as_ref().and_then(|d| d.get("runtime")))
            .or_else(|| self.runtime(plugins.as_ref().and_then(|p| p.get("runtime"))));
        let default_agent = self
            .agent(defaults.as_ref().and_then(|d| d.get("agent")))
            .or_else(|| self.agent(plugins.as_ref().and_then(|p| p.get("agent"))));
        let default_workspace = self.workspace(defaults.as_ref().and_then(|d| d.get("workspace")));

        let defaults = ProjectDefaults {
            runtime: default_runtime,
            agent: default_agent,
            workspace: default_workspace,
        };
        if let Some(projects) = top.get("projects") {
            self.projects(projects, &defaults, &mut config.projects);
        }
        config
    }

    fn projects(&mut self, node: &Node, defaults: &ProjectDefaults, out: &mut Vec<ProjectConfig>) {
        // (name, where the name is written, the project's mapping)
        let mut items: Vec<(String, Pos, &Node)> = Vec::new();
        match &node.kind {
            Kind::Seq(list) => {
                for item in list {
                    let Kind::Map(entries) = &item.kind else {
                        self.problem(
                            item.pos,
                            format!(
                                "each project must be a map with `name` and `path`, not {}",
                                item.describe()
                            ),
                        );
                        continue;
                    };
                    let name = entries.iter().find(|(k, _)| k.key_text() == "name");
                    match name {
                        Some((_, v)) => {
                            if let Some(name) = self.string(v, "a project's `name`") {
                                items.push((name, v.pos, item));
                            }
                        }
                        None => self.problem(
                            item.pos,
                            "this project has no `name`; add one, e.g. `name: my-project`".into(),
                        ),
                    }
                }
            }
            Kind::Map(entries) => {
                for (k, v) in entries {
                    let name = k.key_text();
                    if let Kind::Map(inner) = &v.kind {
                        if let Some((_, n)) = inner.iter().find(|(ik, _)| ik.key_text() == "name") {
                            if n.scalar() != Some(Scalar::Str(&name)) {
                                self.problem(
                                    n.pos,
                                    format!(
                                        "project {name:?} has `name: {}`; in the map form the key \
                                         is the name, so drop `name`",
                                        n.key_text()
                                    ),
                                );
                                continue;
                            }
                        }
                    }
                    items.push((name, k.pos, v));
                }
            }
            _ if node.scalar() == Some(Scalar::Null) => {}
            _ => {
                self.problem(
                    node.pos,
                    format!(
                        "projects must be a list of projects (`- name: ...`) or a map keyed by \
                         project name, not {}",
                        node.describe()
                    ),
                );
                return;
            }
        }
        let mut seen: Vec<(String, Pos)> = Vec::new();
        for (name, name_pos, item) in items {
            if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
                let line = first.0;
                self.problem(
                    name_pos,
                    format!(
                        "project {name:?} is defined twice (first on line {line}); project names \
                         must be unique, so rename or remove one"
                    ),
                );
                continue;
            }
            seen.push((name.clone(), name_pos));
            if let Err(m) = validate_name(&name) {
                self.problem(
                    name_pos,
                    format!("project name {name:?} cannot be used: {m}"),
                );
                continue;
            }
            if let Some(p) = self.project(&name, name_pos, item, defaults) {
                out.push(p);
            }
        }
    }

    fn project(
        &mut self,
        name: &str,
        name_pos: Pos,
        node: &Node,
        defaults: &ProjectDefaults,
    ) -> Option<ProjectConfig> {
        let what = format!("project {name:?}");
        let f = self.fields(node, &what, PROJECT_KEYS, "a map with `path`")?;
        let before = self.problems.len();

        let path = match f.get("path") {
            None if f.suggested.iter().any(|k| k == "path") => None,
            None => {
                self.problem(
                    name_pos,
                    format!(
                        "project {name:?} has no `path`; add the directory of its code, e.g. \
                         `path: ~/code/{name}`"
                    ),
                );
                None
            }
            Some(node) => match self.string(node, "`path`") {
                None => {
                    if node.scalar() == Some(Scalar::Null) {
                        self.problem(
                            node.pos,
                            format!("project {name:?} has an empty `path`; set it to the directory of its code"),
                        );
                    }
                    None
                }
                Some(raw) => self.directory(name, &raw, node.pos),
            },
        };

        let runtime = self
            .runtime(f.get("runtime"))
            .or(defaults.runtime)
            .unwrap_or(RuntimeKind::Tmux);
        let agent = self
            .agent(f.get("agent"))
            .or_else(|| defaults.agent.clone())
            .unwrap_or_else(|| "opencode".into());
        let workspace = self.workspace(f.get("workspace")).or(defaults.workspace);
        let session_prefix = match f.get("sessionPrefix") {
            Some(node) => match self.string(node, "sessionPrefix") {
                Some(prefix) => {
                    if let Err(m) = validate_name(&prefix) {
                        self.problem(
                            node.pos,
                            format!("sessionPrefix {prefix:?} cannot be used: {m}"),
                        );
                    }
                    prefix
                }
                None => "agent".into(),
            },
            None => "agent".into(),
        };
        let default_branch = f.get("defaultBranch").and_then(|node| {
            let branch = self.string(node, "defaultBranch")?;
            if branch.is_empty()
                || branch.starts_with('-')
                || branch.contains("..")
                || branch
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "~^:?*[\\".contains(c))
            {
                self.problem(
                    node.pos,
                    format!("defaultBranch {branch:?} is not a valid git branch name"),
                );
                return None;
            }
            Some(branch)
        });
        let agent_config = match f.get("agentConfig") {
            Some(node) => self.agent_config(node),
            None => AgentConfig::default(),
        };

        let path = path?;
        let workspace = match workspace {
            Some((WorkspaceKind::Worktree, pos)) if !path.join(".git").exists() => {
                self.problem(
                    pos,
                    format!(
                        "project {name:?} uses workspace: worktree, but {} is not a git \
                         repository; run `git init` there, or set `workspace: none`",
                        path.display()
                    ),
                );
                WorkspaceKind::None
            }
            Some((w, _)) => w,
            None if path.join(".git").exists() => WorkspaceKind::Worktree,
            None => WorkspaceKind::None,
        };
        if self.problems.len() > before {
            return None;
        }
        Some(ProjectConfig {
            name: name.to_string(),
            path,
            runtime,
            agent,
            workspace,
            session_prefix,
            default_branch,
            agent_config,
        })
    }

    /// The project's directory: expanded, anchored at the config's directory, existing.
    fn directory(&mut self, name: &str, raw: &str, pos: Pos) -> Option<PathBuf> {
        let expanded = match expand_path_in(raw, self.cx.var) {
            Ok(p) => p,
            Err(m) => {
                self.problem(pos, format!("project {name:?}: {m}"));
                return None;
            }
        };
        let joined = if expanded.is_absolute() {
            expanded
        } else {
            self.base_dir.join(expanded)
        };
        // `./x` reads as x in messages.
        let mut path: PathBuf = joined
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect();
        if path.as_os_str().is_empty() {
            path = PathBuf::from(".");
        }
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => Some(path.canonicalize().unwrap_or(path)),
            Ok(_) => {
                self.problem(
                    pos,
                    format!(
                        "project {name:?}: path {} is a file, not a directory",
                        path.display()
                    ),
                );
                None
            }
            Err(_) => {
                self.problem(
                    pos,
                    format!(
                        "project {name:?}: path {} does not exist; create it or correct the path",
                        path.display()
                    ),
                );
                None
            }
        }
    }

    fn agent_config(&mut self, node: &Node) -> AgentConfig {
        let mut ac = AgentConfig::default();
        let Some(f) = self.fields(node, "agentConfig", AGENT_CONFIG_KEYS, "a map") else {
            return ac;
        };
        if let Some(node) = f.get("model") {
            ac.model = self.string(node, "model");
            if let Some(model) = &ac.model {
                if let Err(m) = validate_model(model) {
                    self.problem(node.pos, m);
                }
            }
        }
        if let Some(node) = f.get("prompt") {
            ac.prompt = self.string(node, "prompt");
        }
        if let Some(node) = f.get("agent") {
            ac.agent = self.string(node, "agentConfig.agent");
        }
        if let Some(node) = f.get("permission") {
            if self.permission(node) {
                ac.permission = Some(node.to_json());
            }
        }
        if let Some(node) = f.get("opencodeConfig") {
            match &node.kind {
                Kind::Map(_) => ac.opencode_config = Some(node.to_json()),
                _ if node.scalar() == Some(Scalar::Null) => {}
                _ => self.problem(
                    node.pos,
                    format!(
                        "opencodeConfig must be a map of OpenCode settings, not {}",
                        node.describe()
                    ),
                ),
            }
        }
        ac
    }

    /// `ask | allow | deny`, or a map per tool of those, or per tool a map of pattern to those.
    fn permission(&mut self, node: &Node) -> bool {
        let before = self.problems.len();
        match &node.kind {
            Kind::Map(tools) => {
                for (tool, rule) in tools {
                    let ctx = format!(" for {}", tool.key_text());
                    match &rule.kind {
                        Kind::Map(patterns) => {
                            for (pattern, action) in patterns {
                                let ctx = format!("{ctx} on {:?}", pattern.key_text());
                                self.choice(action, "permission", &ctx, PERMISSIONS);
                            }
                        }
                        _ => {
                            self.choice(rule, "permission", &ctx, PERMISSIONS);
                        }
                    }
                }
            }
            _ => {
                self.choice(node, "permission", "", PERMISSIONS);
            }
        }
        self.problems.len() == before
    }
}

/// What `defaults` (or the older `plugins`) give every project.
struct ProjectDefaults {
    runtime: Option<RuntimeKind>,
    agent: Option<String>,
    /// With where it was set, for the error when a project cannot have it.
    workspace: Option<(WorkspaceKind, Pos)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, dir: &Path) -> Result<Config, ConfigError> {
        Config::parse(text, &dir.join("agent-orchestrator.yaml"))
    }

    #[test]
    fn list_and_map_forms_give_the_same_projects() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("p1")).unwrap();
        let list = "plugins:\n  agent: opencode\nprojects:\n  - name: demo\n    path: p1\n    agentConfig:\n      model: mock/mock-1\n      prompt: hi\n";
        let map = "projects:\n  demo:\n    path: p1\n    agentConfig:\n      model: mock/mock-1\n      prompt: hi\n";
        for text in [list, map] {
            let c = parse(text, tmp.path()).unwrap();
            assert_eq!(c.projects.len(), 1);
            let p = &c.projects[0];
            assert_eq!(p.name, "demo");
            assert_eq!(p.agent, "opencode");
            assert_eq!(p.workspace, WorkspaceKind::None);
            assert_eq!(p.agent_config.model.as_deref(), Some("mock/mock-1"));
            assert_eq!(c.ready_threshold_ms, DEFAULT_READY_THRESHOLD_MS);
        }
    }

    #[test]
    fn a_dot_path_beside_a_bare_file_name_is_the_current_directory() {
        let c = Config::parse(
            "projects:\n  demo:\n    path: .\n",
            Path::new("agent-orchestrator.yaml"),
        )
        .unwrap();
        assert_eq!(
            c.projects[0].path,
            std::env::current_dir().unwrap().canonicalize().unwrap()
        );
    }

    #[test]
    fn unknown_key_names_line_and_column_and_the_key_meant() {
        let tmp = tempfile::tempdir().unwrap();
        let err = parse("projects:\n  - name: demo\n    pth: x\n", tmp.path()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(
                "agent-orchestrator.yaml:3:5: unknown key `pth` in project \"demo\"; did you mean `path`?"
            ),
            "{text}"
        );
    }

    #[test]
    fn every_problem_is_reported_in_file_order() {
        let tmp = tempfile::tempdir().unwrap();
        let err = parse(
            "projects:\n  - name: demo\n    path: nowhere\n    runtime: docker\n    agentConfig:\n      model: gpt4\n",
            tmp.path(),
        )
        .unwrap_err();
        let lines: Vec<_> = err.problems.iter().map(|p| p.location).collect();
        assert_eq!(lines, vec![Some((3, 11)), Some((4, 14)), Some((6, 14))]);
        assert!(err.problems[2]
            .message
            .contains("model \"gpt4\" is not in provider/model form"));
    }

    #[test]
    fn variables_and_home_come_from_the_context() {
        let var = |k: &str| match k {
            "HOME" => Some("/home/me".to_string()),
            "WORK" => Some("/srv/work".to_string()),
            _ => None,
        };
        assert_eq!(
            expand_path_in("${WORK}/x", &var).unwrap(),
            PathBuf::from("/srv/work/x")
        );
        assert_eq!(
            expand_path_in("~/code", &var).unwrap(),
            PathBuf::from("/home/me/code")
        );
        assert!(expand_path_in("${NOPE}/x", &var)
            .unwrap_err()
            .contains("${NOPE}, which is not set"));
    }

    #[test]
    fn suggestions_catch_case_separators_and_typos() {
        assert_eq!(
            did_you_mean("agent_config", PROJECT_KEYS),
            Some("agentConfig")
        );
        assert_eq!(
            did_you_mean("readythresholdms", TOP_KEYS),
            Some("readyThresholdMs")
        );
        assert_eq!(did_you_mean("tmx", RUNTIMES), Some("tmux"));
        assert_eq!(did_you_mean("kubernetes", RUNTIMES), None);
    }
}
