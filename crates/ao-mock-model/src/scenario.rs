//! Scenarios: what the mock answers, and how a request picks its answer.
//!
//! See the crate documentation for the selection rule and the JSON format.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::MockError;

/// Token counts reported for one model reply.
///
/// They are passed through unchanged to the client (OpenCode computes the
/// session cost from them), so tests can predict exact costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Usage {
    /// `usage.prompt_tokens`.
    pub prompt_tokens: u64,
    /// `usage.completion_tokens`.
    pub completion_tokens: u64,
    /// `usage.prompt_tokens_details.cached_tokens`.
    #[serde(default)]
    pub cached_tokens: u64,
    /// `usage.completion_tokens_details.reasoning_tokens`.
    #[serde(default)]
    pub reasoning_tokens: u64,
}

impl Usage {
    /// Usage with the given prompt and completion tokens, no cached or reasoning tokens.
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Usage {
            prompt_tokens,
            completion_tokens,
            cached_tokens: 0,
            reasoning_tokens: 0,
        }
    }

    /// Sets the cached prompt tokens.
    pub fn cached(mut self, cached_tokens: u64) -> Self {
        self.cached_tokens = cached_tokens;
        self
    }

    /// Sets the reasoning tokens.
    pub fn reasoning(mut self, reasoning_tokens: u64) -> Self {
        self.reasoning_tokens = reasoning_tokens;
        self
    }

    /// `prompt_tokens + completion_tokens`, as reported in `total_tokens`.
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }
}

impl Default for Usage {
    /// Prompt 10, completion 5: what a turn without an explicit `usage` reports.
    fn default() -> Self {
        Usage::new(10, 5)
    }
}

/// One function call inside a [`Turn::ToolCalls`] turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCall {
    /// The tool name, e.g. `"bash"`.
    pub name: String,
    /// The arguments. A JSON object is sent serialized as a string (what real
    /// models do); a JSON string is sent verbatim, which lets a scenario send
    /// arguments that are not valid JSON.
    pub arguments: Value,
}

impl ToolCall {
    /// A call of `name` with `arguments`.
    pub fn new(name: impl Into<String>, arguments: Value) -> Self {
        ToolCall {
            name: name.into(),
            arguments,
        }
    }
}

/// One scripted model reply.
///
/// In JSON it is an object tagged by `"type"`, e.g.
/// `{"type": "text", "text": "hi", "usage": {"prompt_tokens": 110, "completion_tokens": 7}}`.
/// Every kind accepts `delay_ms`: how long to wait before sending the response
/// head (keeps a session busy). `usage` defaults to [`Usage::default`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Turn {
    /// Plain assistant text, streamed as several `delta.content` chunks split
    /// after whitespace; finish reason `stop`.
    Text {
        /// The full reply; the streamed chunks concatenate to exactly this.
        text: String,
        /// Reported token usage.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<Usage>,
        /// Wait before the response head.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delay_ms: Option<u64>,
        /// Wait between streamed content chunks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        chunk_delay_ms: Option<u64>,
    },
    /// One function call (optionally preceded by text); finish reason `tool_calls`.
    ToolCall {
        /// The tool name, e.g. `"bash"`.
        name: String,
        /// The arguments; see [`ToolCall::arguments`].
        arguments: Value,
        /// Text streamed before the call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        /// Reported token usage.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<Usage>,
        /// Wait before the response head.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delay_ms: Option<u64>,
    },
    /// Several function calls in one reply (parallel tool calls); finish reason `tool_calls`.
    ToolCalls {
        /// The calls, sent with `index` 0, 1, ... in this order.
        #[serde(alias = "tool_calls")]
        calls: Vec<ToolCall>,
        /// Text streamed before the calls.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        /// Reported token usage.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<Usage>,
        /// Wait before the response head.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delay_ms: Option<u64>,
    },
    /// An HTTP error response with an OpenAI-style error body.
    Error {
        /// The HTTP status, e.g. 400, 429, 500.
        status: u16,
        /// `error.message` in the body.
        message: String,
        /// Wait before the response head.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delay_ms: Option<u64>,
    },
    /// A 200 stream with one valid content chunk, then a `data:` line that is
    /// not JSON, then the end of the stream.
    Malformed {
        /// Content of the valid chunk (default `"Partial"`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        /// Wait before the response head.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delay_ms: Option<u64>,
    },
    /// A 200 stream with a role chunk and some content, then the connection is
    /// dropped: no finish reason, no usage, no `[DONE]`.
    ///
    /// OpenCode treats a dropped connection as retryable and retries the same
    /// request (which gets the same turn again) with growing back-off. With
    /// `clean_end` the body instead ends normally, still without finish reason,
    /// usage or `[DONE]`; OpenCode then ends the step with reason "unknown" and
    /// goes on to the next request.
    Truncated {
        /// Content sent before the cut (default `"This reply was cut off"`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        /// End the body normally instead of dropping the connection.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        clean_end: bool,
        /// Wait before the response head.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delay_ms: Option<u64>,
    },
    /// 200 headers, then nothing until the server shuts down.
    Hang {
        /// Wait before the response head.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delay_ms: Option<u64>,
    },
}

