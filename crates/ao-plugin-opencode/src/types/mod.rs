//! The objects of OpenCode's server API that ao reads, typed.
//!
//! Every field is optional or defaulted and unknown fields are ignored, so that a newer OpenCode
//! adding a field does not break `ao status`. Likewise the names OpenCode picks from a set (roles,
//! status kinds, part kinds, tool stages, and event types in [`crate::events`]) are enums whose
//! `Unknown` variant takes any name this version of ao does not know, and every reader matches
//! them exhaustively. Times are epoch milliseconds, as OpenCode sends them.

use serde::{Deserialize, Serialize};

mod todo;

pub use todo::Todo;

/// A conversation (`GET /session/{id}`). It serializes under OpenCode's own names, so that the
/// mirror of a project's list ([`crate::session_list`]) stores what the server sent.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Session {
    /// `ses_…`.
    pub id: String,
    /// The directory it runs in.
    pub directory: String,
    /// The parent conversation, for a subagent's child session.
    #[serde(rename = "parentID")]
    pub parent_id: Option<String>,
    /// Its title (generated from the first prompt unless given).
    pub title: String,
    /// Sum of the cost of its assistant messages, in US dollars.
    pub cost: f64,
    /// Sum of the tokens of its assistant messages.
    pub tokens: SessionTokens,
    /// The model last used.
    pub model: Option<SessionModel>,
    /// Created and updated times.
    pub time: SessionTime,
}

/// Token counts of a session.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct SessionTokens {
    /// Prompt tokens not read from a cache.
    pub input: u64,
    /// Completion tokens other than reasoning.
    pub output: u64,
    /// Reasoning tokens.
    pub reasoning: u64,
    /// Cache reads and writes.
    pub cache: CacheTokens,
}

impl From<SessionTokens> for ao_agent::session::Tokens {
    fn from(t: SessionTokens) -> Self {
        ao_agent::session::Tokens {
            input: t.input,
            output: t.output,
            reasoning: t.reasoning,
            cache_read: t.cache.read,
            cache_write: t.cache.write,
        }
    }
}

/// Cache token counts.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct CacheTokens {
    /// Read from the cache.
    pub read: u64,
    /// Written to the cache.
    pub write: u64,
}

/// A session's model: `{id, providerID}` (prompts use another shape, see [`PromptModel`]).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct SessionModel {
    /// The model id.
    pub id: String,
    /// The provider id.
    #[serde(rename = "providerID")]
    pub provider_id: String,
}

/// A session's times.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct SessionTime {
    /// Created.
    pub created: i64,
    /// Last updated (a message or its aggregate changed).
    pub updated: i64,
}

/// One entry of `GET /session/status`; idle sessions are absent from it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct SessionStatus {
    /// What the session is doing.
    #[serde(rename = "type")]
    pub kind: StatusKind,
    /// The retry attempt.
    pub attempt: Option<u64>,
    /// Why it retries.
    pub message: Option<String>,
    /// When the next attempt is due.
    pub next: Option<i64>,
}

/// The kinds of [`SessionStatus`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusKind {
    /// Between turns (seen only in events: idle sessions are absent from `/session/status`).
    Idle,
    /// In a turn, including one waiting on a permission or a question.
    Busy,
    /// Waiting to retry a failed provider call.
    Retry,
    /// A kind this version of ao does not know.
    #[default]
    #[serde(other)]
    Unknown,
}

/// A pending permission request (`GET /permission`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PermissionRequest {
    /// `per_…`.
    pub id: String,
    /// The session that asks.
    #[serde(rename = "sessionID")]
    pub session_id: String,
    /// The permission, e.g. `bash`, `edit`.
    pub permission: String,
    /// What it would be applied to, e.g. the command.
    pub patterns: Vec<String>,
}

/// A pending question (`GET /question`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct QuestionRequest {
    /// `que_…`.
    pub id: String,
    /// The session that asks.
    #[serde(rename = "sessionID")]
    pub session_id: String,
    /// The questions, each answered with a list of labels.
    pub questions: Vec<Question>,
}

/// One question of a [`QuestionRequest`].
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Question {
    /// The question.
    pub question: String,
    /// A short header.
    pub header: String,
    /// The choices.
    pub options: Vec<QuestionOption>,
}

