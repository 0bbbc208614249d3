//! The last message of each session whose turn has ended for good, remembered in ao's store.
//!
//! A finished turn does not change until the session is prompted again, and OpenCode bumps the
//! session's `time.updated` whenever a message is stored or updated (measured on 1.18.33: at the
//! prompt, at the assistant message's start and at its end). So while a session's `time.updated`
//! is the one remembered, its remembered last message is still its last message, and `ao status`
//! need not ask for it: with many finished sessions, that is one request per project instead of
//! one per session.

use std::collections::BTreeMap;

use ao_core::store::Store;
use serde::{Deserialize, Serialize};

use crate::types::MessageInfo;
use crate::AGENT_NAME;

fn key(project: &str) -> String {
    format!("settled:{project}")
}

/// A settled session's last message, and the session's `time.updated` when it was read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Remembered {
    updated: i64,
    message: MessageInfo,
}

/// The remembered last messages of a project's sessions.
#[derive(Debug)]
pub struct SettledTurns {
    by_session: BTreeMap<String, Remembered>,
    changed: bool,
}

impl SettledTurns {
    /// Loads what was remembered for `project`; nothing when the store has nothing usable.
    pub fn load(store: &Store, project: &str) -> SettledTurns {
        let by_session = crate::remembered(store, &key(project)).unwrap_or_default();
        SettledTurns {
            by_session,
            changed: false,
        }
    }

    /// The last message of `session`, if it was remembered settled at this `updated` time.
    pub fn last_message(&self, session: &str, updated: i64) -> Option<&MessageInfo> {
        self.by_session
            .get(session)
            .filter(|r| r.updated == updated)
            .map(|r| &r.message)
    }

    /// Notes what was just read: remembers `last` when its turn is settled, forgets it otherwise.
    pub fn note(&mut self, session: &str, updated: i64, last: Option<&MessageInfo>) {
        let now = last
            .filter(|m| crate::observe::turn_settled(m))
            .map(|m| Remembered {
                updated,
                message: m.clone(),
            });
        if self.by_session.get(session) != now.as_ref() {
            self.changed = true;
            match now {
                Some(r) => self.by_session.insert(session.to_string(), r),
                None => self.by_session.remove(session),
            };
        }
    }

    /// Forgets every session not in `keep` (killed and purged ones).
    pub fn retain(&mut self, keep: &[&str]) {
        let before = self.by_session.len();
        self.by_session.retain(|id, _| keep.contains(&id.as_str()));
        self.changed |= self.by_session.len() != before;
    }

    /// Writes the memory back when it changed; a failed write only costs requests next time.
    pub fn save(&self, store: &Store, project: &str) {
        if self.changed {
            if let Ok(value) = serde_json::to_value(&self.by_session) {
                let _ = store.set_agent_state(AGENT_NAME, &key(project), Some(&value));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{MessageTime, Role};

    fn finished(id: &str) -> MessageInfo {
        MessageInfo {
            id: id.into(),
            role: Role::Assistant,
            time: MessageTime {
                created: 1,
                completed: Some(2),
            },
            finish: Some("stop".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_settled_message_is_remembered_until_the_session_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("ao.db")).unwrap();
        let mut turns = SettledTurns::load(&store, "p");
        turns.note("ses_a", 10, Some(&finished("msg_1")));
        // A step that ends in tool calls is not the end of the turn.
        let mut mid = finished("msg_2");
        mid.finish = Some("tool-calls".into());
        turns.note("ses_b", 10, Some(&mid));
        turns.save(&store, "p");

        let turns = SettledTurns::load(&store, "p");
        assert_eq!(turns.last_message("ses_a", 10).unwrap().id, "msg_1");
        assert!(turns.last_message("ses_a", 11).is_none(), "updated since");
        assert!(turns.last_message("ses_b", 10).is_none());
        assert!(SettledTurns::load(&store, "other")
            .last_message("ses_a", 10)
            .is_none());
    }

    #[test]
    fn a_session_that_is_busy_again_or_gone_is_forgotten() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("ao.db")).unwrap();
        let mut turns = SettledTurns::load(&store, "p");
        turns.note("ses_a", 10, Some(&finished("msg_1")));
        turns.note("ses_b", 10, Some(&finished("msg_1")));
        turns.note("ses_a", 12, None);
        turns.retain(&["ses_a"]);
        turns.save(&store, "p");
        let turns = SettledTurns::load(&store, "p");
        assert!(turns.last_message("ses_a", 10).is_none());
        assert!(turns.last_message("ses_b", 10).is_none());
    }

    #[test]
    fn a_remembered_message_reads_back_as_it_was_stored() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("ao.db")).unwrap();
        let mut turns = SettledTurns::load(&store, "p");
        let message = finished("msg_1");
        turns.note("ses_a", 10, Some(&message));
        turns.save(&store, "p");
        // Stored under OpenCode's own names, so the memory and the API agree.
        let stored = store.agent_state(AGENT_NAME, &key("p")).unwrap().unwrap();
        assert_eq!(stored["ses_a"]["message"]["role"], "assistant");
        let turns = SettledTurns::load(&store, "p");
        assert_eq!(turns.last_message("ses_a", 10), Some(&message));
    }
}
