//! A scripted model server on 127.0.0.1 that speaks the APIs of the agents `ao` runs: OpenAI
//! chat completions (OpenCode), the Anthropic Messages API (Claude Code) and the OpenAI
//! Responses API (Codex).
//!
//! `ao`'s end-to-end tests and offline demo point an agent at this server (for OpenCode, its
//! `@ai-sdk/openai-compatible` provider: see [`opencode_provider_config`]) so that whole agent
//! sessions run without a real model, with exact and predictable replies and token usage.
//!
//! # Endpoints
//!
//! * `POST /v1/chat/completions` (also `/chat/completions`): streaming (SSE)
//!   and non-streaming chat completions.
//! * `GET /v1/models` (also `/models`): lists the single model `mock-1`.
//! * `POST /v1/messages` and `/v1/messages/count_tokens`: the Anthropic Messages API, for Claude
//!   Code (`ANTHROPIC_BASE_URL` is [`MockModel::anthropic_base_url`]), streamed as Claude reads
//!   it. The scenario's `bash` call becomes the request's `Bash` tool. Claude's side requests (a
//!   title, asked without tools; a prompt suggestion) get "Mock session" (as `{"title": ...}`
//!   when asked for JSON) with [`SIDE_USAGE`], use no turn, and are recorded with `is_side`.
//! * `POST /v1/responses`: the OpenAI Responses API, for Codex (a `model_providers` entry with
//!   `wire_api = "responses"` and `base_url` [`MockModel::base_url`]), streamed as Codex reads
//!   it. The script comes from the first user message the person wrote (Codex's own context
//!   messages left out), the turn from the number of model replies already in `input`; the
//!   scenario's `bash` call becomes the shell tool the request offers.
//!
//! # How a request picks its reply
//!
//! Selection is stateless, so any number of concurrent sessions can share one
//! server; the reply depends only on the request body. For chat completions
//! (the other APIs differ only in where they find the text and the count, as
//! said above):
//!
//! 1. If a `system` message contains "title generator" (any case), the request
//!    is OpenCode's session-title call. It is answered with the text
//!    "Mock session" and uses no script (a side request).
//! 2. Otherwise the **script** is the first of [`Scenario::scripts`] whose
//!    `match` substring occurs in the text of the request's **first `user`
//!    message**, else [`Scenario::default`].
//! 3. The **turn** is `turns[n]` where `n` is the number of `assistant`
//!    messages in the request. A tool call turn followed by the tool result
//!    therefore moves on to the next turn, and so does a follow-up user
//!    message after a text turn.
//! 4. When `n` is past the end of the script, the reply is the text "Done."
//!    with usage (10, 2).
//!
//! Every model request, on any of the APIs, is recorded ([`RecordedRequest`])
//! with the script and turn it got; see [`MockModel::requests`].
//!
//! # Scenario JSON
//!
//! ```json
//! {
//!   "description": "optional free text",
//!   "scripts": [
//!     {
//!       "name": "list-files",
//!       "match": "[ls]",
//!       "turns": [
//!         {"type": "tool_call", "name": "bash", "arguments": {"command": "ls", "description": "List files"},
//!          "text": "Let me look.", "usage": {"prompt_tokens": 1000, "completion_tokens": 20}},
//!         {"type": "text", "text": "There are two files.", "usage": {"prompt_tokens": 1100, "completion_tokens": 8, "cached_tokens": 1000}}
//!       ]
//!     },
//!     {"name": "broken", "match": "[fail]", "turns": [{"type": "error", "status": 500, "message": "boom"}]}
//!   ],
//!   "default": {"name": "default", "turns": [{"type": "text", "text": "Hello!", "delay_ms": 200}]}
//! }
//! ```
//!
//! Turn kinds (the `"type"` tag): `text`, `tool_call`, `tool_calls`
//! (`"calls": [{"name", "arguments"}, ...]`), `error`, `malformed`,
//! `truncated` (optionally `"clean_end": true`), `hang`; see [`Turn`]. `scripts`, `default` and `description`
//! may be omitted; unknown fields are rejected so that typos surface.
//!
//! # Example
//!
//! ```no_run
//! use ao_mock_model::{MockModel, Scenario, Script, Turn};
//! use serde_json::json;
//!
//! # async fn demo() -> Result<(), ao_mock_model::MockError> {
//! let scenario = Scenario::new().script(
//!     Script::new("perm")
//!         .matching("[perm]")
//!         .turn(Turn::tool_call("bash", json!({"command": "rm -rf build"})).usage(120, 9))
//!         .turn(Turn::text("Removed.").usage(130, 3)),
//! );
//! let mock = MockModel::start(scenario).await?;
//! let config = ao_mock_model::opencode_provider_config(&mock.base_url());
//! // ... run OpenCode with `config`, then inspect mock.requests() ...
//! mock.shutdown().await;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod blocking;
mod error;
mod request;
mod scenario;
mod server;

pub use blocking::BlockingMockModel;
pub use error::MockError;
pub use scenario::{Scenario, Script, ToolCall, Turn, Usage};
pub use server::anthropic::{anthropic_base_url, SIDE_USAGE};
pub use server::{MockConfig, MockModel, RecordedRequest};

use serde_json::{json, Value};

/// The id of the only model the mock serves.
pub const MODEL_ID: &str = "mock-1";

/// The OpenCode config fragment that registers the mock at `base_url` as
/// provider `mock` with model `mock-1` (so the model is `mock/mock-1`).
///
/// Costs are 3 (input) and 15 (output) dollars per million tokens, so tests
/// can compute the expected session cost from the scripted usage.
pub fn opencode_provider_config(base_url: &str) -> Value {
    json!({
        "provider": {
            "mock": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "ao mock model",
                "options": {
                    "baseURL": base_url,
                    "apiKey": "mock-key"
                },
                "models": {
                    MODEL_ID: {
                        "name": "Mock 1",
                        "tool_call": true,
                        "cost": {"input": 3, "output": 15},
                        "limit": {"context": 128000, "output": 4096}
                    }
                }
            }
        }
    })
}
