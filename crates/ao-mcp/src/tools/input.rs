//! Each tool's input: a type whose doc comments become its JSON Schema's descriptions, unknown
//! fields refused.

use schemars::JsonSchema;
use serde::Deserialize;

use ao_core::agent::PermitDecision;
use ao_core::session::RuntimeKind;

/// Where a session runs.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// A tmux window a person can attach to.
    Tmux,
    /// A detached process.
    Process,
}

impl From<Runtime> for RuntimeKind {
    fn from(r: Runtime) -> RuntimeKind {
        match r {
            Runtime::Tmux => RuntimeKind::Tmux,
            Runtime::Process => RuntimeKind::Process,
        }
    }
}

/// `spawn`'s input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpawnInput {
    /// The project, as ao's config names it (only the config's projects).
    pub project: String,
    /// The session's first prompt: the task.
    pub prompt: String,
    /// The agent's own agent or mode (e.g. build, plan), as `ao spawn --agent`.
    pub agent: Option<String>,
    /// Where the session runs (default: the project's runtime).
    pub runtime: Option<Runtime>,
    /// The session's name (default: the project's prefix and the next number).
    pub name: Option<String>,
    /// The model, as provider/model (default: the project's).
    pub model: Option<String>,
}

/// `status`'s input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusInput {
    /// A project, project/name, or a name unique across projects (default: every session).
    pub target: Option<String>,
}

/// `wait`'s input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitInput {
    /// The session: project/name, or a name unique across projects.
    pub session: String,
    /// The states to wait for (default: anything but active): active, waiting_input, blocked,
    /// ready, idle, exited. `ready` also accepts `idle`.
    pub until: Option<Vec<String>>,
    /// Give up after this many seconds (default 600, at most 3600). Giving up is a normal
    /// result: `timed_out` is true.
    pub timeout: Option<f64>,
}

/// `send`'s input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendInput {
    /// The session: project/name, or a name unique across projects.
    pub session: String,
    /// The follow-up message.
    pub message: String,
}

/// The input of the tools that take only a session (`show`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionInput {
    /// The session: project/name, or a name unique across projects.
    pub session: String,
}

/// `diff`'s input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiffInput {
    /// The session: project/name, or a name unique across projects.
    pub session: String,
    /// The whole diff (capped at 256 KiB) instead of git's --stat.
    #[serde(default)]
    pub full: bool,
}

/// `logs`'s input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogsInput {
    /// The session: project/name, or a name unique across projects.
    pub session: String,
    /// How many of the last entries (default 20, at most 500).
    pub last: Option<u64>,
}

/// `kill`'s input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KillInput {
    /// project/name, a unique name, or a project (all its sessions).
    pub session: String,
    /// Also delete the agent's conversation and forget the session.
    #[serde(default)]
    pub purge: bool,
    /// Remove the work tree even if it holds uncommitted changes (they are lost).
    #[serde(default)]
    pub force: bool,
}

/// `fork`'s input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForkInput {
    /// The session to fork: project/name, or a name unique across projects.
    pub session: String,
    /// The fork's first message (none: it waits for `send`).
    pub prompt: Option<String>,
    /// A name instead of the next <prefix>-<N>.
    pub name: Option<String>,
    /// Keep only the messages before this one (a message id, as `show` lists them).
    pub at: Option<String>,
    /// Where the fork runs (default: the source's runtime).
    pub runtime: Option<Runtime>,
}

/// How to answer a permission request.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Allow this one call.
    Once,
    /// Allow it and calls like it in this project from now on.
    Always,
    /// Refuse it; the agent stops its turn.
    Reject,
}

impl From<Decision> for PermitDecision {
    fn from(d: Decision) -> PermitDecision {
        match d {
            Decision::Once => PermitDecision::Once,
            Decision::Always => PermitDecision::Always,
            Decision::Reject => PermitDecision::Reject,
        }
    }
}

/// `permit`'s input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PermitInput {
    /// The session: project/name, or a name unique across projects.
    pub session: String,
    /// once (the default), always, or reject.
    pub decision: Option<Decision>,
    /// The request to answer (needed when several are pending; `status` lists them).
    pub request: Option<String>,
}

/// `answer`'s input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerInput {
    /// The session: project/name, or a name unique across projects.
    pub session: String,
    /// One answer per question asked (an option's label, or free text).
    pub answers: Option<Vec<String>>,
    /// Dismiss the question instead of answering; the agent stops its turn.
    #[serde(default)]
    pub reject: bool,
    /// The question to answer (needed when several are pending).
    pub request: Option<String>,
}
