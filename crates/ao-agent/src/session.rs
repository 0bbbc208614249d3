//! The vocabulary of ao as plain values: a session's address, its stored record, and what an
//! agent reports of it (docs/architecture.md). The status that `ao status` reports (the JSON of
//! `ao status --json`) is ao-core's.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::clock::EpochMillis;
use crate::runtime::RuntimeHandle;

/// Where a session's program runs. Its words (config, CLI, JSON, store) are derived, once.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum RuntimeKind {
    /// A tmux session a person can attach to.
    Tmux,
    /// A detached background process with its output in a log file.
    Process,
}

impl RuntimeKind {
    /// The name used in config, the CLI and JSON.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Where a session works on the project's files.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum WorkspaceKind {
    /// A git work tree and branch `ao/<name>` of its own, under the state home.
    Worktree,
    /// The project directory itself.
    None,
}

/// A session's address: `<project>/<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionAddress {
    /// The project's name.
    pub project: String,
    /// The session's name within the project.
    pub name: String,
}

impl fmt::Display for SessionAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.project, self.name)
    }
}

/// Where a session is in its life, as the store records it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Lifecycle {
    /// `ao spawn` has reserved the name and is still setting the session up.
    Spawning,
    /// Set up; the runtime was started.
    Live,
    /// Stopped by `ao kill`; `ao restore` can bring it back.
    Killed,
}

impl Lifecycle {
    /// The word the store keeps.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The lifecycle a stored word names; `None` for a word this ao does not know.
    pub fn parse(s: &str) -> Option<Lifecycle> {
        s.parse().ok()
    }
}

/// Everything the store remembers about a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// `<project>/<name>`.
    pub address: SessionAddress,
    /// The agent plugin's name, as in config.
    pub agent: String,
    /// Where its program runs.
    pub runtime: RuntimeKind,
    /// Where it is in its life.
    pub lifecycle: Lifecycle,
    /// The agent's own id for the conversation, once known.
    pub agent_session_id: Option<String>,
    /// The directory the agent works in.
    pub workspace: PathBuf,
    /// The git branch of its work tree, if it has one.
    pub branch: Option<String>,
    /// The commit its work tree started from (for a fork, the source's), against which `ao show`
    /// and `ao diff` count its changes; `None` for sessions without a work tree and for work trees
    /// made before ao recorded it (then the merge base with the project's branch is used).
    pub base: Option<String>,
    /// How to find its runtime again, once started.
    pub runtime_handle: Option<RuntimeHandle>,
    /// The model asked for at spawn (`provider/model`), if any.
    pub model: Option<String>,
    /// The agent's own agent/mode asked for at spawn, if any.
    pub agent_mode: Option<String>,
    /// When `ao spawn` reserved it.
    pub created_at: EpochMillis,
}

/// What the agent is doing; docs/architecture.md ("Activity") defines the states.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Activity {
    /// Working on a turn.
    Active,
    /// Waiting for a person: a permission or a question is pending.
    WaitingInput,
    /// Cannot go on by itself: the last turn failed or was interrupted, or the provider is retried.
    Blocked,
    /// The turn is finished and the agent can take the next message.
    Ready,
    /// Finished and untouched for longer than `readyThresholdMs`.
    Idle,
    /// Nothing can run this session until it is restored.
    Exited,
}

impl Activity {
    /// The state's name in JSON and tables.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Token counts, as the agent counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    /// Prompt tokens not read from a cache.
    pub input: u64,
    /// Completion tokens other than reasoning.
    pub output: u64,
    /// Reasoning tokens.
    pub reasoning: u64,
    /// Prompt tokens read from the provider's cache.
    pub cache_read: u64,
    /// Prompt tokens written to the provider's cache.
    pub cache_write: u64,
}

/// What kind of request waits for a person.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum PendingKind {
    /// A tool wants permission to run.
    Permission,
    /// The agent asked a question.
    Question,
}

/// One request waiting for a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingRequest {
    /// Permission or question.
    pub kind: PendingKind,
    /// The agent's id for it, what `ao permit`/`ao answer` take.
    pub id: String,
    /// One line for people, e.g. `bash: echo hi > out.txt`.
    pub title: String,
    /// The agent session that raised it, when it is a child of the tracked session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_session: Option<String>,
    /// For a permission, the tool (or permission) it is for, e.g. `bash`, `edit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// For a question, what it asks, in order: `ao answer` takes one answer each. A live view
    /// shows the options so that a person can pick one without typing it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub questions: Vec<PendingQuestion>,
    /// For a permission, the answers the agent offers, when it names them (an ACP agent does):
    /// `ao permit`'s once, always and reject pick among them by their kind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<PermitOption>,
}

