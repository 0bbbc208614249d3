//! The plugin's keys of `agentConfig` (`command`, `env`, `price`), their checks for the config
//! reader, and [`AcpSettings`]: a project's settings, typed, as the plugin uses them.
//!
//! `model` and `permission` are keys every agent has; an ACP agent's `permission` names its tool
//! kinds ([`ToolKind`]), which the config reader checks through
//! [`Agent::permission_keys`](ao_agent::agent::Agent::permission_keys).

use std::collections::BTreeMap;

use ao_agent::config::{ConfigValue, SettingProblem};
use ao_agent::project::Project;
use serde_json::Value;
use strum::VariantNames;

use crate::preset::Defaults;
use crate::record::{PermissionAnswer, PermissionPolicy, Price, ToolKind};

/// `agentConfig.command`: the ACP agent's argv.
pub const COMMAND_KEY: &str = "command";
/// `agentConfig.env`: added to the agent's environment.
pub const ENV_KEY: &str = "env";
/// `agentConfig.price`: US dollars per million input and output tokens.
pub const PRICE_KEY: &str = "price";
/// `agentConfig.mode`: the session mode to choose through the protocol.
pub const MODE_KEY: &str = "mode";

/// The keys of `agentConfig` the plugin adds.
pub const CONFIG_KEYS: &[&str] = &[COMMAND_KEY, ENV_KEY, PRICE_KEY, MODE_KEY];

/// The keys a `permission` map may name: ACP's tool kinds.
pub fn permission_keys() -> &'static [&'static str] {
    ToolKind::VARIANTS
}

/// What `ao init` writes under a new ACP project's `agentConfig`.
pub const CONFIG_TEMPLATE: &[&str] = &[
    "# The argv of any agent that speaks the Agent Client Protocol (required).",
    "command: [opencode, acp]",
    "# Added to the agent's environment (kept out of every command line).",
    "# env: {OPENCODE_CONFIG_CONTENT: '{\"permission\": {\"bash\": \"ask\"}}'}",
    "# The model, chosen through the protocol; an agent that offers no such model fails to start.",
    "# model: mock/m1",
    "# The session mode (an id the agent offers), chosen through the protocol likewise.",
    "# mode: default",
    "# How ao answers what the agent asks, per ACP tool kind (read, edit, delete, move, search,",
    "# execute, think, fetch, switch_mode, other) or one word for all: ask | allow | deny.",
    "# permission: {execute: ask, edit: allow, fetch: deny}",
    "# US dollars per million tokens, for the cost of an agent that reports tokens but no cost.",
    "# price: {input: 3, output: 15}",
];

/// Checks the value of one of the plugin's keys: what to keep of it, or its problems, each at its
/// place in the file.
pub fn check(key: &str, value: ConfigValue<'_>) -> Result<Value, Vec<SettingProblem>> {
    match key {
        COMMAND_KEY => check_command(value),
        ENV_KEY => check_env(value),
        PRICE_KEY => check_price(value),
        MODE_KEY => check_mode(value),
        _ => Ok(value.to_json()),
    }
}

fn problem(at: (usize, usize), message: String) -> SettingProblem {
    SettingProblem {
        at: Some(at),
        message,
    }
}

fn check_command(value: ConfigValue<'_>) -> Result<Value, Vec<SettingProblem>> {
    let at = value.position();
    let shape = || {
        vec![problem(
            at,
            format!(
                "command must be the agent's argv, a list of words such as [opencode, acp], not {}",
                value.describe()
            ),
        )]
    };
    let Value::Array(items) = value.to_json() else {
        return Err(shape());
    };
    if items.is_empty() {
        return Err(vec![problem(
            at,
            "command is empty: give the agent's argv, such as [opencode, acp]".into(),
        )]);
    }
    // A list's items have no place of their own in the view a plugin gets: the list's is used.
    let problems: Vec<SettingProblem> = items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| match item {
            Value::String(word) if !word.is_empty() => None,
            Value::String(_) => Some(problem(at, format!("command's item {} is empty", i + 1))),
            other => Some(problem(
                at,
                format!(
                    "command's item {} must be a word, not {}",
                    i + 1,
                    json_kind(other)
                ),
            )),
        })
        .collect();
    if problems.is_empty() {
        Ok(Value::Array(items))
    } else {
        Err(problems)
    }
}