/// One choice of a [`Question`].
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct QuestionOption {
    /// What to answer with.
    pub label: String,
    /// What it means.
    pub description: String,
}

/// A message with its parts (`GET /session/{id}/message`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MessageWithParts {
    /// The message.
    pub info: MessageInfo,
    /// Its parts as sent, since the follower logs them whole; [`Part::read`] gives the fields ao
    /// reads.
    pub parts: Vec<serde_json::Value>,
}

/// A user or assistant message.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct MessageInfo {
    /// `msg_…`.
    pub id: String,
    /// Who wrote it.
    pub role: Role,
    /// Created and (assistant) completed times.
    pub time: MessageTime,
    /// Why the step ended: `stop`, `tool-calls`, ...
    pub finish: Option<FinishReason>,
    /// The error that ended it, if any.
    pub error: Option<ApiError>,
    /// The model (assistant).
    #[serde(rename = "modelID")]
    pub model_id: Option<String>,
    /// The provider (assistant).
    #[serde(rename = "providerID")]
    pub provider_id: Option<String>,
    /// The step's cost.
    pub cost: f64,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The person (or ao, for them).
    User,
    /// The model: one message per step of a turn.
    Assistant,
    /// A role this version of ao does not know.
    #[default]
    #[serde(other)]
    Unknown,
}

/// A message's times.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct MessageTime {
    /// Created.
    pub created: i64,
    /// Completed; absent while running and after an interrupted turn.
    pub completed: Option<i64>,
}

/// The fields of a message part that ao reads (`GET /session/{id}/message`,
/// `message.part.updated`); which of them a part has depends on its kind.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Part {
    /// `prt_…`.
    pub id: String,
    /// What kind of part it is.
    #[serde(rename = "type")]
    pub kind: PartKind,
    /// The text (`text`, `reasoning`); empty while it streams.
    pub text: String,
    /// Whether OpenCode added it itself rather than anyone writing it (`text`).
    pub synthetic: bool,
    /// When it was written.
    pub time: PartTime,
    /// The tool's name (`tool`).
    pub tool: String,
    /// The tool call's progress (`tool`).
    pub state: ToolState,
    /// Why the step ended, e.g. `stop`, `tool-calls` (`step-finish`).
    pub reason: String,
    /// The step's tokens (`step-finish`).
    pub tokens: SessionTokens,
    /// The step's cost in US dollars (`step-finish`).
    pub cost: f64,
}

impl Part {
    /// The fields ao reads of a part as sent; a part with a field of an unexpected type reads as
    /// one of an unknown kind, which every reader skips.
    pub fn read(raw: &serde_json::Value) -> Part {
        Part::deserialize(raw).unwrap_or_default()
    }
}

/// The kinds of [`Part`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartKind {
    /// Text someone wrote.
    Text,
    /// The model's reasoning.
    Reasoning,
    /// A tool call, its input and its result.
    Tool,
    /// A step (one model call) begins.
    StepStart,
    /// A step ends, with its tokens and cost.
    StepFinish,
    /// An attached file.
    File,
    /// The files a step changed.
    Patch,
    /// A mention of an agent in a prompt.
    Agent,
    /// A snapshot of the work tree.
    Snapshot,
    /// The conversation was compacted.
    Compaction,
    /// A task handed to a subagent.
    Subtask,
    /// A provider call is retried.
    Retry,
    /// A kind this version of ao does not know.
    #[default]
    #[serde(other)]
    Unknown,
}

/// When a part was written.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(default)]
pub struct PartTime {
    /// Started.
    pub start: Option<i64>,
    /// Ended; absent while a text part still streams.
    pub end: Option<i64>,
}

/// A tool call's progress.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ToolState {
    /// Where the call is.
    pub status: ToolStatus,
    /// What the tool was asked, e.g. `{"command": …}`.
    pub input: Option<serde_json::Value>,
    /// A one-line title the tool gave the call.
    pub title: String,
    /// The result (`completed`).
    pub output: String,
    /// Why it failed (`error`).
    pub error: String,
}

