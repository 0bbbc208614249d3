//! `agent-orchestrator.yaml`: found, parsed and validated.
//!
//! The file is found by `--config`, then `AO_CONFIG`, then by searching upward from the current
//! directory. Projects are a list of objects with `name` or a map keyed by name. Unknown keys are
//! errors, and every error names file:line:column so a person can go straight to it.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::session::{RuntimeKind, WorkspaceKind};

/// The file name searched for upward from the current directory.
pub const CONFIG_FILE_NAME: &str = "agent-orchestrator.yaml";

/// The default for `readyThresholdMs`: five minutes.
pub const DEFAULT_READY_THRESHOLD_MS: u64 = 300_000;

/// A config file that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, when there is one.
    pub file: Option<PathBuf>,
    /// 1-based line and column, when known.
    pub location: Option<(usize, usize)>,
    /// What is wrong and, where it helps, how to fix it.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.location) {
            (Some(file), Some((line, col))) => {
                write!(f, "{}:{line}:{col}: {}", file.display(), self.message)
            }
            (Some(file), None) => write!(f, "{}: {}", file.display(), self.message),
            (None, _) => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

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
        Err(ConfigError {
            file: None,
            location: None,
            message: format!(
                "no {CONFIG_FILE_NAME} found in {} or any parent directory; \
                 create one (see examples/) or pass --config PATH",
                cwd.display()
            ),
        })
    }

    /// Reads and validates a config file.
    pub fn load(file: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|e| ConfigError {
            file: Some(file.to_path_buf()),
            location: None,
            message: format!("cannot read the config file: {e}"),
        })?;
        Config::parse(&text, file)
    }

    /// Parses and validates config text; `file` names it in errors and anchors relative paths.
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let at = |location: Option<(usize, usize)>, message: String| ConfigError {
            file: Some(file.to_path_buf()),
            location,
            message,
        };
        let raw: RawConfig = serde_yaml::from_str(text).map_err(|e| {
            let loc = e.location().map(|l| (l.line(), l.column()));
            at(loc, clean_serde_message(&e.to_string()))
        })?;
        let base_dir = file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let locate = |needle: &str| find_location(text, needle);

        let defaults = raw.defaults.unwrap_or_default();
        let plugins = raw.plugins.unwrap_or_default();
        let (plugin_agent, plugin_runtime) = (plugins.agent, plugins.runtime);
        let mut seen = BTreeSet::new();
        let mut projects = Vec::new();
        for p in raw.projects.0 {
            let name = p.name.clone().ok_or_else(|| {
                at(
                    None,
                    "a project has no `name`; give each project a name".into(),
                )
            })?;
            validate_name(&name)
                .map_err(|m| at(locate(&name), format!("project name {name:?}: {m}")))?;
            if !seen.insert(name.clone()) {
                return Err(at(
                    locate(&name),
                    format!("project {name:?} is defined twice; project names must be unique"),
                ));
            }
            let raw_path = p.path.clone().ok_or_else(|| {
                at(
                    locate(&name),
                    format!("project {name:?} has no `path`; set it to the project's directory"),
                )
            })?;
            let expanded = expand_path(&raw_path)
                .map_err(|m| at(locate(&raw_path), format!("project {name:?} path: {m}")))?;
            let path = if expanded.is_absolute() {
                expanded
            } else {
                base_dir.join(expanded)
            };
            if !path.is_dir() {
                return Err(at(
                    locate(&raw_path),
                    format!(
                        "project {name:?} path {} does not exist or is not a directory",
                        path.display()
                    ),
                ));
            }
            let path = path.canonicalize().unwrap_or(path);
            let agent_config = p.agent_config.unwrap_or_default();
            if let Some(model) = &agent_config.model {
                validate_model(model).map_err(|m| at(locate(model), m))?;
            }
            let workspace = p.workspace.or(defaults.workspace).unwrap_or_else(|| {
                if path.join(".git").exists() {
                    WorkspaceKind::Worktree
                } else {
                    WorkspaceKind::None
                }
            });
            projects.push(ProjectConfig {
                runtime: p
                    .runtime
                    .or(defaults.runtime)
                    .or(plugin_runtime)
                    .unwrap_or(RuntimeKind::Tmux),
                agent: p
                    .agent
                    .or_else(|| defaults.agent.clone())
                    .or_else(|| plugin_agent.clone())
                    .unwrap_or_else(|| "opencode".into()),
                workspace,
                session_prefix: p.session_prefix.unwrap_or_else(|| "agent".into()),
                default_branch: p.default_branch,
                agent_config: AgentConfig {
                    model: agent_config.model,
                    prompt: agent_config.prompt,
                    agent: agent_config.agent,
                    permission: agent_config.permission.map(yaml_to_json),
                    opencode_config: agent_config.opencode_config.map(yaml_to_json),
                },
                name,
                path,
            });
        }
        Ok(Config {
            file: file.to_path_buf(),
            ready_threshold_ms: raw.ready_threshold_ms.unwrap_or(DEFAULT_READY_THRESHOLD_MS),
            projects,
        })
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
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(
            "use only letters, digits, '-' and '_', starting with a letter or digit".into(),
        );
    }
    Ok(())
}