fn check_mode(value: ConfigValue<'_>) -> Result<Value, Vec<SettingProblem>> {
    match value.to_json() {
        Value::String(mode) if !mode.trim().is_empty() => Ok(Value::String(mode)),
        _ => Err(vec![problem(
            value.position(),
            format!(
                "mode must be the id of a session mode the agent offers, such as default, not {}",
                value.describe()
            ),
        )]),
    }
}

fn check_env(value: ConfigValue<'_>) -> Result<Value, Vec<SettingProblem>> {
    if value.is_null() {
        return Ok(Value::Object(Default::default()));
    }
    if !value.is_map() {
        return Err(vec![problem(
            value.position(),
            format!(
                "env must be a map of variable names to values, not {}",
                value.describe()
            ),
        )]);
    }
    let mut kept = serde_json::Map::new();
    let mut problems = Vec::new();
    for (name, at, entry) in value.entries() {
        if name.is_empty() || name.contains(['=', '\0']) {
            problems.push(problem(
                at,
                format!("env's {name:?} is not a variable name (no `=`, not empty)"),
            ));
            continue;
        }
        // A number or a boolean written without quotes is its text, as a shell would see it.
        match entry.to_json() {
            Value::String(text) => {
                kept.insert(name, Value::String(text));
            }
            Value::Number(n) => {
                kept.insert(name, Value::String(n.to_string()));
            }
            Value::Bool(b) => {
                kept.insert(name, Value::String(b.to_string()));
            }
            _ => problems.push(problem(
                entry.position(),
                format!(
                    "env.{name} must be text (quote it), not {}",
                    entry.describe()
                ),
            )),
        }
    }
    if problems.is_empty() {
        Ok(Value::Object(kept))
    } else {
        Err(problems)
    }
}