/// The stages of a tool call. Shown to people (`ao logs`), so a stage this version of ao does not
/// know keeps its name.
#[derive(
    Debug, Clone, PartialEq, Eq, Deserialize, Serialize, strum::EnumString, strum::IntoStaticStr,
)]
#[serde(from = "String", into = "String")]
#[strum(serialize_all = "lowercase")]
pub enum ToolStatus {
    /// Asked for; may wait on a permission.
    Pending,
    /// Running.
    Running,
    /// Done, with its output.
    Completed,
    /// Failed or rejected, with the error.
    Error,
    /// A stage this version of ao does not know, by its name.
    #[strum(default)]
    Unknown(String),
}

impl ToolStatus {
    /// Its name as OpenCode sends it.
    pub fn as_str(&self) -> &str {
        match self {
            ToolStatus::Unknown(name) => name,
            known => known.into(),
        }
    }
}

impl Default for ToolStatus {
    fn default() -> Self {
        ToolStatus::Unknown(String::new())
    }
}

impl From<String> for ToolStatus {
    fn from(name: String) -> Self {
        // `Unknown` is the default: parsing never fails.
        name.parse().unwrap_or(ToolStatus::Unknown(name))
    }
}

impl From<ToolStatus> for String {
    fn from(status: ToolStatus) -> Self {
        match status {
            ToolStatus::Unknown(name) => name,
            known => known.as_str().to_string(),
        }
    }
}

/// Why an assistant's step ended, as OpenCode says it: the reasons ao acts on, and any other by
/// its word.
#[derive(
    Debug, Clone, PartialEq, Eq, Deserialize, Serialize, strum::EnumString, strum::IntoStaticStr,
)]
#[serde(from = "String", into = "String")]
#[strum(serialize_all = "kebab-case")]
pub enum FinishReason {
    /// The model called tools: the next step follows.
    ToolCalls,
    /// Any other reason (`stop`, `length`, ...), by its word.
    #[strum(default)]
    Other(String),
}

impl From<String> for FinishReason {
    fn from(word: String) -> Self {
        // `Other` is the default: parsing never fails.
        word.parse().unwrap_or(FinishReason::Other(word))
    }
}

impl From<FinishReason> for String {
    fn from(reason: FinishReason) -> Self {
        match reason {
            FinishReason::Other(word) => word,
            known => <&str>::from(&known).to_string(),
        }
    }
}

/// An error object as OpenCode reports it: `{"name", "data": {"message", ...}}`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ApiError {
    /// What kind of error it is, e.g. `APIError`, `ProviderAuthError`, `MessageAbortedError`.
    pub name: ErrorName,
    /// Details; `message` is the one for people.
    pub data: serde_json::Value,
}

impl ApiError {
    /// The message for people.
    pub fn message(&self) -> String {
        self.data
            .get("message")
            .and_then(|m| m.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| self.name.as_str().to_string())
    }
}

/// The name of an error as OpenCode tags it: the ones ao acts on, and any other by its name
/// (reported to people as the agent's reason).
#[derive(
    Debug, Clone, PartialEq, Eq, Deserialize, Serialize, strum::EnumString, strum::IntoStaticStr,
)]
#[serde(from = "String", into = "String")]
pub enum ErrorName {
    /// The person aborted the turn: their decision, not a failure.
    MessageAbortedError,
    /// Any other error, by its name.
    #[strum(default)]
    Other(String),
}

impl ErrorName {
    /// Its name as OpenCode sends it.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorName::Other(name) => name,
            known => known.into(),
        }
    }
}

impl Default for ErrorName {
    fn default() -> Self {
        ErrorName::Other(String::new())
    }
}

impl From<String> for ErrorName {
    fn from(name: String) -> Self {
        // `Other` is the default: parsing never fails.
        name.parse().unwrap_or(ErrorName::Other(name))
    }
}

impl From<ErrorName> for String {
    fn from(name: ErrorName) -> Self {
        match name {
            ErrorName::Other(name) => name,
            known => known.as_str().to_string(),
        }
    }
}

/// A work tree the server made (`POST /experimental/worktree`).
#[derive(Debug, Clone, Deserialize)]
pub struct Worktree {
    /// Its name (the one asked for, or that with a random suffix when it was taken).
    pub name: String,
    /// Its branch (`opencode/<name>` on 1.18.33).
    #[serde(default)]
    pub branch: Option<String>,
    /// Its directory on the server's machine.
    pub directory: String,
}

