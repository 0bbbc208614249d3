//! What a command names: every session, one session by its address, or a bare word (a project,
//! else a session name unique across projects).
//!
//! The person's text is parsed into a [`Target`] once, where it comes in (the CLI's arguments);
//! the dashboard builds a [`Target::Session`] from the `(project, name)` of its URL. The manager
//! resolves a target against the config and the store (`manager/resolve.rs`), and every error
//! about a target that names nothing, or too much, is worded here.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use crate::error::Error;
use crate::session::{SessionAddress, SessionRecord};

/// What a command names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// Every session (a command given no target).
    All,
    /// One session, by its address `project/name`.
    Session(SessionAddress),
    /// A bare word: the project of that name (all its sessions, those spawned later too), else
    /// the one session of that name across projects. Which it is depends on the config and the
    /// store, so it is decided when the target is resolved.
    ProjectOrName(String),
    /// Every session of these projects (a monitor's group), those spawned later too.
    Projects(std::collections::BTreeSet<String>),
}

impl Target {
    /// The target a person's text names: `project/name` (split at the first `/`), else a bare
    /// word. Any text is a target; one that names nothing fails when it is resolved.
    pub fn parse(text: &str) -> Target {
        match text.split_once('/') {
            Some((project, name)) => Target::Session(SessionAddress {
                project: project.to_string(),
                name: name.to_string(),
            }),
            None => Target::ProjectOrName(text.to_string()),
        }
    }

    /// [`Target::parse`] of an optional text: [`Target::All`] for none.
    pub fn parse_optional(text: Option<&str>) -> Target {
        text.map_or(Target::All, Target::parse)
    }

    /// A target that names no session there is, among `all`.
    pub(crate) fn names_nothing(&self, all: &[SessionRecord]) -> Error {
        match self {
            Target::Session(address) => {
                Error::NotFound(format!("no session {address}; {}", known_sessions(all)))
            }
            Target::ProjectOrName(word) => Error::NotFound(format!(
                "no project or session named {word:?}; {}",
                known_sessions(all)
            )),
            Target::All | Target::Projects(_) => Error::NotFound(known_sessions(all)),
        }
    }

    /// A bare word that is the name of several sessions (in different projects).
    pub(crate) fn names_several(&self, found: &[SessionRecord]) -> Error {
        Error::Usage(format!(
            "{:?} names several sessions ({}); say which with project/name",
            self.to_string(),
            found
                .iter()
                .map(|r| r.address.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }

    /// A target that should name one session and names `count` (a project, or all of them).
    pub(crate) fn not_one(&self, count: usize) -> Error {
        match (self, count) {
            (Target::All, 0) => Error::NotFound(NO_SESSIONS.into()),
            (Target::All, n) => {
                Error::Usage(format!("there are {n} sessions; name one as project/name"))
            }
            (_, 0) => Error::NotFound(format!("project {self} has no sessions")),
            (_, n) => Error::Usage(format!(
                "{self} has {n} sessions; name one as {self}/<name>"
            )),
        }
    }
}

/// The person's text again: `project/name` or the bare word; `all` for every session.
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::All => f.write_str("all"),
            Target::Session(address) => address.fmt(f),
            Target::ProjectOrName(word) => f.write_str(word),
            Target::Projects(projects) => {
                let names: Vec<&str> = projects.iter().map(String::as_str).collect();
                f.write_str(&names.join(", "))
            }
        }
    }
}

/// [`Target::parse`], for clap: any text is a target.
impl FromStr for Target {
    type Err = Infallible;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Target::parse(text))
    }
}

impl From<SessionAddress> for Target {
    fn from(address: SessionAddress) -> Self {
        Target::Session(address)
    }
}

/// How many sessions an unknown target's error lists.
const LISTED: usize = 10;

/// What an error about a target says when there are no sessions at all.
const NO_SESSIONS: &str = "there are no sessions; `ao spawn` starts one";

/// The sessions there are, for an error about a target that names none of them.
fn known_sessions(all: &[SessionRecord]) -> String {
    if all.is_empty() {
        return NO_SESSIONS.into();
    }
    let names: Vec<String> = all
        .iter()
        .take(LISTED)
        .map(|r| r.address.to_string())
        .collect();
    let more = if all.len() > LISTED {
        format!(" and {} more", all.len() - LISTED)
    } else {
        String::new()
    };
    format!(
        "the sessions are {}{more} (`ao list` shows them all)",
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_an_address_at_its_first_slash_else_a_bare_word() {
        let address = |p: &str, n: &str| {
            Target::Session(SessionAddress {
                project: p.into(),
                name: n.into(),
            })
        };
        assert_eq!(Target::parse("demo/agent-1"), address("demo", "agent-1"));
        assert_eq!(Target::parse("a/b/c"), address("a", "b/c"));
        assert_eq!(
            Target::parse("agent-1"),
            Target::ProjectOrName("agent-1".into())
        );
        assert_eq!(Target::parse_optional(None), Target::All);
        for text in ["demo/agent-1", "a/b/c", "agent-1", "a/"] {
            assert_eq!(Target::parse(text).to_string(), text);
        }
    }

    #[test]
    fn a_target_that_names_nothing_or_too_much_says_so_in_the_persons_words() {
        let word = Target::parse("demo");
        assert_eq!(
            word.names_nothing(&[]).to_string(),
            "no project or session named \"demo\"; there are no sessions; `ao spawn` starts one"
        );
        assert_eq!(word.not_one(0).to_string(), "project demo has no sessions");
        assert!(matches!(word.not_one(0), Error::NotFound(_)));
        assert_eq!(
            word.not_one(3).to_string(),
            "demo has 3 sessions; name one as demo/<name>"
        );
        assert!(matches!(word.not_one(3), Error::Usage(_)));
    }
}