impl Turn {
    /// A text reply with default usage.
    pub fn text(text: impl Into<String>) -> Self {
        Turn::Text {
            text: text.into(),
            usage: None,
            delay_ms: None,
            chunk_delay_ms: None,
        }
    }

    /// A single tool call, e.g. `Turn::tool_call("bash", json!({"command": "ls"}))`.
    pub fn tool_call(name: impl Into<String>, arguments: Value) -> Self {
        Turn::ToolCall {
            name: name.into(),
            arguments,
            text: None,
            usage: None,
            delay_ms: None,
        }
    }

    /// Several tool calls in one reply.
    pub fn tool_calls(calls: impl IntoIterator<Item = ToolCall>) -> Self {
        Turn::ToolCalls {
            calls: calls.into_iter().collect(),
            text: None,
            usage: None,
            delay_ms: None,
        }
    }

    /// An HTTP error response.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        Turn::Error {
            status,
            message: message.into(),
            delay_ms: None,
        }
    }

    /// A stream that turns into garbage after one chunk.
    pub fn malformed() -> Self {
        Turn::Malformed {
            text: None,
            delay_ms: None,
        }
    }

    /// A stream cut off before its end.
    pub fn truncated() -> Self {
        Turn::Truncated {
            text: None,
            clean_end: false,
            delay_ms: None,
        }
    }

    /// For a truncated turn: end the body normally instead of dropping the
    /// connection. Ignored by other kinds.
    pub fn clean_end(mut self) -> Self {
        if let Turn::Truncated { clean_end, .. } = &mut self {
            *clean_end = true;
        }
        self
    }

    /// A response that never sends a byte after its headers.
    pub fn hang() -> Self {
        Turn::Hang { delay_ms: None }
    }

    /// Sets the reported usage to `prompt_tokens` / `completion_tokens`.
    /// Ignored by kinds that report no usage (error, malformed, truncated, hang).
    pub fn usage(self, prompt_tokens: u64, completion_tokens: u64) -> Self {
        self.with_usage(Usage::new(prompt_tokens, completion_tokens))
    }

    /// Sets the reported usage, including cached and reasoning tokens.
    /// Ignored by kinds that report no usage.
    pub fn with_usage(mut self, new: Usage) -> Self {
        match &mut self {
            Turn::Text { usage, .. }
            | Turn::ToolCall { usage, .. }
            | Turn::ToolCalls { usage, .. } => *usage = Some(new),
            Turn::Error { .. }
            | Turn::Malformed { .. }
            | Turn::Truncated { .. }
            | Turn::Hang { .. } => {}
        }
        self
    }

    /// Sets the text sent before tool calls, or the content of a malformed or
    /// truncated stream, or replaces the text of a text turn. Ignored by error and hang.
    pub fn with_text(mut self, new: impl Into<String>) -> Self {
        let new = new.into();
        match &mut self {
            Turn::Text { text, .. } => *text = new,
            Turn::ToolCall { text, .. }
            | Turn::ToolCalls { text, .. }
            | Turn::Malformed { text, .. }
            | Turn::Truncated { text, .. } => *text = Some(new),
            Turn::Error { .. } | Turn::Hang { .. } => {}
        }
        self
    }

    /// Waits `ms` milliseconds before sending the response head.
    pub fn delay_ms(mut self, ms: u64) -> Self {
        match &mut self {
            Turn::Text { delay_ms, .. }
            | Turn::ToolCall { delay_ms, .. }
            | Turn::ToolCalls { delay_ms, .. }
            | Turn::Error { delay_ms, .. }
            | Turn::Malformed { delay_ms, .. }
            | Turn::Truncated { delay_ms, .. }
            | Turn::Hang { delay_ms } => *delay_ms = Some(ms),
        }
        self
    }

    /// Waits `ms` milliseconds between streamed content chunks. Only text turns use it.
    pub fn chunk_delay_ms(mut self, ms: u64) -> Self {
        if let Turn::Text { chunk_delay_ms, .. } = &mut self {
            *chunk_delay_ms = Some(ms);
        }
        self
    }

    /// The `"type"` tag of this turn, e.g. `"tool_call"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Turn::Text { .. } => "text",
            Turn::ToolCall { .. } => "tool_call",
            Turn::ToolCalls { .. } => "tool_calls",
            Turn::Error { .. } => "error",
            Turn::Malformed { .. } => "malformed",
            Turn::Truncated { .. } => "truncated",
            Turn::Hang { .. } => "hang",
        }
    }

    /// The configured wait before the response head, if any.
    pub fn head_delay_ms(&self) -> Option<u64> {
        match self {
            Turn::Text { delay_ms, .. }
            | Turn::ToolCall { delay_ms, .. }
            | Turn::ToolCalls { delay_ms, .. }
            | Turn::Error { delay_ms, .. }
            | Turn::Malformed { delay_ms, .. }
            | Turn::Truncated { delay_ms, .. }
            | Turn::Hang { delay_ms } => *delay_ms,
        }
    }

    fn validate(&self) -> Result<(), String> {
        let check_call = |name: &str, arguments: &Value| -> Result<(), String> {
            if name.is_empty() {
                return Err("a tool call has an empty name".to_string());
            }
            if !(arguments.is_object() || arguments.is_string()) {
                return Err(format!(
                    "tool call {name:?}: arguments must be a JSON object (or a string sent verbatim)"
                ));
            }
            Ok(())
        };
        match self {
            Turn::ToolCall {
                name, arguments, ..
            } => check_call(name, arguments),
            Turn::ToolCalls { calls, .. } => {
                if calls.is_empty() {
                    return Err("a tool_calls turn has no calls".to_string());
                }
                calls
                    .iter()
                    .try_for_each(|c| check_call(&c.name, &c.arguments))
            }
            Turn::Error { status, .. } => {
                if (100..=999).contains(status) {
                    Ok(())
                } else {
                    Err(format!("error turn: {status} is not an HTTP status"))
                }
            }
            _ => Ok(()),
        }
    }
}