/// The model in a prompt body: `{providerID, modelID}`.
#[derive(Debug, Clone, Serialize)]
pub struct PromptModel {
    /// The provider id.
    #[serde(rename = "providerID")]
    pub provider_id: String,
    /// The model id.
    #[serde(rename = "modelID")]
    pub model_id: String,
}

impl PromptModel {
    /// Splits `provider/model`.
    pub fn parse(model: &str) -> Option<PromptModel> {
        let (p, m) = model.split_once('/')?;
        Some(PromptModel {
            provider_id: p.to_string(),
            model_id: m.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn known_names_read_and_write_as_opencode_spells_them() {
        for (role, name) in [(Role::User, "user"), (Role::Assistant, "assistant")] {
            assert_eq!(serde_json::to_value(role).unwrap(), name);
            assert_eq!(serde_json::from_value::<Role>(json!(name)).unwrap(), role);
        }
        for (kind, name) in [
            (StatusKind::Idle, "idle"),
            (StatusKind::Busy, "busy"),
            (StatusKind::Retry, "retry"),
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), name);
            assert_eq!(
                serde_json::from_value::<StatusKind>(json!(name)).unwrap(),
                kind
            );
        }
        for (kind, name) in [
            (PartKind::Text, "text"),
            (PartKind::StepStart, "step-start"),
            (PartKind::StepFinish, "step-finish"),
            (PartKind::Compaction, "compaction"),
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), name);
            assert_eq!(
                serde_json::from_value::<PartKind>(json!(name)).unwrap(),
                kind
            );
        }
        for name in ["pending", "running", "completed", "error", "cancelled"] {
            let status: ToolStatus = serde_json::from_value(json!(name)).unwrap();
            assert_eq!(serde_json::to_value(&status).unwrap(), name);
        }
        for (error, name) in [
            (ErrorName::MessageAbortedError, "MessageAbortedError"),
            (ErrorName::Other("APIError".into()), "APIError"),
        ] {
            assert_eq!(serde_json::to_value(&error).unwrap(), name);
            assert_eq!(
                serde_json::from_value::<ErrorName>(json!(name)).unwrap(),
                error
            );
        }
        for (reason, word) in [
            (FinishReason::ToolCalls, "tool-calls"),
            (FinishReason::Other("stop".into()), "stop"),
        ] {
            assert_eq!(serde_json::to_value(&reason).unwrap(), word);
            assert_eq!(
                serde_json::from_value::<FinishReason>(json!(word)).unwrap(),
                reason
            );
        }
    }

    #[test]
    fn a_message_round_trips_through_json() {
        let info: MessageInfo = serde_json::from_value(json!({
            "id": "msg_1", "role": "assistant", "time": {"created": 1, "completed": 2},
            "finish": "stop", "modelID": "mock-1", "providerID": "mock", "cost": 0.5,
            "tokens": {"input": 3}
        }))
        .unwrap();
        assert_eq!(info.role, Role::Assistant);
        let again: MessageInfo =
            serde_json::from_value(serde_json::to_value(&info).unwrap()).unwrap();
        assert_eq!(again, info);
    }

    #[test]
    fn what_a_newer_opencode_may_add_still_reads() {
        let info: MessageInfo =
            serde_json::from_value(json!({"id": "msg_1", "role": "system"})).unwrap();
        assert_eq!(info.role, Role::Unknown);
        let status: SessionStatus =
            serde_json::from_value(json!({"type": "paused", "until": 5})).unwrap();
        assert_eq!(status.kind, StatusKind::Unknown);
        let part = Part::read(&json!({"id": "prt_1", "type": "hologram", "text": "hi"}));
        assert_eq!((part.kind, part.id.as_str()), (PartKind::Unknown, "prt_1"));
        let tool = Part::read(&json!({"type": "tool", "state": {"status": "cancelled"}}));
        assert_eq!(tool.state.status, ToolStatus::Unknown("cancelled".into()));
        assert_eq!(tool.state.status.as_str(), "cancelled");
        // A part that cannot be read is one of an unknown kind, which readers skip.
        let odd = Part::read(&json!({"type": "text", "text": 42}));
        assert_eq!(odd.kind, PartKind::Unknown);
    }
}
