//! The view of a config value that an agent plugin checks: its shape, its place in the file, and
//! its content as JSON, without the YAML tree itself.

use super::yaml::{Kind, Node, Scalar};

/// One value of the config file, as an agent plugin sees it in [`crate::agent::Agent::check_config`].
#[derive(Clone, Copy)]
pub struct ConfigValue<'n> {
    node: &'n Node,
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
    pub(super) fn new(node: &'n Node) -> ConfigValue<'n> {
        ConfigValue { node }
    }

    /// Where the value starts, as 1-based line and column.
    pub fn position(&self) -> (usize, usize) {
        self.node.pos
    }

    /// Whether it is a mapping.
    pub fn is_map(&self) -> bool {
        matches!(self.node.kind, Kind::Map(_))
    }

    /// Whether it is empty (`~`, `null` or nothing).
    pub fn is_null(&self) -> bool {
        self.node.scalar() == Some(Scalar::Null)
    }

    /// The entries of a mapping, each key with where it is written; empty for anything else.
    pub fn entries(&self) -> Vec<(String, (usize, usize), ConfigValue<'n>)> {
        match &self.node.kind {
            Kind::Map(entries) => entries
                .iter()
                .map(|(k, v)| (k.key_text(), k.pos, ConfigValue::new(v)))
                .collect(),
            _ => Vec::new(),
        }
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
