//! The typed reads every part of the config walk shares: a mapping's known keys, a string, one of
//! a set of words; each records a problem at its place instead of failing.

use super::model::Problem;
use super::names::did_you_mean;
use super::reader::Reader;
use super::yaml::{Kind, Node, Pos, Scalar};

/// The keys of one mapping, checked against the known ones.
pub(super) struct Fields<'n> {
    entries: Vec<(&'n str, &'n Node, &'n Node)>,
    /// Known keys suggested for unknown ones (a missing key then needs no message of its own).
    pub(super) suggested: Vec<String>,
}

impl<'n> Fields<'n> {
    pub(super) fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, _, v)| *v)
    }
}

impl Reader<'_> {
    pub(super) fn problem(&mut self, pos: Pos, message: String) {
        self.problems.push(Problem {
            location: Some(pos),
            message,
        });
    }

    /// The entries of a mapping whose keys must be among `known`; `None` (and a problem) when the
    /// node is not a mapping. An empty value counts as an empty mapping.
    pub(super) fn fields<'n>(
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
    pub(super) fn string(&mut self, node: &Node, what: &str) -> Option<String> {
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
    pub(super) fn choice<'o>(
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
}