/// A scripted conversation: the replies for the 1st, 2nd, ... model request
/// of one session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// Name recorded with every request the script answers.
    #[serde(default)]
    pub name: String,
    /// The script is used when this substring occurs in the first user message.
    /// Ignored for the default script.
    #[serde(rename = "match", default, skip_serializing_if = "String::is_empty")]
    pub pattern: String,
    /// Free text for people reading the scenario file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `turns[n]` answers a request that holds `n` assistant messages.
    #[serde(default)]
    pub turns: Vec<Turn>,
}

impl Script {
    /// An empty script called `name` that matches nothing yet.
    pub fn new(name: impl Into<String>) -> Self {
        Script {
            name: name.into(),
            pattern: String::new(),
            description: None,
            turns: Vec::new(),
        }
    }

    /// Uses this script when `pattern` occurs in the first user message.
    pub fn matching(mut self, pattern: impl Into<String>) -> Self {
        self.pattern = pattern.into();
        self
    }

    /// Appends a turn.
    pub fn turn(mut self, turn: Turn) -> Self {
        self.turns.push(turn);
        self
    }

    /// Appends several turns.
    pub fn turns(mut self, turns: impl IntoIterator<Item = Turn>) -> Self {
        self.turns.extend(turns);
        self
    }

    /// The default script of [`Scenario::default`]: one text turn
    /// "Hello from the ao mock model." with usage (10, 5).
    pub fn hello() -> Self {
        Script::new("default").turn(Turn::text("Hello from the ao mock model.").usage(10, 5))
    }
}

