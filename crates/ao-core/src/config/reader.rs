//! The walk over the YAML tree that builds a [`Config`] and collects every problem, each at its
//! place in the file.

use std::path::{Path, PathBuf};

use super::model::{
    AgentConfig, Config, Context, GatedKey, Problem, ProjectConfig, TuiMode,
    DEFAULT_READY_THRESHOLD_MS,
};
use super::names::{did_you_mean, expand_path_in, validate_name};
use super::notify::{Budget, Notifier, DEFAULT_NOTIFY_DEBOUNCE_MS};
use super::value::{ConfigValue, SettingProblem};
use super::yaml::{Kind, Node, Pos, Scalar};
use crate::remote::Location;
use crate::session::{RuntimeKind, WorkspaceKind};
use crate::trust::{remedy, Gated, Trust, Untrusted};
use strum::VariantNames;

pub(super) const TOP_KEYS: &[&str] = &[
    "readyThresholdMs",
    "notifyDebounceMs",
    "notifications",
    "defaults",
    "plugins",
    "projects",
];
const DEFAULTS_KEYS: &[&str] = &[
    "runtime",
    "agent",
    "workspace",
    "budget",
    "tmux",
    "container",
];
const PLUGINS_KEYS: &[&str] = &["agent", "runtime"];
pub(super) const PROJECT_KEYS: &[&str] = &[
    "name",
    "path",
    "runtime",
    "agent",
    "workspace",
    "sessionPrefix",
    "defaultBranch",
    "agentConfig",
    "notifications",
    "budget",
    "server",
    "host",
    "tmux",
    "container",
];
const TMUX_KEYS: &[&str] = &["tui"];
const TUI_MODES: &[&str] = TuiMode::VARIANTS;
/// The keys of `agentConfig` that every agent understands; an agent adds its own.
const AGENT_CONFIG_KEYS: &[&str] = &["model", "prompt", "agent", "permission"];
pub(super) const RUNTIMES: &[&str] = RuntimeKind::VARIANTS;
const WORKSPACES: &[&str] = WorkspaceKind::VARIANTS;
const PERMISSIONS: &[&str] = &["ask", "allow", "deny"];

/// Walks the YAML tree, building the config and collecting every problem.
pub(super) struct Reader<'c> {
    pub(super) cx: Context<'c>,
    pub(super) base_dir: PathBuf,
    pub(super) problems: Vec<Problem>,
    /// How far the file is trusted, and its canonical path (for the `ao trust` command).
    pub(super) trust: (Trust, PathBuf),
    /// The file, as named in messages.
    pub(super) file: PathBuf,
    /// Every key read into a [`Gated`] value, in the order read.
    pub(super) gated: Vec<GatedKey>,
}

