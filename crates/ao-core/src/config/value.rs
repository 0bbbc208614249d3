//! The YAML tree as an agent plugin sees a value of it: [`ConfigValue`] over a [`Node`].

use super::yaml::{Kind, Node, Scalar};
pub use ao_agent::config::{ConfigNode, ConfigValue, SettingProblem};

impl ConfigNode for Node {
    fn position(&self) -> (usize, usize) {
        self.pos
    }

    fn is_map(&self) -> bool {
        matches!(self.kind, Kind::Map(_))
    }

    fn is_null(&self) -> bool {
        self.scalar() == Some(Scalar::Null)
    }

    fn entries(&self) -> Vec<(String, (usize, usize), &dyn ConfigNode)> {
        match &self.kind {
            Kind::Map(entries) => entries
                .iter()
                .map(|(k, v)| (k.key_text(), k.pos, v as &dyn ConfigNode))
                .collect(),
            _ => Vec::new(),
        }
    }

    fn describe(&self) -> &'static str {
        Node::describe(self)
    }

    fn to_json(&self) -> serde_json::Value {
        Node::to_json(self)
    }
}
