//! What an agent plugin sees of ao's config: the view of a value it checks ([`ConfigValue`]),
//! the problems it reports ([`SettingProblem`]), and a project's `agentConfig` as read
//! ([`AgentConfig`]); and what the config reader asks of the plugins an `ao` has ([`AgentKeys`]).

use std::collections::BTreeMap;

/// What the config reader asks of the agent plugins an `ao` has, and nothing more: their names,
/// and each one's own keys of `agentConfig` with its check of them. The registry of plugins
/// (`Vec<Arc<dyn Agent>>`) is one, so the reader needs no more of an
/// [`Agent`](crate::agent::Agent) than this.
pub trait AgentKeys: Sync {
    /// The agents' names, the default first. None: any agent name is accepted, with no agent's
    /// own keys.
    fn agent_names(&self) -> Vec<&'static str>;

    /// The keys of `agentConfig` that the agent named `agent` adds to the ones every agent
    /// understands; none for an agent this `ao` does not have.
    fn config_keys(&self, agent: &str) -> &'static [&'static str];

    /// The keys a `permission` map may name for the agent named `agent`, when it has a fixed set
    /// ([`Agent::permission_keys`](crate::agent::Agent::permission_keys)); `None`: any.
    fn permission_keys(&self, agent: &str) -> Option<&'static [&'static str]> {
        let _ = agent;
        None
    }

    /// The agent named `agent`'s check of a model's name (`agentConfig.model`, `ao spawn
    /// --model`): each agent names its models its own way. Any word, for an agent this `ao`
    /// does not have.
    fn check_model(&self, _agent: &str, model: &str) -> Result<(), String> {
        check_model_word(model)
    }

    /// The agent named `agent`'s check of the value of one of its
    /// [`config_keys`](AgentKeys::config_keys): what to keep of it, or its problems, each at its
    /// place in the file. Nothing to keep (`Null`) for an agent this `ao` does not have.
    fn check_config(
        &self,
        agent: &str,
        key: &str,
        value: ConfigValue<'_>,
    ) -> Result<serde_json::Value, Vec<SettingProblem>>;
}

/// A model's name as any agent takes it: a word, with no space or control character in it.
pub fn check_model_word(model: &str) -> Result<(), String> {
    if model.is_empty() || model.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "model {model:?} is not a model's name: one word, such as claude-sonnet-4-5"
        ));
    }
    Ok(())
}

/// A model's name in `provider/model` form (OpenCode's).
pub fn check_provider_model(model: &str) -> Result<(), String> {
    match model.split_once('/') {
        Some((provider, id))
            if !provider.is_empty() && !id.is_empty() && check_model_word(model).is_ok() =>
        {
            Ok(())
        }
        _ => Err(format!(
            "model {model:?} is not in provider/model form, e.g. anthropic/claude-sonnet-4"
        )),
    }
}

/// No agent plugin: any agent name is accepted, with no agent's own keys.
pub struct AnyAgent;

impl AgentKeys for AnyAgent {
    fn agent_names(&self) -> Vec<&'static str> {
        Vec::new()
    }

    fn config_keys(&self, _agent: &str) -> &'static [&'static str] {
        &[]
    }

    fn check_config(
        &self,
        _agent: &str,
        _key: &str,
        _value: ConfigValue<'_>,
    ) -> Result<serde_json::Value, Vec<SettingProblem>> {
        Ok(serde_json::Value::Null)
    }
}

/// One value of the config file, as an agent plugin sees it in
/// [`Agent::check_config`](crate::agent::Agent::check_config): its shape, its place in the file,
/// and its content as JSON, without the YAML tree itself.
#[derive(Clone, Copy)]
pub struct ConfigValue<'n> {
    node: &'n dyn ConfigNode,
}

/// A node of the config reader's tree, as far as a [`ConfigValue`] shows it. ao-core's YAML tree
/// implements it.
pub trait ConfigNode {
    /// Where the node starts, as 1-based line and column.
    fn position(&self) -> (usize, usize);
    /// Whether it is a mapping.
    fn is_map(&self) -> bool;
    /// Whether it is empty (`~`, `null` or nothing).
    fn is_null(&self) -> bool;
    /// The entries of a mapping, each key's text with where it is written; empty for anything else.
    fn entries(&self) -> Vec<(String, (usize, usize), &dyn ConfigNode)>;
    /// What kind of value it is, for messages ("a list", "a number", ...).
    fn describe(&self) -> &'static str;
    /// The value as JSON.
    fn to_json(&self) -> serde_json::Value;
}

/// A problem an agent plugin found in one of its config values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingProblem {
    /// Where, as 1-based line and column; `None` for the value itself.
    pub at: Option<(usize, usize)>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl SettingProblem {
    /// A problem with the value as a whole.
    pub fn here(message: impl Into<String>) -> SettingProblem {
        SettingProblem {
            at: None,
            message: message.into(),
        }
    }
}

impl<'n> ConfigValue<'n> {
    /// The view of a node of the config reader's tree.
    pub fn new(node: &'n dyn ConfigNode) -> ConfigValue<'n> {
        ConfigValue { node }
    }

    /// Where the value starts, as 1-based line and column.
    pub fn position(&self) -> (usize, usize) {
        self.node.position()
    }

    /// Whether it is a mapping.
    pub fn is_map(&self) -> bool {
        self.node.is_map()
    }

    /// Whether it is empty (`~`, `null` or nothing).
    pub fn is_null(&self) -> bool {
        self.node.is_null()
    }

    /// The entries of a mapping, each key with where it is written; empty for anything else.
    pub fn entries(&self) -> Vec<(String, (usize, usize), ConfigValue<'n>)> {
        self.node
            .entries()
            .into_iter()
            .map(|(k, pos, v)| (k, pos, ConfigValue::new(v)))
            .collect()
    }

    /// What kind of value it is, for messages ("a list", "a number", ...).
    pub fn describe(&self) -> &'static str {
        self.node.describe()
    }

    /// The value as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        self.node.to_json()
    }
}

/// The `agentConfig` of a project.
#[derive(Debug, Clone, Default)]
pub struct AgentConfig {
    /// `provider/model`.
    pub model: Option<String>,
    /// The prompt used when `ao spawn` is given none.
    pub prompt: Option<String>,
    /// The agent's own agent or mode name (e.g. `build`, `plan`).
    pub agent: Option<String>,
    /// The permission policy: `ask`, `allow`, `deny`, or a map per tool, as JSON.
    pub permission: Option<serde_json::Value>,
    /// The agent's own keys, as its plugin checked them
    /// ([`Agent::check_config`](crate::agent::Agent::check_config)).
    pub settings: BTreeMap<String, serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_is_a_word_and_opencode_s_a_provider_and_a_model() {
        assert!(check_model_word("sonnet").is_ok());
        assert!(check_model_word("gpt-5.4").is_ok());
        assert!(check_model_word("anthropic/claude-sonnet-4").is_ok());
        for bad in ["", "gpt 5", "gpt\t5", "a\u{7}b"] {
            assert!(check_model_word(bad).is_err(), "{bad:?}");
        }
        assert!(check_provider_model("anthropic/claude-sonnet-4").is_ok());
        for bad in ["gpt4", "/x", "x/", "a b/c"] {
            assert!(check_provider_model(bad).is_err(), "{bad:?}");
        }
    }
}
