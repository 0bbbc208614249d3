//! What a session's host records, and what the plugin reads: the files in the session's private
//! (0700) directory, under [`ACP_DIR`].
//!
//! - [`HostRecord`] (`state.json`), rewritten atomically whenever what `ao status` shows changes:
//!   the host's and the agent's processes, the protocol's session, the turn, pending permission
//!   requests, the plan, usage. `ao status` reads it and asks the host nothing.
//! - the conversation (`conversation.jsonl`), one [`ConversationLine`] appended per event: a later
//!   line with the same id extends or replaces an earlier one (a text chunk, a tool call's update),
//!   so the file is only ever appended to and a reader folds it.
//! - the launch ([`HostLaunch`], `launch.json`, 0600): what the plugin asks the host to run. The
//!   agent's environment may hold secrets, so it is here and never in an argv.
//! - the control socket (`host.sock`, [`crate::control`]).
//!
//! These are the plugin's own files, written by one version of ao and read by the same: no other
//! program reads them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ao_agent::agent::PlanItem;
use ao_agent::clock::EpochMillis;
use ao_agent::session::{PendingQuestion, PermitOption, Tokens};
use serde::{Deserialize, Serialize};

/// The directory, inside a session's private directory, that holds the host's files.
pub const ACP_DIR: &str = "acp";

/// Where the files of the host of the session whose private directory is `session_dir` are.
#[derive(Debug, Clone)]
pub struct HostFiles {
    dir: PathBuf,
}

impl HostFiles {
    /// The host's files of a session.
    pub fn of(session_dir: &Path) -> HostFiles {
        HostFiles {
            dir: session_dir.join(ACP_DIR),
        }
    }

    /// The directory itself.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `state.json`: the [`HostRecord`].
    pub fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// `conversation.jsonl`: [`ConversationLine`]s.
    pub fn conversation(&self) -> PathBuf {
        self.dir.join("conversation.jsonl")
    }

    /// `launch.json`: the [`HostLaunch`].
    pub fn launch(&self) -> PathBuf {
        self.dir.join("launch.json")
    }

    /// `host.sock`: the control socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("host.sock")
    }
}

/// What the plugin asks a host to run (`launch.json`, written before the host starts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostLaunch {
    /// This launch's random id, new at each prepare and restore: the host copies it into its
    /// record ([`HostRecord::launch_id`]), which tells its record from a previous host's.
    pub launch_id: String,
    /// The agent's argv (`agentConfig.command`).
    pub command: Vec<String>,
    /// Added to the agent's environment (`agentConfig.env`).
    pub env: BTreeMap<String, String>,
    /// The directory the conversation works in (the session's workspace).
    pub cwd: PathBuf,
    /// The model to choose through the protocol, when one is configured.
    pub model: Option<String>,
    /// The session mode to choose through the protocol, when one is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Whether that mode is the one the preset picks for `permission` (not `agentConfig.mode`).
    #[serde(default)]
    pub mode_from_permission: bool,
    /// What to tell a person whose agent says it needs credentials (the preset's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_hint: Option<String>,
    /// How the host answers what the agent asks.
    pub permission: PermissionPolicy,
    /// What a million tokens cost, when configured: the cost where the agent reports none.
    pub price: Option<Price>,
    /// A new conversation, or the protocol's session to load (restore).
    pub start: HostStart,
}

/// How a host starts its conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostStart {
    /// `session/new`.
    New,
    /// `session/load` of this protocol session id.
    Load(String),
}

/// US dollars per million tokens (`agentConfig.price`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Price {
    /// Per million input tokens.
    pub input: f64,
    /// Per million output tokens.
    pub output: f64,
}

impl Price {
    /// What `tokens` cost at this price, in US dollars (input and output tokens priced; cache
    /// and reasoning tokens are not, as `agentConfig.price` names no price for them).
    pub fn cost_of(&self, tokens: &Tokens) -> f64 {
        tokens.input as f64 * self.input / 1e6 + tokens.output as f64 * self.output / 1e6
    }
}