fn default_script() -> Script {
    Script::hello()
}

/// Everything the mock can answer: scripts picked by the first user message,
/// plus a default script.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Free text for people reading the scenario file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Tried in order; the first whose `match` occurs in the first user message wins.
    #[serde(default)]
    pub scripts: Vec<Script>,
    /// Used when no script matches. Defaults to [`Script::hello`].
    #[serde(default = "default_script")]
    pub default: Script,
}

impl Default for Scenario {
    /// No scripts; the default script answers "Hello from the ao mock model.".
    fn default() -> Self {
        Scenario {
            description: None,
            scripts: Vec::new(),
            default: Script::hello(),
        }
    }
}

impl Scenario {
    /// Same as [`Scenario::default`]; start of the builder chain.
    pub fn new() -> Self {
        Scenario::default()
    }

    /// Appends a matching script.
    pub fn script(mut self, script: Script) -> Self {
        self.scripts.push(script);
        self
    }

    /// Replaces the default script.
    pub fn default_script(mut self, script: Script) -> Self {
        self.default = script;
        self
    }

    /// Parses and validates a scenario from JSON text.
    pub fn from_json_str(json: &str) -> Result<Scenario, MockError> {
        let scenario: Scenario = serde_json::from_str(json).map_err(MockError::ScenarioJson)?;
        scenario
            .validate()
            .map_err(|message| MockError::InvalidScenario {
                origin: None,
                message,
            })?;
        Ok(scenario)
    }

    /// Reads, parses and validates a scenario file; errors name the file.
    pub fn from_json_file(path: impl AsRef<Path>) -> Result<Scenario, MockError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| MockError::ScenarioRead {
            path: path.to_path_buf(),
            source,
        })?;
        let scenario: Scenario =
            serde_json::from_str(&text).map_err(|source| MockError::ScenarioParse {
                path: path.to_path_buf(),
                source,
            })?;
        scenario
            .validate()
            .map_err(|message| MockError::InvalidScenario {
                origin: Some(path.to_path_buf()),
                message,
            })?;
        Ok(scenario)
    }

    /// Checks what serde cannot: matching scripts need a name and a non-empty
    /// `match` (an empty one would match every request), tool calls need names
    /// and object arguments, error statuses must be HTTP statuses.
    pub fn validate(&self) -> Result<(), String> {
        for (i, script) in self.scripts.iter().enumerate() {
            if script.name.is_empty() {
                return Err(format!("scripts[{i}] has no name"));
            }
            if script.pattern.is_empty() {
                return Err(format!(
                    "script {:?} has an empty \"match\" (it would match every request)",
                    script.name
                ));
            }
        }
        let named = self
            .scripts
            .iter()
            .map(|s| (s.name.as_str(), &s.turns))
            .chain(std::iter::once(("default", &self.default.turns)));
        for (name, turns) in named {
            for (n, turn) in turns.iter().enumerate() {
                turn.validate()
                    .map_err(|e| format!("script {name:?}, turns[{n}]: {e}"))?;
            }
        }
        Ok(())
    }

    /// The script for a request whose first user message is `first_user_text`.
    pub fn select(&self, first_user_text: &str) -> &Script {
        self.scripts
            .iter()
            .find(|s| !s.pattern.is_empty() && first_user_text.contains(&s.pattern))
            .unwrap_or(&self.default)
    }
}
