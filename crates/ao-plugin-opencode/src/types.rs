//! The objects of OpenCode's server API that ao reads, typed.
//!
//! Every field is optional or defaulted and unknown fields are ignored, so that a newer OpenCode
//! adding a field does not break `ao status`. Times are epoch milliseconds, as OpenCode sends them.

use serde::{Deserialize, Serialize};

/// A conversation (`GET /session/{id}`).
#[derive(Debug, Clone, Default, Deserialize)]
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

impl From<SessionTokens> for ao_core::session::Tokens {
    fn from(t: SessionTokens) -> Self {
        ao_core::session::Tokens {
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
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SessionModel {
    /// The model id.
    pub id: String,
    /// The provider id.
    #[serde(rename = "providerID")]
    pub provider_id: String,
}

/// A session's times.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
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
    /// `busy`, `idle` or `retry`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The retry attempt.
    pub attempt: Option<u64>,
    /// Why it retries.
    pub message: Option<String>,
    /// When the next attempt is due.
    pub next: Option<i64>,
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
    /// Its parts.
    pub parts: Vec<serde_json::Value>,
}

/// A user or assistant message.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct MessageInfo {
    /// `msg_…`.
    pub id: String,
    /// `user` or `assistant`.
    pub role: String,
    /// Created and (assistant) completed times.
    pub time: MessageTime,
    /// Why the step ended: `stop`, `tool-calls`, ...
    pub finish: Option<String>,
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

/// A message's times.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct MessageTime {
    /// Created.
    pub created: i64,
    /// Completed; absent while running and after an interrupted turn.
    pub completed: Option<i64>,
}

/// An error object as OpenCode reports it: `{"name", "data": {"message", ...}}`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ApiError {
    /// e.g. `APIError`, `ProviderAuthError`, `MessageAbortedError`.
    pub name: String,
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
            .unwrap_or_else(|| self.name.clone())
    }
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