/// How the host answers a permission request, by the ACP tool kind of the call it is about
/// (`agentConfig.permission`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PermissionPolicy {
    /// The answer for a kind not named in `by_kind`.
    pub default: PermissionAnswer,
    /// The answer per tool kind (`execute`, `edit`, ...).
    pub by_kind: BTreeMap<ToolKind, PermissionAnswer>,
}

impl PermissionPolicy {
    /// Whether every kind is allowed: nothing waits for a person.
    pub fn allows_all(&self) -> bool {
        self.default == PermissionAnswer::Allow
            && self.by_kind.values().all(|a| *a == PermissionAnswer::Allow)
    }

    /// The answer for a call of this kind (a call of no kind counts as `other`).
    pub fn answer(&self, kind: Option<ToolKind>) -> PermissionAnswer {
        self.by_kind
            .get(&kind.unwrap_or(ToolKind::Other))
            .copied()
            .unwrap_or(self.default)
    }
}

/// How a host answers a permission request.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::VariantNames,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum PermissionAnswer {
    /// Leave it to a person (`waiting_input`, `ao permit`).
    #[default]
    Ask,
    /// Allow it (the request's allow-once option).
    Allow,
    /// Refuse it (the request's reject-once option).
    Deny,
}

/// The kind of a tool call, as ACP names it (`ToolKind`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ToolKind {
    /// Reading files or data.
    Read,
    /// Changing files.
    Edit,
    /// Removing files.
    Delete,
    /// Moving or renaming files.
    Move,
    /// Searching.
    Search,
    /// Running a command.
    Execute,
    /// Thinking.
    Think,
    /// Fetching from the network.
    Fetch,
    /// Switching the session's mode.
    SwitchMode,
    /// Anything else.
    Other,
}

/// What the host has recorded of its session (`state.json`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HostRecord {
    /// The launch this host started from ([`HostLaunch::launch_id`]): a record of another launch
    /// is a previous host's (a restored session's directory holds it until the new host writes).
    #[serde(default)]
    pub launch_id: String,
    /// The host's own process (pid and start time, to tell a reused pid apart).
    pub host: Option<ProcessRecord>,
    /// The agent's process, once started; it leads its own process group.
    pub agent_process: Option<ProcessRecord>,
    /// The agent's name and version, from `initialize`.
    pub agent: Option<AgentIdentity>,
    /// The protocol's session id, once `session/new` (or `session/load`) answered.
    pub acp_session_id: Option<String>,
    /// Whether the agent can load a session (`agentCapabilities.loadSession`): `ao restore`.
    pub load_session: bool,
    /// The model in use, as the agent names it.
    pub model: Option<String>,
    /// The conversation's title, when the agent gives one.
    pub title: Option<String>,
    /// Where the host is.
    pub phase: HostPhase,
    /// Permission requests waiting for a person, oldest first.
    pub pending: Vec<PendingPermission>,
    /// Questions the agent asked (`elicitation/create`) waiting for a person, oldest first.
    #[serde(default)]
    pub questions: Vec<QuestionRequest>,
    /// The agent's plan, as its last `plan` update gave it.
    pub plan: Vec<PlanItem>,
    /// Tokens, summed over the turns' usage reports; `None` once a turn's report did not cover
    /// all that turn spent (no report, or the last model step's only): from then on the sum is
    /// not known, and ao shows none rather than a short one.
    pub tokens: Option<Tokens>,
    /// Cost so far in US dollars: the agent's own (`usage_update`'s cost), else from the
    /// configured price; `None` without either.
    pub cost_usd: Option<f64>,
    /// When the agent last did something.
    pub last_activity_at: Option<EpochMillis>,
}

