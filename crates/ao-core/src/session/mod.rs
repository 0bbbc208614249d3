//! The vocabulary of ao as plain values: the agent's ([`ao_agent::session`]: a session's
//! address, its stored record, what its agent reports), and what `ao status` reports for one
//! session (the JSON of `ao status --json`, docs/architecture.md).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use ao_agent::session::*;

/// Whether the runtime's process (the tmux pane's program, the detached process) still runs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum ProcessState {
    /// It runs.
    Running,
    /// It has ended (or was never started).
    Exited,
}

/// What `ao status` reports for one session: the object of `ao status --json`.
#[derive(Debug, Clone, Serialize)]
pub struct SessionStatus {
    /// `<project>/<name>`.
    pub id: String,
    /// The project's name.
    pub project: String,
    /// The session's name.
    pub name: String,
    /// The agent plugin.
    pub agent: String,
    /// `tmux` or `process`.
    pub runtime: RuntimeKind,
    /// Whether the runtime's process runs.
    pub process: ProcessState,
    /// What the agent is doing.
    pub activity: Activity,
    /// When it entered its current activity (RFC 3339), from the transitions in the store.
    pub activity_since: Option<String>,
    /// The agent's id for the conversation.
    pub agent_session_id: Option<String>,
    /// The directory the agent works in.
    pub workspace: PathBuf,
    /// The work tree's branch.
    pub branch: Option<String>,
    /// When the session was spawned (RFC 3339).
    pub created_at: String,
    /// When the agent last did something (RFC 3339).
    pub last_activity_at: Option<String>,
    /// `provider/model`.
    pub model: Option<String>,
    /// The conversation's title or summary.
    pub summary: Option<String>,
    /// Tokens used so far, the agent's own figures; `null` when the agent's reports do not add up
    /// to what it spent (it reports none, or only part of a turn): ao never guesses.
    pub tokens: Option<Tokens>,
    /// Cost so far in US dollars, the agent's own figure (or from the configured price); `null`
    /// when the agent reports none: ao never guesses.
    pub cost_usd: Option<f64>,
    /// The session's budget in US dollars (`budget.sessionUsd`), when one is set.
    pub budget_usd: Option<f64>,
    /// Requests waiting for a person.
    pub pending: Vec<PendingRequest>,
    /// Why it is blocked (or why it could not be observed).
    pub error: Option<SessionError>,
    /// True when its agent did not answer within the status budget, so what is shown is what ao
    /// last knew.
    pub stale: bool,
    /// When what is shown was observed, for a stale session (RFC 3339); `None` when fresh, or
    /// when nothing was ever observed.
    pub stale_since: Option<String>,
    /// How far the agent's plan (its todo list) is, when it has one.
    pub todos: Option<TodoCount>,
    /// The machine its project's agent server is on: `None` for this one, else the ssh
    /// destination or the server URL's `host:port`.
    pub host: Option<String>,
    /// The agent's server it works through (its URL, and which projects use it), when its agent
    /// runs one that projects may share; `None` otherwise.
    pub server: Option<AgentServer>,
    /// How many files its work tree changed against its base, committed or not; `None` without a
    /// work tree of its own, or when git could not tell.
    pub files_changed: Option<usize>,
    /// A shell command that attaches a terminal to the session.
    pub attach_command: Option<String>,
    /// A shell command that brings the session back after it exited.
    pub restore_command: Option<String>,
}

impl SessionStatus {
    /// The session's address, typed (what `id` says as text).
    pub fn address(&self) -> SessionAddress {
        SessionAddress {
            project: self.project.clone(),
            name: self.name.clone(),
        }
    }
}
