//! The Anthropic Messages API, for Claude Code (`ANTHROPIC_BASE_URL` pointed at
//! [`MockModel::anthropic_base_url`]).
//!
//! * `POST /v1/messages` (Claude Code adds `?beta=true`): a streamed reply (SSE events
//!   `message_start`, `content_block_start` / `content_block_delta` / `content_block_stop` for
//!   each text or `tool_use` block, `message_delta` with the stop reason and output tokens,
//!   `message_stop`), or one JSON message when the request does not ask for a stream.
//! * `POST /v1/messages/count_tokens`: a rough count (a token per four bytes of the body).
//!
//! A request picks its reply as a chat completion does (see the crate documentation): the
//! script from the text of the first `user` message (Claude's `<system-reminder>` blocks left
//! out), the turn from the number of `assistant` messages. Two kinds of request Claude Code
//! sends beside the conversation are **side requests**, answered "Mock session" (as JSON when
//! the request asks for a JSON schema: `{"title": "Mock session"}`) with usage (10, 2)
//! ([`SIDE_USAGE`]) without a script, and recorded with `is_side` set: a request
//! without `tools` (the session's title; its text holds the prompt, so a script would match it)
//! and a prompt suggestion (a last user message starting `[SUGGESTION MODE:`), `turn_kind`
//! `"title"` and `"suggestion"`.
//!
//! A scripted tool call is sent as the request's tool of the same name in any case, so the
//! scenario's `bash` becomes Claude Code's `Bash` (its input `{command, description}`).
//! [`Usage`] is OpenAI's, whose prompt tokens include the cached ones: `input_tokens` is
//! `prompt_tokens - cached_tokens` and `cache_read_input_tokens` is `cached_tokens`. An `error`
//! turn answers its status with Anthropic's error body,
//! `{"type": "error", "error": {"type": <by status>, "message": ...}}`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{
    body, hang, json_body_response, parsed, scripted, split_words, streaming_response,
    waited_head_delay, Decision, Ending, Outcome, Shared, SHUTTING_DOWN,
};
use crate::request;
use crate::scenario::{Scenario, ToolCall, Turn, Usage};
use crate::{BlockingMockModel, MockModel};

/// What a side request (a title, a prompt suggestion) reports: input 10, output 2.
pub const SIDE_USAGE: Usage = Usage {
    prompt_tokens: 10,
    completion_tokens: 2,
    cached_tokens: 0,
    reasoning_tokens: 0,
};

/// The text a side request gets.
const SIDE_TEXT: &str = "Mock session";

/// How a prompt-suggestion request's last user message begins.
const SUGGESTION_MARK: &str = "[SUGGESTION MODE:";

/// Where Claude Code's reminders to the model begin, in a user message's text blocks.
const REMINDER_MARK: &str = "<system-reminder>";

/// The Anthropic base URL of a mock on `port`: `http://127.0.0.1:PORT` (clients add `/v1`).
pub fn anthropic_base_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

impl MockModel {
    /// The base URL to give an Anthropic client (`ANTHROPIC_BASE_URL`): `http://127.0.0.1:PORT`.
    pub fn anthropic_base_url(&self) -> String {
        anthropic_base_url(self.port())
    }
}

impl BlockingMockModel {
    /// The base URL to give an Anthropic client (`ANTHROPIC_BASE_URL`): `http://127.0.0.1:PORT`.
    pub fn anthropic_base_url(&self) -> String {
        anthropic_base_url(self.port())
    }
}

/// The text of a message's content: a string as is; of an array, its `text` blocks that are not
/// Claude Code's reminders, joined by newlines.
fn text_without_reminders(content: &Value) -> String {
    match content {
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .filter(|t| !t.trim_start().starts_with(REMINDER_MARK))
            .collect::<Vec<_>>()
            .join("\n"),
        other => request::content_text(other),
    }
}

fn is_user(message: &Value) -> bool {
    message.get("role").and_then(Value::as_str) == Some("user")
}

/// The text that picks the script: the first user message's, reminders left out.
pub(crate) fn first_user_text(body: &Value) -> String {
    request::messages(body)
        .iter()
        .find(|m| is_user(m))
        .and_then(|m| m.get("content"))
        .map(text_without_reminders)
        .unwrap_or_default()
}