/// A process, found again by pid and start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRecord {
    /// The pid.
    pub pid: u32,
    /// Its start time in clock ticks since boot.
    pub start_time: u64,
}

/// An ACP agent's name and version (`initialize`'s `agentInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentIdentity {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// Where a host and its session are.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum HostPhase {
    /// Starting the agent, `initialize`, `session/new` or `session/load`.
    #[default]
    Starting,
    /// The conversation is there and no turn has run yet.
    Open,
    /// A prompt is under way since `since`.
    Turn {
        /// When the prompt was sent.
        since: EpochMillis,
    },
    /// The last prompt returned.
    Ended {
        /// When.
        at: EpochMillis,
        /// Why the agent stopped.
        stop: StopReason,
    },
    /// The last prompt failed with a JSON-RPC error, or the session could not start.
    Failed {
        /// When.
        at: EpochMillis,
        /// The error's name, as `error.name` shows it (`AgentError`, `InitializeTimeout`, ...).
        name: String,
        /// The agent's message.
        message: String,
    },
    /// The agent's process ended.
    AgentExited {
        /// When.
        at: EpochMillis,
        /// Whether a turn was under way (`blocked`/`Interrupted`) or not (`exited`).
        mid_turn: bool,
        /// How it ended (`exit status 1`, `signal 9`).
        status: String,
    },
}

/// Why a prompt ended (ACP's `StopReason`).
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
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum StopReason {
    /// The turn ended normally.
    EndTurn,
    /// The model hit its token limit.
    MaxTokens,
    /// The agent hit its limit of model requests in one turn.
    MaxTurnRequests,
    /// The agent refused to go on.
    Refusal,
    /// The client cancelled the turn.
    Cancelled,
}

/// A permission request waiting for a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingPermission {
    /// ao's id for it (what `ao permit` takes): the tool call's id.
    pub id: String,
    /// The kind of the call it is about.
    pub kind: Option<ToolKind>,
    /// One line for people: the call's title (for a shell call, its command).
    pub title: String,
    /// The answers the agent offers.
    pub options: Vec<PermitOption>,
    /// When it was asked.
    pub at: EpochMillis,
}

/// A question request (an `elicitation/create` in form mode) waiting for a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuestionRequest {
    /// ao's id for it (what `ao answer --request` takes): the protocol gives a form none.
    pub id: String,
    /// The agent's message.
    pub title: String,
    /// One question per field of the form, in the order of the fields' names: `ao answer`
    /// takes one answer each.
    pub questions: Vec<PendingQuestion>,
    /// When it was asked.
    pub at: EpochMillis,
}

/// One line of the conversation file: an entry, or more of an earlier one with the same id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationLine {
    /// The entry's id: a later line with the same id extends (text) or updates (a tool call) it.
    pub id: String,
    /// When it was written.
    pub at: EpochMillis,
    /// What it says.
    #[serde(flatten)]
    pub part: ConversationPart,
}

/// What a line of the conversation says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ConversationPart {
    /// A prompt sent (by `ao spawn` or `ao send`).
    User {
        /// Its text.
        text: String,
    },
    /// A chunk of the agent's message: appended to the text of the entry with the same id.
    Assistant {
        /// The chunk.
        text: String,
    },
    /// A tool call, or an update of one: fields given replace the entry's.
    Tool {
        /// Its kind.
        kind: Option<ToolKind>,
        /// Its title, when given.
        title: Option<String>,
        /// Its status word (`pending`, `in_progress`, `completed`, `failed`), when given.
        status: Option<String>,
        /// The start of its output, when given.
        output: Option<String>,
    },
    /// The end of a turn, with the usage it reported.
    TurnEnd {
        /// Why it ended, or the error's name.
        reason: String,
        /// Its usage, when reported.
        tokens: Option<Tokens>,
    },
    /// A prompt queued behind a turn and dropped by a cancel: never sent to the agent.
    Unsent {
        /// Its text.
        text: String,
    },
}