fn check_price(value: ConfigValue<'_>) -> Result<Value, Vec<SettingProblem>> {
    if !value.is_map() {
        return Err(vec![problem(
            value.position(),
            format!(
                "price must be {{input: <dollars>, output: <dollars>}} per million tokens, not {}",
                value.describe()
            ),
        )]);
    }
    let mut problems = Vec::new();
    let mut found = BTreeMap::new();
    let mut named = Vec::new();
    for (name, at, entry) in value.entries() {
        if name != "input" && name != "output" {
            problems.push(problem(
                at,
                format!("price takes input and output only, not {name:?}"),
            ));
            continue;
        }
        named.push(name.clone());
        match entry.to_json().as_f64() {
            Some(dollars) if dollars >= 0.0 && dollars.is_finite() => {
                found.insert(name, dollars);
            }
            Some(dollars) => problems.push(problem(
                entry.position(),
                format!("price.{name} must be 0 dollars or more, not {dollars}"),
            )),
            None => problems.push(problem(
                entry.position(),
                format!(
                    "price.{name} must be a number of dollars, not {}",
                    entry.describe()
                ),
            )),
        }
    }
    for side in ["input", "output"] {
        if !named.iter().any(|n| n == side) {
            problems.push(problem(
                value.position(),
                format!("price needs {side}: the dollars per million {side} tokens"),
            ));
        }
    }
    if problems.is_empty() {
        Ok(serde_json::json!(found))
    } else {
        Err(problems)
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// Why a project's settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// `agentConfig.command` is missing, and no preset gives one.
    #[error("project {project} sets no agentConfig.command: the argv of its ACP agent, such as [opencode, acp]")]
    NoCommand {
        /// The project.
        project: String,
    },
    /// A value is not what its check keeps (a config read by another ao, say).
    #[error("project {project}'s agentConfig.{key} cannot be used: {message}")]
    Invalid {
        /// The project.
        project: String,
        /// The key.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// A project's ACP settings, typed.
#[derive(Debug, Clone, PartialEq)]
pub struct AcpSettings {
    /// The agent's argv: the project's, else the preset's with the arguments it adds for
    /// `permission`.
    pub command: Vec<String>,
    /// Added to the agent's environment.
    pub env: BTreeMap<String, String>,
    /// The model to choose through the protocol.
    pub model: Option<String>,
    /// The session mode to choose through the protocol: the project's, else the preset's for
    /// its `permission`.
    pub mode: Option<String>,
    /// Whether [`mode`](Self::mode) is the preset's for `permission`.
    pub mode_from_permission: bool,
    /// How the host answers permission requests.
    pub permission: PermissionPolicy,
    /// What a million tokens cost, when configured.
    pub price: Option<Price>,
}

impl AcpSettings {
    /// The settings of `project`, as the config reader kept them, over the preset's `defaults`.
    pub fn of(project: &Project, defaults: &Defaults) -> Result<AcpSettings, SettingsError> {
        let config = &project.agent_config;
        let invalid = |key: &'static str, message: String| SettingsError::Invalid {
            project: project.name.clone(),
            key,
            message,
        };
        // The preset's own command only: a project that gives its command gives its arguments.
        let mut preset_command = false;
        let mut command: Vec<String> = match config.settings.get(COMMAND_KEY) {
            None | Some(Value::Null) => match &defaults.command {
                Some(command) => {
                    preset_command = true;
                    command.clone()
                }
                None => {
                    return Err(SettingsError::NoCommand {
                        project: project.name.clone(),
                    })
                }
            },
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| invalid(COMMAND_KEY, e.to_string()))?,
        };
        if command.first().is_none_or(|c| c.is_empty()) {
            return Err(SettingsError::NoCommand {
                project: project.name.clone(),
            });
        }
        let mut env: BTreeMap<String, String> = defaults
            .preset
            .default_env()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if let Some(v) = config.settings.get(ENV_KEY).filter(|v| !v.is_null()) {
            let own: BTreeMap<String, String> =
                serde_json::from_value(v.clone()).map_err(|e| invalid(ENV_KEY, e.to_string()))?;
            env.extend(own);
        }
        let price = match config.settings.get(PRICE_KEY) {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                serde_json::from_value(v.clone()).map_err(|e| invalid(PRICE_KEY, e.to_string()))?,
            ),
        };
        let permission =
            policy(config.permission.as_ref()).map_err(|message| invalid("permission", message))?;
        if preset_command {
            command.extend(defaults.preset.args_for(&permission));
        }
        let (mode, mode_from_permission) = match config.settings.get(MODE_KEY) {
            Some(Value::String(mode)) => (Some(mode.clone()), false),
            _ => (defaults.preset.mode_for(&permission), true),
        };
        Ok(AcpSettings {
            command,
            env,
            model: config.model.clone(),
            mode_from_permission: mode_from_permission && mode.is_some(),
            mode,
            permission,
            price,
        })
    }
}

/// `permission` as a policy: one word for every kind, or a map of kinds to words (kinds it does
/// not name are asked about).
pub fn policy(permission: Option<&Value>) -> Result<PermissionPolicy, String> {
    let word = |v: &Value| -> Result<PermissionAnswer, String> {
        v.as_str()
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| format!("{v} is not one of ask, allow, deny"))
    };
    match permission {
        None | Some(Value::Null) => Ok(PermissionPolicy::default()),
        Some(Value::Object(map)) => {
            let mut by_kind = BTreeMap::new();
            for (kind, answer) in map {
                let kind: ToolKind = kind
                    .parse()
                    .map_err(|_| format!("{kind:?} is not an ACP tool kind"))?;
                by_kind.insert(kind, word(answer)?);
            }
            Ok(PermissionPolicy {
                default: PermissionAnswer::Ask,
                by_kind,
            })
        }
        Some(one) => Ok(PermissionPolicy {
            default: word(one)?,
            by_kind: BTreeMap::new(),
        }),
    }
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
