//! A session's plan as OpenCode keeps it: the items its `todowrite` tool writes.

use serde::Deserialize;

/// One item of a session's plan (`GET /session/{id}/todo`, written by the `todowrite` tool).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Todo {
    /// What is to be done.
    pub content: String,
    /// `pending`, `in_progress`, `completed` or `cancelled`.
    pub status: String,
    /// `high`, `medium` or `low`.
    pub priority: String,
}

impl From<Todo> for ao_agent::agent::PlanItem {
    fn from(t: Todo) -> Self {
        ao_agent::agent::PlanItem {
            content: t.content,
            status: t.status.into(),
            priority: t.priority.into(),
        }
    }
}
