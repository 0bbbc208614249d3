//! The last message of each session whose turn has ended for good, remembered in the plugin's
//! state.
//!
//! A finished turn does not change until the session is prompted again, and OpenCode bumps the
//! session's `time.updated` whenever a message is stored or updated (measured on 1.18.33: at the
//! prompt, at the assistant message's start and at its end). So while a session's `time.updated`
//! is the one remembered, its remembered last message is still its last message, and `ao status`
//! need not ask for it: with many finished sessions, that is one request per project instead of
//! one per session.
//!
//! The session's plan counts (`done/total` of its todo list) are remembered with the message: the
//! plan only changes through a tool call, which stores a message, so the same `time.updated`
//! keeps both true.
//!
//! It is a cache: a value that cannot be read or written costs requests, never a wrong answer.
//! Its changes are applied to the stored value in one transaction, so two `ao status` at once
//! merge instead of one undoing the other.

use std::collections::BTreeMap;

use ao_agent::agent::ProjectContext;
use ao_agent::session::TodoCount;
use serde::{Deserialize, Serialize};

use crate::types::MessageInfo;

/// The key of a project's cache in the plugin's state.
fn key(project: &str) -> String {
    format!("last-messages:{project}")
}

/// A settled session's last message and plan counts, and the session's `time.updated` when they
/// were read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Remembered {
    updated: i64,
    message: MessageInfo,
    /// `None` in what an older ao stored and when the plan could not be read (then it is read
    /// again); `0/0` for a session without a plan.
    #[serde(default)]
    todos: Option<TodoCount>,
}

type Cache = BTreeMap<String, Remembered>;

/// The remembered last messages of a project's sessions, and what this look changed.
#[derive(Debug, Default)]
pub struct LastMessages {
    by_session: Cache,
    /// Per session: what to remember now (`None`: forget it).
    changes: BTreeMap<String, Option<Remembered>>,
}

impl LastMessages {
    /// What was remembered for the project; nothing when the cache cannot be read.
    pub async fn load(cx: &ProjectContext<'_>) -> LastMessages {
        let by_session = cx
            .state
            .get::<Cache>(&key(&cx.project.name))
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        LastMessages {
            by_session,
            changes: BTreeMap::new(),
        }
    }

    /// The last message of `session` and its plan counts, if they were remembered settled at this
    /// `updated` time.
    pub fn last_message(
        &self,
        session: &str,
        updated: i64,
    ) -> Option<(&MessageInfo, Option<TodoCount>)> {
        self.by_session
            .get(session)
            .filter(|r| r.updated == updated)
            .map(|r| (&r.message, r.todos))
    }

    /// Notes what was just read: remembers `last` and the plan counts when its turn is settled,
    /// forgets them otherwise.
    pub fn note(
        &mut self,
        session: &str,
        updated: i64,
        last: Option<&MessageInfo>,
        todos: Option<TodoCount>,
    ) {
        let now = last
            .filter(|m| crate::observe::turn_settled(m))
            .map(|m| Remembered {
                updated,
                message: m.clone(),
                todos,
            });
        if self.by_session.get(session) != now.as_ref() {
            self.changes.insert(session.to_string(), now);
        }
    }

    /// Forgets every remembered session not in `keep` (killed and purged ones).
    pub fn retain(&mut self, keep: &[&str]) {
        for id in self.by_session.keys() {
            if !keep.contains(&id.as_str()) {
                self.changes.insert(id.clone(), None);
            }
        }
    }

    /// Applies what changed to the stored cache; a failed write only costs requests next time.
    pub async fn save(self, cx: &ProjectContext<'_>) {
        if self.changes.is_empty() {
            return;
        }
        let changes = self.changes;
        // Not waited for: a look does not wait on another's write lock to keep a cache.
        let _ = cx
            .state
            .try_update(&key(&cx.project.name), move |cache: &mut Option<Cache>| {
                let mut now = cache.take().unwrap_or_default();
                for (id, change) in changes {
                    match change {
                        Some(r) => now.insert(id, r),
                        None => now.remove(&id),
                    };
                }
                *cache = (!now.is_empty()).then_some(now);
            })
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_world::world;
    use crate::types::{FinishReason, MessageTime, Role};

    fn finished(id: &str) -> MessageInfo {
        MessageInfo {
            id: id.into(),
            role: Role::Assistant,
            time: MessageTime {
                created: 1,
                completed: Some(2),
            },
            finish: Some("stop".to_string().into()),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_remembered_message_reads_back_as_it_was_stored() {
        let tmp = tempfile::tempdir().unwrap();
        let (project, home, state, _) = world(&tmp);
        let cx = ProjectContext {
            project: &project,
            home: &home,
            state: &state,
        };
        let mut turns = LastMessages::load(&cx).await;
        let message = finished("msg_1");
        turns.note(
            "ses_a",
            10,
            Some(&message),
            Some(TodoCount { done: 1, total: 2 }),
        );
        turns.save(&cx).await;
        // Stored under OpenCode's own names, so the memory and the API agree.
        let stored: serde_json::Value = state.get_blocking(&key("p")).unwrap().unwrap();
        assert_eq!(stored["ses_a"]["message"]["role"], "assistant");
        let turns = LastMessages::load(&cx).await;
        assert_eq!(
            turns.last_message("ses_a", 10),
            Some((&message, Some(TodoCount { done: 1, total: 2 })))
        );
    }

    #[tokio::test]
    async fn a_settled_message_is_remembered_until_the_session_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let (project, home, state, _) = world(&tmp);
        let cx = ProjectContext {
            project: &project,
            home: &home,
            state: &state,
        };
        let mut turns = LastMessages::load(&cx).await;
        turns.note("ses_a", 10, Some(&finished("msg_1")), None);
        // A step that ends in tool calls is not the end of the turn.
        let mut mid = finished("msg_2");
        mid.finish = Some(FinishReason::ToolCalls);
        turns.note("ses_b", 10, Some(&mid), None);
        turns.note("ses_c", 10, Some(&finished("msg_3")), None);
        turns.save(&cx).await;

        let mut turns = LastMessages::load(&cx).await;
        assert_eq!(turns.last_message("ses_a", 10).unwrap().0.id, "msg_1");
        assert!(turns.last_message("ses_a", 11).is_none(), "updated since");
        assert!(turns.last_message("ses_b", 10).is_none());
        // Busy again, and gone.
        turns.note("ses_a", 12, None, None);
        turns.retain(&["ses_a"]);
        turns.save(&cx).await;
        let turns = LastMessages::load(&cx).await;
        assert!(turns.last_message("ses_a", 10).is_none());
        assert!(turns.last_message("ses_c", 10).is_none());
    }
}