/// The names of the tools the request offers.
fn tool_names(body: &Value) -> Vec<&str> {
    body.get("tools")
        .and_then(Value::as_array)
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t.get("name").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

/// What kind of side request this is, if it is one: `"title"` (no tools) or `"suggestion"`.
fn side_kind(body: &Value) -> Option<&'static str> {
    if tool_names(body).is_empty() {
        return Some("title");
    }
    let last_user = request::messages(body).iter().rev().find(|m| is_user(m))?;
    let text = request::content_text(last_user.get("content")?);
    text.trim_start()
        .starts_with(SUGGESTION_MARK)
        .then_some("suggestion")
}

/// The reply to a side request: [`SIDE_TEXT`], as the JSON object the request's
/// `output_config.format` schema asks for when it asks for one (Claude Code's title request
/// wants `{"title": ...}`, and asks again at every turn until it gets one).
fn side_reply(body: &Value) -> String {
    let format = body.pointer("/output_config/format");
    let schema = format
        .filter(|f| f.get("type").and_then(Value::as_str) == Some("json_schema"))
        .and_then(|f| f.get("schema"));
    let Some(properties) = schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
    else {
        return SIDE_TEXT.to_string();
    };
    let object: serde_json::Map<String, Value> = properties
        .iter()
        .filter(|(_, p)| p.get("type").and_then(Value::as_str) == Some("string"))
        .map(|(name, _)| (name.clone(), json!(SIDE_TEXT)))
        .collect();
    Value::Object(object).to_string()
}

fn decide(scenario: &Scenario, body: &Value) -> Decision {
    if let Some(kind) = side_kind(body) {
        return Decision::side(kind, Turn::text(side_reply(body)).with_usage(SIDE_USAGE));
    }
    scripted(
        scenario,
        &first_user_text(body),
        request::assistant_count(body),
    )
}