impl Reader<'_> {
    /// `value` of the key `key` at `pos`, usable only when the file is trusted; `what` says what
    /// using it does, for the refusal.
    pub(super) fn gate<T>(
        &mut self,
        value: T,
        pos: Pos,
        key: &str,
        what: &'static str,
    ) -> Gated<T> {
        self.gated.push(GatedKey {
            key: key.to_string(),
            line: pos.0,
            column: pos.1,
        });
        if self.trust.0.is_trusted() {
            return Gated::trusted(value);
        }
        Gated::refused(
            value,
            Untrusted {
                file: self.file.clone(),
                line: pos.0,
                column: pos.1,
                key: key.to_string(),
                what,
                remedy: remedy(self.trust.0, &self.trust.1),
            },
        )
    }

    fn runtime(&mut self, node: Option<&Node>) -> Option<RuntimeKind> {
        self.choice(node?, "runtime", "", RUNTIMES)?.parse().ok()
    }

    /// The workspace kind a node gives, with where it was given.
    fn workspace(&mut self, node: Option<&Node>) -> Option<(WorkspaceKind, Pos)> {
        let node = node?;
        let kind = self
            .choice(node, "workspace", "", WORKSPACES)?
            .parse()
            .ok()?;
        Some((kind, node.pos))
    }

    /// `tmux: {tui: lazy | always}`; `None` when it does not say.
    fn tmux(&mut self, node: Option<&Node>) -> Option<TuiMode> {
        let f = self.fields(node?, "tmux", TMUX_KEYS, "a map with `tui`")?;
        self.choice(f.get("tui")?, "tmux.tui", "", TUI_MODES)?
            .parse()
            .ok()
    }

    fn agent(&mut self, node: Option<&Node>) -> Option<String> {
        let node = node?;
        let names = self.cx.agents.agent_names();
        if names.is_empty() {
            return self.string(node, "agent");
        }
        self.choice(node, "agent", "", &names).map(str::to_string)
    }

    pub(super) fn config(&mut self, root: Option<&Node>, file: &Path) -> Config {
        let mut config = Config {
            file: file.to_path_buf(),
            trust: self.trust.0,
            gated: Vec::new(),
            ready_threshold_ms: DEFAULT_READY_THRESHOLD_MS,
            notify_debounce_ms: DEFAULT_NOTIFY_DEBOUNCE_MS,
            notifications: Vec::new(),
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
        if let Some(ms) = top.get("notifyDebounceMs").and_then(|n| self.debounce(n)) {
            config.notify_debounce_ms = ms;
        }
        if let Some(node) = top.get("notifications") {
            config.notifications = self.notifications(node);
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

        let default_budget = defaults
            .as_ref()
            .and_then(|d| d.get("budget"))
            .map(|n| self.budget(n))
            .unwrap_or_default();
        let default_tui = self.tmux(defaults.as_ref().and_then(|d| d.get("tmux")));
        let default_container = defaults
            .as_ref()
            .and_then(|d| d.get("container"))
            .and_then(|n| self.container(n));
        let defaults = ProjectDefaults {
            container: default_container,
            tui: default_tui.unwrap_or_default(),
            runtime: default_runtime,
            agent: default_agent,
            workspace: default_workspace,
            budget: default_budget,
            notifications: config.notifications.clone(),
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
        let location = self.location(name, f.get("server"), f.get("host"));

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
                Some(raw) => match &location {
                    Some(loc) if loc.is_remote() => {
                        self.remote_directory(name, &raw, node.pos, loc)
                    }
                    // A `server` or `host` that is wrong: the path is still not on this machine.
                    None if f.get("server").is_some() || f.get("host").is_some() => {
                        Some(PathBuf::from(raw))
                    }
                    _ => self.directory(name, &raw, node.pos),
                },
            },
        };

        let runtime = self
            .runtime(f.get("runtime"))
            .or(defaults.runtime)
            .unwrap_or(RuntimeKind::Tmux);
        let agent = self
            .agent(f.get("agent"))
            .or_else(|| defaults.agent.clone())
            .or_else(|| self.cx.agents.agent_names().first().map(|a| a.to_string()));
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
            Some(node) => {
                if let Some(Location::Url(server)) = &location {
                    let own_keys = agent
                        .as_deref()
                        .map(|a| self.cx.agents.config_keys(a))
                        .unwrap_or_default();
                    self.refuse_server_settings(name, node, own_keys, server);
                }
                self.agent_config(node, agent.as_deref())
            }
            None => AgentConfig::default(),
        };

        let budget = f
            .get("budget")
            .map(|n| self.budget(n))
            .unwrap_or_default()
            .or(defaults.budget);
        let tui = self.tmux(f.get("tmux")).unwrap_or(defaults.tui);
        let container = self.project_container(
            name,
            f.get("container"),
            location.as_ref(),
            defaults.container.as_ref(),
        );
        let mut notifications = defaults.notifications.clone();
        if let Some(node) = f.get("notifications") {
            notifications.extend(self.notifications(node));
        }

        let path = path?;
        let location = location?;
        let workspace = match workspace {
            // The directory is on another machine: whether it is a git repository is known only
            // there, when a session is spawned. Without a word, sessions share it.
            _ if location.is_remote() => workspace.map_or(WorkspaceKind::None, |(w, _)| w),
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
            notifications,
            budget,
            location,
            tui,
            container,
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

    /// `agentConfig`: the keys every agent understands, and those the project's agent adds, which
    /// it checks itself.
    fn agent_config(&mut self, node: &Node, agent: Option<&str>) -> AgentConfig {
        let mut ac = AgentConfig::default();
        let own_keys = agent
            .map(|a| self.cx.agents.config_keys(a))
            .unwrap_or_default();
        let known: Vec<&str> = AGENT_CONFIG_KEYS.iter().chain(own_keys).copied().collect();
        let Some(f) = self.fields(node, "agentConfig", &known, "a map") else {
            return ac;
        };
        if let Some(node) = f.get("model") {
            ac.model = self.string(node, "model");
            if let Some(model) = &ac.model {
                if let Err(m) = self.cx.agents.check_model(agent.unwrap_or_default(), model) {
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
            let keys = agent.and_then(|a| self.cx.agents.permission_keys(a));
            let clean = match keys {
                Some(keys) => self.permission_of_kinds(node, keys),
                None => self.permission(node),
            };
            if clean {
                ac.permission = Some(node.to_json());
            }
        }
        let Some(agent) = agent else {
            return ac;
        };
        for key in own_keys {
            let Some(node) = f.get(key) else { continue };
            match self
                .cx
                .agents
                .check_config(agent, key, ConfigValue::new(node))
            {
                Ok(serde_json::Value::Null) => {}
                Ok(value) => {
                    ac.settings.insert(key.to_string(), value);
                }
                Err(problems) => {
                    for SettingProblem { at, message } in problems {
                        let pos = at.unwrap_or(node.pos);
                        self.problem(pos, message);
                    }
                }
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

    /// For an agent with a fixed set of permission keys (an ACP agent's tool kinds): `ask |
    /// allow | deny`, or a map of those keys to one of those words each, nothing nested.
    fn permission_of_kinds(&mut self, node: &Node, keys: &[&str]) -> bool {
        let before = self.problems.len();
        let Kind::Map(entries) = &node.kind else {
            self.choice(node, "permission", "", PERMISSIONS);
            return self.problems.len() == before;
        };
        let mut seen: Vec<(&str, usize)> = Vec::new();
        for (key, rule) in entries {
            let Kind::Scalar { text: kind, .. } = &key.kind else {
                self.problem(
                    key.pos,
                    format!(
                        "a key in permission is {}; keys are tool kinds: {}",
                        key.describe(),
                        keys.join(", ")
                    ),
                );
                continue;
            };
            if !keys.contains(&kind.as_str()) {
                // A kind cut short (`exec`) is meant as much as one mistyped.
                let meant = did_you_mean(kind, keys).or_else(|| {
                    keys.iter()
                        .find(|k| kind.chars().count() >= 3 && k.starts_with(kind.as_str()))
                        .copied()
                });
                let kinds = keys.join(", ");
                let message = match meant {
                    Some(s) => format!(
                        "unknown tool kind `{kind}` in permission; did you mean `{s}`? (this \
                         agent's kinds: {kinds})"
                    ),
                    None => format!(
                        "unknown tool kind `{kind}` in permission; this agent's kinds: {kinds}"
                    ),
                };
                self.problem(key.pos, message);
                continue;
            }
            if let Some((_, line)) = seen.iter().find(|(k, _)| k == kind) {
                self.problem(
                    key.pos,
                    format!("`{kind}` is set twice in permission (first on line {line}); keep one"),
                );
                continue;
            }
            seen.push((kind.as_str(), key.pos.0));
            if let Kind::Map(_) = rule.kind {
                self.problem(
                    rule.pos,
                    format!(
                        "permission for `{kind}` must be one word ({}), not a map: this agent \
                         takes no patterns",
                        PERMISSIONS.join(", ")
                    ),
                );
                continue;
            }
            self.choice(rule, "permission", &format!(" for `{kind}`"), PERMISSIONS);
        }
        self.problems.len() == before
    }
}

/// What `defaults` (or the older `plugins`) give every project.
pub(super) struct ProjectDefaults {
    runtime: Option<RuntimeKind>,
    agent: Option<String>,
    /// With where it was set, for the error when a project cannot have it.
    workspace: Option<(WorkspaceKind, Pos)>,
    budget: Budget,
    tui: TuiMode,
    /// `defaults.container`, for projects without their own.
    container: Option<ao_agent::container::ContainerSettings>,
    /// The top level's notifiers, which every project's list adds to.
    notifications: Vec<Notifier>,
}