/// Checks the `provider/model` form.
pub fn validate_model(model: &str) -> Result<(), String> {
    match model.split_once('/') {
        Some((provider, id)) if !provider.is_empty() && !id.is_empty() => Ok(()),
        _ => Err(format!(
            "model {model:?} is not in provider/model form, e.g. anthropic/claude-sonnet-4"
        )),
    }
}

/// Expands a leading `~` and every `${VAR}`; an unset variable is an error.
pub fn expand_path(raw: &str) -> Result<PathBuf, String> {
    let mut out = String::new();
    let mut rest = raw;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed ${{ in {raw:?}"))?;
        let var = &after[..end];
        let value = std::env::var(var)
            .map_err(|_| format!("${{{var}}} is not set; set it or write the path out"))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    if out == "~" || out.starts_with("~/") {
        let home = std::env::var("HOME").map_err(|_| "~ used but HOME is not set".to_string())?;
        out = format!("{home}{}", &out[1..]);
    }
    Ok(PathBuf::from(out))
}

fn yaml_to_json(v: serde_yaml::Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// The 1-based line and column of the first occurrence of a scalar value in the text, for errors
/// found after parsing (when serde's positions are gone).
fn find_location(text: &str, needle: &str) -> Option<(usize, usize)> {
    if needle.is_empty() {
        return None;
    }
    text.lines().enumerate().find_map(|(i, line)| {
        let content = line.split(" #").next().unwrap_or(line);
        content.find(needle).map(|col| (i + 1, col + 1))
    })
}

/// serde_yaml appends " at line L column C" to its messages; we print the location up front.
fn clean_serde_message(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawConfig {
    ready_threshold_ms: Option<u64>,
    defaults: Option<RawDefaults>,
    plugins: Option<RawPlugins>,
    #[serde(default)]
    projects: RawProjects,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawDefaults {
    runtime: Option<RuntimeKind>,
    agent: Option<String>,
    workspace: Option<WorkspaceKind>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlugins {
    agent: Option<String>,
    runtime: Option<RuntimeKind>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawProject {
    name: Option<String>,
    path: Option<String>,
    runtime: Option<RuntimeKind>,
    agent: Option<String>,
    workspace: Option<WorkspaceKind>,
    session_prefix: Option<String>,
    default_branch: Option<String>,
    agent_config: Option<RawAgentConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawAgentConfig {
    model: Option<String>,
    prompt: Option<String>,
    agent: Option<String>,
    permission: Option<serde_yaml::Value>,
    opencode_config: Option<serde_yaml::Value>,
}

/// Projects as a list (`- name: x`) or a map keyed by name (`x: {...}`), in file order.
#[derive(Debug, Default)]
struct RawProjects(Vec<RawProject>);

impl<'de> Deserialize<'de> for RawProjects {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawProjects;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of projects with `name`, or a map of projects keyed by name")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawProjects, A::Error> {
                let mut out = Vec::new();
                while let Some(p) = seq.next_element::<RawProject>()? {
                    out.push(p);
                }
                Ok(RawProjects(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawProjects, A::Error> {
                let mut out = Vec::new();
                while let Some((key, mut p)) = map.next_entry::<String, RawProject>()? {
                    if let Some(inner) = &p.name {
                        if inner != &key {
                            return Err(de::Error::custom(format!(
                                "project {key:?} has a different `name: {inner}`; drop `name` in the map form"
                            )));
                        }
                    }
                    p.name = Some(key);
                    out.push(p);
                }
                Ok(RawProjects(out))
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawProjects, E> {
                Ok(RawProjects::default())
            }
        }
        d.deserialize_any(V)
    }
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
    fn unknown_key_names_line_and_column() {
        let tmp = tempfile::tempdir().unwrap();
        let err = parse("projects:\n  - name: demo\n    pth: x\n", tmp.path()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("agent-orchestrator.yaml:3:5: projects[0]: unknown field `pth`"),
            "{text}"
        );
    }

    #[test]
    fn bad_model_and_missing_path_are_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let err = parse("projects:\n  - name: demo\n    path: nowhere\n", tmp.path()).unwrap_err();
        assert!(
            err.to_string().contains(":3:11: project \"demo\" path"),
            "{err}"
        );
        std::fs::create_dir(tmp.path().join("p")).unwrap();
        let err = parse(
            "projects:\n  - name: demo\n    path: p\n    agentConfig:\n      model: gpt4\n",
            tmp.path(),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains(":5:14: model \"gpt4\" is not in provider/model form"),
            "{err}"
        );
    }

    #[test]
    fn unset_variable_is_an_error() {
        assert!(expand_path("${AO_SURELY_UNSET_VAR}/x")
            .unwrap_err()
            .contains("is not set"));
        std::env::set_var("AO_TEST_EXPAND", "/tmp");
        assert_eq!(
            expand_path("${AO_TEST_EXPAND}/x").unwrap(),
            PathBuf::from("/tmp/x")
        );
    }
}