/// `error.type` of Anthropic's error body for an HTTP status.
fn error_type(status: u16) -> &'static str {
    match status {
        400 | 422 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

/// An Anthropic error response.
fn error_response(status: u16, message: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({
        "type": "error",
        "error": {"type": error_type(code.as_u16()), "message": message}
    });
    (code, Json(body)).into_response()
}

/// `POST /v1/messages`.
pub(super) async fn messages(State(shared): State<Arc<Shared>>, uri: Uri, raw: Bytes) -> Response {
    let request = match parsed(&shared, &uri, &raw, error_response) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    let decision = decide(&shared.scenario, &request.body);
    let tools: Vec<String> = tool_names(&request.body)
        .into_iter()
        .map(String::from)
        .collect();
    let turn = decision.turn.clone();
    shared.record(request.path, request.body, &decision, request.stream);

    if !waited_head_delay(&shared, &turn).await {
        return error_response(529, SHUTTING_DOWN);
    }
    let id = format!(
        "msg_mock_{}",
        shared.next_reply_id.fetch_add(1, Ordering::Relaxed)
    );
    let reply = Reply {
        id,
        model: request.model,
        tools,
    };
    respond(&shared, reply, turn, request.stream)
}

/// `POST /v1/messages/count_tokens`: a token per four bytes of the request, at least one.
pub(super) async fn count_tokens(raw: Bytes) -> Json<Value> {
    let tokens = (raw.len() / 4).max(1);
    Json(json!({"input_tokens": tokens}))
}

/// What every event of one reply shares, and the request's tools.
struct Reply {
    id: String,
    model: String,
    tools: Vec<String>,
}

impl Reply {
    /// The request's tool named `name` in any case (`bash` → `Bash`), else `name` itself.
    fn tool_name(&self, name: &str) -> String {
        self.tools
            .iter()
            .find(|t| t.eq_ignore_ascii_case(name))
            .cloned()
            .unwrap_or_else(|| name.to_string())
    }

    /// The message as `message_start` carries it: no content yet.
    fn message_head(&self, usage: &Usage) -> Value {
        json!({
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": start_usage(usage)
        })
    }
}

/// The usage of `message_start`: the input side; output comes in `message_delta`.
fn start_usage(usage: &Usage) -> Value {
    json!({
        "input_tokens": usage.prompt_tokens.saturating_sub(usage.cached_tokens),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": usage.cached_tokens,
        "output_tokens": 0
    })
}

/// The whole usage, as a non-streamed message carries it.
fn full_usage(usage: &Usage) -> Value {
    let mut value = start_usage(usage);
    value["output_tokens"] = json!(usage.completion_tokens);
    value
}

/// One SSE event: `event: NAME` and its JSON, whose `type` is the name too.
fn event(name: &str, mut data: Value) -> Bytes {
    if let Some(object) = data.as_object_mut() {
        object.insert("type".to_string(), json!(name));
    }
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// The JSON text a tool call's input is streamed as: an object serialized, a string verbatim.
fn input_json(arguments: &Value) -> String {
    match arguments {
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    }
}

/// A content block of a reply: text, or a tool call with its id.
enum Block {
    Text(String),
    ToolUse { id: String, call: ToolCall },
}

fn respond(shared: &Shared, reply: Reply, turn: Turn, stream: bool) -> Response {
    let answer = match Outcome::from(turn) {
        Outcome::Answer(answer) => answer,
        Outcome::Error { status, message } => return error_response(status, &message),
        Outcome::Malformed(text) => return malformed(shared, &reply, text, stream),
        Outcome::Truncated(text, ending) => return truncated(shared, &reply, text, ending, stream),
        Outcome::Hang => return hang(shared, stream),
    };
    let stop_reason = if answer.calls.is_empty() {
        "end_turn"
    } else {
        "tool_use"
    };
    let mut blocks: Vec<Block> = answer.text.into_iter().map(Block::Text).collect();
    blocks.extend(answer.calls.into_iter().map(|call| {
        let id = format!(
            "toolu_mock_{}",
            shared.next_call_id.fetch_add(1, Ordering::Relaxed)
        );
        Block::ToolUse {
            id,
            call: ToolCall::new(reply.tool_name(&call.name), call.arguments),
        }
    }));

    if !stream {
        let content: Vec<Value> = blocks
            .iter()
            .map(|block| match block {
                Block::Text(text) => json!({"type": "text", "text": text}),
                Block::ToolUse { id, call } => {
                    // A string that is not JSON cannot be an input object: it is sent as a string.
                    let input = match &call.arguments {
                        Value::String(raw) => {
                            serde_json::from_str(raw).unwrap_or_else(|_| json!(raw))
                        }
                        other => other.clone(),
                    };
                    json!({"type": "tool_use", "id": id, "name": call.name, "input": input})
                }
            })
            .collect();
        let mut message = reply.message_head(&answer.usage);
        message["content"] = Value::Array(content);
        message["stop_reason"] = json!(stop_reason);
        message["usage"] = full_usage(&answer.usage);
        return Json(message).into_response();
    }

    let mut parts = vec![(
        None,
        event(
            "message_start",
            json!({"message": reply.message_head(&answer.usage)}),
        ),
    )];
    for (index, block) in blocks.iter().enumerate() {
        match block {
            Block::Text(text) => {
                parts.push((
                    None,
                    event(
                        "content_block_start",
                        json!({"index": index, "content_block": {"type": "text", "text": ""}}),
                    ),
                ));
                for (i, piece) in split_words(text).into_iter().enumerate() {
                    let delay = answer.chunk_delay.filter(|_| i > 0);
                    parts.push((delay, text_delta(index, piece)));
                }
            }
            Block::ToolUse { id, call } => {
                let start = json!({"index": index, "content_block":
                    {"type": "tool_use", "id": id, "name": call.name, "input": {}}});
                parts.push((None, event("content_block_start", start)));
                let delta = json!({"index": index, "delta":
                    {"type": "input_json_delta", "partial_json": input_json(&call.arguments)}});
                parts.push((None, event("content_block_delta", delta)));
            }
        }
        parts.push((None, event("content_block_stop", json!({"index": index}))));
    }
    let delta = json!({
        "delta": {"stop_reason": stop_reason, "stop_sequence": null},
        "usage": {"output_tokens": answer.usage.completion_tokens}
    });
    parts.push((None, event("message_delta", delta)));
    parts.push((None, event("message_stop", json!({}))));
    streaming_response(body(shared, parts, Ending::Finish))
}

fn text_delta(index: usize, text: &str) -> Bytes {
    event(
        "content_block_delta",
        json!({"index": index, "delta": {"type": "text_delta", "text": text}}),
    )
}

/// The start of a streamed text reply: `message_start` and a text block's start.
fn text_stream_head(reply: &Reply) -> Vec<(Option<Duration>, Bytes)> {
    vec![
        (
            None,
            event(
                "message_start",
                json!({"message": reply.message_head(&Usage::new(0, 0))}),
            ),
        ),
        (
            None,
            event(
                "content_block_start",
                json!({"index": 0, "content_block": {"type": "text", "text": ""}}),
            ),
        ),
    ]
}

/// One good text delta, then a `data:` line that is not JSON, then the end of the body.
fn malformed(shared: &Shared, reply: &Reply, text: Option<String>, stream: bool) -> Response {
    const GARBAGE: &str = "{this is not json";
    if !stream {
        return json_body_response(axum::body::Body::from(GARBAGE));
    }
    let text = text.unwrap_or_else(|| "Partial".to_string());
    let mut parts = text_stream_head(reply);
    parts.push((None, text_delta(0, &text)));
    parts.push((
        None,
        Bytes::from(format!("event: content_block_delta\ndata: {GARBAGE}\n\n")),
    ));
    streaming_response(body(shared, parts, Ending::Finish))
}

/// Some text, then the connection cut (or, with a clean end, the body ended) with no
/// `message_delta` and no `message_stop`.
fn truncated(
    shared: &Shared,
    reply: &Reply,
    text: Option<String>,
    ending: Ending,
    stream: bool,
) -> Response {
    let text = text.unwrap_or_else(|| "This reply was cut off".to_string());
    if !stream {
        let mut message = reply.message_head(&Usage::new(0, 0));
        message["content"] = json!([{"type": "text", "text": text}]);
        let full = message.to_string();
        let cut = full.len() * 2 / 3;
        let head = Bytes::from(full).slice(..cut);
        return json_body_response(body(shared, vec![(None, head)], ending));
    }
    let mut parts = text_stream_head(reply);
    for piece in split_words(&text) {
        parts.push((None, text_delta(0, piece)));
    }
    streaming_response(body(shared, parts, ending))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Scenario, Script};

    /// A Claude Code main request: the reminder block, the prompt, a system message, tools.
    fn claude_request(prompt: &str, rest: Vec<Value>) -> Value {
        let mut messages = vec![
            json!({"role": "user", "content": [
                {"type": "text", "text": "<system-reminder>\nmention [other] here\n</system-reminder>\n"},
                {"type": "text", "text": prompt}
            ]}),
            json!({"role": "system", "content": "# Environment"}),
        ];
        messages.extend(rest);
        json!({
            "model": "claude-opus-5-5",
            "stream": true,
            "messages": messages,
            "tools": [{"name": "Bash"}, {"name": "Read"}]
        })
    }

    fn scenario() -> Scenario {
        Scenario::new()
            .script(
                Script::new("shell")
                    .matching("[shell]")
                    .turn(Turn::tool_call(
                        "bash",
                        json!({"command": "ls", "description": "List"}),
                    ))
                    .turn(Turn::text("Listed.")),
            )
            .script(Script::new("other").matching("[other]"))
    }

    #[test]
    fn the_script_comes_from_the_prompt_without_reminders_and_the_turn_from_assistants() {
        let body = claude_request("do it [shell]", vec![]);
        assert_eq!(first_user_text(&body), "do it [shell]");
        let d = decide(&scenario(), &body);
        assert_eq!(
            (
                d.script.as_deref(),
                d.turn_index,
                d.kind.as_str(),
                d.is_side
            ),
            (Some("shell"), Some(0), "tool_call", false)
        );
        let body = claude_request(
            "do it [shell]",
            vec![
                json!({"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "Bash", "input": {}}]}),
                json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "a"}]}),
            ],
        );
        let d = decide(&scenario(), &body);
        assert_eq!((d.turn_index, d.turn), (Some(1), Turn::text("Listed.")));
    }

    #[test]
    fn titles_and_suggestions_are_side_requests() {
        let title = json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "<session>\ndo it [shell]\n</session>\n\nWrite the title"}]}]});
        let d = decide(&scenario(), &title);
        assert!(d.is_side);
        assert_eq!((d.kind.as_str(), d.script), ("title", None));
        assert_eq!(d.turn, Turn::text(SIDE_TEXT).with_usage(SIDE_USAGE));
        let mut json_title = title.clone();
        json_title["output_config"] = json!({"effort": "medium", "format": {"type": "json_schema",
            "schema": {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}}});
        let d = decide(&scenario(), &json_title);
        assert_eq!(
            d.turn,
            Turn::text(r#"{"title":"Mock session"}"#).with_usage(SIDE_USAGE)
        );

        let suggestion = claude_request(
            "do it [shell]",
            vec![
                json!({"role": "assistant", "content": [{"type": "text", "text": "Listed."}]}),
                json!({"role": "user", "content": "[SUGGESTION MODE: Suggest what the user might type]"}),
            ],
        );
        let d = decide(&scenario(), &suggestion);
        assert!(d.is_side);
        assert_eq!(d.kind, "suggestion");
    }

    #[test]
    fn a_scripted_tool_takes_the_request_s_spelling() {
        let reply = Reply {
            id: "m".into(),
            model: "x".into(),
            tools: vec!["Bash".into(), "Read".into()],
        };
        assert_eq!(reply.tool_name("bash"), "Bash");
        assert_eq!(reply.tool_name("READ"), "Read");
        assert_eq!(reply.tool_name("TodoWrite"), "TodoWrite");
    }

    #[test]
    fn errors_are_anthropic_s_shape() {
        assert_eq!(error_type(400), "invalid_request_error");
        assert_eq!(error_type(529), "overloaded_error");
        assert_eq!(error_type(500), "api_error");
        assert_eq!(
            start_usage(&Usage::new(1100, 8).cached(1000)),
            json!({"input_tokens": 100, "cache_creation_input_tokens": 0,
                   "cache_read_input_tokens": 1000, "output_tokens": 0})
        );
    }

    /// The events of an SSE body: (name, data).
    fn events(text: &str) -> Vec<(String, Value)> {
        text.split("\n\n")
            .filter(|e| !e.trim().is_empty())
            .map(|e| {
                let mut lines = e.lines();
                let name = lines.next().unwrap().strip_prefix("event: ").unwrap();
                let data = lines.next().unwrap().strip_prefix("data: ").unwrap();
                (name.to_string(), serde_json::from_str(data).unwrap())
            })
            .collect()
    }

    async fn post(mock: &MockModel, path: &str, body: &Value) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}{path}", mock.anthropic_base_url()))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_tool_call_streams_as_claude_code_reads_it() {
        let scenario = Scenario::new().script(
            Script::new("shell").matching("[shell]").turn(
                Turn::tool_call("bash", json!({"command": "ls", "description": "List"}))
                    .with_text("Let me look.")
                    .usage(120, 9),
            ),
        );
        let mock = MockModel::start(scenario).await.unwrap();
        let response = post(
            &mock,
            "/v1/messages?beta=true",
            &claude_request("go [shell]", vec![]),
        )
        .await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        let events = events(&response.text().await.unwrap());
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        for (name, data) in &events {
            assert_eq!(data["type"], name.as_str());
        }
        assert_eq!(events[0].1["message"]["usage"]["input_tokens"], 120);
        assert_eq!(events[0].1["message"]["model"], "claude-opus-5-5");
        let text: String = events[2..5]
            .iter()
            .map(|(_, d)| d["delta"]["text"].as_str().unwrap())
            .collect();
        assert_eq!(text, "Let me look.");
        let tool = &events[6].1["content_block"];
        assert_eq!(
            (tool["type"].as_str(), tool["name"].as_str()),
            (Some("tool_use"), Some("Bash"))
        );
        assert!(tool["id"].as_str().unwrap().starts_with("toolu_"));
        let input: Value =
            serde_json::from_str(events[7].1["delta"]["partial_json"].as_str().unwrap()).unwrap();
        assert_eq!(input, json!({"command": "ls", "description": "List"}));
        assert_eq!(events[9].1["delta"]["stop_reason"], "tool_use");
        assert_eq!(events[9].1["usage"]["output_tokens"], 9);

        let recorded = mock.requests();
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].path, "/v1/messages");
        assert_eq!(recorded[0].script.as_deref(), Some("shell"));
        assert!(recorded[0].stream);
        mock.shutdown().await;
    }

    #[tokio::test]
    async fn plain_messages_errors_side_requests_and_token_counts() {
        let scenario = Scenario::new()
            .script(
                Script::new("broken")
                    .matching("[fail]")
                    .turn(Turn::error(400, "no credit")),
            )
            .default_script(Script::new("default").turn(Turn::text("Hi there.").usage(30, 4)));
        let mock = MockModel::start(scenario).await.unwrap();

        let mut request = claude_request("hello", vec![]);
        request["stream"] = json!(false);
        let message: Value = post(&mock, "/v1/messages", &request)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(message["type"], "message");
        assert_eq!(
            message["content"],
            json!([{"type": "text", "text": "Hi there."}])
        );
        assert_eq!(message["stop_reason"], "end_turn");
        assert_eq!(message["usage"]["input_tokens"], 30);
        assert_eq!(message["usage"]["output_tokens"], 4);

        let response = post(&mock, "/v1/messages", &claude_request("[fail]", vec![])).await;
        assert_eq!(response.status(), 400);
        let error: Value = response.json().await.unwrap();
        assert_eq!(
            error,
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": "no credit"}})
        );

        let title = json!({"stream": true, "messages": [{"role": "user", "content": "<session>\n[fail]\n</session>"}]});
        let response = post(&mock, "/v1/messages", &title).await;
        assert_eq!(response.status(), 200);
        let events = events(&response.text().await.unwrap());
        assert_eq!(events[2].1["delta"]["text"], "Mock ");

        let count: Value = post(&mock, "/v1/messages/count_tokens", &json!({"messages": []}))
            .await
            .json()
            .await
            .unwrap();
        assert!(count["input_tokens"].as_u64().unwrap() >= 1);

        let kinds: Vec<(String, bool)> = mock
            .requests()
            .into_iter()
            .map(|r| (r.turn_kind, r.is_side))
            .collect();
        assert_eq!(
            kinds,
            [
                ("text".to_string(), false),
                ("error".to_string(), false),
                ("title".to_string(), true)
            ]
        );
        mock.shutdown().await;
    }

    #[tokio::test]
    async fn a_slow_reply_waits_before_its_head_and_between_its_words() {
        let scenario = Scenario::new().default_script(
            Script::new("default").turn(
                Turn::text("one two three")
                    .delay_ms(150)
                    .chunk_delay_ms(100),
            ),
        );
        let mock = MockModel::start(scenario).await.unwrap();
        let started = std::time::Instant::now();
        let response = post(&mock, "/v1/messages", &claude_request("slow", vec![])).await;
        let head = started.elapsed();
        let events = events(&response.text().await.unwrap());
        let whole = started.elapsed();
        assert!(head >= Duration::from_millis(150), "{head:?}");
        assert!(
            whole >= head + Duration::from_millis(200),
            "{head:?} {whole:?}"
        );
        let text: String = events
            .iter()
            .filter_map(|(_, d)| d["delta"]["text"].as_str())
            .collect();
        assert_eq!(text, "one two three");
        mock.shutdown().await;
    }

    #[tokio::test]
    async fn a_plain_tool_call_carries_its_input_as_an_object() {
        let scenario = Scenario::new().default_script(Script::new("default").turn(
            Turn::tool_call("bash", json!({"command": "ls", "description": "List"})).usage(50, 5),
        ));
        let mock = MockModel::start(scenario).await.unwrap();
        let mut request = claude_request("list", vec![]);
        request["stream"] = json!(false);
        let message: Value = post(&mock, "/v1/messages", &request)
            .await
            .json()
            .await
            .unwrap();
        let content = message["content"].as_array().unwrap();
        assert_eq!(content.len(), 1, "{message}");
        assert_eq!(content[0]["type"], "tool_use");
        assert_eq!(content[0]["name"], "Bash");
        assert_eq!(
            content[0]["input"],
            json!({"command": "ls", "description": "List"})
        );
        assert_eq!(message["stop_reason"], "tool_use");
        assert_eq!(message["usage"]["output_tokens"], 5);
        mock.shutdown().await;
    }

    #[tokio::test]
    async fn broken_streams_stop_before_their_end() {
        let scenario = Scenario::new()
            .script(
                Script::new("garbage")
                    .matching("[garbage]")
                    .turn(Turn::malformed()),
            )
            .script(
                Script::new("cut")
                    .matching("[cut]")
                    .turn(Turn::truncated().clean_end()),
            );
        let mock = MockModel::start(scenario).await.unwrap();
        let text = post(&mock, "/v1/messages", &claude_request("[garbage]", vec![]))
            .await
            .text()
            .await
            .unwrap();
        assert!(text.contains("\"text\":\"Partial\""), "{text}");
        assert!(text.ends_with("data: {this is not json\n\n"), "{text}");
        let text = post(&mock, "/v1/messages", &claude_request("[cut]", vec![]))
            .await
            .text()
            .await
            .unwrap();
        let names: Vec<String> = events(&text).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names[0], "message_start");
        assert!(
            !names
                .iter()
                .any(|n| n == "message_delta" || n == "message_stop"),
            "{names:?}"
        );
        mock.shutdown().await;
    }
}