/// One answer a permission request offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermitOption {
    /// The agent's id for it.
    pub id: String,
    /// Its label, for people.
    pub name: String,
    /// What choosing it does.
    pub kind: PermitOptionKind,
}

/// What choosing a permission request's option does (ACP's `PermissionOptionKind`). A word this
/// ao does not know is kept as the agent said it, and is never chosen by `ao permit`'s decisions.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
)]
#[serde(from = "String", into = "String")]
#[strum(serialize_all = "snake_case")]
pub enum PermitOptionKind {
    /// Allow this call.
    AllowOnce,
    /// Allow this call and the ones like it from now on.
    AllowAlways,
    /// Refuse this call.
    RejectOnce,
    /// Refuse this call and the ones like it from now on.
    RejectAlways,
    /// A word this ao does not know, as the agent said it.
    #[strum(default)]
    Other(String),
}
crate::agent::open_words!(PermitOptionKind);

/// One question of a pending question request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingQuestion {
    /// The question.
    pub question: String,
    /// The choices offered, by label (what an answer names); a person may also answer in words.
    #[serde(default)]
    pub options: Vec<String>,
}

/// Why a session is blocked, exited, or could not be seen: as JSON, `{"name": …, "message": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionError {
    /// Why, by name in JSON: one of ao's own reasons, or what the agent's provider said
    /// (`APIError`, `ProviderAuthError`…).
    #[serde(rename = "name")]
    pub why: Why,
    /// What happened, for people.
    pub message: String,
}

impl SessionError {
    /// Whether it says only that the session could not be seen (its server unreachable, or the
    /// password refused), nothing about the session itself.
    pub fn is_unseen(&self) -> bool {
        self.why.is_unseen()
    }
}

/// The reason of a [`SessionError`]: ao's own reasons, each with its name in JSON, beside
/// [`Why::Agent`] for a name the agent or its provider gave. The names of ao's own are derived
/// from the variants.
#[derive(Debug, Clone, PartialEq, Eq, Hash, strum::EnumString, strum::IntoStaticStr)]
pub enum Why {
    /// The agent's server is there but did not answer in time.
    ServerUnresponsive,
    /// The agent's server, on another machine, cannot be reached.
    Unreachable,
    /// The agent's server refused ao's password.
    Unauthorized,
    /// Stopped by its budget.
    BudgetExceeded,
    /// The turn was cut off (its server stopped mid-turn).
    Interrupted,
    /// The provider is being retried.
    Retry,
    /// The agent's state could not be read.
    Unobservable,
    /// Its project is no longer in the config.
    UnknownProject,
    /// Its agent is not one this ao knows.
    UnknownAgent,
    /// Its agent gave no observation for it.
    Unobserved,
    /// `ao spawn` stopped before it finished setting it up.
    SpawnIncomplete,
    /// The agent no longer has its conversation.
    SessionDeleted,
    /// The last message got no reply.
    NoReply,
    /// Its project's agent server is not running.
    ServerGone,
    /// What the agent or its provider said, by its own name.
    #[strum(default)]
    Agent(String),
}

impl Why {
    /// Its name, as in JSON (`error.name`).
    pub fn name(&self) -> &str {
        match self {
            Why::Agent(name) => name,
            own => own.into(),
        }
    }

    /// The reason a name stands for: ao's own when it is one, else the agent's.
    pub fn from_name(name: &str) -> Why {
        // `Agent` is the default: parsing never fails.
        name.parse()
            .unwrap_or_else(|_| Why::Agent(name.to_string()))
    }

    /// Whether it says only that the session could not be seen, nothing about the session.
    pub fn is_unseen(&self) -> bool {
        matches!(self, Why::Unreachable | Why::Unauthorized)
    }
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Why {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Why {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Why, D::Error> {
        let name = String::deserialize(deserializer)?;
        Ok(Why::from_name(&name))
    }
}

/// The server a session's agent works through, when the agent runs one that several projects may
/// use (OpenCode's): where it is, and which projects use it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentServer {
    /// Where ao reaches it: `http://127.0.0.1:PORT` for one ao runs, else its configured URL.
    pub url: String,
    /// The projects that use it, the session's own among them, sorted.
    pub projects: Vec<String>,
}

/// How far a plan is: `done` of `total` items. Cancelled items count in neither.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TodoCount {
    /// Items completed.
    pub done: usize,
    /// Items not cancelled.
    pub total: usize,
}
